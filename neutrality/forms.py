"""Forms of the budget-neutrality monitor: they parse input; the services decide what is allowed and their
field errors come back on these fields."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from igo.forms import MoneyField
from neutrality.models import ReferenceSource, dbc_code_validator
from pregnancies.models import EventType

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class YearForm(forms.Form):
    year = forms.IntegerField(min_value=2000, max_value=2100, required=False)


class DbcAmountForm(forms.Form):
    code = forms.CharField(
        label=_("DBC care product"),
        max_length=9,
        validators=[dbc_code_validator],
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )
    description = forms.CharField(label=_("Description"), max_length=200)
    valid_from = forms.DateField(label=_("Valid from"), widget=DATE)
    valid_to = forms.DateField(
        label=_("Valid to"), required=False, widget=DATE, help_text=_("Leave empty for open-ended.")
    )
    amount = MoneyField(label=_("Amount"), min_value=Decimal("0"))

    def clean(self) -> dict:
        data = super().clean() or {}
        start, end = data.get("valid_from"), data.get("valid_to")
        if start and end and end < start:
            self.add_error("valid_to", _("The end lies before the start."))
        return data


class MappingForm(forms.Form):
    event_type = forms.ModelChoiceField(label=_("Care event type"), queryset=EventType.unscoped.none())
    source = forms.ChoiceField(
        label=_("Billed monodisciplinary as"),
        required=False,
        choices=[("", _("— no mapping —")), *ReferenceSource.choices],
    )
    code = forms.CharField(label=_("Prestatie or DBC code"), max_length=16, required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["event_type"].queryset = EventType.objects.order_by("code")  # type: ignore[attr-defined]
