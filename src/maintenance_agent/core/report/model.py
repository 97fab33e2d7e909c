"""The schema of report.json: the typed report document and its rows. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from ...models.approval import Decision
from ...models.core import (
    DataError,
    DeviceAfter,
    FindingKind,
    FleetSummary,
    HealthState,
    Outcome,
    Problem,
    Risk,
    SiteHealth,
    SiteImpact,
)
from ...models.run import OutcomeCounts, Phase

REPORT_SCHEMA_VERSION = "2"
EXECUTORS = {
    "simulated": "simulated: the JSON fleet simulator changed the data files; no real device was touched",
}


class ReportFinding(BaseModel):
    equipment_id: str
    site: str
    kind: FindingKind
    severity: str
    confidence: float
    message: str
    metric: str
    value: float | str | None = None
    threshold: float | str | None = None
    projected_days_to_breach: float | None = None


class ReportAction(BaseModel):
    id: str
    equipment_id: str
    site: str
    action: str
    risk: Risk
    confidence: float
    routine: bool
    priority: int
    source: str
    reason: str
    approved: bool
    outcome: Outcome
    detail: str = ""
    observed: str = ""
    """What verification saw on the device (empty if the action did not run)."""
    changes: dict[str, list[Any]] = Field(default_factory=dict)
    after: DeviceAfter | None = None
    audit_seq: int | None = None
    llm_comment: str | None = None
    llm_priority: int | None = None
    """The advisor's suggested priority (1 = most urgent); `priority` stays the rules' own."""


class ReportHealth(BaseModel):
    devices: dict[str, int]
    held_back: int
    sites: list[SiteHealth]


class SiteChange(BaseModel):
    """One site before the run and after it (devices the run touched, judged again by the same rules)."""

    site: str
    devices: int
    before: SiteHealth
    after: SiteHealth
    touched: int = 0
    outcomes: dict[str, int] = Field(default_factory=dict)


class DeviceChange(BaseModel):
    """A device an action ran on: its status and health state before the run and after it."""

    equipment_id: str
    site: str
    status_before: str
    status_after: str
    health_before: HealthState
    health_after: HealthState
    actions: list[str] = Field(default_factory=list)
    """`<id> <action>: <outcome>` for each action that ran on it."""
    improved: bool = False


class Report(BaseModel):
    """The schema of `report.json` (documented in the README)."""

    schema_version: str = REPORT_SCHEMA_VERSION
    workflow_id: str
    run_id: str
    outcome: Phase
    verdict: str = ""
    """The run's own outcome in words, as the headline says it (e.g. `COMPLETED WITH PROBLEMS`)."""
    summary: str
    dry_run: bool
    executor: str = "simulated"
    """What carried the actions out (`simulated`: the JSON fleet simulator, no real device)."""
    started_by: str
    started_at: datetime
    finished_at: datetime
    analysis_time: datetime | None = None
    fleet: FleetSummary | None = None
    health: ReportHealth | None = None
    sites_before_after: list[SiteChange] = Field(default_factory=list)
    devices_after: list[DeviceChange] = Field(default_factory=list)
    findings: list[ReportFinding] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    """Doubts about the run's inputs that did not stop it (e.g. an analysis time years before the data)."""
    data_errors: list[DataError] = Field(default_factory=list)
    """Records the rules did not trust (e.g. stamped in the future), so nothing was planned from them."""
    problems: list[Problem] = Field(default_factory=list)
    site_impacts: list[SiteImpact] = Field(default_factory=list)
    decision: Decision | None = None
    actions: list[ReportAction] = Field(default_factory=list)
    outcomes: OutcomeCounts = Field(default_factory=OutcomeCounts)
    recommendations: list[str] = Field(default_factory=list)
    """Follow-ups computed from the fleet as the run left it: nothing for a problem the run fixed."""
    advisor: dict[str, Any] = Field(default_factory=lambda: {"used": False, "note": "rules only (no LLM configured)"})
    error: str | None = None
    halted: bool = False
    files: dict[str, str] = Field(default_factory=dict)
    """The other files beside report.json in the report folder (name -> what it holds)."""
