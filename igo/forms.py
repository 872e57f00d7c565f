"""Forms for accounts and tenancy. They validate input; the services apply the business rules."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from igo.models import Role, Tenant
from igo.validators import validate_igo_agb_code


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"))
    full_name = forms.CharField(label=_("Full name"), max_length=150, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class TenantCreateForm(forms.Form):
    name = forms.CharField(label=_("Name of the IGO"), max_length=200)
    slug = forms.SlugField(
        label=_("Short name in addresses"),
        max_length=50,
        help_text=_("Lower-case letters, digits and hyphens, e.g. igo-zuidoost."),
    )
    agb_code = forms.CharField(
        label=_("AGB code"),
        min_length=8,
        max_length=8,
        validators=[validate_igo_agb_code],
        help_text=_("8 digits, starting with 53 (provider type IGO)."),
    )
    first_admin_email = forms.EmailField(label=_("E-mail of the first administrator"))

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"].lower()
        if Tenant.objects.filter(slug=slug).exists():
            raise forms.ValidationError(_("This short name is already in use."))
        return slug

    def clean_agb_code(self) -> str:
        code = self.cleaned_data["agb_code"].strip()
        if Tenant.objects.filter(agb_code=code).exists():
            raise forms.ValidationError(_("An IGO with this AGB code already exists."))
        return code


class AcceptInvitationForm(forms.Form):
    full_name = forms.CharField(label=_("Full name"), max_length=150)
    password1 = forms.CharField(
        label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label=_("Password (again)"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("password1") and data.get("password2") and data["password1"] != data["password2"]:
            self.add_error("password2", _("The two passwords differ."))
        return data
