#!/usr/bin/env python3
"""Record workflow histories for the replay tests: `make record-histories`.

Run it after a deliberate, compatible change to the workflows; the replay tests then prove that
histories recorded by the old code still replay on the new code (re-record only when the change is
meant to break compatibility, e.g. behind a new workflow version). `--prefix v2_` records beside the
existing histories instead of over them, so the new code paths (behind `workflow.patched`) are
replayed too while the old histories keep proving the old paths.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from temporalio.testing import WorkflowEnvironment  # noqa: E402

from conftest import copy_fleet, eventually, identities, running_worker, settings_for, tool  # noqa: E402
from maintenance_agent import client_ops  # noqa: E402
from maintenance_agent.connection import data_converter  # noqa: E402
from maintenance_agent.datagen import generate_fleet, write_fleet  # noqa: E402
from maintenance_agent.identity import Signer  # noqa: E402
from maintenance_agent.models.approval import ApprovalRequest
from maintenance_agent.models.fleet import HEALTH_FILE  # noqa: E402
from maintenance_agent.models.listing import SEARCH_ATTRIBUTES  # noqa: E402
from maintenance_agent.models.run import Phase

OUT = Path(__file__).parent / "histories"


async def record(prefix: str = "") -> None:
    # With the listing's search attributes registered, as on the embedded server: runs record their upserts.
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=tool("temporal"), data_converter=data_converter(),
                                                dev_server_log_level="error", search_attributes=SEARCH_ATTRIBUTES)
    work = Path(tempfile.mkdtemp(prefix="histories-"))
    OUT.mkdir(exist_ok=True)
    async with env:
        client = env.client

        async def scenario(name: str, data: Path | None = None, **options) -> str:  # noqa: ANN003
            tmp = work / name
            settings = settings_for(tmp, data_dir=data or copy_fleet(tmp / "data"), task_queue=f"rec-{name}")
            async with running_worker(client, settings):
                wid = await client_ops.start_run(client, settings, **{"max_failures": 100_000, **options})
                if not options.get("auto_approve") and name != "failed":
                    await eventually(lambda: client_ops.get_status(client, wid),
                                     lambda s: s.phase is Phase.PENDING_APPROVAL)
                    if name == "rejected":
                        await client_ops.decide(client, wid, ApprovalRequest(approve=False, approver="rec", comment="no"))
                    else:
                        await client_ops.decide(client, wid, ApprovalRequest(action_ids=["A1", "A2", "A5"], approver="rec"))
                await client_ops.result(client, wid)
            await save(name, wid)
            return wid

        async def save(name: str, workflow_id: str) -> None:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
            doc = {"workflow_id": workflow_id, **json.loads(history.to_json())}
            (OUT / f"{prefix}{name}.json").write_text(json.dumps(doc))
            print(f"recorded {name}: {len(history.events)} events", file=sys.stderr)

        await scenario("auto_approved", auto_approve=True)
        await scenario("partial_approval")
        await scenario("rejected")
        await scenario("dry_run", auto_approve=True, dry_run=True)
        broken = copy_fleet(work / "failed" / "data")
        (broken / HEALTH_FILE).write_text("{")
        await scenario("failed", data=broken, auto_approve=True)
        big = work / "large" / "data"
        write_fleet(generate_fleet(700, 5), big)
        wid = await scenario("large_plan_site_children", data=big, auto_approve=True)
        children = [w async for w in client.list_workflows(f"WorkflowId STARTS_WITH '{wid}/site-'")]
        await save("site_child", sorted(children, key=lambda w: w.id)[0].id)

        tmp = work / "proactive"
        settings = settings_for(tmp, data_dir=copy_fleet(tmp / "data"), task_queue="rec-proactive", user_name="recorder")
        async with running_worker(client, settings):
            wid, _ = await client_ops.start_proactive(client, settings, interval_minutes=60)
            for cycle in (1, 2):
                await eventually(lambda: client_ops.proactive_status(client, "recorder"),
                                 lambda s, c=cycle: s.cycle == c and s.phase.value == "WAITING-FOR-NEXT-CYCLE")
                if cycle == 1:
                    await client_ops.trigger_proactive(client, "recorder")
            status = await client_ops.proactive_status(client, "recorder")
            await client_ops.decide(client, status.open_approvals[0].workflow_id,
                                    ApprovalRequest(approve=False, approver="rec"))
            await eventually(lambda: client_ops.proactive_status(client, "recorder"), lambda s: not s.open_approvals)
            await client_ops.stop_proactive(client, "recorder")
            await client.get_workflow_handle(wid).result()
            await save("proactive_agent", wid)
            await save("proactive_approval_child", status.open_approvals[0].workflow_id)

        # Signed: APPROVERS and the four-eyes rule on the worker; the start and the decision carry proofs.
        tmp = work / "signed"
        keys = identities(tmp / "keys", "rec.starter", "rec.approver")
        settings = settings_for(tmp, data_dir=copy_fleet(tmp / "data"), task_queue="rec-signed", user_name="rec.starter",
                                approvers="rec.approver", require_distinct_approver=True,
                                approver_keys_dir=tmp / "keys", approver_key_file=keys["rec.starter"])
        async with running_worker(client, settings):
            wid = await client_ops.start_run(client, settings, max_failures=100_000)
            await eventually(lambda: client_ops.get_status(client, wid), lambda s: s.phase is Phase.PENDING_APPROVAL)
            await client_ops.decide(client, wid, ApprovalRequest(action_ids=["A1", "A2"], approver="rec.approver"),
                                    signed_by=Signer.from_file("rec.approver", keys["rec.approver"]))
            await client_ops.result(client, wid)
        await save("signed_four_eyes", wid)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Record workflow histories for the replay tests.")
    parser.add_argument("--prefix", default="", help="name the files <prefix><scenario>.json (default: over the old)")
    asyncio.run(record(parser.parse_args().prefix))
