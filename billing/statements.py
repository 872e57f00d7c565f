"""Member statements: per member organisation and month, every euro allocated to it, traced to claim lines
and care events.

A statement is dated, so a closed month never changes: an allocation counts in the month it was made, and
when a re-split supersedes it, its reversal counts (negative) in the month of the re-split. A credit line's
mirrored parts count in the month of the credit. Their CSV and PDF are rendered by `billing.files`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Q, Sum

from billing.models import Allocation, AllocationBasis, AllocationKind, ClaimLine, Payout
from igo.dates import month_bounds, month_end
from igo.models import Tenant
from igo.money import to_money
from providers.models import MemberOrganisation


@dataclass
class StatementRow:
    moment: datetime
    entry: str  # "allocation" or "reversal"
    amount: Decimal
    line: ClaimLine
    basis: AllocationBasis
    batch_number: int | None

    @property
    def events(self) -> int:
        return len(self.basis.events or ())

    @property
    def share_pct(self) -> Decimal | None:
        return self.basis.share * 100 if self.basis.share is not None else None


@dataclass
class Statement:
    tenant: Tenant
    organisation: MemberOrganisation
    period: date
    rows: list[StatementRow]

    @property
    def total(self) -> Decimal:
        return sum((r.amount for r in self.rows), Decimal("0.00"))

    @property
    def period_end(self) -> date:
        return month_end(self.period)


def member_statement(*, tenant: Tenant, organisation: MemberOrganisation, period: date) -> Statement:
    """Call inside tenant_scope."""
    period = period.replace(day=1)
    start, end = month_bounds(period)
    qs = (
        Allocation.objects.filter(organisation=organisation, kind=AllocationKind.MEMBER)
        .filter(
            Q(created_at__gte=start, created_at__lt=end) | Q(superseded_at__gte=start, superseded_at__lt=end)
        )
        .select_related("claim_line__batch_line__batch")
        .order_by("claim_line__number", "created_at", "pk")
    )
    rows: list[StatementRow] = []
    for a in qs:
        line = a.claim_line
        batch_line = getattr(line, "batch_line", None)
        batch_number = batch_line.batch.number if batch_line is not None else None
        basis = AllocationBasis.from_json(a.basis)
        if start <= a.created_at < end:
            rows.append(StatementRow(a.created_at, "allocation", a.amount, line, basis, batch_number))
        if a.superseded_at is not None and start <= a.superseded_at < end:
            rows.append(StatementRow(a.superseded_at, "reversal", -a.amount, line, basis, batch_number))
    rows.sort(key=lambda r: (r.line.number, r.moment))
    return Statement(tenant, organisation, period, rows)


def statement_totals(*, period: date) -> dict[int, Decimal]:
    """Each member organisation's statement total for a month. Call inside tenant_scope."""
    period = period.replace(day=1)
    start, end = month_bounds(period)
    made = (
        Allocation.objects.filter(kind=AllocationKind.MEMBER, created_at__gte=start, created_at__lt=end)
        .values("organisation_id")
        .annotate(s=Sum("amount"))
    )
    reversed_ = (
        Allocation.objects.filter(kind=AllocationKind.MEMBER, superseded_at__gte=start, superseded_at__lt=end)
        .values("organisation_id")
        .annotate(s=Sum("amount"))
    )
    totals: dict[int, Decimal] = {}
    for row in made:
        totals[row["organisation_id"]] = totals.get(row["organisation_id"], Decimal("0.00")) + row["s"]
    for row in reversed_:
        totals[row["organisation_id"]] = totals.get(row["organisation_id"], Decimal("0.00")) - row["s"]
    return {org: to_money(amount) for org, amount in totals.items()}


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

    @property
    def total(self) -> Decimal:
        return sum((r.amount for r in self.rows), Decimal("0.00"))

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
    return PayoutStatement(payout.tenant, payout, rows)
