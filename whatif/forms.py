"""The what-if forms: the period; the draft itself is entered in billing's own forms (SplitRuleForm,
ContractVersionForm with its partial-rule formset), so the draft is checked as the version would be."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def last_year(today: dt.date) -> tuple[dt.date, dt.date]:
    return dt.date(today.year - 1, 1, 1), dt.date(today.year - 1, 12, 31)


class PeriodForm(forms.Form):
    """The care the draft is applied to: claim lines of phases that started in the period."""

    period_start = forms.DateField(label=_("Care from"), widget=DATE)
    period_end = forms.DateField(label=_("Care until"), widget=DATE)

    def __init__(self, *args: Any, today: dt.date, **kwargs: Any) -> None:
        start, end = last_year(today)
        kwargs.setdefault("initial", {"period_start": start, "period_end": end})
        kwargs.setdefault("prefix", "period")
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("period_start"), data.get("period_end")
        if start and end and end < start:
            self.add_error("period_end", _("The end lies before the start."))
        return data
