"""A 10,000-device fleet through the real workflow, rules only: plan, approve a slice, execute, report."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path

from temporalio.client import Client

from conftest import eventually, running_worker, settings_for
from maintenance_agent import client_ops
from maintenance_agent.datagen import generate_fleet, write_fleet
from maintenance_agent.models.approval import ApprovalRequest
from maintenance_agent.models.run import INLINE_LIMIT, Phase
from maintenance_agent.store import AUDIT_FILE, STATE_DIRNAME


async def test_ten_thousand_devices(client: Client, tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_fleet(generate_fleet(10_000, 31), data)
    settings = settings_for(tmp_path, data_dir=data, task_queue=f"scale-{uuid.uuid4().hex[:6]}")
    async with running_worker(client, settings):
        wid = await client_ops.start_run(client, settings, max_failures=100_000)
        status = await eventually(lambda: client_ops.get_status(client, wid),
                                  lambda s: s.phase is Phase.PENDING_APPROVAL, timeout=240, what="plan")
        assert status.actions > INLINE_LIMIT, "large plans travel by reference"
        findings = await client_ops.get_findings(client, wid, site="DC-EAST1")
        assert findings.findings and {f.site for f in findings.findings} == {"DC-EAST1"} and not findings.truncated
        plan = await client_ops.get_plan(client, wid)  # the full plan, from the artifact
        assert len(plan.actions) == status.actions and len({a.key for a in plan.actions}) == status.actions
        # A slice with every action kind at every site (executed through the per-site children).
        per_site_kind: dict[tuple[str, str], str] = {}
        for a in plan.actions:
            per_site_kind.setdefault((a.site, a.action.value), a.id)
        chosen = sorted(per_site_kind.values(), key=lambda i: int(i[1:]))
        await client_ops.decide(client, wid, ApprovalRequest(action_ids=chosen, approver="scale.test"))
        result = await client_ops.result(client, wid)
        history = await client.get_workflow_handle(wid).fetch_history()
    assert result.phase is Phase.COMPLETED
    ledger = [e for e in map(json.loads, (data / STATE_DIRNAME / AUDIT_FILE).read_text().splitlines())
              if e.get("workflow_id") == wid]
    assert sorted(e["action_id"] for e in ledger) == sorted(chosen)
    assert max(Counter(e["action_id"] for e in ledger).values()) == 1
    report = json.loads(Path(result.report.json_path).read_text())
    assert len(report["findings"]) == result.findings > 10_000
    assert Counter(a["outcome"] for a in report["actions"])["skipped_unapproved"] == status.actions - len(chosen)
    # report.md stays readable: a summary per site, every failure in full, the long tail as counts.
    folder = Path(result.report.directory)
    md = (folder / "report.md").read_text()
    size = len(md.encode())
    print(f"\n10,000 devices: report.md {size / 1000:.0f} KB ({md.count(chr(10))} lines), report.html "
          f"{(folder / 'report.html').stat().st_size / 1000:.0f} KB, report.json {Path(result.report.json_path).stat().st_size / 1e6:.1f} MB")
    assert size < 300_000, f"report.md is {size} bytes"
    troubled = [a["id"] for a in report["actions"] if a["outcome"] in ("failed", "rolled_back")]
    assert all(f"| {i} |" in md for i in troubled)
    assert "## Sites: before → after" in md and "actions.csv" in md
    assert (folder / "actions.csv").read_text().count("\n") == len(report["actions"]) + 1
    size = sum(e.ByteSize() for e in history.events)
    assert size < 2_000_000, f"parent history is {size} bytes: payloads must stay summaries"
