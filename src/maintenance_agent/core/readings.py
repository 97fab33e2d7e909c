"""Findings from a device's readings: a metric over its warning or critical threshold, or rising toward it. Pure."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..models.core import FindingKind, Severity
from ..models.fleet import HealthRecord, InventoryRecord, Reading
from ..models.rules import METRICS, MetricName, Rules
from .evidence import DeviceFindings, evidence
from .trends import Trend, fit_trend

_METRIC_KIND = {
    "temperature_celsius": FindingKind.HIGH_TEMPERATURE,
    "cpu_utilization_percent": FindingKind.HIGH_CPU,
    "memory_utilization_percent": FindingKind.HIGH_MEMORY,
    "packet_loss_percent": FindingKind.PACKET_LOSS,
    "latency_ms": FindingKind.HIGH_LATENCY,
}
_METRIC_LABEL = {
    "temperature_celsius": "temperature",
    "cpu_utilization_percent": "CPU",
    "memory_utilization_percent": "memory",
    "packet_loss_percent": "packet loss",
    "latency_ms": "latency",
}
_SNAPSHOT_METRICS: tuple[MetricName, ...] = ("temperature_celsius", "cpu_utilization_percent",
                                             "memory_utilization_percent")


def metric_label(metric: str) -> str:
    return _METRIC_LABEL.get(metric, metric)


def readings_up_to(health: HealthRecord | None, as_of: datetime) -> tuple[list[Reading], datetime | None]:
    """The readings at or before `as_of`, oldest first, and the newest timestamp in the data."""
    if health is None or not health.recent_readings:
        return [], None
    readings = health.recent_readings
    stamps = [r["timestamp"] for r in readings]
    # Datasets list readings newest-first or oldest-first; sort only when neither holds.
    if all(a <= b for a, b in zip(stamps, stamps[1:])):
        newest = stamps[-1]
    elif all(a >= b for a, b in zip(stamps, stamps[1:])):
        readings, newest = readings[::-1], stamps[0]
    else:
        readings = sorted(readings, key=lambda r: r["timestamp"])
        newest = readings[-1]["timestamp"]
    if newest <= as_of:  # the usual case: as_of defaults to the newest reading
        return list(readings), newest
    return [r for r in readings if r["timestamp"] <= as_of], newest


def _run_over(present: list[tuple[int, float]], warning: float) -> tuple[int, int]:
    """How many readings in a row, ending with the newest, are over `warning`, and the reading index
    where that run starts."""
    run, start = 0, present[-1][0]
    for index, value in reversed(present):
        if value <= warning:
            break
        run, start = run + 1, index
    return run, start


def _trend_of(present: list[tuple[int, float]], days: list[float], window_start: float, metric: MetricName,
              threshold: float, rules: Rules) -> Trend | None:
    """The metric's rising trend toward `threshold` over the trend window, if it has one."""
    if len(present) < rules.trend_min_readings:
        return None
    # Usually every reading is inside the window: then there is nothing to filter.
    recent = present if days[present[0][0]] >= window_start else [
        (i, v) for i, v in present if days[i] >= window_start]
    n = len(recent)
    if n < rules.trend_min_readings:
        return None
    latest = recent[-1][1]
    # Cheap exits first: most series are flat or falling and need no regression. A series whose
    # oldest reading is higher may still rise over its recent half (a leak since a restart).
    if latest <= recent[0][1]:
        if n < 2 * rules.trend_min_readings:
            return None
        half = days[recent[-1][0]] - max(1.0, round(rules.trend_window_days / 2))
        j = bisect_right(recent, half, key=lambda p: days[p[0]])
        if j >= n or latest <= recent[j][1]:
            return None
    return fit_trend([(days[i], float(v)) for i, v in recent], threshold, rules,
                     rules.trend_noise_floor.get(metric, 0.0))


def _unconfirmed(run: int, minutes: float, rules: Rules, *, snapshot: bool = False) -> str | None:
    """Why a warning breach is not confirmed yet (an alerting rule's `for:`), or None if it is."""
    if snapshot and (rules.breach_confirm_minutes is not None or rules.breach_confirm_readings > 1):
        return "not confirmed: a single inventory snapshot, with no readings to confirm it"
    if rules.breach_confirm_minutes is not None:
        if minutes >= rules.breach_confirm_minutes:
            return None
        return f"not confirmed: over it for {minutes:g} of the {rules.breach_confirm_minutes:g} minutes required"
    if run >= rules.breach_confirm_readings:
        return None
    return (f"not confirmed: {run} reading{'s' if run != 1 else ''} over it, "
            f"{rules.breach_confirm_readings} in a row required")


@dataclass(frozen=True)
class Readout:
    """What the readings said, beside the findings: the facts later steps need."""

    latest: dict[str, float]
    """The newest value of each metric (or the inventory's snapshot of it)."""
    latest_at: datetime | None
    """The newest reading at or before the analysis time."""
    newest_at: datetime | None
    """The newest reading in the data, even one after the analysis time."""


def add_reading_findings(out: DeviceFindings, inv: InventoryRecord, health: HealthRecord | None, rules: Rules,
                         as_of: datetime) -> Readout:
    """A finding per metric: critical or warning breach of its newest value, else a rising trend."""
    readings, newest_reading = readings_up_to(health, as_of)
    latest_values: dict[str, float] = {}
    latest_at: datetime | None = readings[-1]["timestamp"] if readings else None
    # Day offsets once per device (not per metric): this loop runs for every device in the fleet.
    origin = readings[0]["timestamp"] if readings else as_of
    days = [(r["timestamp"] - origin).total_seconds() / 86400.0 for r in readings]
    window_start = (as_of - origin).total_seconds() / 86400.0 - rules.trend_window_days
    stale_after = timedelta(days=rules.stale_reading_days)
    for metric in METRICS:
        threshold = rules.metric(metric)
        # (index, value) of the readings that have this metric, oldest first.
        present = [(i, v) for i, r in enumerate(readings) if (v := r.get(metric)) is not None]
        observed_at: datetime | None
        run = 1  # readings in a row, the newest among them, over the warning threshold
        run_minutes = 0.0
        if present:
            last, value = present[-1]
            observed_at = readings[last]["timestamp"]
            if value > threshold.warning:
                run, start = _run_over(present, threshold.warning)
                run_minutes = (observed_at - readings[start]["timestamp"]).total_seconds() / 60
            confidence = 1.0 if run > 1 else 0.85
            if as_of - observed_at > stale_after:
                confidence = min(confidence, 0.7)
        elif metric in _SNAPSHOT_METRICS and getattr(inv, metric) is not None:
            observed_at, value, confidence = None, getattr(inv, metric), 0.8
        else:
            continue
        value = float(value)
        latest_values[metric] = value
        label = _METRIC_LABEL[metric]
        if threshold.critical is not None and value > threshold.critical:
            out.add(_METRIC_KIND[metric], Severity.CRITICAL,
                    evidence(metric, value, threshold.critical, threshold.unit, observed_at),
                    confidence,
                    f"{label} {value:g}{threshold.unit} above critical {threshold.critical:g}{threshold.unit}")
        elif value > threshold.warning:
            over = f"{label} {value:g}{threshold.unit} above warning {threshold.warning:g}{threshold.unit}"
            unconfirmed = _unconfirmed(run, run_minutes, rules, snapshot=not present)
            if unconfirmed is not None and present:
                climb = _trend_of(present, days, window_start, metric, threshold.warning, rules)
                if climb is not None:  # a steady rise into the threshold confirms it: not a spike
                    unconfirmed = None
                    over += (f", rising {climb.slope_per_day:+.2f}{threshold.unit}/day over {climb.readings} "
                             f"readings into it (a climb, not a spike)")
            out.add(_METRIC_KIND[metric], Severity.WARNING if unconfirmed is None else Severity.INFO,
                    evidence(metric, value, threshold.warning, threshold.unit, observed_at),
                    confidence, over if unconfirmed is None else f"{over}, {unconfirmed}")
        elif (trend := _trend_of(present, days, window_start, metric, threshold.warning, rules)) is not None:
            urgent = trend.days_to_breach <= rules.trend_urgent_days
            w = f"{threshold.warning:g}{threshold.unit}"
            when = f"breaches {w} in ~{trend.days_to_breach:.1f} days" if trend.days_to_breach > 0 else (
                f"its line is at {w} already")
            out.add(FindingKind.RISING_TREND, Severity.WARNING if urgent else Severity.INFO,
                    evidence(metric, value, threshold.warning, threshold.unit, observed_at,
                             projected_days_to_breach=round(trend.days_to_breach, 1),
                             slope_per_day=round(trend.slope_per_day, 3)),
                    min((1.0 - trend.p_value) * min(1.0, trend.readings / 6),
                        0.7 if observed_at is not None and as_of - observed_at > stale_after else 1.0),
                    f"{label} rising {trend.slope_per_day:+.2f}{threshold.unit}/day over "
                    f"{trend.readings} readings (at least {trend.slope_low_per_day:+.2f} with "
                    f"{rules.trend_projection_confidence:.0%} confidence), {when}")
    return Readout(latest_values, latest_at, newest_reading)
