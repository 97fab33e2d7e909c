"""What the workflows tell people, as facts: Slack notifications and PagerDuty events. The text is
rendered by the worker (core/slack.py, core/pagerduty.py)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from .core import Risk
from .run import OutcomeCounts, Phase
from .views import PendingAction


class ActionSelection(StrEnum):
    """Which actions of a cycle's plan a notification is about."""

    ALL = "all"
    ROUTINE = "routine"
    NON_ROUTINE = "non_routine"


class NotifyInput(BaseModel):
    """What the agent tells the webhook, as facts: the message (Slack Block Kit with a `text` fallback)
    is rendered by the worker (core/slack.py), which reads the actions from the cycle's plan."""

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
