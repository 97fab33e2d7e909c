"""Alertmanager's webhook payload (version 4) and the alerts the agent keeps active from it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class AlertmanagerAlert(BaseModel):
    """One alert of a notification (unknown fields, such as generatorURL's friends, are ignored)."""

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
    groupKey: str = Field(min_length=1)  # noqa: N815
    status: Literal["firing", "resolved"]
    alerts: list[AlertmanagerAlert] = Field(max_length=10_000)


class ActiveAlert(BaseModel):
    """A firing alert the agent holds for a known device, until Alertmanager says it is resolved."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fingerprint: str
    equipment_id: str
    name: str
    severity: Literal["critical", "warning"]
    starts_at: datetime
    summary: str = ""
