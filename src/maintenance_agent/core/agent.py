"""The proactive agent's rules, pure: when its next cycle is due, which intervals it accepts, when it
continues as new; and for one cycle, where its files go, what its plan leaves out, which actions run
as routine and which wait for a person, the input of the runs it starts, and what it tells people
about the cycle. The workflow runs the steps and records what these decide."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..models.notify import ActionSelection, NotifyInput
from ..models.proactive import MAX_INTERVAL_MINUTES, MIN_INTERVAL_MINUTES, CycleSummary, OpenApproval, ProactiveInput
from ..models.run import MaintenanceInput, PlanRef


@dataclass(frozen=True)
class NextCycle:
    at: datetime
    wait_seconds: float
    """From now until `at`; at or below zero the cycle is due now."""

    @property
    def due(self) -> bool:
        return self.wait_seconds <= 0


def next_cycle(last_end: datetime | None, now: datetime, interval_seconds: float) -> NextCycle:
    """The next cycle starts an interval after the last one ended (or after `now`, before any did)."""
    at = (last_end or now) + timedelta(seconds=interval_seconds)
    return NextCycle(at, (at - now).total_seconds())


def interval_allowed(minutes: float) -> bool:
    return MIN_INTERVAL_MINUTES <= minutes <= MAX_INTERVAL_MINUTES


def continues_as_new(cycles_this_run: int, *, limit: int | None, suggested: bool, stopping: bool) -> bool:
    """After a cycle: continue as new after `limit` cycles in one run (tests), or when the SDK suggests
    it (history size); never while the agent is stopping (it completes instead)."""
    return ((limit is not None and cycles_this_run >= limit) or suggested) and not stopping


def cycle_folder(agent_workflow_id: str, first_run_id: str | None, cycle: int) -> str:
    """A cycle's folder (relative to REPORTS_DIR). Each incarnation of the agent (a start, not a
    continue-as-new; `first_run_id`) has its own, so it never overwrites the plans that an earlier
    incarnation's approval runs still use. Agents recorded before (None) share one."""
    if first_run_id is None:
        return f"{agent_workflow_id}/cycle-{cycle:05d}"
    return f"{agent_workflow_id}/{first_run_id}/cycle-{cycle:05d}"


def excluded_plans(open_approvals: Sequence[OpenApproval]) -> tuple[list[str], list[str]]:
    """The plans of approval runs still open, which a cycle does not propose again: the non-routine
    actions of those whose routine actions ran, and every action of those that hold their routine
    actions too."""
    return ([o.artifact_dir for o in open_approvals if not o.includes_routine],
            [o.artifact_dir for o in open_approvals if o.includes_routine])


@dataclass(frozen=True)
class CycleSplit:
    routine: list[str]
    """Executed at once, pre-approved by the agent's starter."""
    others: list[str]
    """Proposed for a person's approval, in plan order."""
    includes_routine: bool
    """Whether routine actions are among `others` (auto-execution off, or held by the policy)."""


def asks_routine_hold(auto_execute: bool, routine_ids: Sequence[str]) -> bool:
    """Whether the approval policy is asked about a cycle's routine actions: only where the agent would
    run some on its own, pre-approved by its starter (who must be allowed to approve them)."""
    return auto_execute and bool(routine_ids)


def split_cycle_plan(ids: Sequence[str], routine_ids: list[str], *, auto_execute: bool, held: str | None) -> CycleSplit:
    """Routine actions run on their own only where the agent auto-executes them and the approval policy
    lets its starter approve them (`held` says why not); everything else waits for a person."""
    routine = routine_ids if auto_execute and not held else []
    chosen = set(routine)
    return CycleSplit(routine=routine, others=[i for i in ids if i not in chosen],
                      includes_routine=len(routine) < len(routine_ids))


def cycle_run_input(agent: ProactiveInput, *, agent_workflow_id: str, cycle_dir: str, ids: list[str],
                    as_of: datetime, cycle: int, auto_approve: bool) -> MaintenanceInput:
    """The input of a run the agent starts for some of a cycle's plan: for the agent's starter, under
    their approval policy, circuit breaker and rules. An approval run tells the agent when it ends."""
    return MaintenanceInput(
        started_by=agent.started_by, auto_approve=auto_approve,
        approval_timeout_seconds=agent.approval_timeout_seconds, approvers=agent.approvers,
        require_distinct_approver=agent.require_distinct_approver, max_failures=agent.max_failures,
        rules=agent.rules, advisor=agent.advisor,
        source_plan=PlanRef(artifact_dir=cycle_dir, action_ids=ids, as_of=as_of, cycle=cycle),
        parent_workflow_id=None if auto_approve else agent_workflow_id,
    )


def cycle_notice(summary: CycleSummary, agent: ProactiveInput, agent_workflow_id: str) -> NotifyInput | None:
    """What the agent tells people about a finished cycle: that actions await approval, or that its
    routine repairs had problems; nothing after a quiet cycle. The message is about the actions
    awaiting approval (the routine ones too when they were held), else the routine ones that ran;
    the worker reads them from the cycle's plan."""
    c = summary.routine_outcomes
    if not summary.approval_run and not c.problems:
        return None
    held = bool(summary.routine_held) or not agent.auto_execute_routine
    if summary.approval_run:
        selection = ActionSelection.ALL if held else ActionSelection.NON_ROUTINE
    else:
        selection = ActionSelection.ROUTINE
    return NotifyInput(
        kind="approval_needed" if summary.approval_run else "routine_problems", url=agent.callback_url,
        agent_workflow_id=agent_workflow_id, cycle=summary.cycle, started_by=agent.started_by,
        cycle_dir=summary.artifact_dir, selection=selection, as_of=summary.as_of, findings=summary.findings,
        findings_by_severity=summary.findings_by_severity, planned=summary.planned,
        excluded_pending=summary.excluded_pending, routine_run=summary.routine_run,
        routine_outcomes=c if summary.routine_run else None, proposed=summary.proposed_for_approval,
        workflow_ids=[w for w in (agent_workflow_id, summary.routine_run, summary.approval_run) if w],
        approve_workflow_id=summary.approval_run, timeout_seconds=agent.notify_timeout_seconds)


def cycle_failure_notice(summary: CycleSummary, agent: ProactiveInput, agent_workflow_id: str) -> NotifyInput:
    """What the agent tells people about a cycle that failed: what it saw before, and the error."""
    return NotifyInput(kind="cycle_failed", agent_workflow_id=agent_workflow_id, cycle=summary.cycle,
                       url=agent.callback_url, workflow_ids=[agent_workflow_id], started_by=agent.started_by,
                       cycle_dir=summary.artifact_dir, as_of=summary.as_of, findings=summary.findings,
                       findings_by_severity=summary.findings_by_severity, error=summary.error,
                       timeout_seconds=agent.notify_timeout_seconds)
