"""Insurer contracts with dated tariffs, the IGO's split rules, integral claims and their allocation."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from igo.tenancy import TenantOwned
from pregnancies.models import EndReason, Phase

PERCENT = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]
# The slack of a check on a sum of two-decimal numbers (see the constraints that use it).
HALF_CENT = Decimal("0.005")


class PrestatieCode(models.Model):
    """A prestatie of the integrated birth-care code list (Vektis list 069): dated reference data."""

    code = models.CharField(_("code"), max_length=16)
    description = models.CharField(_("description"), max_length=200)
    phase = models.CharField(_("phase"), max_length=16, choices=Phase.choices)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)

    class Meta:
        verbose_name = _("prestatie code")
        verbose_name_plural = _("prestatie codes")
        ordering = ["code", "valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["code", "valid_from"], name="prestatie_code_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.description}"


class ReturnCode(models.Model):
    """A return code of Vektis list COD954 (the reason on a KZ302 return record): dated reference data, one
    row per description in force from `valid_from` (`manage.py return_codes_load`)."""

    code = models.CharField(_("code"), max_length=4)
    description = models.CharField(_("description"), max_length=300)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)

    class Meta:
        verbose_name = _("return code")
        verbose_name_plural = _("return codes")
        ordering = ["code", "valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["code", "valid_from"], name="return_code_version_unique"),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=F("valid_from")),
                name="return_code_dates_in_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.description}"


class Contract(TenantOwned):
    """One version of the IGO's contract with an insurer, valid over a period. A new version is a new row."""

    insurer = models.ForeignKey(
        "igo.Insurer", on_delete=models.PROTECT, related_name="+", verbose_name=_("insurer")
    )
    name = models.CharField(_("name"), max_length=200)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    submission_months = models.PositiveSmallIntegerField(
        _("submission deadline (months after the care)"), default=12
    )
    # How long the insurer has to answer a sent line; after it an unanswered line counts as accepted for
    # the payout to members.
    answer_days = models.PositiveSmallIntegerField(
        _("answer term (days after the batch is released)"), default=30
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("insurer contract")
        verbose_name_plural = _("insurer contracts")
        ordering = ["insurer__name", "-valid_from"]
        constraints = [
            # A version may end the day before it starts: replaced for its whole period by a retroactive
            # tariff change from its first day (billing.services.repricing). It stays, with its tariffs,
            # for the claims sent under it; no day falls in its period, so nothing reads it as in force.
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True)
                | Q(valid_until__gte=F("valid_from") - datetime.timedelta(days=1)),
                name="contract_period_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.valid_from:%d-%m-%Y})"

    @property
    def replaced_whole(self) -> bool:
        """Replaced from its first day by a retroactive tariff change: its period is empty."""
        return self.valid_until is not None and self.valid_until < self.valid_from


class ContractTariff(TenantOwned):
    """The price of one prestatie (phase) in a contract version. A contract may cover only some phases."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="tariffs")
    phase = models.CharField(_("phase"), max_length=16, choices=Phase.choices)
    prestatie_code = models.CharField(_("prestatie code"), max_length=16)
    amount = models.DecimalField(
        _("tariff"), max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contract", "phase"], name="tariff_one_per_phase"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="tariff_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.prestatie_code} € {self.amount}"


class PartialRule(TenantOwned):
    """What a contract bills for the phase an early ending interrupted (the phases completed before it are
    billed in full, those not reached never): a percentage of that phase's tariff, per end reason and
    phase, optionally for a band of gestational weeks at the end date [from_week, until_week). The bands of
    one end reason and phase may not overlap (billing.services.contracts checks it)."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="partial_rules")
    end_reason = models.CharField(_("end reason"), max_length=32, choices=EndReason.choices)
    phase = models.CharField(_("interrupted phase"), max_length=16, choices=Phase.choices)
    from_week = models.PositiveSmallIntegerField(_("from gestational week"), null=True, blank=True)
    until_week = models.PositiveSmallIntegerField(_("until gestational week"), null=True, blank=True)
    percentage = models.DecimalField(
        _("percentage of the tariff"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("100"),
        validators=PERCENT,
    )

    class Meta:
        ordering = ["end_reason", "phase", "from_week"]
        constraints = [
            models.CheckConstraint(
                condition=Q(percentage__gte=0, percentage__lte=100), name="partial_rule_percentage_valid"
            ),
            models.CheckConstraint(
                condition=Q(from_week__isnull=True)
                | Q(until_week__isnull=True)
                | Q(from_week__lt=F("until_week")),
                name="partial_rule_band_valid",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_end_reason_display()} {self.phase} "
            f"[{self.from_week or 0}, {self.until_week or '∞'}): {self.percentage}%"
        )

    def covers_week(self, week: int) -> bool:
        return (self.from_week is None or week >= self.from_week) and (
            self.until_week is None or week < self.until_week
        )


class PartialChoice(models.TextChoices):
    FULL = "full", _("Bill in full")
    PERCENTAGE = "percentage", _("Bill a percentage")
    NONE = "none", _("Do not bill")


class PartialDecision(TenantOwned):
    """Finance's decision on an interrupted phase for which the contract has no rule: bill it in full, a
    percentage of it, or not at all, with the reason. A later decision supersedes it (kept, not current)."""

    episode = models.ForeignKey(
        "pregnancies.Episode", on_delete=models.PROTECT, related_name="partial_decisions"
    )
    phase = models.CharField(_("phase"), max_length=16, choices=Phase.choices)
    end_reason = models.CharField(_("end reason"), max_length=32, choices=EndReason.choices)
    choice = models.CharField(_("decision"), max_length=12, choices=PartialChoice.choices)
    percentage = models.DecimalField(
        _("percentage of the tariff"), max_digits=5, decimal_places=2, validators=PERCENT
    )
    reason = models.CharField(_("reason"), max_length=500)
    decided_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    is_current = models.BooleanField(default=True)

    class Meta:
        ordering = ["-decided_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["episode", "phase"], condition=Q(is_current=True), name="partial_decision_one_current"
            ),
            models.CheckConstraint(
                condition=Q(percentage__gte=0, percentage__lte=100), name="partial_decision_percentage_valid"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="partial_decision_has_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.episode_id} {self.phase} {self.choice} {self.percentage}%"


class SplitRule(TenantOwned):
    """The IGO's verdeelmodel for a year (a new version supersedes an older one from its valid_from)."""

    year = models.PositiveSmallIntegerField(_("year"))
    version = models.PositiveSmallIntegerField(_("version"), default=1)
    valid_from = models.DateField(_("valid from"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    # The IGO's own part, taken off every claim before the members' part is divided.
    overhead_pct = models.DecimalField(
        _("IGO overhead (%)"), max_digits=5, decimal_places=2, default=0, validators=PERCENT
    )
    reserve_pct = models.DecimalField(
        _("risk reserve (%)"), max_digits=5, decimal_places=2, default=0, validators=PERCENT
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-year", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "year", "version"], name="split_rule_version_unique"),
            models.CheckConstraint(
                condition=Q(overhead_pct__gte=0)
                & Q(overhead_pct__lte=100)
                & Q(reserve_pct__gte=0)
                & Q(reserve_pct__lte=100)
                # Half a hundredth of slack: exact for two-decimal percentages on PostgreSQL; on SQLite
                # (floats) 100 - 8.21 is 91.78999999999999 and would refuse 91.79 % + 8.21 %.
                & Q(overhead_pct__lt=100 - F("reserve_pct") + HALF_CENT),
                name="split_rule_percentages_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.year} v{self.version}"


class SplitMethod(models.TextChoices):
    FIXED = "fixed", _("Fixed shares")
    CARE = "care", _("In proportion to the care delivered")


class SplitPhase(TenantOwned):
    """How one phase's net amount is divided among members under a split rule."""

    rule = models.ForeignKey(SplitRule, on_delete=models.CASCADE, related_name="phases")
    phase = models.CharField(_("phase"), max_length=16, choices=Phase.choices)
    method = models.CharField(_("method"), max_length=8, choices=SplitMethod.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "phase"], name="split_phase_unique")]


class SplitShare(TenantOwned):
    """A member's fixed share (method fixed) or guaranteed minimum share (method care) of a phase."""

    split_phase = models.ForeignKey(SplitPhase, on_delete=models.CASCADE, related_name="shares")
    organisation = models.ForeignKey(
        "providers.MemberOrganisation", on_delete=models.PROTECT, related_name="+"
    )
    share_pct = models.DecimalField(
        _("share (%)"), max_digits=6, decimal_places=3, default=0, validators=PERCENT
    )
    minimum_pct = models.DecimalField(
        _("guaranteed minimum (%)"), max_digits=6, decimal_places=3, default=0, validators=PERCENT
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["split_phase", "organisation"], name="split_share_unique")
        ]


class InternalRate(TenantOwned):
    """The weight of one unit of a care-event type when splitting in proportion to care delivered."""

    rule = models.ForeignKey(SplitRule, on_delete=models.CASCADE, related_name="rates")
    event_type = models.ForeignKey("pregnancies.EventType", on_delete=models.PROTECT, related_name="+")
    rate = models.DecimalField(
        _("internal rate"), max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "event_type"], name="internal_rate_unique")]


class Sign(models.TextChoices):
    DEBIT = "debit", _("debit")
    CREDIT = "credit", _("credit")


QUALITY_PHASE = "quality"
LINE_PHASES = [*Phase.choices, (QUALITY_PHASE, _("Quality bonus or malus"))]


class LineStatus(models.TextChoices):
    READY = "ready", _("ready")
    SENT = "sent", _("sent")
    ACCEPTED = "accepted", _("accepted")
    REJECTED = "rejected", _("rejected")
    WITHDRAWN = "withdrawn", _("withdrawn before sending")


class ClaimLine(TenantOwned):
    """One prestatie of an episode's integral claim to one insurer. Once sent it is never changed:
    a correction is a credit line that refers to it plus a new debit line."""

    # Empty only for a quality bonus or malus, which belongs to an agreement instead of a pregnancy.
    episode = models.ForeignKey(
        "pregnancies.Episode", on_delete=models.PROTECT, null=True, blank=True, related_name="claim_lines"
    )
    phase = models.CharField(_("phase"), max_length=16, choices=LINE_PHASES)
    sign = models.CharField(_("debit/credit"), max_length=8, choices=Sign.choices, default=Sign.DEBIT)
    number = models.CharField(_("line reference"), max_length=32)
    prestatie_code = models.CharField(_("prestatie code"), max_length=16)
    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="claim_lines")
    tariff = models.ForeignKey(
        ContractTariff, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    agreement = models.ForeignKey(
        "QualityAgreement", on_delete=models.PROTECT, null=True, blank=True, related_name="claim_lines"
    )
    # For a quality line: how it was reached (indicator result, target, base amount, percentage).
    explanation = models.JSONField(default=dict, blank=True)
    percentage = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("100"))
    insurer = models.ForeignKey("igo.Insurer", on_delete=models.PROTECT, related_name="+")
    policy_number = models.CharField(max_length=20)
    service_start = models.DateField(_("start of the prestatie"))
    service_end = models.DateField(_("end of the prestatie"))
    amount = models.DecimalField(_("amount"), max_digits=10, decimal_places=2)
    status = models.CharField(
        _("status"), max_length=12, choices=LineStatus.choices, default=LineStatus.READY
    )
    is_current = models.BooleanField(default=True, help_text=_("False once credited or replaced."))
    corrects = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="corrections"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("claim line")
        verbose_name_plural = _("claim lines")
        ordering = ["episode_id", "phase", "created_at", "pk"]
        constraints = [
            # Each ended phase of an episode is claimed exactly once at any moment.
            models.UniqueConstraint(
                fields=["episode", "phase"],
                condition=Q(is_current=True, sign="debit"),
                name="claim_line_one_current_debit",
            ),
            models.UniqueConstraint(fields=["tenant", "number"], name="claim_line_number_unique"),
            # A line is credited at most once; a credit the insurer refused is sent again as a new credit
            # of the same line (`billing.services.rejected_credits`), so the refused one does not count.
            models.UniqueConstraint(
                fields=["corrects"],
                condition=Q(sign="credit") & ~Q(status="rejected"),
                name="claim_line_credit_once",
            ),
            models.CheckConstraint(
                condition=Q(sign="debit", amount__gte=0) | Q(sign="credit", amount__lte=0),
                name="claim_line_sign_matches_amount",
            ),
            models.CheckConstraint(
                condition=Q(episode__isnull=False, agreement__isnull=True, tariff__isnull=False)
                | Q(episode__isnull=True, agreement__isnull=False, phase="quality"),
                name="claim_line_care_or_quality",
            ),
            # One current bonus or malus per agreement.
            models.UniqueConstraint(
                fields=["agreement"], condition=Q(is_current=True), name="claim_line_one_current_quality"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "status"]), models.Index(fields=["tenant", "created_at"])]

    def __str__(self) -> str:
        return f"{self.number} {self.prestatie_code} {self.amount}"


@dataclass(slots=True)
class AllocationBasis:
    """What an allocation rests on, stored as JSON in `Allocation.basis` (decimals as strings; a field that
    does not apply is left out). A member's part of a split: the method and its exact share of the members'
    part, with the points and care events behind it when split by care delivered. Overhead and reserve:
    the contract's percentage. A credit's mirrored part: the line it credits. A quality bonus or malus: the
    agreement, and the share and amount the member received of the claims it rests on.

    Not frozen, and written out field by field: a billing run makes one per allocation, hundreds of
    thousands of them."""

    method: str = ""  # SplitMethod, or "quality"
    share: Decimal | None = None  # exact, as a fraction
    points: Decimal | None = None  # quantity × internal rate of the member's events
    events: tuple[int, ...] | None = None  # the care events behind the points
    percentage: Decimal | None = None
    credit_of: str = ""
    agreement: int | None = None
    share_pct: Decimal | None = None  # quality: the share as a rounded percentage
    received: Decimal | None = None  # quality: what the member received of the claims

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.method:
            data["method"] = self.method
        if self.share is not None:
            data["share"] = str(self.share)
        if self.points is not None:
            data["points"] = str(self.points)
        if self.events is not None:
            data["events"] = list(self.events)
        if self.percentage is not None:
            data["percentage"] = str(self.percentage)
        if self.credit_of:
            data["credit_of"] = self.credit_of
        if self.agreement is not None:
            data["agreement"] = self.agreement
        if self.share_pct is not None:
            data["share_pct"] = str(self.share_pct)
        if self.received is not None:
            data["received"] = str(self.received)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AllocationBasis:
        def decimal(key: str) -> Decimal | None:
            return Decimal(str(data[key])) if key in data else None

        return cls(
            method=str(data.get("method", "")),
            share=decimal("share"),
            points=decimal("points"),
            events=tuple(int(i) for i in data["events"]) if "events" in data else None,
            percentage=decimal("percentage"),
            credit_of=str(data.get("credit_of", "")),
            agreement=int(data["agreement"]) if "agreement" in data else None,
            share_pct=decimal("share_pct"),
            received=decimal("received"),
        )


class AllocationKind(models.TextChoices):
    OVERHEAD = "overhead", _("IGO overhead")
    RESERVE = "reserve", _("risk reserve")
    MEMBER = "member", _("member")


class Allocation(TenantOwned):
    """A part of a claim line: the IGO's overhead, the reserve, or a member's share, traced to its basis."""

    claim_line = models.ForeignKey(ClaimLine, on_delete=models.PROTECT, related_name="allocations")
    kind = models.CharField(max_length=8, choices=AllocationKind.choices)
    organisation = models.ForeignKey(
        "providers.MemberOrganisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="allocations",
    )
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    split_rule = models.ForeignKey(
        SplitRule, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    basis = models.JSONField(default=dict)  # AllocationBasis.to_json()
    created_at = models.DateTimeField(default=timezone.now)
    # A re-split (care logged or voided after the split) supersedes allocations instead of changing them.
    is_current = models.BooleanField(default=True)
    superseded_at = models.DateTimeField(null=True, blank=True)
    # The ledger (billing.ledger): an allocation is an entry of +amount at created_at and, once superseded,
    # one of -amount at superseded_at. The member payout that paid each entry out.
    paid_in = models.ForeignKey(
        "Payout", on_delete=models.PROTECT, null=True, blank=True, related_name="allocations_paid"
    )
    reversal_paid_in = models.ForeignKey(
        "Payout", on_delete=models.PROTECT, null=True, blank=True, related_name="reversals_paid"
    )

    class Meta:
        ordering = ["claim_line_id", "kind", "organisation_id"]
        constraints = [
            # One overhead and one reserve part per line, and one part per member.
            models.UniqueConstraint(
                fields=["claim_line", "kind"],
                condition=Q(organisation__isnull=True, is_current=True),
                name="allocation_one_per_kind",
            ),
            models.UniqueConstraint(
                fields=["claim_line", "organisation"],
                condition=Q(organisation__isnull=False, is_current=True),
                name="allocation_one_per_member",
            ),
        ]
        # The ledger's entries of a period (billing.ledger), summed from the index alone: the +entries by
        # their booking moment, the -entries by the moment they were superseded.
        indexes = [
            models.Index(
                fields=["tenant", "created_at"],
                include=["kind", "organisation", "amount", "paid_in"],
                name="allocation_ledger_made",
            ),
            models.Index(
                fields=["tenant", "superseded_at"],
                include=["kind", "organisation", "amount", "reversal_paid_in"],
                condition=Q(superseded_at__isnull=False),
                name="allocation_ledger_undone",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.organisation_id} {self.amount}"


class WorkReason(models.TextChoices):
    """Why a phase waits for finance (`WorkItem.reason`), or why the pre-send check held a line back."""

    NO_INSURANCE = "no_insurance", _("No insurance on file")
    NO_CONTRACT = "no_contract", _("No contract with the insurer")
    NOT_COVERED = "not_covered", _("Phase not covered by the contract")
    NO_SPLIT_RULE = "no_split_rule", _("No split rule")
    NO_CARE_BASIS = "no_care_basis", _("No care to divide by")
    PRESEND_BSN = "presend_bsn", _("BSN not valid")
    PRESEND_POLICY = "presend_policy", _("Insured number missing")
    PRESEND_DEADLINE = "presend_deadline", _("Submission deadline passed")
    PRESEND_PRESTATIE = "presend_prestatie", _("Prestatie not contracted")
    NO_PARTIAL_RULE = "no_partial_rule", _("No contract rule for this early ending")
    DEADLINE_PASSED = "deadline_passed", _("Submission deadline passed before the claim could be made")
    NO_IBAN = "no_iban", _("No valid bank account for the payout")
    PAYMENT_DIFFERENCE = "payment_difference", _("Payment differs from the accepted lines")
    # Not a work item: a debit identical to a credit in the same batch waits for the next batch.
    IDENTICAL_PAIR = "identical_pair", _("Waits for the next batch")
    REJECTED = "rejected", _("Rejected by the insurer")
    PARTIAL_AWARD = "partial_award", _("Partly awarded by the insurer")
    CREDIT_REJECTED = "credit_rejected", _("Credit refused by the insurer")
    # A credit sent before the answer to the line it takes back came in, and that answer was a rejection.
    CREDIT_OF_REJECTED = "credit_of_rejected", _("Credit sent of a rejected claim")
    FORMER_MEMBER_DEBT = "former_member_debt", _("Debt of a former member")


# The reasons each step opens and resolves: the roll-up (insurance, contract, tariff), the split (split
# rule, care to divide by) and the pre-send check of a batch.
ROLLUP_REASONS = (
    WorkReason.NO_INSURANCE,
    WorkReason.NO_CONTRACT,
    WorkReason.NOT_COVERED,
    WorkReason.NO_PARTIAL_RULE,
    WorkReason.DEADLINE_PASSED,
)
SPLIT_REASONS = (WorkReason.NO_SPLIT_RULE, WorkReason.NO_CARE_BASIS)
PRESEND_REASONS = (
    WorkReason.PRESEND_BSN,
    WorkReason.PRESEND_POLICY,
    WorkReason.PRESEND_DEADLINE,
    WorkReason.PRESEND_PRESTATIE,
)


class WorkItem(TenantOwned):
    """Something finance must resolve: a phase that cannot be claimed (no contract, missing data, …), a
    member that cannot be paid (no bank account), or an insurer's payment that differs from a batch."""

    episode = models.ForeignKey(
        "pregnancies.Episode", on_delete=models.PROTECT, null=True, blank=True, related_name="work_items"
    )
    phase = models.CharField(max_length=16, choices=Phase.choices, blank=True)
    organisation = models.ForeignKey(
        "providers.MemberOrganisation", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    batch = models.ForeignKey(
        "ClaimBatch", on_delete=models.PROTECT, null=True, blank=True, related_name="work_items"
    )
    reason = models.CharField(max_length=32, choices=WorkReason.choices)
    message = models.CharField(max_length=300)
    # The money at stake, where there is one (a claim past its deadline: the amount lost).
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Why finance resolved it by hand (a former member's debt settled outside the platform); empty when a
    # run resolved it.
    resolution_note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["episode", "phase", "reason"],
                condition=Q(resolved_at__isnull=True),
                name="work_item_one_open",
            ),
            models.UniqueConstraint(
                fields=["organisation", "reason"],
                condition=Q(resolved_at__isnull=True, episode__isnull=True),
                name="work_item_one_open_per_member",
            ),
            models.UniqueConstraint(
                fields=["batch", "reason"],
                condition=Q(resolved_at__isnull=True, episode__isnull=True),
                name="work_item_one_open_per_batch",
            ),
            models.CheckConstraint(
                condition=Q(episode__isnull=False) | Q(organisation__isnull=False) | Q(batch__isnull=False),
                name="work_item_has_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.episode_id} {self.phase} {self.reason}"


class EpisodeBillingState(TenantOwned):
    """When the billing run last brought an episode's claim lines up to date, and what it saw then."""

    episode = models.OneToOneField(
        "pregnancies.Episode", on_delete=models.CASCADE, related_name="billing_state"
    )
    # The moment the run read the clock; its local date is the day the run billed by (the daily re-check).
    checked_at = models.DateTimeField()
    # The day the check billed by (the run's `today`): the next run with a later day looks at the episode
    # again only when one of its key dates falls after this day (a phase can end by the passing of time).
    # Empty: not known (a check from before this field), every daily rule applies.
    checked_for = models.DateField(null=True, blank=True)
    # The episode's changed_at as the run read it under the row lock, and the split rules it saw
    # (services.split_rules_seen). A change is told by inequality, not by order, so it does not depend on
    # the clock running forward. Empty: not known (a check from before these fields), check again.
    seen_changed_at = models.DateTimeField(null=True, blank=True)
    seen_rules = models.CharField(max_length=40, blank=True, db_default="")
    # Set by a service that records a fact the roll-up reads (a contract, a tariff): check again, however
    # long ago the episode ended. The run clears it.
    recheck = models.BooleanField(default=False, db_default=False)
    # Per phase, a fingerprint of its active care (billing.services.split.care_fingerprints) when the split
    # of the phase's current line was last computed or confirmed: a phase whose care has the same
    # fingerprint, under the same split rules, is neither read nor divided again. Empty: not known.
    seen_care = models.JSONField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.episode_id} {self.checked_at:%Y-%m-%d %H:%M}"


# --- monthly claim batches to insurers, and their return information (KZ301 / KZ302) -------------


class BatchStatus(models.TextChoices):
    DRAFT = "draft", _("for review")
    RELEASED = "released", _("released")


class ClaimBatch(TenantOwned):
    """One month's claim file of an IGO to one insurer. Its lines and files are fixed when it is made;
    once released it never changes (a PostgreSQL trigger refuses it too)."""

    number = models.PositiveIntegerField(_("batch number"))
    insurer = models.ForeignKey(
        "igo.Insurer", on_delete=models.PROTECT, related_name="claim_batches", verbose_name=_("insurer")
    )
    period = models.DateField(_("period"), help_text=_("The first day of the month the batch covers."))
    status = models.CharField(
        _("status"), max_length=12, choices=BatchStatus.choices, default=BatchStatus.DRAFT
    )
    line_count = models.PositiveIntegerField(_("lines"), default=0)
    debit_total = models.DecimalField(_("debit total"), max_digits=14, decimal_places=2, default=0)
    credit_total = models.DecimalField(_("credit total"), max_digits=14, decimal_places=2, default=0)
    total = models.DecimalField(_("total"), max_digits=14, decimal_places=2, default=0)
    # Lines the pre-send check kept out of this batch, with the reasons (a snapshot for the review).
    held = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Set when the batch is released under the IGO's four-eyes setting (Tenant.batch_four_eyes): then the
    # database, too, refuses a release by the batch's preparer (`created_by`: who made or last rebuilt it;
    # a rebuild makes a new batch). Batches released before the setting existed keep False.
    four_eyes = models.BooleanField(_("released under four eyes"), default=False)

    class Meta:
        verbose_name = _("claim batch")
        verbose_name_plural = _("claim batches")
        ordering = ["-period", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="claim_batch_number_unique"),
            models.UniqueConstraint(fields=["tenant", "insurer", "period"], name="claim_batch_one_per_month"),
            models.CheckConstraint(condition=Q(period__day=1), name="claim_batch_period_is_month"),
            # Within half a cent: exact on PostgreSQL (every term has two decimals, so the difference is
            # a whole number of cents), while SQLite (the demo) adds the decimals as floats, where
            # 8116.32 + -4440.00 is 3676.3199999999997 and `=` would refuse a right total.
            models.CheckConstraint(
                condition=Q(total__gt=F("debit_total") + F("credit_total") - HALF_CENT)
                & Q(total__lt=F("debit_total") + F("credit_total") + HALF_CENT),
                name="claim_batch_total_adds_up",
            ),
            models.CheckConstraint(
                condition=Q(four_eyes=False)
                | Q(released_by__isnull=True)
                | Q(created_by__isnull=True)
                | ~Q(released_by=F("created_by")),
                name="claim_batch_four_eyes",
            ),
        ]
        indexes = [models.Index(fields=["insurer", "status", "period"])]

    def __str__(self) -> str:
        return f"{self.number} {self.period:%Y-%m}"

    @property
    def is_released(self) -> bool:
        return self.status == BatchStatus.RELEASED


class BatchLine(TenantOwned):
    """A claim line as it was put in a batch: what the insurer receives, frozen with the batch."""

    batch = models.ForeignKey(ClaimBatch, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveIntegerField(_("line"))
    claim_line = models.OneToOneField(ClaimLine, on_delete=models.PROTECT, related_name="batch_line")
    number = models.CharField(_("line reference"), max_length=32)
    corrects_number = models.CharField(_("corrects line"), max_length=32, blank=True)
    sign = models.CharField(_("debit/credit"), max_length=8, choices=Sign.choices)
    phase = models.CharField(_("phase"), max_length=16, choices=LINE_PHASES)
    prestatie_code = models.CharField(_("prestatie code"), max_length=16)
    service_start = models.DateField(_("start of the prestatie"))
    service_end = models.DateField(_("end of the prestatie"))
    tariff = models.DecimalField(_("tariff"), max_digits=12, decimal_places=2)
    percentage = models.DecimalField(max_digits=5, decimal_places=2)
    amount = models.DecimalField(_("amount"), max_digits=10, decimal_places=2)
    episode_ref = models.CharField(_("episode reference"), max_length=20)
    bsn = models.CharField(_("BSN"), max_length=9)
    policy_number = models.CharField(_("insured number"), max_length=20)
    date_of_birth = models.DateField(_("date of birth"), null=True, blank=True)  # empty on a quality line
    family_name = models.CharField(_("family name"), max_length=150)
    initials = models.CharField(_("initials"), max_length=12)

    class Meta:
        ordering = ["batch_id", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "line_no"], name="batch_line_no_unique"),
            models.UniqueConstraint(fields=["batch", "number"], name="batch_line_reference_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}/{self.line_no} {self.number}"


class BatchFileKind(models.TextChoices):
    KZ301 = "kz301", _("declaration file (KZ301)")
    CSV = "csv", _("CSV")
    PDF = "pdf", _("PDF summary")


class BatchFile(TenantOwned):
    """A generated file of a batch, stored in the database so that it is made in the same transaction."""

    batch = models.ForeignKey(ClaimBatch, on_delete=models.CASCADE, related_name="files")
    kind = models.CharField(max_length=8, choices=BatchFileKind.choices)
    content = models.BinaryField()
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["batch", "kind"], name="batch_file_one_per_kind")]

    def __str__(self) -> str:
        return f"{self.batch_id} {self.kind}"


class ReturnStatus(models.TextChoices):
    ACCEPTED = "accepted", _("accepted")
    REJECTED = "rejected", _("rejected")
    # Awarded less than claimed (KZ302: 0 < toegekend bedrag < declaratiebedrag); the claim line counts as
    # accepted at the awarded amount (`ReturnLine.awarded_amount`).
    PARTIAL = "partial", _("partly awarded")


class ReturnSource(models.TextChoices):
    FILE = "file", _("uploaded file")
    PORTAL = "portal", _("entered in the portal")
    API = "api", _("API")


# Reason codes for rejected lines (ReturnLine.reason_code), after the kind of codes a KZ302 return file
# carries.
RETURN_CODES: dict[str, Any] = {
    "0101": _("BSN unknown or invalid"),
    "0102": _("Not insured with this insurer on the date of service"),
    "0103": _("Insured number does not match the BSN"),
    "0201": _("Prestatie not contracted"),
    "0202": _("Tariff or amount does not match the contract"),
    "0203": _("Submission deadline passed"),
    "0301": _("Duplicate claim"),
    "0302": _("Credit does not match an earlier claim"),
    "0999": _("Other (see the explanation)"),
}


class BatchReturn(TenantOwned):
    """One delivery of return information (in the spirit of KZ302) by the insurer for a batch."""

    batch = models.ForeignKey(ClaimBatch, on_delete=models.PROTECT, related_name="returns")
    source = models.CharField(max_length=8, choices=ReturnSource.choices)
    filename = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    accepted = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    partial = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.batch_id} {self.received_at:%Y-%m-%d}"


class ReturnLine(TenantOwned):
    """The insurer's answer for one batch line: accepted, rejected with a reason code, or partly awarded."""

    batch_return = models.ForeignKey(BatchReturn, on_delete=models.PROTECT, related_name="lines")
    batch_line = models.OneToOneField(BatchLine, on_delete=models.PROTECT, related_name="answer")
    status = models.CharField(max_length=8, choices=ReturnStatus.choices)
    reason_code = models.CharField(max_length=4, blank=True)
    reason_text = models.CharField(max_length=200, blank=True)
    # What the insurer awarded (signed like the line; a KZ302 file states it for every line). Empty for an
    # answer that did not state it (the CSV and the portal): the line's amount if accepted, 0 if rejected.
    awarded_amount = models.DecimalField(
        _("awarded amount"), max_digits=10, decimal_places=2, null=True, blank=True
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="rejected") | ~Q(reason_code=""), name="return_line_rejection_has_code"
            ),
            models.CheckConstraint(
                condition=~Q(status="partial") | Q(awarded_amount__isnull=False),
                name="return_line_partial_has_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.batch_line_id} {self.status} {self.reason_code}"


class QualityAgreement(TenantOwned):
    """A quality target in an insurer contract for a year, with an optional bonus when it is met or malus
    when it is not, as a percentage of what was claimed under the contract in that year."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="quality_agreements")
    indicator = models.CharField(_("indicator"), max_length=32)
    year = models.PositiveSmallIntegerField(_("year"))
    target = models.DecimalField(_("target"), max_digits=8, decimal_places=1)
    bonus_pct = models.DecimalField(
        _("bonus when met (%)"), max_digits=5, decimal_places=2, default=0, validators=PERCENT
    )
    malus_pct = models.DecimalField(
        _("malus when not met (%)"), max_digits=5, decimal_places=2, default=0, validators=PERCENT
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("quality agreement")
        verbose_name_plural = _("quality agreements")
        ordering = ["year", "indicator"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "indicator", "year"], name="quality_agreement_one_per_indicator_year"
            ),
            models.CheckConstraint(
                condition=Q(bonus_pct__gte=0, bonus_pct__lte=100, malus_pct__gte=0, malus_pct__lte=100),
                name="quality_agreement_percentages_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.indicator} {self.year} {self.target}"


# --- payments: from the insurers, and out to the members ----------------------------------------


class InsurerPayment(TenantOwned):
    """Money received from an insurer for a batch (a bank statement line), matched against the batch's
    accepted lines (billing.services.insurer_payments.insurer_payment_match)."""

    batch = models.ForeignKey(ClaimBatch, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    received_on = models.DateField(_("received on"))
    reference = models.CharField(_("payment reference"), max_length=140)
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("insurer payment")
        verbose_name_plural = _("insurer payments")
        ordering = ["-received_on", "-pk"]

    def __str__(self) -> str:
        return f"{self.batch_id} {self.amount} {self.received_on}"


class PayoutStatus(models.TextChoices):
    PREPARED = "prepared", _("prepared")
    RELEASED = "released", _("released")


class PayoutRun(TenantOwned):
    """The payout of one month to the members: what was payable (billing.ledger) up to the end of the
    month, one Payout per member and one SEPA credit-transfer file. Prepared by one finance user,
    released by another (four eyes); a month has one run."""

    period = models.DateField(_("period"), help_text=_("The first day of the month paid out."))
    status = models.CharField(
        _("status"), max_length=12, choices=PayoutStatus.choices, default=PayoutStatus.PREPARED
    )
    total = models.DecimalField(_("total"), max_digits=14, decimal_places=2, default=0)
    payable_on = models.DateField(_("payable as of"))  # the day whose ledger states the run read
    execution_date = models.DateField(_("execution date"))
    message_id = models.CharField(max_length=35)
    prepared_at = models.DateTimeField(default=timezone.now)
    prepared_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("payout run")
        verbose_name_plural = _("payout runs")
        ordering = ["-period"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "period"], name="payout_run_one_per_month"),
            models.CheckConstraint(condition=Q(period__day=1), name="payout_run_period_is_month"),
            # Four eyes: whoever prepared a run cannot release it.
            models.CheckConstraint(
                condition=Q(released_by__isnull=True) | ~Q(released_by=F("prepared_by")),
                name="payout_run_four_eyes",
            ),
            models.CheckConstraint(
                condition=Q(status="prepared", released_at__isnull=True, released_by__isnull=True)
                | Q(status="released", released_at__isnull=False, released_by__isnull=False),
                name="payout_run_release_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period:%Y-%m} {self.status}"


class Payout(TenantOwned):
    """What one member is paid in a payout run: the sum of its ledger entries paid in it, to the account
    it had when the run was prepared."""

    run = models.ForeignKey(PayoutRun, on_delete=models.CASCADE, related_name="payouts")
    organisation = models.ForeignKey(
        "providers.MemberOrganisation", on_delete=models.PROTECT, related_name="payouts"
    )
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    entries = models.PositiveIntegerField(_("entries"), default=0)
    iban = models.CharField(_("IBAN"), max_length=34)
    bic = models.CharField(_("BIC"), max_length=11, blank=True)
    account_holder = models.CharField(_("account holder"), max_length=70)
    end_to_end_id = models.CharField(max_length=35)

    class Meta:
        ordering = ["run_id", "organisation__name"]
        constraints = [
            models.UniqueConstraint(fields=["run", "organisation"], name="payout_one_per_member"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id} {self.organisation_id} {self.amount}"


class MemberRepayment(TenantOwned):
    """Money a former member paid back to the IGO outside the platform (a bank transfer): a +entry of that
    member in the ledger, booked when finance records it, that takes its debt down. Never edited; netted off
    in a payout run (`netted_in`) like the member's other unpaid entries (billing.services.repayments)."""

    organisation = models.ForeignKey(
        "providers.MemberOrganisation", on_delete=models.PROTECT, related_name="repayments"
    )
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    # The debt when it was recorded: a repayment never exceeds it.
    debt_before = models.DecimalField(max_digits=12, decimal_places=2)
    received_on = models.DateField(_("received on"))
    reference = models.CharField(_("bank reference or note"), max_length=140)
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    netted_in = models.ForeignKey(
        Payout, on_delete=models.SET_NULL, null=True, blank=True, related_name="repayments"
    )

    class Meta:
        ordering = ["recorded_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0) & Q(amount__lte=F("debt_before")), name="repayment_within_debt"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "recorded_at"], name="repayment_booked")]

    def __str__(self) -> str:
        return f"{self.organisation_id} {self.amount} {self.received_on}"


class PayoutFileKind(models.TextChoices):
    SEPA = "sepa", _("SEPA credit transfers (pain.001.001.03)")


class PayoutFile(TenantOwned):
    """A payout run's file, made when the run is prepared and never changed."""

    run = models.ForeignKey(PayoutRun, on_delete=models.CASCADE, related_name="files")
    kind = models.CharField(max_length=8, choices=PayoutFileKind.choices)
    content = models.BinaryField()
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "kind"], name="payout_file_one_per_kind")]

    def __str__(self) -> str:
        return f"{self.run_id} {self.kind}"
