"""Template filters for amounts: euros with two decimals and percentages, in the active language."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
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
def number(value: Any) -> str:
    """A quantity or point total without needless zeros: `49`, `1,5`, `1.715`."""
    amount = _decimal(value)
    if amount is None:
        return "—"
    return str(floatformat(amount, "-2g"))
