"""Reads for the finance screens and the billing API, within the tenant in scope.

Nothing here changes data. What finance sees of an episode is administrative: the client's name, the
episode id, dates, amounts and the care events' type, quantity and organisation; never note text. A BSN
only appears in a claim batch's lines (what the insurer receives), and the screens show it masked.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import (
    Case,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from billing import ledger
from billing.ledger import EntryState, Totals, unpaid_totals
from billing.models import (
    PRESEND_REASONS,
    Allocation,
    AllocationBasis,
    AllocationKind,
    BatchFile,
    BatchLine,
    BatchReturn,
    ClaimBatch,
    ClaimLine,
    Contract,
    ContractTariff,
    InsurerPayment,
    InternalRate,
    LineStatus,
    MemberRepayment,
    PartialChoice,
    PartialDecision,
    PartialRule,
    Payout,
    PayoutFile,
    PayoutRun,
    QualityAgreement,
    ReturnLine,
    ReturnStatus,
    Sign,
    SplitMethod,
    SplitPhase,
    SplitRule,
    SplitShare,
    WorkItem,
    WorkReason,
)
from billing.services.contracts import band_label
from billing.services.return_codes import return_code_labels
from billing.services.rollup import (
    BillablePhase,
    contract_on,
    gestational_week,
    insurance_on,
    interrupted_phase,
    partial_rule_for,
)
from igo.banking import iban_is_valid
from igo.dates import add_months, midnight, month_bounds, month_end, next_month
from igo.models import Insurer
from pregnancies.models import (
    CareEvent,
    Client,
    ClientInsurance,
    EndReason,
    Episode,
    EpisodeStatus,
    EventStatus,
    EventType,
    Phase,
    mask_bsn,
)
from providers.models import MemberOrganisation

if TYPE_CHECKING:
    from billing.statements import Statement

HUNDRED = Decimal("100")

# --- contracts -------------------------------------------------------------------------------


def contract_queryset() -> QuerySet[Contract]:
    return Contract.objects.select_related("insurer").prefetch_related(
        "tariffs",
        Prefetch(
            "partial_rules",
            queryset=PartialRule.objects.order_by(
                "end_reason", "phase", F("from_week").asc(nulls_first=True)
            ),
        ),
    )


@dataclass
class ContractRow:
    contract: Contract
    tariffs: list[tuple[str, ContractTariff | None]]  # per phase in care order; None = not covered
    partial_rules: list[PartialRule]


def contracts_by_insurer() -> list[tuple[Insurer, list[ContractRow]]]:
    """Every contract version, grouped per insurer (by name), newest version first."""
    groups: dict[int, tuple[Insurer, list[ContractRow]]] = {}
    for contract in contract_queryset().order_by("insurer__name", "-valid_from", "-pk"):
        row = ContractRow(
            contract=contract,
            tariffs=contract_tariff_rows(contract),
            partial_rules=list(contract.partial_rules.all()),
        )
        groups.setdefault(contract.insurer_id, (contract.insurer, []))[1].append(row)
    return list(groups.values())


def contract_tariff_rows(contract: Contract) -> list[tuple[str, ContractTariff | None]]:
    """Per phase in care order its label and tariff (None: the contract does not cover the phase)."""
    by_phase = {t.phase: t for t in contract.tariffs.all()}
    return [(str(label), by_phase.get(phase)) for phase, label in Phase.choices]


def contract_tariffs(contract: Contract) -> dict[str, tuple[str, Decimal]]:
    """A contract's tariffs as the services take them: phase -> (prestatie code, price)."""
    return {t.phase: (t.prestatie_code, t.amount) for t in contract.tariffs.all()}


@dataclass
class BandCell:
    """One band of gestational weeks of an early-ending cell: its label and the percentage billed there
    (None: no rule covers these weeks, finance decides)."""

    label: str
    percentage: Decimal | None


@dataclass
class EarlyEndingCell:
    """What a contract bills of a phase that an ending interrupted: one percentage for every week, bands of
    weeks, or nothing set (finance decides)."""

    phase: str
    bands: list[BandCell]

    @property
    def undecided(self) -> bool:
        return all(b.percentage is None for b in self.bands)

    @property
    def single(self) -> Decimal | None:
        """The percentage when one rule covers every week."""
        return self.bands[0].percentage if len(self.bands) == 1 else None


@dataclass
class EarlyEndingRow:
    end_reason: str
    label: str
    cells: list[EarlyEndingCell]


def _week_bands(rules: list[PartialRule]) -> list[BandCell]:
    """The weeks 0 to ∞ as consecutive bands: those of the rules, and the gaps between them (no rule)."""
    bands: list[BandCell] = []
    week: int | None = 0
    for rule in sorted(rules, key=lambda r: r.from_week or 0):
        start = rule.from_week or 0
        if week is not None and start > week:
            bands.append(BandCell(band_label(week, start), None))
        bands.append(BandCell(band_label(start, rule.until_week), rule.percentage))
        week = rule.until_week
    if week is not None:
        bands.append(BandCell(band_label(week, None), None))
    return bands


def contract_early_endings(contract: Contract) -> list[EarlyEndingRow]:
    """Per end reason (not "care completed") and per phase the ending interrupts, what the contract bills of
    that phase. Phases completed before it are billed in full and phases not reached never (the roll-up)."""
    rules: dict[tuple[str, str], list[PartialRule]] = defaultdict(list)
    for rule in contract.partial_rules.all():
        rules[(rule.end_reason, rule.phase)].append(rule)
    return [
        EarlyEndingRow(
            end_reason=reason,
            label=str(label),
            cells=[EarlyEndingCell(phase, _week_bands(rules[(reason, phase)])) for phase in Phase.values],
        )
        for reason, label in EndReason.choices
        if reason != EndReason.COMPLETED
    ]


# --- split rules ------------------------------------------------------------------------------


def split_rule_list() -> QuerySet[SplitRule]:
    """The versions of the verdeelmodel with their phases, shares and rates; `members_pct` is what is left
    for the members after the IGO's overhead and reserve."""
    members_pct = ExpressionWrapper(
        Value(HUNDRED) - F("overhead_pct") - F("reserve_pct"),
        output_field=DecimalField(max_digits=5, decimal_places=2),
    )
    return (
        SplitRule.objects.annotate(members_pct=members_pct)
        .select_related("created_by")
        .prefetch_related(
            Prefetch(
                "phases",
                # The true sum of the stored shares, shown under them (33.334 + 33.333 + 33.333 = 100).
                queryset=SplitPhase.objects.annotate(shares_total=Sum("shares__share_pct"))
                .order_by("phase")
                .prefetch_related(
                    Prefetch("shares", queryset=SplitShare.objects.select_related("organisation"))
                ),
            ),
            Prefetch("rates", queryset=InternalRate.objects.select_related("event_type")),
        )
    )


def split_rule_latest() -> SplitRule | None:
    return split_rule_list().order_by("-valid_from", "-version").first()


def split_rule_initial(rule: SplitRule | None) -> dict[str, Any]:
    """Form values that start a new version from `rule` (overhead and reserve, methods, percentages, internal
    rates)."""
    if rule is None:
        return {"year": timezone.localdate().year}
    initial: dict[str, Any] = {
        "year": max(rule.year, timezone.localdate().year),
        "overhead_pct": format(rule.overhead_pct.normalize(), "f"),
        "reserve_pct": format(rule.reserve_pct.normalize(), "f"),
    }
    for split_phase in rule.phases.all():
        initial[f"method_{split_phase.phase}"] = split_phase.method
        for share in split_phase.shares.all():
            pct = share.share_pct if split_phase.method == SplitMethod.FIXED else share.minimum_pct
            if pct:
                initial[f"pct_{split_phase.phase}_{share.organisation_id}"] = format(pct.normalize(), "f")
    for rate in rule.rates.all():
        initial[f"rate_{rate.event_type_id}"] = rate.rate
    return initial


def split_organisations() -> list[MemberOrganisation]:
    """Member organisations a split rule can name: current members first, then former ones."""
    today = timezone.localdate()
    orgs = list(MemberOrganisation.objects.order_by("name"))
    return sorted(orgs, key=lambda o: (not o.is_member_on(today), o.name))


def rate_event_types() -> list[EventType]:
    """The catalogue in care order (prenatal, natal, postnatal, then types allowed in any phase)."""
    order = {phase: i for i, phase in enumerate(Phase.values)}
    return sorted(EventType.objects.all(), key=lambda t: (order.get(t.phase, len(order)), t.code))


# --- work queue ------------------------------------------------------------------------------


class WorkSubject(models.TextChoices):
    """What a work item is about: an episode's phase, a member organisation (its payout) or a batch (the
    insurer's payment)."""

    EPISODE = "episode", _("Episode")
    ORGANISATION = "organisation", _("Member organisation")
    BATCH = "batch", _("Batch")


def work_queue(*, reason: str = "", subject: str = "") -> QuerySet[WorkItem]:
    """Open work items, newest first, optionally of one reason or one kind of subject (WorkSubject), with
    the client's name (no clinical data), the member organisation or the batch. An item for a line the
    insurer rejected carries the id of that line (`rejected_line_id`), so finance can bill it again."""
    rejected = ClaimLine.objects.filter(
        episode_id=OuterRef("episode_id"),
        phase=OuterRef("phase"),
        status=LineStatus.REJECTED,
        is_current=True,
        sign=Sign.DEBIT,
    ).values("pk")[:1]
    # A credit the insurer refused: the oldest not sent again of the item's phase (or, for a quality
    # credit, of the item's batch), so finance can send it again.
    refused = ClaimLine.objects.filter(ledger.rejected_credits_open()).order_by("pk")
    refused_credit = Case(
        When(
            episode__isnull=False,
            then=Subquery(
                refused.filter(episode_id=OuterRef("episode_id"), phase=OuterRef("phase")).values("pk")[:1]
            ),
        ),
        default=Subquery(
            refused.filter(episode__isnull=True, batch_line__batch_id=OuterRef("batch_id")).values("pk")[:1]
        ),
        output_field=IntegerField(),
    )
    qs = WorkItem.objects.filter(resolved_at__isnull=True)
    if reason:
        qs = qs.filter(reason=reason)
    if subject == WorkSubject.EPISODE:
        qs = qs.filter(episode__isnull=False)
    elif subject == WorkSubject.ORGANISATION:
        qs = qs.filter(episode__isnull=True, organisation__isnull=False)
    elif subject == WorkSubject.BATCH:
        qs = qs.filter(episode__isnull=True, organisation__isnull=True, batch__isnull=False)
    return (
        qs.select_related("episode__client", "organisation", "batch__insurer")
        .annotate(
            rejected_line_id=Subquery(rejected, output_field=IntegerField()),
            refused_credit_id=Case(
                When(reason=WorkReason.CREDIT_REJECTED, then=refused_credit), output_field=IntegerField()
            ),
        )
        .only(
            "id",
            "phase",
            "reason",
            "message",
            "amount",
            "created_at",
            "episode__id",
            "episode__intake_date",
            "episode__client__given_names",
            "episode__client__family_name",
            "organisation__id",
            "organisation__name",
            "batch__id",
            "batch__number",
            "batch__period",
            "batch__insurer__id",
            "batch__insurer__name",
        )
        .order_by("-created_at", "-pk")
    )


def work_queue_reasons() -> list[tuple[str, str]]:
    """The reasons of the open work items (the choices of the queue's filter), in the order of WorkReason."""
    open_reasons = set(
        WorkItem.objects.filter(resolved_at__isnull=True).values_list("reason", flat=True).distinct()
    )
    return [(value, str(label)) for value, label in WorkReason.choices if value in open_reasons]


# --- claims ----------------------------------------------------------------------------------


def claim_episodes() -> QuerySet[Episode]:
    """Episodes with claim lines, with the number of lines, the current total and open work items."""
    open_items = (
        WorkItem.objects.filter(episode=OuterRef("pk"), resolved_at__isnull=True)
        .order_by()
        .values("episode")
        .annotate(c=Count("pk"))
        .values("c")
    )
    return (
        Episode.objects.filter(Exists(ClaimLine.objects.filter(episode=OuterRef("pk"))))
        .select_related("client")
        .only("id", "intake_date", "status", "client__given_names", "client__family_name")
        .annotate(
            line_count=Count("claim_lines"),
            current_total=Sum(
                "claim_lines__amount",
                filter=Q(claim_lines__is_current=True, claim_lines__sign=Sign.DEBIT),
            ),
            open_items=Coalesce(Subquery(open_items, output_field=IntegerField()), 0),
        )
        .order_by("-pk")
    )


def claim_episode(*, pk: int) -> Episode:
    """The episode of a claims page (raises Episode.DoesNotExist for another tenant's episode)."""
    return Episode.objects.select_related("client").get(pk=pk)


def episode_claim_lines(*, episode: Episode) -> list[ClaimLine]:
    return list(
        ClaimLine.objects.filter(episode=episode)
        .select_related("corrects")
        .order_by("phase", "created_at", "pk")
    )


def claim_line(*, pk: int) -> ClaimLine:
    return ClaimLine.objects.select_related(
        "episode__client", "contract__insurer", "tariff", "insurer", "corrects"
    ).get(pk=pk)


def claim_line_list(
    *, status: str = "", phase: str = "", month: dt.date | None = None
) -> QuerySet[ClaimLine]:
    """Claim lines, optionally by status, phase and the month they were created (booked) in."""
    qs = ClaimLine.objects.select_related("insurer", "corrects").order_by("-created_at", "-pk")
    if status:
        qs = qs.filter(status=status)
    if phase:
        qs = qs.filter(phase=phase)
    if month is not None:
        start, end = month_bounds(month)
        qs = qs.filter(created_at__gte=start, created_at__lt=end)
    return qs


# The claims list shows claims as they stand: current lines (a credited or replaced line, and a credit, is in
# the episode's history), and the credits the insurer refused that were not sent again (a claim to take money
# back that is still outstanding). So "rejected" there is a rejected line not yet corrected or a refused
# credit not yet sent again, the finance home's card.
CLAIM_STATUSES = (LineStatus.READY, LineStatus.SENT, LineStatus.ACCEPTED, LineStatus.REJECTED)
DEADLINE_SOON_DAYS = 30


@dataclass(frozen=True)
class ClaimFilter:
    """The claims list's search and filters; empty fields do not filter. `deadline_by`: lines not yet
    accepted by the insurer (ready or rejected) whose submission deadline falls from `today` to that day."""

    search: str = ""
    insurer_id: int | None = None
    status: str = ""
    month: dt.date | None = None
    organisation_id: int | None = None
    phase: str = ""
    deadline_by: dt.date | None = None
    # Only lines the pre-send check does not hold back (no open pre-send work item on their phase): what
    # the next batch carries of the ready lines.
    sendable: bool = False
    today: dt.date | None = None

    @property
    def searches_clients(self) -> bool:
        """A search by name reads client data (NEN 7513: logged as a search); a number is a reference."""
        return bool(self.search) and not self.search.lstrip("#").isdigit()


def service_end_bounds(*, months: int, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    """The ends of care whose submission deadline (`months` after, `rollup.submission_deadline`) falls from
    `first` to `last`: add_months is monotonic, so it is a range of days, found here exactly (it clamps to
    the end of a month) and so asked of the database without date arithmetic in SQL."""
    lo = add_months(first, -months)
    while add_months(lo - dt.timedelta(days=1), months) >= first:
        lo -= dt.timedelta(days=1)
    while add_months(lo, months) < first:
        lo += dt.timedelta(days=1)
    hi = add_months(last, -months)
    while add_months(hi + dt.timedelta(days=1), months) <= last:
        hi += dt.timedelta(days=1)
    while add_months(hi, months) > last:
        hi -= dt.timedelta(days=1)
    return lo, hi


def _deadline_between(first: dt.date, last: dt.date) -> Q:
    """Lines whose contract's submission deadline falls from `first` to `last` (one range per term in use)."""
    terms = sorted(set(Contract.objects.values_list("submission_months", flat=True)))
    found = Q(pk__in=[])
    for months in terms:
        lo, hi = service_end_bounds(months=months, first=first, last=last)
        found |= Q(contract__submission_months=months, service_end__gte=lo, service_end__lte=hi)
    return found


def presend_held() -> Exists:
    """Claim lines whose phase has an open pre-send work item: the last batch made held them back (invalid
    BSN, insured number, prestatie, deadline) and the next one will too until the data is corrected."""
    return Exists(
        WorkItem.objects.filter(
            episode_id=OuterRef("episode_id"),
            phase=OuterRef("phase"),
            reason__in=PRESEND_REASONS,
            resolved_at__isnull=True,
        )
    )


def claim_lines_filtered(f: ClaimFilter) -> QuerySet[ClaimLine]:
    """The current claim lines the claims list's filters select: what its summary counts, its CSV holds
    and the finance home's cards count (`billing.finance_home`), so the figures agree by construction.
    A credit counts while it is still to go to the insurer: not sent yet (*ready*, so the ready card adds
    up to the next batch), or refused and not sent again."""
    # The refused credits are few (found from the rejected lines by the status index): a list of ids, not a
    # join of every line with the line it corrects.
    refused = ClaimLine.objects.filter(ledger.rejected_credits_open()).values("pk")
    unsent_credits = Q(status=LineStatus.READY, sign=Sign.CREDIT, corrects__isnull=False)
    qs = ClaimLine.objects.filter(Q(is_current=True) | unsent_credits | Q(pk__in=refused))
    if f.search:
        term = f.search.lstrip("#")
        if term.isdecimal():
            qs = qs.filter(Q(episode_id=int(term)) | Q(number=term))
        else:
            words = term.split()
            name = Q()
            for word in words:
                name &= Q(episode__client__family_name__icontains=word) | Q(
                    episode__client__given_names__icontains=word
                )
            qs = qs.filter(Q(number__iexact=term) | name)
    if f.insurer_id is not None:
        qs = qs.filter(insurer_id=f.insurer_id)
    if f.status:
        qs = qs.filter(status=f.status)
    if f.month is not None:
        start, end = month_bounds(f.month)
        qs = qs.filter(created_at__gte=start, created_at__lt=end)
    if f.organisation_id is not None:
        qs = qs.filter(
            Exists(
                Allocation.objects.filter(
                    claim_line=OuterRef("pk"),
                    is_current=True,
                    kind=AllocationKind.MEMBER,
                    organisation_id=f.organisation_id,
                )
            )
        )
    if f.phase:
        qs = qs.filter(phase=f.phase)
    if f.sendable:
        qs = qs.exclude(presend_held())
    if f.deadline_by is not None:
        today = f.today or timezone.localdate()
        qs = qs.filter(
            _deadline_between(today, f.deadline_by),
            sign=Sign.DEBIT,
            status__in=(LineStatus.READY, LineStatus.REJECTED),
        )
    return qs


@dataclass
class ClaimSummary:
    lines: int
    total: Decimal
    episodes: int


def claim_summary(lines: QuerySet[ClaimLine]) -> ClaimSummary:
    """How many lines, their amount and their episodes, in one query."""
    row = lines.order_by().aggregate(
        n=Count("pk"), total=Sum("amount"), episodes=Count("episode_id", distinct=True)
    )
    return ClaimSummary(row["n"], row["total"] or Decimal("0.00"), row["episodes"])


def claim_episodes_filtered(f: ClaimFilter) -> QuerySet[Episode]:
    """The claims list: episodes with a line the filters select (`claim_episodes` when none is set)."""
    if f == ClaimFilter(today=f.today):
        return claim_episodes()
    return claim_episodes().filter(pk__in=claim_lines_filtered(f).values("episode_id"))


def claim_export_rows(lines: QuerySet[ClaimLine]) -> QuerySet[ClaimLine]:
    """The lines of the claims CSV, with what a row names (client by name, no clinical data)."""
    return lines.select_related("insurer", "episode__client", "contract").order_by(
        "episode_id", "phase", "created_at", "pk"
    )


def claim_filter_insurers() -> QuerySet[Insurer]:
    return Insurer.objects.filter(pk__in=ClaimLine.objects.values("insurer_id")).order_by("name")


def current_allocations() -> QuerySet[Allocation]:
    """Allocations in force: a re-split (care logged or voided after the split) supersedes, never changes."""
    return Allocation.objects.filter(is_current=True).select_related("organisation")


def allocation_list(*, line: ClaimLine, include_history: bool = False) -> QuerySet[Allocation]:
    qs = Allocation.objects.filter(claim_line=line).select_related("organisation")
    if not include_history:
        qs = qs.filter(is_current=True)
    return qs.order_by("-is_current", "created_at", "kind", "organisation__name", "pk")


# --- explain a claim line ----------------------------------------------------------------------


@dataclass
class ExplainedEvent:
    event: CareEvent
    rate: Decimal | None
    points: Decimal


@dataclass
class ExplainedMember:
    allocation: Allocation
    method: str
    share_pct: Decimal | None  # the member's share of the members' part, in %
    points: Decimal | None
    points_pct: Decimal | None  # the share the points alone would give, in %
    minimum_pct: Decimal | None
    events: list[ExplainedEvent] = field(default_factory=list)

    @property
    def minimum_applied(self) -> bool:
        return bool(
            self.minimum_pct
            and self.share_pct is not None
            and self.points_pct is not None
            and self.points_pct < self.share_pct
            and self.share_pct.quantize(Decimal("0.01")) == self.minimum_pct.quantize(Decimal("0.01"))
        )


@dataclass
class EarlierSplit:
    """A division of the line that a re-split replaced (kept for the audit trail)."""

    created_at: dt.datetime
    superseded_at: dt.datetime
    parts: list[Allocation]


@dataclass
class Explanation:
    line: ClaimLine
    contract: Contract
    tariff_amount: Decimal
    percentage: Decimal
    overhead: Allocation | None
    reserve: Allocation | None
    # The percentages the overhead and reserve were taken with (their basis; a credit's are those of the
    # line it credits). A part of 0.00 has no allocation and counts as 0 %.
    overhead_pct: Decimal | None
    reserve_pct: Decimal | None
    members: list[ExplainedMember]
    members_total: Decimal
    split_rule: SplitRule | None
    method: str
    events: list[ExplainedEvent]
    total_points: Decimal
    history: list[ClaimLine]
    earlier_splits: list[EarlierSplit]
    percentage_basis: PercentageBasis | None = None  # issue 14: how the percentage was reached

    @property
    def is_partial(self) -> bool:
        return self.percentage != HUNDRED

    @property
    def members_pct(self) -> Decimal:
        return HUNDRED - (self.overhead_pct or Decimal(0)) - (self.reserve_pct or Decimal(0))

    @property
    def members_shares_total(self) -> Decimal | None:
        """The members' fixed shares added up as stored (100 % for a valid rule), or None when the line
        was not divided by fixed shares."""
        if self.method != SplitMethod.FIXED or not self.members:
            return None
        return sum((m.share_pct for m in self.members if m.share_pct is not None), Decimal(0))

    @property
    def allocated_total(self) -> Decimal:
        total = sum((m.allocation.amount for m in self.members), Decimal(0))
        for part in (self.overhead, self.reserve):
            if part is not None:
                total += part.amount
        return total


def _pct(value: Decimal) -> Decimal:
    return (value * HUNDRED).quantize(Decimal("0.01"))


def claim_line_explanation(*, line: ClaimLine) -> Explanation:
    """From a claim line to its tariff, the care it was split by, its allocations and its history.

    The events are those the split recorded in the allocations' `basis` (ids, points, share); they are
    read without their note. A credit line mirrors the allocations of the line it reverses.
    """
    everything = list(
        Allocation.objects.filter(claim_line=line).select_related("organisation", "split_rule").order_by("pk")
    )
    allocations = [a for a in everything if a.is_current]
    superseded: dict[dt.datetime, list[Allocation]] = defaultdict(list)
    for a in everything:
        if not a.is_current and a.superseded_at is not None:
            superseded[a.superseded_at].append(a)
    overhead = next((a for a in allocations if a.kind == AllocationKind.OVERHEAD), None)
    reserve = next((a for a in allocations if a.kind == AllocationKind.RESERVE), None)
    member_allocs = sorted(
        (a for a in allocations if a.kind == AllocationKind.MEMBER),
        key=lambda a: (a.organisation.name if a.organisation else "", a.pk),
    )
    split_rule = next((a.split_rule for a in allocations if a.split_rule is not None), None)
    head_pct = _head_percentages([a for a in allocations if a.organisation_id is None])
    if line.corrects_id is not None and (overhead or reserve) and not head_pct:
        head_pct = _head_percentages(
            list(
                Allocation.objects.filter(claim_line_id=line.corrects_id, is_current=True, organisation=None)
            )
        )
    bases = {a.pk: AllocationBasis.from_json(a.basis) for a in member_allocs}
    method = next((b.method for b in bases.values() if b.method), "")

    rates: dict[int, Decimal] = {}
    minimums: dict[int, Decimal] = {}
    if split_rule is not None:
        rates = {r.event_type_id: r.rate for r in InternalRate.objects.filter(rule=split_rule)}
        minimums = {
            s.organisation_id: s.minimum_pct
            for s in SplitShare.objects.filter(split_phase__rule=split_rule, split_phase__phase=line.phase)
        }
    event_ids = {i for b in bases.values() for i in b.events or ()}
    # Fixed shares record no events (the care does not change the division), but the line still rests on
    # the phase's care: list the active care of the phase, as the split reads it (issue 19).
    fixed = method == SplitMethod.FIXED and line.sign == Sign.DEBIT
    care = (
        Q(episode_id=line.episode_id or 0, phase=line.phase, status=EventStatus.ACTIVE)
        if fixed
        else Q(pk__in=event_ids, episode_id=line.episode_id or 0)
    )
    events_by_id = {
        ev.pk: ev
        for ev in CareEvent.objects.filter(care)
        .select_related("event_type", "organisation")
        .only(
            "id",
            "occurred_at",
            "quantity",
            "status",
            "phase",
            "episode_id",
            "event_type__id",
            "event_type__code",
            "event_type__name_nl",
            "event_type__name_en",
            "event_type__unit",
            "organisation__id",
            "organisation__name",
        )
    }

    def explained(ev: CareEvent) -> ExplainedEvent:
        rate = rates.get(ev.event_type_id)
        return ExplainedEvent(event=ev, rate=rate, points=ev.quantity * (rate or Decimal(0)))

    total_points = sum((b.points or Decimal(0) for b in bases.values()), Decimal(0))
    members = []
    for alloc in member_allocs:
        basis = bases[alloc.pk]
        points = basis.points
        evs = [explained(events_by_id[i]) for i in basis.events or () if i in events_by_id]
        evs.sort(key=lambda e: (e.event.occurred_at, e.event.pk))
        members.append(
            ExplainedMember(
                allocation=alloc,
                method=basis.method,
                # As stored, not rounded to two places: fixed shares have three (33.334 %).
                share_pct=basis.share * HUNDRED if basis.share is not None else None,
                points=points,
                points_pct=_pct(points / total_points) if points is not None and total_points else None,
                minimum_pct=minimums.get(alloc.organisation_id) if alloc.organisation_id else None,
                events=evs,
            )
        )
    all_events = sorted(
        (e for m in members for e in m.events) if not fixed else map(explained, events_by_id.values()),
        key=lambda e: (e.event.occurred_at, e.event.pk),
    )
    history = list(
        ClaimLine.objects.filter(
            Q(episode_id=line.episode_id) if line.episode_id else Q(agreement_id=line.agreement_id),
            phase=line.phase,
        )
        .select_related("corrects")
        .order_by("created_at", "pk")
    )
    return Explanation(
        line=line,
        contract=line.contract,
        tariff_amount=line.tariff.amount if line.tariff is not None else Decimal(0),
        percentage=line.percentage,
        overhead=overhead,
        reserve=reserve,
        overhead_pct=head_pct.get(AllocationKind.OVERHEAD) if overhead is not None else None,
        reserve_pct=head_pct.get(AllocationKind.RESERVE) if reserve is not None else None,
        members=members,
        members_total=sum((m.allocation.amount for m in members), Decimal(0)),
        split_rule=split_rule,
        method=method,
        events=all_events,
        total_points=total_points,
        history=history,
        earlier_splits=[
            EarlierSplit(created_at=parts[0].created_at, superseded_at=when, parts=_ordered(parts))
            for when, parts in sorted(superseded.items(), reverse=True)
        ],
        percentage_basis=percentage_basis(line=line),
    )


def _head_percentages(parts: list[Allocation]) -> dict[str, Decimal]:
    """The percentage each overhead or reserve allocation was taken with, by kind (from its basis)."""
    result: dict[str, Decimal] = {}
    for a in parts:
        pct = AllocationBasis.from_json(a.basis).percentage
        if pct is not None:
            result[a.kind] = pct
    return result


def _ordered(parts: list[Allocation]) -> list[Allocation]:
    rank: dict[str, int] = {AllocationKind.OVERHEAD: 0, AllocationKind.RESERVE: 1, AllocationKind.MEMBER: 2}
    return sorted(parts, key=lambda a: (rank.get(a.kind, 3), a.organisation.name if a.organisation else ""))


# --- revenue ---------------------------------------------------------------------------------


@dataclass
class RevenueRow:
    """One member (or the IGO's overhead or reserve) on the revenue page: its ledger entries per month
    (allocated), and of the year's entries what is held back (lines the insurer rejected, not yet credited)
    and what is paid out. `paid` is None for the IGO's own parts, which are not paid out."""

    label: str
    kind: str
    organisation_id: int | None
    amounts: list[Decimal]
    held: Decimal
    paid: Decimal | None

    @property
    def total(self) -> Decimal:
        return sum(self.amounts, Decimal("0.00"))

    @property
    def net(self) -> Decimal:
        return self.total - self.held


@dataclass
class Revenue:
    year: int
    months: list[dt.date]
    rows: list[RevenueRow]

    @property
    def month_totals(self) -> list[Decimal]:
        return [sum((r.amounts[i] for r in self.rows), Decimal("0.00")) for i in range(len(self.months))]

    @property
    def total(self) -> Decimal:
        return sum((r.total for r in self.rows), Decimal("0.00"))

    @property
    def held(self) -> Decimal:
        return sum((r.held for r in self.rows), Decimal("0.00"))

    @property
    def net(self) -> Decimal:
        return self.total - self.held

    @property
    def paid(self) -> Decimal:
        return sum((r.paid or Decimal("0.00") for r in self.rows), Decimal("0.00"))


def revenue_by_member_month(*, year: int, overhead_label: str, reserve_label: str) -> Revenue:
    """Per member organisation (and the IGO's overhead and reserve) the ledger's entries per month, in
    Europe/Amsterdam: the same amounts as the month's statements (`billing.ledger.year_overview`), with
    what is held back and what is paid out of them."""
    table = ledger.year_overview(year=year)
    months = [dt.date(year, m, 1) for m in range(1, 13)]
    names = dict(
        MemberOrganisation.objects.filter(pk__in=[o for _, o in table if o]).values_list("pk", "name")
    )
    result = [
        RevenueRow(names.get(org, "?"), kind, org, entry.months, entry.held, entry.paid)
        for (kind, org), entry in table.items()
        if kind == AllocationKind.MEMBER and org is not None
    ]
    result.sort(key=lambda r: r.label)
    for kind, label in ((AllocationKind.OVERHEAD, overhead_label), (AllocationKind.RESERVE, reserve_label)):
        if (kind, None) in table:
            entry = table[(kind, None)]
            result.append(RevenueRow(label, kind, None, entry.months, entry.held, None))
    return Revenue(year=year, months=months, rows=result)


def revenue_years() -> list[int]:
    """The years from the first claim line to the last, and this year (the first and last line by the index
    on tenant and moment, not every line's year)."""
    first_last = ClaimLine.objects.aggregate(first=Min("created_at"), last=Max("created_at"))
    years = {timezone.localdate().year}
    if first_last["first"] is not None:
        first = timezone.localtime(first_last["first"]).year
        last = timezone.localtime(first_last["last"]).year
        years.update(range(first, last + 1))
    return sorted(years, reverse=True)


@dataclass
class WorkInProgressRow:
    organisation_id: int
    name: str
    episodes: int
    events: int


@dataclass
class WorkInProgress:
    episodes: int
    rows: list[WorkInProgressRow]


def work_in_progress() -> WorkInProgress:
    """Active episodes without any claim line yet, and per member organisation in how many of them it
    logged care (and how many active care events).

    Driven from the waiting episodes (the index on tenant and status, less those with a line), joined to
    their active events through the index that holds each event's episode and organisation
    (`careevent_active_episode_org`), so no event row is read. Asking the events for those in a subquery of
    episodes made PostgreSQL read every care event in the database: 819 ms for the largest bench IGO, now
    about 50 ms (docs/performance.md, "The revenue page")."""
    waiting = Episode.objects.filter(status=EpisodeStatus.ACTIVE).filter(
        ~Exists(ClaimLine.objects.filter(episode=OuterRef("pk")))
    )
    rows = (
        waiting.filter(events__status=EventStatus.ACTIVE)
        .values("events__organisation_id")
        .annotate(episode_count=Count("pk", distinct=True), event_count=Count("*"))
        .order_by()
    )
    counts = {r["events__organisation_id"]: (r["episode_count"], r["event_count"]) for r in rows}
    names = dict(MemberOrganisation.objects.filter(pk__in=list(counts)).values_list("pk", "name"))
    return WorkInProgress(
        episodes=waiting.count(),
        rows=sorted(
            (WorkInProgressRow(org, names.get(org, "?"), n, e) for org, (n, e) in counts.items()),
            key=lambda r: r.name,
        ),
    )


# --- claim batches ---------------------------------------------------------------------------


def batch_list(
    *, insurer_id: int | None = None, uzovi: str = "", status: str = "", period: dt.date | None = None
) -> QuerySet[ClaimBatch]:
    """The IGO's batches, newest month first, with how many lines the insurer accepted or rejected and
    how many are still open (not yet answered)."""
    qs = ClaimBatch.objects.select_related("insurer")
    if insurer_id is not None:
        qs = qs.filter(insurer_id=insurer_id)
    if uzovi:
        qs = qs.filter(insurer__uzovi_code=uzovi)
    if status:
        qs = qs.filter(status=status)
    if period is not None:
        qs = qs.filter(period=period.replace(day=1))
    return (
        qs.annotate(
            # A line awarded in part is accepted at its awarded amount (billing.ledger.batch_money).
            accepted=Count(
                "lines", filter=Q(lines__answer__status__in=(ReturnStatus.ACCEPTED, ReturnStatus.PARTIAL))
            ),
            rejected=Count("lines", filter=Q(lines__answer__status=ReturnStatus.REJECTED)),
        )
        .annotate(open_lines=F("line_count") - F("accepted") - F("rejected"))
        .order_by("-period", "-number")
    )


def batch_insurers() -> QuerySet[Insurer]:
    """Insurers the IGO has batches or ready claim lines for (the choices of the batch filter)."""
    with_batches = ClaimBatch.objects.values("insurer_id")
    with_lines = ClaimLine.objects.values("insurer_id")
    return Insurer.objects.filter(Q(pk__in=with_batches) | Q(pk__in=with_lines)).order_by("name")


@dataclass
class WaitingLines:
    insurer_id: int
    name: str
    uzovi_code: str
    lines: int
    total: Decimal


def batch_waiting() -> list[WaitingLines]:
    """Per insurer the ready claim lines that are in no batch yet (held back ones included)."""
    rows = (
        ClaimLine.objects.filter(status=LineStatus.READY, batch_line__isnull=True)
        .values("insurer_id", "insurer__name", "insurer__uzovi_code")
        .annotate(n=Count("pk"), total=Sum("amount"))
        .order_by("insurer__name")
    )
    return [
        WaitingLines(
            r["insurer_id"], r["insurer__name"], r["insurer__uzovi_code"], r["n"], r["total"] or Decimal(0)
        )
        for r in rows
    ]


def batch_get(*, pk: int) -> ClaimBatch:
    """One batch of the tenant in scope (raises ClaimBatch.DoesNotExist for another tenant's batch)."""
    return ClaimBatch.objects.select_related("insurer", "created_by", "released_by").get(pk=pk)


def batch_lines(*, batch: ClaimBatch) -> QuerySet[BatchLine]:
    """The frozen lines of a batch in file order, with the insurer's answer and the episode's client."""
    return (
        BatchLine.objects.filter(batch=batch)
        .select_related("answer", "claim_line__episode__client")
        .order_by("line_no")
    )


@dataclass
class BatchLineRow:
    line: BatchLine
    episode_id: int | None  # None for a quality bonus or malus
    client: Client | None
    answer: ReturnLine | None
    # The return code's description as it was on the day the batch was released (COD954, dated).
    reason_label: str = ""

    @property
    def bsn_masked(self) -> str:
        return mask_bsn(self.line.bsn)


def batch_line_rows(lines: Iterable[BatchLine]) -> list[BatchLineRow]:
    lines = list(lines)
    answers = [getattr(line, "answer", None) for line in lines]
    codes = {a.reason_code for a in answers if a is not None and a.reason_code}
    labels: dict[str, str] = {}
    if codes:
        released = (
            ClaimBatch.objects.filter(pk=lines[0].batch_id).values_list("released_at", flat=True).first()
        )
        labels = return_code_labels(
            codes, on=timezone.localdate(released) if released else timezone.localdate()
        )
    return [
        BatchLineRow(
            line=line,
            episode_id=line.claim_line.episode_id,
            client=line.claim_line.episode.client if line.claim_line.episode is not None else None,
            answer=answer,
            reason_label=labels.get(answer.reason_code, "") if answer is not None else "",
        )
        for line, answer in zip(lines, answers, strict=True)
    ]


@dataclass
class HeldLine:
    line_id: int
    number: str
    episode_id: int
    amount: Decimal
    reasons: list[tuple[str, str]]  # (reason, message)


def batch_held(*, batch: ClaimBatch) -> list[HeldLine]:
    """The lines the pre-send check kept out of the batch, as recorded when it was made."""
    return [
        HeldLine(
            line_id=int(h["line"]),
            number=str(h.get("number", "")),
            episode_id=int(h["episode"]),
            amount=Decimal(str(h.get("amount", "0"))),
            reasons=[(str(r.get("reason", "")), str(r.get("message", ""))) for r in h.get("reasons", [])],
        )
        for h in batch.held or []
    ]


def batch_files(*, batch: ClaimBatch) -> list[BatchFile]:
    """The batch's files without their content, in the order kz301, csv, pdf."""
    order = {"kz301": 0, "csv": 1, "pdf": 2}
    files = list(BatchFile.objects.filter(batch=batch).defer("content"))
    return sorted(files, key=lambda f: order.get(f.kind, 9))


def batch_file(*, batch: ClaimBatch, kind: str) -> BatchFile:
    return BatchFile.objects.get(batch=batch, kind=kind)


def batch_clients(*, batch: ClaimBatch) -> list[Client]:
    """The distinct clients whose data is in a batch (for the access log of a download)."""
    ids = BatchLine.objects.filter(batch=batch).values("claim_line__episode__client_id")
    return list(Client.objects.filter(pk__in=ids).only("id", "tenant_id"))


def batch_returns(*, batch: ClaimBatch) -> QuerySet[BatchReturn]:
    return BatchReturn.objects.filter(batch=batch).select_related("received_by").order_by("-received_at")


@dataclass
class BatchPayments:
    """The insurer's payments for a batch and how they match its accepted lines (billing.ledger)."""

    money: ledger.BatchMoney
    payments: list[InsurerPayment]
    difference_item: WorkItem | None  # the open payment-difference work item, if any

    @property
    def status(self) -> str:
        """ "none" (no answer or payment yet to match), "waiting" (answered, nothing received yet),
        "matched" or "difference"."""
        if self.money.payments == 0:
            return "waiting" if self.money.accepted else "none"
        return "matched" if self.money.matched else "difference"


def batch_payments(*, batch: ClaimBatch) -> BatchPayments:
    return BatchPayments(
        money=ledger.batch_money([batch.pk])[batch.pk],
        payments=list(
            InsurerPayment.objects.filter(batch=batch)
            .select_related("recorded_by")
            .order_by("received_on", "pk")
        ),
        difference_item=WorkItem.objects.filter(
            batch=batch, reason=WorkReason.PAYMENT_DIFFERENCE, resolved_at__isnull=True
        ).first(),
    )


# --- member statements -------------------------------------------------------------------------


@dataclass
class StatementRowTotal:
    organisation: MemberOrganisation
    totals: Totals  # per state (billing.ledger)

    @property
    def total(self) -> Decimal:
        return self.totals.allocated


@dataclass
class StatementOverview:
    period: dt.date
    today: dt.date  # the day the states are read on
    members: list[StatementRowTotal]
    overhead: Decimal
    reserve: Decimal
    lines_total: Decimal  # claim lines booked in the month, less those withdrawn before sending

    @property
    def members_totals(self) -> Totals:
        totals = Totals()
        for r in self.members:
            for state in EntryState.values:
                totals.add(state, getattr(r.totals, state))
        return totals

    @property
    def members_total(self) -> Decimal:
        return self.members_totals.allocated

    @property
    def allocated_total(self) -> Decimal:
        return self.members_total + self.overhead + self.reserve

    @property
    def difference(self) -> Decimal:
        return self.allocated_total - self.lines_total


def statement_overview(*, period: dt.date, today: dt.date) -> StatementOverview:
    """Per member organisation the month's statement totals per state on `today` (current members, and
    anyone with amounts in the month), the IGO's overhead and reserve, all from the ledger's month
    (`billing.ledger.month_totals`), and the claim lines booked in the month to check them by."""
    period = period.replace(day=1)
    month = ledger.month_totals(period=period, today=today)
    totals = {org: t for (kind, org), t in month.rows.items() if kind == AllocationKind.MEMBER and org}
    start, end = month_bounds(period)
    last_day = month_end(period)
    orgs = MemberOrganisation.objects.filter(
        Q(pk__in=list(totals))
        | (Q(member_from__lte=last_day) & (Q(member_until__isnull=True) | Q(member_until__gte=period)))
    ).order_by("name")
    lines_total = (
        ClaimLine.objects.filter(created_at__gte=start, created_at__lt=end)
        .exclude(status=LineStatus.WITHDRAWN)
        .aggregate(s=Sum("amount"))["s"]
    )
    return StatementOverview(
        period=period,
        today=today,
        members=[StatementRowTotal(org, totals.get(org.pk, Totals())) for org in orgs],
        overhead=month.igo(AllocationKind.OVERHEAD).allocated,
        reserve=month.igo(AllocationKind.RESERVE).allocated,
        lines_total=lines_total or Decimal("0.00"),
    )


@dataclass
class AgreementRow:
    agreement: QualityAgreement
    result: Any  # billing.services.quality_claims.AgreementResult
    indicator: Any  # quality.indicators.Indicator
    line: ClaimLine | None


def quality_agreement_rows(*, year: int) -> list[AgreementRow]:
    """A year's agreements with their result so far (computed now) and the current bonus/malus line."""
    from billing.services import quality_claims
    from quality import indicators

    agreements = list(
        QualityAgreement.objects.filter(year=year)
        .select_related("contract__insurer")
        .order_by("contract__insurer__name", "indicator")
    )
    if not agreements:
        return []
    tallies = indicators.compute(start=dt.date(year, 1, 1), end=dt.date(year + 1, 1, 1))
    lines = {
        line.agreement_id: line
        for line in ClaimLine.objects.filter(agreement__in=agreements, is_current=True)
    }
    return [
        AgreementRow(
            agreement=a,
            result=quality_claims.agreement_result(a, tallies),
            indicator=indicators.BY_CODE.get(a.indicator),
            line=lines.get(a.pk),
        )
        for a in agreements
    ]


# --- partial trajectories: how a line's percentage was reached, finance's decisions (issue 14) ---------


@dataclass
class PercentageBasis:
    """How a care line's percentage of the tariff was reached (ClaimLine.explanation), for the page that
    explains the amount: a phase completed before an early ending (in full), the contract's rule for the
    interrupted phase, or finance's decision where the contract has none."""

    kind: str  # "completed", "partial" or "decision"
    percentage: Decimal = HUNDRED
    week: int | None = None
    end_reason: str = ""
    rule_id: int | None = None
    from_week: int | None = None
    until_week: int | None = None
    decision_id: int | None = None
    choice: str = ""
    reason: str = ""
    by: str = ""
    at: dt.datetime | None = None

    @property
    def end_reason_label(self) -> str:
        return str(EndReason(self.end_reason).label) if self.end_reason in EndReason.values else ""

    @property
    def choice_label(self) -> str:
        return str(PartialChoice(self.choice).label) if self.choice in PartialChoice.values else ""


def percentage_basis(*, line: ClaimLine) -> PercentageBasis | None:
    """What the roll-up recorded on a care line about its percentage (None for lines made before it did,
    for quality lines and for credits)."""
    x = line.explanation or {}
    if "partial" in x:
        p = x["partial"]
        return PercentageBasis(
            kind="partial",
            percentage=Decimal(str(p["percentage"])),
            week=p.get("week"),
            end_reason=p.get("end_reason", ""),
            rule_id=p.get("rule"),
            from_week=p.get("from_week"),
            until_week=p.get("until_week"),
        )
    if "decision" in x:
        d = x["decision"]
        return PercentageBasis(
            kind="decision",
            percentage=Decimal(str(d["percentage"])),
            decision_id=d.get("id"),
            choice=d.get("choice", ""),
            reason=d.get("reason", ""),
            by=d.get("by", ""),
            at=parse_datetime(d["at"]) if d.get("at") else None,
        )
    if x.get("completed"):
        return PercentageBasis(kind="completed")
    return None


@dataclass
class PartialCase:
    """The phase an early ending interrupted, for finance's decision: where it stands and what was
    decided before."""

    episode: Episode
    phase: str
    interrupted: BillablePhase | None  # None: this phase is not the interrupted phase of an early ending
    week: int | None
    contract: Contract | None
    tariff: Decimal | None
    rule: PartialRule | None  # a rule of the contract that covers the case (then the contract decides)
    decisions: list[PartialDecision]
    work_items: list[WorkItem]

    @property
    def current(self) -> PartialDecision | None:
        return next((d for d in self.decisions if d.is_current), None)

    @property
    def phase_label(self) -> str:
        return str(Phase(self.phase).label)


def partial_case(*, episode: Episode, phase: str) -> PartialCase:
    """Read what finance needs to decide on an interrupted phase: its dates and week, the contract that
    bills it and its tariff, and the decisions so far (newest first)."""
    interrupted = interrupted_phase(episode)
    if interrupted is not None and interrupted.phase != phase:
        interrupted = None
    week = contract = tariff = rule = None
    if interrupted is not None:
        week = gestational_week(episode, interrupted.end)
        insurances = list(ClientInsurance.objects.filter(client_id=episode.client_id).order_by("valid_from"))
        ins = insurance_on(insurances, interrupted.start)
        if ins is not None:
            contracts = list(
                Contract.objects.filter(insurer_id=ins.insurer_id)
                .select_related("insurer")
                .prefetch_related("tariffs", "partial_rules")
                .order_by("valid_from")
            )
            contract = contract_on(contracts, ins.insurer_id, interrupted.start)
        if contract is not None:
            tariff = next((t.amount for t in contract.tariffs.all() if t.phase == phase), None)
            rule = partial_rule_for(contract, end_reason=episode.end_reason, phase=phase, week=week)
    return PartialCase(
        episode=episode,
        phase=phase,
        interrupted=interrupted,
        week=week,
        contract=contract,
        tariff=tariff,
        rule=rule,
        decisions=list(episode_partial_decisions(episode=episode).filter(phase=phase)),
        work_items=list(
            WorkItem.objects.filter(episode=episode, phase=phase, resolved_at__isnull=True).order_by("pk")
        ),
    )


def episode_partial_decisions(*, episode: Episode) -> QuerySet[PartialDecision]:
    """Finance's decisions on an episode's interrupted phases, newest first, with who made them."""
    return (
        PartialDecision.objects.filter(episode=episode)
        .select_related("decided_by")
        .order_by("-decided_at", "-pk")
    )


# --- payouts to members (issue 14: payouts) ------------------------------------------------------------


def payout_runs() -> QuerySet[PayoutRun]:
    """The IGO's payout runs, latest month first, with how many members each pays."""
    return PayoutRun.objects.select_related("prepared_by", "released_by").annotate(members=Count("payouts"))


def payout_run_get(*, pk: int) -> PayoutRun:
    return PayoutRun.objects.select_related("prepared_by", "released_by", "tenant").get(pk=pk)


def payout_run_payouts(*, run: PayoutRun) -> list[Payout]:
    return list(Payout.objects.filter(run=run).select_related("organisation").order_by("organisation__name"))


def payout_get(*, run: PayoutRun, pk: int) -> Payout:
    return Payout.objects.select_related("organisation", "run", "tenant").get(run=run, pk=pk)


def payout_file(*, run: PayoutRun, kind: str) -> PayoutFile:
    return PayoutFile.objects.get(run=run, kind=kind)


@dataclass
class PayoutLeftRow:
    """A member with entries up to the run's month end that no payout has paid (yet), by ledger state."""

    organisation: MemberOrganisation
    totals: Totals
    has_account: bool
    work_item: WorkItem | None

    @property
    def reason(self) -> str:
        """no_iban: money payable and no valid bank account (a work item says so); due: payable now (it became
        payable after the run was prepared, or its line has an entry booked after the month, a partial award
        answered later, say, or is one side of a line settled after the month, and waits whole for a later
        run); carried: what is payable adds up to less than nothing (carried over to a later run); repaid: a
        former member's debt paid back (`billing.services.repayments`), nothing left; held: only held-back
        entries (rejected lines); pending: not payable yet. Payable counts the repayments not netted off yet
        with the due entries (`Totals.balance`)."""
        if self.totals.balance > 0:
            return "due" if self.has_account else "no_iban"
        if self.totals.balance < 0:
            return "carried"
        if self.totals.repaid_open and not self.totals.held and not self.totals.pending:
            return "repaid"
        return "held" if self.totals.held else "pending"


def payout_run_left(*, run: PayoutRun, today: dt.date) -> list[PayoutLeftRow]:
    """Per member, what is booked up to the end of the run's month and not paid out, by state on `today`:
    carried over, without a bank account (with its work item), held back (rejected lines) or not yet
    payable. The IGO's own parts are not paid out and not listed."""
    totals = unpaid_totals(until=midnight(next_month(run.period)), today=today)
    totals = {
        org_id: t
        for org_id, t in totals.items()
        if org_id is not None and (t.due or t.held or t.pending or t.repaid_open)
    }
    orgs = MemberOrganisation.objects.in_bulk(list(totals))
    items = {
        w.organisation_id: w
        for w in WorkItem.objects.filter(
            organisation_id__in=list(totals), reason=WorkReason.NO_IBAN, resolved_at__isnull=True
        )
    }
    rows = [
        PayoutLeftRow(
            organisation=orgs[org_id],
            totals=t,
            has_account=bool(orgs[org_id].iban) and iban_is_valid(orgs[org_id].iban),
            work_item=items.get(org_id),
        )
        for org_id, t in totals.items()
    ]
    rows.sort(key=lambda r: (r.organisation.name, r.organisation.pk))
    return rows


def member_repayments(*, organisation: MemberOrganisation) -> list[MemberRepayment]:
    """A member's repayments, latest first, with who recorded them and the payout that netted them off."""
    return list(
        MemberRepayment.objects.filter(organisation=organisation)
        .select_related("recorded_by", "netted_in__run")
        .order_by("-recorded_at", "-pk")
    )


def statement_clients(*, statement: Statement) -> list[int]:
    """The ids of the clients whose episodes a member statement names (by reference), for the access log."""
    episodes = {row.line.episode_id for row in statement.rows if row.line.episode_id is not None}
    return list(Episode.objects.filter(pk__in=episodes).values_list("client_id", flat=True).distinct())


def payout_statement_clients(*, payout: Payout) -> list[Client]:
    """The clients whose episodes a payout's statement names (by reference), for the access log."""
    episodes = ClaimLine.objects.filter(
        Q(allocations__paid_in=payout) | Q(allocations__reversal_paid_in=payout), episode__isnull=False
    ).values("episode_id")
    return list(Client.objects.filter(episodes__in=episodes).distinct())
