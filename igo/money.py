"""Money: Decimal euros with two places, one rounding rule, and exact splitting (largest remainder)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from django.utils import formats

CENT = Decimal("0.01")


def to_money(value: Decimal | int | str) -> Decimal:
    """Round to whole cents, half up (the one rounding rule of the platform)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def euro_text(amount: Decimal) -> str:
    """An amount in a message, as the pages' `euro` filter shows it, in the active language: `€ 1.480,00`
    (Dutch), `€ 1,480.00` (English), `€ -1.480,00` for a credit."""
    return "€ " + formats.number_format(amount, 2, use_l10n=True, force_grouping=True)


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


class AmountFormatError(ValueError):
    """A typed amount that cannot be read, or only in two ways (`ambiguous`)."""

    def __init__(self, text: str, *, ambiguous: bool = False):
        super().__init__(text)
        self.text = text
        self.ambiguous = ambiguous


_CURRENCY = ("€", "EUR", "eur", "Eur")
_MINUS = ("-", "\u2212")  # the hyphen-minus and the minus sign


def _grouped(whole: str, separator: str) -> bool:
    """Whether `whole` is digits in groups of three after a first group of one to three."""
    groups = whole.split(separator)
    return (
        all(g.isascii() and g.isdigit() for g in groups)
        and 1 <= len(groups[0]) <= 3
        and all(len(g) == 3 for g in groups[1:])
    )


def amount_parse(text: str) -> Decimal:
    """An amount in euros as people type it, read one way only: Dutch (1.500,00 · 1500,00 · 1.500.000) or
    international (1,500.00 · 1500.00), with or without a euro sign and a minus. A single separator followed
    by exactly three digits (1.000, 1,000) reads as a thousand in one convention and as one in the other:
    refused as ambiguous (unless more groups make it plain: 1.000.000). Raises AmountFormatError."""
    t = text.strip().replace("\u00a0", " ")
    negative = False
    for _ in range(2):  # "-€ 5", "€ -5"
        if t.startswith(_MINUS):
            negative, t = True, t[1:].strip()
        for symbol in _CURRENCY:
            if t.startswith(symbol):
                t = t[len(symbol) :].strip()
            if t.endswith(symbol):
                t = t[: -len(symbol)].strip()
    if not t or not all(c.isascii() and (c.isdigit() or c in ".,") for c in t) or not t[0].isdigit():
        raise AmountFormatError(text)
    dots, commas = t.count("."), t.count(",")
    if dots and commas:
        decimal_sep = "," if t.rfind(",") > t.rfind(".") else "."
        thousands = "." if decimal_sep == "," else ","
        whole, _sep, fraction = t.rpartition(decimal_sep)
        if t.count(decimal_sep) != 1 or not fraction.isdigit() or not _grouped(whole, thousands):
            raise AmountFormatError(text)
        number = whole.replace(thousands, "") + "." + fraction
    elif dots + commas == 1:
        whole, _sep, fraction = t.partition("." if dots else ",")
        if not fraction:
            raise AmountFormatError(text)
        if len(fraction) == 3 and _grouped(whole, "."):
            raise AmountFormatError(text, ambiguous=True)
        number = whole + "." + fraction
    elif dots or commas:  # several of one kind: thousands only
        separator = "." if dots else ","
        if not _grouped(t, separator):
            raise AmountFormatError(text)
        number = t.replace(separator, "")
    else:
        number = t
    amount = Decimal(number)
    return -amount if negative else amount
