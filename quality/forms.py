"""The year picker of the quality screens and exports."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

FIRST_YEAR = 2000


class YearForm(forms.Form):
    year = forms.TypedChoiceField(label=_("Year"), coerce=int, choices=())

    def __init__(self, *args: object, years: list[int], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["year"].choices = [(y, str(y)) for y in years]  # type: ignore[attr-defined]

    def year_or_current(self) -> int:
        """The chosen year; the current year when none (or one without values) was chosen."""
        if self.is_bound and self.is_valid():
            return int(self.cleaned_data["year"])
        return timezone.localdate().year
