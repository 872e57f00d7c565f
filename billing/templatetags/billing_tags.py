"""Template filters for amounts: euros with two decimals and percentages, in the active language."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django import template
from django.template.defaultfilters import floatformat
from django.utils.html import format_html

register = template.Library()


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


@register.filter
def euro(value: Any) -> str:
    """`€ 1.234,50` in Dutch, `€ 1,234.50` in English; negative amounts as `€ -1.234,50`."""
    amount = _decimal(value)
    if amount is None:
        return "—"
    return format_html('<span class="money">€&nbsp;{}</span>', floatformat(amount, "2g"))


@register.filter
def pct(value: Any, places: int = 2) -> str:
    """A percentage with `places` decimals (trailing zeros kept), e.g. `4,50%`."""
    number = _decimal(value)
    if number is None:
        return "—"
    return f"{floatformat(number, f'{int(places)}g')}%"


@register.filter
def share(value: Any) -> str:
    """A member's share as it is stored (three decimals): two decimals, or three when the third is not zero,
    e.g. `60,00%`, `33,334%`. Fixed shares of a third (33.334 + 33.333 + 33.333) then read as adding up to
    100, where two decimals would show 33,33% three times (issue 19). A computed share (by care delivered)
    is rounded to the same three decimals."""
    number = _decimal(value)
    if number is None:
        return "—"
    number = number.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
    places = 2 if number == number.quantize(Decimal("0.01")) else 3
    return f"{floatformat(number, f'{places}g')}%"


@register.filter
def number(value: Any) -> str:
    """A quantity or point total without needless zeros: `49`, `1,5`, `1.715`."""
    amount = _decimal(value)
    if amount is None:
        return "—"
    return str(floatformat(amount, "-2g"))
