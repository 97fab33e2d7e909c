"""Shared pieces of the benchmarks: a real dev server, a worker, timing helpers, result files."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("ENV_FILE", os.devnull)
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
RESULTS = Path(os.environ.get("BENCH_RESULTS") or ROOT / "bench" / "results")
"""Where figures land (`BENCH_RESULTS` moves them, as the benchmarks' smoke test does)."""

from temporalio.testing import WorkflowEnvironment  # noqa: E402

from conftest import copy_fleet, settings_for, tool  # noqa: E402
from maintenance_agent.connection import data_converter  # noqa: E402


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))] if ordered else float("nan")


def machine() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2, default=str))
    return path


@asynccontextmanager
async def dev_server(db: Path | None = None) -> AsyncIterator[WorkflowEnvironment]:
    """The same dev server the product embeds (SQLite WAL when `db` is given, else in memory)."""
    extra = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
    if db is not None:
        extra = ["--db-filename", str(db), *extra]
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=tool("temporal"), data_converter=data_converter(),
                                                dev_server_log_level="error", dev_server_extra_args=extra)
    async with env:
        yield env


def scratch(name: str) -> Path:
    path = Path(os.environ.get("BENCH_TMP", "/tmp")) / f"bench-{name}-{uuid.uuid4().hex[:6]}"
    path.mkdir(parents=True)
    return path


def cleanup(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


__all__ = ["copy_fleet", "settings_for", "tool"]


def fleet(devices: int, seed: int = 42) -> Path:
    """A generated fleet, cached between benchmark runs (generation is not what we measure)."""
    from maintenance_agent.datagen import generate_fleet, write_fleet

    if devices == 50:
        return ROOT / "src" / "maintenance_agent" / "fleet_default"  # the fleet `make demo` runs on
    path = Path(os.environ.get("BENCH_TMP", "/tmp")) / "bench-fleets" / f"{devices}-{seed}"
    if not (path / "equipment_life_expectancy.json").exists():
        write_fleet(generate_fleet(devices, seed), path)
    return path


def fresh_copy(source: Path, dest: Path) -> Path:
    """A private copy of a fleet (runs change it); over an earlier copy, its agent state is dropped too
    (the worker owns its DATA_DIR, so benchmarks reset that folder between runs, with no run executing)."""
    shutil.rmtree(dest / ".agent", ignore_errors=True)
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("infrastructure_inventory.json", "health_metrics.json", "equipment_life_expectancy.json"):
        shutil.copyfile(source / name, dest / name)
    return dest
