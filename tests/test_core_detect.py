"""Detection rules, thresholds, trends, health states and the analysis time (pure core)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from helpers.fleet_builders import (
    AS_OF,
    MODEL,
    RULES,
    TODAY,
    VENDOR,
    alert,
    assess,
    date_offset,
    days_ago,
    findings_of,
    health,
    inventory,
    kinds,
    only,
    reading,
    run_detect,
    series,
)
from maintenance_agent.core.firmware import firmware_baseline, version_key
from maintenance_agent.core.health import raw_health_state, site_health, smooth_state
from maintenance_agent.core.timeframe import analysis_time, time_frame
from maintenance_agent.core.trends import fit_trend
from maintenance_agent.models.core import (
    DeviceHealth,
    Evidence,
    Finding,
    FindingKind,
    HealthState,
    Severity,
    SiteHealth,
)
from maintenance_agent.models.fleet import Alert
from maintenance_agent.models.rules import METRICS, Rules

K = FindingKind
LIFE5 = {(VENDOR, MODEL): 5.0}
NO_FLOOR = Rules(trend_noise_floor=dict.fromkeys(METRICS, 0.0))
"""The trend test on the readings' own spread alone, so hand-computed figures stay exact."""


def twice(**metrics: float) -> list[Any]:
    """The same values in the newest two readings: a confirmed breach (Rules.breach_confirm_readings)."""
    return [reading(days_ago(1), **metrics), reading(AS_OF, **metrics)]

# ------------------------------------------------------------------------------------------------
# every finding kind: one positive case each


POSITIVE_CASES: list[tuple[FindingKind, dict[str, Any], list[Any], dict[tuple[str, str], float], Severity,
                           str, Any, Any]] = [
    # kind, inventory fields, readings, life years, severity, evidence metric, value, threshold
    (K.DEVICE_DOWN, {"status": "Down"}, [], {}, Severity.CRITICAL, "status", "Down", "Operational"),
    (K.DEVICE_DEGRADED, {"status": "Degraded"}, [], {}, Severity.WARNING, "status", "Degraded", "Operational"),
    (K.CRITICAL_ALERT, {"alerts": [alert("Fan failure"), alert("PSU fault"), alert("Fan failure")]}, [], {},
     Severity.CRITICAL, "alerts", "Fan failure, PSU fault", "no critical alerts"),
    (K.WARNING_ALERT, {"live_alerts": [alert("Link flapping", "warning"), alert("Disk filling", "warning")]}, [],
     {}, Severity.WARNING, "alerts", "Disk filling, Link flapping", "no warning alerts"),
    (K.HIGH_TEMPERATURE, {}, twice(temperature_celsius=72), {}, Severity.WARNING,
     "temperature_celsius", 72.0, 70),
    (K.HIGH_CPU, {}, twice(cpu_utilization_percent=85), {}, Severity.WARNING,
     "cpu_utilization_percent", 85.0, 80),
    (K.HIGH_MEMORY, {}, twice(memory_utilization_percent=90), {}, Severity.WARNING,
     "memory_utilization_percent", 90.0, 85),
    (K.PACKET_LOSS, {}, twice(packet_loss_percent=1.0), {}, Severity.WARNING,
     "packet_loss_percent", 1.0, 0.5),
    (K.HIGH_LATENCY, {}, twice(latency_ms=17.5), {}, Severity.WARNING, "latency_ms", 17.5, 15),
    (K.RISING_TREND, {}, series("cpu_utilization_percent", [50, 53, 54, 57, 58, 60]), {}, Severity.INFO,
     "cpu_utilization_percent", 60.0, 80),
    # 1827 days / 365.25 = 5.002 years, past a 5-year life
    (K.END_OF_LIFE, {"install_date": date_offset(-1827)}, [], LIFE5, Severity.WARNING, "age_years", 5.0, 5.0),
    # 1500 days = 4.107 years, past 80 % (4.0 years) of a 5-year life
    (K.NEARING_END_OF_LIFE, {"install_date": date_offset(-1500)}, [], LIFE5, Severity.INFO, "age_years", 4.11, 4.0),
    (K.CONTRACT_EXPIRED, {"maintenance_contract_expiry": date_offset(-10)}, [], {}, Severity.WARNING,
     "maintenance_contract_expiry", date_offset(-10).isoformat(), TODAY.isoformat()),
    (K.CONTRACT_EXPIRING, {"maintenance_contract_expiry": date_offset(60)}, [], {}, Severity.INFO,
     "maintenance_contract_expiry", date_offset(60).isoformat(), "90 days"),
    (K.MAINTENANCE_OVERDUE, {"last_maintenance": date_offset(-800)}, [], {}, Severity.INFO,
     "last_maintenance", date_offset(-800).isoformat(), "730 days"),
]  # fmt: skip


def test_positive_cases_cover_every_finding_kind() -> None:
    assert sorted(case[0] for case in POSITIVE_CASES) == sorted(FindingKind)


@pytest.mark.parametrize(("kind", "fields", "readings", "life", "severity", "metric", "value", "threshold"),
                         POSITIVE_CASES, ids=[c[0].value for c in POSITIVE_CASES])
def test_each_finding_kind_is_detected_alone_with_its_evidence(
    kind: FindingKind, fields: dict[str, Any], readings: list[Any], life: dict[tuple[str, str], float],
    severity: Severity, metric: str, value: Any, threshold: Any,
) -> None:
    fields = dict(fields)
    live = [Alert.model_validate(a) for a in fields.pop("live_alerts", ())]
    findings = findings_of(inventory(**fields), health(readings=readings) if readings else None, life=life,
                           live_alerts=live)

    assert kinds(findings) == [kind]
    f = findings[0]
    assert (f.equipment_id, f.site, f.severity) == ("D1", "SITE-A", severity)
    assert (f.evidence.metric, f.evidence.value, f.evidence.threshold) == (metric, value, threshold)
    assert 0 < f.confidence <= 1
    assert f.key == f"D1:{kind}:{metric}"


def test_rising_trend_reports_metric_slope_and_projected_days() -> None:
    # Least squares by hand for days 0..5, values 50 53 54 57 58 60: mean x 2.5, mean y 55.33,
    # Sxx = 17.5, Sxy = 34 -> slope 1.942857/day; the line reads 60.19 at day 5. Residual SS
    # = Syy - slope * Sxy = 67.33 - 66.06 = 1.276, s = sqrt(1.276 / 4) = 0.5648, SE = s / sqrt(17.5)
    # = 0.13503; t(0.80, 4) = 0.94096 (Rules.trend_projection_confidence) -> lower bound
    # 1.942857 - 0.12706 = 1.81580/day. From 60.19 to the warning threshold 80 at it: 10.91 days.
    findings = findings_of(inventory(), health(readings=series("cpu_utilization_percent", [50, 53, 54, 57, 58, 60])),
                           rules=NO_FLOOR)

    trend = only(findings, K.RISING_TREND)
    assert trend.evidence == Evidence(metric="cpu_utilization_percent", value=60.0, threshold=80, unit="%",
                                      observed_at=AS_OF, projected_days_to_breach=10.9, slope_per_day=1.943)
    assert trend.severity is Severity.INFO  # more than trend_urgent_days (7) away
    assert trend.confidence == 1.0  # (1 - p) * min(1, 6 readings / 6), p = 7e-5
    assert "10.9 days" in trend.message and "at least +1.82 with 80% confidence" in trend.message


def test_healthy_device_has_no_findings() -> None:
    readings = [reading(days_ago(d), temperature_celsius=45, cpu_utilization_percent=30, memory_utilization_percent=40,
                        packet_loss_percent=0.0, latency_ms=3.0) for d in (3, 2, 1, 0)]
    assert findings_of(inventory(), health(readings=readings, status="Operational"), life=LIFE5) == []


NEGATIVE_CASES: list[tuple[str, FindingKind, dict[str, Any], list[Any], dict[tuple[str, str], float]]] = [
    ("operational-is-not-down", K.DEVICE_DOWN, {"status": "Operational"}, [], {}),
    ("maintenance-status-is-not-degraded", K.DEVICE_DEGRADED, {"status": "Maintenance"}, [], {}),
    ("warning-alert-is-not-critical", K.CRITICAL_ALERT, {"alerts": [alert("Fan failure", "warning")]}, [], {}),
    ("info-alert-is-no-warning", K.WARNING_ALERT, {"live_alerts": [alert("Config saved", "info")]}, [], {}),
    ("inventory-warning-alert-is-history", K.WARNING_ALERT, {"alerts": [alert("Fan speed", "warning")]}, [], {}),
    ("temperature-at-warning", K.HIGH_TEMPERATURE, {}, [reading(AS_OF, temperature_celsius=70)], {}),
    ("cpu-at-warning", K.HIGH_CPU, {}, [reading(AS_OF, cpu_utilization_percent=80)], {}),
    ("memory-at-warning", K.HIGH_MEMORY, {}, [reading(AS_OF, memory_utilization_percent=85)], {}),
    ("loss-at-warning", K.PACKET_LOSS, {}, [reading(AS_OF, packet_loss_percent=0.5)], {}),
    ("latency-at-warning", K.HIGH_LATENCY, {}, [reading(AS_OF, latency_ms=15)], {}),
    ("flat-series", K.RISING_TREND, {}, series("cpu_utilization_percent", [60] * 6), {}),
    ("no-life-expectancy-for-model", K.END_OF_LIFE, {"install_date": date_offset(-30 * 365)}, [], {}),
    ("young-device", K.NEARING_END_OF_LIFE, {"install_date": date_offset(-365)}, [], LIFE5),
    ("contract-valid-today", K.CONTRACT_EXPIRED, {"maintenance_contract_expiry": TODAY}, [], {}),
    ("contract-far-ahead", K.CONTRACT_EXPIRING, {"maintenance_contract_expiry": date_offset(400)}, [], {}),
    ("maintained-recently", K.MAINTENANCE_OVERDUE, {"last_maintenance": date_offset(-30)}, [], {}),
]  # fmt: skip


@pytest.mark.parametrize(("case", "kind", "fields", "readings", "life"), NEGATIVE_CASES,
                         ids=[c[0] for c in NEGATIVE_CASES])
def test_negative_case_does_not_produce_the_finding(
    case: str, kind: FindingKind, fields: dict[str, Any], readings: list[Any], life: dict[tuple[str, str], float],
) -> None:
    fields = dict(fields)
    live = [Alert.model_validate(a) for a in fields.pop("live_alerts", ())]
    findings = findings_of(inventory(**fields), health(readings=readings) if readings else None, life=life,
                           live_alerts=live)
    assert kind not in kinds(findings), case


# ------------------------------------------------------------------------------------------------
# metric threshold edges (a breach is strictly above the threshold)

METRIC_EDGES = [
    # metric, kind, value, expected severity (None: no finding), evidence threshold
    ("temperature_celsius", K.HIGH_TEMPERATURE, 69.9, None, None),
    ("temperature_celsius", K.HIGH_TEMPERATURE, 70, None, None),
    ("temperature_celsius", K.HIGH_TEMPERATURE, 70.1, Severity.WARNING, 70),
    ("temperature_celsius", K.HIGH_TEMPERATURE, 75, Severity.WARNING, 70),
    ("temperature_celsius", K.HIGH_TEMPERATURE, 75.1, Severity.CRITICAL, 75),
    ("cpu_utilization_percent", K.HIGH_CPU, 80, None, None),
    ("cpu_utilization_percent", K.HIGH_CPU, 80.1, Severity.WARNING, 80),
    ("cpu_utilization_percent", K.HIGH_CPU, 90, Severity.WARNING, 80),
    ("cpu_utilization_percent", K.HIGH_CPU, 95, Severity.WARNING, 80),
    ("cpu_utilization_percent", K.HIGH_CPU, 95.1, Severity.CRITICAL, 95),
    ("memory_utilization_percent", K.HIGH_MEMORY, 85, None, None),
    ("memory_utilization_percent", K.HIGH_MEMORY, 85.1, Severity.WARNING, 85),
    ("memory_utilization_percent", K.HIGH_MEMORY, 95, Severity.WARNING, 85),
    ("memory_utilization_percent", K.HIGH_MEMORY, 95.1, Severity.CRITICAL, 95),
    ("packet_loss_percent", K.PACKET_LOSS, 0.5, None, None),
    ("packet_loss_percent", K.PACKET_LOSS, 0.51, Severity.WARNING, 0.5),
    ("packet_loss_percent", K.PACKET_LOSS, 2, Severity.WARNING, 0.5),
    ("packet_loss_percent", K.PACKET_LOSS, 2.01, Severity.CRITICAL, 2),
    ("latency_ms", K.HIGH_LATENCY, 15, None, None),
    ("latency_ms", K.HIGH_LATENCY, 15.1, Severity.WARNING, 15),
    ("latency_ms", K.HIGH_LATENCY, 20, Severity.WARNING, 15),
    ("latency_ms", K.HIGH_LATENCY, 20.1, Severity.CRITICAL, 20),
]


@pytest.mark.parametrize(("metric", "kind", "value", "severity", "threshold"), METRIC_EDGES,
                         ids=[f"{m}={v}" for m, _, v, _, _ in METRIC_EDGES])
def test_metric_threshold_edges_from_readings(
    metric: str, kind: FindingKind, value: float, severity: Severity | None, threshold: float | None
) -> None:
    findings = findings_of(inventory(), health(readings=twice(**{metric: value})))
    if severity is None:
        assert findings == []
        return
    f = only(findings, kind)
    assert (f.severity, f.evidence.value, f.evidence.threshold) == (severity, float(value), threshold)
    assert f.evidence.observed_at == AS_OF
    assert f.confidence == 1.0  # the reading before confirms the breach


@pytest.mark.parametrize(("metric", "kind", "value", "severity", "threshold"), METRIC_EDGES,
                         ids=[f"{m}={v}" for m, _, v, _, _ in METRIC_EDGES])
def test_a_single_reading_over_warning_is_info_until_confirmed(
    metric: str, kind: FindingKind, value: float, severity: Severity | None, threshold: float | None
) -> None:
    findings = findings_of(inventory(), health(readings=[reading(days_ago(1), **{metric: 0}),
                                                         reading(AS_OF, **{metric: value})]))
    if severity is None:
        assert findings == []
        return
    f = only(findings, kind)
    expected = Severity.INFO if severity is Severity.WARNING else severity  # critical needs no confirmation
    assert (f.severity, f.evidence.value, f.evidence.threshold) == (expected, float(value), threshold)
    assert f.confidence == 0.85
    assert ("not confirmed: 1 reading over it, 2 in a row required" in f.message) == (expected is Severity.INFO)


SNAPSHOT_EDGES = [e for e in METRIC_EDGES if e[0] in ("temperature_celsius", "cpu_utilization_percent",
                                                        "memory_utilization_percent")]


@pytest.mark.parametrize(("metric", "kind", "value", "severity", "threshold"), SNAPSHOT_EDGES,
                         ids=[f"{m}={v}" for m, _, v, _, _ in SNAPSHOT_EDGES])
def test_metric_threshold_edges_from_inventory_snapshot(
    metric: str, kind: FindingKind, value: float, severity: Severity | None, threshold: float | None
) -> None:
    findings = findings_of(inventory(**{metric: value}))
    if severity is None:
        assert findings == []
        return
    f = only(findings, kind)
    expected = Severity.INFO if severity is Severity.WARNING else severity  # a snapshot is one reading
    assert (f.severity, f.evidence.value, f.evidence.threshold) == (expected, float(value), threshold)
    assert f.evidence.observed_at is None
    assert f.confidence == 0.8


@pytest.mark.parametrize(("readings", "confidence"), [
    ([reading(AS_OF, cpu_utilization_percent=90)], 0.85),
    ([reading(days_ago(1), cpu_utilization_percent=70), reading(AS_OF, cpu_utilization_percent=90)], 0.85),
    ([reading(days_ago(1), cpu_utilization_percent=85), reading(AS_OF, cpu_utilization_percent=90)], 1.0),
    ([reading(days_ago(4), cpu_utilization_percent=85), reading(days_ago(3), cpu_utilization_percent=90)], 0.7),
], ids=["single", "previous-below", "confirmed", "stale"])
def test_threshold_finding_confidence(readings: list[Any], confidence: float) -> None:
    f = only(findings_of(inventory(), health(readings=readings)), K.HIGH_CPU)
    assert f.confidence == confidence


@pytest.mark.parametrize(("status", "health_status", "kind", "confidence"), [
    ("Down", None, K.DEVICE_DOWN, 1.0),
    ("Down", "down", K.DEVICE_DOWN, 1.0),
    ("Down", "Operational", K.DEVICE_DOWN, 0.85),
    ("Degraded", "Degraded", K.DEVICE_DEGRADED, 1.0),
    ("degraded", "Operational", K.DEVICE_DEGRADED, 0.85),
])
def test_status_finding_confidence_drops_when_health_file_disagrees(
    status: str, health_status: str | None, kind: FindingKind, confidence: float
) -> None:
    f = only(findings_of(inventory(status=status), health(status=health_status)), kind)
    assert f.confidence == confidence


# ------------------------------------------------------------------------------------------------
# date rule edges


@pytest.mark.parametrize(("days_left", "kind", "severity"), [
    (91, None, None),
    (90, K.CONTRACT_EXPIRING, Severity.INFO),
    (31, K.CONTRACT_EXPIRING, Severity.INFO),
    (30, K.CONTRACT_EXPIRING, Severity.WARNING),
    (0, K.CONTRACT_EXPIRING, Severity.WARNING),  # expires today: still valid today
    (-1, K.CONTRACT_EXPIRED, Severity.WARNING),  # expired yesterday
])
def test_contract_expiry_edges(days_left: int, kind: FindingKind | None, severity: Severity | None) -> None:
    findings = findings_of(inventory(maintenance_contract_expiry=date_offset(days_left)))
    if kind is None:
        assert findings == []
    else:
        assert [(f.kind, f.severity) for f in findings] == [(kind, severity)]


@pytest.mark.parametrize(("days_since", "overdue"), [(730, False), (731, True)])
def test_maintenance_overdue_edge(days_since: int, overdue: bool) -> None:
    findings = findings_of(inventory(last_maintenance=date_offset(-days_since)))
    assert kinds(findings) == ([K.MAINTENANCE_OVERDUE] if overdue else [])
    if overdue:
        assert findings[0].message == f"no maintenance for 731 days (since {date_offset(-731)})"


@pytest.mark.parametrize(("life_years", "age_days", "expected_kinds", "value"), [
    # 4 years of 365.25 days are exactly 1461 days: at the expected age, not past it
    (4, 1461, [K.NEARING_END_OF_LIFE], 4.0),
    (4, 1462, [K.END_OF_LIFE], 4.0),
    # 80 % of 10 years is 8 years = 2922 days exactly: not yet nearing
    (10, 2922, [], None),
    (10, 2923, [K.NEARING_END_OF_LIFE], 8.0),
], ids=["eol-exactly-at-age", "eol-one-day-past", "nearing-exactly-80pc", "nearing-one-day-past"])
def test_end_of_life_edges(life_years: float, age_days: int, expected_kinds: list[FindingKind],
                           value: float | None) -> None:
    findings = findings_of(inventory(install_date=date_offset(-age_days)), life={(VENDOR, MODEL): life_years})
    assert kinds(findings) == expected_kinds
    if value is not None:
        assert findings[0].evidence.value == value


@pytest.mark.parametrize(("alert_at", "found", "confidence"), [
    (AS_OF, True, 1.0),
    (days_ago(7), True, 1.0),
    (days_ago(8), True, 0.8),
    (days_ago(30), True, 0.8),  # exactly the maximum age: still current
    (days_ago(30) - timedelta(seconds=1), False, None),
    (days_ago(400), False, None),
    (AS_OF + timedelta(hours=1), False, None),  # after the analysis time
    (None, True, 1.0),  # undated alerts count as current
], ids=["now", "7d", "8d", "30d", "30d+1s", "400d", "future", "undated"])
def test_critical_alert_age_window(alert_at: datetime | None, found: bool, confidence: float | None) -> None:
    findings = findings_of(inventory(alerts=[alert("Fan failure", "Critical", alert_at)]))
    if not found:
        assert findings == []
        return
    f = only(findings, K.CRITICAL_ALERT)
    assert (f.confidence, f.evidence.observed_at) == (confidence, alert_at)


def test_old_critical_alert_is_kept_in_facts_but_not_as_critical() -> None:
    assessed = assess(inventory(alerts=[alert("Fan failure", "critical", days_ago(60))]))
    assert assessed.findings == []
    assert assessed.facts.alert_types == ["Fan failure"]
    assert assessed.facts.critical_alert_types == []


# ------------------------------------------------------------------------------------------------
# which readings count


def test_readings_after_the_analysis_time_are_ignored() -> None:
    readings = [reading(days_ago(1), cpu_utilization_percent=50),
                reading(AS_OF + timedelta(hours=1), cpu_utilization_percent=99, latency_ms=50)]
    assessed = assess(inventory(), health(readings=readings))
    assert assessed.findings == []
    assert assessed.facts.latest == {"cpu_utilization_percent": 50.0}
    assert assessed.facts.latest_reading_at == days_ago(1)


def test_latest_reading_is_preferred_over_the_inventory_snapshot() -> None:
    assessed = assess(inventory(cpu_utilization_percent=99, temperature_celsius=80),
                      health(readings=[reading(AS_OF, cpu_utilization_percent=50, temperature_celsius=40)]))
    assert assessed.findings == []
    assert assessed.facts.latest == {"cpu_utilization_percent": 50.0, "temperature_celsius": 40.0}


def test_inventory_snapshot_is_used_per_metric_when_readings_lack_it() -> None:
    # Readings carry only temperature: CPU falls back to the snapshot, temperature does not.
    findings = findings_of(inventory(cpu_utilization_percent=99, temperature_celsius=80),
                           health(readings=[reading(AS_OF, temperature_celsius=40)]))
    f = only(findings, K.HIGH_CPU)
    assert (f.severity, f.evidence.value, f.evidence.observed_at) == (Severity.CRITICAL, 99.0, None)
    assert kinds(findings) == [K.HIGH_CPU]


def test_snapshot_is_used_when_there_are_no_readings_at_all() -> None:
    findings = findings_of(inventory(memory_utilization_percent=96), health(readings=[]))
    f = only(findings, K.HIGH_MEMORY)
    assert (f.severity, f.evidence.value, f.confidence) == (Severity.CRITICAL, 96.0, 0.8)


def _mixed_readings() -> list[Any]:
    out = []
    for i, d in enumerate([5, 4, 3, 2, 1, 0]):
        out.append(reading(days_ago(d), cpu_utilization_percent=[50, 53, 54, 57, 58, 60][i],
                           temperature_celsius=[60, 62, 71, 64, 66, 72][i], latency_ms=[5, 5, 5, 5, 5, 16][i]))
    return out


def _signature(findings: list[Finding]) -> list[tuple[Any, ...]]:
    return [(f.kind, f.severity, f.evidence, f.confidence, f.message) for f in findings]


@pytest.mark.parametrize("order", ["newest-first", "shuffled"])
def test_reading_order_does_not_change_findings(order: str) -> None:
    oldest_first = _mixed_readings()
    other = oldest_first[::-1] if order == "newest-first" else [oldest_first[i] for i in (3, 0, 5, 1, 4, 2)]
    expected = findings_of(inventory(), health(readings=oldest_first))
    assert kinds(expected) == [K.HIGH_TEMPERATURE, K.RISING_TREND, K.HIGH_LATENCY]  # metric order
    assert only(expected, K.HIGH_TEMPERATURE).confidence == 0.85  # previous reading 66 is below 70
    assert _signature(findings_of(inventory(), health(readings=other))) == _signature(expected)


# ------------------------------------------------------------------------------------------------
# trends


@pytest.mark.parametrize(("metric", "values", "severity", "days", "confidence"), [
    # Straight lines: no residual, so the lower bound is the slope itself.
    ("cpu_utilization_percent", [50, 55, 60, 65, 70, 75], Severity.WARNING, 1.0, 1.0),  # (80 - 75) / 5
    ("cpu_utilization_percent", [50, 53, 54, 57, 58, 60], Severity.INFO, 10.9, 1.0),
    ("temperature_celsius", [60, 62, 64, 66], Severity.WARNING, 2.0, 0.67),  # (70 - 66) / 2; 4/6 readings
    ("latency_ms", [2, 3, 4, 5, 6, 7], Severity.INFO, 8.0, 1.0),  # (15 - 7) / 1
    ("packet_loss_percent", [0.1, 0.15, 0.2, 0.25], Severity.WARNING, 5.0, 0.67),  # (0.5 - 0.25) / 0.05
])
def test_rising_trend_found(metric: str, values: list[float], severity: Severity, days: float,
                            confidence: float) -> None:
    f = only(findings_of(inventory(), health(readings=series(metric, values)), rules=NO_FLOOR), K.RISING_TREND)
    assert f.evidence.metric == metric
    assert f.evidence.projected_days_to_breach == days
    assert f.confidence == confidence
    assert f.severity is severity  # warning when the breach is at most trend_urgent_days (7) away


@pytest.mark.parametrize(("values", "step_days", "end", "expected_kinds"), [
    ([60, 60, 60, 60, 60, 60], 1, AS_OF, []),
    ([70, 68, 66, 64, 62, 60], 1, AS_OF, []),
    ([50, 65, 45, 68, 52, 60], 1, AS_OF, []),  # rises overall, but the slope is not significant
    ([50, 55, 60], 1, AS_OF, []),  # three readings, four needed
    ([50, 50.5, 51, 51.5, 52, 52.5], 1, AS_OF, []),  # 27.5 / 0.5 = 55 days, beyond the 30-day horizon
    ([65, 70, 75, 79.9, 85], 1, AS_OF, [K.HIGH_CPU]),  # already breached: a threshold finding instead
    ([65, 70, 75, 80], 1, AS_OF, [K.RISING_TREND]),  # at the threshold, not over it: a trend there now
    ([50, 55, 60, 65, 70, 75], 1, days_ago(15), []),  # all readings outside the 14-day window
], ids=["flat", "falling", "noisy", "too-few", "beyond-horizon", "already-breached", "at-threshold",
        "outside-window"])
def test_rising_trend_not_found(values: list[float], step_days: float, end: datetime,
                                expected_kinds: list[FindingKind]) -> None:
    readings = series("cpu_utilization_percent", values, step_days=step_days, end=end)
    assert kinds(findings_of(inventory(), health(readings=readings))) == expected_kinds


def test_trend_uses_only_readings_inside_the_window() -> None:
    # An old falling stretch, then a clean rise inside the last 14 days: the rise is the trend.
    old = series("cpu_utilization_percent", [79, 70, 60, 50], end=days_ago(20))
    recent = series("cpu_utilization_percent", [50, 55, 60, 65, 70, 75])
    f = only(findings_of(inventory(), health(readings=old + recent), rules=NO_FLOOR), K.RISING_TREND)
    assert f.evidence.projected_days_to_breach == 1.0


LINE = [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0)]


@pytest.mark.parametrize(("points", "threshold", "days"), [
    (LINE, 10, 6.0),
    (LINE, 34, 30.0),  # exactly the horizon
    (LINE, 34.5, None),  # 30.5 days: beyond the horizon
    (LINE[:3], 10, None),  # too few points
    (LINE, 3.5, 0.0),  # the line is past the threshold already: zero days left
    (LINE, 4, 0.0),  # the line is at the threshold
    ([(0.0, 4.0), (1.0, 3.0), (2.0, 2.0), (3.0, 4.5)], 10, None),  # last above first but slope < 0
    ([(2.0, 1.0), (2.0, 2.0), (2.0, 3.0), (2.0, 4.0)], 10, None),  # all on one day: no slope
    ([(0.0, 50.0), (1.0, 65.0), (2.0, 45.0), (3.0, 68.0), (4.0, 52.0), (5.0, 60.0)], 80, None),  # noise
], ids=["line", "at-horizon", "past-horizon", "too-few", "breached", "at-threshold", "falling-fit", "same-day",
        "noisy"])
def test_fit_trend(points: list[tuple[float, float]], threshold: float, days: float | None) -> None:
    trend = fit_trend(points, threshold, RULES)
    if days is None:
        assert trend is None
    else:
        assert trend is not None
        assert (trend.slope_per_day, trend.slope_low_per_day, trend.p_value, trend.readings) == (1.0, 1.0, 0.0, 4)
        assert trend.days_to_breach == pytest.approx(days)


def test_fit_trend_hand_computed_least_squares() -> None:
    points = [(float(i), float(v)) for i, v in enumerate([50, 53, 54, 57, 58, 60])]
    trend = fit_trend(points, 80, RULES)
    assert trend is not None
    slope = 34 / 17.5
    noise = ((202 / 3 - slope * 34) / 4) ** 0.5
    assert trend.slope_per_day == pytest.approx(slope)
    assert trend.noise == pytest.approx(noise)
    assert trend.slope_low_per_day == pytest.approx(slope - 0.940965 * noise / 17.5**0.5)  # t(0.80, 4)
    assert trend.level == pytest.approx(55 + 1 / 3 + slope * 2.5)
    assert trend.days_to_breach == pytest.approx((80 - trend.level) / trend.slope_low_per_day)
    assert trend.effect == pytest.approx(slope * 5 / noise)
    assert trend.r2 == pytest.approx(34**2 / (17.5 * (202 / 3)))


# ------------------------------------------------------------------------------------------------
# health states


def _finding(kind: FindingKind, severity: Severity) -> Finding:
    return Finding(equipment_id="D1", site="SITE-A", kind=kind, severity=severity,
                   evidence=Evidence(metric="m"), confidence=1.0, message="")


@pytest.mark.parametrize(("findings", "state"), [
    ([], HealthState.HAPPY),
    ([(K.NEARING_END_OF_LIFE, Severity.INFO), (K.RISING_TREND, Severity.INFO)], HealthState.HAPPY),
    ([(K.CONTRACT_EXPIRED, Severity.WARNING)], HealthState.HAPPY),
    ([(K.CONTRACT_EXPIRING, Severity.WARNING), (K.MAINTENANCE_OVERDUE, Severity.INFO)], HealthState.HAPPY),
    ([(K.CONTRACT_EXPIRED, Severity.CRITICAL)], HealthState.HAPPY),  # lifecycle never counts, whatever severity
    ([(K.END_OF_LIFE, Severity.WARNING)], HealthState.STRESSED),
    ([(K.CONTRACT_EXPIRED, Severity.WARNING), (K.HIGH_CPU, Severity.WARNING)], HealthState.STRESSED),
    ([(K.RISING_TREND, Severity.WARNING)], HealthState.STRESSED),
    ([(K.HIGH_CPU, Severity.WARNING), (K.DEVICE_DOWN, Severity.CRITICAL)], HealthState.CRITICAL),
    ([(K.CRITICAL_ALERT, Severity.CRITICAL)], HealthState.CRITICAL),
])
def test_raw_health_state(findings: list[tuple[FindingKind, Severity]], state: HealthState) -> None:
    assert raw_health_state([_finding(k, s) for k, s in findings]) is state


H = HealthState
SMOOTHING = [
    (previous, raw, (H.STRESSED, True) if (previous, raw) == (H.HAPPY, H.CRITICAL) else (raw, False))
    for previous in (None, H.HAPPY, H.STRESSED, H.CRITICAL)
    for raw in (H.HAPPY, H.STRESSED, H.CRITICAL)
]


@pytest.mark.parametrize(("previous", "raw", "expected"), SMOOTHING,
                         ids=[f"{p and p.value}->{r.value}" for p, r, _ in SMOOTHING])
def test_smooth_state(previous: HealthState | None, raw: HealthState, expected: tuple[HealthState, bool]) -> None:
    assert smooth_state(raw, previous) == expected


def test_smoothing_table_has_one_hold_back() -> None:
    assert len(SMOOTHING) == 12
    assert [(p, r) for p, r, (_, held) in SMOOTHING if held] == [(H.HAPPY, H.CRITICAL)]


def test_detect_applies_previous_states() -> None:
    devices = [
        (inventory("D1", status="Down"), None),  # happy last run -> held at stressed
        (inventory("D2", status="Down"), None),  # critical last run -> critical
        (inventory("D3", status="Down"), None),  # unknown previous value -> ignored
        (inventory("D4"), None),  # no findings, critical last run -> happy (improvements are not held)
        (inventory("D5", status="Degraded"), None),  # happy -> stressed is not a jump
    ]
    previous = {"D1": "happy", "D2": "critical", "D3": "bogus", "D4": "critical", "D5": "happy"}
    result = run_detect(devices, previous_states=previous)

    got = {d.equipment_id: (d.state, d.raw_state, d.previous_state, d.held_back) for d in result.device_health}
    assert got == {
        "D1": (H.STRESSED, H.CRITICAL, H.HAPPY, True),
        "D2": (H.CRITICAL, H.CRITICAL, H.CRITICAL, False),
        "D3": (H.CRITICAL, H.CRITICAL, None, False),
        "D4": (H.HAPPY, H.HAPPY, H.CRITICAL, False),
        "D5": (H.STRESSED, H.STRESSED, H.HAPPY, False),
    }
    assert result.facts["D1"].health_state is H.STRESSED
    assert "D4" not in result.facts
    assert result.summary.health == {H.HAPPY: 1, H.STRESSED: 2, H.CRITICAL: 2}


def test_detect_without_previous_states_uses_raw_states() -> None:
    result = run_detect([(inventory("D1", status="Down"), None)])
    assert [(d.state, d.held_back, d.previous_state) for d in result.device_health] == [(H.CRITICAL, False, None)]


def test_site_health_counts_and_worst_state() -> None:
    def dh(eid: str, site: str, state: HealthState) -> DeviceHealth:
        return DeviceHealth(equipment_id=eid, site=site, state=state, raw_state=state)

    devices = [dh("A1", "SITE-A", H.CRITICAL), dh("A2", "SITE-A", H.HAPPY), dh("A3", "SITE-A", H.STRESSED),
               dh("B1", "SITE-B", H.STRESSED), dh("B2", "SITE-B", H.HAPPY), dh("C1", "SITE-C", H.HAPPY)]
    statuses = {"A1": "Down", "A2": "Operational", "A3": "degraded", "B1": "Degraded", "B2": "Operational"}

    assert site_health(devices, statuses) == [
        SiteHealth(site="SITE-A", state=H.CRITICAL, devices=3, happy=1, stressed=1, critical=1, down=1, degraded=1),
        SiteHealth(site="SITE-B", state=H.STRESSED, devices=2, happy=1, stressed=1, degraded=1),
        SiteHealth(site="SITE-C", state=H.HAPPY, devices=1, happy=1),
    ]


def test_detect_site_health_uses_smoothed_states() -> None:
    result = run_detect([(inventory("A1", status="Down"), None), (inventory("A2"), None)],
                        previous_states={"A1": "happy"})
    assert result.sites == [SiteHealth(site="SITE-A", state=H.STRESSED, devices=2, happy=1, stressed=1, down=1)]


def test_padded_status_counts_as_down_at_its_site() -> None:
    result = run_detect([(inventory("A1", status=" Down "), None)])
    assert kinds(result.findings) == [K.DEVICE_DOWN]
    assert result.sites[0].down == 1


def test_detect_sorts_findings_by_severity_then_site_device_kind() -> None:
    devices = [
        (inventory("B1", site="SITE-B", maintenance_contract_expiry=date_offset(-1)), None),
        (inventory("A2", site="SITE-A", status="Down", last_maintenance=date_offset(-800)), None),
        (inventory("A1", site="SITE-A", cpu_utilization_percent=96), None),
        (inventory("B2", site="SITE-B", status="Down"), None),
    ]
    result = run_detect(devices)
    assert [(f.equipment_id, f.kind) for f in result.findings] == [
        ("A1", K.HIGH_CPU), ("A2", K.DEVICE_DOWN), ("B2", K.DEVICE_DOWN),
        ("B1", K.CONTRACT_EXPIRED),
        ("A2", K.MAINTENANCE_OVERDUE),
    ]
    assert sorted(result.facts) == ["A1", "A2", "B1", "B2"]
    assert result.summary.devices == 4 and result.summary.sites == 2
    assert result.summary.statuses == {"Down": 2, "Operational": 2}
    assert result.summary.models_without_life_expectancy == [f"{VENDOR} {MODEL}"]


# ------------------------------------------------------------------------------------------------
# analysis time, firmware ordering


def test_analysis_time_is_the_newest_reading() -> None:
    inv = [inventory("D1", alerts=[alert("x", at=AS_OF + timedelta(days=30))])]
    hm = [health("D1", [reading(days_ago(1)), reading(days_ago(3))]),
          health("D2", [reading(days_ago(5)), reading(AS_OF), reading(days_ago(2))]),
          health("D3", [])]
    assert analysis_time(inv, hm) == AS_OF


@pytest.mark.parametrize(("alerts", "maintained", "expected"), [
    ([alert("x", at=datetime(2026, 5, 1, 8, tzinfo=UTC))], TODAY, datetime(2026, 11, 1, tzinfo=UTC)),
    ([alert("x", at=datetime(2026, 11, 2, 8, tzinfo=UTC))], TODAY, datetime(2026, 11, 2, 8, tzinfo=UTC)),
    ([alert("x", at=None)], date_offset(-10), datetime(2026, 10, 22, tzinfo=UTC)),
], ids=["maintenance-newer", "alert-newer", "undated-alert"])
def test_analysis_time_without_readings_falls_back(alerts: list[dict[str, Any]], maintained: Any,
                                                   expected: datetime) -> None:
    inv = [inventory("D1", alerts=alerts, last_maintenance=maintained),
           inventory("D2", last_maintenance=date_offset(-50))]
    assert analysis_time(inv, [health("D1", [])]) == expected


def test_analysis_time_of_an_empty_fleet() -> None:
    assert analysis_time([], []) == datetime(2000, 1, 1, tzinfo=UTC)


FAR_FUTURE = datetime(2099, 1, 1, tzinfo=UTC)
TEN_MINUTES = timedelta(minutes=10)


def test_one_reading_in_the_future_moves_neither_the_analysis_time_nor_the_rules() -> None:
    """A single device with a clock in 2099 once made the whole fleet's "now" 2099."""
    inv = [inventory("D1"), inventory("D2")]
    hm = [health("D1", [reading(days_ago(2)), reading(FAR_FUTURE, temperature_celsius=99)]),
          health("D2", [reading(days_ago(1))])]
    frame = time_frame(inv, hm, AS_OF + timedelta(days=30), TEN_MINUTES)
    assert frame.as_of == days_ago(1), "the newest reading that is not in the future"
    assert [(e.file, e.record_id, e.field, e.value) for e in frame.data_errors] == [
        ("health_metrics.json", "D1", "recent_readings[1].timestamp", FAR_FUTURE.isoformat())]
    assert "1 reading(s) stamped after the current time" in frame.data_errors[0].message
    detection = run_detect([(inv[0], hm[0]), (inv[1], hm[1])], as_of=frame.as_of)
    assert not detection.findings, "the 99 °C reading from the future is not acted on"


def test_the_default_analysis_time_never_exceeds_the_current_time() -> None:
    inv = [inventory("D1", alerts=[alert("x", at=AS_OF + timedelta(minutes=5))])]
    soon = [health("D1", [reading(AS_OF + timedelta(minutes=5))])]  # within the tolerance: no data error
    frame = time_frame(inv, soon, AS_OF, TEN_MINUTES)
    assert frame.as_of == AS_OF and frame.data_errors == []
    late_alert = [inventory("D1", alerts=[alert("fan", at=FAR_FUTURE)], last_maintenance=date_offset(-3))]
    frame = time_frame(late_alert, [health("D1", [])], AS_OF, TEN_MINUTES)
    assert frame.as_of == datetime.combine(date_offset(-3), datetime.min.time(), UTC)
    assert [(e.record_id, e.field) for e in frame.data_errors] == [("D1", "alerts[0].timestamp")]


@pytest.mark.parametrize(("older", "newer"), [
    ("17.9.4", "17.12.1"),
    ("21.4R3", "22.1R1"),
    ("21.4R3", "21.4R10"),
    ("9.1", "10.0"),
    ("1.0", "1.0.1"),
])
def test_version_key_orders_naturally(older: str, newer: str) -> None:
    assert version_key(older) < version_key(newer)


def test_firmware_baseline_is_newest_per_vendor_and_model() -> None:
    fleet = [inventory("D1", firmware_version="17.9.4"), inventory("D2", firmware_version="17.12.1"),
             inventory("D3", firmware_version="17.10.0"), inventory("D4", model="X200", firmware_version="3.1"),
             inventory("D5", vendor="Other", firmware_version="1.0")]
    assert firmware_baseline(fleet) == {f"{VENDOR}|{MODEL}": "17.12.1", f"{VENDOR}|X200": "3.1", f"Other|{MODEL}": "1.0"}
