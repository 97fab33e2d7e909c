"""Detect: turn a fleet snapshot and an analysis time into findings and health states. Pure."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from ..models.core import (
    LIFECYCLE_KINDS,
    DataError,
    DeviceAfter,
    DeviceFacts,
    DeviceHealth,
    Evidence,
    Finding,
    FindingKind,
    FleetSummary,
    HealthState,
    Severity,
    SiteHealth,
)
from ..models.fleet import HEALTH_FILE, INVENTORY_FILE, DeviceState, HealthRecord, InventoryRecord, Reading
from ..models.rules import METRICS, Rules

DAYS_PER_YEAR = 365.25

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
_SNAPSHOT_METRICS = ("temperature_celsius", "cpu_utilization_percent", "memory_utilization_percent")


def metric_label(metric: str) -> str:
    return _METRIC_LABEL.get(metric, metric)


def analysis_time(inventory: Iterable[InventoryRecord], health: Iterable[HealthRecord],
                  now: datetime | None = None, tolerance: timedelta = timedelta(0)) -> datetime:
    """The default analysis time: the newest reading in the data, so a static fleet always gives
    the same answer. Without readings: the newest alert, else the newest maintenance date. With
    `now`, stamps later than `now + tolerance` do not count and the result is never after `now`."""
    return time_frame(inventory, health, now, tolerance).as_of


@dataclass(frozen=True)
class TimeFrame:
    as_of: datetime
    data_errors: list[DataError]
    """Records stamped in the future: a wrong device clock, not data to act on."""


def time_frame(inventory: Iterable[InventoryRecord], health: Iterable[HealthRecord],
               now: datetime | None, tolerance: timedelta) -> TimeFrame:
    """The default analysis time and the future-stamped records, in one pass over the readings."""
    limit = None if now is None else now + tolerance
    errors: list[DataError] = []
    newest: datetime | None = None
    for h in health:
        future: list[tuple[int, datetime]] = []
        for index, r in enumerate(h.recent_readings):
            stamp = r["timestamp"]
            if limit is not None and stamp > limit:
                future.append((index, stamp))
            elif newest is None or stamp > newest:
                newest = stamp
        if future:
            index, stamp = max(future, key=lambda item: item[1])
            errors.append(DataError(
                file=HEALTH_FILE, record_id=h.equipment_id, field=f"recent_readings[{index}].timestamp",
                value=stamp.isoformat(),
                message=f"{len(future)} reading(s) stamped after the current time (latest {stamp.isoformat()}); "
                        f"they are ignored until the device's clock is fixed"))
    candidates: list[datetime] = []
    for inv in inventory:
        for index, a in enumerate(inv.alerts):
            if a.timestamp is None:
                continue
            if limit is not None and a.timestamp > limit:
                errors.append(DataError(
                    file=INVENTORY_FILE, record_id=inv.id, field=f"alerts[{index}].timestamp",
                    value=a.timestamp.isoformat(),
                    message=f"alert {a.type!r} is stamped after the current time; it is ignored"))
            elif newest is None:
                candidates.append(a.timestamp)
        if newest is None:
            candidates.append(datetime.combine(inv.last_maintenance, time(), UTC))
    as_of = newest if newest is not None else max(candidates, default=datetime(2000, 1, 1, tzinfo=UTC))
    if now is not None and as_of > now:
        as_of = now
    return TimeFrame(as_of, errors)


AS_OF_DOUBT = timedelta(days=365)


def as_of_warnings(as_of: datetime, newest: datetime, given: bool) -> list[str]:
    """An analysis time given far before the data's newest reading is probably a typo: readings after it
    are ignored, so devices look silent and old contracts look current. Said, not refused."""
    if not given or newest - as_of < AS_OF_DOUBT:
        return []
    years = (newest - as_of).days / DAYS_PER_YEAR
    return [f"the analysis time {as_of.date().isoformat()} is {years:.1f} years before the newest reading in the data "
            f"({newest.date().isoformat()}): readings after it are ignored; leave --as-of out to use the newest reading"]


@lru_cache(maxsize=8192)
def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Natural ordering for vendor firmware strings (`17.9.4` < `17.12.1`, `21.4R3` < `22.1R1`)."""
    parts = re.findall(r"\d+|[A-Za-z]+", version)
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in parts)


def firmware_baseline(inventory: Iterable[InventoryRecord]) -> dict[str, str]:
    """Newest firmware seen per `vendor|model`: the release a firmware update moves a device to."""
    best: dict[str, str] = {}
    for inv in inventory:
        key = f"{inv.vendor}|{inv.model}"
        current = best.get(key)
        if current is None or version_key(inv.firmware_version) > version_key(current):
            best[key] = inv.firmware_version
    return best


@dataclass(frozen=True)
class Trend:
    slope_per_day: float
    r2: float
    latest: float
    days_to_breach: float


def fit_trend(points: list[tuple[float, float]], threshold: float, rules: Rules) -> Trend | None:
    """Least-squares line through (day, value); a trend if it rises toward `threshold` within the
    horizon with a good fit, and the newest value has not breached yet."""
    n = len(points)
    if n < rules.trend_min_readings:
        return None
    latest = points[-1][1]
    if latest > threshold or latest <= points[0][1]:
        return None
    sx = sy = sxx = sxy = syy = 0.0
    for x, y in points:  # one pass; this runs for every rising series in the fleet
        sx += x
        sy += y
        sxx += x * x
        sxy += x * y
        syy += y * y
    vxx = sxx - sx * sx / n
    vxy = sxy - sx * sy / n
    vyy = syy - sy * sy / n
    if vxx <= 0:
        return None
    slope = vxy / vxx
    if slope <= 0:
        return None
    r2 = (vxy * vxy) / (vxx * vyy) if vyy > 0 else 0.0
    if r2 < rules.trend_min_r2:
        return None
    days = (threshold - latest) / slope
    if days <= 0 or days > rules.trend_horizon_days:
        return None
    return Trend(slope, r2, latest, days)


@dataclass
class DeviceAssessment:
    findings: list[Finding]
    facts: DeviceFacts
    raw_state: HealthState


def _evidence(metric: str, value: float | str | None, threshold: float | str | None, unit: str = "",
              observed_at: datetime | None = None, **extra: float | None) -> Evidence:
    return Evidence(metric=metric, value=value, threshold=threshold, unit=unit,
                                    observed_at=observed_at, projected_days_to_breach=extra.get("projected_days_to_breach"),
                                    slope_per_day=extra.get("slope_per_day"))


def _readings_up_to(health: HealthRecord | None, as_of: datetime) -> tuple[list[Reading], datetime | None]:
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


def _age_years(start: date, as_of: datetime) -> float:
    return (as_of.date() - start).days / DAYS_PER_YEAR


def assess_device(
    inv: InventoryRecord,
    health: HealthRecord | None,
    life_years: Mapping[tuple[str, str], float],
    rules: Rules,
    as_of: datetime,
) -> DeviceAssessment:
    """All findings for one device, the facts later steps need, and its raw health state."""
    eid, site = inv.id, inv.site
    findings: list[Finding] = []

    def add(kind: FindingKind, severity: Severity, evidence: Evidence, confidence: float, message: str) -> None:
        findings.append(Finding(equipment_id=eid, site=site, kind=kind, severity=severity,
                                                evidence=evidence, confidence=round(confidence, 2), message=message))

    status = inv.status.strip()
    status_l = status.lower()
    health_status = (health.status or "").strip() if health else ""
    agree = not health_status or health_status.lower() == status_l
    if status_l == "down":
        add(FindingKind.DEVICE_DOWN, Severity.CRITICAL, _evidence("status", status, "Operational"),
            1.0 if agree else 0.85, f"{eid} is Down")
    elif status_l == "degraded":
        add(FindingKind.DEVICE_DEGRADED, Severity.WARNING, _evidence("status", status, "Operational"),
            1.0 if agree else 0.85, f"{eid} is Degraded")

    critical_alerts = [
        a for a in inv.alerts
        if a.severity.lower() == "critical"
        and (a.timestamp is None or as_of - timedelta(days=rules.critical_alert_max_age_days) <= a.timestamp <= as_of)
    ] if inv.alerts else []
    if critical_alerts:
        types = sorted({a.type for a in critical_alerts})
        newest = max((a.timestamp for a in critical_alerts if a.timestamp), default=None)
        add(FindingKind.CRITICAL_ALERT, Severity.CRITICAL,
            _evidence("alerts", ", ".join(types), "no critical alerts", observed_at=newest),
            1.0 if newest is None or as_of - newest <= timedelta(days=7) else 0.8,
            f"{eid} has critical alert(s): {', '.join(types)}")

    readings, newest_reading = _readings_up_to(health, as_of)
    latest_values: dict[str, float] = {}
    latest_at: datetime | None = readings[-1]["timestamp"] if readings else None
    # Day offsets once per device (not per metric): this loop runs for every device in the fleet.
    origin = readings[0]["timestamp"] if readings else as_of
    days = [(r["timestamp"] - origin).total_seconds() / 86400.0 for r in readings]
    window_start = (as_of - origin).total_seconds() / 86400.0 - rules.trend_window_days
    stale_after = timedelta(days=rules.stale_reading_days)
    for metric in METRICS:
        threshold = rules.metric(metric)
        present = [i for i, r in enumerate(readings) if r.get(metric) is not None]
        if present:
            last = present[-1]
            observed_at, value = readings[last]["timestamp"], readings[last][metric]
            previous = readings[present[-2]][metric] if len(present) > 1 else None
            confidence = 1.0 if previous is not None and previous > threshold.warning else 0.85
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
            add(_METRIC_KIND[metric], Severity.CRITICAL,
                _evidence(metric, value, threshold.critical, threshold.unit, observed_at),
                confidence, f"{label} {value:g}{threshold.unit} above critical {threshold.critical:g}{threshold.unit}")
        elif value > threshold.warning:
            add(_METRIC_KIND[metric], Severity.WARNING,
                _evidence(metric, value, threshold.warning, threshold.unit, observed_at),
                confidence, f"{label} {value:g}{threshold.unit} above warning {threshold.warning:g}{threshold.unit}")
        elif len(present) >= rules.trend_min_readings:
            recent = [i for i in present if days[i] >= window_start]
            # Cheap exits first: most series are flat or falling and need no regression.
            if len(recent) < rules.trend_min_readings or readings[recent[-1]][metric] <= readings[recent[0]][metric]:
                continue
            trend = fit_trend([(days[i], float(readings[i][metric])) for i in recent], threshold.warning, rules)
            if trend is not None:
                urgent = trend.days_to_breach <= rules.trend_urgent_days
                add(FindingKind.RISING_TREND, Severity.WARNING if urgent else Severity.INFO,
                    _evidence(metric, value, threshold.warning, threshold.unit, observed_at,
                              projected_days_to_breach=round(trend.days_to_breach, 1),
                              slope_per_day=round(trend.slope_per_day, 3)),
                    trend.r2 * min(1.0, len(recent) / 6),
                    f"{label} rising {trend.slope_per_day:+.2f}{threshold.unit}/day, "
                    f"breaches {threshold.warning:g}{threshold.unit} in ~{trend.days_to_breach:.1f} days")

    age = _age_years(inv.install_date, as_of)
    expected = life_years.get((inv.vendor, inv.model))
    if expected is not None:
        if age > expected:
            add(FindingKind.END_OF_LIFE, Severity.WARNING,
                _evidence("age_years", round(age, 2), expected, "years"),
                1.0, f"in service {age:.1f} years, past its expected life of {expected:g} years")
        elif age > expected * rules.nearing_end_of_life_fraction:
            add(FindingKind.NEARING_END_OF_LIFE, Severity.INFO,
                _evidence("age_years", round(age, 2), round(expected * rules.nearing_end_of_life_fraction, 2), "years"),
                1.0, f"in service {age:.1f} years, {age / expected:.0%} of its expected life of {expected:g} years")

    days_left = (inv.maintenance_contract_expiry - as_of.date()).days
    if days_left < 0:
        add(FindingKind.CONTRACT_EXPIRED, Severity.WARNING,
            _evidence("maintenance_contract_expiry", inv.maintenance_contract_expiry.isoformat(), as_of.date().isoformat()),
            1.0, f"support contract expired {-days_left} days ago ({inv.maintenance_contract_expiry})")
    elif days_left <= rules.contract_expiring_days:
        add(FindingKind.CONTRACT_EXPIRING, Severity.WARNING if days_left <= 30 else Severity.INFO,
            _evidence("maintenance_contract_expiry", inv.maintenance_contract_expiry.isoformat(),
                      f"{rules.contract_expiring_days} days"),
            1.0, f"support contract expires in {days_left} days ({inv.maintenance_contract_expiry})")

    since_maintenance = (as_of.date() - inv.last_maintenance).days
    if since_maintenance > rules.maintenance_overdue_days:
        add(FindingKind.MAINTENANCE_OVERDUE, Severity.INFO,
            _evidence("last_maintenance", inv.last_maintenance.isoformat(), f"{rules.maintenance_overdue_days} days"),
            1.0, f"no maintenance for {since_maintenance} days (since {inv.last_maintenance})")

    raw = raw_health_state(findings)
    facts = DeviceFacts(
        equipment_id=eid, site=site, vendor=inv.vendor, model=inv.model, type=inv.type, status=inv.status,
        firmware_version=inv.firmware_version, serial_number=inv.serial_number, install_date=inv.install_date,
        last_maintenance=inv.last_maintenance, maintenance_contract_expiry=inv.maintenance_contract_expiry,
        age_years=round(age, 2), expected_life_years=expected,
        alert_types=sorted({a.type for a in inv.alerts}),
        critical_alert_types=sorted({a.type for a in critical_alerts}),
        latest=latest_values, latest_reading_at=latest_at, health_state=raw,
        newest_reading_at=newest_reading,
    )
    return DeviceAssessment(findings, facts, raw)


def device_after(state: DeviceState, life_years: Mapping[tuple[str, str], float], rules: Rules,
                 as_of: datetime) -> DeviceAfter:
    """A device's status and the rules' health state of it at `as_of` (after an action: the report's
    after-state, judged by the same rules that judged it before)."""
    assessed = assess_device(state.inventory, state.health, life_years, rules, as_of)
    return DeviceAfter(status=state.inventory.status.strip(), health=assessed.raw_state,
                       alerts=len(state.inventory.alerts))


def raw_health_state(findings: Iterable[Finding]) -> HealthState:
    """critical if any operational finding is critical, stressed if any is a warning, else happy.

    Lifecycle paperwork (contracts, overdue maintenance) is risk, not health, and is left out."""
    worst = HealthState.HAPPY
    for f in findings:
        if f.kind in LIFECYCLE_KINDS:
            continue
        if f.severity is Severity.CRITICAL:
            return HealthState.CRITICAL
        if f.severity is Severity.WARNING:
            worst = HealthState.STRESSED
    return worst


def smooth_state(raw: HealthState, previous: HealthState | None) -> tuple[HealthState, bool]:
    """Apply the no-jump rule: a device seen `happy` last run is at most `stressed` this run.

    Returns (state, held_back)."""
    if previous is HealthState.HAPPY and raw is HealthState.CRITICAL:
        return HealthState.STRESSED, True
    return raw, False


def site_health(devices: Iterable[DeviceHealth], statuses: Mapping[str, str]) -> list[SiteHealth]:
    """Per site: the worst device state, with counts."""
    by_site: dict[str, Counter[str]] = defaultdict(Counter)
    for d in devices:
        c = by_site[d.site]
        c["devices"] += 1
        c[d.state.value] += 1
        status = statuses.get(d.equipment_id, "").lower()
        if status in ("down", "degraded"):
            c[status] += 1
    out = []
    for site in sorted(by_site):
        c = by_site[site]
        state = (HealthState.CRITICAL if c["critical"] else HealthState.STRESSED if c["stressed"] else HealthState.HAPPY)
        out.append(SiteHealth(site=site, state=state, devices=c["devices"], happy=c["happy"], stressed=c["stressed"],
                              critical=c["critical"], down=c["down"], degraded=c["degraded"]))
    return out


@dataclass
class Detection:
    as_of: datetime
    findings: list[Finding]
    facts: dict[str, DeviceFacts]
    device_health: list[DeviceHealth]
    sites: list[SiteHealth]
    summary: FleetSummary
    firmware_baseline: dict[str, str] = field(default_factory=dict)


_KIND_ORDER = {k: i for i, k in enumerate(FindingKind)}


def detect(
    inventory: Mapping[str, InventoryRecord],
    health: Mapping[str, HealthRecord],
    life_years: Mapping[tuple[str, str], float],
    rules: Rules,
    as_of: datetime,
    previous_states: Mapping[str, str] | None = None,
) -> Detection:
    """Run every rule over the fleet. Linear in fleet size; output sorted deterministically."""
    previous_states = previous_states or {}
    findings: list[Finding] = []
    facts: dict[str, DeviceFacts] = {}
    device_health: list[DeviceHealth] = []
    statuses: dict[str, str] = {}
    status_counts: Counter[str] = Counter()
    readings = 0
    newest: datetime | None = None
    missing_life: set[str] = set()
    for eid, inv in inventory.items():
        h = health.get(eid)
        if (inv.vendor, inv.model) not in life_years:
            missing_life.add(f"{inv.vendor} {inv.model}")
        assessed = assess_device(inv, h, life_years, rules, as_of)
        if h is not None and h.recent_readings:
            readings += len(h.recent_readings)
            last = assessed.facts.newest_reading_at
            newest = last if newest is None or (last is not None and last > newest) else newest
        prev_raw = previous_states.get(eid)
        previous = HealthState(prev_raw) if prev_raw in HealthState._value2member_map_ else None
        state, held = smooth_state(assessed.raw_state, previous)
        device_health.append(DeviceHealth(equipment_id=eid, site=inv.site, state=state, raw_state=assessed.raw_state,
                                          previous_state=previous, held_back=held))
        statuses[eid] = inv.status.strip()
        status_counts[inv.status] += 1
        if assessed.findings:
            assessed.facts.health_state = state
            facts[eid] = assessed.facts
            findings.extend(assessed.findings)
    findings.sort(key=lambda f: (-f.severity.rank, f.site, f.equipment_id, _KIND_ORDER[f.kind], f.evidence.metric))
    sites = site_health(device_health, statuses)
    summary = FleetSummary(
        devices=len(inventory), sites=len(sites), readings=readings,
        statuses=dict(sorted(status_counts.items())),
        health={s: sum(1 for d in device_health if d.state is s) for s in HealthState},
        newest_reading_at=newest, models_without_life_expectancy=sorted(missing_life),
    )
    return Detection(as_of, findings, facts, device_health, sites, summary, firmware_baseline(inventory.values()))
