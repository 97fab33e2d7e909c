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
recent half of the window (whole days, so a daily cycle adds no slope of its own) when that holds
at least twice `trend_min_readings`; the significance level is then split between the windows
tried (Bonferroni), so trying more windows does not make a chance trend likelier. The window that
breaches first wins. (A quarter window was tried and dropped: on 20,000 healthy six-hourly devices
it let a handful of chance trends through, where the half window lets none.)
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from operator import itemgetter

from ..models.rules import Rules
from .stats import t_cdf, t_quantile

WINDOW_FRACTIONS = (1.0, 0.5)


@dataclass(frozen=True)
class Trend:
    slope_per_day: float
    """The least-squares slope."""
    slope_low_per_day: float
    """Its lower confidence bound at the (split) significance level: what the projection uses."""
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
    r2: float


def _test(n: int, sx: float, sy: float, sxx: float, sxy: float, syy: float, first_x: float, last_x: float,
          threshold: float, alpha: float, rules: Rules, windows: int, floor: float) -> Trend | None:
    """The three tests on one window, from its running sums; None when any fails."""
    vxx = sxx - sx * sx / n
    if vxx <= 0:
        return None
    vxy = sxy - sx * sy / n
    slope = vxy / vxx
    if slope <= 0:
        return None
    level = sy / n + slope * (last_x - sx / n)
    if level >= threshold:
        return None  # at the threshold already: the next reading decides, as a breach or not
    if (threshold - level) / slope > rules.trend_horizon_days:
        return None  # the point estimate already breaches too late; the lower bound only later
    vyy = max(syy - sy * sy / n, 0.0)
    sse = vyy - slope * vxy
    if sse <= vyy * 1e-12:  # a straight line up to rounding in the sums
        sse = 0.0
    df = n - 2
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
        effect = slope * (last_x - first_x) / noise
        if effect < rules.trend_min_effect:
            return None
        p_value = min(1.0, (1.0 - t_cdf(slope / se, df)) * windows)
    days = (threshold - level) / slope_low
    if days > rules.trend_horizon_days:
        return None
    return Trend(slope, slope_low, p_value, noise, effect, n, last_x - first_x, level, days, r2)


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
                          noise_floor)
            if trend is not None and (best is None or trend.days_to_breach < best.days_to_breach):
                best = trend
    return best
