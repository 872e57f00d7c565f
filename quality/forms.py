"""The year picker of the quality screens and exports, and the client experience questionnaire's forms."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pregnancies.forms import DATE, number_input

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


class ExperienceForm(forms.Form):
    """The client experience questionnaire after the maternity period, as the client answered it."""

    answered_on = forms.DateField(label=_("Answered on"), widget=DATE)
    overall = forms.IntegerField(label=_("Overall rating of the care (1–10)"), widget=number_input(1, 10))
    informed = forms.IntegerField(label=_("I was well informed (1–5)"), widget=number_input(1, 5))
    same_team = forms.IntegerField(label=_("I saw a small, familiar team (1–5)"), widget=number_input(1, 5))
    recommend = forms.IntegerField(
        label=_("Would recommend the care to a friend (0–10)"), widget=number_input(0, 10)
    )


class ExperienceImportForm(forms.Form):
    file = forms.FileField(
        label=_("File of answers (CSV)"),
        help_text=_("Header episode;answered_on;overall;informed;same_team;recommend, separated by ; or ,."),
    )


class ExperienceLookupForm(forms.Form):
    episode = forms.IntegerField(label=_("Episode number"), min_value=1, max_value=10**12)
