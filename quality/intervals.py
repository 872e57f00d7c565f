"""Exact confidence intervals for a proportion, and the reading of a target against one.

The interval is the Clopper–Pearson ("exact") interval: the proportions p for which observing x events
in n would not be surprising at the 5 % level, two-sided. Its bounds are quantiles of the beta
distribution,

    lower = Beta quantile (α/2;     x,     n − x + 1)     (0 when x = 0)
    upper = Beta quantile (1 − α/2; x + 1, n − x)         (1 when x = n)

found here by bisection on the regularised incomplete beta function I_p(a, b), which is evaluated with
its continued fraction (modified Lentz). Floats are fine: this is statistics, not money, and the bounds
are shown with one decimal. scipy is not a dependency of the platform; the tests check the bounds
against the exact binomial sum and against published values (1 of 6: 0.0042–0.6412; 0 of 10: 0–0.3085).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ALPHA = 0.05  # 95 % intervals
_EPS = 1e-15
_TINY = 1e-300


@dataclass(frozen=True)
class Interval:
    lower: float  # proportions, 0..1
    upper: float


def _beta_cf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz), for x < (a+1)/(a+b+2)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 10000):
        m2 = 2 * m
        # even step
        num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2))
        d = 1.0 + num * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + num / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        # odd step
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0))
        d = 1.0 + num * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + num / c
        c = c if abs(c) > _TINY else _TINY
        step = d * c
        h *= step
        if abs(step - 1.0) < _EPS:
            break
    return h


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta function I_x(a, b): the CDF of Beta(a, b) at x."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_cf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_cf(b, a, 1.0 - x) / b


def beta_quantile(q: float, a: float, b: float) -> float:
    """The x with I_x(a, b) = q, by bisection (the CDF rises monotonically from 0 to 1)."""
    lo, hi = 0.0, 1.0
    for _i in range(200):
        mid = (lo + hi) / 2
        if beta_cdf(mid, a, b) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2


def clopper_pearson(events: int, n: int, alpha: float = ALPHA) -> Interval | None:
    """The exact two-sided (1 − alpha) interval of a proportion of `events` in `n`; None without n."""
    if n <= 0 or not 0 <= events <= n:
        return None
    lower = 0.0 if events == 0 else beta_quantile(alpha / 2, events, n - events + 1)
    upper = 1.0 if events == n else beta_quantile(1 - alpha / 2, events + 1, n - events)
    return Interval(lower, upper)


MET, NOT_MET, UNDECIDABLE = "met", "not_met", "undecidable"


def decide(*, lower: float, upper: float, target: float, better: str) -> str:
    """A target is met only when the whole interval lies on its good side, not met only when the whole
    interval lies on its bad side; otherwise the data cannot tell yet. A bound on the target counts as
    meeting it (the agreement reads "at most" or "at least")."""
    if better == "lower":
        if upper <= target:
            return MET
        if lower > target:
            return NOT_MET
        return UNDECIDABLE
    if lower >= target:
        return MET
    if upper < target:
        return NOT_MET
    return UNDECIDABLE
