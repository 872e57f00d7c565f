"""The exact (Clopper–Pearson) 95 % interval and the reading of a target against it (quality.intervals).

Published values (the exact binomial interval of the statistical tables, as R's binom.test also gives
it): 1 of 6: 0.0042–0.6412; 0 of 10: 0–0.3085; 3 of 20:
0.0321–0.3789; 10 of 10: 0.6915–1. The closed forms at the edges: for 0 events the upper bound is
1 − (α/2)^(1/n), for n events the lower bound is (α/2)^(1/n).
"""

from __future__ import annotations

import math

import pytest

from quality.intervals import MET, NOT_MET, UNDECIDABLE, beta_cdf, clopper_pearson, decide


@pytest.mark.parametrize(
    ("events", "n", "lower", "upper"),
    [
        (1, 6, 0.0042, 0.6412),
        (0, 10, 0.0, 0.3085),
        (3, 20, 0.0321, 0.3789),
        (10, 10, 0.6915, 1.0),
    ],
)
def test_the_interval_matches_published_tables(events: int, n: int, lower: float, upper: float) -> None:
    ci = clopper_pearson(events, n)
    assert ci is not None
    assert (round(ci.lower, 4), round(ci.upper, 4)) == (lower, upper)


def test_the_edges_have_closed_forms() -> None:
    for n in (1, 2, 7, 50, 1000):
        none, every = clopper_pearson(0, n), clopper_pearson(n, n)
        assert none is not None and every is not None
        assert none.lower == 0.0 and math.isclose(none.upper, 1 - 0.025 ** (1 / n), rel_tol=1e-9)
        assert every.upper == 1.0 and math.isclose(every.lower, 0.025 ** (1 / n), rel_tol=1e-9)


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X ≤ k) for X ~ Binomial(n, p), summed term by term (exact integers, small n only)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


@pytest.mark.parametrize(("events", "n"), [(1, 6), (2, 5), (4, 14), (7, 30), (29, 30), (15, 60)])
def test_the_bounds_are_where_the_exact_binomial_tails_are_2_5_percent(events: int, n: int) -> None:
    """The definition itself: at the lower bound, P(X ≥ x) = 0.025; at the upper bound, P(X ≤ x) = 0.025."""
    ci = clopper_pearson(events, n)
    assert ci is not None
    assert math.isclose(1 - _binomial_cdf(events - 1, n, ci.lower), 0.025, abs_tol=1e-9)
    assert math.isclose(_binomial_cdf(events, n, ci.upper), 0.025, abs_tol=1e-9)


def test_large_numbers_stay_fast_and_sensible() -> None:
    """A big IGO: 1,500 caesareans in 5,000 women. The interval is narrow around 30 % (the normal
    approximation, 0.3 ± 1.96·√(0.3·0.7/5000) = 0.2873–0.3127, is close to the exact one here)."""
    ci = clopper_pearson(1500, 5000)
    assert ci is not None
    assert abs(ci.lower - 0.2873) < 0.001 and abs(ci.upper - 0.3127) < 0.001
    assert math.isclose(beta_cdf(0.3, 2, 3) + beta_cdf(0.7, 3, 2), 1.0, rel_tol=1e-12)  # symmetry


def test_nothing_to_divide_by_has_no_interval() -> None:
    assert clopper_pearson(0, 0) is None
    assert clopper_pearson(3, 2) is None


@pytest.mark.parametrize(
    ("lower", "upper", "target", "better", "verdict"),
    [
        (0.0042, 0.6412, 0.15, "lower", UNDECIDABLE),  # 1 of 6 against ≤ 15 %: issue 20's case
        (0.0042, 0.6412, 0.65, "lower", MET),
        (0.0042, 0.6412, 0.004, "lower", NOT_MET),
        (0.10, 0.20, 0.20, "lower", MET),  # the upper bound on an "at most" target meets it
        (0.10, 0.20, 0.10, "lower", UNDECIDABLE),
        (0.80, 0.95, 0.80, "higher", MET),  # the lower bound on an "at least" target meets it
        (0.80, 0.95, 0.96, "higher", NOT_MET),
        (0.80, 0.95, 0.90, "higher", UNDECIDABLE),
    ],
)
def test_a_target_is_decided_only_outside_the_interval(
    lower: float, upper: float, target: float, better: str, verdict: str
) -> None:
    assert decide(lower=lower, upper=upper, target=target, better=better) == verdict
