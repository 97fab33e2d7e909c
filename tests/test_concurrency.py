"""Two single runs and a proactive agent on the same fleet at once: no lost update; an action on a
device changed since planning is reported stale, not applied."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path

from temporalio.client import Client

from conftest import copy_fleet, eventually, running_worker, settings_for
from maintenance_agent import client_ops
from maintenance_agent.models.approval import ApprovalRequest
from maintenance_agent.models.proactive import ProactivePhase
from maintenance_agent.models.run import Phase
from maintenance_agent.store import AUDIT_FILE, STATE_DIRNAME


async def test_two_runs_and_the_proactive_agent_on_one_fleet(client: Client, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, data_dir=copy_fleet(tmp_path / "data"), task_queue=f"conc-{uuid.uuid4().hex[:8]}",
                            user_name=f"conc{uuid.uuid4().hex[:6]}")
    async with running_worker(client, settings):
        first = await client_ops.start_run(client, settings)
        second = await client_ops.start_run(client, settings)
        for run in (first, second):
            await eventually(lambda r=run: client_ops.get_status(client, r), lambda s: s.phase is Phase.PENDING_APPROVAL,
                             what="both plans")
        # Both planned against the same state. The agent's routine repairs and the first run go first.
        await client_ops.start_proactive(client, settings, interval_minutes=600)
        agent = await eventually(lambda: client_ops.proactive_status(client, settings.user_name),
                                 lambda s: s.cycle == 1 and s.phase is ProactivePhase.WAITING, timeout=120, what="cycle 1")
        await client_ops.decide(client, first, ApprovalRequest(approver="op.one"))
        await client_ops.decide(client, second, ApprovalRequest(approver="op.two"))
        results = [await client_ops.result(client, run) for run in (first, second)]
        await client_ops.stop_proactive(client, settings.user_name)
        for run in agent.open_approvals:
            await client.get_workflow_handle(run.workflow_id).terminate("test over")
    assert [r.phase for r in results] == [Phase.COMPLETED, Phase.COMPLETED]
    ledger = [json.loads(line) for line in (settings.data_dir / STATE_DIRNAME / AUDIT_FILE).read_text().splitlines()]
    applied = [e for e in ledger if e["outcome"] == "succeeded"]
    assert max(Counter((e["run_id"], e["action_id"]) for e in ledger).values()) == 1
    # The same repair (device + action) was tried once, whoever planned it; the others found it stale:
    # changed since planning, or failed or rolled back by another run a moment ago.
    tried = Counter((e["equipment_id"], e["action"]) for e in ledger if e["outcome"] != "stale")
    assert max(tried.values()) == 1, [k for k, n in tried.items() if n > 1]
    stale = [e for e in ledger if e["outcome"] == "stale"]
    assert stale and all("changed since planning" in e["detail"] or "is not repeated within" in e["detail"]
                         for e in stale)
    routine_run = agent.last_cycle.routine_run
    assert any(e["workflow_id"] == routine_run for e in applied) and any(e["workflow_id"] == first for e in applied)
    assert {e["workflow_id"] for e in stale} >= {second}
    # No lost update: every device holds the state of the last change committed to it, in the files
    # exactly as the runs left them, and each change started from the state the one before it left.
    inventory = {d["id"]: d for d in json.loads((settings.data_dir / "infrastructure_inventory.json").read_text())
                 ["infrastructure_inventory"]}
    ordered = sorted(applied, key=lambda e: e["seq"])
    last = {e["equipment_id"]: e for e in ordered}
    assert all(inventory[eid] == e["after"]["inventory"] for eid, e in last.items())
    previous: dict[str, dict] = {}
    for entry in ordered:
        assert previous.get(entry["equipment_id"], entry["before"]["inventory"]) == entry["before"]["inventory"], entry["seq"]
        previous[entry["equipment_id"]] = entry["after"]["inventory"]
