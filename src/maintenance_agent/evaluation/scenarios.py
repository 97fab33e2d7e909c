"""The labelled scenario suite: fleets whose every device carries the answer the rules should give.

Healthy devices read steady values with the jitter of real telemetry (CPU and memory +-2 points,
temperature +-1 degC, latency +-1 ms, loss +-0.05 points) and a daily cycle (busy afternoons).
Faults are injected one per device, each at several strengths: drifts toward a threshold (over five
daily readings, and starting a few days into a two-week, six-hourly series), confirmed warning and
critical breaches, status and alarm faults, a thermal shutdown, lifecycle paperwork. Around them sit
the cases that fool naive rules: threshold edges, transient and newest-reading spikes, stale
snapshots, an inventory snapshot the newer readings contradict, devices without telemetry.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from random import Random
from typing import Any

from ..datagen.catalog import CATALOG, PACKET_LOSS_RANGE, TYPE_RANGES
from ..datagen.generator import life_expectancy_document
from ..models.core import ActionName, FindingKind, Severity

AS_OF = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
STAMP = "%Y-%m-%dT%H:%M:%SZ"

METRICS = ("cpu_utilization_percent", "memory_utilization_percent", "temperature_celsius", "packet_loss_percent",
           "latency_ms")
WARNING = {"cpu_utilization_percent": 80.0, "memory_utilization_percent": 85.0, "temperature_celsius": 70.0,
           "packet_loss_percent": 0.5, "latency_ms": 15.0}
CRITICAL = {"cpu_utilization_percent": 95.0, "memory_utilization_percent": 95.0, "temperature_celsius": 75.0,
            "packet_loss_percent": 2.0, "latency_ms": 20.0}
JITTER = {"cpu_utilization_percent": 2.0, "memory_utilization_percent": 2.0, "temperature_celsius": 1.0,
          "packet_loss_percent": 0.05, "latency_ms": 1.0}
"""Half-width of the uniform day-to-day noise (the issue's "+-" figures)."""
DAILY_CYCLE = {"cpu_utilization_percent": 4.0, "memory_utilization_percent": 0.0, "temperature_celsius": 0.8,
               "packet_loss_percent": 0.02, "latency_ms": 0.8}
"""Amplitude of the daily cycle, peaking mid-afternoon."""
KIND_OF = {"cpu_utilization_percent": FindingKind.HIGH_CPU, "memory_utilization_percent": FindingKind.HIGH_MEMORY,
           "temperature_celsius": FindingKind.HIGH_TEMPERATURE, "packet_loss_percent": FindingKind.PACKET_LOSS,
           "latency_ms": FindingKind.HIGH_LATENCY}
TUNING = frozenset({ActionName.OPTIMIZE_CONFIGURATION, ActionName.UPDATE_FIRMWARE})
COOLING = frozenset({ActionName.SCHEDULE_MAINTENANCE})
FITTING = {m: (COOLING if m == "temperature_celsius" else TUNING) for m in METRICS}
"""The repairs that fit a problem with each metric."""

Expected = tuple[FindingKind, str, Severity | None]
"""A finding the rules must raise: kind, evidence metric, severity (None: any)."""


@dataclass
class Label:
    scenario: str
    strength: str = ""
    expected: list[Expected] = field(default_factory=list)
    allowed_info: set[tuple[FindingKind, str]] = field(default_factory=set)
    """Info-level findings that are fine to report (an unconfirmed spike) but must not be acted on."""
    fitting: frozenset[ActionName] = frozenset()
    """The repairs that fit the fault."""
    act: bool | None = False
    """What the ground truth calls for, whatever the rules rate it: True, one of `fitting` must be
    planned; False, no action at all (healthy, a spike, a drift still far from its threshold,
    paperwork not yet due); None, either (a drift whose true breach is between 5 and 12 days away)."""
    forbidden: frozenset[ActionName] = frozenset()
    realistic: bool = True
    """Part of the headline figures; weaker strengths show where detection stops."""


@dataclass
class Device:
    inventory: dict[str, Any]
    health: dict[str, Any] | None
    label: Label


def stamps(count: int, step_hours: float, end: datetime = AS_OF) -> list[datetime]:
    return [end - timedelta(hours=step_hours * k) for k in range(count - 1, -1, -1)]  # oldest first


def _round(metric: str, value: float) -> float:
    value = max(value, 0.0)
    return round(value, 2) if metric in ("packet_loss_percent", "latency_ms") else round(value, 1)


class Builder:
    """Makes one seed's devices: a realistic inventory record and readings around per-device baselines."""

    def __init__(self, seed: int) -> None:
        self.rng = Random(seed)
        self.seed = seed
        self.count = 0

    def baseline(self, model_type: str) -> dict[str, float]:
        r = TYPE_RANGES[model_type]
        u = self.rng.uniform
        return {"cpu_utilization_percent": u(*r.cpu), "memory_utilization_percent": u(*r.memory),
                "temperature_celsius": u(*r.temperature), "packet_loss_percent": u(*PACKET_LOSS_RANGE),
                "latency_ms": u(*r.latency)}

    def series(self, stamps: list[datetime], base: dict[str, float],
               shape: Callable[[str, int, datetime], float | None] | None = None,
               level: Callable[[str, int], float | None] | None = None) -> list[dict[str, Any]]:
        """Readings at `stamps`: each metric's steady value (its baseline, or what `level` says, e.g. a
        drift) plus the daily cycle and jitter; or exactly what `shape` says for a metric."""
        out = []
        u = self.rng.uniform
        for k, at in enumerate(stamps):
            reading: dict[str, Any] = {"timestamp": at.strftime(STAMP)}
            cycle = math.sin((at.hour - 9) / 24 * 2 * math.pi)  # +1 at 15:00, -1 at 03:00
            for metric in METRICS:
                override = shape(metric, k, at) if shape else None
                if override is None:
                    steady = level(metric, k) if level else None
                    steady = base[metric] if steady is None else steady
                    override = steady + DAILY_CYCLE[metric] * cycle + u(-JITTER[metric], JITTER[metric])
                reading[metric] = _round(metric, override)
            out.append(reading)
        return out

    def device(self, label: Label, readings: list[dict[str, Any]] | None, **inventory: Any) -> Device:
        self.count += 1
        model = CATALOG[self.count % len(CATALOG)]
        eid = f"EV{self.seed}-{self.count:05d}"
        newest = readings[-1] if readings else {}
        record: dict[str, Any] = {
            "id": eid, "vendor": model.vendor, "model": model.model, "type": model.type,
            "serial_number": f"SN{self.seed}{self.count:07d}", "site": f"SITE-{self.count % 6 + 1}",
            "location": "Evaluation", "ip_address": f"10.{self.seed}.{self.count // 250}.{self.count % 250 + 1}",
            "firmware_version": model.firmware[-1], "install_date": (AS_OF.date() - timedelta(days=700)).isoformat(),
            "last_maintenance": (AS_OF.date() - timedelta(days=200)).isoformat(), "status": "Operational",
            "temperature_celsius": newest.get("temperature_celsius"),
            "cpu_utilization_percent": newest.get("cpu_utilization_percent"),
            "memory_utilization_percent": newest.get("memory_utilization_percent"),
            "uptime_days": 120, "maintenance_contract_expiry": (AS_OF.date() + timedelta(days=400)).isoformat(),
            "alerts": [],
        }
        record.update(inventory)
        health = None if readings is None else {
            "equipment_id": eid, "site": record["site"], "status": record["status"], "health_score": 90.0,
            "recent_readings": readings[::-1],  # newest first, as the files usually list them
        }
        return Device(record, health, label)

    def model_type(self) -> str:
        return CATALOG[(self.count + 1) % len(CATALOG)].type


def documents(devices: list[Device]) -> dict[str, dict[str, Any]]:
    """The three fleet files' documents."""
    return {
        "infrastructure_inventory.json": {"infrastructure_inventory": [d.inventory for d in devices]},
        "health_metrics.json": {"health_metrics": [d.health for d in devices if d.health is not None]},
        "equipment_life_expectancy.json": life_expectancy_document(),
    }


def days_ago(days: float) -> date:
    return (AS_OF - timedelta(days=days)).date()
