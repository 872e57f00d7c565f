"""Forms for the finance screens. They parse input into what `billing.services` takes; the services
decide what is allowed (periods, percentages, prices, shares) and their field errors go back on these
fields (the field names are the services' error keys)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms import formset_factory
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.models import BatchStatus, PartialChoice, SplitMethod
from billing.selectors import CLAIM_STATUSES, DEADLINE_SOON_DAYS, ClaimFilter, WorkSubject
from billing.services.batches import batch_period_check
from billing.services.contracts import partial_rule_key_parse
from billing.services.payouts import execution_date_check, payout_period_check
from igo.dates import add_months, month_start
from igo.forms import MoneyField
from igo.models import Insurer
from pregnancies.models import EndReason, EventType, Phase
from providers.models import MemberOrganisation

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
PERCENT = forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"})
MONTH = forms.DateInput(attrs={"type": "month"}, format="%Y-%m")
WEEK = forms.NumberInput(attrs={"min": "0", "max": "45", "step": "1", "inputmode": "numeric"})
ANSWER_HELP = _(
    "How long the insurer has to answer a sent line; after it, an unanswered line is paid out to the members."
)


class TariffFieldsMixin(forms.Form):
    """Per phase a prestatie code and a price; a phase whose code and price are both empty is not covered."""

    def add_tariff_fields(self) -> None:
        for phase, label in Phase.choices:
            self.fields[f"code_{phase}"] = forms.CharField(
                label=_("Prestatie code (%(phase)s)") % {"phase": label},
                required=False,
                max_length=16,
            )
            self.fields[f"amount_{phase}"] = MoneyField(
                # Whole cents are the service's to check, with its message.
                label=_("Price (%(phase)s)") % {"phase": label},
                required=False,
                decimal_places=None,
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
    submission_months = forms.IntegerField(
        label=_("Submission deadline (months after the care)"), initial=12, min_value=1, max_value=120
    )
    answer_days = forms.IntegerField(
        label=_("Answer term (days after the batch is released)"),
        initial=30,
        help_text=ANSWER_HELP,
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
            "submission_months": data["submission_months"],
            "answer_days": data["answer_days"],
            "tariffs": self.tariffs(),
        }


class PartialRuleForm(forms.Form):
    """One rule for an early ending: what is billed of the phase the ending interrupted, optionally only for
    a band of gestational weeks at the end date. An empty row is ignored; the service checks the rest
    (`billing.services.contracts.partial_rules_clean`)."""

    end_reason = forms.ChoiceField(
        label=_("End reason"),
        required=False,
        choices=[("", "—"), *[(v, lbl) for v, lbl in EndReason.choices if v != EndReason.COMPLETED]],
    )
    phase = forms.ChoiceField(
        label=_("Interrupted phase"), required=False, choices=[("", "—"), *Phase.choices]
    )
    from_week = forms.IntegerField(label=_("From week"), required=False, widget=WEEK)
    until_week = forms.IntegerField(label=_("Until week"), required=False, widget=WEEK)
    percentage = forms.DecimalField(
        label=_("Percentage of the tariff"), required=False, initial=100, max_digits=6, widget=PERCENT
    )

    def is_used(self) -> bool:
        """Whether the row says anything (the percentage alone is prefilled, so it does not count)."""
        data = getattr(self, "cleaned_data", {})
        return any(data.get(f) not in (None, "") for f in ("end_reason", "phase", "from_week", "until_week"))

    def rule(self) -> dict[str, Any]:
        data = self.cleaned_data
        pct = data.get("percentage")
        return {
            "end_reason": data.get("end_reason") or "",
            "phase": data.get("phase") or "",
            "from_week": data.get("from_week"),
            "until_week": data.get("until_week"),
            "percentage": Decimal("100") if pct is None else pct,
        }


PartialRuleFormSet = formset_factory(PartialRuleForm, extra=3, max_num=30)


def partial_rule_forms(formset: Any) -> list[PartialRuleForm]:
    """The rows that say something, in the order the service receives their rules."""
    return [form for form in formset.forms if form.is_used()]


def partial_rules(formset: Any) -> list[dict[str, Any]]:
    return [form.rule() for form in partial_rule_forms(formset)]


def partial_rules_initial(rules: Iterable[Any]) -> list[dict[str, Any]]:
    """A contract's rules as rows of the formset (a new version starts from them)."""
    return [
        {
            "end_reason": r.end_reason,
            "phase": r.phase,
            "from_week": r.from_week,
            "until_week": r.until_week,
            "percentage": r.percentage,
        }
        for r in rules
    ]


def add_partial_rule_errors(formset: Any, exc: ValidationError) -> ValidationError:
    """Put the service's errors of the rules for an early ending on their rows; return the other errors
    (for the contract form)."""
    if not hasattr(exc, "error_dict"):
        return exc
    used = partial_rule_forms(formset)
    rest: dict[str, list[str]] = {}
    for key, messages in exc.message_dict.items():
        place = partial_rule_key_parse(key)
        if place is not None and place[0] < len(used) and place[1] in used[place[0]].fields:
            used[place[0]].add_error(place[1], messages)
        else:
            rest[key] = messages
    return ValidationError(rest)


class ContractVersionForm(TariffFieldsMixin):
    """A new version of a contract from a date: the old one ends the day before."""

    valid_from = forms.DateField(label=_("New version valid from"), widget=DATE)
    name = forms.CharField(label=_("Name"), max_length=200)
    submission_months = forms.IntegerField(
        label=_("Submission deadline (months after the care)"), min_value=1, max_value=120
    )
    answer_days = forms.IntegerField(
        label=_("Answer term (days after the batch is released)"), help_text=ANSWER_HELP
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_tariff_fields()


class ContractRepriceForm(TariffFieldsMixin):
    """A retroactive tariff change: new tariffs from a date that may lie before claims already made under
    the current version (billing.services.repricing)."""

    valid_from = forms.DateField(label=_("New tariffs valid from"), widget=DATE)
    valid_until = forms.DateField(
        label=_("Valid until"),
        required=False,
        widget=DATE,
        help_text=_("Leave empty to end where the current version ends."),
    )
    name = forms.CharField(label=_("Name of the new version"), max_length=200)
    # The preview's fingerprint: the confirmation is refused when the plan changed since.
    expected = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_tariff_fields()

    def main_fields(self) -> list[forms.BoundField]:
        return [f for f in super().main_fields() if f.name != "expected"]


class SplitRuleForm(forms.Form):
    """A version of the verdeelmodel: per phase a method and per member organisation a percentage (the
    fixed share, or the guaranteed minimum when dividing by care), and internal rates per event type."""

    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)
    valid_from = forms.DateField(
        label=_("Valid from"), required=False, widget=DATE, help_text=_("Leave empty for 1 January.")
    )
    overhead_pct = forms.DecimalField(
        label=_("IGO overhead (%)"),
        required=False,
        max_digits=6,
        widget=PERCENT,
        help_text=_("Of every claim line, whatever the insurer. Leave empty for 0."),
    )
    reserve_pct = forms.DecimalField(
        label=_("Risk reserve (%)"),
        required=False,
        max_digits=6,
        widget=PERCENT,
        help_text=_("Of every claim line, after the overhead. Leave empty for 0."),
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
            self.fields[f"rate_{et.pk}"] = MoneyField(
                label=f"{et.code} {et.name}", required=False, max_digits=12, decimal_places=None
            )

    main_field_names = ("year", "valid_from", "overhead_pct", "reserve_pct", "note")

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
        overhead, reserve = data.get("overhead_pct"), data.get("reserve_pct")
        return {
            "year": data["year"],
            "valid_from": data.get("valid_from"),
            "overhead_pct": Decimal(0) if overhead is None else overhead,
            "reserve_pct": Decimal(0) if reserve is None else reserve,
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


# --- finance's decision on an interrupted phase (issue 14) --------------------------------------------


class PartialDecisionForm(forms.Form):
    """What finance decides for an interrupted phase the contract has no rule for. The service checks the
    percentage (0 to 100) and the reason; these fields only parse."""

    choice = forms.ChoiceField(label=_("Decision"), choices=PartialChoice.choices, widget=forms.RadioSelect)
    percentage = forms.DecimalField(
        label=_("Percentage of the tariff"),
        required=False,
        widget=PERCENT,
        help_text=_("Only for “Bill a percentage”: 0 to 100."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Shown with the amount and kept in the audit log."),
    )


class MemberRepaymentForm(forms.Form):
    """A former member's repayment received outside the platform. The service checks it against the debt."""

    amount = MoneyField(label=_("Amount received"))
    received_on = forms.DateField(label=_("Received on"), widget=DATE)
    reference = forms.CharField(
        label=_("Bank reference or note"),
        max_length=140,
        widget=forms.TextInput(attrs={"maxlength": "140"}),
        help_text=_("For example the description on the bank statement. Kept in the audit log."),
    )


class WorkItemResolveForm(forms.Form):
    """How finance settled a work item the platform cannot settle (a former member's debt). The service
    checks the note's length (the browser stops at 500)."""

    note = forms.CharField(
        label=_("How was it settled?"),
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": "500"}),
        help_text=_("For example: repaid on 8 May 2027, or written off by the board. Kept in the audit log."),
    )


# --- issue 14: the insurer's payments of a batch, the work queue's filter ---------------------------


class InsurerPaymentForm(forms.Form):
    """A payment received from the insurer for a batch, as on the bank statement
    (`billing.services.insurer_payments.insurer_payment_record` checks it)."""

    amount = MoneyField(
        label=_("Amount received"),
        max_digits=None,
        decimal_places=None,
        help_text=_("Negative for money the insurer took back."),
    )
    received_on = forms.DateField(label=_("Received on"), widget=DATE)
    reference = forms.CharField(label=_("Payment reference"), max_length=140)


class WorkQueueFilterForm(forms.Form):
    reason = forms.ChoiceField(label=_("Reason"), required=False)
    subject = forms.ChoiceField(
        label=_("About"), required=False, choices=[("", _("all")), *WorkSubject.choices]
    )

    def __init__(self, *args: Any, reasons: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].choices = [("", _("all")), *reasons]  # type: ignore[attr-defined]

    def filters(self) -> dict[str, str]:
        """The valid filters (a filter with a bad value is left out rather than refusing the page)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {"reason": data.get("reason") or "", "subject": data.get("subject") or ""}


class ClaimFilterForm(forms.Form):
    """The claims list's search and filters (GET). A bad value leaves its filter out rather than refusing
    the page."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    insurer = forms.ModelChoiceField(
        label=_("Insurer"), queryset=Insurer.objects.none(), required=False, empty_label=_("all")
    )
    status = forms.ChoiceField(label=_("Status"), required=False)
    month = MonthField(label=_("Month booked"), required=False)
    member = forms.ModelChoiceField(
        label=_("Member"), queryset=MemberOrganisation.unscoped.none(), required=False, empty_label=_("all")
    )
    phase = forms.ChoiceField(label=_("Phase"), required=False, choices=[("", _("all")), *Phase.choices])
    deadline = forms.BooleanField(label=_("Submission deadline within 30 days"), required=False)
    sendable = forms.BooleanField(label=_("Not held back by the pre-send check"), required=False)

    def __init__(self, *args: Any, insurers: Any, members: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["insurer"].queryset = insurers  # type: ignore[attr-defined]
        self.fields["member"].queryset = members  # type: ignore[attr-defined]
        self.fields["status"].choices = [  # type: ignore[attr-defined]
            ("", _("all")),
            *((s.value, s.label) for s in CLAIM_STATUSES),
        ]

    def claim_filter(self, *, today: dt.date) -> ClaimFilter:
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        insurer, member = data.get("insurer"), data.get("member")
        return ClaimFilter(
            search=(data.get("q") or "").strip(),
            insurer_id=insurer.pk if insurer is not None else None,
            status=data.get("status") or "",
            month=data.get("month"),
            organisation_id=member.pk if member is not None else None,
            phase=data.get("phase") or "",
            deadline_by=today + dt.timedelta(days=DEADLINE_SOON_DAYS) if data.get("deadline") else None,
            sendable=bool(data.get("sendable")),
            today=today,
        )


# --- payouts (issue 14: payouts) -----------------------------------------------------------------------


class PayoutPrepareForm(forms.Form):
    """Prepare a month's payout run: a month that is over (`payout_period_check`), and optionally the day
    the bank executes the transfers (by default the next working day)."""

    month = MonthField(label=_("Month"))
    execution_date = forms.DateField(
        label=_("Execution date"),
        required=False,
        widget=DATE,
        help_text=_("Empty: the next bank working day."),
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
        if day is None:
            return None
        try:
            return execution_date_check(day=day, today=self.today)
        except ValidationError as exc:
            raise ValidationError(exc.error_dict["execution_date"]) from exc


class TenantBankAccountForm(forms.Form):
    """The IGO's own account, which payouts are paid from (checked by igo.services.tenant_bank_account_set)."""

    iban = forms.CharField(label=_("IBAN"), max_length=42)
    bic = forms.CharField(
        label=_("BIC"),
        required=False,
        max_length=14,
        help_text=_("Optional: left empty, it is looked up from the IBAN where possible."),
    )
