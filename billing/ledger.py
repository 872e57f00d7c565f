"""The ledger: the one record of money that the revenue page, member statements, payouts and `books_check`
all read.

An entry is a part of a claim line booked at a moment: every allocation is an entry of +amount at its
`created_at`, and an allocation a re-split, a withdrawal or a correction superseded is also an entry of
-amount at its `superseded_at`. A credit line's mirrored allocations are entries of their own (negative).
Entries are dated by their moment in Europe/Amsterdam; a month's entries never change once the month is
over, so a statement of a closed month stays as it was.

Each entry of a member is in one state on a given day (`EntryState`):

- **paid**: a payout run paid it out (`Allocation.paid_in` for the +entry, `reversal_paid_in` for the
  -entry);
- **held**: its line was rejected by the insurer and has not been credited yet (held back, never paid);
- **due**: payable and not yet paid: its line was accepted, or its batch was released more than the
  contract's answer term ago without an answer; or its line is settled at nothing: withdrawn before it
  was sent, rejected and credited (the rejected line's entries and its credit's entries are due together
  and add up to nothing);
- **pending**: not yet payable (the line waits for a batch, or for the insurer's answer within the term).

A line's state depends only on the line (its status, its credit, its batch's release), so all entries of a
line change state together. The entries of a line settled at nothing (and of its credit) are paid in one run:
the run of the month in which the last of them was booked (`payable_entries`), so a member is never paid a
withdrawn or rejected line's part in one month and charged it back in the next.
The IGO's own parts (overhead, reserve) are entries too; they are not paid out to members.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import models
from django.db.models import Case, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet, Sum, Value, When
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.models import Allocation, AllocationKind, BatchStatus, ClaimLine, LineStatus, Sign
from igo.dates import midnight, month_bounds


class EntryState(models.TextChoices):
    PAID = "paid", _("paid out")
    DUE = "due", _("payable")
    HELD = "held", _("held back")
    PENDING = "pending", _("not yet payable")


ZERO = Decimal("0.00")


def answer_term_passed(today: dt.date) -> Q:
    """Lines (ClaimLine) sent in a released batch whose contract's answer term has passed on `today`:
    released on day R with a term of N days, a line unanswered on day R + N is payable."""
    deadline = ExpressionWrapper(
        F("batch_line__batch__released_at") + F("contract__answer_days") * Value(dt.timedelta(days=1)),
        output_field=models.DateTimeField(),
    )
    in_term = (
        ClaimLine.objects.filter(status=LineStatus.SENT, batch_line__batch__status=BatchStatus.RELEASED)
        .annotate(term_end=deadline)
        .filter(term_end__lt=midnight(today + dt.timedelta(days=1)))
    )
    return Q(pk__in=in_term.values("pk"))


def settled_at_nothing() -> Q:
    """Lines (ClaimLine) whose entries add up to nothing with those of their pair: withdrawn before they were
    sent (their parts reversed at the withdrawal), or rejected and credited (a line and its credit)."""
    rejected_credited = Q(status=LineStatus.REJECTED, is_current=False)
    credit_of_rejected = Q(sign=Sign.CREDIT, corrects__status=LineStatus.REJECTED)
    return Q(status=LineStatus.WITHDRAWN) | rejected_credited | credit_of_rejected


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


def held_lines() -> QuerySet[ClaimLine]:
    """The lines whose entries are held back: rejected by the insurer and not credited yet."""
    return ClaimLine.objects.filter(status=LineStatus.REJECTED, is_current=True, sign=Sign.DEBIT)


def _state(paid_field: str, today: dt.date) -> Case:
    """The state of an entry (as a SQL expression on Allocation) on `today`."""
    return Case(
        When(**{f"{paid_field}__isnull": False}, then=Value(EntryState.PAID)),
        When(Exists(held_lines().filter(pk=OuterRef("claim_line_id"))), then=Value(EntryState.HELD)),
        When(Exists(due_lines(today).filter(pk=OuterRef("claim_line_id"))), then=Value(EntryState.DUE)),
        default=Value(EntryState.PENDING),
        output_field=models.CharField(),
    )


@dataclass
class Totals:
    """A sum of entries, by state. `allocated` = paid + due + held + pending, always."""

    paid: Decimal = ZERO
    due: Decimal = ZERO
    held: Decimal = ZERO
    pending: Decimal = ZERO

    @property
    def allocated(self) -> Decimal:
        return self.paid + self.due + self.held + self.pending

    @property
    def not_yet_payable(self) -> Decimal:
        """What is allocated but not paid out or held back: due (payable in the next run) and pending."""
        return self.due + self.pending

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
    return result


def year_by_month(*, year: int) -> dict[tuple[str, int | None], list[Decimal]]:
    """Per (kind, organisation id) the year's entries summed per month (12 amounts): what the revenue page
    shows, the same sums as the month's statements. Call inside tenant_scope."""
    start, _ = month_bounds(dt.date(year, 1, 1))
    end, _ = month_bounds(dt.date(year + 1, 1, 1))
    tz = timezone.get_current_timezone()
    table: dict[tuple[str, int | None], list[Decimal]] = defaultdict(lambda: [ZERO] * 12)
    made, undone = _entries_in(start, end)
    for qs, moment, sign in ((made, "created_at", 1), (undone, "superseded_at", -1)):
        for row in (
            qs.annotate(month=TruncMonth(moment, tzinfo=tz))
            .values("month", "kind", "organisation_id")
            .annotate(total=Sum("amount"))
            .order_by()
        ):
            table[(row["kind"], row["organisation_id"])][row["month"].month - 1] += sign * (
                row["total"] or ZERO
            )
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
    are paid in the same run. Call inside tenant_scope."""
    due = due_lines(today).exclude(pk__in=settled_after(until).values("pk")).values("pk")
    members = Allocation.objects.filter(kind=AllocationKind.MEMBER, claim_line__in=due)
    if organisation_id is not None:
        members = members.filter(organisation_id=organisation_id)
    made = members.filter(created_at__lt=until, paid_in__isnull=True)
    undone = members.filter(superseded_at__lt=until, reversal_paid_in__isnull=True)
    return made, undone


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
    return result
