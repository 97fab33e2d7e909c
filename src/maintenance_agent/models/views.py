"""What a maintenance run's queries answer: its status, findings, plan and results."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from .approval import Decision
from .core import ActionResult, Finding, PlannedAction, Risk
from .run import OutcomeCounts, Phase, PhaseMark, ReportRef


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
