"""The DAPER workflow against a real Temporal dev server: approval paths, honesty of the report."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from conftest import THIRD_PARTY, audit_log, copy_fleet, identities, running_worker, settings_for, wait_phase
from maintenance_agent import client_ops
from maintenance_agent.datagen import generate_fleet, write_fleet
from maintenance_agent.identity import Signer
from maintenance_agent.models.approval import ApprovalRequest
from maintenance_agent.models.fleet import HEALTH_FILE, INVENTORY_FILE
from maintenance_agent.models.run import Phase
from maintenance_agent.store import STATE_DIRNAME


def _queue(tmp_path: Path) -> str:
    """One task queue per test: a worker owns its DATA_DIR, so each test's fleet has its own worker."""
    return f"wf-tests-{hashlib.sha256(str(tmp_path).encode()).hexdigest()[:12]}"


USERS = ("Admin.User", "alice", "bob", "second.person")


@pytest.fixture
async def worker(client: Client, tmp_path: Path):  # noqa: ANN201
    """A worker for this test's fleet, holding the public keys of USERS (decisions are signed where a
    run has APPROVERS or the four-eyes rule)."""
    identities(tmp_path / "keys", *USERS)
    settings = settings_for(tmp_path, task_queue=_queue(tmp_path), data_dir=tmp_path / "data",
                            approver_keys_dir=tmp_path / "keys")
    async with running_worker(client, settings):
        yield


def _settings(tmp_path: Path, data: Path | None = None, **overrides: Any):  # noqa: ANN202
    """The client's settings: USER_NAME (Admin.User) signs its starts with its own key."""
    assert data is None or data == tmp_path / "data", "the worker's DATA_DIR is tmp_path/data"
    return settings_for(tmp_path, task_queue=_queue(tmp_path), data_dir=data or copy_fleet(tmp_path / "data"),
                        approver_key_file=tmp_path / "private-keys" / "Admin.User.key", **overrides)


def _as(tmp_path: Path, user: str) -> Signer:
    return Signer.from_file(user, tmp_path / "private-keys" / f"{user}.key")


def _digests(data: Path) -> dict[str, str]:
    return {n: hashlib.sha256((data / n).read_bytes()).hexdigest() for n in (INVENTORY_FILE, HEALTH_FILE)}


def _inventory(data: Path) -> dict[str, dict]:
    return {d["id"]: d for d in json.loads((data / INVENTORY_FILE).read_text())["infrastructure_inventory"]}


def _report(result) -> dict:  # noqa: ANN001
    return json.loads(Path(result.report.json_path).read_text())


async def test_auto_approved_run_changes_exactly_what_the_report_says(client: Client, worker, tmp_path: Path) -> None:  # noqa: ANN001
    settings = _settings(tmp_path)
    before = _inventory(settings.data_dir)
    wid = await client_ops.start_run(client, settings, auto_approve=True)
    assert wid.startswith(f"infra-monitoring-agent-for-{settings.user_name}-")
    result = await client_ops.result(client, wid)
    assert result.phase is Phase.COMPLETED
    report = _report(result)
    actions = report["actions"]
    assert report["outcome"] == "COMPLETED" and report["decision"]["kind"] == "auto_approved"
    assert len(actions) == result.actions > 0 and all(a["approved"] for a in actions)

    # Counts in the summary line are the real ones.
    counts = {o: sum(1 for a in actions if a["outcome"] == o) for o in ("succeeded", "rolled_back", "stale", "failed")}
    assert report["outcomes"]["succeeded"] == counts["succeeded"] > 0
    assert f"{counts['succeeded']} succeeded" in report["summary"]
    if counts["rolled_back"]:
        assert f"{counts['rolled_back']} rolled back" in report["summary"] and "PROBLEMS" in report["summary"]

    # Every executed action is in the ledger exactly once, with the report's outcome.
    ledger = audit_log(settings.data_dir, wid)
    assert sorted(e["action_id"] for e in ledger) == sorted(a["id"] for a in actions)
    assert {e["action_id"]: e["outcome"] for e in ledger} == {a["id"]: a["outcome"] for a in actions}

    # The data files changed exactly for the devices whose actions succeeded, as the report says.
    after = _inventory(settings.data_dir)
    changed = {eid for eid in before if before[eid] != after[eid]}
    succeeded = [a for a in actions if a["outcome"] == "succeeded"]
    assert changed == {a["equipment_id"] for a in succeeded}
    for a in succeeded:
        for field, (old, new) in a["changes"].items():
            if field in before[a["equipment_id"]] and field not in ("alerts", "maintenance_schedule"):
                assert after[a["equipment_id"]][field] == new, (a["id"], field)
    for a in actions:
        if a["action"] == "renew_contract" and a["outcome"] == "succeeded":
            assert after[a["equipment_id"]]["maintenance_contract_expiry"] > before[a["equipment_id"]]["maintenance_contract_expiry"]
    rolled = [a for a in actions if a["outcome"] == "rolled_back"]
    for a in rolled:
        assert not any(x["equipment_id"] == a["equipment_id"] and x["outcome"] == "succeeded" and x["action"] == a["action"]
                       for x in actions)
    md = Path(result.report.markdown).read_text()
    assert report["summary"] in md and "## Findings" in md and "## Actions" in md


async def test_run_waits_for_approval_and_executes_exactly_the_approved_subset(client: Client, worker, tmp_path: Path) -> None:  # noqa: ANN001
    settings = _settings(tmp_path)
    wid = await client_ops.start_run(client, settings)
    status = await wait_phase(client, wid, Phase.PENDING_APPROVAL)
    assert status.pending_total == status.actions > 3 and status.approval_deadline is not None
    plan = await client_ops.get_plan(client, wid)
    assert plan.default_approval == "pending"
    chosen = [a.id for a in plan.actions if a.action.value == "renew_contract"][:2] + [plan.actions[0].id]
    outcome = await client_ops.decide(client, wid, ApprovalRequest(action_ids=chosen, approver="ops.lead", comment="tonight"))
    assert outcome.approved == 3 and outcome.decision.kind.value == "partially_approved"
    result = await client_ops.result(client, wid)
    assert result.phase is Phase.COMPLETED
    # Every phase is recorded with when it began, so a follower that polled too slowly still sees it.
    assert [m.phase for m in result.phases] == [
        Phase.INITIALIZING, Phase.MONITORING, Phase.ANALYZING, Phase.PLANNING, Phase.PENDING_APPROVAL,
        Phase.EXECUTING, Phase.REPORTING, Phase.COMPLETED]
    assert [m.at for m in result.phases] == sorted(m.at for m in result.phases)
    assert (await client_ops.get_status(client, wid)).phases == result.phases
    report = _report(result)
    assert sorted(e["action_id"] for e in audit_log(settings.data_dir, wid)) == sorted(chosen)
    by_id = {a["id"]: a for a in report["actions"]}
    assert all(by_id[i]["approved"] and by_id[i]["outcome"] != "skipped_unapproved" for i in chosen)
    others = [a for a in report["actions"] if a["id"] not in chosen]
    assert others and all(a["outcome"] == "skipped_unapproved" and not a["approved"] for a in others)
    assert report["decision"] == {**report["decision"], "by": "ops.lead", "comment": "tonight", "action_ids": sorted(chosen, key=lambda i: int(i[1:]))}
    view = await client_ops.get_plan(client, wid)
    assert {i: view.approval.get(i, view.default_approval) for i in chosen} == {i: "approved" for i in chosen}


async def test_rejection_changes_nothing(client: Client, worker, tmp_path: Path) -> None:  # noqa: ANN001
    settings = _settings(tmp_path)
    before = _digests(settings.data_dir)
    wid = await client_ops.start_run(client, settings)
    await wait_phase(client, wid, Phase.PENDING_APPROVAL)
    await client_ops.decide(client, wid, ApprovalRequest(approve=False, approver="ops.lead", comment="change freeze"))
    result = await client_ops.result(client, wid)
    assert result.phase is Phase.REJECTED
    assert _digests(settings.data_dir) == before and audit_log(settings.data_dir, wid) == []
    report = _report(result)
    assert report["summary"].startswith("REJECTED by ops.lead: 0 of")
    assert {a["outcome"] for a in report["actions"]} == {"skipped_unapproved"}


async def test_bad_decisions_are_refused_before_history(client: Client, worker, tmp_path: Path) -> None:  # noqa: ANN001
    settings = _settings(tmp_path)
    wid = await client_ops.start_run(client, settings, approvers=["alice", "bob"], require_distinct_approver=True)
    await wait_phase(client, wid, Phase.PENDING_APPROVAL)
    cases = [
        (ApprovalRequest(action_ids=["A1", "A99999"], approver="alice"), "unknown action id"),
        (ApprovalRequest(action_ids=[], approver="alice"), "no action ids"),
        (ApprovalRequest(action_ids=["A1", "A1"], approver="alice"), "listed twice"),
        (ApprovalRequest(approver="mallory"), "not in APPROVERS"),
        (ApprovalRequest(approver=settings.user_name), "not in APPROVERS"),
        (ApprovalRequest(approver="alice", comment="x" * 5000), "comment is longer"),
        (ApprovalRequest(approver="   "), "must not be empty"),
    ]
    for request, fragment in cases:
        signer = _as(tmp_path, request.approver) if request.approver in USERS else None
        with pytest.raises(client_ops.OperationError, match=fragment):
            await client_ops.decide(client, wid, request, signed_by=signer)
    with pytest.raises(client_ops.OperationError, match="must prove who they are"):
        await client_ops.decide(client, wid, ApprovalRequest(approver="alice"))  # a name alone is not enough
    history = await client.get_workflow_handle(wid).fetch_history()
    assert not [e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")]
    assert (await client_ops.get_status(client, wid)).phase is Phase.PENDING_APPROVAL
    await client_ops.decide(client, wid, ApprovalRequest(action_ids=["A1"], approver="alice"),
                            signed_by=_as(tmp_path, "alice"))
    with pytest.raises(client_ops.OperationError, match="already been decided"):
        await client_ops.decide(client, wid, ApprovalRequest(approver="bob"), signed_by=_as(tmp_path, "bob"))
    result = await client_ops.result(client, wid)
    assert result.phase is Phase.COMPLETED and result.decision and result.decision.by == "alice"
    assert result.decision.signed
    with pytest.raises(client_ops.OperationError):
        await client_ops.decide(client, wid, ApprovalRequest(approver="bob"))  # late: the run is closed
    with pytest.raises(client_ops.OperationError, match="already finished"):
        await client_ops.decide(client, wid, ApprovalRequest(approver="alice"))


async def test_four_eyes_rule_refuses_the_starter(client: Client, worker, tmp_path: Path) -> None:  # noqa: ANN001
    settings = _settings(tmp_path)
    wid = await client_ops.start_run(client, settings, require_distinct_approver=True)
    await wait_phase(client, wid, Phase.PENDING_APPROVAL)
    with pytest.raises(client_ops.OperationError, match="REQUIRE_DISTINCT_APPROVER"):
        await client_ops.decide(client, wid, ApprovalRequest(approver=settings.user_name),
                                signed_by=_as(tmp_path, settings.user_name))
    await client_ops.decide(client, wid, ApprovalRequest(approve=False, approver="second.person"),
                            signed_by=_as(tmp_path, "second.person"))
    assert (await client_ops.result(client, wid)).phase is Phase.REJECTED


async def test_dry_run_simulates_and_writes_nothing(client: Client, worker, tmp_path: Path) -> None:  # noqa: ANN001
    settings = _settings(tmp_path)
    before = _digests(settings.data_dir)
    wid = await client_ops.start_run(client, settings, auto_approve=True, dry_run=True)
    result = await client_ops.result(client, wid)
    assert result.phase is Phase.COMPLETED and result.outcomes.succeeded > 0
    assert _digests(settings.data_dir) == before
    assert not (settings.data_dir / STATE_DIRNAME / "health_state.json").exists()
    report = _report(result)
    assert report["dry_run"] and report["summary"].startswith("DRY RUN")
    assert audit_log(settings.data_dir, wid) == []


async def test_malformed_data_fails_the_run_with_a_clear_error(client: Client, worker, tmp_path: Path) -> None:  # noqa: ANN001
    settings = _settings(tmp_path)
    (settings.data_dir / HEALTH_FILE).write_text('{"health_metrics": [')
    wid = await client_ops.start_run(client, settings, auto_approve=True)
    result = await client_ops.result(client, wid)
    assert result.phase is Phase.FAILED
    assert "health_metrics.json" in (result.error or "") and "not valid JSON" in (result.error or "")
    assert result.report is not None and _report(result)["outcome"] == "FAILED"
    status = await client_ops.get_status(client, wid)
    assert status.phase is Phase.FAILED


async def test_healthy_fleet_needs_no_action(client: Client, worker, tmp_path: Path) -> None:  # noqa: ANN001
    data = copy_fleet(tmp_path / "data")
    inv = json.loads((data / INVENTORY_FILE).read_text())
    health = json.loads((data / HEALTH_FILE).read_text())
    keep = next(d for d in inv["infrastructure_inventory"]
                if d["status"] == "Operational" and not d["alerts"] and d["install_date"] > "2022-01-01"
                and d["maintenance_contract_expiry"] > "2027-06-01" and d["last_maintenance"] > "2025-06-01")
    inv["infrastructure_inventory"] = [keep]
    health["health_metrics"] = [h for h in health["health_metrics"] if h["equipment_id"] == keep["id"]]
    for r in health["health_metrics"][0]["recent_readings"]:
        r.update(cpu_utilization_percent=30, memory_utilization_percent=40, temperature_celsius=40,
                 packet_loss_percent=0.01, latency_ms=2.0)
    (data / INVENTORY_FILE).write_text(json.dumps(inv))
    (data / HEALTH_FILE).write_text(json.dumps(health))
    wid = await client_ops.start_run(client, _settings(tmp_path, data))
    result = await client_ops.result(client, wid)
    assert result.phase is Phase.NO_ACTION_NEEDED and result.actions == 0
    assert _report(result)["summary"].startswith("NO-ACTION-NEEDED")


@pytest.mark.parametrize("seed,devices", [(99, 300), (2024, 120)])
async def test_other_generated_fleets(client: Client, worker, tmp_path: Path, seed: int, devices: int) -> None:  # noqa: ANN001
    data = tmp_path / "data"
    write_fleet(generate_fleet(devices, seed), data)
    settings = _settings(tmp_path, data, max_failures=100_000)
    wid = await client_ops.start_run(client, settings, auto_approve=True, max_failures=100_000)
    result = await client_ops.result(client, wid)
    assert result.phase is Phase.COMPLETED
    assert result.outcomes.succeeded + result.outcomes.rolled_back + result.outcomes.stale == result.actions


@pytest.mark.skipif(not THIRD_PARTY.is_dir(), reason="third-party dataset not present")
async def test_third_party_fleet(client: Client, worker, tmp_path: Path) -> None:  # noqa: ANN001
    data = copy_fleet(tmp_path / "data", THIRD_PARTY)
    for p in data.iterdir():
        p.chmod(0o644)
    settings = _settings(tmp_path, data)
    wid = await client_ops.start_run(client, settings, auto_approve=True, max_failures=1000)
    result = await client_ops.result(client, wid)
    assert result.phase is Phase.COMPLETED and result.findings > 50 and result.actions > 50
    report = _report(result)
    assert {f["kind"] for f in report["findings"]} >= {"device_down", "contract_expired", "maintenance_overdue"}


async def test_action_ids_match_whatever_their_case(client: Client, worker, tmp_path: Path) -> None:  # noqa: ANN001
    settings = _settings(tmp_path)
    wid = await client_ops.start_run(client, settings)
    await wait_phase(client, wid, Phase.PENDING_APPROVAL)
    outcome = await client_ops.decide(client, wid, ApprovalRequest(action_ids=["a1", " A2 "], approver="ops.lead"))
    assert outcome.approved == 2 and outcome.decision.action_ids == ["A1", "A2"]
    result = await client_ops.result(client, wid)
    assert sorted(e["action_id"] for e in audit_log(settings.data_dir, wid)) == ["A1", "A2"]
    assert result.phase is Phase.COMPLETED


async def test_an_analysis_time_years_before_the_data_is_warned_about(client: Client, worker, tmp_path: Path) -> None:  # noqa: ANN001
    from datetime import UTC, datetime

    settings = _settings(tmp_path)
    wid = await client_ops.start_run(client, settings, dry_run=True, auto_approve=True,
                                     as_of=datetime(2022, 11, 1, 23, 59, 59, tzinfo=UTC))
    result = await client_ops.result(client, wid)
    assert len(result.warnings) == 1 and "4.0 years before the newest reading in the data (2026-11-01)" in result.warnings[0]
    report = _report(result)
    assert report["warnings"] == result.warnings
    assert f"- Warning: {result.warnings[0]}" in Path(result.report.markdown).read_text()
    plain = await client_ops.start_run(client, settings, dry_run=True, auto_approve=True)
    assert (await client_ops.result(client, plain)).warnings == [], "no --as-of, no doubt"
