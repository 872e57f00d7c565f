"""The books check: do the claim lines, their allocations and the batches agree with each other and with
the care paths, to the cent? Read-only; for operators after an incident and for the fault-injection tests.

What an IGO's controller has to be able to trust, checked with aggregates in the database (one query per
rule, whatever the number of rows), except the ended phases, which follow from each episode's care-path
dates and contract rules exactly as the billing run computes them (episodes are read in chunks):

- every ended billable phase of an episode the billing run has seen since its last change has exactly one
  current debit line, or an open work item that says why not, and no phase has two;
- a debit is priced at its tariff times its percentage;
- the current allocations of a line add up to the line (a line the insurer awarded in part: to the awarded
  amount, and its credit to minus that), with parts of the line's sign; a withdrawn line has none; a
  current debit without parts has an open work item that says why;
- a credit (or counter line) mirrors the line it corrects: the opposite amount and the opposite parts;
  a line that was sent and is no longer current has been credited;
- a batch's counts and totals are the sum of its lines; its lines are copies of their claim lines for
  the batch's insurer; it has its three files, whose content matches the stored SHA-256;
- over released batches the insurer holds at most one claim per episode and phase (debits minus credits
  is 0 or 1), a credit goes out only after the line it corrects; the lines of a released batch are marked
  sent, and a line marked sent is in a released batch;
- a credit the insurer refused is followed up: per episode and phase, what the insurer keeps paying (accepted
  lines, at the awarded amount, plus the credits still on their way) is at most the current claim, and per
  insurer the accepted total (plus the credits on their way) at most the claimed total; a refused credit not
  sent again has an open work item;
- a credit of a line the insurer rejected is not waiting to be sent (it was withdrawn at the rejection), and
  one already sent that the insurer did not refuse has an open work item.

And the ledger (`billing.ledger`), the one record of money every page reads:

- per member and month, what the ledger allocated (`ledger.month_totals`, summed in the database) is what
  the member's statement shows (`billing.statements`, the entries one by one), state by state: paid out +
  held back + not yet payable (payable and pending);
- a paid entry is a member's part, paid to that member in a prepared or released payout run of a month no
  earlier than the month it was booked in, and its line is payable (not still waiting for a batch or an
  answer); a payout's amount is the sum of the entries paid in it (with a former member's repayments
  netted off in it), and a run's total the sum of its payouts;
- a former member's repayment is at most its debt when booked, is in its statement's month as in the
  ledger's, and is netted off only in a payout to that member of a run no earlier than its booking month;
- per insurer and batch: claimed (the batch's total) = accepted + not awarded (the rest of a line awarded
  in part) + rejected + open (lines without an answer),
  which is the batch-totals check above with each line counted once; the claim lines' statuses agree with
  the insurer's answers; and once the insurer paid anything for a batch, the payments equal the accepted
  total or an open payment-difference work item of the batch says by how much (accepted - received).

Episodes changed after the billing run last looked at them are counted as pending, not as problems: the
next sweep brings them up to date.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import (
    Case,
    Count,
    DateField,
    DecimalField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Abs, Coalesce, Round, Trunc
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import ledger, statements
from billing.ledger import EntryState
from billing.models import (
    SPLIT_REASONS,
    Allocation,
    AllocationKind,
    BatchFile,
    BatchFileKind,
    BatchLine,
    BatchStatus,
    ClaimBatch,
    ClaimLine,
    Contract,
    EpisodeBillingState,
    LineStatus,
    MemberRepayment,
    PartialChoice,
    PartialDecision,
    PartialRule,
    Payout,
    PayoutRun,
    PayoutStatus,
    ReturnStatus,
    Sign,
    WorkItem,
    WorkReason,
)
from billing.services import rollup
from billing.services.partial_awards import settled_amount
from igo.dates import month_end
from igo.models import Tenant
from igo.tenancy import tenant_scope
from pregnancies.models import ClientInsurance, Episode

SENT_STATES = (LineStatus.SENT, LineStatus.ACCEPTED, LineStatus.REJECTED)
CHUNK = 2000
ZERO = Decimal("0.00")


@dataclass
class Problem:
    """One thing that does not reconcile: a code, a sentence for the operator, and the rows involved."""

    kind: str
    message: str
    ids: list[int] = field(default_factory=list)


@dataclass
class BooksReport:
    tenant: str = ""
    period: str = ""
    episodes: int = 0
    pending_episodes: int = 0  # changed after the billing run last looked: not judged yet
    ended_phases: int = 0
    claimed_phases: int = 0
    waiting_phases: int = 0  # not claimed, with an open work item that says why
    lines: int = 0
    credits: int = 0
    allocated_lines: int = 0
    batches: int = 0
    released_batches: int = 0
    batch_lines: int = 0
    ledger_months: int = 0  # member-months whose ledger totals were held against their statements
    payout_runs: int = 0
    payouts: int = 0
    paid_entries: int = 0
    batches_paid: int = 0  # released batches with a payment from the insurer
    # Per insurer (UZOVI): claimed, accepted, rejected, open and received over the released batches.
    insurers: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def kinds(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for p in self.problems:
            counts[p.kind] += 1
        return dict(counts)

    def add(self, kind: str, message: str, ids: Iterable[int]) -> None:
        self.problems.append(Problem(kind, message, list(ids)))


def _period_bounds(period: date | None) -> tuple[date, date] | None:
    return (period.replace(day=1), month_end(period)) if period else None


def books_check(
    tenant: Tenant | None = None, period: date | None = None, today: date | None = None
) -> BooksReport:
    """Check the books of one IGO (or all), optionally only the prestaties that ended in one month, the
    batches and payout run of that month and the ledger's entries booked in it. The ledger's states are
    read on `today` (default: today). Cross-tenant on purpose: works without a tenant in scope."""
    today = today or timezone.localdate()
    bounds = _period_bounds(period)
    report = BooksReport(
        tenant=tenant.slug if tenant else "", period=period.strftime("%Y-%m") if period else ""
    )
    of_tenant = Q(tenant=tenant) if tenant else Q()
    lines = ClaimLine.unscoped.filter(of_tenant)
    if bounds:
        lines = lines.filter(service_end__range=bounds)
    batches = ClaimBatch.unscoped.filter(of_tenant)
    if bounds:
        batches = batches.filter(period=bounds[0])
    _check_phases(report, of_tenant, bounds)
    _check_lines(report, lines)
    _check_allocations(report, lines)
    _check_credits(report, lines)
    _check_credit_over_awarded(report, lines)
    _check_refused_credits(report, lines)
    _check_credits_of_rejected(report, lines)
    _check_batches(report, batches)
    _check_sending(report, lines, batches)
    runs = PayoutRun.unscoped.filter(of_tenant)
    if bounds:
        runs = runs.filter(period=bounds[0])
    _check_payouts(report, runs)
    _check_repayments(report, runs, of_tenant)
    _check_paid_whole(report, runs)
    _check_answers(report, batches)
    for t in [tenant] if tenant else Tenant.objects.order_by("pk"):
        with tenant_scope(t):
            _check_ledger_months(report, bounds[0] if bounds else None, today)
            _check_paid_payable(report, today)
            if bounds is None:
                _check_paid_released(report)
            _check_insurer_payments(report, batches.filter(tenant=t, status=BatchStatus.RELEASED))
            _check_insurer_over_accepted(report)
    return report


# --- ended phases against current debits -------------------------------------------------------


def _check_phases(report: BooksReport, of_tenant: Q, bounds: tuple[date, date] | None) -> None:
    duplicates = (
        ClaimLine.unscoped.filter(of_tenant, is_current=True, sign=Sign.DEBIT, episode__isnull=False)
        .order_by()  # no default ordering in the GROUP BY
        .values("episode_id", "phase")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    for row in duplicates:
        ids = ClaimLine.unscoped.filter(
            episode_id=row["episode_id"], phase=row["phase"], is_current=True, sign=Sign.DEBIT
        ).values_list("pk", flat=True)
        report.add(
            "duplicate_claim",
            _("Phase %(phase)s of episode %(episode)s has %(n)s current debit lines instead of one.")
            % {"phase": row["phase"], "episode": row["episode_id"], "n": row["n"]},
            ids,
        )
    contracts: dict[int, list[Contract]] = defaultdict(list)
    for c in (
        Contract.unscoped.filter(of_tenant)
        .prefetch_related(Prefetch("partial_rules", queryset=PartialRule.unscoped.all()))
        .order_by("valid_from")
    ):
        contracts[c.tenant_id].append(c)
    episodes = Episode.unscoped.filter(of_tenant).order_by("pk")
    if bounds:  # a phase cannot end before the intake
        episodes = episodes.filter(intake_date__lte=bounds[1])
    chunk: list[Episode] = []
    for episode in episodes.iterator(chunk_size=CHUNK):
        chunk.append(episode)
        if len(chunk) == CHUNK:
            _check_phase_chunk(report, chunk, contracts, bounds)
            chunk = []
    if chunk:
        _check_phase_chunk(report, chunk, contracts, bounds)


def _check_phase_chunk(
    report: BooksReport,
    episodes: list[Episode],
    contracts: dict[int, list[Contract]],
    bounds: tuple[date, date] | None,
) -> None:
    ids = [e.pk for e in episodes]
    checked = {
        episode_id: (checked_at, seen_changed_at)
        for episode_id, checked_at, seen_changed_at in EpisodeBillingState.unscoped.filter(
            episode_id__in=ids
        ).values_list("episode_id", "checked_at", "seen_changed_at")
    }
    insurances: dict[int, list[ClientInsurance]] = defaultdict(list)
    for ins in ClientInsurance.unscoped.filter(client_id__in={e.client_id for e in episodes}).order_by(
        "valid_from"
    ):
        insurances[ins.client_id].append(ins)
    current: dict[tuple[int, str], int] = {}
    claimed_end: dict[tuple[int, str], date] = {}
    for pk, episode_id, phase, service_end in ClaimLine.unscoped.filter(
        episode_id__in=ids, is_current=True, sign=Sign.DEBIT
    ).values_list("pk", "episode_id", "phase", "service_end"):
        current[(episode_id, phase)] = pk
        claimed_end[(episode_id, phase)] = service_end
    waiting = set(
        WorkItem.unscoped.filter(episode_id__in=ids, resolved_at__isnull=True).values_list(
            "episode_id", "phase"
        )
    )
    # Interrupted phases finance decided not to bill (issue 14): ended, rightly without a line.
    not_billed = set(
        PartialDecision.unscoped.filter(
            episode_id__in=ids, is_current=True, choice=PartialChoice.NONE
        ).values_list("episode_id", "phase", "end_reason")
    )
    for episode in episodes:
        report.episodes += 1
        checked_at, seen_changed_at = checked.get(episode.pk, (None, None))
        if checked_at is None or seen_changed_at is None or episode.changed_at != seen_changed_at:
            report.pending_episodes += 1
            continue
        # What the run that checked it wanted: the phases ended by that day, or already claimed with the
        # same end (billing.services.rollup_episodes).
        day = timezone.localdate(checked_at)
        wanted = {
            p.phase: p
            for p in rollup.ended_phases(episode)
            if rollup.phase_due(p, day, claimed_end.get((episode.pk, p.phase)))
        }
        for phase in rollup.PHASES:
            bp = None if (episode.pk, phase, episode.end_reason) in not_billed else wanted.get(phase)
            line_id = current.get((episode.pk, phase))
            in_period = bounds is None or (bp is not None and bounds[0] <= bp.end <= bounds[1])
            if bp is None:
                if line_id is not None and bounds is None:
                    report.add(
                        "claim_not_billable",
                        _("Episode %(episode)s has a current %(phase)s claim but that phase is not billable.")
                        % {"episode": episode.pk, "phase": phase},
                        [line_id],
                    )
                continue
            if not in_period:
                continue
            report.ended_phases += 1
            if line_id is not None:
                report.claimed_phases += 1
            elif (episode.pk, phase) in waiting:
                report.waiting_phases += 1
            else:
                report.add(
                    "unclaimed_phase",
                    _(
                        "Phase %(phase)s of episode %(episode)s ended on %(date)s but has no current claim "
                        "line and no work item."
                    )
                    % {"phase": phase, "episode": episode.pk, "date": bp.end.strftime("%d-%m-%Y")},
                    [episode.pk],
                )


def _differs(field_name: str, other: Any) -> Q:
    """Money `field_name` differs from `other` (a field name or an expression). Exact on PostgreSQL. SQLite
    (the demo's database) sums decimals as floats, so there a sum differs when it is off by half a cent or
    more: the books of the demo are checked to the cent as well."""
    value = F(other) if isinstance(other, str) else other
    if connection.vendor == "sqlite":
        return Q(GreaterThanOrEqual(Abs(F(field_name) - value), Value(0.005)))
    return ~Q(**{field_name: value})


# --- lines and their prices ------------------------------------------------------------------------


def _check_lines(report: BooksReport, lines: QuerySet[ClaimLine]) -> None:
    report.lines = lines.count()
    report.credits = lines.filter(corrects__isnull=False).count()
    mispriced = (
        lines.filter(sign=Sign.DEBIT, tariff__isnull=False)
        .annotate(expected=Round(F("tariff__amount") * F("percentage") / Value(Decimal(100)), precision=2))
        .filter(_differs("amount", "expected"))
        .values_list("pk", "number", "amount", "expected")
    )
    for pk, number, amount, expected in mispriced:
        report.add(
            "mispriced",
            _("Line %(ref)s claims %(amount)s, but its tariff and percentage give %(expected)s.")
            % {"ref": number, "amount": amount, "expected": expected},
            [pk],
        )
    for pk, number in lines.filter(is_current=True, status=LineStatus.WITHDRAWN).values_list("pk", "number"):
        report.add(
            "withdrawn_current", _("Line %(ref)s is withdrawn but still current.") % {"ref": number}, [pk]
        )
    # A line replaced before it was sent is withdrawn; only a credit or counter line waits as "ready".
    for pk, number in lines.filter(
        is_current=False, corrects__isnull=True, status=LineStatus.READY
    ).values_list("pk", "number"):
        report.add(
            "replaced_not_withdrawn",
            _("Line %(ref)s was replaced but is neither withdrawn nor credited.") % {"ref": number},
            [pk],
        )


# --- allocations -------------------------------------------------------------------------------------


def _check_allocations(report: BooksReport, lines: QuerySet[ClaimLine]) -> None:
    current = Q(allocations__is_current=True)
    sums = lines.annotate(
        parts=Count("allocations", filter=current),
        allocated=Sum("allocations__amount", filter=current),
        settled=settled_amount(),
    ).filter(parts__gt=0)
    report.allocated_lines = sums.count()
    for pk, number, amount, allocated, status in sums.filter(_differs("allocated", "settled")).values_list(
        "pk", "number", "settled", "allocated", "status"
    ):
        if status == LineStatus.WITHDRAWN:
            continue  # reported below, once
        report.add(
            "allocation_sum",
            _("The parts of line %(ref)s add up to %(parts)s instead of %(amount)s.")
            % {"ref": number, "parts": allocated, "amount": amount},
            [pk],
        )
    wrong_sign = (
        Allocation.unscoped.filter(is_current=True, claim_line__in=lines)
        .filter(Q(claim_line__sign=Sign.DEBIT, amount__lt=0) | Q(claim_line__sign=Sign.CREDIT, amount__gt=0))
        .values_list("claim_line_id", "claim_line__number")
        .distinct()
    )
    for pk, number in wrong_sign:
        report.add(
            "allocation_sign",
            _("Line %(ref)s has a part with the opposite sign.") % {"ref": number},
            [pk],
        )
    withdrawn = (
        Allocation.unscoped.filter(
            is_current=True, claim_line__in=lines, claim_line__status=LineStatus.WITHDRAWN
        )
        .values_list("claim_line_id", "claim_line__number")
        .distinct()
    )
    for pk, number in withdrawn:
        report.add(
            "withdrawn_allocated",
            _("Line %(ref)s was withdrawn but still has current parts.") % {"ref": number},
            [pk],
        )
    explained = WorkItem.unscoped.filter(
        episode_id=OuterRef("episode_id"),
        phase=OuterRef("phase"),
        reason__in=SPLIT_REASONS,
        resolved_at__isnull=True,
    )
    seen = F("episode__billing_state__seen_changed_at")
    pending = (
        Q(episode__billing_state__isnull=True)
        | Q(episode__billing_state__seen_changed_at__isnull=True)
        | Q(episode__changed_at__gt=seen)
        | Q(episode__changed_at__lt=seen)
    )
    unallocated = (
        lines.filter(is_current=True, sign=Sign.DEBIT, episode__isnull=False)
        .exclude(Exists(Allocation.unscoped.filter(claim_line=OuterRef("pk"), is_current=True)))
        .exclude(Exists(explained))
        .exclude(pending)
        .values_list("pk", "number")
    )
    for pk, number in unallocated:
        report.add(
            "unallocated",
            _("Line %(ref)s has no parts and no work item that says why.") % {"ref": number},
            [pk],
        )


# --- credits -----------------------------------------------------------------------------------------


def _check_credit_over_awarded(report: BooksReport, lines: QuerySet[ClaimLine]) -> None:
    """A credit of a line the insurer awarded in part goes out at the line's full amount (it mirrors the claim)
    while its parts take back only the awarded amount; the insurer should award it in part by what it
    awarded the line. Accepted in full, the insurer takes back more than it paid and the members give back
    less: the difference is nobody's."""
    over = lines.filter(
        sign=Sign.CREDIT,
        batch_line__answer__status=ReturnStatus.ACCEPTED,
        corrects__batch_line__answer__status=ReturnStatus.PARTIAL,
    )
    for pk, number, amount, awarded in over.values_list(
        "pk", "number", "amount", "corrects__batch_line__answer__awarded_amount"
    ).order_by("pk"):
        report.add(
            "credit_over_awarded",
            _(
                "Credit %(ref)s (%(amount)s) was accepted in full, but the insurer awarded only %(awarded)s of "
                "the line it takes back: it takes back more than it paid."
            )
            % {"ref": number, "amount": amount, "awarded": awarded},
            [pk],
        )


def _check_credits(report: BooksReport, lines: QuerySet[ClaimLine]) -> None:
    corrections = lines.filter(corrects__isnull=False)
    mismatched = corrections.filter(
        ~Q(amount=-F("corrects__amount"))
        | Q(sign=F("corrects__sign"))
        | ~Q(insurer_id=F("corrects__insurer_id"))
        | ~Q(phase=F("corrects__phase"))
        | ~Q(prestatie_code=F("corrects__prestatie_code"))
        | Q(corrects__is_current=True)
    ).values_list("pk", "number", "corrects_id", "corrects__number")
    for pk, number, original_id, original in mismatched:
        report.add(
            "credit_mismatch",
            _("Line %(ref)s does not mirror the line it corrects, %(original)s (amount, insurer or phase).")
            % {"ref": number, "original": original},
            [pk, original_id],
        )
    # Per part (overhead, reserve, each member): the original's current parts plus its credit's are zero.
    originals = lines.filter(Exists(ClaimLine.unscoped.filter(corrects=OuterRef("pk"))))
    unbalanced = (
        Allocation.unscoped.filter(is_current=True)
        .filter(Q(claim_line__in=corrections) | Q(claim_line__in=originals))
        .annotate(original=Coalesce("claim_line__corrects_id", "claim_line_id"))
        .order_by()
        .values("original", "kind", "organisation_id")
        .annotate(net=Sum("amount"))
        .exclude(net=0)
        .values_list("original", flat=True)
        .distinct()
    )
    for original_id in unbalanced:
        report.add(
            "credit_parts",
            _("The parts of the credit of line %(id)s do not mirror the parts of that line.")
            % {"id": original_id},
            [original_id],
        )
    # A rejected line is not credited when it is replaced (the insurer holds nothing of it): its parts are
    # reversed instead, like a withdrawal's.
    uncredited = (
        lines.filter(is_current=False, corrects__isnull=True, status__in=SENT_STATES)
        .exclude(status=LineStatus.REJECTED)
        .exclude(Exists(ClaimLine.unscoped.filter(corrects=OuterRef("pk"))))
        .values_list("pk", "number")
    )
    for pk, number in uncredited:
        report.add(
            "sent_not_credited",
            _("Line %(ref)s was sent and then replaced, but no credit line takes it back.") % {"ref": number},
            [pk],
        )
    # A credit withdrawn because its line was rejected before it went out (`credits_of_rejected_settle`)
    # takes nothing back: the rejected line's parts are reversed instead.
    rejected_kept = (
        lines.filter(is_current=False, corrects__isnull=True, status=LineStatus.REJECTED)
        .exclude(
            Exists(ClaimLine.unscoped.filter(corrects=OuterRef("pk")).exclude(status=LineStatus.WITHDRAWN))
        )
        .filter(Exists(Allocation.unscoped.filter(claim_line=OuterRef("pk"), is_current=True)))
        .values_list("pk", "number")
    )
    for pk, number in rejected_kept:
        report.add(
            "rejected_allocated",
            _("Line %(ref)s was rejected and replaced but still has current parts.") % {"ref": number},
            [pk],
        )


def _check_credits_of_rejected(report: BooksReport, lines: QuerySet[ClaimLine]) -> None:
    """A credit of a line the insurer rejected takes back nothing (8017). Not sent when the rejection came
    in, it was withdrawn (`rejected_credits.credits_of_rejected_settle`): one still ready is a problem. One
    already sent needs an open CREDIT_OF_REJECTED work item of its subject until the insurer refuses it."""
    credits = lines.filter(corrects__status=LineStatus.REJECTED).exclude(
        status__in=(LineStatus.WITHDRAWN, LineStatus.REJECTED)
    )
    for pk, number, original in (
        credits.filter(status=LineStatus.READY).values_list("pk", "number", "corrects__number").order_by("pk")
    ):
        report.add(
            "credit_of_rejected_unsent",
            _(
                "Credit %(ref)s takes back line %(original)s, which the insurer rejected; it was not "
                "withdrawn and would be refused (8017)."
            )
            % {"ref": number, "original": original},
            [pk],
        )
    item = WorkItem.unscoped.filter(reason=WorkReason.CREDIT_OF_REJECTED, resolved_at__isnull=True)
    care_item = item.filter(episode_id=OuterRef("episode_id"), phase=OuterRef("phase"))
    quality_item = item.filter(episode__isnull=True, batch_id=OuterRef("batch_line__batch_id"))
    for pk, number, original in (
        credits.filter(status__in=(LineStatus.SENT, LineStatus.ACCEPTED))
        .exclude(Q(episode__isnull=False) & Q(Exists(care_item)))
        .exclude(Q(episode__isnull=True) & Q(Exists(quality_item)))
        .values_list("pk", "number", "corrects__number")
        .order_by("pk")
    ):
        report.add(
            "credit_of_rejected_sent",
            _(
                "Credit %(ref)s of line %(original)s, which the insurer rejected, was sent and not refused, "
                "and no open work item says so."
            )
            % {"ref": number, "original": original},
            [pk],
        )


# --- credits the insurer refused --------------------------------------------------------------------


MONEY = DecimalField(max_digits=14, decimal_places=2)


def _kept_by_insurer() -> Case:
    """Per claim line, what the insurer keeps paying of it, or will once its answer comes: an accepted line's
    amount (a line awarded in part: the awarded amount), and a credit still on its way (not in a released
    batch yet, or sent without an answer) at its amount, since it is meant to take its line back. A rejected
    line, and a debit not answered yet, count nothing."""
    return Case(
        When(batch_line__answer__status=ReturnStatus.PARTIAL, then=F("batch_line__answer__awarded_amount")),
        When(status=LineStatus.ACCEPTED, then=F("amount")),
        When(sign=Sign.CREDIT, status__in=(LineStatus.READY, LineStatus.SENT), then=F("amount")),
        default=Value(ZERO),
        output_field=MONEY,
    )


def _check_refused_credits(report: BooksReport, lines: QuerySet[ClaimLine]) -> None:
    """A credit the insurer refused leaves it paying the old line as well as the new one. Per episode and
    phase, what the insurer keeps paying (`_kept_by_insurer`, summed over all the phase's lines) is at most
    what the IGO claims for it now (its current debit, or nothing); and every refused credit not sent again
    has an open work item (`WorkReason.CREDIT_REJECTED`) of its phase, or for a quality credit of its batch."""
    phases = lines.filter(episode__isnull=False).values("episode_id")
    over = (
        ClaimLine.unscoped.filter(episode_id__in=phases)
        .order_by()
        .values("episode_id", "phase")
        .annotate(
            kept=Coalesce(Sum(_kept_by_insurer()), Value(ZERO), output_field=MONEY),
            claimed=Coalesce(
                Sum("amount", filter=Q(is_current=True, sign=Sign.DEBIT)), Value(ZERO), output_field=MONEY
            ),
        )
        .filter(kept__gt=F("claimed"))
    )
    for row in over:
        report.add(
            "accepted_over_claimed",
            _(
                "Phase %(phase)s of episode %(episode)s: the insurer accepted %(kept)s net (with the credits "
                "still on their way) but the IGO claims %(claimed)s for it; a refused credit must be sent again."
            )
            % {
                "phase": row["phase"],
                "episode": row["episode_id"],
                "kept": row["kept"],
                "claimed": row["claimed"],
            },
            [row["episode_id"]],
        )
    item = WorkItem.unscoped.filter(reason=WorkReason.CREDIT_REJECTED, resolved_at__isnull=True)
    care_item = item.filter(episode_id=OuterRef("episode_id"), phase=OuterRef("phase"))
    quality_item = item.filter(episode__isnull=True, batch_id=OuterRef("batch_line__batch_id"))
    refused = (
        ClaimLine.unscoped.filter(ledger.rejected_credits_open(), pk__in=lines.values("pk"))
        .exclude(Q(episode__isnull=False) & Q(Exists(care_item)))
        .exclude(Q(episode__isnull=True) & Q(Exists(quality_item)))
        .values_list("pk", "number")
        .order_by("pk")
    )
    for pk, number in refused:
        report.add(
            "refused_credit_unattended",
            _("The insurer refused credit %(ref)s; it was not sent again and no open work item says so.")
            % {"ref": number},
            [pk],
        )


def _check_insurer_over_accepted(report: BooksReport) -> None:
    """Per insurer (the tenant in scope, all its released batches whatever the period): the insurer accepted
    at most what was claimed from it, net, once the credits on their way are counted (ready, or sent without
    an answer): more means it pays for something twice, a refused credit. Claimed net leaves out the refused
    credits that were sent again (the new credit claims the same)."""
    released = BatchLine.objects.filter(batch__status=BatchStatus.RELEASED)
    rows = {
        r["batch__insurer__uzovi_code"]: r
        for r in released.order_by()
        .values("batch__insurer__uzovi_code")
        .annotate(
            claimed=Coalesce(Sum("amount"), Value(ZERO), output_field=MONEY),
            accepted=Coalesce(
                Sum(
                    Case(
                        When(answer__status=ReturnStatus.PARTIAL, then=F("answer__awarded_amount")),
                        When(answer__status=ReturnStatus.ACCEPTED, then=F("amount")),
                        default=Value(ZERO),
                        output_field=MONEY,
                    )
                ),
                Value(ZERO),
                output_field=MONEY,
            ),
            open_credits=Coalesce(
                Sum("amount", filter=Q(sign=Sign.CREDIT, answer__isnull=True)),
                Value(ZERO),
                output_field=MONEY,
            ),
        )
    }
    # A refused credit sent again is replaced by the new credit: both are in the claimed total, once too often.
    replaced = dict(
        ClaimLine.objects.filter(ledger.rejected_credits())
        .exclude(ledger.rejected_credits_open())
        .order_by()
        .values("insurer__uzovi_code")
        .annotate(total=Sum("amount"))
        .values_list("insurer__uzovi_code", "total")
    )
    ready = dict(
        ClaimLine.objects.filter(sign=Sign.CREDIT, status=LineStatus.READY)
        .order_by()
        .values("insurer__uzovi_code")
        .annotate(total=Sum("amount"))
        .values_list("insurer__uzovi_code", "total")
    )
    for uzovi, r in sorted(rows.items()):
        kept = r["accepted"] + r["open_credits"] + (ready.get(uzovi) or ZERO)
        claimed = r["claimed"] - (replaced.get(uzovi) or ZERO)
        if kept <= claimed:
            continue
        report.add(
            "insurer_accepted_over_claimed",
            _(
                "Insurer %(uzovi)s accepted %(accepted)s net (%(kept)s with the credits still on their way), "
                "more than the %(claimed)s claimed from it: it pays for something twice."
            )
            % {"uzovi": uzovi, "accepted": r["accepted"], "kept": kept, "claimed": claimed},
            [],
        )


# --- batches -----------------------------------------------------------------------------------------


def _check_batches(report: BooksReport, batches: QuerySet[ClaimBatch]) -> None:
    money = DecimalField(max_digits=14, decimal_places=2)
    totals = batches.annotate(
        n=Count("lines"),
        debit=Coalesce(
            Sum("lines__amount", filter=Q(lines__sign=Sign.DEBIT)), Value(ZERO), output_field=money
        ),
        credit=Coalesce(
            Sum("lines__amount", filter=Q(lines__sign=Sign.CREDIT)), Value(ZERO), output_field=money
        ),
    )
    report.batches = batches.count()
    report.released_batches = batches.filter(status=BatchStatus.RELEASED).count()
    report.batch_lines = BatchLine.unscoped.filter(batch__in=batches).count()
    wrong = totals.filter(
        ~Q(n=F("line_count"))
        | _differs("debit", "debit_total")
        | _differs("credit", "credit_total")
        | _differs("total", F("debit") + F("credit"))
    ).values_list("pk", "number", "line_count", "total", "n", "debit", "credit")
    for pk, number, line_count, total, n, debit, credit in wrong:
        report.add(
            "batch_totals",
            _(
                "Batch %(number)s says %(count)s lines and %(total)s, its lines are %(n)s and %(sum)s "
                "(debit %(debit)s, credit %(credit)s)."
            )
            % {
                "number": number,
                "count": line_count,
                "total": total,
                "n": n,
                "sum": debit + credit,
                "debit": debit,
                "credit": credit,
            },
            [pk],
        )
    copies = (
        BatchLine.unscoped.filter(batch__in=batches)
        .filter(
            ~Q(amount=F("claim_line__amount"))
            | ~Q(sign=F("claim_line__sign"))
            | ~Q(number=F("claim_line__number"))
            | ~Q(claim_line__insurer_id=F("batch__insurer_id"))
            | ~Q(claim_line__tenant_id=F("batch__tenant_id"))
        )
        .values_list("pk", "batch__number", "number", "claim_line_id")
    )
    for pk, batch_number, ref, line_id in copies:
        report.add(
            "batch_line_copy",
            _("Line %(ref)s in batch %(number)s differs from its claim line (amount, sign or insurer).")
            % {"ref": ref, "number": batch_number},
            [pk, line_id],
        )
    kinds = len(BatchFileKind.values)
    for pk, number in (
        batches.annotate(n_files=Count("files")).exclude(n_files=kinds).values_list("pk", "number")
    ):
        report.add(
            "batch_files",
            _("Batch %(number)s does not have its %(n)s files.") % {"number": number, "n": kinds},
            [pk],
        )
    if connection.vendor == "postgresql":
        table = BatchFile._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT f.id, b.number, f.kind FROM {table} f "  # noqa: S608 - table names from the models
                f"JOIN {ClaimBatch._meta.db_table} b ON b.id = f.batch_id "
                "WHERE f.batch_id = ANY(%s) "
                "AND (encode(sha256(f.content), 'hex') <> f.sha256 OR octet_length(f.content) <> f.size)",
                [list(batches.values_list("pk", flat=True))],
            )
            for pk, number, kind in cursor.fetchall():
                report.add(
                    "batch_file_hash",
                    _("The %(kind)s file of batch %(number)s does not match its stored SHA-256.")
                    % {"kind": kind, "number": number},
                    [pk],
                )


# --- what the insurer received -----------------------------------------------------------------------


def _check_sending(report: BooksReport, lines: QuerySet[ClaimLine], batches: QuerySet[ClaimBatch]) -> None:
    released = BatchLine.unscoped.filter(batch__status=BatchStatus.RELEASED)
    not_sent = (
        released.filter(batch__in=batches)
        .filter(
            Q(claim_line__status__in=(LineStatus.READY, LineStatus.WITHDRAWN)) | Q(claim_line__sent_at=None)
        )
        .values_list("claim_line_id", "number", "batch__number")
    )
    for pk, number, batch_number in not_sent:
        report.add(
            "released_not_sent",
            _("Line %(ref)s is in released batch %(number)s but is not marked sent.")
            % {"ref": number, "number": batch_number},
            [pk],
        )
    in_released = released.filter(claim_line=OuterRef("pk"))
    for pk, number in (
        lines.filter(status__in=SENT_STATES).exclude(Exists(in_released)).values_list("pk", "number")
    ):
        report.add(
            "sent_without_batch",
            _("Line %(ref)s is marked sent but is in no released batch.") % {"ref": number},
            [pk],
        )
    # The insurer holds at most one claim per episode and phase: debits minus credits received is 0 or 1. A
    # debit it rejected it does not hold, nor does a credit of such a line take anything back (a rejected line
    # replaced now is not credited; one credited before its rejection came in, or before that rule, is left
    # out with its credit).
    net = (
        released.filter(claim_line__in=lines, claim_line__episode__isnull=False)
        .exclude(sign=Sign.DEBIT, claim_line__status=LineStatus.REJECTED)
        .exclude(sign=Sign.CREDIT, claim_line__corrects__status=LineStatus.REJECTED)
        .order_by()
        .values("claim_line__episode_id", "phase")
        .annotate(
            net=Sum(
                Case(When(sign=Sign.DEBIT, then=Value(1)), default=Value(-1), output_field=IntegerField())
            )
        )
        .exclude(net__in=(0, 1))
    )
    for row in net:
        episode_id, phase = row["claim_line__episode_id"], row["phase"]
        report.add(
            "claimed_twice" if row["net"] > 1 else "credited_twice",
            _(
                "The released batches hold %(n)s claims for phase %(phase)s of episode %(episode)s "
                "(debits minus credits); it should be 0 or 1."
            )
            % {"n": row["net"], "phase": phase, "episode": episode_id},
            [episode_id],
        )
    original_released = released.filter(claim_line=OuterRef("claim_line__corrects_id"))
    early = (
        released.filter(claim_line__in=lines, claim_line__corrects__isnull=False)
        .exclude(Exists(original_released))
        .values_list("claim_line_id", "number", "batch__number")
    )
    for pk, number, batch_number in early:
        report.add(
            "credit_before_original",
            _("Credit %(ref)s went out in batch %(number)s, but the line it corrects was never sent.")
            % {"ref": number, "number": batch_number},
            [pk],
        )


# --- the ledger: members' months, payouts, the insurer's answers and payments ------------------------


def _ledger_months(period: date | None) -> list[date]:
    """The months with ledger entries of the tenant in scope (or only `period`)."""
    if period is not None:
        return [period]
    tz = timezone.get_current_timezone()
    made = Allocation.objects.datetimes("created_at", "month", tzinfo=tz)
    undone = Allocation.objects.filter(superseded_at__isnull=False).datetimes(
        "superseded_at", "month", tzinfo=tz
    )
    repaid = MemberRepayment.objects.datetimes("recorded_at", "month", tzinfo=tz)
    return sorted({m.date() for m in made} | {m.date() for m in undone} | {m.date() for m in repaid})


def _check_ledger_months(report: BooksReport, period: date | None, today: date) -> None:
    """Per member and month: the ledger's month totals (one aggregate per state in the database) against the
    member's statement (its entries one by one, `billing.statements`), state by state."""
    for month in _ledger_months(period):
        ledger_month = ledger.month_totals(period=month, today=today)
        by_statement = statements.statement_totals(period=month, today=today)
        members = {
            org for kind, org in ledger_month.rows if kind == AllocationKind.MEMBER and org is not None
        }
        for org in sorted(members | set(by_statement)):
            report.ledger_months += 1
            booked, shown = ledger_month.member(org), by_statement.get(org, ledger.Totals())
            figures = [*EntryState.values, "repaid", "repaid_open"]  # a repayment is no allocation
            if [getattr(booked, st) for st in figures] == [getattr(shown, st) for st in figures]:
                continue
            report.add(
                "ledger_statement",
                _(
                    "Member %(org)s, %(month)s: the ledger allocated %(booked)s (paid %(paid)s, held back "
                    "%(held)s, not yet payable %(open)s; repaid %(repaid)s) but the statement shows %(shown)s "
                    "(paid %(s_paid)s, held back %(s_held)s, not yet payable %(s_open)s; repaid %(s_repaid)s)."
                )
                % {
                    "org": org,
                    "month": month.strftime("%Y-%m"),
                    "booked": booked.allocated,
                    "paid": booked.paid,
                    "held": booked.held,
                    "open": booked.not_yet_payable,
                    "shown": shown.allocated,
                    "s_paid": shown.paid,
                    "s_held": shown.held,
                    "s_open": shown.not_yet_payable,
                    "repaid": booked.repaid,
                    "s_repaid": shown.repaid,
                },
                [org],
            )


def _check_paid_payable(report: BooksReport, today: date) -> None:
    """A paid entry's line is payable or held back today (held: rejected after it was paid), never still
    waiting for a batch or an answer: a line's state only moves from pending to payable or held."""
    paid = Allocation.objects.filter(Q(paid_in__isnull=False) | Q(reversal_paid_in__isnull=False))
    settled = Q(claim_line__in=ledger.due_lines(today).values("pk")) | Q(
        claim_line__in=ledger.held_lines().values("pk")
    )
    for pk, number in paid.exclude(settled).values_list("pk", "claim_line__number").order_by("pk"):
        report.add(
            "paid_not_payable",
            _("A part of line %(ref)s was paid out, but the line is not payable yet.") % {"ref": number},
            [pk],
        )


def _check_payouts(report: BooksReport, runs: QuerySet[PayoutRun]) -> None:
    money = DecimalField(max_digits=14, decimal_places=2)
    tz = timezone.get_current_timezone()
    payouts = Payout.unscoped.filter(run__in=runs)
    report.payout_runs = runs.count()
    report.payouts = payouts.count()
    paid = Allocation.unscoped.filter(paid_in__run__in=runs)
    undone = Allocation.unscoped.filter(reversal_paid_in__run__in=runs)
    report.paid_entries = paid.count() + undone.count()

    def sum_of(qs: QuerySet[Allocation], field_name: str) -> Subquery:
        return Subquery(
            qs.filter(**{field_name: OuterRef("pk")})
            .order_by()
            .values(field_name)
            .annotate(s=Sum("amount"))
            .values("s"),
            output_field=money,
        )

    def count_of(qs: QuerySet[Allocation], field_name: str) -> Subquery:
        return Subquery(
            qs.filter(**{field_name: OuterRef("pk")})
            .order_by()
            .values(field_name)
            .annotate(n=Count("pk"))
            .values("n"),
            output_field=IntegerField(),
        )

    zero = Value(ZERO, output_field=money)
    # A former member's repayment netted off in a payout counts as one of its entries (+).
    netted = MemberRepayment.unscoped.filter(netted_in=OuterRef("pk")).order_by().values("netted_in")
    sums = payouts.annotate(
        made=Coalesce(sum_of(Allocation.unscoped.all(), "paid_in"), zero),
        undone=Coalesce(sum_of(Allocation.unscoped.all(), "reversal_paid_in"), zero),
        repaid=Coalesce(Subquery(netted.annotate(s=Sum("amount")).values("s"), output_field=money), zero),
        n=Coalesce(count_of(Allocation.unscoped.all(), "paid_in"), Value(0))
        + Coalesce(count_of(Allocation.unscoped.all(), "reversal_paid_in"), Value(0))
        + Coalesce(
            Subquery(netted.annotate(n=Count("pk")).values("n"), output_field=IntegerField()), Value(0)
        ),
    ).annotate(entries_sum=F("made") - F("undone") + F("repaid"))
    for pk, run_period, org, amount, entries_sum, count, n in (
        sums.filter(_differs("amount", "entries_sum") | ~Q(entries=F("n")))
        .values_list("pk", "run__period", "organisation__name", "amount", "entries_sum", "entries", "n")
        .order_by("pk")
    ):
        report.add(
            "payout_amount",
            _(
                "The payout of %(month)s to %(org)s says %(amount)s in %(count)s entries; the entries paid in it "
                "are %(n)s, together %(sum)s."
            )
            % {
                "month": run_period.strftime("%Y-%m"),
                "org": org,
                "amount": amount,
                "count": count,
                "n": n,
                "sum": entries_sum,
            },
            [pk],
        )
    run_sums = runs.annotate(
        payouts_sum=Coalesce(
            Subquery(
                Payout.unscoped.filter(run=OuterRef("pk"))
                .order_by()
                .values("run")
                .annotate(s=Sum("amount"))
                .values("s"),
                output_field=money,
            ),
            zero,
        )
    )
    for pk, run_period, total, payouts_sum in (
        run_sums.filter(_differs("total", "payouts_sum"))
        .values_list("pk", "period", "total", "payouts_sum")
        .order_by("pk")
    ):
        report.add(
            "run_total",
            _("The payout run of %(month)s totals %(total)s, its payouts %(sum)s.")
            % {"month": run_period.strftime("%Y-%m"), "total": total, "sum": payouts_sum},
            [pk],
        )
    # A paid entry is a member's part paid to that member, in a run of its booking month or later.
    for field_name, moment, what in (
        ("paid_in", "created_at", "+"),
        ("reversal_paid_in", "superseded_at", "-"),
    ):
        entries = Allocation.unscoped.filter(**{f"{field_name}__run__in": runs})
        wrong_member = entries.exclude(
            kind=AllocationKind.MEMBER, organisation_id=F(f"{field_name}__organisation_id")
        )
        for pk, number in wrong_member.values_list("pk", "claim_line__number").order_by("pk"):
            report.add(
                "paid_wrong_member",
                _(
                    "A part of line %(ref)s was paid out in a payout to another member, or is not a member's part."
                )
                % {"ref": number},
                [pk],
            )
        booked = Trunc(moment, "month", output_field=DateField(), tzinfo=tz)
        early = entries.annotate(booked=booked).filter(
            Q(booked__isnull=True) | Q(**{f"{field_name}__run__period__lt": F("booked")})
        )
        for pk, number, run_period, booked_in in early.values_list(
            "pk", "claim_line__number", f"{field_name}__run__period", "booked"
        ).order_by("pk"):
            report.add(
                "paid_early",
                _(
                    "A part (%(what)s) of line %(ref)s was paid in the payout of %(month)s, before the month it "
                    "was booked in (%(booked)s)."
                )
                % {
                    "what": what,
                    "ref": number,
                    "month": run_period.strftime("%Y-%m"),
                    "booked": booked_in.strftime("%Y-%m") if booked_in else _("not booked"),
                },
                [pk],
            )


def _check_repayments(report: BooksReport, runs: QuerySet[PayoutRun], of_tenant: Q) -> None:
    """A former member's repayment is at most the debt it had when recorded (also a database constraint);
    one netted off in a payout is netted in a payout to that member, of a run no earlier than the month it
    was booked in."""
    tz = timezone.get_current_timezone()
    repayments = MemberRepayment.unscoped.filter(of_tenant)
    for pk, org in repayments.filter(amount__gt=F("debt_before")).values_list("pk", "organisation__name"):
        report.add(
            "repayment_over_debt",
            _("A repayment of %(org)s is more than its debt when it was booked.") % {"org": org},
            [pk],
        )
    netted = repayments.filter(netted_in__run__in=runs)
    for pk, org in netted.exclude(organisation_id=F("netted_in__organisation_id")).values_list(
        "pk", "organisation__name"
    ):
        report.add(
            "repayment_wrong_member",
            _("A repayment of %(org)s was netted off in a payout to another member.") % {"org": org},
            [pk],
        )
    booked = Trunc("recorded_at", "month", output_field=DateField(), tzinfo=tz)
    for pk, org, run_period, booked_in in (
        netted.annotate(booked=booked)
        .filter(netted_in__run__period__lt=F("booked"))
        .values_list("pk", "organisation__name", "netted_in__run__period", "booked")
    ):
        report.add(
            "repayment_early",
            _(
                "A repayment of %(org)s was netted off in the payout of %(month)s, before the month it was "
                "booked in (%(booked)s)."
            )
            % {"org": org, "month": run_period.strftime("%Y-%m"), "booked": booked_in.strftime("%Y-%m")},
            [pk],
        )


def _check_paid_whole(report: BooksReport, runs: QuerySet[PayoutRun]) -> None:
    """A run pays a member's entries of a line together: when it pays one, every other entry of that line
    and member booked before the run was prepared is paid in it or an earlier run. Otherwise the run paid
    the old parts of a line re-divided after its month (a partial award answered in the next month) without
    their reversal, more than the insurer pays, and took the difference back a month later."""
    for field_name in ("paid_in", "reversal_paid_in"):
        prepared = f"{field_name}__run__prepared_at"
        period = f"{field_name}__run__period"
        sibling = Allocation.unscoped.filter(
            claim_line=OuterRef("claim_line_id"),
            organisation=OuterRef("organisation_id"),
            kind=AllocationKind.MEMBER,
        )
        made_unpaid = sibling.filter(created_at__lt=OuterRef(prepared)).filter(
            Q(paid_in__isnull=True) | Q(paid_in__run__period__gt=OuterRef(period))
        )
        undone_unpaid = sibling.filter(superseded_at__lt=OuterRef(prepared)).filter(
            Q(reversal_paid_in__isnull=True) | Q(reversal_paid_in__run__period__gt=OuterRef(period))
        )
        split = Allocation.unscoped.filter(**{f"{field_name}__run__in": runs}).filter(
            Exists(made_unpaid) | Exists(undone_unpaid)
        )
        for pk, number, run_period in split.values_list(
            "pk", "claim_line__number", f"{field_name}__run__period"
        ).order_by("pk"):
            report.add(
                "paid_line_split",
                _(
                    "The payout of %(month)s paid a part of line %(ref)s without the line's other entries "
                    "booked before it was prepared (a re-division after the month, say)."
                )
                % {"month": run_period.strftime("%Y-%m"), "ref": number},
                [pk],
            )


def _check_paid_released(report: BooksReport) -> None:
    """What the ledger calls paid out (the revenue page's *paid out*) is what the released payout runs paid,
    per member: an entry in a run that is only prepared is not paid out yet (it may be discarded)."""
    years = {d.year for d in Allocation.objects.dates("created_at", "year")} | {
        d.year for d in Allocation.objects.filter(superseded_at__isnull=False).dates("superseded_at", "year")
    }
    shown: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for year in sorted(years):
        for (kind, org), row in ledger.year_overview(year=year).items():
            if kind == AllocationKind.MEMBER and org is not None:
                shown[org] += row.paid
    # The entries the released runs paid, by the member they belong to (a payout's own amount and member
    # are checked against its entries by `_check_payouts`).
    released: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for field_name, sign in (("paid_in", 1), ("reversal_paid_in", -1)):
        for org, total in (
            Allocation.objects.filter(
                kind=AllocationKind.MEMBER, **{f"{field_name}__run__status": PayoutStatus.RELEASED}
            )
            .values("organisation_id")
            .annotate(s=Sum("amount"))
            .order_by()
            .values_list("organisation_id", "s")
        ):
            released[org] += sign * (total or ZERO)
    for org in sorted(set(shown) | set(released)):
        if shown.get(org, ZERO) != released.get(org, ZERO):
            report.add(
                "paid_not_released",
                _(
                    "Member %(org)s: the ledger shows %(shown)s paid out, the released payout runs paid "
                    "%(paid)s."
                )
                % {"org": org, "shown": shown.get(org, ZERO), "paid": released.get(org, ZERO)},
                [org],
            )


def _check_answers(report: BooksReport, batches: QuerySet[ClaimBatch]) -> None:
    """The claim lines' statuses (which the ledger's states read) agree with the insurer's answers."""
    rows = BatchLine.unscoped.filter(batch__in=batches, batch__status=BatchStatus.RELEASED)
    accepted = (ReturnStatus.ACCEPTED, ReturnStatus.PARTIAL)  # partial: accepted at the awarded amount
    disagree = rows.filter(
        Q(answer__status__in=accepted) & ~Q(claim_line__status=LineStatus.ACCEPTED)
        | Q(answer__status=ReturnStatus.REJECTED) & ~Q(claim_line__status=LineStatus.REJECTED)
        | Q(answer__isnull=True, claim_line__status__in=(LineStatus.ACCEPTED, LineStatus.REJECTED))
    )
    for pk, number, batch_number, status, answer in disagree.values_list(
        "claim_line_id", "number", "batch__number", "claim_line__status", "answer__status"
    ).order_by("pk"):
        report.add(
            "answer_status",
            _("Line %(ref)s of batch %(n)s is %(status)s, but the insurer's answer is %(answer)s.")
            % {"ref": number, "n": batch_number, "status": status, "answer": answer or _("none yet")},
            [pk],
        )


def _check_insurer_payments(report: BooksReport, released: QuerySet[ClaimBatch]) -> None:
    """Per insurer: claimed = accepted + not awarded + rejected + open; per batch that was paid anything: received =
    accepted, or an open payment-difference work item with the difference (accepted - received)."""
    batches = list(released.select_related("insurer").order_by("pk"))
    money = ledger.batch_money(b.pk for b in batches)
    items = dict(
        WorkItem.objects.filter(
            batch__in=batches, reason=WorkReason.PAYMENT_DIFFERENCE, resolved_at__isnull=True
        ).values_list("batch_id", "amount")
    )
    for batch in batches:
        m = money[batch.pk]
        figures = report.insurers.setdefault(
            batch.insurer.uzovi_code,
            dict.fromkeys(("claimed", "accepted", "not_awarded", "rejected", "open", "received"), ZERO),
        )
        for name in figures:
            figures[name] += getattr(m, name)
        if m.payments == 0:
            if batch.pk in items:
                report.add(
                    "payment_difference",
                    _("Batch %(n)s has an open payment difference but no payment.") % {"n": batch.number},
                    [batch.pk],
                )
            continue
        report.batches_paid += 1
        item = items.get(batch.pk) if batch.pk in items else None
        if m.difference == 0 and batch.pk not in items:
            continue
        if m.difference != 0 and item == m.difference:
            continue
        report.add(
            "payment_difference",
            _(
                "Batch %(n)s: accepted %(accepted)s, received %(received)s; the open work item says "
                "%(item)s instead of %(difference)s."
            )
            % {
                "n": batch.number,
                "accepted": m.accepted,
                "received": m.received,
                "item": items[batch.pk] if batch.pk in items else _("nothing"),
                "difference": m.difference,
            },
            [batch.pk],
        )


def period_from_text(text: str) -> date:
    """'2026-10' -> 1 October 2026; ValueError otherwise."""
    if len(text) != 7:
        raise ValueError(text)
    return date.fromisoformat(f"{text}-01")


def summary_lines(report: BooksReport) -> list[str]:
    """The report as text for an operator, in the active language."""
    out = [
        _("Books check")
        + (f" {report.tenant}" if report.tenant else " " + _("(all IGOs)"))
        + (f" {report.period}" if report.period else ""),
        _("Episodes: %(n)s (%(pending)s waiting for the billing run)")
        % {"n": report.episodes, "pending": report.pending_episodes},
        _("Ended phases: %(n)s, claimed: %(claimed)s, waiting on a work item: %(waiting)s")
        % {"n": report.ended_phases, "claimed": report.claimed_phases, "waiting": report.waiting_phases},
        _("Claim lines: %(n)s (credits: %(credits)s), allocated: %(allocated)s")
        % {"n": report.lines, "credits": report.credits, "allocated": report.allocated_lines},
        _("Batches: %(n)s (released: %(released)s) with %(lines)s lines")
        % {"n": report.batches, "released": report.released_batches, "lines": report.batch_lines},
        _("Ledger: %(n)s member-months held against their statements") % {"n": report.ledger_months},
        _("Payouts: %(runs)s run(s), %(n)s payout(s), %(entries)s entries paid")
        % {"runs": report.payout_runs, "n": report.payouts, "entries": report.paid_entries},
    ]
    for uzovi, f in sorted(report.insurers.items()):
        out.append(
            _(
                "Insurer %(uzovi)s: claimed %(claimed)s = accepted %(accepted)s + not awarded "
                "%(not_awarded)s + rejected %(rejected)s + open %(open)s; received %(received)s"
            )
            % {"uzovi": uzovi, **f}
        )
    return out


def problem_lines(report: BooksReport, per_kind: int = 20) -> list[str]:
    shown: dict[str, int] = defaultdict(int)
    out: list[str] = []
    for p in report.problems:
        shown[p.kind] += 1
        if shown[p.kind] <= per_kind:
            out.append(f"[{p.kind}] {p.message} (ids: {', '.join(map(str, p.ids))})")
    for kind, n in report.kinds().items():
        if n > per_kind:
            out.append(_("[%(kind)s] … and %(n)s more") % {"kind": kind, "n": n - per_kind})
    return out


def as_dict(report: BooksReport) -> dict[str, Any]:
    """For logs and tests: the counts and the problems as plain data."""
    return {
        "ok": report.ok,
        "kinds": report.kinds(),
        **{k: v for k, v in report.__dict__.items() if k != "problems"},
        "problems": [p.__dict__ for p in report.problems],
    }
