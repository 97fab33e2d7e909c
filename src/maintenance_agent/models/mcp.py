"""What the MCP tools return (structured output). Lists are capped so answers stay small for a chat."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from .approval import Decision
from .core import Finding, HealthState, SiteHealth
from .listing import RunSummary
from .proactive import ProactiveStatus
from .run import OutcomeCounts, Phase
from .views import RunStatus

MAX_ITEMS = 200


class RunStarted(BaseModel):
    workflow_id: str
    phase: Phase
    next_step: str


class ProactiveStarted(BaseModel):
    workflow_id: str
    already_running: bool
    status: ProactiveStatus
    next_step: str


class StatusOut(RunStatus):
    """The run's status (pending actions capped at MAX_ITEMS), its summary line and what to do next."""

    summary: str | None = None
    next_step: str


class RunList(BaseModel):
    runs: list[RunSummary] = Field(description="Newest first: each run's full id, its own outcome and counts.")


class FindingsOut(BaseModel):
    workflow_id: str
    total: int
    shown: int
    findings: list[Finding]
    truncated: bool = False
    note: str | None = None


class PlanActionOut(BaseModel):
    id: str
    equipment_id: str
    site: str
    action: str
    risk: str
    confidence: float
    routine: bool
    priority: int
    reason: str
    expected_effect: str
    rollback: str
    source: str
    approval: str = Field(description="pending | approved | not_approved")


class PlanOut(BaseModel):
    workflow_id: str
    phase: Phase
    total: int
    shown: int
    actions: list[PlanActionOut]
    by_risk: dict[str, int] = Field(default_factory=dict)
    decision: Decision | None = None
    truncated: bool = False
    next_step: str


class DecisionOut(BaseModel):
    workflow_id: str
    decision: Decision
    approved: int
    not_approved: int
    next_step: str


class ReportActionOut(BaseModel):
    id: str
    equipment_id: str
    action: str
    risk: str
    outcome: str
    detail: str = ""
    observed: str = Field("", description="What verification saw on the device.")
    changes: str = Field("", description="The fields the action changed, old → new.")


class ReportOut(BaseModel):
    workflow_id: str
    outcome: Phase
    verdict: str = Field("", description="The outcome as the summary says it, e.g. COMPLETED WITH PROBLEMS.")
    executor: str = Field("simulated", description="What carried the actions out (simulated: no real device).")
    summary: str
    analysis_time: datetime | None = None
    decision: Decision | None = None
    outcomes: OutcomeCounts
    findings: int
    actions: list[ReportActionOut]
    actions_shown: int
    recommendations: list[str]
    advisor: dict[str, Any] = Field(default_factory=dict)
    markdown_path: str
    json_path: str
    html_path: str | None = None
    resource_uri: str


class DeviceIssue(BaseModel):
    equipment_id: str
    site: str
    state: HealthState
    findings: list[str]


class FleetHealthOut(BaseModel):
    analysis_time: datetime
    scope: str
    devices: int
    by_state: dict[str, int]
    sites: list[SiteHealth]
    findings_by_kind: dict[str, int]
    critical_devices: list[DeviceIssue]
    stressed_devices: int
    note: str = "read straight from the data files; nothing was changed and no workflow ran"
