"""The run artifacts' shapes: the full detection, analysis, advice and plan of a run (stored by artifacts.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from .core import (
    DataError,
    DeviceFacts,
    DeviceHealth,
    Finding,
    FleetSummary,
    PlannedAction,
    Problem,
    SiteHealth,
    SiteImpact,
)
from .fleet import Alert


class TelemetrySource(BaseModel):
    """Where a detection's readings came from: what was asked, over which time (for the files: the
    health file and the span of its readings; no query)."""

    source: str
    url: str
    """Without credentials."""
    start: datetime
    end: datetime
    step_seconds: float
    queries: int
    series: int
    unmatched_series: int = 0
    devices_without_telemetry: list[str] = Field(default_factory=list)


class DetectionArtifact(BaseModel):
    as_of: datetime
    summary: FleetSummary
    findings: list[Finding]
    facts: dict[str, DeviceFacts]
    device_health: list[DeviceHealth]
    sites: list[SiteHealth]
    firmware_baseline: dict[str, str] = Field(default_factory=dict)
    data_errors: list[DataError] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    source: TelemetrySource | None = None
    """None: recorded before the source was (the JSON files)."""


class AnalysisArtifact(BaseModel):
    problems: list[Problem]
    impacts: list[SiteImpact]
    llm: dict[str, object] = Field(default_factory=dict)


class AdviceArtifact(BaseModel):
    """What the advisor contributed to a run (for the report): never needed for a decision."""

    used: bool
    model: str | None = None
    executive_summary: str | None = None
    parts: list[str] = Field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0
    attempts: int = 0
    digest_tokens: int = 0
    tokenizer: str = ""
    token_budget: int = 0
    problems_included: int = 0
    problems_omitted: int = 0
    actions_included: int = 0
    actions_omitted: int = 0
    proposals_accepted: list[str] = Field(default_factory=list)
    proposals_rejected: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class PlanArtifact(BaseModel):
    actions: list[PlannedAction]
    excluded: int = 0
    llm: dict[str, object] = Field(default_factory=dict)


class LiveAlerts(BaseModel):
    """The firing Alertmanager alerts a run's detection judged, per device (`alerts.json`, written only
    when there are some): the after-state of an action on the device keeps them, since only
    Alertmanager says when an alert resolves."""

    by_device: dict[str, list[Alert]] = Field(default_factory=dict)


class HealthStatesRead(BaseModel):
    """The health states a run's detection started from, kept in the run's folder by its first
    attempt: every retry reads these, whatever other runs recorded meanwhile."""

    run_id: str
    devices: dict[str, str]
