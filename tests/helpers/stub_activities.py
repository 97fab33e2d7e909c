"""Stub activities for workflow tests: canned models registered under the real activities' names (as
temporalio/samples-python does), so a workflow rule runs against the real Temporal server in a second,
with no fleet, store or ledger. Each stub records what the workflow asked of it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from maintenance_agent.core.actions import CATALOG
from maintenance_agent.models.activity_io import (
    AdviseInput,
    AdviseResult,
    AnalyzeInput,
    AnalyzeResult,
    CompactInput,
    DetectInput,
    DetectResult,
    LoadActionsInput,
    PlanInput,
    PlanResult,
    ReportInput,
)
from maintenance_agent.models.approval import ApprovalPolicy, GrantCheckInput
from maintenance_agent.models.core import ActionName, ActionResult, FleetSummary, Outcome, PlannedAction
from maintenance_agent.models.execution import ClaimRunInput, ExecuteActionInput, GiveUpInput, RunProgressInput
from maintenance_agent.models.run import MaintenanceInput, MaintenanceResult, OutcomeCounts, ReportRef
from maintenance_agent.worker import workflow_runner
from maintenance_agent.workflows import InfrastructureMaintenanceWorkflow, SiteExecutionWorkflow

AS_OF = datetime(2026, 11, 1, 12, tzinfo=UTC)
DEADLINE = 30.0
"""Seconds: every wait in a stub or a test gives up after this (a broken rule fails, never hangs)."""
RAISE = "raise"
"""A stub outcome: the action raises a non-retryable error (the workflow records that it gave up)."""


def planned(n: int, site: str, name: ActionName) -> PlannedAction:
    spec = CATALOG[name]
    return PlannedAction(id=f"A{n}", equipment_id=f"EQ-{n:04d}", site=site, action=name, risk=spec.base_risk,
                         confidence=0.9, routine=False, disruptive=spec.disruptive, priority=2, reason="stub plan",
                         expected_effect=spec.expected_effect, rollback=spec.rollback)


def plan(*sites: tuple[str, list[ActionName]]) -> list[PlannedAction]:
    """Actions A1, A2, … in site order, as the rules number them."""
    actions: list[PlannedAction] = []
    for site, names in sites:
        for name in names:
            actions.append(planned(len(actions) + 1, site, name))
    return actions


RESTART, TUNE = ActionName.RESTART_DEVICE, ActionName.OPTIMIZE_CONFIGURATION  # disruptive, not disruptive


async def wait_in_activity(event: asyncio.Event, what: str) -> None:
    """Wait (heartbeating, within DEADLINE) for `event` inside a stub activity."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not event.is_set():
        if loop.time() > deadline:
            raise ApplicationError(f"stub gave up waiting for {what}", non_retryable=True)
        activity.heartbeat()
        try:
            await asyncio.wait_for(event.wait(), 1.0)
        except TimeoutError:
            pass


def _result(action: PlannedAction, outcome: Outcome, detail: str = "", *, breaker: bool = False) -> ActionResult:
    return ActionResult(action_id=action.id, equipment_id=action.equipment_id, site=action.site,
                        action=action.action, outcome=outcome, detail=detail, circuit_breaker=breaker)


class StubActivities:
    """The activities of one run, canned. `outcomes` says how each action ends (default: succeeded);
    `hold` runs inside execute_action before it answers. With `ledger`, execute_action refuses to start
    once the run's failures reach its `max_failures`, as the real one does against the ledger (the
    fleet-wide breaker that stops every site child)."""

    def __init__(self, actions: list[PlannedAction], *, in_children: bool = False, ledger: bool = True,
                 outcomes: dict[str, Outcome | str] | None = None,
                 hold: Callable[[PlannedAction], Awaitable[None]] | None = None,
                 advisor_error: str | None = None) -> None:
        self.actions = {a.id: a for a in actions}
        self.in_children = in_children
        self.ledger = ledger
        self.outcomes = outcomes or {}
        self.hold = hold
        self.advisor_error = advisor_error
        self.started: list[str] = []
        """Every action execute_action was called for, in call order."""
        self.refused: list[str] = []
        """Actions the ledger's breaker refused to start."""
        self.problems = 0
        """Failed or rolled-back actions of the run, as the ledger counts them."""
        self.loaded: list[str] = []
        """Sites whose child loaded its actions (site-children mode only)."""
        self.gave_up: list[str] = []
        self.advise_calls = 0
        self.reports: list[ReportInput] = []

    def activities(self) -> list[Callable[..., Any]]:
        return [self.approval_policy, self.claim_run, self.listing_attributes, self.detect_fleet,
                self.analyze_findings, self.plan_maintenance, self.advise, self.check_site_grant, self.load_actions,
                self.execute_action, self.record_give_up, self.run_progress, self.compact_store, self.write_report]

    @activity.defn(name="approval_policy")
    async def approval_policy(self) -> ApprovalPolicy:
        return ApprovalPolicy()

    @activity.defn(name="claim_run")
    async def claim_run(self, inp: ClaimRunInput) -> None:
        return None

    @activity.defn(name="listing_attributes")
    async def listing_attributes(self) -> list[str]:
        return []

    @activity.defn(name="detect_fleet")
    async def detect_fleet(self, inp: DetectInput) -> DetectResult:
        sites = {a.site for a in self.actions.values()}
        return DetectResult(as_of=AS_OF, summary=FleetSummary(devices=len(self.actions), sites=len(sites), readings=0),
                            findings_total=len(self.actions), by_severity={"warning": len(self.actions)}, by_kind={})

    @activity.defn(name="analyze_findings")
    async def analyze_findings(self, inp: AnalyzeInput) -> AnalyzeResult:
        return AnalyzeResult(problems_total=len(self.actions))

    @activity.defn(name="plan_maintenance")
    async def plan_maintenance(self, inp: PlanInput) -> PlanResult:
        by_site: dict[str, list[str]] = {}
        for a in self.actions.values():
            by_site.setdefault(a.site, []).append(a.id)
        # Without the actions themselves the run cannot execute inline: each site child loads its own.
        return PlanResult(total=len(self.actions), action_ids=list(self.actions), ids_by_site=by_site,
                          actions=[] if self.in_children else list(self.actions.values()),
                          by_site={site: len(ids) for site, ids in by_site.items()})

    @activity.defn(name="advise")
    async def advise(self, inp: AdviseInput) -> AdviseResult:
        self.advise_calls += 1
        if self.advisor_error:
            raise ApplicationError(self.advisor_error, type="AdvisorUnavailable", non_retryable=True)
        return AdviseResult(used=True, note="advisor: nothing to add")

    @activity.defn(name="check_site_grant")
    async def check_site_grant(self, inp: GrantCheckInput) -> str | None:
        return None

    @activity.defn(name="load_actions")
    async def load_actions(self, inp: LoadActionsInput) -> list[PlannedAction]:
        actions = [self.actions[i] for i in inp.action_ids]
        self.loaded.append(actions[0].site)
        return actions

    @activity.defn(name="execute_action")
    async def execute_action(self, inp: ExecuteActionInput) -> ActionResult:
        action = inp.action
        self.started.append(action.id)
        if self.ledger and inp.max_failures is not None and self.problems >= inp.max_failures:
            self.refused.append(action.id)
            return _result(action, Outcome.NOT_RUN, f"the ledger counts {self.problems} failure(s)", breaker=True)
        if self.hold is not None:
            await self.hold(action)
        outcome = self.outcomes.get(action.id, Outcome.SUCCEEDED)
        if outcome == RAISE:
            raise ApplicationError(f"{action.equipment_id} unreachable", type="DeviceUnreachable", non_retryable=True)
        assert isinstance(outcome, Outcome)
        if outcome in (Outcome.FAILED, Outcome.ROLLED_BACK):
            self.problems += 1
        return _result(action, outcome, "stub")

    @activity.defn(name="record_give_up")
    async def record_give_up(self, inp: GiveUpInput) -> ActionResult:
        self.gave_up.append(inp.action.action.id)
        self.problems += 1
        return _result(inp.action.action, Outcome.FAILED, inp.detail)

    @activity.defn(name="run_progress")
    async def run_progress(self, inp: RunProgressInput) -> OutcomeCounts:
        return OutcomeCounts()

    @activity.defn(name="compact_store")
    async def compact_store(self, inp: CompactInput) -> int:
        return 0

    @activity.defn(name="write_report")
    async def write_report(self, inp: ReportInput) -> ReportRef:
        self.reports.append(inp)
        return ReportRef(directory=inp.report_dir, markdown="report.md", json_path="report.json",
                         summary=f"{inp.phase.value} (stub report)")


@asynccontextmanager
async def stub_worker(client: Client, stubs: StubActivities) -> AsyncIterator[str]:
    """A worker on a task queue of its own with the real workflows and the stub activities."""
    queue = f"rules-{uuid.uuid4().hex[:12]}"
    async with Worker(client, task_queue=queue, workflows=[InfrastructureMaintenanceWorkflow, SiteExecutionWorkflow],
                      activities=stubs.activities(), workflow_runner=workflow_runner()):
        yield queue


async def start_run(client: Client, queue: str, **options: Any) -> WorkflowHandle[Any, MaintenanceResult]:
    return await client.start_workflow(
        InfrastructureMaintenanceWorkflow.run,
        MaintenanceInput(started_by="rules.tester", auto_approve=True, **options),
        id=f"rules-{uuid.uuid4().hex[:12]}", task_queue=queue, execution_timeout=timedelta(seconds=120))


async def finished(handle: WorkflowHandle[Any, MaintenanceResult]) -> MaintenanceResult:
    return await asyncio.wait_for(handle.result(), DEADLINE)


def outcomes(**counts: int) -> OutcomeCounts:
    return OutcomeCounts(**counts)
