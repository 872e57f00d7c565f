"""The finance home: money figures, each read from the queryset of the list it links to, so that a card's
count is the count of the list behind it (the claims list's filters, the work queue's reasons).

Call inside tenant_scope. A handful of aggregate queries, whatever the size of the IGO: no row is read into
Python but the per-reason and per-insurer groups (bench/finance_home.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum
from django.utils import timezone

from billing import ledger
from billing.models import ClaimLine, Contract, ContractTariff, LineStatus, PayoutRun, Sign, WorkReason
from billing.selectors import (
    DEADLINE_SOON_DAYS,
    ClaimFilter,
    ClaimSummary,
    claim_lines_filtered,
    claim_summary,
    presend_held,
    work_queue,
)
from billing.services import repayments
from igo.dates import midnight, month_start, next_month
from igo.http import TenantRequest
from igo.models import Role
from pregnancies.models import ClientInsurance, Episode, EpisodeStatus, Phase

ZERO = Decimal("0.00")
__all__ = [
    "FinanceHome",
    "ReasonCount",
    "WorkEstimate",
    "claim_lines_filtered",
    "claim_summary",
    "deadline_filter",
    "finance_home",
    "next_payout",
    "payouts_due",
    "presend_held_summary",
    "ready_filter",
    "rejected_filter",
    "waiting_by_reason",
    "work_in_progress_estimate",
]


@dataclass
class ReasonCount:
    reason: str
    label: str
    items: int
    amount: (
        Decimal | None
    )  # the money at stake where the items carry one (a deadline passed: the amount lost)


@dataclass
class WorkEstimate:
    """Work in progress priced at today's contract tariffs: an estimate, not a claim (the phase may end
    early, the insurance or the contract may change before it is claimed)."""

    amount: Decimal = ZERO
    phases: int = 0  # open phases priced
    unpriced: int = 0  # open phases without an insurer on file or a tariff for them today


@dataclass
class FinanceHome:
    today: dt.date
    ready: ClaimSummary
    held: ClaimSummary
    rejected: ClaimSummary
    deadline_soon: ClaimSummary
    deadline_by: dt.date
    waiting: list[ReasonCount] = field(default_factory=list)
    work: WorkEstimate = field(default_factory=WorkEstimate)
    payouts_due: Decimal = ZERO
    former_debt: Decimal = ZERO  # what former members owe now, after their repayments
    former_debtors: int = 0
    payouts_period: dt.date | None = None  # the month of the next payout run (`next_payout`)

    @property
    def waiting_items(self) -> int:
        return sum(r.items for r in self.waiting)


def ready_filter(today: dt.date) -> ClaimFilter:
    """The ready lines the next batch carries: those the pre-send check does not hold back."""
    return ClaimFilter(status=LineStatus.READY, sendable=True, today=today)


def presend_held_summary() -> ClaimSummary:
    """The ready lines the pre-send check holds back (an open pre-send work item on their phase): shown
    apart from the ready card, linking to the work queue."""
    ready = claim_lines_filtered(ClaimFilter(status=LineStatus.READY))
    return claim_summary(ready.filter(presend_held()))


def rejected_filter(today: dt.date) -> ClaimFilter:
    return ClaimFilter(status=LineStatus.REJECTED, today=today)


def deadline_filter(today: dt.date) -> ClaimFilter:
    return ClaimFilter(deadline_by=today + dt.timedelta(days=DEADLINE_SOON_DAYS), today=today)


def waiting_by_reason() -> list[ReasonCount]:
    """The open work items per reason, counted on the work queue's own queryset, in WorkReason's order."""
    rows = {
        r["reason"]: r
        for r in work_queue().values("reason").annotate(n=Count("pk"), total=Sum("amount")).order_by()
    }
    return [
        ReasonCount(value, str(label), rows[value]["n"], rows[value]["total"])
        for value, label in WorkReason.choices
        if value in rows
    ]


def work_in_progress_estimate(*, today: dt.date) -> WorkEstimate:
    """Open phases of active episodes (no current claim line for the phase yet), priced at the tariff of
    the contract in force today with the insurer on file today.

    Counted as (active episodes × 3) less their claimed phases, each grouped by insurer through a join on
    the insurances valid today, not per episode: asking each of the largest IGO's 31,000 active episodes
    for its insurance and its three phases took 300 ms (bench/finance_home.py). A client insured twice on
    one day (overlapping policies) counts under both insurers; the estimate does not correct for that."""
    valid = Q(valid_from__lte=today) & (Q(valid_until__isnull=True) | Q(valid_until__gte=today))
    phases = [p.value for p in Phase]
    active = Episode.objects.filter(status=EpisodeStatus.ACTIVE)
    episodes_all = active.count()
    episodes_by_insurer = dict(
        ClientInsurance.objects.filter(valid, client__episodes__status=EpisodeStatus.ACTIVE)
        .values("insurer_id")
        .annotate(n=Count("client__episodes"))
        .order_by()
        .values_list("insurer_id", "n")
    )
    claimed = ClaimLine.objects.filter(is_current=True, sign=Sign.DEBIT, episode__status=EpisodeStatus.ACTIVE)
    claimed_all = dict(claimed.values("phase").annotate(n=Count("pk")).order_by().values_list("phase", "n"))
    insured_valid = Q(
        episode__client__insurances__valid_from__lte=today,
    ) & (
        Q(episode__client__insurances__valid_until__isnull=True)
        | Q(episode__client__insurances__valid_until__gte=today)
    )
    claimed_by_insurer: dict[tuple[int, str], int] = {
        (insurer_id, phase): n
        for insurer_id, phase, n in claimed.filter(insured_valid)
        .values("episode__client__insurances__insurer_id", "phase")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("episode__client__insurances__insurer_id", "phase", "n")
    }
    in_force = Contract.objects.filter(
        Q(valid_until__isnull=True) | Q(valid_until__gte=today), valid_from__lte=today
    )
    tariffs: dict[tuple[int, str], Decimal] = {}
    for t in (
        ContractTariff.objects.filter(contract__in=in_force)
        .order_by("contract__valid_from")
        .values("contract__insurer_id", "phase", "amount")
    ):
        tariffs[(t["contract__insurer_id"], t["phase"])] = t["amount"]  # the latest version wins
    estimate = WorkEstimate()
    for p in phases:
        insured_open = 0
        for insurer_id, episodes in episodes_by_insurer.items():
            n = max(episodes - claimed_by_insurer.get((insurer_id, p), 0), 0)
            insured_open += n
            tariff = tariffs.get((insurer_id, p))
            if tariff is None:
                estimate.unpriced += n
            else:
                estimate.phases += n
                estimate.amount += tariff * n
        # The episodes with no insurer on file today: every open phase of theirs is unpriced.
        uninsured_episodes = episodes_all - sum(episodes_by_insurer.values())
        uninsured_claimed = claimed_all.get(p, 0) - sum(
            n for (_insurer, phase), n in claimed_by_insurer.items() if phase == p
        )
        estimate.unpriced += max(uninsured_episodes - uninsured_claimed, 0)
    return estimate


def next_payout(*, today: dt.date) -> tuple[dt.date, Decimal]:
    """The month the next payout run pays and what it pays if prepared today, by the run's own rule
    (`ledger.due_unpaid_total` with the run's cut-off, the end of its month: a line with an entry booked
    after it waits whole for the run after). The next run is last month's while that month (and no later
    one) has no run and it has something to pay; otherwise this month's, prepared once it is over."""
    this_month = month_start(today)
    last_month = month_start(this_month - dt.timedelta(days=1))
    if not PayoutRun.objects.filter(period__gte=last_month).exists():
        amount = ledger.due_unpaid_total(until=midnight(this_month), today=today)
        if amount > 0:
            return last_month, amount
    return this_month, ledger.due_unpaid_total(until=midnight(next_month(this_month)), today=today)


def payouts_due(*, today: dt.date) -> Decimal:
    """What the members are owed and the next payout run pays (`next_payout`)."""
    return next_payout(today=today)[1]


def finance_home(*, today: dt.date) -> FinanceHome:
    home = FinanceHome(
        today=today,
        ready=claim_summary(claim_lines_filtered(ready_filter(today))),
        held=presend_held_summary(),
        rejected=claim_summary(claim_lines_filtered(rejected_filter(today))),
        deadline_soon=claim_summary(claim_lines_filtered(deadline_filter(today))),
        deadline_by=today + dt.timedelta(days=DEADLINE_SOON_DAYS),
    )
    home.waiting = waiting_by_reason()
    home.work = work_in_progress_estimate(today=today)
    debts = [owes for _org, owes, _repaid in repayments.former_member_debts(today=today) if owes]
    home.former_debt, home.former_debtors = sum(debts, ZERO), len(debts)
    home.payouts_period, home.payouts_due = next_payout(today=today)
    return home


def dashboard_part(request: TenantRequest) -> dict[str, Any]:
    """The IGO dashboard of a finance user shows the finance home's money figures instead of head counts
    (registered with igo.dashboard by BillingConfig.ready)."""
    if Role.IGO_FINANCE not in request.tenant_roles:
        return {}
    return {"home": finance_home(today=timezone.localdate())}
