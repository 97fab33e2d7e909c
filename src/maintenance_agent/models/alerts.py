"""Alertmanager's webhook payload (version 4), the alerts of a notification as the receiver hands
them to the proactive agent, and the alerts the agent holds until Alertmanager says they resolved."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

MAX_HELD_ALERTS = 1_000
"""The most firing alerts the agent holds at once (they travel in its state across continue-as-new and
into each cycle's detection: at most ~0.6 MB, well under Temporal's 2 MB payload limit); a
notification that would hold more is refused, and Alertmanager retries it."""

NOTIFICATION_CHUNK = 250
"""The receiver hands a notification to the agent in updates of at most this many alerts."""


class AlertmanagerAlert(BaseModel):
    """One alert of a notification (unknown fields, such as generatorURL, are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: AwareDatetime  # noqa: N815 - Alertmanager's own field names
    endsAt: AwareDatetime | None = None  # noqa: N815
    fingerprint: str = Field(min_length=1, max_length=64)


class AlertmanagerPayload(BaseModel):
    """What Alertmanager posts to a webhook receiver."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: Literal["4"]
    groupKey: str = Field(min_length=1, max_length=4096)  # noqa: N815
    status: Literal["firing", "resolved"]
    alerts: list[AlertmanagerAlert] = Field(max_length=10_000)


class HeldAlert(BaseModel):
    """A firing alert, as the agent holds it: what names it, its device and what it says."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fingerprint: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    severity: Literal["critical", "warning", "info"]
    device_labels: dict[str, str] = Field(default_factory=dict)
    """Only the labels that may name the device (`core.alerts.DEVICE_LABELS`), each cut to 200 characters."""
    starts_at: datetime
    summary: str = Field("", max_length=300)

    def describe(self) -> str:
        named = ", ".join(f"{k}={v}" for k, v in self.device_labels.items()) or "no device label"
        return f"{self.name} ({named})"


class AlertChange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Literal["firing", "resolved"]
    alert: HeldAlert


class AlertNotification(BaseModel):
    """One Alertmanager notification, as the receiver passes it to the agent (an update)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group_key: str = Field(min_length=1, max_length=4096)
    alerts: list[AlertChange] = Field(max_length=NOTIFICATION_CHUNK)


class AlertReceipt(BaseModel):
    """What the agent did with a notification."""

    new: int = 0
    """Firing alerts it did not hold before: they start a cycle now."""
    repeated: int = 0
    """Firing alerts it already held (Alertmanager repeats notifications): nothing starts."""
    resolved: int = 0
    held: int = 0
    """Alerts held after this notification (the next cycle's detection judges them)."""
    triggered: bool = False
    note: str = ""
