"""Forms for member organisations and professionals. Choices are read within the tenant in scope."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from igo.models import User
from igo.tenancy import current_tenant
from igo.validators import validate_agb_code, validate_big_number
from providers.models import Discipline, MemberOrganisation, OrganisationKind

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
# An AGB code's length is checked by validate_agb_code alone: the field's own min/max length would add
# Django's generic "at least 8 characters" beside our 8-digit message. The browser still stops at 8.
AGB_INPUT = forms.TextInput(attrs={"maxlength": "8", "inputmode": "numeric", "autocomplete": "off"})
# Likewise a BIG number's 11 digits: validate_big_number alone, the browser stopping at 11.
BIG_INPUT = forms.TextInput(attrs={"maxlength": "11", "inputmode": "numeric", "autocomplete": "off"})


class OrganisationForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=OrganisationKind.choices)
    agb_code = forms.CharField(label=_("AGB code"), widget=AGB_INPUT, validators=[validate_agb_code])
    member_from = forms.DateField(label=_("Member from"), widget=DATE)
    member_until = forms.DateField(label=_("Member until"), required=False, widget=DATE)
    # The account payouts go to; checked by providers.services (schwifty), which also derives the BIC.
    iban = forms.CharField(
        label=_("IBAN"),
        required=False,
        max_length=42,
        help_text=_("The account payouts to this member are transferred to. Spaces are allowed."),
    )
    bic = forms.CharField(
        label=_("BIC"),
        required=False,
        max_length=14,
        help_text=_("Optional: left empty, it is looked up from the IBAN where possible."),
    )
    account_holder = forms.CharField(label=_("Account holder"), required=False, max_length=70)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("member_from"), data.get("member_until")
        if start and end and end < start:
            self.add_error("member_until", _("The end of the membership lies before its start."))
        return data


class EndMembershipForm(forms.Form):
    until = forms.DateField(
        label=_("Last day of membership"),
        widget=DATE,
        error_messages={"required": _("Enter the last day of the membership.")},
    )


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.full_name} <{obj.email}>" if obj.full_name else obj.email


class ProfessionalForm(forms.Form):
    full_name = forms.CharField(label=_("Full name"), max_length=150)
    discipline = forms.ChoiceField(label=_("Discipline"), choices=Discipline.choices)
    organisation = forms.ModelChoiceField(label=_("Works for"), queryset=MemberOrganisation.unscoped.none())
    agb_code = forms.CharField(
        label=_("Personal AGB code"),
        required=False,
        widget=AGB_INPUT,
        validators=[validate_agb_code],
    )
    big_number = forms.CharField(
        label=_("BIG number"),
        required=False,
        widget=BIG_INPUT,
        validators=[validate_big_number],
        help_text=_("Required for midwives and doctors."),
    )
    user = UserChoiceField(
        label=_("User account"),
        required=False,
        queryset=User.objects.none(),
        help_text=_("Links the professional to someone who signs in, so their events are attributed."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tenant = current_tenant()
        self.fields["organisation"].queryset = MemberOrganisation.objects.order_by("name")  # type: ignore[attr-defined]
        self.fields["user"].queryset = (  # type: ignore[attr-defined]
            User.objects.filter(memberships__tenant=tenant, memberships__is_active=True)
            .distinct()
            .order_by("email")
        )
