"""Listing runs by their own outcome, and finding them in Temporal (Web UI, `temporal workflow list`).

A run publishes its outcome and counts in its memo and, where the namespace has them registered,
search attributes; a run recorded before that is asked itself."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from conftest import copy_fleet, eventually, running_worker, settings_for, tool, with_doomed_repairs
from maintenance_agent import client_ops
from maintenance_agent.connection import connect, data_converter
from maintenance_agent.core.listing import (
    counts_text,
    indexed_phase,
    listed_outcome,
    listed_sites,
    missing_attributes,
    outcome_label,
)
from maintenance_agent.core.status_text import run_details
from maintenance_agent.models.approval import ApprovalRequest, Decision, DecisionKind
from maintenance_agent.models.listing import MAX_LISTED_SITES, RunCard
from maintenance_agent.models.run import MaintenanceInput, MaintenanceResult, OutcomeCounts, Phase
from maintenance_agent.models.views import RunStatus

# ------------------------------------------------------------------------------------------------
# pure


@pytest.mark.parametrize("phase,counts,label", [
    (Phase.COMPLETED, {"succeeded": 3}, "COMPLETED"),
    (Phase.COMPLETED, {"succeeded": 3, "stale": 1, "skipped_unapproved": 2}, "COMPLETED"),
    (Phase.COMPLETED, {"succeeded": 3, "rolled_back": 1}, "COMPLETED WITH PROBLEMS"),
    (Phase.COMPLETED, {"not_run": 1}, "COMPLETED WITH PROBLEMS"),
    (Phase.REJECTED, {}, "REJECTED"),
    (Phase.EXPIRED, {}, "EXPIRED"),
    (Phase.PENDING_APPROVAL, {}, "PENDING-APPROVAL"),
    (Phase.EXECUTING, {"failed": 2}, "EXECUTING-MAINTENANCE"),
])
def test_outcome_label_says_what_the_summary_line_says(phase: Phase, counts: dict, label: str) -> None:
    assert outcome_label(phase, OutcomeCounts(**counts)) == label


def _card(phase: Phase, outcome: str | None = None) -> RunCard:
    return RunCard(outcome=outcome or phase.value, phase=phase)


@pytest.mark.parametrize("status,card,shown", [
    ("RUNNING", _card(Phase.PENDING_APPROVAL), "PENDING-APPROVAL"),
    ("RUNNING", None, None),  # recorded before cards: ask the run
    ("COMPLETED", _card(Phase.REJECTED), "REJECTED"),
    ("COMPLETED", _card(Phase.COMPLETED, "COMPLETED WITH PROBLEMS"), "COMPLETED WITH PROBLEMS"),
    ("COMPLETED", _card(Phase.REPORTING), None),  # not its last word: read the result
    ("COMPLETED", None, None),
    ("FAILED", _card(Phase.FAILED), "FAILED"),
    ("FAILED", _card(Phase.EXECUTING), "FAILED"),
    ("FAILED", None, "FAILED"),
    ("TERMINATED", _card(Phase.PENDING_APPROVAL), "TERMINATED"),  # Temporal ended it: the card is stale
    ("CANCELED", None, "CANCELED"),
    ("TIMED_OUT", _card(Phase.EXECUTING), "TIMED_OUT"),
])
def test_listed_outcome(status: str, card: RunCard | None, shown: str | None) -> None:
    assert listed_outcome(status, card) == shown


@pytest.mark.parametrize("outcome,actions,counts,text", [
    ("PENDING-APPROVAL", 21, {}, "21 awaiting approval"),
    ("COMPLETED WITH PROBLEMS", 58, {"succeeded": 56, "rolled_back": 2}, "58 planned; 56 succeeded, 2 rolled back"),
    ("REJECTED", 21, {}, "21 planned, none executed"),
    ("EXECUTING-MAINTENANCE", 21, {}, "21 planned"),
    ("NO-ACTION-NEEDED", 0, {}, "none"),
    ("UNKNOWN", None, None, ""),
])
def test_counts_text(outcome: str, actions: int | None, counts: dict | None, text: str) -> None:
    assert counts_text(outcome, actions, OutcomeCounts(**counts) if counts is not None else None) == text


def test_missing_attributes_names_the_absent_and_the_mistyped() -> None:
    keyword, keyword_list, text = 2, 7, 1
    assert missing_attributes({"MaintenanceOutcome": keyword, "MaintenanceSites": keyword_list,
                               "MaintenanceStarter": keyword}) == []
    assert missing_attributes({"MaintenanceOutcome": text, "MaintenanceSites": keyword_list}) == [
        "MaintenanceOutcome=Keyword", "MaintenanceStarter=Keyword"]


@pytest.mark.parametrize("phase,indexed", [(Phase.MONITORING, False), (Phase.PLANNING, False), (Phase.REPORTING, False),
                                           (Phase.PENDING_APPROVAL, True), (Phase.EXECUTING, True),
                                           (Phase.REJECTED, True), (Phase.FAILED, True)])
def test_outcome_attribute_is_set_where_a_run_stays(phase: Phase, indexed: bool) -> None:
    assert indexed_phase(phase) is indexed


def test_listed_sites_are_bounded_and_sorted() -> None:
    sites = [f"DC-{i:03d}" for i in range(100, 0, -1)]
    assert listed_sites(sites) == sorted(sites)[:MAX_LISTED_SITES]


def test_a_finished_runs_details_lead_with_its_summary_line() -> None:
    decision = Decision(kind=DecisionKind.REJECTED, by="alice", at=datetime(2026, 12, 1, 11, 22, tzinfo=UTC),
                        comment="not today")
    text = run_details(Phase.REJECTED, "REJECTED by alice: 0 of 21 planned action(s) executed", actions=21,
                       decision=decision)
    first, *rest = text.split("\n\n")
    assert first == "**REJECTED by alice: 0 of 21 planned action(s) executed**"
    assert "decision: rejected by alice at 2026-12-01 11:22:00 UTC — not today" in rest


# ------------------------------------------------------------------------------------------------
# against the real server


async def _listed(client: Client, expected: dict[str, str]) -> dict:
    """The listing once it shows these outcomes (visibility is eventually consistent: a run that just
    closed may still be listed as running, with the card it had)."""
    async def listing() -> dict:
        return {r.workflow_id: r for r in await client_ops.list_runs(client, 50)}

    return await eventually(listing, lambda runs: all(i in runs and runs[i].outcome == o for i, o in expected.items()),
                            what=f"the listing to show {expected}")


def _temporal_list(address: str, query: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool("temporal"), "workflow", "list", "--address", address, "--query", query],
                          capture_output=True, text=True, timeout=60)


async def test_runs_are_listed_and_found_by_their_own_outcome(client: Client, temporal_address: str,
                                                              tmp_path: Path) -> None:
    user = f"lister{uuid.uuid4().hex[:6]}"
    settings = settings_for(tmp_path, data_dir=with_doomed_repairs(copy_fleet(tmp_path / "data")), user_name=user)
    async with running_worker(client, settings):
        rejected = await client_ops.start_run(client, settings, dry_run=True)
        await eventually(lambda: client_ops.get_status(client, rejected), lambda s: s.phase is Phase.PENDING_APPROVAL)
        await client_ops.decide(client, rejected, ApprovalRequest(approve=False, approver="alice", comment="not today"))
        await client_ops.result(client, rejected)
        problems = await client_ops.start_run(client, settings, auto_approve=True)
        assert (await client_ops.result(client, problems)).outcomes.rolled_back == 2
        pending = await client_ops.start_run(client, settings)
        await eventually(lambda: client_ops.get_status(client, pending), lambda s: s.phase is Phase.PENDING_APPROVAL)

        runs = await _listed(client, {rejected: "REJECTED", problems: "COMPLETED WITH PROBLEMS",
                                      pending: "PENDING-APPROVAL"})
        assert runs[rejected].outcome == "REJECTED" and runs[rejected].status == "COMPLETED"
        assert runs[rejected].dry_run and runs[rejected].actions == 48 and runs[rejected].started_by == user
        assert runs[problems].outcome == "COMPLETED WITH PROBLEMS"
        assert runs[problems].outcomes and runs[problems].outcomes.rolled_back == 2
        assert runs[problems].outcomes.succeeded == 46
        assert runs[pending].outcome == "PENDING-APPROVAL" and runs[pending].status == "RUNNING"

        # The Web UI: what the run is at start, where it ended (from the run's own metadata query).
        desc = await client.get_workflow_handle(rejected).describe()
        assert await desc.static_summary() == f"maintenance run for {user} (dry run)"
        details = await desc.static_details()
        assert f"**Started by**: {user}" in details and "**Dry run**: yes" in details and "**Devices**" in details
        metadata = await client.get_workflow_handle(rejected).query("__temporal_workflow_metadata")
        assert "REJECTED by alice" in metadata.current_details
        assert "decision: rejected by alice at " in metadata.current_details

        # Filtering with the real temporal CLI: by outcome, starter and site.
        found = await eventually(
            lambda: asyncio.to_thread(_temporal_list, temporal_address,
                                      f'MaintenanceOutcome="REJECTED" AND MaintenanceStarter="{user}"'),
            lambda p: rejected in p.stdout, what="the rejected run in the visibility store")
        assert found.returncode == 0 and problems not in found.stdout and pending not in found.stdout
        by_site = _temporal_list(temporal_address, f'MaintenanceSites="DC-WEST1" AND MaintenanceStarter="{user}"')
        assert rejected in by_site.stdout and problems in by_site.stdout
        waiting = _temporal_list(temporal_address, f'MaintenanceOutcome="PENDING-APPROVAL" AND MaintenanceStarter="{user}"')
        assert pending in waiting.stdout and rejected not in waiting.stdout
        await client_ops.decide(client, pending, ApprovalRequest(approve=False, approver="alice"))


async def test_without_registered_attributes_runs_still_finish_and_are_listed(tmp_path: Path) -> None:
    """On a cluster where nobody registered the attributes, upserting them would fail every workflow
    task of the run; the run checks first and only publishes its memo card."""
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=tool("temporal"), data_converter=data_converter(),
                                                ip="127.0.0.1", dev_server_log_level="error")
    async with env:
        settings = settings_for(tmp_path, data_dir=with_doomed_repairs(copy_fleet(tmp_path / "data")))
        async with running_worker(env.client, settings):
            wid = await client_ops.start_run(env.client, settings, auto_approve=True)
            result = await client_ops.result(env.client, wid)
            assert result.phase is Phase.COMPLETED and result.outcomes.rolled_back == 2
            runs = await _listed(env.client, {wid: "COMPLETED WITH PROBLEMS"})
        assert [(r.workflow_id, r.outcome, r.status) for r in runs.values()] == [(wid, "COMPLETED WITH PROBLEMS", "COMPLETED")]
        address = env.client.service_client.config.target_host
        refused = _temporal_list(address, 'MaintenanceOutcome="COMPLETED WITH PROBLEMS"')
        assert refused.returncode != 0 and "MaintenanceOutcome" in refused.stderr


async def test_encrypted_runs_keep_their_sites_out_of_the_clear(client: Client, temporal_address: str,
                                                               tmp_path: Path) -> None:
    """Search attributes are stored unencrypted: with TEMPORAL_PAYLOAD_KEY a run sets its outcome and
    starter but not its sites; a client without the key lists it, as UNKNOWN, without failing."""
    settings = settings_for(tmp_path, data_dir=with_doomed_repairs(copy_fleet(tmp_path / "data")),
                            temporal_address=temporal_address,
                            payload_key="a-payload-key-for-listing-tests")
    secure = await connect(settings)
    async with running_worker(secure, settings):
        wid = await client_ops.start_run(secure, settings, auto_approve=True)
        await client_ops.result(secure, wid)
    raw = (await client.get_workflow_handle(wid).fetch_history()).to_json()
    assert '"MaintenanceOutcome"' in raw and '"MaintenanceSites"' not in raw
    await _listed(secure, {wid: "COMPLETED WITH PROBLEMS"})
    await _listed(client, {wid: "UNKNOWN"})


@workflow.defn(name="InfrastructureMaintenanceWorkflow")
class RecordedBeforeCards:
    """A run as older code ran it: no memo card. A dry run ends REJECTED at once; others wait."""

    def __init__(self) -> None:
        self._started_by = ""

    @workflow.run
    async def run(self, inp: MaintenanceInput) -> MaintenanceResult:
        self._started_by = inp.started_by
        if not inp.dry_run:
            await workflow.wait_condition(lambda: False)
        return MaintenanceResult(workflow_id=workflow.info().workflow_id, phase=Phase.REJECTED, summary="REJECTED by old",
                                 actions=4, started_by=inp.started_by, dry_run=True)

    @workflow.query
    def status(self) -> RunStatus:
        return RunStatus(workflow_id=workflow.info().workflow_id, phase=Phase.PENDING_APPROVAL,
                         started_by=self._started_by, started_at=workflow.info().start_time, actions=4)


async def test_runs_recorded_before_cards_are_asked_themselves(client: Client) -> None:
    queue = f"old-runs-{uuid.uuid4().hex[:8]}"
    ids = [f"old-run-{kind}-{uuid.uuid4().hex[:8]}" for kind in ("rejected", "pending", "terminated")]
    async with Worker(client, task_queue=queue, workflows=[RecordedBeforeCards],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        for wid, dry_run in zip(ids, (True, False, False), strict=True):
            await client.start_workflow(RecordedBeforeCards.run, MaintenanceInput(started_by="old", dry_run=dry_run),
                                        id=wid, task_queue=queue)
        await client.get_workflow_handle(ids[0]).result()
        await eventually(lambda: client.get_workflow_handle(ids[1]).query(RecordedBeforeCards.status),
                         lambda s: s.phase is Phase.PENDING_APPROVAL)
        await client.get_workflow_handle(ids[2]).terminate("test")
        runs = await _listed(client, {ids[0]: "REJECTED", ids[1]: "PENDING-APPROVAL", ids[2]: "TERMINATED"})
        await client.get_workflow_handle(ids[1]).terminate("test")
    assert runs[ids[0]].outcome == "REJECTED" and runs[ids[0]].actions == 4 and runs[ids[0]].dry_run
    assert runs[ids[1]].outcome == "PENDING-APPROVAL" and runs[ids[1]].started_by == "old"
    assert runs[ids[2]].outcome == "TERMINATED"
