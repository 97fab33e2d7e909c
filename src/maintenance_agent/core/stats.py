"""Student's t distribution for the trend test: its CDF and quantiles, exact for whole degrees of
freedom (Abramowitz & Stegun 26.7.3-4), with the standard library only. Pure."""

from __future__ import annotations

import math
from functools import lru_cache

_NORMAL_FROM = 5000
"""Above this many degrees of freedom (two weeks of 5-minute samples is 4,000) the t distribution
is the normal one to within 5e-4 in its quantiles, and the exact series would only cost time."""


def t_cdf(t: float, df: int) -> float:
    """P(T <= t) for Student's t with `df` (>= 1) degrees of freedom."""
    if df < 1:
        raise ValueError("degrees of freedom must be at least 1")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    if df > _NORMAL_FROM:
        return 0.5 * math.erfc(-t / math.sqrt(2.0))
    theta = math.atan(abs(t) / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    s = math.sin(theta)
    if df % 2:  # odd: A = 2/pi (theta + sin cos (1 + 2/3 cos^2 + 2*4/(3*5) cos^4 + ...))
        term = total = 1.0
        for k in range(1, (df - 1) // 2):
            term *= c2 * (2 * k) / (2 * k + 1)
            total += term
        a = 2.0 / math.pi * (theta + (s * math.cos(theta) * total if df > 1 else 0.0))
    else:  # even: A = sin (1 + 1/2 cos^2 + 1*3/(2*4) cos^4 + ...)
        term = total = 1.0
        for k in range(1, df // 2):
            term *= c2 * (2 * k - 1) / (2 * k)
            total += term
        a = s * total
    a = min(max(a, 0.0), 1.0)  # P(|T| < |t|)
    return 0.5 + a / 2 if t >= 0 else 0.5 - a / 2


@lru_cache(maxsize=4096)
def t_quantile(p: float, df: int) -> float:
    """The t with P(T <= t) = p, by bisection on `t_cdf` (cached: the trend test asks for few)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be strictly between 0 and 1")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2.0
    for _ in range(100):
        mid = (low + high) / 2
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low < 1e-10:
            break
    return (low + high) / 2
