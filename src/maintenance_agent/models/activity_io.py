"""Inputs and outputs of the pipeline's activities: detect, analyze, plan, advise, report, and
reading a run's artifacts.

Payloads carry summaries and references (artifact directories), never the whole fleet. Paths never
travel: an `artifact_dir` or `report_dir` is a run's folder *relative to the worker's REPORTS_DIR*,
built from a validated workflow id; the activities refuse any that leads outside it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from .alerts import HeldAlert
from .approval import Decision
from .core import DataError, Finding, FleetSummary, PlannedAction, Problem, Risk, SiteHealth, SiteImpact
from .rules import Rules
from .run import Phase


class DetectInput(BaseModel):
    run_id: str
    artifact_dir: str
    rules: Rules = Field(default_factory=Rules)
    as_of: datetime | None = None
    record_health: bool = True
    alerts: list[HeldAlert] = Field(default_factory=list)
    """The firing Alertmanager alerts the proactive agent holds: judged with the inventory's own."""


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


class CompactInput(BaseModel):
    """Compaction of the worker's own store (nothing to say: kept as a model for history's sake)."""


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
