from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from fhir_io import export, services
from pregnancies.models import EventType
from providers.models import MemberOrganisation


class MemberKeyForm(forms.Form):
    organisation = forms.ModelChoiceField(
        label=_("Member organisation"), queryset=MemberOrganisation.unscoped.none()
    )
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("E.g. the system that will use it."))
    days = forms.IntegerField(
        label=_("Valid for (days)"),
        min_value=1,
        max_value=services.MEMBER_KEY_DAYS_MAX,
        initial=services.MEMBER_KEY_DAYS_DEFAULT,
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = MemberOrganisation.objects.all()  # type: ignore[attr-defined]


class CodeMappingForm(forms.Form):
    system = forms.CharField(
        label=_("Code system"), max_length=200, help_text=_("The sender's coding system (a URI).")
    )
    code = forms.CharField(label=_("Code"), max_length=64)
    event_type = forms.ModelChoiceField(label=_("Care event type"), queryset=EventType.unscoped.none())

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["event_type"].queryset = EventType.objects.filter(is_active=True)  # type: ignore[attr-defined]


class EpisodeExportForm(forms.Form):
    """Who receives one episode: decides whether her BSN is in it (fhir_io.export)."""

    receiver = forms.ChoiceField(label=_("Receiver"), choices=export.Receiver.choices)


class PeriodExportForm(forms.Form):
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)
    month = forms.TypedChoiceField(
        label=_("Month"),
        choices=[("", _("The whole year"))] + [(str(m), str(m)) for m in range(1, 13)],
        coerce=int,
        empty_value=None,
        required=False,
    )
    receiver = forms.ChoiceField(
        label=_("Receiver"), choices=export.Receiver.choices, initial=export.Receiver.REGISTRY
    )

    def period(self) -> tuple[date, date]:
        """The first day and the day after the last of the period chosen."""
        year, month = self.cleaned_data["year"], self.cleaned_data.get("month")
        if month is None:
            return date(year, 1, 1), date(year + 1, 1, 1)
        return date(year, month, 1), date(year + month // 12, month % 12 + 1, 1)


class CareCsvForm(forms.Form):
    """A care file of a member organisation (fhir_io.csv_import), uploaded by the IGO's administrator."""

    organisation = forms.ModelChoiceField(
        label=_("Member organisation"), queryset=MemberOrganisation.unscoped.none()
    )
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("Separated by ; or , — UTF-8 or Windows-1252 (Excel); at most 2 MB."),
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = MemberOrganisation.objects.all()  # type: ignore[attr-defined]
