"""Per-device draws: status, an anomaly (a rising trend or a breach), age, maintenance, contract,
firmware, uptime, health score and alerts. Each takes the fleet's one `Random`, in a fixed order."""

from __future__ import annotations

from datetime import datetime, timedelta
from random import Random
from typing import Final, NamedTuple

from .profile import (
    ACTIVE_CONTRACT_DAYS,
    ALERT_WINDOWS,
    DAYS_PER_YEAR,
    DEGRADED_ALERT_TYPES,
    DEGRADED_BREACH_KINDS,
    DEGRADED_BREACH_RATE,
    DOWN_ALERT_TYPES,
    DOWN_BREACH_KINDS,
    EXPIRED_CONTRACT_RATE,
    EXPIRING_CONTRACT_RATE,
    EXPIRING_MAX_DAYS,
    HEALTH_BANDS,
    INFO_ALERT_RATE,
    INFO_ALERT_TYPES,
    METRIC_ALERT_TYPES,
    NEARING_LIFE_RATE,
    OPERATIONAL_BREACH_KINDS,
    OPERATIONAL_BREACH_RATE,
    OPERATIONAL_TREND_RATE,
    OVERDUE_MAX_DAYS,
    OVERDUE_MIN_DAYS,
    PAST_LIFE_RATE,
    RECENT_MAINTENANCE_MAX_DAYS,
    SECOND_DEGRADED_ALERT_RATE,
    STATUS_WEIGHTS,
    TREND_DAYS_TO_CROSS,
    TREND_METRICS,
    TREND_MIN_MARGIN,
    TREND_SPECS,
    WARNING_THRESHOLD,
    Metric,
    Record,
    Severity,
    Status,
)

ALERT_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"


class Trend(NamedTuple):
    """A metric rising linearly, still below its warning threshold at the newest reading."""

    metric: Metric
    newest: float
    slope_per_day: float


class Breach(NamedTuple):
    """A metric over a threshold in (at least) the newest reading."""

    metric: Metric
    severity: Severity


Anomaly = Trend | Breach | None


def draw_status(rng: Random) -> Status:
    roll, cumulative = rng.random(), 0.0
    for status, weight in STATUS_WEIGHTS:
        cumulative += weight
        if roll < cumulative:
            return status
    return STATUS_WEIGHTS[-1][0]


def draw_trend(rng: Random) -> Trend:
    metric = rng.choice(TREND_METRICS)
    spec = TREND_SPECS[metric]
    slope = rng.uniform(*spec.slope_per_day)
    shortest = max(TREND_DAYS_TO_CROSS[0], TREND_MIN_MARGIN / slope)
    longest = min(TREND_DAYS_TO_CROSS[1], spec.max_margin / slope)
    days_to_cross = rng.uniform(shortest, longest)
    return Trend(metric, WARNING_THRESHOLD[metric] - slope * days_to_cross, slope)


def draw_anomaly(rng: Random, status: Status) -> Anomaly:
    roll = rng.random()
    if status is Status.OPERATIONAL:
        if roll < OPERATIONAL_TREND_RATE:
            return draw_trend(rng)
        if roll < OPERATIONAL_TREND_RATE + OPERATIONAL_BREACH_RATE:
            return Breach(*rng.choice(OPERATIONAL_BREACH_KINDS))
        return None
    if status is Status.DEGRADED:
        if roll < DEGRADED_BREACH_RATE:
            kinds = [kind for kind, _ in DEGRADED_BREACH_KINDS]
            weights = [weight for _, weight in DEGRADED_BREACH_KINDS]
            return Breach(*rng.choices(kinds, weights)[0])
        return None
    for cumulative, kind in DOWN_BREACH_KINDS:
        if roll < cumulative:
            return Breach(*kind)
    return None


def draw_age_days(rng: Random, life_years: int, overdue: bool) -> int:
    """Days since install: ~10 % past expected life, ~15 % at 80-100 % of it, the rest younger."""
    roll = rng.random()
    if roll < PAST_LIFE_RATE:
        years = life_years + rng.uniform(0.15, 4.0)
    elif roll < PAST_LIFE_RATE + NEARING_LIFE_RATE:
        years = life_years * rng.uniform(0.81, 0.99)
    else:
        years = life_years * rng.uniform(0.02, 0.78)
    days = int(years * DAYS_PER_YEAR)
    if overdue and days < OVERDUE_MIN_DAYS + 30:
        # Overdue maintenance needs a device old enough to have missed two years of it.
        lowest = OVERDUE_MIN_DAYS + 30
        days = rng.randint(lowest, max(lowest, int(life_years * 0.78 * DAYS_PER_YEAR)))
    return days


def draw_days_since_maintenance(rng: Random, age_days: int, overdue: bool) -> int:
    if overdue:
        return rng.randint(OVERDUE_MIN_DAYS, min(age_days, OVERDUE_MAX_DAYS))
    return rng.randint(1, min(age_days, RECENT_MAINTENANCE_MAX_DAYS))


def draw_contract_days(rng: Random, age_days: int) -> int:
    """Days from as_of to contract expiry; negative when already expired."""
    roll = rng.random()
    if roll < EXPIRED_CONTRACT_RATE:
        return -rng.randint(1, max(1, min(900, age_days - 1)))
    if roll < EXPIRED_CONTRACT_RATE + EXPIRING_CONTRACT_RATE:
        return rng.randint(1, EXPIRING_MAX_DAYS)
    return rng.randint(*ACTIVE_CONTRACT_DAYS)


def draw_firmware(rng: Random, releases: tuple[str, ...], age_days: int) -> str:
    # Older boxes lag more releases behind: the possible lag grows with age.
    max_lag = min(len(releases) - 1, int(age_days / DAYS_PER_YEAR / 1.5))
    return releases[len(releases) - 1 - rng.randint(0, max_lag)]


def draw_uptime(rng: Random, status: Status, age_days: int, since_maintenance: int) -> int:
    if status is Status.DOWN:
        return 0
    # Most maintenance windows include a reload, so uptime usually dates from the last one.
    limit = min(age_days, since_maintenance) if rng.random() < 0.7 else age_days
    return rng.randint(1, max(1, limit))

def _alert(rng: Random, kind: str, severity: Severity, noon: datetime) -> Record:
    window_us = int(ALERT_WINDOWS[severity].total_seconds() * 1_000_000)
    when = noon - timedelta(microseconds=rng.randrange(60_000_000, window_us))
    return {"type": kind, "severity": severity.value, "timestamp": when.strftime(ALERT_FORMAT)}


def _alert_types(rng: Random, status: Status, anomaly: Anomaly) -> tuple[list[str], Severity]:
    breach_type = METRIC_ALERT_TYPES[anomaly.metric] if isinstance(anomaly, Breach) else None
    if status is Status.DOWN:
        kinds = [rng.choice(DOWN_ALERT_TYPES)]
        if breach_type and breach_type not in kinds:
            kinds.append(breach_type)
        return kinds, Severity.CRITICAL
    if status is Status.DEGRADED:
        kinds = [breach_type or rng.choice(DEGRADED_ALERT_TYPES)]
        if rng.random() < SECOND_DEGRADED_ALERT_RATE:
            extra = rng.choice(DEGRADED_ALERT_TYPES)
            if extra not in kinds:
                kinds.append(extra)
        return kinds, Severity.WARNING
    if rng.random() < INFO_ALERT_RATE:
        return [rng.choice(INFO_ALERT_TYPES)], Severity.INFO
    return [], Severity.INFO


def device_alerts(rng: Random, status: Status, anomaly: Anomaly, noon: datetime) -> list[Record]:
    """Alerts matching the status and readings, newest first."""
    kinds, severity = _alert_types(rng, status, anomaly)
    alerts = [_alert(rng, kind, severity, noon) for kind in kinds]
    # Same-format ISO strings sort chronologically.
    return sorted(alerts, key=lambda alert: alert["timestamp"], reverse=True)


def draw_health_score(rng: Random, status: Status, anomaly: Anomaly) -> float:
    low, high = HEALTH_BANDS[status]
    if anomaly is not None and status is not Status.DOWN:
        high = (low + high) / 2  # a device under strain scores in the lower half of its band
    return round(rng.uniform(low, high), 1)
