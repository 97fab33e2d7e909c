"""Regressions from attacking the running product (issue: trust and data safety), through the real
interfaces: data files read by real runs on a real Temporal server, raw clients, the scripts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client

from conftest import copy_fleet, running_worker, settings_for
from maintenance_agent import client_ops
from maintenance_agent.models.fleet import HEALTH_FILE, INVENTORY_FILE
from maintenance_agent.models.workflow import Phase
from maintenance_agent.store import AUDIT_FILE, STATE_DIRNAME


def _settings(tmp: Path, **overrides: Any):  # noqa: ANN202
    return settings_for(tmp, data_dir=overrides.pop("data_dir", None) or copy_fleet(tmp / "data"),
                        task_queue=f"trust-{uuid.uuid4().hex[:8]}", **overrides)


def _report(result) -> dict:  # noqa: ANN001
    return json.loads(Path(result.report.json_path).read_text())


def _audit(data: Path) -> list[dict]:
    path = data / STATE_DIRNAME / AUDIT_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def _auto_run(client: Client, settings, **options: Any):  # noqa: ANN001, ANN202
    async with running_worker(client, settings):
        wid = await client_ops.start_run(client, settings, auto_approve=True, **options)
        return await client_ops.result(client, wid)


async def test_a_reading_stamped_2099_is_a_data_error_not_the_fleet_s_clock(client: Client, tmp_path: Path) -> None:
    pristine = _settings(tmp_path / "pristine")
    clocked = _settings(tmp_path / "clocked")
    health = json.loads((clocked.data_dir / HEALTH_FILE).read_text())
    health["health_metrics"][9]["recent_readings"][0]["timestamp"] = "2099-01-01T00:00:00Z"
    (clocked.data_dir / HEALTH_FILE).write_text(json.dumps(health, indent=2))
    device = health["health_metrics"][9]["equipment_id"]

    expected = _report(await _auto_run(client, pristine))
    result = await _auto_run(client, clocked)
    report = _report(result)
    assert result.phase is Phase.COMPLETED
    assert datetime.fromisoformat(report["analysis_time"]) <= datetime.now(UTC)
    assert report["analysis_time"] == expected["analysis_time"], "the newest trustworthy reading, as without the bad one"
    assert [(e["file"], e["record_id"], e["value"]) for e in report["data_errors"]] == [
        (HEALTH_FILE, device, "2099-01-01T00:00:00+00:00")]
    assert result.data_errors == 1
    kinds = lambda r: sorted(a["action"] for a in r["actions"])  # noqa: E731
    assert kinds(report) == kinds(expected), "no hardware replacements or renewals planned from 2099"
    installed = [d["install_date"] for d in json.loads((clocked.data_dir / INVENTORY_FILE).read_text())[
        "infrastructure_inventory"]]
    assert max(installed) < "2027", "nothing written with a date from the future"
    assert "## Data errors (1)" in Path(result.report.markdown).read_text()
