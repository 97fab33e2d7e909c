"""The proactive agent: its input, the state it carries across continue-as-new, its cycles and status."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from .alerts import HeldAlert
from .approval import Proof
from .rules import Rules
from .run import OutcomeCounts, Phase

MIN_INTERVAL_MINUTES = 1 / 60
"""The proactive agent's shortest interval between cycles: one second (for tests; 15 min is the default)."""


MAX_INTERVAL_MINUTES = 7 * 24 * 60
"""And its longest: one week."""


class ProactivePhase(StrEnum):
    INITIALIZING = "INITIALIZING"
    MONITORING = "MONITORING-INFRASTRUCTURE"
    ANALYZING = "ANALYZING-TRENDS"
    PLANNING = "PLANNING-PREVENTIVE-MAINTENANCE"
    EXECUTING = "EXECUTING-MAINTENANCE"
    NOTIFYING = "NOTIFYING"
    WAITING = "WAITING-FOR-NEXT-CYCLE"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"


class OpenApproval(BaseModel):
    """A cycle's non-routine actions, waiting for a decision in their own run (a child workflow)."""

    workflow_id: str
    cycle: int
    artifact_dir: str
    actions: int
    started_at: datetime
    includes_routine: bool = True
    """Whether the cycle's routine actions went to this run too (held by the policy, or auto-execution
    off). True for runs recorded before this was tracked: nothing of theirs is proposed again."""


class ChildOutcome(BaseModel):
    """Sent by a run the proactive agent started, when it finishes."""

    workflow_id: str
    phase: Phase
    summary: str


class CycleSummary(BaseModel):
    cycle: int
    started_at: datetime
    finished_at: datetime
    artifact_dir: str | None = None
    """The cycle's folder (detection, analysis, plan), relative to the worker's REPORTS_DIR."""
    as_of: datetime | None = None
    findings: int = 0
    findings_by_severity: dict[str, int] = Field(default_factory=dict)
    planned: int = 0
    excluded_pending: int = 0
    routine_executed: int = 0
    routine_outcomes: OutcomeCounts = Field(default_factory=OutcomeCounts)
    routine_run: str | None = None
    proposed_for_approval: int = 0
    approval_run: str | None = None
    routine_held: str | None = None
    """Why routine actions went to the approval run instead of executing (the approval policy)."""
    notified: bool = False
    notification_error: str | None = None
    error: str | None = None
    summary: str = ""
    alerts_held: int = 0
    """Firing Alertmanager alerts its detection judged."""
    triggered_by: list[str] = Field(default_factory=list)
    """The new alerts that started this cycle at once (`<alertname> (<device labels>)`), if any."""


class ProactiveState(BaseModel):
    """What the agent carries from one run into the next when it continues as new, in one model.

    `ProactiveInput` extends it, so the input on the wire is as flat as it always was (the recorded
    histories replay): a fresh agent starts from these defaults, and the next run's input is the start
    input with the state replaced (`ProactiveInput.carrying`)."""

    cycle: int = 0
    interval_seconds: float = Field(15 * 60, ge=MIN_INTERVAL_MINUTES * 60, le=MAX_INTERVAL_MINUTES * 60)
    paused: bool = False
    trigger_pending: bool = False
    """A trigger_now that arrived during the cycle after which the agent continued as new."""
    open_approvals: list[OpenApproval] = Field(default_factory=list)
    last_cycle: CycleSummary | None = None
    continue_as_new_count: int = 0
    starter_verified: bool = False
    """The first run checked `start_proof`; trusted only in a continued run (one the agent made itself)."""
    cycle_failure_paged: bool = False
    """A failed cycle may have opened a PagerDuty incident that the next clean cycle resolves."""
    alerts: list[HeldAlert] = Field(default_factory=list)
    """The firing Alertmanager alerts the receiver passed on, until they resolve (`core.alerts.merge`)."""
    alert_triggers: list[str] = Field(default_factory=list)
    """New alerts since the last cycle started: the reason of the next one."""

    def open_ids(self) -> list[str]:
        return [o.workflow_id for o in self.open_approvals]

    def track(self, approval: OpenApproval, *, replace: bool = True) -> None:
        """Track an open approval run: in the place of the one with its id, if any (unless not `replace`)."""
        ids = self.open_ids()
        if approval.workflow_id not in ids:
            self.open_approvals.append(approval)
        elif replace:
            self.open_approvals[ids.index(approval.workflow_id)] = approval

    def forget(self, workflow_id: str) -> None:
        self.open_approvals = [o for o in self.open_approvals if o.workflow_id != workflow_id]


class ProactiveInput(ProactiveState):
    """The agent's settings, and the state it carries (at its defaults when a person starts it)."""

    started_by: str
    start_proof: Proof | None = None
    auto_execute_routine: bool = True
    callback_url: str | None = None
    approval_timeout_seconds: float = Field(12 * 3600, gt=0)
    approvers: list[str] = Field(default_factory=list)
    require_distinct_approver: bool = False
    max_failures: int = Field(10, ge=1)
    rules: Rules = Field(default_factory=Rules)
    advisor: bool = False
    notify_timeout_seconds: float = Field(10, gt=0, le=120)
    """Per attempt; Temporal retries a few times within a one-minute budget, then gives up."""
    continue_as_new_after_cycles: int | None = Field(None, ge=1)
    """Continue as new after this many cycles in one run (tests); otherwise when the SDK suggests it."""

    def state(self) -> ProactiveState:
        """A copy of the state this input carries, each open approval run once (as the agent tracks them)."""
        state = ProactiveState.model_validate(self.model_dump(include=set(ProactiveState.model_fields)))
        state.open_approvals = list({o.workflow_id: o for o in state.open_approvals}.values())
        return state

    def carrying(self, state: ProactiveState) -> ProactiveInput:
        """The input of the agent's next run: this one, with `state` carried over."""
        return self.model_copy(update={name: getattr(state, name) for name in ProactiveState.model_fields})


class ProactiveStatus(BaseModel):
    workflow_id: str
    phase: ProactivePhase
    started_by: str
    cycle: int
    interval_seconds: float
    auto_execute_routine: bool
    paused: bool
    stop_requested: bool
    next_cycle_at: datetime | None = None
    last_cycle: CycleSummary | None = None
    open_approvals: list[OpenApproval] = Field(default_factory=list)
    run_id: str = ""
    continued_as_new: int = 0
    starter_verified: bool = False
    """Its starter proved who they are (signed start), so its routine and approval runs may act for them."""
    alerts: list[HeldAlert] = Field(default_factory=list)
    """The firing Alertmanager alerts it holds (the next cycle judges them)."""


class SetIntervalRequest(BaseModel):
    minutes: float
    """Checked by the agent's update validator, which answers with the allowed range."""


class LastCycleInput(BaseModel):
    agent_workflow_id: str


class OpenChildrenInput(BaseModel):
    prefix: str


class StillOpenInput(BaseModel):
    workflow_ids: list[str]
    said_finished: list[str] = Field(default_factory=list)
    """Runs that signalled they are over: they close a moment after, so they are given a short while."""
    settle_seconds: float = 20.0
