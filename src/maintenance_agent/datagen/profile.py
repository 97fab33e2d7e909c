"""The scenario mix of a generated fleet: statuses, metrics, thresholds, rates and bands.

Every rate and band here is chosen so the agent's rules have a known share of each case to find.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any, Final, NamedTuple

Record = dict[str, Any]


class Status(StrEnum):
    OPERATIONAL = "Operational"
    DEGRADED = "Degraded"
    DOWN = "Down"


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class Metric(StrEnum):
    """Reading metrics; values are the JSON keys."""

    CPU = "cpu_utilization_percent"
    MEMORY = "memory_utilization_percent"
    TEMPERATURE = "temperature_celsius"
    PACKET_LOSS = "packet_loss_percent"
    LATENCY = "latency_ms"


INTEGER_METRICS: Final = frozenset({Metric.CPU, Metric.MEMORY, Metric.TEMPERATURE})

# The agent's default thresholds (CPU and memory also have a critical level at 95). A reading
# exactly on one is a deliberate edge case owned by the rule tests, so generated values must
# never land on these by accident.
THRESHOLDS: Final[dict[Metric, frozenset[float]]] = {
    Metric.TEMPERATURE: frozenset({70, 75}),
    Metric.CPU: frozenset({80, 95}),
    Metric.MEMORY: frozenset({85, 95}),
    Metric.PACKET_LOSS: frozenset({0.5, 2.0}),
    Metric.LATENCY: frozenset({15.0, 20.0}),
}
WARNING_THRESHOLD: Final[dict[Metric, float]] = {
    Metric.TEMPERATURE: 70,
    Metric.CPU: 80,
    Metric.MEMORY: 85,
    Metric.PACKET_LOSS: 0.5,
    Metric.LATENCY: 15.0,
}

# Breach bands sit strictly inside a threshold interval, with room for rounding, so a breach
# is unambiguous (warning bands stay below the critical threshold).
BREACH_BANDS: Final[dict[tuple[Metric, Severity], tuple[float, float]]] = {
    (Metric.TEMPERATURE, Severity.WARNING): (70.6, 74.4),
    (Metric.TEMPERATURE, Severity.CRITICAL): (75.6, 88.0),
    (Metric.CPU, Severity.WARNING): (80.6, 94.4),
    (Metric.CPU, Severity.CRITICAL): (95.6, 99.4),
    (Metric.MEMORY, Severity.WARNING): (85.6, 94.4),
    (Metric.MEMORY, Severity.CRITICAL): (95.6, 99.4),
    (Metric.PACKET_LOSS, Severity.WARNING): (0.55, 1.95),
    (Metric.PACKET_LOSS, Severity.CRITICAL): (2.05, 9.5),
    (Metric.LATENCY, Severity.WARNING): (15.2, 19.8),
    (Metric.LATENCY, Severity.CRITICAL): (20.2, 48.0),
}
MAX_BREACH_DAYS: Final = 4
MIN_BREACH_DAYS: Final = 2  # a breach is confirmed by the reading before it (Rules.breach_confirm_readings)

STATUS_WEIGHTS: Final = ((Status.OPERATIONAL, 0.75), (Status.DEGRADED, 0.17), (Status.DOWN, 0.08))
HEALTH_BANDS: Final = {
    Status.OPERATIONAL: (76.0, 99.5),
    Status.DEGRADED: (45.5, 74.5),
    Status.DOWN: (5.0, 39.5),
}

# Rates chosen so that about 10 % of all devices breach a threshold in the newest reading:
# 17 % degraded x 35 % + 8 % down x 47 % + 75 % operational x 1 % = 10.5 %.
OPERATIONAL_TREND_RATE: Final = 0.10
OPERATIONAL_BREACH_RATE: Final = 0.01
DEGRADED_BREACH_RATE: Final = 0.35
OPERATIONAL_BREACH_KINDS: Final = (
    (Metric.TEMPERATURE, Severity.WARNING),
    (Metric.LATENCY, Severity.WARNING),
    (Metric.PACKET_LOSS, Severity.WARNING),
    (Metric.CPU, Severity.WARNING),
)
DEGRADED_BREACH_KINDS: Final[tuple[tuple[tuple[Metric, Severity], int], ...]] = (
    ((Metric.TEMPERATURE, Severity.WARNING), 3),
    ((Metric.CPU, Severity.WARNING), 2),
    ((Metric.MEMORY, Severity.WARNING), 2),
    ((Metric.PACKET_LOSS, Severity.WARNING), 2),
    ((Metric.LATENCY, Severity.WARNING), 2),
)
DOWN_BREACH_KINDS: Final = (  # cumulative probability, kind
    (0.30, (Metric.TEMPERATURE, Severity.CRITICAL)),
    (0.38, (Metric.PACKET_LOSS, Severity.CRITICAL)),
    (0.42, (Metric.LATENCY, Severity.CRITICAL)),
    (0.45, (Metric.CPU, Severity.CRITICAL)),
    (0.47, (Metric.MEMORY, Severity.CRITICAL)),
)

METRIC_ALERT_TYPES: Final = {
    Metric.TEMPERATURE: "High Temperature",
    Metric.CPU: "High CPU",
    Metric.MEMORY: "High Memory",
    Metric.PACKET_LOSS: "Packet Loss",
    Metric.LATENCY: "High Latency",
}
DOWN_ALERT_TYPES: Final = ("Status Alert", "Hardware Fault", "Power Supply Failure", "Link Down")
# Deliberately not metric-named: a degraded device only gets "High CPU" when its CPU is high.
DEGRADED_ALERT_TYPES: Final = (
    "Fan Speed",
    "Power Supply Redundancy Lost",
    "Interface Errors",
    "Optical Power Low",
)
INFO_ALERT_TYPES: Final = (
    "Configuration Change",
    "Firmware Update Available",
    "Interface Flap Cleared",
    "Scheduled Reboot Completed",
)
INFO_ALERT_RATE: Final = 0.05
SECOND_DEGRADED_ALERT_RATE: Final = 0.20
ALERT_WINDOWS: Final = {
    Severity.CRITICAL: timedelta(hours=47),  # inside "the last 2 days" with margin
    Severity.WARNING: timedelta(days=6),
    Severity.INFO: timedelta(days=20),
}

DAYS_PER_YEAR: Final = 365.25
PAST_LIFE_RATE: Final = 0.10
NEARING_LIFE_RATE: Final = 0.15
OVERDUE_MAINTENANCE_RATE: Final = 0.15
# Margins of a month keep "more than two years" unambiguous whichever way years are counted.
OVERDUE_MIN_DAYS: Final = 2 * 365 + 30
RECENT_MAINTENANCE_MAX_DAYS: Final = 2 * 365 - 30
OVERDUE_MAX_DAYS: Final = 6 * 365
EXPIRED_CONTRACT_RATE: Final = 0.10
EXPIRING_CONTRACT_RATE: Final = 0.10
EXPIRING_MAX_DAYS: Final = 88  # "within 90 days", away from the boundary
ACTIVE_CONTRACT_DAYS: Final = (95, 4 * 365)

# Day-to-day noise, as real telemetry carries it: healthy readings wander by up to this much around
# their steady value (CPU and memory +-2 points, temperature +-1 degC, latency +-1 ms, loss +-0.05
# points). Rising trends carry the same noise: the agent's trend test must tell them apart.
JITTER: Final = {
    Metric.TEMPERATURE: 1.0,
    Metric.CPU: 2.0,
    Metric.MEMORY: 2.0,
    Metric.PACKET_LOSS: 0.05,
    Metric.LATENCY: 1.0,
}


class TrendSpec(NamedTuple):
    slope_per_day: tuple[float, float]
    max_margin: float  # how far below the threshold the newest reading may start


TREND_SPECS: Final = {
    Metric.TEMPERATURE: TrendSpec((0.8, 2.0), 16.0),
    Metric.CPU: TrendSpec((1.5, 4.0), 30.0),
    Metric.MEMORY: TrendSpec((1.0, 3.0), 25.0),
}
TREND_METRICS: Final = tuple(TREND_SPECS)
# At least 5 units below the threshold, more than the noise, so the rounded newest reading is below
# it; 3-20 days to cross leaves slack for the breach projected from the slope's lower confidence
# bound on noisy, rounded values to land inside the 30-day horizon.
TREND_MIN_MARGIN: Final = 5.0
TREND_DAYS_TO_CROSS: Final = (3.0, 20.0)
TREND_WINDOW: Final = 14  # the rise starts at most this many readings back
