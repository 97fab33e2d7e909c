"""A worker process SIGKILLed in the middle of execution: the run completes, each action applied once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

from temporalio.client import Client

from conftest import ROOT, audit_log, copy_fleet, eventually, settings_for
from helpers.faulty_worker import worker_command
from maintenance_agent import client_ops
from maintenance_agent.config import Settings
from maintenance_agent.models.fleet import INVENTORY_FILE
from maintenance_agent.models.run import Phase


def start_worker(address: str, settings: Settings, log: Path, command: list[str] | None = None,
                 **env: str) -> subprocess.Popen:
    """The production worker, or `command` (the fault-injecting test worker) with the same settings."""
    environment = {**os.environ, "TEMPORAL_ADDRESS": address, "TEMPORAL_TASK_QUEUE": settings.task_queue,
                   "EMBEDDED_TEMPORAL": "never", "DATA_DIR": str(settings.data_dir),
                   "REPORTS_DIR": str(settings.reports_dir), **env}
    return subprocess.Popen(command or [sys.executable, "-m", "maintenance_agent.worker"], cwd=ROOT, env=environment,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT)


async def test_worker_killed_mid_execution_applies_every_action_once(
    client: Client, temporal_address: str, tmp_path: Path
) -> None:
    task_queue = f"crash-{uuid.uuid4().hex[:8]}"
    settings = settings_for(tmp_path, data_dir=copy_fleet(tmp_path / "data"), task_queue=task_queue)
    # The first worker holds each action open for 400 ms after its commit: the kill lands in one of them.
    first = start_worker(temporal_address, settings, tmp_path / "w1.log", worker_command(),
                         MAINTENANCE_AGENT_TEST_ACTION_DELAY_MS="400")
    second = None
    try:
        wid = await client_ops.start_run(client, settings, auto_approve=True, max_failures=1000)
        status = await eventually(lambda: client_ops.get_status(client, wid),
                                  lambda s: s.phase is Phase.EXECUTING and s.executed >= 3,
                                  timeout=60, what="execution under way")
        assert status.executed < status.to_execute, "the kill must land in the middle of execution"
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        in_flight = {e["action_id"] for e in audit_log(settings.data_dir, wid)}
        second = start_worker(temporal_address, settings, tmp_path / "w2.log")
        result = await client_ops.result(client, wid)
    finally:
        for proc in (first, second):
            if proc and proc.poll() is None:
                proc.terminate()
                proc.wait(15)
    assert result.phase is Phase.COMPLETED
    ledger = audit_log(settings.data_dir, wid)
    per_action = Counter(e["action_id"] for e in ledger)
    assert per_action and max(per_action.values()) == 1, f"applied twice: {[a for a, n in per_action.items() if n > 1]}"
    report = json.loads(Path(result.report.json_path).read_text())
    assert set(per_action) == {a["id"] for a in report["actions"]}, "every approved action ran exactly once"
    assert len(in_flight) < len(per_action), "some actions ran only after the restart"
    # Actions that were committed just before the kill were retried and found in the ledger.
    history = await client.get_workflow_handle(wid).fetch_history()
    retried = [e for e in history.events if e.HasField("activity_task_started_event_attributes")
               and e.activity_task_started_event_attributes.attempt > 1]
    assert retried, "the kill interrupted at least one action, which Temporal retried"
    inventory = {d["id"]: d for d in json.loads((settings.data_dir / INVENTORY_FILE).read_text())["infrastructure_inventory"]}
    last_change = {e["equipment_id"]: e for e in sorted(ledger, key=lambda e: e["seq"]) if e["outcome"] == "succeeded"}
    assert last_change, "the run changed the fleet"
    for eid, entry in last_change.items():
        assert inventory[eid] == entry["after"]["inventory"], f"{eid}: data and ledger disagree"


