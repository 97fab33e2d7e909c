"""Seeded generator for a realistic, internally consistent equipment fleet.

Writes the three documents the maintenance agent reads (inventory, health metrics, life
expectancy). Everything derives from one `random.Random(seed)` and the `as_of` date, never
the clock, so the same arguments always give byte-identical files.

    python -m maintenance_agent.datagen --devices 2000 --seed 7 --out /tmp/fleet
"""

from __future__ import annotations

import argparse
import errno
import gc
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from random import Random
from typing import Any, Final, NamedTuple

import orjson

from .models.fleet import HEALTH_FILE, INVENTORY_FILE, LIFE_FILE
from .store import atomic_write_bytes

DEFAULT_AS_OF: Final = date(2026, 11, 1)
DEFAULT_SITES: Final = 12
DEFAULT_READINGS: Final = 7

LIFE_EXPECTANCY_FILE: Final = LIFE_FILE

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
DEGRADED_BREACH_KINDS: Final = (
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

READING_HOUR: Final = time(12, 0, tzinfo=UTC)
READING_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"
ALERT_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"

# Per-site /16 blocks in 10.0.0.0/8; hosts skip .0 and .255 in the last octet.
HOSTS_PER_BLOCK: Final = 256 * 254
FIRST_SECOND_OCTET: Final = 1
LAST_SECOND_OCTET: Final = 255

SERIAL_ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SERIAL_CODE_LENGTH: Final = 7
SERIAL_SPACE: Final = 36**SERIAL_CODE_LENGTH
# Coprime with 36, so index -> (index * step + offset) mod 36**7 is a bijection: serials are
# unique by construction yet look scattered.
SERIAL_STEP: Final = 2_654_435_761


class EquipmentModel(NamedTuple):
    vendor: str
    model: str
    type: str
    expected_life_years: int
    firmware: tuple[str, ...]  # oldest first
    serial_prefix: str
    weight: int  # relative share of the fleet


class MetricRanges(NamedTuple):
    """Baseline ranges for a healthy device of one equipment type."""

    temperature: tuple[float, float]
    cpu: tuple[float, float]
    memory: tuple[float, float]
    latency: tuple[float, float]


class Site(NamedTuple):
    name: str
    location: str


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

IOS_XR = ("6.5.3", "6.7.4", "7.3.2", "7.5.2", "7.7.2", "7.9.2", "7.11.2", "24.2.1")
IOS_XE = ("16.9.8", "16.12.10", "17.3.8", "17.6.6", "17.9.4", "17.12.3")
NX_OS = ("9.3(8)", "9.3(10)", "9.3(12)", "10.2(6)", "10.3(4a)", "10.4(2)")
JUNOS = ("18.4R3", "19.4R3", "20.4R3", "21.4R3", "22.4R3", "23.4R2")
EOS = ("4.24.2F", "4.26.4M", "4.28.3M", "4.29.2F", "4.30.2F", "4.31.1F", "4.32.1F")
SR_OS = ("19.10.R4", "20.10.R7", "21.10.R3", "22.10.R4", "23.10.R2", "24.3.R1")
PSS = ("R10.1", "R11.0", "R12.0", "R13.1", "R23.6")
CIENA_6500 = ("R11.1", "R12.1", "R12.3", "R13.1", "R14.1")
WAVESERVER = ("1.6.1", "2.1.0", "2.3.3", "2.5.1", "3.1.0")
FORTIOS = ("6.2.12", "6.4.14", "7.0.13", "7.2.8", "7.4.3")
PAN_OS = ("9.1.16", "10.1.11", "10.2.7", "11.0.3", "11.1.2")
AXOS = ("R20.1", "R21.2", "R22.1", "R23.1", "R23.3")
TA5000 = ("10.2.1", "11.3.0", "12.1.2", "12.4.1", "13.2.0")
TMOS = ("14.1.5", "15.1.10", "16.1.4", "17.1.1")
UPS_FIRMWARE = ("2.1.0", "2.4.3", "3.0.1", "3.2.2")

CATALOG: Final = (
    EquipmentModel("Cisco", "ASR 9906", "Core Router", 12, IOS_XR, "FOX", 3),
    EquipmentModel("Cisco", "NCS 5501", "Aggregation Router", 10, IOS_XR, "FOC", 5),
    EquipmentModel("Cisco", "Catalyst 9300-48P", "Access Switch", 7, IOS_XE, "FCW", 14),
    EquipmentModel("Cisco", "Nexus 93180YC-FX", "Data Center Switch", 8, NX_OS, "FDO", 9),
    EquipmentModel("Juniper", "MX960", "Core Router", 12, JUNOS, "JN1", 3),
    EquipmentModel("Juniper", "MX204", "Edge Router", 9, JUNOS, "JN2", 6),
    EquipmentModel("Juniper", "QFX5120-48Y", "Data Center Switch", 8, JUNOS, "WS3", 7),
    EquipmentModel("Arista", "7500R3", "Core Switch", 10, EOS, "JPE", 3),
    EquipmentModel("Arista", "7050CX3-32S", "Data Center Switch", 7, EOS, "SSJ", 8),
    EquipmentModel("Ciena", "6500 T-Series", "Optical Transport System", 15, CIENA_6500, "NNTM", 2),
    EquipmentModel("Ciena", "Waveserver 5", "Optical Transport System", 12, WAVESERVER, "WSV", 2),
    EquipmentModel("Nokia", "7750 SR-7s", "Core Router", 12, SR_OS, "NS7", 2),
    EquipmentModel("Nokia", "7250 IXR-e", "Aggregation Router", 10, SR_OS, "NS2", 4),
    EquipmentModel("Nokia", "1830 PSS-32", "Optical Transport System", 15, PSS, "NS1", 2),
    EquipmentModel("Fortinet", "FortiGate 3000F", "Firewall", 7, FORTIOS, "FG3K", 3),
    EquipmentModel("Palo Alto Networks", "PA-5450", "Firewall", 8, PAN_OS, "0130", 3),
    EquipmentModel("Calix", "E9-2", "OLT (Optical Line Terminal)", 10, AXOS, "CXNK", 5),
    EquipmentModel("Adtran", "Total Access 5000", "Access Node", 12, TA5000, "LBAD", 4),
    EquipmentModel("F5", "BIG-IP i10800", "Load Balancer", 7, TMOS, "F5-", 2),
    EquipmentModel("Eaton", "93PM 100kW", "UPS", 12, UPS_FIRMWARE, "EA93", 2),
)

TYPE_RANGES: Final = {
    "Core Router": MetricRanges((42, 58), (20, 52), (40, 70), (1.0, 6.0)),
    "Edge Router": MetricRanges((38, 55), (15, 50), (35, 68), (2.0, 9.0)),
    "Aggregation Router": MetricRanges((38, 55), (15, 50), (35, 65), (1.5, 8.0)),
    "Core Switch": MetricRanges((38, 55), (10, 45), (30, 60), (0.5, 4.0)),
    "Access Switch": MetricRanges((32, 50), (5, 40), (25, 60), (0.5, 5.0)),
    "Data Center Switch": MetricRanges((36, 55), (10, 45), (30, 62), (0.3, 3.0)),
    "Firewall": MetricRanges((38, 56), (20, 55), (40, 70), (1.0, 8.0)),
    "Optical Transport System": MetricRanges((30, 48), (5, 30), (20, 50), (0.3, 3.0)),
    "OLT (Optical Line Terminal)": MetricRanges((35, 55), (10, 45), (30, 60), (2.0, 9.0)),
    "Access Node": MetricRanges((34, 54), (10, 40), (25, 60), (3.0, 10.0)),
    "Load Balancer": MetricRanges((36, 54), (15, 50), (35, 70), (0.5, 5.0)),
    "UPS": MetricRanges((24, 38), (3, 20), (15, 40), (0.5, 4.0)),
}
PACKET_LOSS_RANGE: Final = (0.0, 0.2)
# Day-to-day noise. Small enough that a flat device seldom fits a slope that would reach a
# threshold within 30 days, so trend detection has few false positives to explain.
JITTER: Final = {
    Metric.TEMPERATURE: 1.0,
    Metric.CPU: 2.5,
    Metric.MEMORY: 1.5,
    Metric.PACKET_LOSS: 0.03,
    Metric.LATENCY: 0.8,
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
# At least 3 units below the threshold and tiny noise, so the rounded newest reading is below
# it; 3-25 days to cross leaves slack for a regression on rounded values to land in 2-30.
TREND_MIN_MARGIN: Final = 3.0
TREND_DAYS_TO_CROSS: Final = (3.0, 25.0)
TREND_JITTER: Final = 0.3
TREND_WINDOW: Final = 14  # the rise starts at most this many readings back

REGIONS: Final = ("EAST", "WEST", "CENTRAL", "SOUTH")
REGION_CITIES: Final = {
    "EAST": ("Ashburn, VA", "Secaucus, NJ", "Boston, MA", "Philadelphia, PA", "Charlotte, NC"),
    "WEST": ("Santa Clara, CA", "Hillsboro, OR", "Phoenix, AZ", "Las Vegas, NV", "Los Angeles, CA"),
    "CENTRAL": ("Chicago, IL", "Denver, CO", "Columbus, OH", "Kansas City, MO", "Omaha, NE"),
    "SOUTH": ("Dallas, TX", "Atlanta, GA", "Miami, FL", "Houston, TX", "Nashville, TN"),
}


@dataclass(frozen=True, slots=True)
class Fleet:
    """The three top-level documents, keyed as in their files."""

    infrastructure_inventory: Record
    health_metrics: Record
    equipment_life_expectancy: Record

    def documents(self) -> dict[str, Record]:
        """File name -> document."""
        return {
            INVENTORY_FILE: self.infrastructure_inventory,
            HEALTH_FILE: self.health_metrics,
            LIFE_EXPECTANCY_FILE: self.equipment_life_expectancy,
        }


@dataclass(frozen=True, slots=True)
class _Clock:
    as_of: date
    noon: datetime  # the newest reading, and the "now" the agent derives from the data
    reading_stamps: tuple[str, ...]  # newest first


def _clock(as_of: date, readings: int) -> _Clock:
    noon = datetime.combine(as_of, READING_HOUR)
    stamps = tuple((noon - timedelta(days=k)).strftime(READING_FORMAT) for k in range(readings))
    return _Clock(as_of, noon, stamps)


def build_sites(count: int) -> list[Site]:
    """Sites interleaved by region: DC-EAST1, DC-WEST1, DC-CENTRAL1, DC-SOUTH1, DC-EAST2, ..."""
    sites = []
    for index in range(count):
        region = REGIONS[index % len(REGIONS)]
        number = index // len(REGIONS) + 1
        cities = REGION_CITIES[region]
        sites.append(Site(f"DC-{region}{number}", cities[(number - 1) % len(cities)]))
    return sites


def site_first_octets(devices_per_site: Sequence[int]) -> list[int]:
    """First second octet of each site's contiguous run of /16 blocks in 10.0.0.0/8."""
    firsts, next_octet = [], FIRST_SECOND_OCTET
    for count in devices_per_site:
        firsts.append(next_octet)
        next_octet += max(1, -(-count // HOSTS_PER_BLOCK))
    if next_octet - 1 > LAST_SECOND_OCTET:
        raise ValueError(
            f"{len(devices_per_site)} sites with {sum(devices_per_site)} devices need "
            f"{next_octet - FIRST_SECOND_OCTET} /16 blocks but 10.0.0.0/8 has "
            f"{LAST_SECOND_OCTET - FIRST_SECOND_OCTET + 1}; use fewer sites or devices"
        )
    return firsts


def ip_address(first_octet: int, host_index: int) -> str:
    """The `host_index`-th address of a site whose blocks start at 10.<first_octet>.0.0."""
    block, within = divmod(host_index, HOSTS_PER_BLOCK)
    third, fourth = divmod(within, 254)
    return f"10.{first_octet + block}.{third}.{fourth + 1}"


def _base36(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, digit = divmod(value, 36)
        digits.append(SERIAL_ALPHABET[digit])
    return "".join(reversed(digits))


def serial_number(prefix: str, manufactured: date, index: int, offset: int) -> str:
    """Vendor prefix, YYWW of manufacture, then a code unique per device index."""
    code = (index * SERIAL_STEP + offset) % SERIAL_SPACE
    iso = manufactured.isocalendar()
    return f"{prefix}{iso.year % 100:02d}{iso.week:02d}{_base36(code, SERIAL_CODE_LENGTH)}"


def _draw_status(rng: Random) -> Status:
    roll, cumulative = rng.random(), 0.0
    for status, weight in STATUS_WEIGHTS:
        cumulative += weight
        if roll < cumulative:
            return status
    return STATUS_WEIGHTS[-1][0]


def _draw_trend(rng: Random) -> Trend:
    metric = rng.choice(TREND_METRICS)
    spec = TREND_SPECS[metric]
    slope = rng.uniform(*spec.slope_per_day)
    shortest = max(TREND_DAYS_TO_CROSS[0], TREND_MIN_MARGIN / slope)
    longest = min(TREND_DAYS_TO_CROSS[1], spec.max_margin / slope)
    days_to_cross = rng.uniform(shortest, longest)
    return Trend(metric, WARNING_THRESHOLD[metric] - slope * days_to_cross, slope)


def _draw_anomaly(rng: Random, status: Status) -> Anomaly:
    roll = rng.random()
    if status is Status.OPERATIONAL:
        if roll < OPERATIONAL_TREND_RATE:
            return _draw_trend(rng)
        if roll < OPERATIONAL_TREND_RATE + OPERATIONAL_BREACH_RATE:
            return Breach(*rng.choice(OPERATIONAL_BREACH_KINDS))
        return None
    if status is Status.DEGRADED:
        if roll < DEGRADED_BREACH_RATE:
            kinds, weights = zip(*DEGRADED_BREACH_KINDS, strict=True)
            return Breach(*rng.choices(kinds, weights)[0])
        return None
    for cumulative, kind in DOWN_BREACH_KINDS:
        if roll < cumulative:
            return Breach(*kind)
    return None


def _draw_age_days(rng: Random, life_years: int, overdue: bool) -> int:
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


def _draw_days_since_maintenance(rng: Random, age_days: int, overdue: bool) -> int:
    if overdue:
        return rng.randint(OVERDUE_MIN_DAYS, min(age_days, OVERDUE_MAX_DAYS))
    return rng.randint(1, min(age_days, RECENT_MAINTENANCE_MAX_DAYS))


def _draw_contract_days(rng: Random, age_days: int) -> int:
    """Days from as_of to contract expiry; negative when already expired."""
    roll = rng.random()
    if roll < EXPIRED_CONTRACT_RATE:
        return -rng.randint(1, max(1, min(900, age_days - 1)))
    if roll < EXPIRED_CONTRACT_RATE + EXPIRING_CONTRACT_RATE:
        return rng.randint(1, EXPIRING_MAX_DAYS)
    return rng.randint(*ACTIVE_CONTRACT_DAYS)


def _draw_firmware(rng: Random, releases: tuple[str, ...], age_days: int) -> str:
    # Older boxes lag more releases behind: the possible lag grows with age.
    max_lag = min(len(releases) - 1, int(age_days / DAYS_PER_YEAR / 1.5))
    return releases[len(releases) - 1 - rng.randint(0, max_lag)]


def _draw_uptime(rng: Random, status: Status, age_days: int, since_maintenance: int) -> int:
    if status is Status.DOWN:
        return 0
    # Most maintenance windows include a reload, so uptime usually dates from the last one.
    limit = min(age_days, since_maintenance) if rng.random() < 0.7 else age_days
    return rng.randint(1, max(1, limit))


def _baselines(rng: Random, equipment_type: str) -> dict[Metric, float]:
    ranges = TYPE_RANGES[equipment_type]
    return {
        Metric.CPU: rng.uniform(*ranges.cpu),
        Metric.MEMORY: rng.uniform(*ranges.memory),
        Metric.TEMPERATURE: rng.uniform(*ranges.temperature),
        Metric.PACKET_LOSS: rng.uniform(*PACKET_LOSS_RANGE),
        Metric.LATENCY: rng.uniform(*ranges.latency),
    }


def _metric_series(
    rng: Random, metric: Metric, baseline: float, anomaly: Anomaly, count: int
) -> list[float]:
    """Raw values for one metric, newest first."""
    draw = rng.random  # bound once: this runs ~3.5 million times for 100k devices
    if isinstance(anomaly, Trend) and anomaly.metric is metric:
        newest, slope = anomaly.newest, anomaly.slope_per_day
        floor = min(baseline, newest - slope * (min(count, TREND_WINDOW) - 1))
        return [
            max(newest - slope * k, floor) - TREND_JITTER + 2 * TREND_JITTER * draw()
            for k in range(count)
        ]
    low, span = baseline - JITTER[metric], 2 * JITTER[metric]
    if isinstance(anomaly, Breach) and anomaly.metric is metric:
        band_low, band_high = BREACH_BANDS[(metric, anomaly.severity)]
        band_span = band_high - band_low
        elevated = rng.randint(1, min(count, MAX_BREACH_DAYS))
        return [
            band_low + band_span * draw() if k < elevated else low + span * draw()
            for k in range(count)
        ]
    return [low + span * draw() for _ in range(count)]


def quantize_series(metric: Metric, values: list[float]) -> list[int] | list[float]:
    """Round as the data is published, clamp to the metric's range, and step off thresholds."""
    thresholds = THRESHOLDS[metric]
    if metric in INTEGER_METRICS:
        upper = 120 if metric is Metric.TEMPERATURE else 100
        numbers: list[Any] = [round(v) for v in values]
        if min(numbers) < 0 or max(numbers) > upper:  # rare: checked per list, not per value
            numbers = [min(max(n, 0), upper) for n in numbers]
        if thresholds.isdisjoint(numbers):
            return numbers
        return [n - 1 if n in thresholds else n for n in numbers]
    # round(v * 100) / 100 gives the same 2-decimal floats as round(v, 2), about twice as fast.
    numbers = [round(v * 100) / 100 if v > 0.0 else 0.0 for v in values]
    if thresholds.isdisjoint(numbers):
        return numbers
    return [round(n - 0.01, 2) if n in thresholds else n for n in numbers]


def _readings(
    rng: Random, equipment_type: str, anomaly: Anomaly, stamps: tuple[str, ...]
) -> list[Record]:
    baselines = _baselines(rng, equipment_type)
    series = {
        metric: quantize_series(metric, _metric_series(rng, metric, base, anomaly, len(stamps)))
        for metric, base in baselines.items()
    }
    cpu, memory, temperature = series[Metric.CPU], series[Metric.MEMORY], series[Metric.TEMPERATURE]
    loss, latency = series[Metric.PACKET_LOSS], series[Metric.LATENCY]
    return [
        {
            "timestamp": stamp,
            "cpu_utilization_percent": cpu[k],
            "memory_utilization_percent": memory[k],
            "temperature_celsius": temperature[k],
            "packet_loss_percent": loss[k],
            "latency_ms": latency[k],
        }
        for k, stamp in enumerate(stamps)
    ]


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


def _alerts(rng: Random, status: Status, anomaly: Anomaly, noon: datetime) -> list[Record]:
    """Alerts matching the status and readings, newest first."""
    kinds, severity = _alert_types(rng, status, anomaly)
    alerts = [_alert(rng, kind, severity, noon) for kind in kinds]
    # Same-format ISO strings sort chronologically.
    return sorted(alerts, key=lambda alert: alert["timestamp"], reverse=True)


def _health_score(rng: Random, status: Status, anomaly: Anomaly) -> float:
    low, high = HEALTH_BANDS[status]
    if anomaly is not None and status is not Status.DOWN:
        high = (low + high) / 2  # a device under strain scores in the lower half of its band
    return round(rng.uniform(low, high), 1)


def _device(
    rng: Random,
    clock: _Clock,
    index: int,
    site: Site,
    ip: str,
    model: EquipmentModel,
    serial_offset: int,
) -> tuple[Record, Record]:
    """One device's inventory record and health record."""
    status = _draw_status(rng)
    anomaly = _draw_anomaly(rng, status)
    overdue = rng.random() < OVERDUE_MAINTENANCE_RATE
    age_days = _draw_age_days(rng, model.expected_life_years, overdue)
    since_maintenance = _draw_days_since_maintenance(rng, age_days, overdue)
    install = clock.as_of - timedelta(days=age_days)
    readings = _readings(rng, model.type, anomaly, clock.reading_stamps)
    newest = readings[0]
    equipment_id = f"EQ-{10001 + index}"
    inventory = {
        "id": equipment_id,
        "vendor": model.vendor,
        "model": model.model,
        "type": model.type,
        "serial_number": serial_number(model.serial_prefix, install, index, serial_offset),
        "site": site.name,
        "location": site.location,
        "ip_address": ip,
        "firmware_version": _draw_firmware(rng, model.firmware, age_days),
        "install_date": install.isoformat(),
        "last_maintenance": (clock.as_of - timedelta(days=since_maintenance)).isoformat(),
        "status": status.value,
        "temperature_celsius": newest["temperature_celsius"],
        "cpu_utilization_percent": newest["cpu_utilization_percent"],
        "memory_utilization_percent": newest["memory_utilization_percent"],
        "uptime_days": _draw_uptime(rng, status, age_days, since_maintenance),
        "maintenance_contract_expiry": (
            clock.as_of + timedelta(days=_draw_contract_days(rng, age_days))
        ).isoformat(),
        "alerts": _alerts(rng, status, anomaly, clock.noon),
    }
    health = {
        "equipment_id": equipment_id,
        "site": site.name,
        "status": status.value,
        "health_score": _health_score(rng, status, anomaly),
        "recent_readings": readings,
    }
    return inventory, health


def life_expectancy_document() -> Record:
    """Expected life of every catalog model (a superset of the models in any fleet)."""
    return {
        "equipment_life_expectancy": [
            {
                "vendor": m.vendor,
                "model": m.model,
                "type": m.type,
                "expected_life_years": m.expected_life_years,
            }
            for m in CATALOG
        ]
    }


def _validate(devices: int, as_of: date, sites: int, readings: int) -> None:
    for name, value in (("devices", devices), ("sites", sites), ("readings", readings)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    # Install dates reach ~20 years back and contracts 4 years ahead.
    if not 1970 <= as_of.year <= 9000:
        raise ValueError(f"as_of must be between 1970 and 9000, got {as_of.isoformat()}")


def generate_fleet(
    devices: int,
    seed: int,
    as_of: date = DEFAULT_AS_OF,
    sites: int = DEFAULT_SITES,
    readings: int = DEFAULT_READINGS,
) -> Fleet:
    """Build a fleet of `devices`; the same arguments always give the same fleet."""
    _validate(devices, as_of, sites, readings)
    # Random() seeds from abs(seed), so 5 and -5 would collide; zigzag keeps every int distinct.
    rng = Random(seed * 2 if seed >= 0 else -seed * 2 - 1)
    site_list = build_sites(sites)
    site_weights = [rng.uniform(0.6, 1.4) for _ in site_list]  # real sites differ in size
    site_of = rng.choices(range(sites), weights=site_weights, k=devices)
    per_site = [0] * sites
    for site_index in site_of:
        per_site[site_index] += 1
    first_octets = site_first_octets(per_site)
    models = rng.choices(CATALOG, weights=[m.weight for m in CATALOG], k=devices)
    serial_offset = rng.randrange(SERIAL_SPACE)
    clock = _clock(as_of, readings)

    hosts_used = [0] * sites
    inventory, health = [], []
    for index, (site_index, model) in enumerate(zip(site_of, models, strict=True)):
        ip = ip_address(first_octets[site_index], hosts_used[site_index])
        hosts_used[site_index] += 1
        record, metrics = _device(
            rng, clock, index, site_list[site_index], ip, model, serial_offset
        )
        inventory.append(record)
        health.append(metrics)
    return Fleet(
        infrastructure_inventory={"infrastructure_inventory": inventory},
        health_metrics={"health_metrics": health},
        equipment_life_expectancy=life_expectancy_document(),
    )


def write_fleet(fleet: Fleet, out_dir: Path) -> None:
    """Write the three files into `out_dir` (created if missing), each atomically."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a directory", str(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, document in fleet.documents().items():
        payload = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
        atomic_write_bytes(out_dir / name, payload)
        del payload  # the health document alone serialises to ~200 MB at 100k devices


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m maintenance_agent.datagen",
        description=(
            f"Generate a seeded, internally consistent equipment fleet: writes {INVENTORY_FILE}, "
            f"{HEALTH_FILE} and {LIFE_EXPECTANCY_FILE} into OUT. The same arguments always "
            "produce byte-identical files."
        ),
    )
    parser.add_argument(
        "--devices", type=_positive_int, required=True, help="number of devices (>= 1)"
    )
    parser.add_argument("--seed", type=int, required=True, help="random seed (integer)")
    parser.add_argument(
        "--out", type=Path, required=True, help="output directory (created if missing)"
    )
    parser.add_argument(
        "--as-of",
        type=_iso_date,
        default=DEFAULT_AS_OF,
        help=f"date of the newest reading, YYYY-MM-DD (default {DEFAULT_AS_OF.isoformat()})",
    )
    parser.add_argument(
        "--sites",
        type=_positive_int,
        default=DEFAULT_SITES,
        help=f"number of sites, DC-EAST1, DC-WEST1, ... (default {DEFAULT_SITES})",
    )
    parser.add_argument(
        "--readings",
        type=_positive_int,
        default=DEFAULT_READINGS,
        help=f"daily readings per device, newest at AS_OF 12:00Z (default {DEFAULT_READINGS})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for user errors, printed as one line)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # The fleet is millions of acyclic containers: cyclic GC passes over them find nothing and
    # cost ~10 % of the run. Only the short-lived CLI process does this, never the library call.
    gc.disable()
    try:
        fleet = generate_fleet(args.devices, args.seed, args.as_of, args.sites, args.readings)
    except ValueError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        gc.enable()
    try:
        write_fleet(fleet, args.out)
    except OSError as exc:  # a user error (bad path, permissions), not a bug: no traceback
        reason = exc.strerror or str(exc)
        print(f"{parser.prog}: error: cannot write to {args.out}: {reason}", file=sys.stderr)
        return 2
    print(f"wrote {args.devices} devices ({args.sites} sites) to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
