"""The bad-input corpus: every case gets its clear error and leaves data and workflows untouched.

The table below is the corpus (category, case id, input, what the error must say). Data-file cases
are in test_store.MALFORMED and are counted here too; hypothesis fuzzes the files on top.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from mcp import Client, StdioServerParameters
from temporalio.client import Client as TemporalClient

from conftest import PRISTINE, ROOT, copy_fleet, eventually, free_port, identities, running_worker, settings_for
from maintenance_agent import client_ops
from maintenance_agent.core import identity
from maintenance_agent.identity import Signer
from maintenance_agent.models.approval import ApprovalRequest
from maintenance_agent.models.fleet import FLEET_FILES, HEALTH_FILE, INVENTORY_FILE
from maintenance_agent.models.run import Phase
from maintenance_agent.store import FleetDataError, FleetStore
from test_store import MALFORMED, _mutate

TOO_MANY = [f"A{i}" for i in range(1, 10_002)]

# (category, case id, input, fragment of the expected one-line error)
CORPUS: list[tuple[str, str, Any, str]] = [
    *[("data", case, ("mutate", (filename, mutation)), fragments[-1]) for case, filename, mutation, fragments in MALFORMED],
    ("data", "missing-file", ("remove", HEALTH_FILE), "health_metrics.json is missing"),
    ("data", "empty-file", ("empty", INVENTORY_FILE), "not valid JSON"),
    ("data", "directory-instead-of-file", ("dir", INVENTORY_FILE), "cannot be read"),
    ("cli", "as-of-not-a-date", ["run_monitoring_agent.py", "--as-of", "next tuesday"], "--as-of"),
    ("cli", "as-of-empty", ["run_monitoring_agent.py", "--as-of", ""], "--as-of: it is empty"),
    ("cli", "unknown-flag", ["run_monitoring_agent.py", "--yolo"], "unrecognized arguments"),
    ("cli", "approve-empty-workflow-id", ["approve_monitoring_agent.py", "--workflow-id", ""],
     "'' cannot be a workflow id: it is empty"),
    ("cli", "query-empty-workflow-id", ["query_monitoring_agent.py", "--workflow-id", " "],
     "'' cannot be a workflow id: it is empty"),
    ("cli", "approve-workflow-id-with-slash", ["approve_monitoring_agent.py", "--workflow-id", "../x"],
     "cannot be a workflow id: it may only hold"),
    ("cli", "dry-run-with-reset", ["run_monitoring_agent.py", "--dry-run", "--reset-data"], "use one or the other"),
    ("cli", "approve-without-id", ["approve_monitoring_agent.py"], "--workflow-id"),
    ("cli", "approve-empty-actions", ["approve_monitoring_agent.py", "--workflow-id", "x", "--actions", ","],
     "--actions is empty"),
    ("cli", "approve-and-reject", ["approve_monitoring_agent.py", "--workflow-id", "x", "--actions", "A1", "--reject"],
     "not allowed with"),
    ("cli", "query-nothing", ["query_monitoring_agent.py"], "one of the arguments"),
    ("cli", "query-limit-zero", ["query_monitoring_agent.py", "--list", "--limit", "0"], "--limit"),
    ("cli", "proactive-interval-zero", ["run_monitoring_agent_proactive.py", "--interval-minutes", "0"],
     "--interval-minutes"),
    ("cli", "proactive-interval-subsecond", ["run_monitoring_agent_proactive.py", "--interval-minutes", "0.001"],
     "--interval-minutes"),
    ("cli", "proactive-callback-ftp", ["run_monitoring_agent_proactive.py", "--callback", "ftp://x"], "--callback"),
    ("cli", "mcp-port-zero", ["mcp_server.py", "--port", "0"], "--port"),
    ("cli", "mcp-unknown-transport", ["mcp_server.py", "--transport", "pigeon"], "invalid choice"),
    ("env", "address-without-port", {"TEMPORAL_ADDRESS": "temporal.example"}, "TEMPORAL_ADDRESS="),
    ("env", "embedded-mode", {"EMBEDDED_TEMPORAL": "maybe"}, "EMBEDDED_TEMPORAL="),
    ("env", "user-with-space", {"USER_NAME": "Ada Lovelace"}, "USER_NAME="),
    ("env", "user-path-traversal", {"USER_NAME": "/../../../../srv/x"}, "not a safe user name"),
    ("env", "approver-path-traversal", {"APPROVERS": "alice,../bob"}, "APPROVERS="),
    ("env", "max-failures-zero", {"MAX_FAILURES": "0"}, "MAX_FAILURES="),
    ("env", "negative-timeout", {"APPROVAL_TIMEOUT_HOURS": "-2"}, "APPROVAL_TIMEOUT_HOURS="),
    ("env", "llm-url-no-scheme", {"LLM_BASE_URL": "localhost:11434"}, "LLM_BASE_URL="),
    ("env", "webhook-not-http", {"NOTIFY_WEBHOOK_URL": "ftp://hooks"}, "NOTIFY_WEBHOOK_URL=<hidden>"),
    ("env", "ui-url-no-scheme", {"TEMPORAL_UI_URL": "localhost:8233"}, "TEMPORAL_UI_URL="),
    ("env", "pagerduty-url-no-host", {"PAGERDUTY_EVENTS_URL": "https:///v2/enqueue"}, "PAGERDUTY_EVENTS_URL="),
    ("env", "pagerduty-key-with-space", {"PAGERDUTY_ROUTING_KEY": "abc def"}, "PAGERDUTY_ROUTING_KEY=<hidden>"),
    ("env", "tls-mode", {"TEMPORAL_TLS": "sometimes"}, "TEMPORAL_TLS="),
    ("env", "payload-key-too-short", {"TEMPORAL_PAYLOAD_KEY": "k3y-9x"}, "TEMPORAL_PAYLOAD_KEY is too short"),
    ("env", "cert-without-key", {"TEMPORAL_TLS_CERT": str(PRISTINE / INVENTORY_FILE)}, "set both or neither"),
    ("env", "rules-file-missing", {"RULES_FILE": "/nonexistent/rules.json"}, "RULES_FILE="),
    ("env", "token-budget-tiny", {"LLM_PROMPT_TOKEN_BUDGET": "10"}, "LLM_PROMPT_TOKEN_BUDGET="),
    ("mcp", "severity-unknown", ("get_maintenance_findings", {"workflow_id": "x", "min_severity": "urgent"}),
     "Input should be 'info', 'warning' or 'critical'"),
    ("mcp", "limit-zero", ("list_maintenance_runs", {"limit": 0}), "greater than or equal to 1"),
    ("mcp", "limit-huge", ("list_maintenance_runs", {"limit": 10_000}), "less than or equal to 100"),
    ("mcp", "empty-workflow-id", ("get_maintenance_status", {"workflow_id": ""}), "at least 1 character"),
    ("mcp", "unknown-workflow-id", ("get_maintenance_plan", {"workflow_id": "no-such-run"}), "no maintenance run"),
    ("mcp", "too-many-ids", ("approve_maintenance_actions", {"workflow_id": "x", "action_ids": TOO_MANY}),
     "at most 10000 items"),
    ("mcp", "empty-reason", ("reject_maintenance_plan", {"workflow_id": "x", "reason": ""}), "at least 1 character"),
    ("mcp", "interval-zero", ("initiate_proactive_maintenance", {"interval_minutes": 0}), "greater than or equal to"),
    ("mcp", "interval-subsecond", ("initiate_proactive_maintenance", {"interval_minutes": 0.001}),
     "greater than or equal to"),
    ("mcp", "callback-ftp", ("initiate_proactive_maintenance", {"callback_url": "ftp://x"}), "should match pattern"),
    ("mcp", "approver-not-allowed", ("approve_maintenance_actions", {"workflow_id": "x", "approver": "mallory"}),
     "not allowed from this server"),
    ("mcp", "unknown-site", ("get_fleet_health", {"site": "DC-ATLANTIS"}), "no site 'DC-ATLANTIS'"),
    ("approval", "unknown-ids", ApprovalRequest(action_ids=["A1", "A77777"], approver="ops"), "unknown action id"),
    ("approval", "duplicate-ids", ApprovalRequest(action_ids=["A2", "A2"], approver="ops"), "listed twice"),
    ("approval", "empty-ids", ApprovalRequest(action_ids=[], approver="ops"), "no action ids given"),
    ("approval", "huge-list", ApprovalRequest(action_ids=TOO_MANY, approver="ops"), "more than 10000"),
    ("approval", "huge-comment", ApprovalRequest(approver="ops", comment="z" * 50_000), "comment is longer"),
    ("approval", "blank-approver", ApprovalRequest(approver="  "), "must not be empty"),
    ("approval", "reject-with-ids", ApprovalRequest(approve=False, action_ids=["A1"], approver="ops"),
     "rejection applies to the whole plan"),
    ("approval", "id-with-newline", ApprovalRequest(action_ids=["A1\nrm -rf /"], approver="ops"), "unknown action id"),
    ("approval-late", "late-decision", ApprovalRequest(approver="ops"), "already"),
    ("approval-late", "duplicate-decision", ApprovalRequest(approve=False, approver="first.op"), "already"),
    ("approval-late", "after-expiry", ApprovalRequest(approver="ops"), "already"),
    # Where the worker requires proof (APPROVERS alice,bob and the four-eyes rule; the run is alice's):
    # (approver named, who signs or how the signature is spoiled)
    ("approval-proof", "unsigned", ("bob", None), "must prove who they are"),
    ("approval-proof", "another-persons-key", ("bob", "alice"), "does not match 'bob'"),
    ("approval-proof", "signed-for-another-run", ("bob", "other-run"), "does not match 'bob'"),
    ("approval-proof", "signed-for-other-ids", ("bob", "other-ids"), "does not match 'bob'"),
    ("approval-proof", "signed-long-ago", ("bob", "stale"), "more than 5 minutes"),
    ("approval-proof", "garbage-signature", ("bob", "garbage"), "does not match 'bob'"),
    ("approval-proof", "no-key-on-the-worker", ("bob", "no-key"), "no public key for 'bob'"),
    ("approval-proof", "the-starter-signs", ("alice", "alice"), "REQUIRE_DISTINCT_APPROVER"),
    # A raw Temporal client starting runs on that worker: (workflow id or None for a fresh one, the
    # input as sent, who signs the start: None, a person, or "other-input" for alice's signature over
    # another input)
    ("raw-start", "workflow-id-with-dot-dot", ("../../escaped", {"started_by": "alice"}, "alice"), "not a safe name"),
    ("raw-start", "workflow-id-with-newline", ("infra\nrm", {"started_by": "alice"}, "alice"), "not a safe name"),
    ("raw-start", "starter-with-dot-dot", (None, {"started_by": "../../../srv/x"}, None), "not a safe name"),
    ("raw-start", "starter-with-newline", (None, {"started_by": "alice\nroot"}, None), "not a safe name"),
    ("raw-start", "plan-outside-reports", (None, {"started_by": "alice", "source_plan": {
        "artifact_dir": "../outside", "action_ids": ["A1"], "as_of": "2026-11-01T12:00:00Z"}}, "alice"),
     "not inside this worker's REPORTS_DIR"),
    ("raw-start", "plan-at-an-absolute-path", (None, {"started_by": "alice", "source_plan": {
        "artifact_dir": "/etc", "action_ids": ["A1"], "as_of": "2026-11-01T12:00:00Z"}}, "alice"),
     "not inside this worker's REPORTS_DIR"),
    ("raw-start", "unsigned-start", (None, {"started_by": "alice", "auto_approve": True}, None),
     "refusing to run for 'alice'"),
    ("raw-start", "signed-by-another-person", (None, {"started_by": "alice", "auto_approve": True}, "bob"),
     "does not match 'alice'"),
    ("raw-start", "signature-over-another-input", (None, {"started_by": "alice", "auto_approve": True}, "other-input"),
     "does not match 'alice'"),
    ("raw-start", "circuit-breaker-zero", (None, {"started_by": "alice", "max_failures": 0}, None), "max_failures"),
    ("raw-start", "approvers-not-a-list", (None, {"started_by": "alice", "approvers": 7}, None), "approvers"),
    ("raw-start", "input-not-an-object", (None, "hello", None), "MaintenanceInput"),
]


def _ids(category: str) -> list[tuple[str, Any, str]]:
    return [(case, value, fragment) for cat, case, value, fragment in CORPUS if cat == category]


def _digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()}


def test_the_corpus_is_big_and_varied() -> None:
    assert len(CORPUS) >= 40
    assert {c[0] for c in CORPUS} == {"data", "cli", "env", "mcp", "approval", "approval-late", "approval-proof",
                                     "raw-start"}
    assert len({(c[0], c[1]) for c in CORPUS}) == len(CORPUS), "case ids are unique"


@pytest.mark.parametrize("case,value,fragment", _ids("data"), ids=[c[0] for c in _ids("data")])
def test_data_file_cases(tmp_path: Path, case: str, value: tuple, fragment: str) -> None:
    data = copy_fleet(tmp_path / "data")
    how, target = value
    if how == "remove":
        (data / target).unlink()
    elif how == "empty":
        (data / target).write_text("")
    elif how == "dir":
        (data / target).unlink()
        (data / target).mkdir()
    elif how == "mutate":  # test_store's cases
        _mutate(data, *target)
    before = {p.name: p.stat().st_mtime_ns for p in data.iterdir()}
    with pytest.raises(FleetDataError) as err:
        FleetStore(data).load()
    assert fragment in str(err.value) and "\n" not in str(err.value)
    assert {p.name: p.stat().st_mtime_ns for p in data.iterdir() if p.name != ".agent"} == \
        {k: v for k, v in before.items() if k != ".agent"}


@pytest.mark.parametrize("case,args,fragment", _ids("cli"), ids=[c[0] for c in _ids("cli")])
def test_cli_cases(tmp_path: Path, case: str, args: list[str], fragment: str) -> None:
    data = copy_fleet(tmp_path / "data")
    before = _digest(data)
    env = {**os.environ, "DATA_DIR": str(data), "TEMPORAL_ADDRESS": f"localhost:{free_port()}",
           "EMBEDDED_TEMPORAL": "never", "TEMPORAL_STATE_DIR": str(tmp_path / "state")}
    proc = subprocess.run([sys.executable, str(ROOT / args[0]), *args[1:]], env=env, capture_output=True, text=True,
                          timeout=60, cwd="/")
    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr and "Traceback" not in proc.stderr and proc.stdout == ""
    assert _digest(data) == before and not (tmp_path / "state").exists()


async def test_reset_data_waits_until_the_run_can_start(client: TemporalClient, temporal_address: str,
                                                       tmp_path: Path) -> None:
    data = copy_fleet(tmp_path / "data")
    (data / INVENTORY_FILE).write_text((data / INVENTORY_FILE).read_text().replace("Operational", "Down", 1))
    before = _digest(data)
    base = {**os.environ, "DATA_DIR": str(data), "EMBEDDED_TEMPORAL": "never", "TEMPORAL_STATE_DIR": str(tmp_path / "state"),
            "TEMPORAL_TASK_QUEUE": f"reset-{uuid.uuid4().hex[:6]}", "ENV_FILE": os.devnull}
    script = [sys.executable, str(ROOT / "run_monitoring_agent.py"), "--reset-data", "--auto-approve"]
    for env in ({**base, "TEMPORAL_ADDRESS": f"localhost:{free_port()}"},  # no server
                {**base, "TEMPORAL_ADDRESS": temporal_address}):  # a server, but no worker on the queue
        proc = await asyncio.to_thread(subprocess.run, script, env=env, capture_output=True, text=True, timeout=60, cwd="/")
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert _digest(data) == before, "a run that could not start must not reset the fleet"
    # DATA_DIR is a file: one line, exit 2, no traceback (the run can start, the reset cannot)
    settings = settings_for(tmp_path / "w", task_queue=base["TEMPORAL_TASK_QUEUE"])
    not_a_dir = tmp_path / "not-a-directory"
    not_a_dir.write_text("x")
    async with running_worker(client, settings):
        proc = await asyncio.to_thread(subprocess.run, script, env={**base, "TEMPORAL_ADDRESS": temporal_address,
                                                                    "DATA_DIR": str(not_a_dir)},
                                       capture_output=True, text=True, timeout=60, cwd="/")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and str(not_a_dir) in proc.stderr


@pytest.mark.parametrize("case,env,fragment", _ids("env"), ids=[c[0] for c in _ids("env")])
def test_environment_cases(tmp_path: Path, case: str, env: dict[str, str], fragment: str) -> None:
    data = copy_fleet(tmp_path / "data")
    before = _digest(data)
    full = {**os.environ, "DATA_DIR": str(data), "TEMPORAL_STATE_DIR": str(tmp_path / "state"), **env}
    proc = subprocess.run([sys.executable, str(ROOT / "run_monitoring_agent.py"), "--auto-approve"], env=full,
                          capture_output=True, text=True, timeout=60, cwd="/")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in proc.stderr
    for secret in ("k3y-9x", "ftp://hooks", "abc def"):  # secret settings are never echoed
        if secret in env.values():
            assert secret not in proc.stderr
    assert _digest(data) == before and not (tmp_path / "state").exists()


@pytest.fixture(scope="module")
async def pending_run(client: TemporalClient, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    tmp = tmp_path_factory.mktemp("bad-approvals")
    settings = settings_for(tmp, data_dir=copy_fleet(tmp / "data"), task_queue=f"bad-{uuid.uuid4().hex[:8]}")
    async with running_worker(client, settings):
        pending = await client_ops.start_run(client, settings)
        decided = await client_ops.start_run(client, settings)
        for run in (pending, decided):
            await eventually(lambda r=run: client_ops.get_status(client, r), lambda s: s.phase is Phase.PENDING_APPROVAL,
                             what="pending")
        await client_ops.decide(client, decided, ApprovalRequest(approve=False, approver="first.op"))
        await client_ops.result(client, decided)
        expired = await client_ops.start_run(client, settings, approval_timeout_seconds=1)
        assert (await client_ops.result(client, expired)).phase is Phase.EXPIRED
        yield {"pending": pending, "decided": decided, "expired": expired, "settings": settings}
        await client.get_workflow_handle(pending).terminate("test over")


@pytest.mark.parametrize("case,request_,fragment", _ids("approval") + _ids("approval-late"),
                         ids=[c[0] for c in _ids("approval") + _ids("approval-late")])
async def test_approval_cases(client: TemporalClient, pending_run: dict, case: str, request_: ApprovalRequest,
                              fragment: str) -> None:
    run = {"late-decision": pending_run["decided"], "duplicate-decision": pending_run["decided"],
           "after-expiry": pending_run["expired"]}.get(case, pending_run["pending"])
    data = pending_run["settings"].data_dir
    before = _digest(data)
    with pytest.raises(client_ops.OperationError) as err:
        await client_ops.decide(client, run, request_)
    assert fragment in str(err.value) and "\n" not in str(err.value) and len(str(err.value)) < 400
    assert _digest(data) == before
    if run == pending_run["pending"]:
        status = await client_ops.get_status(client, run)
        assert status.phase is Phase.PENDING_APPROVAL and status.decision is None, "the run is untouched"


@pytest.fixture(scope="module")
async def signed_pending_run(client: TemporalClient, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    tmp = tmp_path_factory.mktemp("bad-proofs")
    keys = identities(tmp / "keys", "alice", "bob")
    settings = settings_for(tmp, data_dir=copy_fleet(tmp / "data"), task_queue=f"proof-{uuid.uuid4().hex[:8]}",
                            approvers="alice,bob", require_distinct_approver=True, approver_keys_dir=tmp / "keys",
                            user_name="alice", approver_key_file=keys["alice"])
    # A second worker on its own queue holds no key for bob: it stands for a worker missing his .pub.
    (tmp / "keys-without-bob").mkdir()
    shutil.copyfile(tmp / "keys" / "alice.pub", tmp / "keys-without-bob" / "alice.pub")
    no_bob = settings.model_copy(update={"task_queue": f"proof-{uuid.uuid4().hex[:8]}",
                                         "approver_keys_dir": tmp / "keys-without-bob"})
    async with running_worker(client, settings), running_worker(client, no_bob):
        runs = {"pending": await client_ops.start_run(client, settings), "other": await client_ops.start_run(client, settings),
                "no-key": await client_ops.start_run(client, no_bob)}
        for run in runs.values():
            await eventually(lambda r=run: client_ops.get_status(client, r), lambda s: s.phase is Phase.PENDING_APPROVAL,
                             what="pending")
        yield {**runs, "settings": settings, "signers": {u: Signer.from_file(u, k) for u, k in keys.items()}}
        for run in runs.values():
            await client.get_workflow_handle(run).terminate("test over")


@pytest.mark.parametrize("case,value,fragment", _ids("approval-proof"), ids=[c[0] for c in _ids("approval-proof")])
async def test_forged_and_unsigned_decisions(client: TemporalClient, signed_pending_run: dict, case: str, value: tuple,
                                            fragment: str) -> None:
    approver, how = value
    run = signed_pending_run["no-key" if how == "no-key" else "pending"]
    handle = client.get_workflow_handle(run)
    run_id = (await handle.describe()).run_id
    other_run_id = (await client.get_workflow_handle(signed_pending_run["other"]).describe()).run_id
    signers = signed_pending_run["signers"]
    fields = identity.decision_fields(run, run_id, approver, True, None, None)
    proof = {
        None: None,
        "alice": signers["alice"].prove(identity.DECIDE, fields),
        "other-run": signers["bob"].prove(identity.DECIDE, {**fields, "run_id": other_run_id}),
        "other-ids": signers["bob"].prove(identity.DECIDE, {**fields, "action_ids": ["A1"]}),
        "stale": signers["bob"].prove(identity.DECIDE, fields, at=datetime.now(UTC) - timedelta(hours=1)),
        "garbage": signers["bob"].prove(identity.DECIDE, fields).model_copy(update={"signature": "AAAA" * 22}),
        "no-key": signers["bob"].prove(identity.DECIDE, fields),
    }[how]
    before = _digest(signed_pending_run["settings"].data_dir)
    from temporalio.client import WorkflowUpdateFailedError

    from maintenance_agent.workflows import InfrastructureMaintenanceWorkflow

    with pytest.raises(WorkflowUpdateFailedError) as err:  # a raw client, straight to Temporal
        await handle.execute_update(InfrastructureMaintenanceWorkflow.decide,
                                    ApprovalRequest(approver=approver, proof=proof))
    message = _failure(err.value)
    assert fragment in message and "\n" not in message and len(message) < 400, message
    assert _digest(signed_pending_run["settings"].data_dir) == before
    status = await client_ops.get_status(client, run)
    assert status.phase is Phase.PENDING_APPROVAL and status.decision is None, "the run is untouched"


@pytest.mark.parametrize("case,value,fragment", _ids("raw-start"), ids=[c[0] for c in _ids("raw-start")])
async def test_raw_starts_fail_at_once_with_one_line(client: TemporalClient, signed_pending_run: dict, case: str,
                                                     value: tuple, fragment: str) -> None:
    from maintenance_agent.models.run import MaintenanceInput

    workflow_id, payload, signer = value
    workflow_id = workflow_id or f"infra-raw-{uuid.uuid4().hex[:8]}"
    settings, signers = signed_pending_run["settings"], signed_pending_run["signers"]
    if signer:
        signed = MaintenanceInput.model_validate({**payload, "auto_approve": False} if signer == "other-input" else payload)
        proof = signers["alice" if signer == "other-input" else signer].prove(
            identity.START, identity.start_fields(workflow_id, signed))
        payload = {**payload, "start_proof": proof.model_dump(mode="json")}
    before, reports_before = _digest(settings.data_dir), _tree(settings.reports_dir)
    handle = await client.start_workflow("InfrastructureMaintenanceWorkflow", payload, id=workflow_id,
                                         task_queue=settings.task_queue)
    # It fails (never hangs retrying), with one clear line, and touches nothing.
    described = await eventually(handle.describe, lambda d: d.close_time is not None, timeout=60,
                                 what=f"{case}: the run to fail")
    assert described.status.name == "FAILED", case
    history = await handle.fetch_history()
    message = history.events[-1].workflow_execution_failed_event_attributes.failure.message
    assert fragment in message and "\n" not in message and len(message) < 400, message
    assert "Traceback" not in message
    assert _digest(settings.data_dir) == before, "the fleet is untouched"
    written = _tree(settings.reports_dir) - reports_before
    if case.startswith("plan-"):  # alice's own run, failed: only its own folder may have been written
        assert all(p.startswith(workflow_id) for p in written), written
    else:  # nobody's run (or none at all): no folder, no report
        assert written == set(), written


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def _failure(exc: BaseException) -> str:
    while getattr(exc, "cause", None) is not None:
        exc = exc.cause
    return getattr(exc, "message", str(exc))


async def test_mcp_cases(client: TemporalClient, temporal_address: str, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, data_dir=copy_fleet(tmp_path / "data"), task_queue=f"badmcp-{uuid.uuid4().hex[:8]}")
    env = {"TEMPORAL_ADDRESS": temporal_address, "TEMPORAL_TASK_QUEUE": settings.task_queue, "EMBEDDED_TEMPORAL": "never",
           "DATA_DIR": str(settings.data_dir), "REPORTS_DIR": str(settings.reports_dir), "ENV_FILE": os.devnull}
    before = _digest(settings.data_dir)
    params = StdioServerParameters(command=sys.executable, args=[str(ROOT / "mcp_server.py")], env=env)
    async with running_worker(client, settings), Client(params, read_timeout_seconds=60) as session:
        runs_before = len((await session.call_tool("list_maintenance_runs", {"limit": 100})).structured_content["runs"])
        for case, (tool, args), fragment in _ids("mcp"):
            result = await session.call_tool(tool, args)
            assert result.is_error, case
            assert fragment in result.content[0].text, (case, result.content[0].text[:300])
            assert "Traceback" not in result.content[0].text
        runs_after = len((await session.call_tool("list_maintenance_runs", {"limit": 100})).structured_content["runs"])
    assert runs_after == runs_before, "no bad call started a workflow"
    assert _digest(settings.data_dir) == before


# ------------------------------------------------------------------------------------------------
# fuzzing the data files


def _small_fleet() -> dict[str, Any]:
    docs = {name: json.loads((PRISTINE / name).read_text()) for name in FLEET_FILES}
    keep = {d["id"] for d in docs[INVENTORY_FILE]["infrastructure_inventory"][:4]}
    docs[INVENTORY_FILE]["infrastructure_inventory"] = docs[INVENTORY_FILE]["infrastructure_inventory"][:4]
    docs[HEALTH_FILE]["health_metrics"] = [h for h in docs[HEALTH_FILE]["health_metrics"] if h["equipment_id"] in keep]
    return docs


SMALL = _small_fleet()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.integers(min_value=2**63 - 2, max_value=2**70)
    | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@hyp_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_files_load_or_fail_with_one_clear_line(tmp_path: Path, data: st.DataObject) -> None:
    docs = copy.deepcopy(SMALL)
    filename = data.draw(st.sampled_from(list(FLEET_FILES)))
    paths = _paths(docs[filename])[1:]
    path = data.draw(st.sampled_from(paths))
    parent = docs[filename]
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = data.draw(json_values)
    fleet_dir = tmp_path / f"fuzz-{uuid.uuid4().hex[:8]}"
    fleet_dir.mkdir()
    for name, doc in docs.items():
        (fleet_dir / name).write_text(json.dumps(doc))
    before = _digest(fleet_dir)
    store = FleetStore(fleet_dir)
    try:
        store.load()
    except FleetDataError as exc:
        message = str(exc)
        assert "\n" not in message and filename in message and len(message) < 600
        assert _digest(fleet_dir) == before
        return
    assert _digest(fleet_dir) == before
    # What loads is written back as it was (NaN, Infinity and huge integers never get this far).
    written = {name: json.loads((fleet_dir / name).read_text()) for name in FLEET_FILES}
    store.compact()
    store._cache.mark = (-1, -1)  # force the rewrite even with nothing committed  # noqa: SLF001
    store.compact()
    FleetStore(fleet_dir).load()
    assert {name: json.loads((fleet_dir / name).read_text()) for name in FLEET_FILES} == written


def test_terminal_output_prints_text_from_the_data_as_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    """A device id with Rich markup (`[/x]` crashed the plan table; `[link=…]` made a hyperlink)."""
    from types import SimpleNamespace

    from maintenance_agent import commands
    from maintenance_agent.models.core import ActionName, Risk

    hostile = "EQ-1[/x] [link=http://evil]y[/link] :warning:"
    action = SimpleNamespace(id="A1", equipment_id=hostile, site="S1", action=ActionName.RESTART_DEVICE,
                             risk=Risk.LOW, confidence=0.9, routine=False, reason="[bold]down[/bold]")
    commands.stderr.width = 400
    commands.print_plan(SimpleNamespace(approval_deadline=None), [action], 1, "wf-1")
    out = capsys.readouterr().err
    assert hostile in out and "[bold]down[/bold]" in out and "⚠" not in out


@pytest.mark.parametrize("options,fragment", [
    ({"auto_aprove": True}, "unknown run option 'auto_aprove'; the options are auto_approve, dry_run"),
    ({"max_failures": 0}, "run option max_failures: Input should be greater than or equal to 1"),
    ({"dry_run": "perhaps"}, "run option dry_run: Input should be a valid boolean"),
])
def test_a_misspelt_or_invalid_run_option_is_an_error_not_another_run(tmp_path: Path, options: dict, fragment: str) -> None:
    """Before: `auto_aprove=True` was dropped and the run quietly waited for an approval nobody expected."""
    with pytest.raises(client_ops.OperationError) as refused:
        client_ops.run_input(settings_for(tmp_path), **options)
    assert fragment in str(refused.value) and "\n" not in str(refused.value)
    assert client_ops.run_input(settings_for(tmp_path), auto_approve=True).auto_approve


@pytest.mark.parametrize("options,fragment", [
    ({"auto_exucute_routine": False}, "unknown proactive agent option 'auto_exucute_routine'; the options are "
                                      "interval_minutes, auto_execute_routine"),
    ({"interval_minutes": 0}, "proactive agent option interval_minutes: Input should be greater than or equal to"),
    ({"notify_timeout_seconds": 500}, "proactive agent option notify_timeout_seconds: Input should be less than"),
    ({"advisor": True}, "unknown proactive agent option 'advisor'"),  # the agent's cycles are rules only
])
async def test_a_misspelt_or_invalid_agent_option_is_an_error_not_another_agent(tmp_path: Path, options: dict,
                                                                                fragment: str) -> None:
    """Before: `ProactiveInput` ignored unknown fields, so a typo started an agent with the default."""
    with pytest.raises(client_ops.OperationError) as refused:
        await client_ops.start_proactive(None, settings_for(tmp_path), **options)  # type: ignore[arg-type]
    assert fragment in str(refused.value) and "\n" not in str(refused.value)
    assert refused.value.code == client_ops.ErrorCode.BAD_OPTION
    chosen = client_ops.proactive_input(settings_for(tmp_path), interval_minutes=5, notify_timeout_seconds=3)
    assert (chosen.interval_seconds, chosen.notify_timeout_seconds) == (300, 3)
