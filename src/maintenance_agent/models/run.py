"""One maintenance run: its phases, input, options, outcome counts and result.

Every field added later gets a default so that histories recorded by older code still replay.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from .approval import Decision, Proof
from .core import Outcome
from .rules import Rules

INLINE_LIMIT = 400
"""Up to this many findings/actions travel inline in payloads and queries; beyond it, artifacts."""
EXECUTED_OUTCOMES = (Outcome.SUCCEEDED, Outcome.FAILED, Outcome.ROLLED_BACK, Outcome.STALE)
"""The outcomes of actions that ran."""


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


class PlanRef(BaseModel):
    """A plan made elsewhere (a proactive cycle) that this run should take to approval and execution."""

    artifact_dir: str
    action_ids: list[str]
    as_of: datetime
    cycle: int | None = None


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


class PolicyOptions(BaseModel):
    """What a client may choose for a run's policy, a run's or the proactive agent's alike (the rest
    comes from its settings). Unknown names are an error: a typo must not be quietly dropped."""

    model_config = ConfigDict(extra="forbid")

    rules: Rules | None = None
    max_failures: int | None = Field(None, ge=1)
    approval_timeout_seconds: float | None = Field(None, gt=0)
    approvers: list[str] | None = None
    require_distinct_approver: bool | None = None


class RunOptions(PolicyOptions):
    """What a client may choose for one run: `auto_aprove=True` must not quietly start a run that
    waits for approval. Only a person's run may ask the advisor: the agent's cycles are rules only."""

    auto_approve: bool = False
    dry_run: bool = False
    as_of: datetime | None = None
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

    def merge_max(self, other: OutcomeCounts) -> OutcomeCounts:
        """A copy with each outcome of an action that ran at least as high as in `other` (the ledger's
        live count of site children still running, which may be ahead of those that finished)."""
        merged = self.model_copy()
        for outcome in EXECUTED_OUTCOMES:
            setattr(merged, outcome.value, max(getattr(self, outcome.value), getattr(other, outcome.value)))
        return merged

    @property
    def executed(self) -> int:
        return self.succeeded + self.failed + self.rolled_back + self.stale

    @property
    def finished(self) -> int:
        """Actions that are done with: those that ran, and those the circuit breaker left unstarted."""
        return self.executed + self.not_run

    @property
    def total(self) -> int:
        """Every action counted, whatever its outcome."""
        return sum(getattr(self, outcome.value) for outcome in Outcome)

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
