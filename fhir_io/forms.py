from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from fhir_io import services
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
