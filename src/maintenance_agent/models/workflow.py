"""Inputs, outputs, queries and updates of the workflows and activities.

Every field added later gets a default so that histories recorded by older code still replay.
Payloads carry summaries and references (artifact directories), never the whole fleet.

Paths never travel: the worker owns its data directory (DATA_DIR) and reports directory
(REPORTS_DIR). An `artifact_dir` or `report_dir` is a run's folder *relative to the worker's
REPORTS_DIR*, built from a validated workflow id; the activities refuse any that leads outside it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .core import (
    ActionResult,
    DataError,
    Finding,
    FleetSummary,
    Outcome,
    PlannedAction,
    Problem,
    Risk,
    SiteHealth,
    SiteImpact,
)
from .rules import Rules

INLINE_LIMIT = 400
"""Up to this many findings/actions travel inline in payloads and queries; beyond it, artifacts."""
MIN_INTERVAL_MINUTES = 1 / 60
"""The proactive agent's shortest interval between cycles: one second (for tests; 15 min is the default)."""
MAX_INTERVAL_MINUTES = 7 * 24 * 60
"""And its longest: one week."""


class Phase(StrEnum):
    INITIALIZING = "INITIALIZING"
    MONITORING = "MONITORING-INFRASTRUCTURE"
    ANALYZING = "ANALYZING-TRENDS"
    PLANNING = "PLANNING-PREVENTIVE-MAINTENANCE"
    PENDING_APPROVAL = "PENDING-APPROVAL"
    EXECUTING = "EXECUTING-MAINTENANCE"
    REPORTING = "GENERATING-REPORT"
    COMPLETED = "COMPLETED"
    NO_ACTION_NEEDED = "NO-ACTION-NEEDED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_PHASES


TERMINAL_PHASES = frozenset({Phase.COMPLETED, Phase.NO_ACTION_NEEDED, Phase.REJECTED, Phase.EXPIRED, Phase.FAILED})


class DecisionKind(StrEnum):
    APPROVED = "approved"
    PARTIALLY_APPROVED = "partially_approved"
    REJECTED = "rejected"
    AUTO_APPROVED = "auto_approved"
    AUTO_APPROVED_ROUTINE = "auto_approved_routine"
    EXPIRED = "expired"


class Decision(BaseModel):
    """Who decided what, when: recorded for every plan that had actions."""

    kind: DecisionKind
    by: str
    at: datetime
    action_ids: list[str] = Field(default_factory=list)
    comment: str | None = None
    signed: bool = False
    """The decider proved who they are: signed with their key (where the worker requires it)."""


# ------------------------------------------------------------------------------------------------
# run input / output


class PlanRef(BaseModel):
    """A plan made elsewhere (a proactive cycle) that this run should take to approval and execution."""

    artifact_dir: str
    action_ids: list[str]
    as_of: datetime
    cycle: int | None = None


class ApprovalPolicy(BaseModel):
    """Who may approve: `APPROVERS` (empty: anyone) and the four-eyes rule; and how they prove it."""

    approvers: list[str] = Field(default_factory=list)
    require_distinct_approver: bool = False
    keys: dict[str, str] = Field(default_factory=dict)
    """user -> Ed25519 public key (OpenSSH text), from the worker's APPROVER_KEYS_DIR (public, not secret)."""
    require_proof: bool = False
    """Starts and decisions must be signed (the worker has APPROVERS or the four-eyes rule)."""


class Proof(BaseModel):
    """A signature over what someone does (see core/identity.py): made with their private key."""

    signed_at: datetime
    nonce: str = Field(min_length=16, max_length=64)
    signature: str = Field(max_length=200)


class MaintenanceInput(BaseModel):
    started_by: str
    start_proof: Proof | None = None
    """The starter's signature over this start (needed where the worker requires proof)."""
    as_of: datetime | None = None
    auto_approve: bool = False
    dry_run: bool = False
    approval_timeout_seconds: float = Field(12 * 3600, gt=0)
    approvers: list[str] = Field(default_factory=list)
    require_distinct_approver: bool = False
    max_failures: int = Field(10, ge=1)
    rules: Rules = Field(default_factory=Rules)
    advisor: bool = False
    source_plan: PlanRef | None = None
    parent_workflow_id: str | None = None


class RunOptions(BaseModel):
    """What a client may choose for one run (the rest comes from its settings). Unknown names are an
    error: `auto_aprove=True` must not quietly start a run that waits for approval."""

    model_config = ConfigDict(extra="forbid")

    auto_approve: bool = False
    dry_run: bool = False
    as_of: datetime | None = None
    rules: Rules | None = None
    max_failures: int | None = Field(None, ge=1)
    approval_timeout_seconds: float | None = Field(None, gt=0)
    approvers: list[str] | None = None
    require_distinct_approver: bool | None = None
    advisor: bool | None = None


class OutcomeCounts(BaseModel):
    succeeded: int = 0
    failed: int = 0
    rolled_back: int = 0
    stale: int = 0
    skipped_unapproved: int = 0
    not_run: int = 0

    def add(self, outcome: Outcome, n: int = 1) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + n)

    def merge(self, other: OutcomeCounts) -> None:
        for outcome in Outcome:
            self.add(outcome, getattr(other, outcome.value))

    @property
    def executed(self) -> int:
        return self.succeeded + self.failed + self.rolled_back + self.stale

    @property
    def problems(self) -> int:
        return self.failed + self.rolled_back


class ReportRef(BaseModel):
    directory: str
    markdown: str
    json_path: str
    html: str | None = None
    summary: str


class PhaseMark(BaseModel):
    """When the run entered a phase (workflow time), so a follower that polls less often than the
    run moves still shows every phase it went through."""

    phase: Phase
    at: datetime


class MaintenanceResult(BaseModel):
    workflow_id: str
    phase: Phase
    summary: str
    as_of: datetime | None = None
    findings: int = 0
    findings_by_severity: dict[str, int] = Field(default_factory=dict)
    data_errors: int = 0
    warnings: list[str] = Field(default_factory=list)
    """Records the rules could not trust (e.g. stamped in the future): listed in the report."""
    problems: int = 0
    started_by: str = ""
    started_at: datetime | None = None
    dry_run: bool = False
    actions: int = 0
    outcomes: OutcomeCounts = Field(default_factory=OutcomeCounts)
    decision: Decision | None = None
    report: ReportRef | None = None
    error: str | None = None
    phases: list[PhaseMark] = Field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# activities


class DetectInput(BaseModel):
    run_id: str
    artifact_dir: str
    rules: Rules = Field(default_factory=Rules)
    as_of: datetime | None = None
    record_health: bool = True


class DetectResult(BaseModel):
    as_of: datetime
    summary: FleetSummary
    findings_total: int
    by_severity: dict[str, int]
    by_kind: dict[str, int]
    findings: list[Finding] = Field(default_factory=list)
    """The most severe findings, at most INLINE_LIMIT of them (all of them for small fleets)."""
    sites: list[SiteHealth] = Field(default_factory=list)
    held_back: int = 0
    data_errors_total: int = 0
    warnings: list[str] = Field(default_factory=list)
    """Doubts about the run's inputs that did not stop it (e.g. an analysis time years before the data)."""
    """Records the rules could not trust (e.g. stamped in the future); the first ones below, all in the report."""
    data_errors: list[DataError] = Field(default_factory=list)


class AnalyzeInput(BaseModel):
    artifact_dir: str


class AnalyzeResult(BaseModel):
    problems_total: int
    problems: list[Problem] = Field(default_factory=list)
    impacts: list[SiteImpact] = Field(default_factory=list)


class PlanInput(BaseModel):
    artifact_dir: str
    as_of: datetime
    rules: Rules = Field(default_factory=Rules)
    exclude_plans: list[str] = Field(default_factory=list)
    """Artifact directories of plans whose non-routine actions await approval elsewhere: those are
    not proposed again (their routine actions ran, or failed and may be retried)."""
    exclude_plans_entirely: list[str] = Field(default_factory=list)
    """Plans whose every action awaits approval elsewhere (routine work was held or is off)."""


class PlanResult(BaseModel):
    """A plan's summary. Large plans (more than INLINE_LIMIT actions) carry their ids compactly
    (ranges, a site index and a routine mask) to stay far below Temporal's payload limit; read
    them through `ids()`, `routine()` and `by_site()`."""

    total: int
    action_ids: list[str] = Field(default_factory=list)
    """Every action id, in plan order (small plans)."""
    routine_ids: list[str] = Field(default_factory=list)
    ids_by_site: dict[str, list[str]] = Field(default_factory=dict)
    actions: list[PlannedAction] = Field(default_factory=list)
    """All actions when there are at most INLINE_LIMIT; otherwise empty (load from the artifact)."""
    by_site: dict[str, int] = Field(default_factory=dict)
    by_risk: dict[Risk, int] = Field(default_factory=dict)
    by_action: dict[str, int] = Field(default_factory=dict)
    excluded: int = 0
    compact: bool = False
    id_ranges: list[tuple[int, int]] = Field(default_factory=list)
    """Large plans: the ids A<n>, as inclusive ranges of n, in plan order."""
    site_index: list[int] = Field(default_factory=list)
    sites: list[str] = Field(default_factory=list)
    routine_mask: str = ""

    def ids(self) -> list[str]:
        if not self.compact:
            return self.action_ids
        return [f"A{n}" for start, end in self.id_ranges for n in range(start, end + 1)]

    def routine(self) -> list[str]:
        if not self.compact:
            return self.routine_ids
        return [i for i, flag in zip(self.ids(), self.routine_mask, strict=True) if flag == "1"]

    def by_site_ids(self) -> dict[str, list[str]]:
        if not self.compact:
            return self.ids_by_site
        out: dict[str, list[str]] = {}
        for action_id, site in zip(self.ids(), self.site_index, strict=True):
            out.setdefault(self.sites[site], []).append(action_id)
        return dict(sorted(out.items()))


class AdviseInput(BaseModel):
    artifact_dir: str
    rules: Rules = Field(default_factory=Rules)


class AdviseResult(BaseModel):
    used: bool
    note: str
    plan: PlanResult | None = None
    """The plan after the advisor's proposals were validated and appended (None: unchanged)."""
    added_ids: list[str] = Field(default_factory=list)
    """LLM-proposed actions: never routine, never auto-approved."""


class LoadPlanInput(BaseModel):
    artifact_dir: str
    action_ids: list[str] | None = None
    """Describe only these actions (None = the whole plan)."""


class LoadActionsInput(BaseModel):
    artifact_dir: str
    action_ids: list[str]


class ExecuteActionInput(BaseModel):
    run_id: str
    """The ledger key: the run (its first Temporal run id), or for runs recorded before, the workflow id."""
    workflow_id: str = ""
    max_failures: int | None = None
    """The run's circuit breaker, checked against the ledger before the action starts (None: not checked)."""
    artifact_dir: str
    report_dir: str
    action: PlannedAction
    as_of: datetime
    actor: str
    approved_by: str
    dry_run: bool = False
    rules: Rules = Field(default_factory=Rules)


class ReportInput(BaseModel):
    workflow_id: str
    run_id: str
    artifact_dir: str
    report_dir: str
    started_by: str
    started_at: datetime
    finished_at: datetime
    phase: Phase
    dry_run: bool = False
    decision: Decision | None = None
    approved_ids: list[str] | None = None
    """None = every planned action was approved."""
    selected_ids: list[str] | None = None
    """The actions this run was responsible for (None = the whole plan)."""
    error: str | None = None
    halted: bool = False
    advisor_note: str | None = None


class ParentCheckInput(BaseModel):
    workflow_id: str
    run_id: str
    started_by: str


class GiveUpInput(BaseModel):
    action: ExecuteActionInput
    detail: str


class UseProofInput(BaseModel):
    nonce: str
    signed_at: datetime
    used_by: str
    """The run that uses it (a retry of the same run finds its own use and goes on)."""


class GrantRequest(BaseModel):
    """What a site child is about to execute for its parent run (asked of the parent: does it grant it?)."""

    run_id: str
    artifact_dir: str
    action_ids: list[str]
    approved_by: str
    dry_run: bool = False


class GrantCheckInput(BaseModel):
    parent_workflow_id: str
    parent_run_id: str
    request: GrantRequest


class ClaimRunInput(BaseModel):
    report_dir: str
    run_id: str
    workflow_id: str


class RunProgressInput(BaseModel):
    run_id: str
    report_dir: str
    dry_run: bool = False


class CompactInput(BaseModel):
    """Compaction of the worker's own store (nothing to say: kept as a model for history's sake)."""


# ------------------------------------------------------------------------------------------------
# execution across child workflows (large plans)


class SiteBatchInput(BaseModel):
    run_id: str
    workflow_id: str = ""
    artifact_dir: str
    report_dir: str
    site: str
    action_ids: list[str]
    as_of: datetime
    actor: str
    approved_by: str
    dry_run: bool = False
    rules: Rules = Field(default_factory=Rules)
    parent_workflow_id: str
    max_failures: int = Field(10, ge=1)
    cursor: int = 0
    counts: OutcomeCounts = Field(default_factory=OutcomeCounts)
    halted: bool = False


class SiteBatchResult(BaseModel):
    site: str
    counts: OutcomeCounts
    halted: bool = False


# ------------------------------------------------------------------------------------------------
# queries and updates


class ApprovalRequest(BaseModel):
    """Approve all (`action_ids=None`) or some actions, or reject the plan."""

    approve: bool = True
    action_ids: list[str] | None = None
    approver: str
    comment: str | None = None
    proof: Proof | None = None
    """The approver's signature over this decision for this run (needed where the worker requires proof)."""

    @field_validator("action_ids")
    @classmethod
    def _canonical_ids(cls, ids: list[str] | None) -> list[str] | None:
        """Action ids are `A<n>`; `a1` and ` A1 ` mean A1 (before the decision is signed or checked)."""
        return None if ids is None else [i.strip().upper() if isinstance(i, str) else i for i in ids]


class ApprovalResult(BaseModel):
    decision: Decision
    approved: int
    skipped: int


class PendingAction(BaseModel):
    id: str
    equipment_id: str
    action: str
    risk: Risk
    confidence: float
    routine: bool


class RunStatus(BaseModel):
    workflow_id: str
    phase: Phase
    started_by: str
    started_at: datetime
    as_of: datetime | None = None
    dry_run: bool = False
    findings: int = 0
    findings_by_severity: dict[str, int] = Field(default_factory=dict)
    data_errors: int = 0
    warnings: list[str] = Field(default_factory=list)
    problems: int = 0
    actions: int = 0
    pending_actions: list[PendingAction] = Field(default_factory=list)
    pending_total: int = 0
    approval_deadline: datetime | None = None
    decision: Decision | None = None
    outcomes: OutcomeCounts = Field(default_factory=OutcomeCounts)
    executed: int = 0
    to_execute: int = 0
    report: ReportRef | None = None
    error: str | None = None
    parent_workflow_id: str | None = None
    phases: list[PhaseMark] = Field(default_factory=list)
    auto_approve_refused: str | None = None
    """Why auto-approve, asked for at start, was not allowed by the approval policy (then the run waits)."""


class FindingsView(BaseModel):
    total: int
    findings: list[Finding]
    truncated: bool = False
    artifact: str | None = None


class PlanView(BaseModel):
    total: int
    actions: list[PlannedAction]
    approval: dict[str, str] = Field(default_factory=dict)
    """action id -> pending | approved | not_approved (only ids that differ from the default)."""
    default_approval: str = "pending"
    truncated: bool = False
    artifact: str | None = None
    decision: Decision | None = None


class ResultsView(BaseModel):
    total: int
    results: list[ActionResult]
    outcomes: OutcomeCounts
    truncated: bool = False


# ------------------------------------------------------------------------------------------------
# the proactive agent


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


class ProactiveInput(BaseModel):
    started_by: str
    start_proof: Proof | None = None
    interval_seconds: float = Field(15 * 60, ge=MIN_INTERVAL_MINUTES * 60, le=MAX_INTERVAL_MINUTES * 60)
    auto_execute_routine: bool = True
    trigger_pending: bool = False
    """A trigger_now that arrived during the cycle after which the agent continued as new."""
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
    # carried across continue-as-new
    cycle: int = 0
    open_approvals: list[OpenApproval] = Field(default_factory=list)
    last_cycle: CycleSummary | None = None
    paused: bool = False
    continue_as_new_count: int = 0
    starter_verified: bool = False
    """The first run checked `start_proof`; trusted only in a continued run (one the agent made itself)."""
    cycle_failure_paged: bool = False
    """A failed cycle may have opened a PagerDuty incident that the next clean cycle resolves."""


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


class SetIntervalRequest(BaseModel):
    minutes: float
    """Checked by the agent's update validator, which answers with the allowed range."""


class ActionSelection(StrEnum):
    """Which actions of a cycle's plan a notification is about."""

    ALL = "all"
    ROUTINE = "routine"
    NON_ROUTINE = "non_routine"


class NotifyInput(BaseModel):
    """What the agent tells the webhook, as facts: the message (Slack Block Kit with a `text` fallback)
    is rendered by the worker (core/notify.py), which reads the actions from the cycle's plan."""

    url: str | None = None
    """The start input's callback; None = the worker's NOTIFY_WEBHOOK_URL (if any)."""
    kind: str
    agent_workflow_id: str
    cycle: int
    text: str = ""
    """Messages recorded before the facts below: their prose, sent as it is."""
    workflow_ids: list[str] = Field(default_factory=list)
    devices: list[str] = Field(default_factory=list)
    actions: list[PendingAction] = Field(default_factory=list)
    approve_workflow_id: str | None = None
    timeout_seconds: float = 10
    started_by: str = ""
    cycle_dir: str | None = None
    """The cycle's folder, relative to REPORTS_DIR (unique per incarnation of the agent)."""
    selection: ActionSelection | None = None
    """Which of the cycle plan's actions the message is about (None: none, e.g. a failed cycle)."""
    as_of: datetime | None = None
    findings: int = 0
    findings_by_severity: dict[str, int] = Field(default_factory=dict)
    planned: int = 0
    excluded_pending: int = 0
    routine_run: str | None = None
    routine_outcomes: OutcomeCounts | None = None
    proposed: int = 0
    error: str | None = None


class NotifyResult(BaseModel):
    delivered: bool
    status_code: int | None = None
    destination: str = ""
    """Scheme and host only: webhook URLs often carry tokens in their path."""


class DeviceAtRisk(BaseModel):
    equipment_id: str
    site: str
    risk: Risk
    """The highest risk of its actions."""
    priority: int
    """The most urgent of its actions (1 = most urgent)."""
    actions: list[str]


class ActionDigest(BaseModel):
    """A notification's view of the actions it is about: counts, and the top few (bounded)."""

    total: int = 0
    high_risk: int = 0
    by_risk: dict[str, int] = Field(default_factory=dict)
    by_action: dict[str, int] = Field(default_factory=dict)
    high_risk_by_action: dict[str, int] = Field(default_factory=dict)
    sites: int = 0
    by_site: dict[str, int] = Field(default_factory=dict)
    """The sites with the most actions, most first (at most a few; `sites` counts them all)."""
    devices: int = 0
    devices_at_risk: list[DeviceAtRisk] = Field(default_factory=list)
    """The devices most at risk (highest risk, then most urgent, then most actions), at most a few."""


class PageEvent(StrEnum):
    TRIGGER = "trigger"
    RESOLVE = "resolve"


class PageInput(BaseModel):
    """One PagerDuty Events v2 event, as facts (the worker adds its routing key and renders the text).
    `dedup_key` is the run's workflow id: a trigger and its resolve name the same incident."""

    event_action: PageEvent
    dedup_key: str
    kind: str
    """approval_needed, run_finished or cycle_failed."""
    workflow_id: str
    agent_workflow_id: str | None = None
    started_by: str = ""
    cycle: int | None = None
    phase: Phase | None = None
    actions: int = 0
    high_risk: int = 0
    by_site: dict[str, int] = Field(default_factory=dict)
    by_action: dict[str, int] = Field(default_factory=dict)
    outcomes: OutcomeCounts | None = None
    error: str | None = None
    report_dir: str | None = None
    """The run's folder relative to REPORTS_DIR (its report is there once it has finished)."""
    timeout_seconds: float = 10


class LastCycleInput(BaseModel):
    agent_workflow_id: str


class OpenChildrenInput(BaseModel):
    prefix: str


class StillOpenInput(BaseModel):
    workflow_ids: list[str]
    said_finished: list[str] = Field(default_factory=list)
    """Runs that signalled they are over: they close a moment after, so they are given a short while."""
    settle_seconds: float = 20.0


# ------------------------------------------------------------------------------------------------
# reading a run's artifacts from the worker (a client may be on another machine)

READABLE_ARTIFACTS = ("plan.json", "detection.json", "report.json", "report.md")
"""The files of a run folder a client may read through the worker; nothing else (no ledger, no keys)."""
ARTIFACT_PAGE_BYTES = 400_000
"""One page of an artifact: under Temporal's 512 KB payload warning, far under its 2 MB limit."""


class ReadArtifactInput(BaseModel):
    run_dir: str
    """The run's folder relative to the worker's REPORTS_DIR (refused if it leads outside it)."""
    name: str
    """One of READABLE_ARTIFACTS."""
    offset: int = Field(default=0, ge=0)
    """Byte offset of this page (the previous page's `next_offset`)."""
    limit: int = Field(default=ARTIFACT_PAGE_BYTES, gt=0, le=ARTIFACT_PAGE_BYTES)


class ArtifactPage(BaseModel):
    """One page of an artifact's UTF-8 text, cut at a character boundary."""

    text: str
    offset: int
    next_offset: int
    size: int
    """The file's size in bytes when this page was read (a file replaced between pages is noticed)."""

    @property
    def done(self) -> bool:
        return self.next_offset >= self.size
