"""Secrets never leak; payloads can be encrypted; authorization cannot be bypassed by a raw client."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError

from conftest import ROOT, copy_fleet, eventually, identities, running_worker, settings_for
from helpers.http_stub import http_stub
from maintenance_agent import client_ops
from maintenance_agent.connection import connect
from maintenance_agent.core import identity
from maintenance_agent.identity import Signer
from maintenance_agent.models.approval import ApprovalRequest
from maintenance_agent.models.run import Phase
from maintenance_agent.workflows import InfrastructureMaintenanceWorkflow

SENTINELS = {
    "LLM_KEY": "sentinel-llm-7a1c0f",
    "TEMPORAL_API_KEY": "sentinel-apikey-93be21",
    "NOTIFY_WEBHOOK_URL_TOKEN": "sentinel-hooktoken-5d7e",
    "TEMPORAL_PAYLOAD_KEY": "sentinel-payloadkey-4410aa99",
    "MCP_HTTP_TOKEN": "sentinel-mcptoken-2f0b",
    "PAGERDUTY_ROUTING_KEY": "sentinel-pdroutingkey-7c31e0",
}


def _scan(text: str, where: str) -> None:
    for name, value in SENTINELS.items():
        assert value not in text, f"{name} leaked into {where}"


async def test_sentinel_secrets_never_appear_in_any_output(client: Client, temporal_address: str, tmp_path: Path) -> None:
    async with http_stub(path="/services/hooks") as hook, http_stub(path="/v1/chat/completions") as llm, \
            http_stub(path="/v2/enqueue") as pagerduty:
        webhook = f"{hook.url}/{SENTINELS['NOTIFY_WEBHOOK_URL_TOKEN']}"
        env = {**os.environ, "TEMPORAL_ADDRESS": temporal_address, "EMBEDDED_TEMPORAL": "never", "TEMPORAL_TLS": "off",
               "TEMPORAL_API_KEY": SENTINELS["TEMPORAL_API_KEY"], "LLM_MODEL": "openai/stub",
               "LLM_KEY": SENTINELS["LLM_KEY"], "LLM_BASE_URL": llm.url.removesuffix("/chat/completions"),
               "LLM_TIMEOUT_SECONDS": "2", "LLM_MAX_ATTEMPTS": "1", "NOTIFY_WEBHOOK_URL": webhook,
               "MCP_HTTP_TOKEN": SENTINELS["MCP_HTTP_TOKEN"], "TEMPORAL_TASK_QUEUE": f"sec-{uuid.uuid4().hex[:6]}",
               "PAGERDUTY_ROUTING_KEY": SENTINELS["PAGERDUTY_ROUTING_KEY"], "PAGERDUTY_EVENTS_URL": pagerduty.url,
               "DATA_DIR": str(copy_fleet(tmp_path / "data")), "REPORTS_DIR": str(tmp_path / "reports"),
               "TEMPORAL_STATE_DIR": str(tmp_path / "state"), "USER_NAME": f"sec{uuid.uuid4().hex[:4]}"}
        worker_log = open(tmp_path / "worker.log", "wb")
        worker = subprocess.Popen([sys.executable, "-m", "maintenance_agent.worker"], env=env, cwd=ROOT,
                                  stdout=worker_log, stderr=subprocess.STDOUT)
        outputs: dict[str, str] = {}
        try:
            from maintenance_agent.embedded import worker_available

            await eventually(lambda: worker_available(client, env["TEMPORAL_TASK_QUEUE"]), bool, what="the worker")
            # In threads: the stubs answer from this test's event loop, which must keep running.
            run = await asyncio.to_thread(subprocess.run, [sys.executable, str(ROOT / "run_monitoring_agent.py"),
                                          "--auto-approve", "--json"], env=env, capture_output=True, text=True,
                                          timeout=180)
            outputs["run stdout"], outputs["run stderr"] = run.stdout, run.stderr
            assert run.returncode in (0, 1), run.stderr
            wid = json.loads(run.stdout)["workflow_id"]
            agent = subprocess.Popen([sys.executable, str(ROOT / "run_monitoring_agent_proactive.py"), "--auto-approve",
                                      "--interval-minutes", "600"], env=env, stderr=subprocess.PIPE, text=True)

            def follow() -> str:
                seen = []
                for line in agent.stderr:
                    seen.append(line)
                    if "cycle 1:" in line:
                        break
                agent.terminate()
                return "".join(seen) + agent.communicate(timeout=30)[1]

            outputs["proactive stderr"] = await asyncio.to_thread(follow)
            # The cycle's approval run pages PagerDuty (with the key) once it waits for a decision.
            await eventually(lambda: asyncio.sleep(0, pagerduty.requests),
                             lambda r: any(e.get("event_action") == "trigger" for e in r), timeout=60,
                             what="the approval run's PagerDuty trigger")
            stop = await asyncio.to_thread(subprocess.run, [sys.executable, str(ROOT / "run_monitoring_agent_proactive.py"),
                                           "--stop"], env=env, capture_output=True, text=True, timeout=60)
            outputs["stop"] = stop.stdout + stop.stderr
            bad = await asyncio.to_thread(subprocess.run, [sys.executable, str(ROOT / "query_monitoring_agent.py"), "--list"],
                                 env={**env, "TEMPORAL_ADDRESS": "127.0.0.1:1", "TEMPORAL_TLS": "on"},
                                 capture_output=True, text=True, timeout=60)
            outputs["connection error"] = bad.stderr
            assert bad.returncode == 2
        finally:
            worker.terminate()
            worker.wait(30)
            worker_log.close()
        assert hook.requests, f"the webhook (with its token) was used: {outputs}"
        assert llm.headers and llm.headers[0]["Authorization"] == f"Bearer {SENTINELS['LLM_KEY']}", "the key was used"
        assert all(e["routing_key"] == SENTINELS["PAGERDUTY_ROUTING_KEY"] for e in pagerduty.requests), "the key was used"
    outputs["worker log"] = (tmp_path / "worker.log").read_text(errors="replace")
    for name, text in outputs.items():
        _scan(text, name)
    for path in (tmp_path / "reports").rglob("*"):
        if path.is_file():
            _scan(path.read_text(errors="replace"), str(path))
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            _scan(path.read_text(errors="replace"), str(path))
    ids = [wid, client_ops.proactive_workflow_id(env["USER_NAME"])]
    ids += [w.id async for w in client.list_workflows(f"WorkflowId STARTS_WITH '{ids[1]}-cycle-'")]
    for workflow_id in ids:
        _scan((await client.get_workflow_handle(workflow_id).fetch_history()).to_json(), f"history of {workflow_id}")


async def test_encrypted_payloads_are_unreadable_without_the_key(client: Client, temporal_address: str,
                                                                 tmp_path: Path) -> None:
    settings = settings_for(tmp_path, data_dir=copy_fleet(tmp_path / "data"), task_queue=f"enc-{uuid.uuid4().hex[:6]}",
                            temporal_address=temporal_address, payload_key=SENTINELS["TEMPORAL_PAYLOAD_KEY"])
    secure = await connect(settings)
    assert secure.data_converter.payload_codec is not None
    async with running_worker(secure, settings):
        wid = await client_ops.start_run(secure, settings, auto_approve=True)
        result = await client_ops.result(secure, wid)
        assert result.phase is Phase.COMPLETED and result.outcomes.succeeded > 0
    raw = (await client.get_workflow_handle(wid).fetch_history()).to_json()  # a client without the key
    inventory = json.loads((settings.data_dir / "infrastructure_inventory.json").read_text())["infrastructure_inventory"]
    for needle in ("EQ-10001", inventory[0]["site"], "renew_contract", str(settings.data_dir), "restart_device"):
        assert needle not in raw, f"{needle!r} readable in raw history"
    assert "binary/encrypted" in raw or "YmluYXJ5L2VuY3J5cHRlZA" in raw
    decoded = (await secure.get_workflow_handle(wid).fetch_history())
    assert decoded.events, "with the key the history is readable again"
    # A failure's message names the bad record and value: encrypted as well, readable with the key.
    path = settings.data_dir / "infrastructure_inventory.json"
    broken = json.loads(path.read_text())
    broken["infrastructure_inventory"][3]["install_date"] = "sometime-last-spring"
    path.write_text(json.dumps(broken))
    async with running_worker(secure, settings):
        failed_id = await client_ops.start_run(secure, settings, auto_approve=True)
        failed = await client_ops.result(secure, failed_id)
    assert failed.phase is Phase.FAILED and "sometime-last-spring" in (failed.error or "")
    raw_failure = (await client.get_workflow_handle(failed_id).fetch_history()).to_json()
    assert "sometime-last-spring" not in raw_failure and broken["infrastructure_inventory"][3]["id"] not in raw_failure
    key = SENTINELS["TEMPORAL_PAYLOAD_KEY"]  # the key itself is in no history, raw or decrypted
    for history in (raw, raw_failure, decoded.to_json(), (await secure.get_workflow_handle(failed_id).fetch_history()).to_json()):
        assert key not in history
    wrong = await connect(settings.model_copy(update={"payload_key": type(settings.payload_key)("a-completely-other-key!")}))
    with pytest.raises(Exception, match="different TEMPORAL_PAYLOAD_KEY"):
        await client_ops.get_status(wrong, wid)


async def test_a_raw_client_cannot_bypass_approvers_or_four_eyes(client: Client, tmp_path: Path) -> None:
    # The policy lives in the worker's settings; the client that starts the run asks for none at all.
    keys = identities(tmp_path / "keys", "alice", "Admin.User", "mallory")
    worker_settings = settings_for(tmp_path, data_dir=copy_fleet(tmp_path / "data"), task_queue=f"auth-{uuid.uuid4().hex[:6]}",
                                   approvers="alice,Admin.User", require_distinct_approver=True,
                                   approver_keys_dir=tmp_path / "keys")
    lax = worker_settings.model_copy(update={"approvers": (), "require_distinct_approver": False,
                                             "approver_keys_dir": None, "approver_key_file": keys["Admin.User"]})
    async with running_worker(client, worker_settings):
        wid = await client_ops.start_run(client, lax)
        auto = await client_ops.start_run(client, lax, auto_approve=True)  # the starter approving their own run
        for run in (wid, auto):
            await eventually(lambda run=run: client_ops.get_status(client, run),
                             lambda s: s.phase is Phase.PENDING_APPROVAL, what="pending")
        status = await client_ops.get_status(client, auto)
        assert status.decision is None and "REQUIRE_DISTINCT_APPROVER" in (status.auto_approve_refused or "")
        handle = client.get_workflow_handle(wid)  # not client_ops: straight to Temporal
        for approver, reason in (("mallory", "not in APPROVERS"), (lax.user_name, "REQUIRE_DISTINCT_APPROVER")):
            with pytest.raises(WorkflowUpdateFailedError) as err:
                await handle.execute_update(InfrastructureMaintenanceWorkflow.decide, ApprovalRequest(approver=approver))
            assert reason in str(err.value.cause)
        assert (await client_ops.get_status(client, wid)).decision is None
        alice = Signer.from_file("alice", keys["alice"])
        with pytest.raises(WorkflowUpdateFailedError) as err:  # the name alone
            await handle.execute_update(InfrastructureMaintenanceWorkflow.decide,
                                        ApprovalRequest(approve=False, approver="alice"))
        assert "must prove who they are" in str(err.value.cause)
        run_id = (await handle.describe()).run_id
        fields = identity.decision_fields(wid, run_id, "alice", False, None, None)
        for forged in (Signer.from_file("mallory", keys["mallory"]).prove(identity.DECIDE, fields),  # wrong key
                       alice.prove(identity.DECIDE, {**fields, "run_id": "another-run"})):  # another run's
            with pytest.raises(WorkflowUpdateFailedError) as err:
                await handle.execute_update(InfrastructureMaintenanceWorkflow.decide,
                                            ApprovalRequest(approve=False, approver="alice", proof=forged))
            assert "does not match 'alice'" in str(err.value.cause)
        await handle.execute_update(InfrastructureMaintenanceWorkflow.decide, ApprovalRequest(
            approve=False, approver="alice", proof=alice.prove(identity.DECIDE, fields)))
        assert (await client_ops.result(client, wid)).phase is Phase.REJECTED
        await client_ops.decide(client, auto, ApprovalRequest(approve=False, approver="alice"), signed_by=alice)
        assert (await client_ops.result(client, auto)).phase is Phase.REJECTED
