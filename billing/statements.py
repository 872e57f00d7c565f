"""Member statements: per member organisation and month, every euro allocated to it, traced to claim lines
and care events, each with its state in the ledger (`billing.ledger`): paid out, payable, held back or not
yet payable.

A statement lists the member's ledger entries of the month: an allocation counts in the month it was made,
and when a re-split, a withdrawal or a correction supersedes it, its reversal counts (negative) in the month
that happened. A credit line's mirrored parts count in the month of the credit. So a closed month's amounts
never change (their states do: payable becomes paid), and a statement's total is the ledger's month total
for the member, to the cent (`manage.py books_check` proves it). Their CSV and PDF are rendered by
`billing.files`. A former member's repayments recorded in the month are listed apart (`Statement.repayments`):
money paid back, not allocated, but part of its balance.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import date, datetime
from decimal import Decimal

from django.db.models import QuerySet

from billing import ledger
from billing.ledger import EntryState, Totals
from billing.models import (
    Allocation,
    AllocationBasis,
    AllocationKind,
    ClaimLine,
    MemberRepayment,
    Payout,
)
from igo.dates import month_bounds, month_end
from igo.models import Tenant
from providers.models import MemberOrganisation

# The order states are listed in, on the page and in the files.
STATES = (EntryState.PAID, EntryState.PREPARED, EntryState.DUE, EntryState.HELD, EntryState.PENDING)


@dataclass
class StatementRow:
    moment: datetime
    entry: str  # "allocation" or "reversal"
    amount: Decimal
    state: str  # EntryState
    line: ClaimLine
    basis: AllocationBasis
    batch_number: int | None

    @property
    def events(self) -> int:
        return len(self.basis.events or ())

    @property
    def share_pct(self) -> Decimal | None:
        return self.basis.share * 100 if self.basis.share is not None else None

    @property
    def state_label(self) -> str:
        return str(EntryState(self.state).label)


@dataclass
class Statement:
    tenant: Tenant
    organisation: MemberOrganisation
    period: date
    today: date  # the day the states are read on
    rows: list[StatementRow]
    repayments: list[MemberRepayment] = dc_field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return self.totals.allocated

    @property
    def totals(self) -> Totals:
        """The rows summed per state: allocated = paid + due + held + pending; the repayments apart."""
        totals = Totals()
        for r in self.rows:
            totals.add(r.state, r.amount)
        _add_repayments(totals, self.repayments)
        return totals

    @property
    def state_totals(self) -> list[tuple[str, str, Decimal]]:
        """(state, label, amount) in the order of STATES, for the page and the files."""
        totals = self.totals
        return [(str(s), str(s.label), getattr(totals, s)) for s in STATES]

    @property
    def period_end(self) -> date:
        return month_end(self.period)


def _add_repayments(totals: Totals, repayments: list[MemberRepayment]) -> None:
    for r in repayments:
        totals.repaid += r.amount
        if r.netted_in_id is None:
            totals.repaid_open += r.amount


def _repayments_in(period: date) -> QuerySet[MemberRepayment]:
    start, end = month_bounds(period)
    return MemberRepayment.objects.filter(recorded_at__gte=start, recorded_at__lt=end).order_by(
        "recorded_at", "pk"
    )


def member_statement(
    *, tenant: Tenant, organisation: MemberOrganisation, period: date, today: date
) -> Statement:
    """The member's ledger entries of the month, with their state on `today`. Call inside tenant_scope."""
    period = period.replace(day=1)
    start, end = month_bounds(period)
    found = [
        e
        for e in ledger.entries(start=start, end=end, today=today, organisation_id=organisation.pk)
        if e.kind == AllocationKind.MEMBER
    ]
    lines = {
        line.pk: line
        for line in ClaimLine.objects.filter(pk__in={e.claim_line_id for e in found}).select_related(
            "batch_line__batch"
        )
    }
    bases = dict(
        Allocation.objects.filter(pk__in={e.allocation_id for e in found}).values_list("pk", "basis")
    )
    rows: list[StatementRow] = []
    for e in found:
        line = lines[e.claim_line_id]
        batch_line = getattr(line, "batch_line", None)
        rows.append(
            StatementRow(
                moment=e.moment,
                entry="reversal" if e.reversal else "allocation",
                amount=e.amount,
                state=e.state,
                line=line,
                basis=AllocationBasis.from_json(bases[e.allocation_id]),
                batch_number=batch_line.batch.number if batch_line is not None else None,
            )
        )
    rows.sort(key=lambda r: (r.line.number, r.moment, r.entry))
    repayments = list(_repayments_in(period).filter(organisation=organisation))
    return Statement(tenant, organisation, period, today, rows, repayments)


def statement_totals(*, period: date, today: date) -> dict[int, Totals]:
    """Each member organisation's statement totals for a month, per state: the sum of the rows its
    statement shows (the ledger's entries one by one, not `ledger.month_totals`' aggregate, so the books
    check can hold the two against each other). Call inside tenant_scope."""
    start, end = month_bounds(period.replace(day=1))
    totals: dict[int, Totals] = defaultdict(Totals)
    for e in ledger.entries(start=start, end=end, today=today):
        if e.kind == AllocationKind.MEMBER and e.organisation_id is not None:
            totals[e.organisation_id].add(e.state, e.amount)
    by_member: dict[int, list[MemberRepayment]] = defaultdict(list)
    for r in _repayments_in(period):
        by_member[r.organisation_id].append(r)
    for org_id, repayments in by_member.items():
        _add_repayments(totals[org_id], repayments)
    return dict(totals)


# --- payout statements (issue 14: payouts) -------------------------------------------------------------


@dataclass
class PayoutStatementRow:
    booked_at: datetime
    entry: str  # "allocation" (the +entry) or "reversal" (the -entry of a superseded allocation)
    amount: Decimal  # signed
    line: ClaimLine
    basis: AllocationBasis

    @property
    def episode_ref(self) -> str:
        """The episode by its reference only (never the client's name): a quality line names its agreement."""
        return str(self.line.episode_id) if self.line.episode_id else f"Q{self.line.agreement_id}"


@dataclass
class PayoutStatement:
    tenant: Tenant
    payout: Payout
    rows: list[PayoutStatementRow]
    repayments: list[MemberRepayment] = dc_field(default_factory=list)  # netted off in this payout

    @property
    def total(self) -> Decimal:
        return sum((r.amount for r in self.rows), Decimal("0.00")) + sum(
            (r.amount for r in self.repayments), Decimal("0.00")
        )

    @property
    def episode_ids(self) -> set[int]:
        return {r.line.episode_id for r in self.rows if r.line.episode_id is not None}


def payout_statement(*, payout: Payout) -> PayoutStatement:
    """Every ledger entry paid in one payout, in booking order. Its total is the payout's
    amount (the run's amounts are sums of these same entries). Call inside tenant_scope."""
    rows: list[PayoutStatementRow] = []
    for field, entry, sign in (("paid_in", "allocation", 1), ("reversal_paid_in", "reversal", -1)):
        for a in Allocation.objects.filter(**{field: payout}).select_related("claim_line"):
            moment = a.created_at if sign == 1 else a.superseded_at
            assert moment is not None
            rows.append(
                PayoutStatementRow(
                    moment, entry, sign * a.amount, a.claim_line, AllocationBasis.from_json(a.basis)
                )
            )
    rows.sort(key=lambda r: (r.booked_at, r.line.number, r.entry))
    repayments = list(MemberRepayment.objects.filter(netted_in=payout).order_by("recorded_at", "pk"))
    return PayoutStatement(payout.tenant, payout, rows, repayments)
