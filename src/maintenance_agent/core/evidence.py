"""Building findings: the evidence a rule saw and one device's list of findings. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..models.core import Evidence, Finding, FindingKind, Severity


def evidence(metric: str, value: float | str | None, threshold: float | str | None, unit: str = "",
             observed_at: datetime | None = None, **extra: float | None) -> Evidence:
    return Evidence(metric=metric, value=value, threshold=threshold, unit=unit,
                    observed_at=observed_at, projected_days_to_breach=extra.get("projected_days_to_breach"),
                    slope_per_day=extra.get("slope_per_day"))


@dataclass
class DeviceFindings:
    """The findings of one device, in the order the rules raise them."""

    equipment_id: str
    site: str
    items: list[Finding] = field(default_factory=list)

    def add(self, kind: FindingKind, severity: Severity, evidence: Evidence, confidence: float, message: str) -> None:
        self.items.append(Finding(equipment_id=self.equipment_id, site=self.site, kind=kind, severity=severity,
                                  evidence=evidence, confidence=round(confidence, 2), message=message))
