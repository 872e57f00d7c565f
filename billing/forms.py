"""Forms for the finance screens. They parse input into what `billing.services` takes; the services
decide what is allowed (periods, percentages, prices, shares) and their field errors go back on these
fields (the field names are the services' error keys)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms import formset_factory
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.models import BatchStatus, SplitMethod
from billing.services.batches import batch_period_check
from billing.services.payouts import payout_period_check
from igo.dates import add_months, month_start
from igo.models import Insurer
from pregnancies.models import EndReason, EventType, Phase
from providers.models import MemberOrganisation

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
MONEY = forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"})
PERCENT = forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"})
MONTH = forms.DateInput(attrs={"type": "month"}, format="%Y-%m")


class TariffFieldsMixin(forms.Form):
    """Per phase a prestatie code and a price; a phase whose code and price are both empty is not covered."""

    def add_tariff_fields(self) -> None:
        for phase, label in Phase.choices:
            self.fields[f"code_{phase}"] = forms.CharField(
                label=_("Prestatie code (%(phase)s)") % {"phase": label},
                required=False,
                max_length=16,
            )
            self.fields[f"amount_{phase}"] = forms.DecimalField(
                label=_("Price (%(phase)s)") % {"phase": label},
                required=False,
                max_digits=10,
                widget=MONEY,
            )

    def main_fields(self) -> list[forms.BoundField]:
        return [f for f in self if not f.name.startswith(("code_", "amount_"))]

    def tariff_rows(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        return [
            (str(label), self[f"code_{phase}"], self[f"amount_{phase}"]) for phase, label in Phase.choices
        ]

    def tariffs(self) -> dict[str, tuple[str, Decimal]]:
        """The covered phases as the services take them: phase -> (prestatie code, price)."""
        result: dict[str, tuple[str, Decimal]] = {}
        for phase in Phase.values:
            code = (self.cleaned_data.get(f"code_{phase}") or "").strip()
            amount = self.cleaned_data.get(f"amount_{phase}")
            if code or amount is not None:
                result[phase] = (code, amount)  # type: ignore[assignment]
        return result

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for phase in Phase.values:
            code, amount = (cleaned.get(f"code_{phase}") or "").strip(), cleaned.get(f"amount_{phase}")
            if code and amount is None and f"amount_{phase}" not in self.errors:
                self.add_error(f"amount_{phase}", _("Enter the price, or leave the code empty as well."))
        return cleaned


class ContractForm(TariffFieldsMixin):
    insurer = forms.ModelChoiceField(
        label=_("Insurer"), queryset=Insurer.objects.filter(is_active=True).order_by("name")
    )
    name = forms.CharField(label=_("Name"), max_length=200)
    valid_from = forms.DateField(label=_("Valid from"), widget=DATE)
    valid_until = forms.DateField(
        label=_("Valid until"), required=False, widget=DATE, help_text=_("Leave empty for open-ended.")
    )
    overhead_pct = forms.DecimalField(label=_("IGO overhead (%)"), initial=0, max_digits=6, widget=PERCENT)
    reserve_pct = forms.DecimalField(label=_("Risk reserve (%)"), initial=0, max_digits=6, widget=PERCENT)
    submission_months = forms.IntegerField(
        label=_("Submission deadline (months after the care)"), initial=12, min_value=1, max_value=120
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_tariff_fields()

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "insurer": data["insurer"],
            "name": data["name"],
            "valid_from": data["valid_from"],
            "valid_until": data["valid_until"],
            "overhead_pct": data["overhead_pct"],
            "reserve_pct": data["reserve_pct"],
            "submission_months": data["submission_months"],
            "tariffs": self.tariffs(),
        }


class PartialRuleForm(forms.Form):
    """One rule for an early ending; a row without an end reason is ignored."""

    end_reason = forms.ChoiceField(
        label=_("End reason"),
        required=False,
        choices=[("", "—"), *[(v, lbl) for v, lbl in EndReason.choices if v != EndReason.COMPLETED]],
    )
    before_week = forms.IntegerField(
        label=_("Before gestational week"), required=False, min_value=1, max_value=45
    )
    phases = forms.MultipleChoiceField(
        label=_("Phases billed"), required=False, choices=Phase.choices, widget=forms.CheckboxSelectMultiple
    )
    percentage = forms.DecimalField(
        label=_("Percentage of the tariff"),
        required=False,
        initial=100,
        min_value=0,
        max_value=100,
        decimal_places=2,
        widget=PERCENT,
    )

    def rule(self) -> dict[str, Any] | None:
        data = getattr(self, "cleaned_data", {})
        if not data.get("end_reason"):
            return None
        pct = data.get("percentage")
        return {
            "end_reason": data["end_reason"],
            "before_week": data.get("before_week"),
            "phases": list(data.get("phases") or []),
            "percentage": Decimal("100") if pct is None else pct,
        }


PartialRuleFormSet = formset_factory(PartialRuleForm, extra=3, max_num=10)


def partial_rules(formset: Any) -> list[dict[str, Any]]:
    return [rule for rule in (form.rule() for form in formset.forms) if rule is not None]


class ContractVersionForm(TariffFieldsMixin):
    """A new version of a contract from a date: the old one ends the day before."""

    valid_from = forms.DateField(label=_("New version valid from"), widget=DATE)
    name = forms.CharField(label=_("Name"), max_length=200)
    overhead_pct = forms.DecimalField(label=_("IGO overhead (%)"), max_digits=6, widget=PERCENT)
    reserve_pct = forms.DecimalField(label=_("Risk reserve (%)"), max_digits=6, widget=PERCENT)
    submission_months = forms.IntegerField(
        label=_("Submission deadline (months after the care)"), min_value=1, max_value=120
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_tariff_fields()


class SplitRuleForm(forms.Form):
    """A version of the verdeelmodel: per phase a method and per member organisation a percentage (the
    fixed share, or the guaranteed minimum when dividing by care), and internal rates per event type."""

    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)
    valid_from = forms.DateField(
        label=_("Valid from"), required=False, widget=DATE, help_text=_("Leave empty for 1 January.")
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=200)

    def __init__(
        self,
        *args: Any,
        organisations: list[MemberOrganisation],
        event_types: list[EventType],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.organisations = organisations
        self.event_types = event_types
        for phase, label in Phase.choices:
            self.fields[f"method_{phase}"] = forms.ChoiceField(
                label=_("Method (%(phase)s)") % {"phase": label},
                required=False,
                choices=[("", _("— not divided by this rule")), *SplitMethod.choices],
            )
            for org in organisations:
                self.fields[f"pct_{phase}_{org.pk}"] = forms.DecimalField(
                    label=f"{org.name} ({label})", required=False, max_digits=7, widget=PERCENT
                )
        for et in event_types:
            self.fields[f"rate_{et.pk}"] = forms.DecimalField(
                label=f"{et.code} {et.name}", required=False, max_digits=12, widget=MONEY
            )

    def phase_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "phase": phase,
                "label": label,
                "method": self[f"method_{phase}"],
                "orgs": [(org, self[f"pct_{phase}_{org.pk}"]) for org in self.organisations],
            }
            for phase, label in Phase.choices
        ]

    def rate_rows(self) -> list[tuple[EventType, forms.BoundField]]:
        return [(et, self[f"rate_{et.pk}"]) for et in self.event_types]

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        phases: dict[str, dict[str, Any]] = {}
        for phase in Phase.values:
            method = data.get(f"method_{phase}")
            if not method:
                continue
            pcts = {
                org.pk: data[f"pct_{phase}_{org.pk}"]
                for org in self.organisations
                if data.get(f"pct_{phase}_{org.pk}") is not None
            }
            phases[phase] = {
                "method": method,
                ("shares" if method == SplitMethod.FIXED else "minimums"): pcts,
            }
        rates = {
            et.pk: data[f"rate_{et.pk}"] for et in self.event_types if data.get(f"rate_{et.pk}") is not None
        }
        return {
            "year": data["year"],
            "valid_from": data.get("valid_from"),
            "note": data.get("note") or "",
            "phases": phases,
            "rates": rates,
        }

    @staticmethod
    def error_aliases() -> dict[str, str]:
        """The service reports a phase's errors under the phase name; they belong to its method field."""
        return {phase: f"method_{phase}" for phase in Phase.values}


# --- claim batches and statements ------------------------------------------------------------


def previous_month(today: dt.date | None = None) -> dt.date:
    today = today or timezone.localdate()
    return add_months(month_start(today), -1)


class MonthField(forms.DateField):
    """A calendar month, entered as YYYY-MM (a month picker); cleaned to its first day."""

    widget = MONTH
    input_formats = ["%Y-%m"]

    def to_python(self, value: Any) -> dt.date | None:
        day = super().to_python(value)
        return day.replace(day=1) if day is not None else None


class BatchCreateForm(forms.Form):
    """Make the batches of a month: one per insurer with ready lines, for a month that has begun
    (`batch_period_check`)."""

    month = MonthField(label=_("Month"))

    def clean_month(self) -> dt.date:
        month: dt.date = self.cleaned_data["month"]
        try:
            month = batch_period_check(period=month)
        except ValidationError as exc:
            raise ValidationError(exc.error_dict["period"]) from exc
        if month.year < 2000:
            raise forms.ValidationError(_("Enter a month from 2000 on."), code="too_early")
        return month


class BatchFilterForm(forms.Form):
    insurer = forms.ModelChoiceField(
        label=_("Insurer"), queryset=Insurer.objects.none(), required=False, empty_label=_("all")
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("all")), *BatchStatus.choices]
    )
    month = MonthField(label=_("Month"), required=False)

    def __init__(self, *args: Any, insurers: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["insurer"].queryset = insurers  # type: ignore[attr-defined]

    def filters(self) -> dict[str, Any]:
        """The valid filters (a filter with a bad value is left out rather than refusing the page)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        insurer = data.get("insurer")
        return {
            "insurer_id": insurer.pk if insurer is not None else None,
            "status": data.get("status") or "",
            "period": data.get("month"),
        }


class StatementMonthForm(forms.Form):
    month = MonthField(label=_("Month"))

    def month_or(self, default: dt.date) -> dt.date:
        if self.is_valid():
            month: dt.date = self.cleaned_data["month"]
            if month <= timezone.localdate().replace(day=1):
                return month
        return default


class QualityAgreementForm(forms.Form):
    indicator = forms.ChoiceField(label=_("Indicator"))
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)
    target = forms.DecimalField(label=_("Target"), max_digits=8, decimal_places=1, min_value=0)
    bonus_pct = forms.DecimalField(
        label=_("Bonus when met (percentage of the year's claims)"),
        max_digits=5,
        decimal_places=2,
        min_value=0,
        initial=0,
    )
    malus_pct = forms.DecimalField(
        label=_("Malus when not met (percentage of the year's claims)"),
        max_digits=5,
        decimal_places=2,
        min_value=0,
        initial=0,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from quality.indicators import INDICATORS

        super().__init__(*args, **kwargs)
        self.fields["indicator"].choices = [  # type: ignore[attr-defined]
            (i.code, f"{i.name} ({_('lower is better') if i.better == 'lower' else _('higher is better')})")
            for i in INDICATORS
            if i.better
        ]


class SettleYearForm(forms.Form):
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)


# --- payouts (issue 14: payouts) -----------------------------------------------------------------------


class PayoutPrepareForm(forms.Form):
    """Prepare a month's payout run: a month that is over (`payout_period_check`), and optionally the day
    the bank executes the transfers (by default the next working day)."""

    month = MonthField(label=_("Month"))
    execution_date = forms.DateField(
        label=_("Execution date"),
        required=False,
        widget=DATE,
        help_text=_("Empty: the next working day."),
    )

    def __init__(self, *args: Any, today: dt.date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_month(self) -> dt.date:
        month: dt.date = self.cleaned_data["month"]
        if month.year < 2000:
            raise forms.ValidationError(_("Enter a month from 2000 on."), code="too_early")
        try:
            return payout_period_check(period=month, today=self.today)
        except ValidationError as exc:
            raise ValidationError(exc.error_dict["period"]) from exc

    def clean_execution_date(self) -> dt.date | None:
        day: dt.date | None = self.cleaned_data.get("execution_date")
        if day is not None and day < self.today:
            raise forms.ValidationError(_("The execution date lies in the past."), code="past")
        return day


class TenantBankAccountForm(forms.Form):
    """The IGO's own account, which payouts are paid from (checked by igo.services.tenant_bank_account_set)."""

    iban = forms.CharField(label=_("IBAN"), max_length=42)
    bic = forms.CharField(
        label=_("BIC"),
        required=False,
        max_length=14,
        help_text=_("Optional: left empty, it is looked up from the IBAN where possible."),
    )
