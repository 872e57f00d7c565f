"""Template filters for indicator values: a rate with its unit, in the active language."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.template.defaultfilters import floatformat

register = template.Library()

_SUFFIX = {"percent": "%", "per_mille": "‰", "score": ""}


@register.filter
def ivalue(value: Any, unit: str) -> str:
    """`28,6%`, `4,2‰` or `8,1` (a score), with one decimal; `—` when there is nothing to divide by."""
    if value is None or value == "":
        return "—"
    return f"{floatformat(Decimal(str(value)), 1)}{_SUFFIX.get(unit, '')}"


@register.filter
def count(value: Any) -> str:
    """A count without needless decimals: `12`, `49,5`."""
    if value is None or value == "":
        return "—"
    return str(floatformat(Decimal(str(value)), "-2g"))
