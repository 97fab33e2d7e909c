"""Regressions from attacking the running product (issue: trust and data safety), through the real
interfaces: data files read by real runs on a real Temporal server, raw clients, the scripts."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from conftest import (
    ROOT,
    audit_log,
    copy_fleet,
    eventually,
    identities,
    running_worker,
    settings_for,
    with_doomed_repairs,
    without_thermal_shutdowns,
)
from maintenance_agent import client_ops
from maintenance_agent.core import identity
from maintenance_agent.identity import Signer
from maintenance_agent.models.approval import ApprovalRequest
from maintenance_agent.models.fleet import HEALTH_FILE, INVENTORY_FILE
from maintenance_agent.models.run import Phase
from maintenance_agent.store import STATE_DIRNAME


def _settings(tmp: Path, **overrides: Any):  # noqa: ANN202
    return settings_for(tmp, data_dir=overrides.pop("data_dir", None) or without_thermal_shutdowns(copy_fleet(tmp / "data")),
                        task_queue=f"trust-{uuid.uuid4().hex[:8]}", **overrides)


def _report(result) -> dict:  # noqa: ANN001
    return json.loads(Path(result.report.json_path).read_text())


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


# ------------------------------------------------------------------------------------------------
# the worker owns its directories; ids and names cannot escape them


def _raw_input(started_by: str = "raw.client", **extra: Any) -> dict[str, Any]:
    """A start input as a raw Temporal client would send it (any field, any value)."""
    return {"started_by": started_by, "auto_approve": True, **extra}


async def _raw_run(client: Client, settings, workflow_id: str, payload: dict[str, Any]):  # noqa: ANN001, ANN202
    """Start a run as a raw client would; (result, None) or (None, the failure's message)."""
    async with running_worker(client, settings):
        return await _raw_start(client, settings, workflow_id, payload)


async def _raw_start(client: Client, settings, workflow_id: str, payload: dict[str, Any]):  # noqa: ANN001, ANN202
    """`_raw_run` with the worker already running."""
    from temporalio.client import WorkflowFailureError

    # The directories the worker has anyway, as older clients sent them (ignored by today's worker).
    payload = {"data_dir": str(settings.data_dir), "reports_dir": str(settings.reports_dir), **payload}
    handle = await client.start_workflow("InfrastructureMaintenanceWorkflow", payload, id=workflow_id,
                                         task_queue=settings.task_queue)
    try:
        return await asyncio.wait_for(handle.result(), timeout=120), None
    except WorkflowFailureError as exc:
        return None, str(exc.cause)


def _files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


async def test_a_workflow_id_with_dot_dot_writes_nothing_outside_reports(client: Client, tmp_path: Path) -> None:
    settings = _settings(tmp_path, reports_dir=tmp_path / "deep" / "er" / "reports")
    before = _files_under(tmp_path)
    result, error = await _raw_run(client, settings, "../../escaped", _raw_input())
    assert result is None and "not a safe name" in error and "workflow id" in error
    assert not (tmp_path / "deep" / "escaped").exists()
    assert _files_under(tmp_path) == before, "the refused run wrote nothing at all"


async def test_a_start_input_cannot_point_the_worker_at_other_directories(client: Client, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    elsewhere = copy_fleet(tmp_path / "someone-elses-fleet")
    before = _files_under(elsewhere)
    result, error = await _raw_run(client, settings, f"infra-raw-{uuid.uuid4().hex[:8]}", _raw_input(
        data_dir=str(elsewhere), reports_dir=str(tmp_path / "someone-elses-reports")))
    assert error is None and result["phase"] in ("COMPLETED", "NO-ACTION-NEEDED")
    assert _files_under(elsewhere) == before and not (tmp_path / "someone-elses-reports").exists()
    assert audit_log(settings.data_dir), "the run worked on the worker's own DATA_DIR"
    assert Path(result["report"]["markdown"]).is_relative_to(settings.reports_dir)


async def test_a_plan_reference_outside_reports_is_refused(client: Client, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    for ref in ("../outside", str(outside)):
        plan = {"artifact_dir": ref, "action_ids": ["A1"], "as_of": "2026-11-01T12:00:00Z"}
        result, error = await _raw_run(client, settings, f"infra-raw-{uuid.uuid4().hex[:8]}",
                                       _raw_input(source_plan=plan))
        assert result is None and "not inside this worker's REPORTS_DIR" in error, error


async def test_an_unsafe_starter_name_is_refused(client: Client, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    result, error = await _raw_run(client, settings, f"infra-raw-{uuid.uuid4().hex[:8]}",
                                   _raw_input(started_by="../../../srv/x"))
    assert result is None and "started_by" in error and "not a safe name" in error
    assert not settings.reports_dir.exists() or not _files_under(settings.reports_dir)


# ------------------------------------------------------------------------------------------------
# the circuit breaker is fleet-wide and lives in the ledger; internal signals change nothing


def _generated(tmp: Path, devices: int, seed: int = 7) -> Path:
    from maintenance_agent.datagen import generate_fleet, write_fleet

    data = tmp / "data"
    write_fleet(generate_fleet(devices, seed), data)
    return data


async def _describe(client: Client, wid: str):  # noqa: ANN202
    """The workflow's description, or None while it does not exist yet."""
    from temporalio.service import RPCError, RPCStatusCode

    try:
        return await client.get_workflow_handle(wid).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


def _mine(data: Path, wid: str) -> list[dict]:
    """The ledger entries of the run(s) under this workflow id (keyed by it, before runs had keys)."""
    return [e for e in audit_log(data) if wid in (e.get("workflow_id"), e.get("run_id"))]


def _after_the_breaker(entries: list[dict], max_failures: int) -> list[dict]:
    """Entries committed after the failure that tripped the breaker (in commit order)."""
    problems = [e for e in entries if e["outcome"] in ("failed", "rolled_back")]
    assert len(problems) >= max_failures, "the fleet must produce enough failures for the test to mean anything"
    tripped = sorted(e["seq"] for e in problems)[max_failures - 1]
    return [e for e in entries if e["seq"] > tripped]


async def test_the_breaker_holds_fleet_wide_across_site_children(client: Client, tmp_path: Path) -> None:
    """2,000 devices (a plan far over 400 actions: one child per site) with MAX_FAILURES=3. Before, each
    child had its own budget: 941 more actions and 19 more failures ran after the third failure."""
    from maintenance_agent.models.run import INLINE_LIMIT

    settings = _settings(tmp_path, data_dir=_generated(tmp_path, 2000), max_failures=3)
    async with running_worker(client, settings):
        wid = await client_ops.start_run(client, settings, auto_approve=True)
        result = await client_ops.result(client, wid)
    assert result.actions > INLINE_LIMIT
    mine = _mine(settings.data_dir, wid)
    # The simulator checks the breaker and commits under one lock, so not even an action in flight runs on.
    assert _after_the_breaker(mine, 3) == []
    assert sum(e["outcome"] in ("failed", "rolled_back") for e in mine) == 3
    report = _report(result)
    assert report["halted"] and report["outcomes"]["not_run"] == result.actions - len(mine) > 0
    assert "circuit breaker stopped execution" in report["summary"]


async def test_forged_internal_signals_neither_lift_nor_trip_the_breaker(client: Client, tmp_path: Path) -> None:
    from maintenance_agent.models.run import INLINE_LIMIT
    from maintenance_agent.workflows import InfrastructureMaintenanceWorkflow, SiteExecutionWorkflow

    # 800 devices: 479 actions, over INLINE_LIMIT, so both runs execute in site children.
    doomed = tuple(f"EQ-{10001 + i}" for i in range(0, 40, 4))  # ten repairs that will not take
    strict = _settings(tmp_path / "strict", data_dir=with_doomed_repairs(_generated(tmp_path / "strict", 800), doomed),
                       max_failures=3)
    loose = _settings(tmp_path / "loose", data_dir=with_doomed_repairs(_generated(tmp_path / "loose", 800), doomed),
                      max_failures=100_000)
    async with running_worker(client, strict), running_worker(client, loose):
        runs = {}
        for name, settings in (("strict", strict), ("loose", loose)):
            wid = await client_ops.start_run(client, settings)
            await eventually(lambda w=wid: client_ops.get_status(client, w), lambda s: s.phase is Phase.PENDING_APPROVAL,
                             timeout=120, what="the plan")
            runs[name] = wid
        raw = lambda wid: client.get_workflow_handle(wid)  # noqa: E731 - a raw client, no typed wrapper
        await raw(runs["strict"]).signal(InfrastructureMaintenanceWorkflow.site_failed, -1_000_000)
        await raw(runs["loose"]).signal(InfrastructureMaintenanceWorkflow.site_failed, 1_000_000_000)
        for name, settings in (("strict", strict), ("loose", loose)):
            await client_ops.decide(client, runs[name], ApprovalRequest(approver="ops.lead"))
        site_child = f"{runs['loose']}/site-DC-EAST1"
        await eventually(lambda: _describe(client, site_child), lambda d: d is not None, timeout=60, what="a site child")
        await raw(site_child).signal(SiteExecutionWorkflow.halt)
        strict_result = await client_ops.result(client, runs["strict"])
        loose_result = await client_ops.result(client, runs["loose"])
    assert _after_the_breaker(_mine(strict.data_dir, runs["strict"]), 3) == [], "-1,000,000 did not lift the breaker"
    assert loose_result.outcomes.not_run == 0 and not _report(loose_result)["halted"], \
        "a forged failure count or halt stopped a run"
    assert strict_result.outcomes.not_run > 0
    assert min(strict_result.actions, loose_result.actions) > INLINE_LIMIT, "both executed in site children"


async def test_a_reused_workflow_id_never_reports_another_run_s_work(client: Client, tmp_path: Path) -> None:
    from temporalio.common import WorkflowIDReusePolicy

    settings = _settings(tmp_path)
    wid = f"infra-reused-{uuid.uuid4().hex[:8]}"
    # With the directories older clients sent (ignored today): the same input starts on yesterday's worker.
    payload = _raw_input(data_dir=str(settings.data_dir), reports_dir=str(settings.reports_dir))
    async with running_worker(client, settings):
        first = await client_ops.result(client, (await client.start_workflow(
            "InfrastructureMaintenanceWorkflow", payload, id=wid, task_queue=settings.task_queue)).id)
        report = Path(first.report.json_path)
        before = report.read_bytes()
        again = await client.start_workflow("InfrastructureMaintenanceWorkflow", payload, id=wid,
                                            task_queue=settings.task_queue,
                                            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE)
        from temporalio.client import WorkflowFailureError

        with pytest.raises(WorkflowFailureError) as failure:
            await asyncio.wait_for(again.result(), timeout=120)
    assert "already used by another run" in str(failure.value.cause)
    assert report.read_bytes() == before, "the first run's report is untouched"
    assert len(_mine(settings.data_dir, wid)) == first.outcomes.executed, "the second run applied nothing"


async def test_progress_of_a_large_run_moves_while_its_sites_execute(client: Client, tmp_path: Path) -> None:
    """Before, status said (0/87514) while 36,390 actions had run: the count moved only when a site finished."""
    from helpers.faulty_worker import TestHooks, faulty

    settings = _settings(tmp_path, data_dir=_generated(tmp_path, 1200), max_failures=100_000)
    sites = sorted({d["site"] for d in json.loads((settings.data_dir / INVENTORY_FILE).read_text())[
        "infrastructure_inventory"]})
    async with running_worker(client, settings, make_activities=faulty(TestHooks(action_delay_ms=150))):
        wid = await client_ops.start_run(client, settings, auto_approve=True)
        seen = []
        while not (status := await client_ops.get_status(client, wid)).phase.terminal:
            if status.phase is Phase.EXECUTING:
                children = [await _describe(client, f"{wid}/site-{site}") for site in sites]
                if any(c is not None and c.close_time for c in children):
                    break  # from here on a finished site would move the count anyway
                seen.append(status.executed)
                if status.executed > 0:
                    break  # shown while every site was still running (described after the status was read)
            await asyncio.sleep(0.5)
        await client.get_workflow_handle(wid).terminate("test over")  # the rest of the run proves nothing more
    assert seen and max(seen) > 0, f"no progress shown before the first site finished: {seen}"


# ------------------------------------------------------------------------------------------------
# concurrent runs repeat no work


def _tried_twice(ledger: list[dict]) -> list[tuple[str, str]]:
    tried = Counter((e["equipment_id"], e["action"]) for e in ledger if e.get("action") and e["outcome"] != "stale")
    return sorted(key for key, n in tried.items() if n > 1)


async def test_two_concurrent_auto_approved_runs_repeat_no_repair(client: Client, tmp_path: Path) -> None:
    """Before: 32 (device, action) pairs rolled back in one run were tried again by the other (25 devices
    restarted twice). Now the second finds them stale, saying which run rolled them back and when."""
    settings = _settings(tmp_path, data_dir=_generated(tmp_path, 300, seed=11), max_failures=100_000)
    async with running_worker(client, settings):
        runs = [await client_ops.start_run(client, settings, auto_approve=True) for _ in range(2)]
        results = [await client_ops.result(client, wid) for wid in runs]
    assert [r.phase for r in results] == [Phase.COMPLETED] * 2
    ledger = audit_log(settings.data_dir)
    assert _tried_twice(ledger) == []
    held = [e for e in ledger if "is not repeated within 60 min" in e.get("detail", "")]
    assert held, "the fleet has repairs that do not work (overheating devices), so the rule must have held some"
    first_try = {(e["equipment_id"], e["action"]): e for e in ledger if e["outcome"] in ("rolled_back", "failed")}
    for entry in held:
        earlier = first_try[(entry["equipment_id"], entry["action"])]
        assert earlier["workflow_id"] != entry["workflow_id"] and earlier["workflow_id"] in entry["detail"]


async def test_disruptive_operations_at_one_site_never_overlap_across_runs(client: Client, tmp_path: Path) -> None:
    """Operations that take time hold a site and a device lease in the store: two runs planned on the
    same fleet never run disruptive operations at one site at the same time."""
    from helpers.faulty_worker import TestHooks, faulty

    settings = _settings(tmp_path, data_dir=_generated(tmp_path, 120, seed=5), max_failures=100_000)
    async with running_worker(client, settings, make_activities=faulty(TestHooks(operation_ms=80))):
        runs = [await client_ops.start_run(client, settings, auto_approve=True) for _ in range(2)]
        for wid in runs:
            assert (await client_ops.result(client, wid)).phase is Phase.COMPLETED
    assert _tried_twice(audit_log(settings.data_dir)) == []
    operations = [e for e in audit_log(settings.data_dir) if "operation_started_at" in e.get("result", {})]
    assert {e["workflow_id"] for e in operations} == set(runs), "both runs operated"
    by_site: dict[str, list[tuple[datetime, datetime, str]]] = {}
    for e in operations:
        window = (datetime.fromisoformat(e["result"]["operation_started_at"]), datetime.fromisoformat(e["at"]))
        by_site.setdefault(e["site"], []).append((*window, e["workflow_id"]))
    for site, windows in by_site.items():
        windows.sort()
        for (start, end, run), (next_start, _, next_run) in zip(windows, windows[1:]):
            assert next_start >= end, f"{site}: {run} and {next_run} operated at once"
    assert not (settings.data_dir / STATE_DIRNAME / "leases.json").exists() or \
        json.loads((settings.data_dir / STATE_DIRNAME / "leases.json").read_text()) == {}, "every lease released"


# ------------------------------------------------------------------------------------------------
# identities are proven, not claimed


def _signed_world(tmp: Path):  # noqa: ANN202
    """A worker with APPROVERS=alice,bob and the four-eyes rule, the keys of alice, bob and mallory,
    and alice's client (USER_NAME alice, her key)."""
    keys = identities(tmp / "keys", "alice", "bob", "mallory")
    worker = _settings(tmp, approvers="alice,bob", require_distinct_approver=True, approver_keys_dir=tmp / "keys")
    alice = worker.model_copy(update={"user_name": "alice", "approver_key_file": keys["alice"]})
    return worker, alice, {user: Signer.from_file(user, path) for user, path in keys.items()}, keys


async def test_a_decision_needs_the_approver_s_own_fresh_signature(client: Client, tmp_path: Path) -> None:
    """Before: with APPROVERS=alice,bob and the four-eyes rule, a raw update "approver": "bob" approved
    alice's run, and USER_NAME=bob approve_monitoring_agent.py worked for anyone."""
    from temporalio.client import WorkflowUpdateFailedError

    from maintenance_agent.workflows import InfrastructureMaintenanceWorkflow

    worker, alice_client, sign, keys = _signed_world(tmp_path)
    async with running_worker(client, worker):
        wid = await client_ops.start_run(client, alice_client)
        other = await client_ops.start_run(client, alice_client)
        for run in (wid, other):
            await eventually(lambda r=run: client_ops.get_status(client, r), lambda s: s.phase is Phase.PENDING_APPROVAL,
                             what="pending")
        handle = client.get_workflow_handle(wid)
        run_id, other_run_id = (await handle.describe()).run_id, (await client.get_workflow_handle(other).describe()).run_id
        fields = identity.decision_fields(wid, run_id, "bob", True, None, None)
        forged = {
            "a name alone": (None, "must prove who they are"),
            "alice's key, bob's name": (sign["alice"].prove(identity.DECIDE, fields), "does not match 'bob'"),
            "another run's signature": (sign["bob"].prove(identity.DECIDE, {**fields, "run_id": other_run_id}),
                                        "does not match 'bob'"),
            "other action ids than signed": (sign["bob"].prove(identity.DECIDE, {**fields, "action_ids": ["A1"]}),
                                             "does not match 'bob'"),
            "a signature 10 minutes old": (sign["bob"].prove(identity.DECIDE, fields,
                                                             at=datetime.now(UTC) - timedelta(minutes=10)),
                                           "more than 5 minutes"),
        }
        for case, (proof, reason) in forged.items():
            with pytest.raises(WorkflowUpdateFailedError) as err:
                await handle.execute_update(InfrastructureMaintenanceWorkflow.decide,
                                            ApprovalRequest(approver="bob", proof=proof))
            assert reason in str(err.value.cause), case
        assert (await client_ops.get_status(client, wid)).decision is None, "nothing forged reached the run"

        # The scripts: bob's name without bob's key, and alice's key under bob's name.
        env = {**os.environ, "TEMPORAL_ADDRESS": client.service_client.config.target_host, "EMBEDDED_TEMPORAL": "never",
               "TEMPORAL_TASK_QUEUE": worker.task_queue, "USER_NAME": "bob", "ENV_FILE": os.devnull,
               "DATA_DIR": str(worker.data_dir), "REPORTS_DIR": str(worker.reports_dir)}
        approve = [sys.executable, str(ROOT / "approve_monitoring_agent.py"), "--workflow-id", wid]
        for extra, reason in (({}, "must prove who they are"),
                              ({"APPROVER_KEY_FILE": str(keys["alice"])}, "does not match 'bob'")):
            proc = await asyncio.to_thread(subprocess.run, approve, env={**env, **extra}, capture_output=True,
                                           text=True, timeout=120)
            assert proc.returncode == 2 and reason in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
            assert len(proc.stderr.strip().splitlines()) == 1

        proc = await asyncio.to_thread(subprocess.run, approve, env={**env, "APPROVER_KEY_FILE": str(keys["bob"])},
                                       capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        result = await client_ops.result(client, wid)
        assert result.decision.by == "bob" and result.decision.signed
        with pytest.raises(client_ops.OperationError, match="REQUIRE_DISTINCT_APPROVER"):
            await client_ops.decide(client, other, ApprovalRequest(approver="alice"), signed_by=sign["alice"])
        await client_ops.decide(client, other, ApprovalRequest(approve=False, approver="bob"), signed_by=sign["bob"])


async def test_nobody_starts_or_auto_approves_in_someone_else_s_name(client: Client, tmp_path: Path) -> None:
    worker, alice_client, sign, _keys = _signed_world(tmp_path)
    worker = worker.model_copy(update={"require_distinct_approver": False})  # alice may approve her own runs
    alice_client = alice_client.model_copy(update={"require_distinct_approver": False})
    from maintenance_agent.models.run import MaintenanceInput

    fields = lambda wid: identity.start_fields(wid, MaintenanceInput(started_by="alice", auto_approve=True))  # noqa: E731
    async with running_worker(client, worker):
        for case, proof in (("unsigned", None), ("mallory's signature", lambda wid: sign["mallory"].prove(
                identity.START, fields(wid)))):
            wid = f"infra-raw-{uuid.uuid4().hex[:8]}"
            payload = _raw_input("alice", start_proof=proof(wid).model_dump(mode="json") if proof else None)
            result, error = await _raw_start(client, worker, wid, payload)
            assert result is None and "refusing to run for 'alice'" in error, case
            assert _mine(worker.data_dir, wid) == [], f"{case}: nothing was applied"
        # A routine run "from a proactive agent" that is not one: no parent, no signature.
        plan = {"artifact_dir": "nowhere", "action_ids": ["A1"], "as_of": "2026-11-01T12:00:00Z"}
        result, error = await _raw_start(client, worker, f"infra-raw-{uuid.uuid4().hex[:8]}",
                                         _raw_input("alice", source_plan=plan))
        assert result is None and "must prove who they are" in error

        # The real thing: alice's signed proactive agent (its runs act for her), and her signed start.
        unsigned_agent = alice_client.model_copy(update={"approver_key_file": None})
        await client_ops.start_proactive(client, unsigned_agent, interval_minutes=600)
        failed = await eventually(lambda: _describe(client, client_ops.proactive_workflow_id("alice")),
                                  lambda d: d.close_time is not None, timeout=60, what="the unsigned agent to fail")
        assert failed.status.name == "FAILED"
        await client_ops.start_proactive(client, alice_client, interval_minutes=600)
        status = await eventually(lambda: client_ops.proactive_status(client, "alice"),
                                  lambda s: s.cycle == 1 and s.last_cycle is not None and s.phase.value ==
                                  "WAITING-FOR-NEXT-CYCLE", timeout=120, what="a signed agent's first cycle")
        assert status.starter_verified and status.last_cycle.error is None
        assert status.last_cycle.routine_outcomes.succeeded > 0, "its routine run acted for alice (its parent vouched)"
        await client_ops.stop_proactive(client, "alice")
        for run in status.open_approvals:
            await client.get_workflow_handle(run.workflow_id).terminate("test over")
        wid = await client_ops.start_run(client, alice_client, auto_approve=True)
        done = await client_ops.result(client, wid)
        assert done.phase is Phase.COMPLETED and done.decision.kind.value == "auto_approved" and done.decision.signed


# ------------------------------------------------------------------------------------------------
# embedded mode: the worker's settings are the policy; one state folder, one server


def _script(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd="/", env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=timeout)


def _embedded_env(tmp: Path) -> dict[str, str]:
    from conftest import free_port

    return {"TEMPORAL_ADDRESS": f"localhost:{free_port()}", "TEMPORAL_UI_PORT": str(free_port()),
            "TEMPORAL_STATE_DIR": str(tmp / "state"), "EMBEDDED_TEMPORAL": "auto", "ENV_FILE": os.devnull,
            "DATA_DIR": str(copy_fleet(tmp / "data")), "REPORTS_DIR": str(tmp / "reports"),
            "TEMPORAL_TASK_QUEUE": f"emb-{uuid.uuid4().hex[:6]}", "USER_NAME": "ops.one"}


def _worker_pids(state: Path) -> set[int]:
    return {json.loads(p.read_text())["pid"] for p in state.glob("worker*.json")}


def test_a_script_s_settings_never_replace_the_running_worker(tmp_path: Path) -> None:
    """Before: any script with other APPROVERS, keys or LLM settings (even a read-only query) replaced the
    shared worker; a keyless query replaced a keyed one, then died on 'Unknown payload encoding'."""
    env = {**_embedded_env(tmp_path), "TEMPORAL_PAYLOAD_KEY": "the-workers-own-payload-key"}
    try:
        run = _script([str(ROOT / "run_monitoring_agent.py"), "--no-wait", "--json"], env)
        assert run.returncode == 0, run.stderr
        wid = json.loads(run.stdout)["workflow_id"]
        worker = _worker_pids(tmp_path / "state")
        assert len(worker) == 1
        identities(tmp_path / "keys", "someone.else")
        for extra, named in (({"APPROVERS": "someone.else", "APPROVER_KEYS_DIR": str(tmp_path / "keys")}, "APPROVERS"),
                             ({"LLM_MODEL": "openai/other"}, "LLM_MODEL"),
                             ({"TEMPORAL_PAYLOAD_KEY": ""}, "TEMPORAL_PAYLOAD_KEY")):
            query = _script([str(ROOT / "query_monitoring_agent.py"), "--list"], {**env, **extra})
            assert "Traceback" not in query.stderr and named in query.stderr, query.stderr
            assert "keeps its own" in query.stderr and _worker_pids(tmp_path / "state") == worker
        keyless = _script([str(ROOT / "query_monitoring_agent.py"), "--workflow-id", wid],
                          {**env, "TEMPORAL_PAYLOAD_KEY": ""})
        assert keyless.returncode == 2 and "Traceback" not in keyless.stderr, keyless.stderr
        assert "encrypted (TEMPORAL_PAYLOAD_KEY)" in keyless.stderr.strip().splitlines()[-1]
        nope = _script([str(ROOT / "query_monitoring_agent.py"), "--list"], {**env, "TEMPORAL_NAMESPACE": "nope"})
        assert nope.returncode == 2 and "Traceback" not in nope.stderr
        assert nope.stderr.strip().splitlines() == [nope.stderr.strip()] and "namespace 'nope' does not exist" in nope.stderr
        assert _worker_pids(tmp_path / "state") == worker, "a wrong namespace started or replaced nothing"
        status = _script([str(ROOT / "query_monitoring_agent.py"), "--workflow-id", wid, "--json"], env)
        assert status.returncode == 0, "the worker still serves the run it started"
    finally:
        _script(["-m", "maintenance_agent.embedded", "stop"], env)


def test_one_state_folder_runs_one_server(tmp_path: Path) -> None:
    """Before: a second address with the same state folder overwrote server.pid, quoted the old server's
    log in its error, and afterwards `status` said "not running" and `stop` could not stop it."""
    from conftest import free_port

    env = _embedded_env(tmp_path)
    try:
        first = _script(["-m", "maintenance_agent.embedded", "start"], env)
        assert first.returncode == 0, first.stderr
        record = (tmp_path / "state" / "server.pid").read_text()
        other = _script([str(ROOT / "query_monitoring_agent.py"), "--list"],
                        {**env, "TEMPORAL_ADDRESS": f"localhost:{free_port()}"})
        assert other.returncode == 2 and "Traceback" not in other.stderr
        assert other.stderr.strip().splitlines() == [other.stderr.strip()]
        assert f"already serves Temporal at {env['TEMPORAL_ADDRESS']}" in other.stderr
        assert (tmp_path / "state" / "server.pid").read_text() == record
        status = _script(["-m", "maintenance_agent.embedded", "status"], env)
        assert "server: running" in status.stderr and "worker: running" in status.stderr
    finally:
        stop = _script(["-m", "maintenance_agent.embedded", "stop"], env)
    assert "Temporal dev server" in stop.stderr
    from maintenance_agent.embedded import port_open

    assert not port_open("127.0.0.1", int(env["TEMPORAL_ADDRESS"].rpartition(":")[2]))


# ------------------------------------------------------------------------------------------------
# a restarted proactive agent


async def test_a_restarted_agent_keeps_every_report_and_proposes_nothing_twice(client: Client, tmp_path: Path) -> None:
    """Before: each incarnation counted cycles from 1 and overwrote cycle-00001, so older approval runs
    reported other actions, and actions awaiting approval were proposed again (in three runs at once)."""
    from maintenance_agent import artifacts
    from maintenance_agent.models.proactive import ProactivePhase

    settings = _settings(tmp_path)
    agent_id = client_ops.proactive_workflow_id(settings.user_name)

    def plan_of(artifact_dir: str) -> list:
        return artifacts.read(settings.reports_dir / artifact_dir, artifacts.PLAN, artifacts.PlanArtifact).actions

    async with running_worker(client, settings):
        await client_ops.start_proactive(client, settings, interval_minutes=600)
        first = await eventually(lambda: client_ops.proactive_status(client, settings.user_name),
                                 lambda s: s.cycle == 1 and s.phase is ProactivePhase.WAITING and s.open_approvals,
                                 timeout=120, what="the first incarnation's cycle 1")
        waiting = first.open_approvals[0]
        plan_file = settings.reports_dir / waiting.artifact_dir / artifacts.PLAN
        plan_before = plan_file.read_bytes()
        awaiting = {(a.equipment_id, a.action) for a in plan_of(waiting.artifact_dir) if not a.routine}
        await client_ops.stop_proactive(client, settings.user_name)
        await eventually(lambda: _describe(client, agent_id), lambda d: d.close_time is not None, what="the agent to stop")

        await client_ops.start_proactive(client, settings, interval_minutes=600)  # a new incarnation
        second = await eventually(lambda: client_ops.proactive_status(client, settings.user_name),
                                  lambda s: s.run_id != first.run_id and s.cycle == 2 and s.phase is ProactivePhase.WAITING,
                                  timeout=120, what="the second incarnation's first cycle (cycle 2)")
        assert second.last_cycle.artifact_dir != first.last_cycle.artifact_dir
        assert plan_file.read_bytes() == plan_before, "the earlier incarnation's plan is untouched"
        assert waiting.workflow_id in {o.workflow_id for o in second.open_approvals}, "it knows the open run"
        assert awaiting, "the open run awaits actions (else nothing below could fail)"
        for run in second.open_approvals:
            if run.workflow_id != waiting.workflow_id:
                proposed = {(a.equipment_id, a.action) for a in plan_of(run.artifact_dir) if not a.routine}
                assert proposed.isdisjoint(awaiting), f"proposed again: {sorted(proposed & awaiting)}"
        assert second.last_cycle.excluded_pending >= len(awaiting)

        await client_ops.decide(client, waiting.workflow_id, ApprovalRequest(approver="ops.lead"))
        done = await client_ops.result(client, waiting.workflow_id)
        reported = {(a["equipment_id"], a["action"]) for a in _report(done)["actions"]}
        assert reported == awaiting, "the old approval run reports exactly what it proposed"
        await client_ops.stop_proactive(client, settings.user_name)
        for run in second.open_approvals:
            if run.workflow_id != waiting.workflow_id:
                await client.get_workflow_handle(run.workflow_id).terminate("test over")


async def test_a_site_child_started_by_anyone_but_its_approved_run_executes_nothing(client: Client, tmp_path: Path) -> None:
    """A raw client (or someone else's workflow, even one named like ours) starting SiteExecutionWorkflow
    with a pending plan once committed 9 actions, a hardware replacement among them, as 'approved by bob'."""
    from temporalio.client import WorkflowFailureError
    from temporalio.worker import Worker

    from helpers.rogue import Impostor, RogueParent
    from maintenance_agent import artifacts

    settings = _settings(tmp_path)
    async with running_worker(client, settings):
        wid = await client_ops.start_run(client, settings)
        await eventually(lambda: client_ops.get_status(client, wid), lambda s: s.phase is Phase.PENDING_APPROVAL,
                         what="a pending plan")
        plan = artifacts.read(settings.reports_dir / wid, artifacts.PLAN, artifacts.PlanArtifact).actions
        site = max({a.site for a in plan}, key=lambda s: sum(a.site == s for a in plan))
        ledger_key = (await client.get_workflow_handle(wid).describe()).run_id
        payload = {"run_id": ledger_key, "workflow_id": wid, "artifact_dir": wid, "report_dir": wid, "site": site,
                   "action_ids": [a.id for a in plan if a.site == site], "as_of": "2026-11-01T12:00:00Z",
                   "actor": "mallory", "approved_by": "bob", "parent_workflow_id": wid, "max_failures": 1000}

        direct = await client.start_workflow("SiteExecutionWorkflow", payload, id=f"{wid}/site-forged",
                                             task_queue=settings.task_queue)
        with pytest.raises(WorkflowFailureError) as err:
            await asyncio.wait_for(direct.result(), timeout=120)
        assert "not started by a maintenance run" in str(err.value.cause)

        rogue_queue = f"rogue-{uuid.uuid4().hex[:6]}"
        async with Worker(client, task_queue=rogue_queue, workflows=[RogueParent, Impostor]):
            for parent in ("RogueParent", "InfrastructureMaintenanceWorkflow"):
                answer = await client.execute_workflow(
                    parent, args=[payload, settings.task_queue, f"{wid}/site-{parent}"],
                    id=f"rogue-{parent}-{uuid.uuid4().hex[:6]}", task_queue=rogue_queue)
                assert answer.startswith("refused:") and "not a running maintenance run of this task queue" in answer

        assert _mine(settings.data_dir, wid) == [], "nothing was executed"
        assert (await client_ops.get_status(client, wid)).phase is Phase.PENDING_APPROVAL
        await client.get_workflow_handle(wid).terminate("test over")


async def test_a_signed_start_copied_from_history_starts_nothing_else(client: Client, tmp_path: Path) -> None:
    """Before: alice's agent start proof, taken from workflow history, restarted her agent with another
    interval, callback and circuit breaker, as her, within the 5-minute window."""
    from maintenance_agent.models.proactive import ProactiveInput

    worker, alice_client, _sign, _keys = _signed_world(tmp_path)
    agent_id = client_ops.proactive_workflow_id("alice")
    async with running_worker(client, worker):
        await client_ops.start_proactive(client, alice_client, interval_minutes=600, auto_execute_routine=False)
        await eventually(lambda: client_ops.proactive_status(client, "alice"), lambda s: s.starter_verified,
                         timeout=60, what="alice's signed agent")
        history = await client.get_workflow_handle(agent_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        signed = ProactiveInput.model_validate_json(started.input.payloads[0].data)  # what anyone with access sees
        await client_ops.stop_proactive(client, "alice")
        await eventually(lambda: _describe(client, agent_id), lambda d: d.close_time is not None, what="stopped")
        for case, forged in (
                ("other settings", signed.model_copy(update={"interval_seconds": 60, "max_failures": 100_000,
                                                             "callback_url": "http://127.0.0.1:9/steal"})),
                ("the very same start", signed)):
            handle = await client.start_workflow("ProactiveMaintenanceWorkflow", forged, id=agent_id,
                                                 task_queue=worker.task_queue)
            described = await eventually(lambda: _describe(client, agent_id), lambda d: d.close_time is not None
                                         and d.run_id == handle.result_run_id, timeout=60, what=f"{case}: refused")
            assert described.status.name == "FAILED", case
            history = await handle.fetch_history()
            failure = history.events[-1].workflow_execution_failed_event_attributes.failure.message
            expected = "does not match 'alice'" if case == "other settings" else "already used once"
            assert expected in failure, (case, failure)


def test_reset_data_never_resets_a_fleet_the_worker_does_not_use(tmp_path: Path) -> None:
    """With a background worker started for another DATA_DIR, --reset-data reset the script's copy while
    the run worked on the worker's."""
    env = _embedded_env(tmp_path)
    other = copy_fleet(tmp_path / "other")
    health = other / "health_metrics.json"
    health.write_text(health.read_text().replace('"latency_ms": ', '"latency_ms": 1.0, "was": ', 1))
    before = health.read_bytes()
    try:
        first = _script(["-m", "maintenance_agent.embedded", "start"], env)
        assert first.returncode == 0, first.stderr
        reset = _script([str(ROOT / "run_monitoring_agent.py"), "--reset-data", "--auto-approve"],
                        {**env, "DATA_DIR": str(other)})
        assert reset.returncode == 2 and "Traceback" not in reset.stderr
        assert f"works on DATA_DIR={env['DATA_DIR']}, not {other}" in reset.stderr.strip().splitlines()[-1]
        assert health.read_bytes() == before, "the script's fleet was not reset"
        assert f"DATA_DIR ({env['DATA_DIR']})" in reset.stderr, "the note shows the worker's fleet"
    finally:
        _script(["-m", "maintenance_agent.embedded", "stop"], env)


async def test_a_forged_child_finished_signal_makes_the_agent_forget_nothing(client: Client, tmp_path: Path) -> None:
    from helpers.short_waits import short_waits
    from maintenance_agent.models.proactive import ChildOutcome, ProactivePhase
    from maintenance_agent.workflows import ProactiveMaintenanceWorkflow

    # Its own user (so its own agent id): an agent of the default user that an earlier test stopped as its
    # worker went away may still be open on that worker's queue, and would answer nothing.
    settings = _settings(tmp_path, user_name=f"forged{uuid.uuid4().hex[:6]}")
    user = settings.user_name
    # A run said to be finished is given 2 s (not 20) to close: the forged one is still open after any wait.
    async with running_worker(client, settings, make_activities=short_waits(settle_seconds=2)):
        await client_ops.start_proactive(client, settings, interval_minutes=600)
        first = await eventually(lambda: client_ops.proactive_status(client, user),
                                 lambda s: s.cycle == 1 and s.phase is ProactivePhase.WAITING and s.open_approvals,
                                 timeout=120, what="cycle 1 with a run awaiting approval")
        waiting = first.open_approvals[0].workflow_id
        await client.get_workflow_handle(client_ops.proactive_workflow_id(user)).signal(
            ProactiveMaintenanceWorkflow.child_finished, ChildOutcome(workflow_id=waiting, phase=Phase.REJECTED,
                                                                       summary="forged"))
        await client_ops.trigger_proactive(client, user)
        second = await eventually(lambda: client_ops.proactive_status(client, user),
                                  lambda s: s.cycle == 2 and s.phase is ProactivePhase.WAITING, timeout=120,
                                  what="cycle 2")
        assert waiting in {o.workflow_id for o in second.open_approvals}, "the agent asked the server, not the signal"
        assert second.last_cycle.approval_run is None and second.last_cycle.excluded_pending > 0, \
            "nothing awaiting approval was proposed again"
        await client_ops.decide(client, waiting, ApprovalRequest(approve=False, approver="ops.lead"))
        await eventually(lambda: client_ops.proactive_status(client, user), lambda s: not s.open_approvals,
                         what="the really finished run to be forgotten")
        await client_ops.stop_proactive(client, user)
