"""Shared fixtures: a real Temporal dev server for the session, fleets in temp dirs, workers.

Tests never read the developer's `.env`, never touch the repository's `data/`, and never reach
the internet.
"""

from __future__ import annotations

import os

os.environ["ENV_FILE"] = os.devnull  # before any settings are loaded, also for child processes
# A worker works on its own DATA_DIR and REPORTS_DIR: a process a test forgets to give them gets these
# (which do not exist), never the repository's data/ and reports/.
os.environ["DATA_DIR"] = os.environ["REPORTS_DIR"] = "/nonexistent/tests-must-set-DATA_DIR-and-REPORTS_DIR"
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
for _var in ("LLM_MODEL", "LLM_KEY", "LLM_BASE_URL", "TEMPORAL_API_KEY", "APPROVERS", "NOTIFY_WEBHOOK_URL",
             "PAGERDUTY_ROUTING_KEY", "PAGERDUTY_EVENTS_URL", "TEMPORAL_UI_URL", "REPORTS_URL"):
    os.environ.pop(_var, None)

import asyncio  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import AsyncIterator, Awaitable, Callable  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

import pytest  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from maintenance_agent.config import Settings, load_settings  # noqa: E402
from maintenance_agent.connection import data_converter  # noqa: E402
from maintenance_agent.models.listing import SEARCH_ATTRIBUTES  # noqa: E402
from maintenance_agent.store import AUDIT_FILE, STATE_DIRNAME  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PRISTINE = ROOT / "src" / "maintenance_agent" / "fleet_default"
THIRD_PARTY = ROOT.parent / "shared" / "datasets" / "third-party-50"
VENV_BIN = Path(sys.executable).parent

T = TypeVar("T")


def tool(name: str) -> str:
    path = VENV_BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} is not installed (run `make install`)"
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def eventually(probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], *, timeout: float = 30.0,
                     interval: float = 0.05, what: str = "condition") -> T:
    """Poll `probe` until `check` holds or the deadline passes (never a blind sleep). A `Busy` answer
    (the server or worker too slow this once: "try again shortly") is asked again, like a person would."""
    from maintenance_agent.client_ops import Busy

    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await probe()
        except Busy as exc:
            last = exc
        else:
            if check(last):
                return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last value: {last!r}")


def settings_for(tmp: Path, **overrides: Any) -> Settings:
    """Settings for a test: its own data, reports and state directories and task queue."""
    values: dict[str, Any] = {
        "data_dir": tmp / "data", "reports_dir": tmp / "reports", "state_dir": tmp / "state",
        "task_queue": f"test-{uuid.uuid4().hex[:12]}", "embedded": "never",
    }
    values.update(overrides)
    return load_settings(environ={}, env_file=Path(os.devnull), **values)


def identities(keys_dir: Path, *users: str) -> dict[str, Path]:
    """Key pairs for `users`, made as a person would make theirs (`maintenance_agent.identity keygen`):
    `keys_dir` (an APPROVER_KEYS_DIR) gets their public keys; returns each one's private key file,
    kept apart in `keys_dir`'s sibling `private-keys/`."""
    from maintenance_agent.identity import keygen

    keys_dir.mkdir(parents=True, exist_ok=True)
    private = {}
    for user in users:
        key, pub = keygen(user, keys_dir.parent / "private-keys")
        shutil.copyfile(pub, keys_dir / pub.name)
        private[user] = key
    return private


def copy_fleet(dest: Path, source: Path = PRISTINE) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("infrastructure_inventory.json", "health_metrics.json", "equipment_life_expectancy.json"):
        shutil.copyfile(source / name, dest / name)
    return dest


def with_doomed_repairs(data: Path, devices: tuple[str, ...] = ("EQ-10001", "EQ-10004")) -> Path:
    """Give `devices` a CPU pinned at 99 % in their two newest readings: the configuration tuning
    planned for it (-15 points) leaves them over the 80 % warning, so verification fails and the
    repair is rolled back. Tests of runs that end COMPLETED WITH PROBLEMS use it: the default fleet's
    own repairs all take (its thermal shutdowns get their cooling first, not a doomed restart)."""
    path = data / "health_metrics.json"
    doc = json.loads(path.read_text())
    for record in doc["health_metrics"]:
        if record["equipment_id"] in devices:
            newest_first = sorted(record["recent_readings"], key=lambda r: r["timestamp"], reverse=True)
            for reading in newest_first[:2]:
                reading["cpu_utilization_percent"] = 99
            record["recent_readings"] = newest_first
    path.write_text(json.dumps(doc, indent=2))
    return data


def without_thermal_shutdowns(data: Path) -> Path:
    """The default fleet with its two thermal shutdowns (down at a critical temperature) reading a
    warning-level 72 degC instead: their restart is planned at once. Tests of a steady state after the
    agent's first cycle use it: with the shutdowns, that cycle's cooling makes the next one plan the
    restarts (see test_core_trends.py for that sequence)."""
    path = data / "health_metrics.json"
    doc = json.loads(path.read_text())
    for record in doc["health_metrics"]:
        for reading in record["recent_readings"]:
            if record["status"] == "Down" and reading.get("temperature_celsius", 0) > 75:
                reading["temperature_celsius"] = 72
    path.write_text(json.dumps(doc, indent=2))
    inventory = data / "infrastructure_inventory.json"
    inv = json.loads(inventory.read_text())
    for item in inv["infrastructure_inventory"]:
        if item["status"] == "Down" and (item.get("temperature_celsius") or 0) > 75:
            item["temperature_celsius"] = 72
    inventory.write_text(json.dumps(inv, indent=2))
    return data


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Path:
    """A private copy of the default 50-device fleet."""
    return copy_fleet(tmp_path / "data")


def audit_log(data: Path, workflow_id: str | None = None) -> list[dict]:
    """The audit ledger's entries in commit order (only those of `workflow_id`, if given). A last line
    without its newline is torn (a worker killed mid-append) and, as for the store, never committed."""
    path = data / STATE_DIRNAME / AUDIT_FILE
    lines = path.read_text().splitlines(keepends=True) if path.exists() else []
    entries = [json.loads(line) for line in lines if line.endswith("\n")]
    return entries if workflow_id is None else [e for e in entries if e.get("workflow_id") == workflow_id]


async def wait_phase(client: Client, workflow_id: str, phase: Any, *, timeout: float = 30.0) -> Any:
    """The run's status once it has reached `phase` (polled, with a deadline)."""
    from maintenance_agent import client_ops

    return await eventually(lambda: client_ops.get_status(client, workflow_id), lambda s: s.phase is phase,
                            timeout=timeout, what=f"{workflow_id} to reach {phase.value}")


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """One real Temporal dev server (in memory) for the whole session."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=tool("temporal"), data_converter=data_converter(),
        ip="127.0.0.1", dev_server_log_level="error", search_attributes=SEARCH_ATTRIBUTES,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture(scope="session")
def temporal_address(temporal_env: WorkflowEnvironment) -> str:
    return temporal_env.client.service_client.config.target_host


@asynccontextmanager
async def running_worker(client: Client, settings: Settings, **kwargs: Any) -> AsyncIterator[None]:
    from maintenance_agent.worker import build_worker

    async with build_worker(client, settings, **kwargs):
        yield


# -------------------------------------------------------------------------------------------------
# Layers: `unit` (pure core, store, actions, settings, lint: no Temporal server, no subprocess server;
# `python3 tools/dev.py test-fast` runs only these, in well under a minute) and `temporal` (everything
# that starts a real server, a worker, a script or an MCP client). The whole suite runs both.

SLOW_MODULES = frozenset({"test_chaos", "test_scale", "test_bench_smoke", "test_crash"})
SLOW_TESTS = frozenset({"test_mypy_finds_nothing_in_src", "test_ten_thousand_healthy_devices_with_jitter_raise_nothing"})
"""Ten seconds or more alone: the fast target (`-m "unit and not slow"`) leaves them out; `make test` runs them."""

UNIT_MODULES = frozenset({
    "test_core_approval", "test_core_decisions", "test_core_detect", "test_core_trends", "test_core_alerts", "test_prometheus_errors", "test_core_identity", "test_core_notify", "test_core_plan",
    "test_core_report", "test_core_agent_timing", "test_core_execution_policy", "test_core_status_text",
    "test_actions", "test_datagen", "test_store", "test_config", "test_lint",
})
SERVER_FIXTURES = frozenset({"temporal_env", "client", "temporal_address", "env", "skipping_env", "worker"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: fast tests without a Temporal server (python3 tools/dev.py test-fast)")
    config.addinivalue_line("markers", "temporal: tests with a real Temporal server, worker, script or MCP client")
    config.addinivalue_line("markers", "slow: tests that take ten seconds or more alone (the fast target leaves them out)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = item.module.__name__ if getattr(item, "module", None) else ""
        # A test of a unit module that asks for a server (e.g. connecting for real) is a temporal one.
        uses_server = bool(SERVER_FIXTURES & set(getattr(item, "fixturenames", ())))
        item.add_marker(pytest.mark.unit if module in UNIT_MODULES and not uses_server else pytest.mark.temporal)
        if module in SLOW_MODULES or item.name in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
