"""Forms for accounts and tenancy. They validate input; the services apply the business rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.forms.renderers import DjangoTemplates
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeData
from django.utils.translation import gettext_lazy as _

from igo import services
from igo.models import Role, Tenant
from igo.money import AmountFormatError, amount_parse
from igo.validators import MinimumLengthValidator, validate_igo_agb_code

# How far ahead of the clock a typed moment still counts as "now" (a phone's clock a few minutes fast).
NOW_TOLERANCE = dt.timedelta(minutes=10)


class LocalDateTimeField(forms.DateTimeField):
    """A moment typed on the Amsterdam clock (a datetime-local input).

    On the night the clocks go back, 02:00-02:59 happens twice; Django refuses such a time as ambiguous. Care
    is logged after it happened, so a typed time in that hour means the later of the two moments when that
    one has passed, else the earlier (a carer logging at 02:40 CET means 02:30 CET; at 02:40 CEST, 02:30
    CEST). A time in the hour the clocks skip in March does not exist and is refused, saying so."""

    def to_python(self, value: Any) -> dt.datetime | None:
        try:
            return super().to_python(value)
        except ValidationError as error:
            if error.code != "ambiguous_timezone":
                raise
            naive = value if isinstance(value, dt.datetime) else parse_datetime(str(value).strip())
            if naive is None:
                raise
            return self._resolve(naive.replace(tzinfo=None))

    @staticmethod
    def _resolve(naive: dt.datetime) -> dt.datetime:
        zone = timezone.get_current_timezone()
        earlier, later = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
        if earlier.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) != naive:
            raise ValidationError(
                _(
                    "%(time)s does not exist on the Dutch clock: that night the clocks go from 02:00 to 03:00."
                ),
                code="nonexistent_time",
                params={"time": naive.strftime("%d-%m-%Y %H:%M")},
            )
        # In UTC: an aware datetime with fold=1 never compares equal to one in another zone (PEP 495).
        if later.astimezone(dt.UTC) <= timezone.now() + NOW_TOLERANCE:
            return later.astimezone(dt.UTC)
        return earlier.astimezone(dt.UTC)


class MoneyField(forms.DecimalField):
    """An amount in euros, typed as the pages show amounts (1.500,00) or as a clerk types it (1500,00,
    1500), or in the international form (1,500.00, 1500.00); `igo.money.amount_parse` reads it one way only
    and an ambiguous 1.000 is refused with how to write it. Shown in Dutch form (1500,00). Two places and at
    most 10 digits unless told otherwise."""

    widget = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})
    default_error_messages = {
        "invalid": _("Enter an amount in euros, such as 1.500,00 or 1500,00."),
        "ambiguous": _(
            "“%(value)s” can be read in two ways: write the cents after a comma, such as 1.500,00 or 1500,00."
        ),
    }

    def __init__(self, *, max_digits: int | None = 10, decimal_places: int | None = 2, **kwargs: Any) -> None:
        kwargs.setdefault("localize", True)
        super().__init__(max_digits=max_digits, decimal_places=decimal_places, **kwargs)

    def to_python(self, value: Any) -> Decimal | None:  # type: ignore[override]  # as the stubs' own
        if value in self.empty_values:
            return None
        if isinstance(value, Decimal | int):
            return Decimal(value)
        try:
            return amount_parse(str(value))
        except AmountFormatError as exc:
            if exc.ambiguous:
                raise ValidationError(
                    self.error_messages["ambiguous"], code="ambiguous", params={"value": exc.text.strip()}
                ) from exc
            raise ValidationError(self.error_messages["invalid"], code="invalid") from exc


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"))
    full_name = forms.CharField(label=_("Full name"), max_length=150, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class TenantSettingsForm(forms.Form):
    """The IGO's own settings, kept by its administrator (igo.views.tenant_settings)."""

    batch_four_eyes = forms.BooleanField(
        label=_("Four eyes on claim batches"),
        required=False,
        help_text=_(
            "A claim batch is released to the insurer by another finance user than the one who made or last "
            "rebuilt it, as payouts are. Switch it off only when the IGO has one finance person."
        ),
    )


class TenantCreateForm(forms.Form):
    name = forms.CharField(label=_("Name of the IGO"), max_length=200)
    slug = forms.SlugField(
        label=_("Short name in addresses"),
        max_length=50,
        help_text=_("Lower-case letters, digits and hyphens, e.g. igo-zuidoost."),
        error_messages={
            "invalid": _(
                "The short name may contain only letters, digits and hyphens (no spaces or accents), "
                "e.g. igo-zuidoost."
            )
        },
    )
    agb_code = forms.CharField(
        label=_("AGB code"),
        # The length is validate_igo_agb_code's to check: a min/max length here doubled its message.
        widget=forms.TextInput(attrs={"maxlength": "8", "inputmode": "numeric", "autocomplete": "off"}),
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


class AdminInviteForm(forms.Form):
    """The operator's invitation (again) of an IGO administrator."""

    email = forms.EmailField(label=_("E-mail of the administrator"))


class InsurerUserInviteForm(forms.Form):
    """The operator's invitation (again) of someone who works for an insurer."""

    email = forms.EmailField(label=_("E-mail address"))
    full_name = forms.CharField(label=_("Full name"), max_length=150, required=False)


class AcceptInvitationForm(forms.Form):
    full_name = forms.CharField(label=_("Full name"), max_length=150)
    password1 = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("Password (again)"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The length rule, said before it is broken (the other rules only refuse weak choices).
        self.fields["password1"].help_text = " ".join(
            v.get_help_text()
            for v in password_validation.get_default_password_validators()
            if isinstance(v, MinimumLengthValidator)
        )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("password1") and data.get("password2") and data["password1"] != data["password2"]:
            self.add_error("password2", _("The two passwords differ."))
        return data


class EmailChangeForm(forms.Form):
    """The user's own request for another sign-in address; her password confirms it is she."""

    email = forms.EmailField(label=_("New e-mail address"))
    password = forms.CharField(
        label=_("Your password"), widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("The password is not correct."))
        return str(password)


class UserEmailForm(forms.Form):
    """An administrator sets a user's sign-in address."""

    email = forms.EmailField(label=_("New e-mail address"))


class PersonalTokenForm(forms.Form):
    """Name and validity of a personal API key (igo.services.personal_token_create checks them again)."""

    name = forms.CharField(label=_("Name"), max_length=100)
    days = forms.IntegerField(
        label=_("Valid for (days)"),
        min_value=1,
        max_value=services.PERSONAL_TOKEN_DAYS_MAX,
        initial=services.PERSONAL_TOKEN_DAYS_DEFAULT,
    )


# --- a form renderer without templates for the basic widgets -------------------------------------------


def _text(value: Any) -> str:
    """`{{ value }}` in an autoescaped template, for the strings the widget templates print."""
    return str(conditional_escape(value))


def _formatted(value: Any) -> str:
    """`{{ value|stringformat:'s' }}`: the filter keeps the safety of what it is given."""
    text = "%s" % (value,)  # noqa: UP031 - the filter's own formatting
    return text if isinstance(value, SafeData) else str(escape(text))


def _attrs(attrs: dict[str, Any]) -> str:
    """django/forms/attrs.html and widgets/attrs.html."""
    return "".join(
        f" {_text(name)}" + ("" if value is True else f'="{_formatted(value)}"')
        for name, value in attrs.items()
        if value is not False
    )


def _input(context: dict[str, Any]) -> str:
    w = context["widget"]
    value = "" if w["value"] is None else f' value="{_formatted(w["value"])}"'
    return f'<input type="{_text(w["type"])}" name="{_text(w["name"])}"{value}{_attrs(w["attrs"])}>'


def _textarea(context: dict[str, Any]) -> str:
    w = context["widget"]
    value = _text(w["value"]) if w["value"] else ""
    return f'<textarea name="{_text(w["name"])}"{_attrs(w["attrs"])}>\n{value}</textarea>'


SELECT_OPTION = "django/forms/widgets/select_option.html"


def _option(option: dict[str, Any]) -> str:
    # The option's template file ends with a line break, which its include keeps.
    return f'<option value="{_formatted(option["value"])}"{_attrs(option["attrs"])}>{_text(option["label"])}</option>\n'


def _select(context: dict[str, Any]) -> str | None:
    w = context["widget"]
    parts = [f'<select name="{_text(w["name"])}"{_attrs(w["attrs"])}>']
    for group_name, group_choices, _index in w["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{_text(group_name)}">')
        for option in group_choices:
            if option.get("template_name") != SELECT_OPTION:
                return None  # an option template of its own: the templates render it
            parts.append(f"\n  {_option(option)}")
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


def _label(context: dict[str, Any]) -> str:
    if not context["use_tag"]:
        return _text(context["label"])
    tag = _text(context["tag"])
    return f"<{tag}{_attrs(context['attrs'] or {})}>{_text(context['label'])}</{tag}>"


def _error_list(context: dict[str, Any]) -> str:
    errors = context["errors"]
    if not errors:
        return ""
    field_id = getattr(errors, "field_id", None)
    ident = f' id="{_text(field_id)}_error"' if field_id else ""
    items = "".join(f"<li>{_text(error)}</li>" for error in errors)
    return f'<ul class="{_text(context["error_class"])}"{ident}>{items}</ul>'


_INPUT_TEMPLATES = (
    "input",
    "text",
    "number",
    "email",
    "url",
    "password",
    "hidden",
    "date",
    "datetime",
    "time",
    "checkbox",
)
_PLAIN: dict[str, Any] = {
    **{f"django/forms/widgets/{name}.html": _input for name in _INPUT_TEMPLATES},
    "django/forms/widgets/textarea.html": _textarea,
    "django/forms/widgets/select.html": _select,
    "django/forms/label.html": _label,
    "django/forms/errors/list/default.html": _error_list,
    "django/forms/errors/list/ul.html": _error_list,
}


class PlainRenderer(DjangoTemplates):
    """Django's template form renderer, with its basic widget, label and error-list templates written out in
    Python: the same HTML (tests/igo/test_plain_renderer.py compares the two) without a template render per
    widget, label and option. Every other template (a widget of its own, a field or form layout) is rendered
    by the templates as before. For forms drawn on the busiest answers (the care-logging form, issue 18)."""

    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> str:
        plain = _PLAIN.get(template_name)
        if plain is not None:
            html = plain(context)
            if html is not None:
                return str(html).strip()
        return str(super().render(template_name, context, request))


PLAIN_RENDERER = PlainRenderer()
