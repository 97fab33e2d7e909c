"""The scenario families, one function each; `suite(seed)` is one seed's labelled fleet."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from ..models.core import ActionName, FindingKind, Severity
from .scenarios import (
    AS_OF,
    COOLING,
    CRITICAL,
    DAILY_CYCLE,
    FITTING,
    JITTER,
    KIND_OF,
    METRICS,
    STAMP,
    WARNING,
    Builder,
    Device,
    Label,
    days_ago,
    stamps,
)

K = FindingKind
DENSE = stamps(56, 6)  # every 6 hours for 14 days
DAILY7 = stamps(7, 24)
DAILY5 = stamps(5, 24)
REALISTIC_RATES = (0.03, 0.05)
"""Drift per day as a share of the warning threshold: "about 3 %", and a faster one."""
WEAK_RATE = 0.02
GROWING = ("cpu_utilization_percent", "memory_utilization_percent", "temperature_celsius")
RESTART = frozenset({ActionName.RESTART_DEVICE})


def _step_days(when: list[datetime]) -> float:
    return (when[1] - when[0]).total_seconds() / 86400


def _urgency(true_days: float) -> bool | None:
    """What a drift calls for by its true days to breach: act within 5 days, watch beyond 12."""
    return True if true_days <= 5 else False if true_days >= 12 else None


def healthy(b: Builder, count: int, when: list[datetime]) -> Iterator[Device]:
    for _ in range(count):
        yield b.device(Label("healthy"), b.series(when, b.baseline(b.model_type())))


def busy(b: Builder, count: int, when: list[datetime]) -> Iterator[Device]:
    """Healthy devices that run hot, steady just under a threshold with their daily cycle and jitter."""
    for i in range(count):
        metric = METRICS[i % len(METRICS)]
        top = WARNING[metric] - DAILY_CYCLE[metric] - JITTER[metric]
        steady = top - JITTER[metric] * b.rng.uniform(0.3, 1.5)

        def level(m: str, _k: int, steady: float = steady, metric: str = metric) -> float | None:
            return steady if m == metric else None
        yield b.device(Label("busy, steady just under a threshold"),
                       b.series(when, b.baseline(b.model_type()), level=level))


def _drift(b: Builder, scenario: str, metric: str, rate: float, when: list[datetime], onset: int,
           end_share: tuple[float, float] = (0.7, 0.85)) -> Device:
    """A metric rising `rate` x its warning threshold per day from reading `onset` on (with its daily
    cycle and jitter on top), its steady level ending below the threshold."""
    threshold, step = WARNING[metric], _step_days(when)
    end = threshold * b.rng.uniform(*end_share)
    start = end - rate * threshold * (len(when) - 1 - onset) * step

    def level(m: str, k: int) -> float | None:
        return start + rate * threshold * max(0, k - onset) * step if m == metric else None

    true_days = (threshold - end) / (rate * threshold)
    label = Label(scenario, f"{rate:.0%}/day", [(K.RISING_TREND, metric, None)], fitting=FITTING[metric],
                  act=_urgency(true_days), realistic=rate in REALISTIC_RATES)
    return b.device(label, b.series(when, b.baseline(b.model_type()), level=level))


def _crossing(b: Builder, metric: str, rate: float) -> Device:
    """A drift whose newest daily reading has just crossed the warning threshold: one reading over it,
    but a climb, not a spike."""
    threshold = WARNING[metric]
    newest = threshold + JITTER[metric] * b.rng.uniform(0.3, 1.0)

    def level(m: str, k: int) -> float | None:
        if m != metric:
            return None
        return min(newest - rate * threshold * (6 - k), threshold - JITTER[metric] - DAILY_CYCLE[metric])

    def shape(m: str, k: int, _at: object) -> float | None:
        return newest if m == metric and k == 6 else None

    label = Label("drift crossing the threshold in its newest reading", f"{rate:.0%}/day",
                  [(KIND_OF[metric], metric, Severity.WARNING)], fitting=FITTING[metric], act=True,
                  realistic=rate in REALISTIC_RATES)
    return b.device(label, b.series(DAILY7, b.baseline(b.model_type()), shape, level))


def _after_restart(b: Builder, rate: float) -> Device:
    """Memory high before a restart eight days ago, flat after it, then leaking for the last 4 days."""
    metric, threshold = "memory_utilization_percent", WARNING["memory_utilization_percent"]
    end = threshold * b.rng.uniform(0.7, 0.85)
    start = end - rate * threshold * 4

    def level(m: str, k: int) -> float | None:
        if m != metric:
            return None
        return threshold * 0.8 if k < 24 else start + rate * threshold * max(0.0, (k - 40) / 4)

    label = Label("memory leak since a restart (older readings higher)", f"{rate:.0%}/day",
                  [(K.RISING_TREND, metric, None)], fitting=FITTING[metric],
                  act=_urgency((threshold - end) / (rate * threshold)), realistic=rate in REALISTIC_RATES)
    return b.device(label, b.series(DENSE, b.baseline(b.model_type()), level=level))


def drifts(b: Builder, per_case: int) -> Iterator[Device]:
    for rate in (*REALISTIC_RATES, WEAK_RATE):
        for _ in range(per_case):
            for metric in GROWING:
                yield _drift(b, "drift over 5 daily readings", metric, rate, DAILY5, 0)
                yield _drift(b, "drift in the last 4 of 14 days (6-hourly)", metric, rate, DENSE, 40)
                yield _crossing(b, metric, rate)
            for metric in METRICS:
                yield _drift(b, "drift over 14 days (6-hourly)", metric, rate, DENSE, 0)
            yield _after_restart(b, rate)


def _over(b: Builder, metric: str, severity: Severity) -> float:
    w, c = WARNING[metric], CRITICAL[metric]
    if severity is Severity.WARNING:
        return w + (c - w) * b.rng.uniform(0.15, 0.85)
    top = 100.0 if metric.endswith("_percent") and metric != "packet_loss_percent" else c * 1.5
    return c + (top - c) * b.rng.uniform(0.1, 0.8)


def _breach(b: Builder, scenario: str, metric: str, severity: Severity, last: int, when: list[datetime]) -> Device:
    n = len(when)

    def shape(m: str, k: int, _at: object) -> float | None:
        return _over(b, metric, severity) if m == metric and k >= n - last else None

    label = Label(scenario, f"{severity} x{last}", [(KIND_OF[metric], metric, severity)], fitting=FITTING[metric],
                  act=True)
    return b.device(label, b.series(when, b.baseline(b.model_type()), shape))


def breaches(b: Builder, per_case: int) -> Iterator[Device]:
    stale = [s - timedelta(days=5) for s in DAILY7]
    for _ in range(per_case):
        for metric in METRICS:
            for last in (2, 4):
                yield _breach(b, "confirmed warning breach", metric, Severity.WARNING, last, DAILY7)
            for last in (1, 3):
                yield _breach(b, "critical breach", metric, Severity.CRITICAL, last, DAILY7)
            yield _breach(b, "stale warning breach (newest reading 5 days old)", metric, Severity.WARNING, 3, stale)


def edges_and_spikes(b: Builder, per_case: int) -> Iterator[Device]:
    for _ in range(per_case):
        for metric in METRICS:
            kind, w, j = KIND_OF[metric], WARNING[metric], JITTER[metric]

            def at_threshold(m: str, k: int, _at: object, metric: str = metric, w: float = w,
                             j: float = j) -> float | None:
                if m != metric:
                    return None
                return w if k % 4 == 3 else w - b.rng.uniform(0, 2 * j)  # the newest is k = 55
            yield b.device(Label("hovering under the threshold, touching it exactly (the newest too)"),
                           b.series(DENSE, b.baseline(b.model_type()), at_threshold))

            def transient(m: str, k: int, _at: object, metric: str = metric) -> float | None:
                return _over(b, metric, Severity.CRITICAL) if m == metric and k == 3 else None
            yield b.device(Label("transient spike, gone"), b.series(DAILY7, b.baseline(b.model_type()), transient))

            def newest(m: str, k: int, _at: object, metric: str = metric) -> float | None:
                return _over(b, metric, Severity.WARNING) if m == metric and k == 6 else None
            yield b.device(Label("warning spike in the newest reading only", allowed_info={(kind, metric)}),
                           b.series(DAILY7, b.baseline(b.model_type()), newest))


def telemetry_gaps(b: Builder, per_case: int) -> Iterator[Device]:
    for _ in range(per_case):
        base = b.baseline(b.model_type())
        stale = [s - timedelta(days=5) for s in DAILY7]
        yield b.device(Label("stale readings, healthy"), b.series(stale, base))
        yield b.device(Label("inventory snapshot contradicted by newer readings"), b.series(DAILY7, base),
                       cpu_utilization_percent=91, temperature_celsius=73)
        yield b.device(Label("no telemetry"), None, cpu_utilization_percent=None, memory_utilization_percent=None,
                       temperature_celsius=None)
        yield b.device(Label("no telemetry, one high inventory snapshot",
                             allowed_info={(K.HIGH_CPU, "cpu_utilization_percent")}), None,
                       cpu_utilization_percent=88, memory_utilization_percent=50, temperature_celsius=40)


def _recent_alert(kind: str) -> list[dict[str, str]]:
    return [{"type": kind, "severity": "critical", "timestamp": (AS_OF - timedelta(hours=3)).strftime(STAMP)}]


def conditions(b: Builder, per_case: int) -> Iterator[Device]:
    down = (K.DEVICE_DOWN, "status", Severity.CRITICAL)
    for _ in range(per_case):
        base = b.baseline(b.model_type())
        yield b.device(Label("device down", "", [down], fitting=RESTART, act=True), b.series(DAILY7, base),
                       status="Down")

        def hot(m: str, k: int, _at: object) -> float | None:
            return _over(b, "temperature_celsius", Severity.CRITICAL) if m == "temperature_celsius" and k >= 4 else None
        yield b.device(Label("thermal shutdown", "", [down, (K.HIGH_TEMPERATURE, "temperature_celsius",
                                                             Severity.CRITICAL)],
                             fitting=COOLING, forbidden=RESTART, act=True),
                       b.series(DAILY7, base, hot), status="Down")
        yield b.device(Label("down with a hardware fault", "", [down, (K.CRITICAL_ALERT, "alerts", Severity.CRITICAL)],
                             fitting=frozenset({ActionName.REPLACE_HARDWARE}), forbidden=RESTART, act=True),
                       b.series(DAILY7, base), status="Down", alerts=_recent_alert("Power Supply Failure"))
        yield b.device(Label("degraded", "", [(K.DEVICE_DEGRADED, "status", Severity.WARNING)],
                             fitting=frozenset({ActionName.RESTART_DEVICE, ActionName.UPDATE_FIRMWARE}), act=True),
                       b.series(DAILY7, base), status="Degraded")
        yield b.device(Label("critical alarm on a running device", "",
                             [(K.CRITICAL_ALERT, "alerts", Severity.CRITICAL)], fitting=COOLING, act=True),
                       b.series(DAILY7, base), alerts=_recent_alert("BGP session flapping"))


def lifecycle(b: Builder, per_case: int) -> Iterator[Device]:
    renew = frozenset({ActionName.RENEW_CONTRACT})
    expiry = "maintenance_contract_expiry"
    for _ in range(per_case):
        base = b.baseline(b.model_type())
        yield b.device(Label("past end of life", "", [(K.END_OF_LIFE, "age_years", Severity.WARNING)],
                             fitting=frozenset({ActionName.REPLACE_HARDWARE}), act=True),
                       b.series(DAILY7, base), install_date=days_ago(20 * 365.25).isoformat())
        yield b.device(Label("contract expired", "", [(K.CONTRACT_EXPIRED, expiry, Severity.WARNING)], fitting=renew,
                             act=True), b.series(DAILY7, base), maintenance_contract_expiry=days_ago(12).isoformat())
        yield b.device(Label("contract expiring in 20 days", "", [(K.CONTRACT_EXPIRING, expiry, Severity.WARNING)],
                             fitting=renew, act=True),
                       b.series(DAILY7, base), maintenance_contract_expiry=days_ago(-20).isoformat())
        yield b.device(Label("contract expiring in 60 days (info: watched)", "",
                             [(K.CONTRACT_EXPIRING, expiry, Severity.INFO)]),
                       b.series(DAILY7, base), maintenance_contract_expiry=days_ago(-60).isoformat())
        yield b.device(Label("maintenance overdue (info: watched)", "",
                             [(K.MAINTENANCE_OVERDUE, "last_maintenance", Severity.INFO)]),
                       b.series(DAILY7, base), last_maintenance=days_ago(900).isoformat(),
                       install_date=days_ago(1500).isoformat())


def suite(seed: int, healthy_dense: int = 300, healthy_daily: int = 200, per_case: int = 2) -> list[Device]:
    """One seed's labelled fleet."""
    b = Builder(seed)
    return [*healthy(b, healthy_dense, DENSE), *healthy(b, healthy_daily, DAILY7), *busy(b, 50, DENSE),
            *busy(b, 50, DAILY7), *drifts(b, per_case), *breaches(b, per_case), *edges_and_spikes(b, per_case),
            *telemetry_gaps(b, per_case), *conditions(b, per_case), *lifecycle(b, per_case)]
