"""Trends: a least-squares line through a metric's recent readings, and when it reaches a threshold. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from ..models.rules import Rules


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
