"""Decision quality on noisy telemetry: the trend test (significance, effect size, lower-bound
projection, windows), confirmed breaches, and plans that follow the diagnosis. Pure core.

scipy is the independent oracle for the statistics; the rules themselves use only the standard library."""

from __future__ import annotations

import math
from datetime import timedelta
from random import Random

import pytest
from scipy import stats as sp

from helpers.fleet_builders import (
    AS_OF,
    RULES,
    days_ago,
    findings_of,
    health,
    inventory,
    kinds,
    reading,
    run_detect,
    series,
    state,
)
from maintenance_agent.core.actions import apply, verify
from maintenance_agent.core.analyze import analyze
from maintenance_agent.core.plan import plan_actions
from maintenance_agent.core.stats import t_cdf, t_quantile
from maintenance_agent.core.trends import fit_trend
from maintenance_agent.models.core import ActionName, FindingKind, Severity
from maintenance_agent.models.rules import Rules

K = FindingKind


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 7, 10, 25, 54, 101, 400, 4999, 6000])
@pytest.mark.parametrize("p", [0.6, 0.9, 0.95, 0.975, 0.99, 0.995, 0.9995])
def test_t_quantile_and_cdf_match_scipy(df: int, p: float) -> None:
    assert t_quantile(p, df) == pytest.approx(sp.t.ppf(p, df), rel=1e-3 if df > 5000 else 1e-7)
    for t in (-3.0, -0.5, 0.0, 0.7, 2.0, 9.0):
        assert t_cdf(t, df) == pytest.approx(sp.t.cdf(t, df), abs=2e-4 if df > 5000 else 1e-9)


def test_t_functions_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        t_cdf(1.0, 0)
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)
    assert t_cdf(math.inf, 3) == 1.0 and t_cdf(-math.inf, 3) == 0.0


@pytest.mark.parametrize("seed", range(8))
def test_the_slope_test_matches_scipy_linregress(seed: int) -> None:
    rng = Random(seed)
    n = rng.randint(5, 40)
    xs = [float(i) for i in range(n)]  # daily: no daily cycle to take out
    ys = [20 + 1.5 * x + rng.gauss(0, 1.0) for x in xs]
    one_window = Rules(trend_horizon_days=1000, trend_min_effect=0, trend_window_days=1000)
    trend = fit_trend(list(zip(xs, ys)), 200, one_window)
    ref = sp.linregress(xs, ys)
    assert trend is not None
    assert trend.slope_per_day == pytest.approx(ref.slope)
    low = ref.slope - sp.t.ppf(one_window.trend_projection_confidence, n - 2) * ref.stderr
    assert trend.slope_low_per_day == pytest.approx(low)
    assert trend.p_value == pytest.approx(ref.pvalue / 2, abs=1e-12)  # one-sided, one window
    assert trend.level == pytest.approx(ref.intercept + ref.slope * xs[-1])
    assert trend.days_to_breach == pytest.approx((200 - trend.level) / trend.slope_low_per_day)
    assert trend.days_to_breach > (200 - trend.level) / trend.slope_per_day  # the lower bound is later


# Residuals that sum to zero and are uncorrelated with day (so the slope stays exactly 2/day).
WIGGLE = [1, -1, -1, 1]


def _line(n: int, slope: float, noise: float, start: float = 40) -> list[tuple[float, float]]:
    return [(float(i), start + slope * i + noise * WIGGLE[i % 4]) for i in range(n)]


def test_significance_alone_can_refuse_a_trend() -> None:
    # Four readings, 2/day, residual spread 1.67: the rise is 3.6 spreads (passes the effect size) and
    # R² is 0.78, but t = 2.68 is under t(0.95, 2) = 2.92: not significant at 0.05; it is at 0.10.
    points = _line(4, 2.0, 1.18)
    assert fit_trend(points, 60, RULES) is None
    assert fit_trend(points, 60, RULES.model_copy(update={"trend_significance": 0.1})) is not None


def test_significance_a_slope_buried_in_noise_is_no_trend() -> None:
    # The same slope of 2/day over 4 days: clear with little noise, not significant with a lot.
    assert fit_trend(_line(4, 2.0, 0.3), 60, RULES) is not None
    assert fit_trend(_line(4, 2.0, 3.0), 60, RULES) is None
    assert fit_trend(_line(4, 2.0, 3.0), 60, RULES.model_copy(update={
        "trend_significance": 0.45, "trend_projection_confidence": 0.55, "trend_min_effect": 0,
        "trend_min_r2": 0})) is not None


def test_with_few_readings_the_bar_is_higher() -> None:
    # Noise at 2.6 units around a 2/day line fails the test on 4 readings (t(0.95, 2) = 2.92) but
    # passes it on 8 (t(0.95, 6) = 1.94), where the line is better pinned down.
    assert t_quantile(0.95, 2) > t_quantile(0.95, 6)
    assert fit_trend(_line(4, 2.0, 1.3), 60, RULES.model_copy(update={"trend_min_effect": 0})) is None
    assert fit_trend(_line(8, 2.0, 1.3), 60, RULES.model_copy(update={"trend_min_effect": 0})) is not None


def test_effect_size_a_significant_but_tiny_rise_is_no_trend() -> None:
    # 400 readings over 10 days: a rise of 2 noise units over the window is highly significant,
    # but smaller than trend_min_effect (3.5) residual deviations: noise-sized, not a trend.
    rng = Random(7)
    points = [(i / 40, 78.0 + 0.02 * i / 40 * 10 + rng.gauss(0, 1.0)) for i in range(400)]
    loose = RULES.model_copy(update={"trend_min_effect": 0, "trend_horizon_days": 1000, "trend_min_r2": 0})
    found = fit_trend(points, 90, loose)
    assert found is not None and found.p_value < 1e-4 and found.effect < 3
    assert fit_trend(points, 90, RULES.model_copy(update={"trend_horizon_days": 1000, "trend_min_r2": 0})) is None


def test_projection_uses_the_lower_bound_so_a_noisy_slope_reaching_late_is_dropped() -> None:
    # Point estimate: breach in ~27 days (inside the 30-day horizon); lower bound: well beyond it.
    points = _line(6, 1.0, 0.6, start=48)
    trend = fit_trend(points, 80, RULES.model_copy(update={"trend_horizon_days": 1000}))
    assert trend is not None
    assert (80 - trend.level) / trend.slope_per_day < 30 < trend.days_to_breach
    assert fit_trend(points, 80, RULES) is None


def test_a_recent_drift_in_dense_readings_is_found_in_the_recent_window() -> None:
    # Six-hourly readings for 14 days, flat for ten, then +2.4/day (3 % of 80) for the last four.
    rng = Random(3)
    points = [(k / 4, 45 + 2.4 * max(0.0, k / 4 - 10) + rng.uniform(-2, 2)) for k in range(56)]
    trend = fit_trend(points, 80, RULES)
    assert trend is not None and trend.readings < 56 and trend.window_days <= 7
    assert 0.8 < trend.slope_per_day < 3.2  # the last 7 days: three flat, four rising
    assert trend.p_value < 0.05


@pytest.mark.parametrize(("metric", "threshold", "jitter"), [
    ("cpu_utilization_percent", 80, 2.0), ("memory_utilization_percent", 85, 2.0), ("temperature_celsius", 70, 1.0),
])
def test_a_three_percent_daily_drift_is_found_within_five_daily_readings(metric: str, threshold: float,
                                                                         jitter: float) -> None:
    # From well below the threshold (50-60 %), rising 3 % of it per day, with the jitter of real
    # telemetry, rounded as the files publish it. Noise can hide a drift in five readings now and
    # then (about 1 in 800 for CPU): at most 0.5 % may wait for a sixth, and none for a seventh.
    rng = Random(metric)
    late = 0
    for _ in range(2000):
        start = threshold * rng.uniform(0.5, 0.6)
        values = [round(start + 0.03 * threshold * d + rng.uniform(-jitter, jitter)) for d in range(7)]
        for count in (5, 6, 7):
            found = [x for x in findings_of(inventory(), health(readings=series(metric, values[:count])))
                     if x.kind is K.RISING_TREND]
            if found:
                assert found[0].evidence.metric == metric and 0 < found[0].evidence.projected_days_to_breach <= 30
                break
            assert count < 7, values
            late += 1
    assert late <= 10


def test_ten_thousand_healthy_devices_with_jitter_raise_nothing() -> None:
    from maintenance_agent.evaluation.scenarios import Builder
    from maintenance_agent.evaluation.score import run_pipeline
    from maintenance_agent.evaluation.suite import DENSE, healthy

    fleet = list(healthy(Builder(10_000), 10_000, DENSE))
    outcome = run_pipeline(fleet, RULES)
    assert outcome.findings == [] and outcome.actions == []


# ------------------------------------------------------------------------------------------------
# confirmed breaches


def _cpu(*values: float, step_hours: float = 24) -> list:
    n = len(values)
    return [reading(AS_OF - timedelta(hours=step_hours * (n - 1 - i)), cpu_utilization_percent=v)
            for i, v in enumerate(values)]


@pytest.mark.parametrize(("values", "rules", "severity"), [
    ((40, 85), RULES, Severity.INFO),  # a spike: one reading
    ((85, 86), RULES, Severity.WARNING),
    ((85, 40, 86), RULES, Severity.INFO),  # the run is broken by a reading under the threshold
    ((85, 86), Rules(breach_confirm_readings=3), Severity.INFO),
    ((85, 86, 87), Rules(breach_confirm_readings=3), Severity.WARNING),
    ((40, 85), Rules(breach_confirm_readings=1), Severity.WARNING),
    ((40, 96), RULES, Severity.CRITICAL),  # critical needs no confirmation
    ((40, 80), RULES, None),  # equal to the threshold is not a breach
])
def test_warning_breach_needs_confirmation(values: tuple[float, ...], rules: Rules, severity: Severity | None) -> None:
    found = [f for f in findings_of(inventory(), health(readings=_cpu(*values)), rules=rules) if f.kind is K.HIGH_CPU]
    assert [f.severity for f in found] == ([severity] if severity else [])


@pytest.mark.parametrize(("step_hours", "minutes", "severity"), [
    (0.25, 30, Severity.INFO),  # 3 readings 15 minutes apart span 30 minutes... only with the third
    (0.5, 30, Severity.WARNING),
    (0.1, 30, Severity.INFO),
])
def test_warning_breach_confirmed_by_duration(step_hours: float, minutes: float, severity: Severity) -> None:
    readings = _cpu(40, 85, 86, step_hours=step_hours)  # over the threshold for (2 - 1) steps
    rules = Rules(breach_confirm_minutes=minutes)
    (f,) = [f for f in findings_of(inventory(), health(readings=readings), rules=rules) if f.kind is K.HIGH_CPU]
    assert f.severity is severity


def test_newest_reading_wins_over_the_inventory_snapshot() -> None:
    readings = _cpu(40, 41)
    assert kinds(findings_of(inventory(cpu_utilization_percent=90), health(readings=readings))) == []


# ------------------------------------------------------------------------------------------------
# plans follow the diagnosis


def _plan(devices: list) -> list:
    d = run_detect(devices)
    problems, _ = analyze(d.findings, d.facts, d.sites)
    return plan_actions(problems, d.findings, d.facts, d.firmware_baseline, RULES, AS_OF)


def test_info_only_devices_get_no_action() -> None:
    devices = [
        (inventory("SPIKE"), health("SPIKE", _cpu(40, 90))),
        (inventory("TREND"), health("TREND", series("cpu_utilization_percent", [50, 53, 54, 57, 58, 60]))),
        (inventory("PAPER", maintenance_contract_expiry=AS_OF.date() + timedelta(days=60),
                   last_maintenance=AS_OF.date() - timedelta(days=800)), None),
    ]
    d = run_detect(devices)
    assert {f.equipment_id for f in d.findings} == {"SPIKE", "TREND", "PAPER"}
    assert all(f.severity is Severity.INFO for f in d.findings)
    assert _plan(devices) == []


def test_thermal_shutdown_gets_cooling_first_and_the_restart_only_after_it() -> None:
    hot = [reading(days_ago(1), temperature_celsius=82), reading(AS_OF, temperature_celsius=83)]
    device = state(inventory(status="Down"), health(readings=hot, status="Down"))
    (first,) = _plan([(device.inventory, device.health)])
    assert first.action is ActionName.SCHEDULE_MAINTENANCE and "before any restart" in first.reason

    cooled = apply(first, device, AS_OF, RULES)  # the visit fixes the cooling: the device reads cool
    assert verify(first, device, cooled, AS_OF, RULES) is None
    later = AS_OF + timedelta(days=1)
    d = run_detect([(cooled.inventory, cooled.health)], as_of=later)
    problems, _ = analyze(d.findings, d.facts, d.sites)
    (second,) = plan_actions(problems, d.findings, d.facts, d.firmware_baseline, RULES, later)
    assert second.action is ActionName.RESTART_DEVICE
    restarted = apply(second, cooled, later, RULES)
    assert verify(second, cooled, restarted, later, RULES) is None  # and now it comes back


def test_an_unconfirmed_spike_is_explained_as_one() -> None:
    d = run_detect([(inventory("SPIKE"), health("SPIKE", _cpu(40, 90)))])
    (problem,), _ = analyze(d.findings, d.facts, d.sites)
    assert problem.severity is Severity.INFO
    assert "unconfirmed CPU spike" in problem.title and "watched until the breach is confirmed" in problem.explanation


def test_the_report_says_a_cooled_shutdown_awaits_its_restart() -> None:
    from maintenance_agent.core.report.model import DeviceChange, ReportAction
    from maintenance_agent.core.report.recommend import recommendations
    from maintenance_agent.models.core import HealthState, Outcome

    hot = [reading(days_ago(1), temperature_celsius=82), reading(AS_OF, temperature_celsius=83)]
    (cooling,) = _plan([(inventory(status="Down"), health(readings=hot, status="Down"))])
    row = ReportAction(id=cooling.id, equipment_id="D1", site=cooling.site, action=cooling.action.value,
                       risk=cooling.risk, confidence=cooling.confidence, routine=cooling.routine,
                       priority=cooling.priority, source="rules", reason=cooling.reason, approved=True,
                       outcome=Outcome.SUCCEEDED)
    after = DeviceChange(equipment_id="D1", site=cooling.site, status_before="Down", status_after="Down",
                         health_before=HealthState.CRITICAL, health_after=HealthState.CRITICAL)
    said = recommendations([], [row], [], False, [after], [cooling])
    assert "Cooling was fixed on 1 thermally shut down device(s) still down: D1; run again to plan their restart." in said
    failed = row.model_copy(update={"outcome": Outcome.FAILED})
    assert not any("Cooling was fixed" in line for line in recommendations([], [failed], [], False, [after], [cooling]))


def test_the_noise_floor_keeps_a_few_lucky_readings_from_passing_for_a_trend() -> None:
    # Five daily packet-loss readings that happen to line up (0.01 around the line) from a healthy
    # 0.15 %: on their own spread a significant trend toward 0.5 % within the horizon; against the
    # ordinary jitter of loss (the floor, 0.03) a rise of 0.08 is less than three times the noise.
    values = [0.15, 0.18, 0.19, 0.21, 0.23]
    bare = Rules(trend_noise_floor={"packet_loss_percent": 0})
    readings = series("packet_loss_percent", values)
    assert kinds(findings_of(inventory(), health(readings=readings), rules=bare)) == [K.RISING_TREND]
    assert kinds(findings_of(inventory(), health(readings=readings))) == []
    # A rules file that sets one floor keeps the others.
    assert bare.trend_noise_floor["cpu_utilization_percent"] == RULES.trend_noise_floor["cpu_utilization_percent"] > 0


def test_an_outside_proposal_must_follow_the_diagnosis_too() -> None:
    from maintenance_agent.core.plan import PlanError, validate_proposal

    hot = [reading(days_ago(1), temperature_celsius=82), reading(AS_OF, temperature_celsius=83)]
    devices = [(inventory("HOT", status="Down"), health("HOT", hot, status="Down")),
               (inventory("SPIKE"), health("SPIKE", _cpu(40, 90))),
               (inventory("DOWN", status="Down"), None)]
    d = run_detect(devices)
    with pytest.raises(PlanError, match="thermal shutdown"):
        validate_proposal("HOT", "restart_device", d.facts, set(), d.findings)
    with pytest.raises(PlanError, match="all info-level"):
        validate_proposal("SPIKE", "optimize_configuration", d.facts, set(), d.findings)
    assert validate_proposal("HOT", "schedule_maintenance", d.facts, set(), d.findings)[1] is ActionName.SCHEDULE_MAINTENANCE
    assert validate_proposal("DOWN", "restart_device", d.facts, set(), d.findings)[1] is ActionName.RESTART_DEVICE


# ------------------------------------------------------------------------------------------------
# windows, daily cycles, crossings


def _six_hourly(level, cycle: float = 4.0, jitter: float = 2.0, seed: int = 1) -> list[tuple[float, float]]:
    """56 readings, every 6 hours for 14 days: level(day) + a daily cycle peaking mid-afternoon + jitter."""
    rng = Random(seed)
    return [(k / 4, level(k / 4) + cycle * math.sin((k % 4 * 6 - 9) / 24 * 2 * math.pi) + rng.uniform(-jitter, jitter))
            for k in range(56)]


def test_a_daily_cycle_neither_hides_a_drift_nor_fakes_one() -> None:
    flat = _six_hourly(lambda d: 60.0, cycle=6.0)
    assert fit_trend(flat, 80, RULES, 1.2) is None
    drift = _six_hourly(lambda d: 45 + 2.4 * max(0.0, d - 10), cycle=6.0)  # 3 %/day for the last 4 days
    trend = fit_trend(drift, 80, RULES, 1.2)
    assert trend is not None and trend.readings <= 28
    assert trend.noise < 2.0  # the cycle (6 points) was taken out: what is left is the jitter


def test_the_significance_level_is_split_between_the_windows_tried() -> None:
    # Twenty daily readings (no daily cycle to take out). With a 1000-day window only the whole
    # series is tested; with a 20-day one its last 10 days are tried too, so each test runs at
    # 0.05 / 2 and the p-value it reports is doubled.
    rng = Random(11)
    points = [(float(d), 30 + 1.5 * d + rng.uniform(-2, 2)) for d in range(20)]
    loose = {"trend_horizon_days": 1000, "trend_min_effect": 0}
    single = fit_trend(points, 200, Rules(trend_window_days=1000, **loose))
    split = fit_trend(points, 200, Rules(trend_window_days=20, **loose))
    assert single is not None and split is not None
    chosen = points[-split.readings:]
    ref = sp.linregress([x for x, _ in chosen], [y for _, y in chosen])
    assert split.p_value == pytest.approx(2 * ref.pvalue / 2, rel=1e-6)
    assert single.p_value == pytest.approx(sp.linregress(*zip(*points)).pvalue / 2, rel=1e-6)
    # The split level shows in the bound the test needs: t(1 - 0.025, df) > t(1 - 0.05, df).
    assert t_quantile(1 - 0.05 / 2, 18) > t_quantile(1 - 0.05, 18)


def test_a_rise_since_a_restart_is_found_though_older_readings_were_higher() -> None:
    leak = _six_hourly(lambda d: 75.0 if d < 6 else 55 + 2.55 * max(0.0, d - 10), cycle=0.0, seed=5)
    readings = [reading(AS_OF - timedelta(days=14 - 0.25 - x), memory_utilization_percent=round(y, 1))
                for x, y in leak]
    found = [f for f in findings_of(inventory(), health(readings=readings)) if f.kind is K.RISING_TREND]
    assert [f.evidence.metric for f in found] == ["memory_utilization_percent"]


def test_a_climb_into_the_threshold_is_confirmed_by_its_trend_a_spike_is_not() -> None:
    climb = _cpu(60, 63, 66, 69, 72, 75, 78.5, 81)
    (f,) = [x for x in findings_of(inventory(), health(readings=climb)) if x.kind is K.HIGH_CPU]
    assert f.severity is Severity.WARNING and "a climb, not a spike" in f.message
    spike = _cpu(60, 61, 59, 60, 62, 60, 61, 81)
    (g,) = [x for x in findings_of(inventory(), health(readings=spike)) if x.kind is K.HIGH_CPU]
    assert g.severity is Severity.INFO and "not confirmed" in g.message


def test_a_line_at_the_threshold_with_the_newest_reading_just_under_it_is_an_urgent_trend() -> None:
    (f,) = findings_of(inventory(), health(readings=_cpu(70, 73, 76, 80, 79.5)))
    assert (f.kind, f.severity, f.evidence.projected_days_to_breach) == (K.RISING_TREND, Severity.WARNING, 0.0)
    assert "its line is at 80% already" in f.message


def test_a_projection_confidence_above_the_test_s_is_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="must not exceed 1 - trend_significance"):
        Rules(trend_projection_confidence=0.99)
    assert Rules(trend_projection_confidence=0.95).trend_projection_confidence == 0.95
