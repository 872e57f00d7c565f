"""The ledger: the one record of money that the revenue page, member statements, payouts and `books_check`
all read.

An entry is a part of a claim line booked at a moment: every allocation is an entry of +amount at its
`created_at`, and an allocation a re-split, a withdrawal or a correction superseded is also an entry of
-amount at its `superseded_at`. A credit line's mirrored allocations are entries of their own (negative).
Entries are dated by their moment in Europe/Amsterdam; a month's entries never change once the month is
over, so a statement of a closed month stays as it was.

Each entry of a member is in one state on a given day (`EntryState`):

- **paid**: a released payout run paid it out (`Allocation.paid_in` for the +entry, `reversal_paid_in`
  for the -entry);
- **prepared**: it is in a payout run that was prepared and not released yet (it may still be discarded,
  which makes the entry due again): not paid out;
- **held**: its line was rejected by the insurer and has not been credited yet (held back, never paid); or
  its line is a credit the insurer refused (`rejected_credits_open`): the insurer keeps paying the line the
  credit takes back, so the members keep their parts of it and the credit's (negative) entries are not
  charged to them until the credit is sent again and answered;
- **due**: payable and not yet paid: its line was accepted, or its batch was released more than the
  contract's answer term ago without an answer; or its line is settled at nothing: withdrawn before it
  was sent, a rejected debit that was credited (the rejected line's entries and its credit's entries are
  due together and add up to nothing), or a refused credit sent again (its entries were reversed when the
  new credit was made, and the new credit carries them);
- **pending**: not yet payable (the line waits for a batch, or for the insurer's answer within the term).

A line's state depends only on the line (its status, its credit, its batch's release, and for a paid entry
its run's release), so all entries of a line change state together. A line's unpaid entries are paid together:
the run of the month in which the last of them was booked (`payable_entries`, `booked_after`), so a member is
never paid a withdrawn or rejected line's part in one month and charged it back in the next, nor the old parts
of a line re-divided after the month (a partial award answered in the next month) before their reversal.
The IGO's own parts (overhead, reserve) are entries too; they are not paid out to members.

A former member's repayment (`MemberRepayment`, money it paid back outside the platform) is a member entry
of its own, booked when finance records it: due until a payout run nets it off with the member's other
unpaid entries (`netted_in`), then paid. It is no allocation of a claim: the totals keep it apart
(`Totals.repaid`), and a member's balance (`member_balances`: its due unpaid entries plus its repayments
not netted yet) is what the next run pays, above nothing, or carries over, below.

The insurer's side of the same money is per batch (`batch_money`): claimed = accepted + not awarded +
rejected + open (a line awarded in part counts its awarded amount as accepted and the rest as not awarded),
and what the insurer paid for the batch (`InsurerPayment`), matched against the accepted lines by
`billing.services.insurer_payments`. A line awarded in part is settled at the awarded amount: its parts
were divided anew (`billing.services.partial_awards`), so its entries add up to what the insurer pays.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import models
from django.db.models import (
    Case,
    Count,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.utils.translation import gettext_lazy as _

from billing.models import (
    Allocation,
    AllocationKind,
    BatchLine,
    BatchStatus,
    ClaimBatch,
    ClaimLine,
    Contract,
    InsurerPayment,
    LineStatus,
    MemberRepayment,
    PayoutStatus,
    ReturnStatus,
    Sign,
)
from igo.dates import midnight, month_bounds


class EntryState(models.TextChoices):
    PAID = "paid", _("paid out")
    PREPARED = "prepared", _("in a prepared payout run")
    DUE = "due", _("payable")
    HELD = "held", _("held back")
    PENDING = "pending", _("not yet payable")


ZERO = Decimal("0.00")


def answer_term_passed(today: dt.date) -> Q:
    """Lines (ClaimLine) sent in a released batch whose contract's answer term has passed on `today`:
    released on day R (Amsterdam) with a term of N days, a line unanswered on day R + N is payable.

    Counted in calendar days of Europe/Amsterdam, not in 24-hour steps from the moment of release: a term
    that crosses a change of the clocks still ends on day R + N whatever the hour of the release. Written
    per answer term in use (a few), as "released before the midnight that starts day today - N + 1", so
    that no date arithmetic happens in SQL: SQLite (the demo's database) adds days to a date text as
    numbers and would call every line's term passed."""
    terms = sorted(set(Contract.unscoped.values_list("answer_days", flat=True)))
    passed = Q(pk__in=[])
    for days in terms:
        before = midnight(today - dt.timedelta(days=days) + dt.timedelta(days=1))
        passed |= Q(contract__answer_days=days, batch_line__batch__released_at__lt=before)
    in_term = ClaimLine.objects.filter(
        passed, status=LineStatus.SENT, batch_line__batch__status=BatchStatus.RELEASED
    )
    return Q(pk__in=in_term.values("pk"))


def rejected_credits() -> Q:
    """Credit lines (ClaimLine) the insurer refused although the line they take back was paid (accepted, or
    not answered yet): the insurer keeps paying that line. A credit of a line the insurer rejected takes back
    nothing and is settled at nothing whatever its answer."""
    return Q(sign=Sign.CREDIT, status=LineStatus.REJECTED, corrects__isnull=False) & ~Q(
        corrects__status=LineStatus.REJECTED
    )


def _resent() -> Exists:
    """A credit line (ClaimLine) that finance sent again: a later credit of the same line exists (correlated
    on that line, so of the same IGO; read without a tenant in scope by `books_check`)."""
    return Exists(
        ClaimLine.unscoped.filter(sign=Sign.CREDIT, corrects=OuterRef("corrects"), pk__gt=OuterRef("pk"))
    )


def rejected_credits_open() -> Q:
    """Rejected credits (`rejected_credits`) not sent again yet: their entries are held back, the insurer
    still holds the money, and finance has a work item to send them again."""
    return rejected_credits() & ~Q(_resent())


def settled_at_nothing() -> Q:
    """Lines (ClaimLine) whose entries add up to nothing with those of their pair: withdrawn before they were
    sent (their parts reversed at the withdrawal), rejected and credited (a rejected debit and its credit),
    or a rejected credit sent again (its parts reversed when the new credit was made)."""
    # A rejected line taken back: a debit, or a quality malus (a credit that corrects nothing); a credit that
    # corrects a line is settled only with that line (`credit_of_rejected`) or once sent again.
    rejected_credited = Q(status=LineStatus.REJECTED, is_current=False) & (
        Q(sign=Sign.DEBIT) | Q(corrects__isnull=True)
    )
    credit_of_rejected = Q(sign=Sign.CREDIT, corrects__status=LineStatus.REJECTED)
    credit_resent = rejected_credits() & Q(_resent())
    return Q(status=LineStatus.WITHDRAWN) | rejected_credited | credit_of_rejected | credit_resent


def due_lines(today: dt.date) -> QuerySet[ClaimLine]:
    """The lines whose entries are payable on `today` (paid or not)."""
    return ClaimLine.objects.filter(
        Q(status=LineStatus.ACCEPTED) | settled_at_nothing() | answer_term_passed(today)
    )


def settled_after(until: dt.datetime) -> QuerySet[ClaimLine]:
    """The lines settled at nothing of which an entry, or one of their pair's (a rejected line and its
    credit), is booked at or after `until`: a run up to `until` would pay only one side of them."""
    late = Allocation.objects.filter(
        Q(created_at__gte=until) | Q(superseded_at__gte=until), kind=AllocationKind.MEMBER
    )
    return ClaimLine.objects.filter(settled_at_nothing()).filter(
        Exists(late.filter(claim_line=OuterRef("pk")))
        | Exists(late.filter(claim_line__corrects=OuterRef("pk")))
        | Exists(late.filter(claim_line=OuterRef("corrects")))
    )


def booked_after(until: dt.datetime) -> QuerySet[ClaimLine]:
    """The lines a run up to `until` must leave whole for a later run: a line of which a member entry is
    booked at or after `until` (its parts re-divided by a partial award, a re-split or a withdrawal after
    the cut-off: the run would pay the old parts without their reversal), and a line settled at nothing whose
    pair has one (`settled_after`)."""
    late = Allocation.objects.filter(
        Q(created_at__gte=until) | Q(superseded_at__gte=until), kind=AllocationKind.MEMBER
    )
    return ClaimLine.objects.filter(Q(pk__in=late.values("claim_line_id")) | Q(pk__in=settled_after(until)))


def payable_lines(*, until: dt.datetime, today: dt.date) -> QuerySet[ClaimLine]:
    """The lines whose unpaid member entries booked before `until` a payout run on `today` pays: due on
    `today`, and none of their entries (nor their pair's) booked at or after `until`, so a line is paid in
    the run of the month in which its last entry was booked and each run pays what the insurer pays."""
    return due_lines(today).exclude(pk__in=booked_after(until).values("pk"))


def held_lines() -> QuerySet[ClaimLine]:
    """The lines whose entries are held back: a debit rejected by the insurer and not credited yet (its parts
    are not paid), or a credit the insurer refused and that was not sent again (its parts, negative, are not
    charged back: the insurer keeps paying the line it would take back)."""
    return ClaimLine.objects.filter(
        Q(status=LineStatus.REJECTED, is_current=True, sign=Sign.DEBIT) | rejected_credits_open()
    )


def _state(paid_field: str, today: dt.date) -> Case:
    """The state of an entry (as a SQL expression on Allocation) on `today`: paid once its run is released,
    in a prepared run until then (the run may still be discarded)."""
    return Case(
        When(**{f"{paid_field}__run__status": PayoutStatus.RELEASED}, then=Value(EntryState.PAID)),
        When(**{f"{paid_field}__isnull": False}, then=Value(EntryState.PREPARED)),
        When(Exists(held_lines().filter(pk=OuterRef("claim_line_id"))), then=Value(EntryState.HELD)),
        When(Exists(due_lines(today).filter(pk=OuterRef("claim_line_id"))), then=Value(EntryState.DUE)),
        default=Value(EntryState.PENDING),
        output_field=models.CharField(),
    )


@dataclass
class Totals:
    """A sum of entries, by state. `allocated` = paid + prepared + due + held + pending, always. A member's
    repayments are kept apart (`repaid`, of which `repaid_open` not netted off in a payout yet): money paid
    back, not allocated."""

    paid: Decimal = ZERO
    prepared: Decimal = ZERO
    due: Decimal = ZERO
    held: Decimal = ZERO
    pending: Decimal = ZERO
    repaid: Decimal = ZERO
    repaid_open: Decimal = ZERO

    @property
    def balance(self) -> Decimal:
        """Due and not paid out, plus the repayments not netted off yet: what a run pays (above nothing) or
        carries over (below)."""
        return self.due + self.repaid_open

    @property
    def allocated(self) -> Decimal:
        return self.paid + self.prepared + self.due + self.held + self.pending

    @property
    def not_yet_payable(self) -> Decimal:
        """What is allocated but not paid out or held back: in a prepared run, due (payable in the next
        run) and pending."""
        return self.prepared + self.due + self.pending

    def add(self, state: str, amount: Decimal) -> None:
        setattr(self, state, getattr(self, state) + amount)


@dataclass
class MonthTotals:
    """Per (kind, organisation id) the totals of one month's entries; organisation None for the IGO's parts."""

    period: dt.date
    rows: dict[tuple[str, int | None], Totals] = field(default_factory=dict)

    def member(self, organisation_id: int) -> Totals:
        return self.rows.get((AllocationKind.MEMBER, organisation_id), Totals())

    def igo(self, kind: str) -> Totals:
        return self.rows.get((kind, None), Totals())


def _entries_in(start: dt.datetime, end: dt.datetime) -> tuple[QuerySet[Allocation], QuerySet[Allocation]]:
    """The allocations whose +entry, and those whose -entry, falls in [start, end)."""
    made = Allocation.objects.filter(created_at__gte=start, created_at__lt=end)
    undone = Allocation.objects.filter(superseded_at__gte=start, superseded_at__lt=end)
    return made, undone


def month_totals(*, period: dt.date, today: dt.date, organisation_id: int | None = None) -> MonthTotals:
    """The month's entries summed per kind and organisation and per state on `today`. Call inside
    tenant_scope."""
    period = period.replace(day=1)
    start, end = month_bounds(period)
    made, undone = _entries_in(start, end)
    if organisation_id is not None:
        made, undone = (
            made.filter(organisation_id=organisation_id),
            undone.filter(organisation_id=organisation_id),
        )
    result = MonthTotals(period)
    for qs, paid_field, sign in ((made, "paid_in", 1), (undone, "reversal_paid_in", -1)):
        for row in (
            qs.annotate(state=_state(paid_field, today))
            .values("kind", "organisation_id", "state")
            .annotate(total=Sum("amount"))
            .order_by()
        ):
            key = (row["kind"], row["organisation_id"])
            result.rows.setdefault(key, Totals()).add(row["state"], sign * (row["total"] or ZERO))
    repaid = MemberRepayment.objects.filter(recorded_at__gte=start, recorded_at__lt=end)
    if organisation_id is not None:
        repaid = repaid.filter(organisation_id=organisation_id)
    for org_id, total, still_open in (
        repaid.values("organisation_id")
        .annotate(total=Sum("amount"), still_open=Sum("amount", filter=Q(netted_in__isnull=True)))
        .order_by()
        .values_list("organisation_id", "total", "still_open")
    ):
        totals = result.rows.setdefault((AllocationKind.MEMBER, org_id), Totals())
        totals.repaid += total or ZERO
        totals.repaid_open += still_open or ZERO
    return result


def year_by_month(*, year: int) -> dict[tuple[str, int | None], list[Decimal]]:
    """Per (kind, organisation id) the year's entries summed per month (12 amounts): what the revenue page
    shows, the same sums as the month's statements. Call inside tenant_scope."""
    return {key: row.months for key, row in year_overview(year=year).items()}


@dataclass
class YearRow:
    """The entries of a year of one (kind, organisation): allocated per month, and of all of them what is
    paid out and what is held back. Those two states do not depend on the day asked; due and pending do
    (the answer term), so they are left to `month_totals`."""

    months: list[Decimal] = field(default_factory=lambda: [ZERO] * 12)
    paid: Decimal = ZERO
    held: Decimal = ZERO

    @property
    def allocated(self) -> Decimal:
        return sum(self.months, ZERO)

    @property
    def net(self) -> Decimal:
        """Allocated less held back: what counts as revenue while the held-back lines wait."""
        return self.allocated - self.held


def year_overview(*, year: int) -> dict[tuple[str, int | None], YearRow]:
    """Per (kind, organisation id) the year's entries per month, with the paid-out and held-back amounts
    among them. Call inside tenant_scope.

    One grouped query per month for the +entries and one for the -entries, each reading a range of the
    ledger's indexes (`allocation_ledger_made`, `allocation_ledger_undone`) and nothing else; and one for the
    held-back entries, driven from the few rejected lines. Grouping the year by the month of each entry's
    moment (its date in Amsterdam, row by row) cost twice as much for the largest bench IGO's 264,000
    entries (docs/performance.md, "The revenue page")."""
    table: dict[tuple[str, int | None], YearRow] = defaultdict(YearRow)
    for month in range(1, 13):
        start, end = month_bounds(dt.date(year, month, 1))
        made, undone = _entries_in(start, end)
        for qs, paid_field, sign in ((made, "paid_in", 1), (undone, "reversal_paid_in", -1)):
            for row in (
                qs.values("kind", "organisation_id")
                .annotate(
                    total=Sum("amount"),
                    paid=Sum("amount", filter=Q(**{f"{paid_field}__run__status": PayoutStatus.RELEASED})),
                )
                .order_by()
            ):
                entry = table[(row["kind"], row["organisation_id"])]
                entry.months[month - 1] += sign * (row["total"] or ZERO)
                entry.paid += sign * (row["paid"] or ZERO)
    start, _ = month_bounds(dt.date(year, 1, 1))
    end, _ = month_bounds(dt.date(year + 1, 1, 1))
    made, undone = _entries_in(start, end)
    held = held_lines().values("pk")
    for qs, paid_field, sign in ((made, "paid_in", 1), (undone, "reversal_paid_in", -1)):
        for held_row in (
            qs.filter(claim_line__in=held, **{f"{paid_field}__isnull": True})
            .values("kind", "organisation_id")
            .annotate(total=Sum("amount"))
            .order_by()
        ):
            key = (held_row["kind"], held_row["organisation_id"])
            table[key].held += sign * (held_row["total"] or ZERO)
    return dict(table)


@dataclass(frozen=True)
class Entry:
    allocation_id: int
    claim_line_id: int
    moment: dt.datetime
    reversal: bool
    kind: str
    organisation_id: int | None
    amount: Decimal  # signed: a reversal is the negative of its allocation
    state: str


def entries(
    *, start: dt.datetime, end: dt.datetime, today: dt.date, organisation_id: int | None = None
) -> list[Entry]:
    """The entries booked in [start, end), with their state on `today`, in booking order. Call inside
    tenant_scope."""
    made, undone = _entries_in(start, end)
    if organisation_id is not None:
        made, undone = (
            made.filter(organisation_id=organisation_id),
            undone.filter(organisation_id=organisation_id),
        )
    result: list[Entry] = []
    for qs, paid_field, moment, reversal in (
        (made, "paid_in", "created_at", False),
        (undone, "reversal_paid_in", "superseded_at", True),
    ):
        for row in qs.annotate(state=_state(paid_field, today)).values_list(
            "pk", "claim_line_id", moment, "kind", "organisation_id", "amount", "state"
        ):
            pk, line_id, at, kind, org, amount, state = row
            result.append(Entry(pk, line_id, at, reversal, kind, org, -amount if reversal else amount, state))
    result.sort(key=lambda e: (e.moment, e.allocation_id, e.reversal))
    return result


def payable_entries(
    *, until: dt.datetime, today: dt.date, organisation_id: int | None = None
) -> tuple[QuerySet[Allocation], QuerySet[Allocation]]:
    """The member entries booked before `until` that are due on `today` and not paid yet: allocations whose
    +entry is due, and allocations whose -entry is due. What a payout run pays. A line settled at nothing
    waits until all its entries and its pair's are booked before `until` (`settled_after`), so both sides
    are paid in the same run; so does any line with an entry booked at or after `until` (`booked_after`: a
    partial award answered after the month, say), so that its old parts are not paid without their
    reversal. Call inside tenant_scope."""
    due = payable_lines(until=until, today=today).values("pk")
    members = Allocation.objects.filter(kind=AllocationKind.MEMBER, claim_line__in=due)
    if organisation_id is not None:
        members = members.filter(organisation_id=organisation_id)
    made = members.filter(created_at__lt=until, paid_in__isnull=True)
    undone = members.filter(superseded_at__lt=until, reversal_paid_in__isnull=True)
    return made, undone


# --- the insurer side: per batch, what was claimed, answered and received ------------------------------


@dataclass
class BatchMoney:
    """A released batch's money as the insurer sees it: claimed (the batch's total) = accepted + not awarded
    + rejected + open (lines not answered yet), each the sum of its lines' amounts (credits negative), a
    line awarded in part counted at its awarded amount as accepted and the rest as not awarded; and what
    the insurer paid for it (`InsurerPayment`)."""

    batch_id: int
    claimed: Decimal = ZERO
    accepted: Decimal = ZERO
    not_awarded: Decimal = ZERO
    rejected: Decimal = ZERO
    open: Decimal = ZERO
    received: Decimal = ZERO
    payments: int = 0

    @property
    def answered(self) -> Decimal:
        return self.accepted + self.not_awarded + self.rejected

    @property
    def difference(self) -> Decimal:
        """Still to receive for the accepted lines: accepted - received (negative: paid too much)."""
        return self.accepted - self.received

    @property
    def matched(self) -> bool:
        return self.payments > 0 and self.difference == 0


def batch_money(batch_ids: Iterable[int]) -> dict[int, BatchMoney]:
    """Per batch: claimed, accepted, rejected, open and received. Three grouped queries whatever the number
    of batches. Call inside tenant_scope."""
    ids = list(batch_ids)
    result = {pk: BatchMoney(pk) for pk in ids}
    for pk, total in ClaimBatch.objects.filter(pk__in=ids).values_list("pk", "total"):
        result[pk].claimed = total
    for row in (
        BatchLine.objects.filter(batch_id__in=ids)
        .values("batch_id", "answer__status")
        .annotate(total=Sum("amount"), awarded=Sum("answer__awarded_amount"))
        .order_by()
    ):
        money = result[row["batch_id"]]
        amount = row["total"] or ZERO
        if row["answer__status"] == ReturnStatus.PARTIAL:
            awarded = row["awarded"] or ZERO
            money.accepted += awarded
            money.not_awarded += amount - awarded
        elif row["answer__status"] == ReturnStatus.ACCEPTED:
            money.accepted += amount
        elif row["answer__status"] == ReturnStatus.REJECTED:
            money.rejected += amount
        else:
            money.open += amount
    for paid in (
        InsurerPayment.objects.filter(batch_id__in=ids)
        .values("batch_id")
        .annotate(total=Sum("amount"), n=Count("pk"))
        .order_by()
    ):
        result[paid["batch_id"]].received = paid["total"] or ZERO
        result[paid["batch_id"]].payments = paid["n"]
    return result


def unpaid_totals(*, until: dt.datetime, today: dt.date) -> dict[int, Totals]:
    """Per member organisation id: its entries booked before `until` that no payout has paid, by their
    state on `today` (due, held, pending; never paid). What a payout run leaves behind. Call inside
    tenant_scope."""
    members = Allocation.objects.filter(kind=AllocationKind.MEMBER)
    made = members.filter(created_at__lt=until, paid_in__isnull=True)
    undone = members.filter(superseded_at__lt=until, reversal_paid_in__isnull=True)
    result: dict[int, Totals] = {}
    for qs, paid_field, sign in ((made, "paid_in", 1), (undone, "reversal_paid_in", -1)):
        for row in (
            qs.annotate(state=_state(paid_field, today))
            .values("organisation_id", "state")
            .annotate(total=Sum("amount"))
            .order_by()
        ):
            result.setdefault(row["organisation_id"], Totals()).add(
                row["state"], sign * (row["total"] or ZERO)
            )
    for org_id, amount in repayments_open(until=until).items():
        totals = result.setdefault(org_id, Totals())
        totals.repaid += amount
        totals.repaid_open += amount
    return result


def repayments_open(*, until: dt.datetime, organisation_id: int | None = None) -> dict[int, Decimal]:
    """Per member organisation id: its repayments recorded before `until` that no payout run netted off yet.
    Call inside tenant_scope."""
    qs = MemberRepayment.objects.filter(recorded_at__lt=until, netted_in__isnull=True)
    if organisation_id is not None:
        qs = qs.filter(organisation_id=organisation_id)
    return {
        row["organisation_id"]: row["total"] or ZERO
        for row in qs.values("organisation_id").annotate(total=Sum("amount")).order_by()
    }


def member_balance(*, organisation_id: int, until: dt.datetime, today: dt.date) -> Decimal:
    """One member's balance as a payout run up to `until` would read it on `today`: its payable unpaid
    entries (`payable_entries`) net, plus its repayments not netted off yet. Below nothing: what it owes.
    Call inside tenant_scope."""
    made, undone = payable_entries(until=until, today=today, organisation_id=organisation_id)
    net = (made.aggregate(s=Sum("amount"))["s"] or ZERO) - (undone.aggregate(s=Sum("amount"))["s"] or ZERO)
    return Decimal(net).quantize(ZERO) + repayments_open(until=until, organisation_id=organisation_id).get(
        organisation_id, ZERO
    )


def due_unpaid_total(*, until: dt.datetime, today: dt.date) -> Decimal:
    """What a payout run would pay of the members' entries booked before `until` that are due on `today` and
    no payout has paid: per member the `due` column of `unpaid_totals`, counted only when it is above
    nothing (a member whose due entries add up to nothing or less is carried over, not paid, and its debt is
    not taken off the others' payouts). Asked from the due lines (a few) rather than by the state of every
    unpaid entry (all of them), so that the finance home can show it on every visit. Call inside
    tenant_scope."""
    members = Allocation.objects.filter(
        kind=AllocationKind.MEMBER, claim_line__in=payable_lines(until=until, today=today).values("pk")
    )
    rows = (
        members.values("organisation_id")
        .annotate(
            made=Sum("amount", filter=Q(created_at__lt=until, paid_in__isnull=True)),
            undone=Sum("amount", filter=Q(superseded_at__lt=until, reversal_paid_in__isnull=True)),
        )
        .order_by()
    )
    nets: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for row in rows:
        nets[row["organisation_id"]] += (row["made"] or ZERO) - (row["undone"] or ZERO)
    # A repayment not netted off yet counts with the member's entries (it pays back what they owe).
    for org_id, amount in repayments_open(until=until).items():
        nets[org_id] += amount
    return sum((net for net in nets.values() if net > 0), ZERO)
