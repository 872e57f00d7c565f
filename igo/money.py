"""Money: Decimal euros with two places, one rounding rule, and exact splitting (largest remainder)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def to_money(value: Decimal | int | str) -> Decimal:
    """Round to whole cents, half up (the one rounding rule of the platform)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def split_largest_remainder(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """Split `total` (whole cents) in proportion to `weights` so the parts sum exactly to `total`.

    Each part gets the floor of its exact share in cents; the cents left over go one by one to the
    largest remainders, ties to the earlier position. Deterministic for the same inputs and order.
    Works for negative totals (credits) by splitting the absolute value.
    """
    if not weights:
        raise ValueError("at least one weight is needed")
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    sign = -1 if total < 0 else 1
    cents = int((abs(total) / CENT).to_integral_value())
    if abs(total) != cents * CENT:
        raise ValueError("total must be in whole cents")
    weight_sum = sum(weights, Decimal(0))
    if weight_sum == 0:
        weights = [Decimal(1)] * len(weights)
        weight_sum = Decimal(len(weights))
    exact = [Decimal(cents) * w / weight_sum for w in weights]
    floors = [int(e) for e in exact]  # exact >= 0, int() floors
    left = cents - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [sign * Decimal(c) * CENT for c in floors]
