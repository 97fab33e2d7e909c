"""The one interface detection reads telemetry through, and its embedded default.

A metrics source answers one question: the readings of the devices in scope (the inventory it is
given) over the trend window ending at `end`, as the `HealthRecord`s the rules already judge, with
the devices it could not fill and what it asked (`TelemetrySource`: recorded with the findings).
The inventory and the life expectancies always come from the fleet store (DATA_DIR's JSON files,
which the executor also writes); their source is the store itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from ..models.artifacts import TelemetrySource
from ..models.core import DataError
from ..models.fleet import HealthRecord, InventoryRecord

HEALTH_FILE = "health_metrics.json"


class SourceError(Exception):
    """The source could not answer (unreachable, refused, a bad query): the message says which and why."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient
        """Worth retrying (down, timed out, 5xx), or not until someone fixes something (4xx, bad PromQL)."""


@dataclass
class MetricsResult:
    health: dict[str, HealthRecord]
    gaps: dict[str, str] = field(default_factory=dict)
    """Device id -> why it has no readings (or only some)."""
    provenance: TelemetrySource | None = None
    """What was asked, recorded with the run's findings."""


class MetricsSource(Protocol):
    name: str

    def readings(self, inventory: Mapping[str, InventoryRecord], end: datetime, window: timedelta,
                 step: timedelta) -> MetricsResult: ...

    def close(self) -> None: ...


class FileMetrics:
    """The embedded default: the readings of DATA_DIR's health_metrics.json, every record as the store
    loaded it (the rules pick their windows from them; the file's newest reading sets the analysis time)."""

    name = "json"

    def __init__(self, health: Mapping[str, HealthRecord]) -> None:
        self._health = health

    def readings(self, inventory: Mapping[str, InventoryRecord], end: datetime, window: timedelta,
                 step: timedelta) -> MetricsResult:
        stamps = [r["timestamp"] for h in self._health.values() for r in h.recent_readings]
        span = (min(stamps), max(stamps)) if stamps else (end, end)
        provenance = TelemetrySource(source=self.name, url=HEALTH_FILE, start=span[0], end=span[1], step_seconds=0,
                                     queries=0, series=len(self._health))
        return MetricsResult(dict(self._health), provenance=provenance)

    def close(self) -> None:
        pass


def gap_errors(result: MetricsResult) -> list[DataError]:
    """Each device the source had no (valid) readings for, as a data error of the run's report."""
    where = result.provenance.source if result.provenance is not None else "metrics"
    return [DataError(file=where, record_id=eid, field="recent_readings", message=why)
            for eid, why in sorted(result.gaps.items())]


def gap_warnings(result: MetricsResult) -> list[str]:
    """The detection's line about devices the source had no readings for (none for the files: a
    device without a health record there is judged from its inventory, as it always was)."""
    gaps = result.provenance.devices_without_telemetry if result.provenance is not None else []
    if not gaps:
        return []
    return [f"{len(gaps)} device(s) without telemetry in Prometheus (no metric findings for them): "
            f"{', '.join(gaps[:10])}{' …' if len(gaps) > 10 else ''}"]
