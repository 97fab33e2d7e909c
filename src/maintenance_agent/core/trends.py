"""Trends: is a metric really rising toward its threshold, and when does it get there? Pure.

A rising trend must pass three tests, so that the jitter of a healthy device is not read as one:

1. **Significance**: the least-squares slope is positive at the one-sided level
   `Rules.trend_significance` (a t-test on the slope with n - 2 degrees of freedom: with few
   readings the critical value is larger, so the bar is higher).
2. **Effect size**: the rise the line makes over its window is at least `Rules.trend_min_effect`
   times the residual spread (the metric's own noise around the line). The spread used by both
   tests is never taken below `Rules.trend_noise_floor` for the metric, its ordinary jitter: five
   readings that happen to line up would otherwise look far more certain than telemetry can be.
3. **Breach within the horizon**, projected from the *lower* confidence bound of the slope, starting
   at the line's value at the newest reading: the latest point is noisy, the point estimate optimistic.

A drift that began a few days ago is diluted in a two-week line, so the test also runs on the most
recent half and quarter of the window (whole days: 7 and 4 of 14) when each holds at least twice
`trend_min_readings`; the significance level is then split between the windows tried
(Bonferroni), so trying more windows does not make a chance trend likelier. The window that
breaches first wins. When the readings sample a daily cycle (several a day, each hour seen at least
twice), each hour's mean is taken out first (`_without_daily_cycle`): busy afternoons neither hide
a drift in their spread nor, in a window that does not span whole days, fake one.

A line already at the threshold (the newest reading just under it) is a trend with 0 days left.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from operator import itemgetter

from ..models.rules import Rules
from .stats import t_cdf, t_quantile

WINDOW_FRACTIONS = (1.0, 0.5, 0.25)


@dataclass(frozen=True)
class Trend:
    slope_per_day: float
    """The least-squares slope."""
    slope_low_per_day: float
    """Its lower confidence bound at `Rules.trend_projection_confidence`: what the projection uses."""
    p_value: float
    """One-sided, adjusted for the number of windows tried."""
    noise: float
    """The residual standard deviation around the line."""
    effect: float
    """The rise over the window, in residual standard deviations."""
    readings: int
    window_days: float
    level: float
    """The line's value at the newest reading."""
    days_to_breach: float
    """From the line's level at the newest reading, at the lower bound; 0 when the line is there already."""
    r2: float


def _test(n: int, sx: float, sy: float, sxx: float, sxy: float, syy: float, first_x: float, last_x: float,
          threshold: float, alpha: float, rules: Rules, windows: int, floor: float, spent_df: int) -> Trend | None:
    """The three tests on one window, from its running sums; None when any fails. `spent_df` degrees
    of freedom went into removing a daily cycle."""
    df = n - 2 - spent_df
    vxx = sxx - sx * sx / n
    if vxx <= 0 or df < 1:
        return None
    vxy = sxy - sx * sy / n
    slope = vxy / vxx
    if slope <= 0:
        return None
    level = sy / n + slope * (last_x - sx / n)
    if level < threshold and (threshold - level) / slope > rules.trend_horizon_days:
        return None  # the point estimate already breaches too late; the lower bound only later
    vyy = max(syy - sy * sy / n, 0.0)
    sse = vyy - slope * vxy
    if sse <= vyy * 1e-12:  # a straight line up to rounding in the sums
        sse = 0.0
    noise = max(math.sqrt(sse / df), floor)
    r2 = 1.0 - sse / vyy if vyy > 0 else 1.0
    if r2 < rules.trend_min_r2:
        return None
    if noise == 0.0:  # a perfect line: nothing to doubt
        slope_low, p_value, effect = slope, 0.0, math.inf
    else:
        se = noise / math.sqrt(vxx)
        if slope - t_quantile(1.0 - alpha, df) * se <= 0:
            return None  # not significant
        slope_low = slope - t_quantile(rules.trend_projection_confidence, df) * se
        if slope_low <= 0:  # only with a projection confidence above the test's: no breach to project
            return None
        effect = slope * (last_x - first_x) / noise
        if effect < rules.trend_min_effect:
            return None
        p_value = min(1.0, (1.0 - t_cdf(slope / se, df)) * windows)
    days = max(0.0, (threshold - level) / slope_low)  # 0: the line is at the threshold already
    if days > rules.trend_horizon_days:
        return None
    return Trend(slope, slope_low, p_value, noise, effect, n, last_x - first_x, level, days, r2)


def _without_daily_cycle(points: list[tuple[float, float]]) -> tuple[list[tuple[float, float]], int]:
    """The points with a daily cycle taken out, when the readings sample one (several readings a day,
    each hour of the day seen at least twice): each hour's mean over the window is removed (and the
    overall mean kept), which spends one degree of freedom per hour but the first. Busy afternoons
    then neither hide a drift in their spread nor fake one. Daily readings are returned as they are."""
    n = len(points)
    if n <= points[-1][0] - points[0][0] + 1.5:  # at most about one reading a day: no cycle to see
        return points, 0
    hours = [round(x % 1.0 * 24) % 24 for x, _ in points]
    total: dict[int, float] = {}
    count: dict[int, int] = {}
    for hour, (_, y) in zip(hours, points):
        total[hour] = total.get(hour, 0.0) + y
        count[hour] = count.get(hour, 0) + 1
    if len(count) < 2 or min(count.values()) < 2 or n - len(count) - 1 < 3:
        return points, 0
    mean = sum(total.values()) / n
    offset = {h: total[h] / count[h] - mean for h in count}
    return [(x, y - offset[h]) for h, (x, y) in zip(hours, points)], len(count) - 1


def fit_trend(points: list[tuple[float, float]], threshold: float, rules: Rules, noise_floor: float = 0.0) -> Trend | None:
    """The trend of (day, value) points (oldest first, all inside the trend window) toward
    `threshold`, or None when the tests above do not all pass on any window."""
    n_all = len(points)
    if n_all < rules.trend_min_readings:
        return None
    last_x = points[-1][0]
    starts = [0]  # the first index of each window, widest first, distinct
    if n_all >= 2 * rules.trend_min_readings:  # a recent window needs twice the readings to be tried
        for fraction in WINDOW_FRACTIONS[1:]:
            # Whole days, start excluded: a daily cycle then adds no slope of its own.
            span = max(1.0, round(rules.trend_window_days * fraction))
            start = bisect_right(points, last_x - span, key=itemgetter(0))
            if start != starts[-1] and n_all - start >= 2 * rules.trend_min_readings:
                starts.append(start)
    points, spent_df = _without_daily_cycle(points)
    alpha = rules.trend_significance / len(starts)
    best: Trend | None = None
    sx = sy = sxx = sxy = syy = 0.0
    tried = set(starts)
    for i in range(n_all - 1, starts[0] - 1, -1):  # one backward pass serves every window
        x, y = points[i]
        sx += x
        sy += y
        sxx += x * x
        sxy += x * y
        syy += y * y
        if i in tried:
            trend = _test(n_all - i, sx, sy, sxx, sxy, syy, x, last_x, threshold, alpha, rules, len(starts),
                          noise_floor, spent_df)
            if trend is not None and (best is None or trend.days_to_breach < best.days_to_breach):
                best = trend
    return best
