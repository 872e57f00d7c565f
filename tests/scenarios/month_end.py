"""A controller's month end, read the way finance reads it: every figure a page shows, taken from the code that
page uses (the claims list's selector, the finance home, the batch and its KZ301 file, the member statements,
the ledger, the payout run and books_check), so that a test can hold them against each other and against
amounts worked out by hand. The world is tests.scenarios.repricing (Zilveren Kruis, 1200/900/1500 prolonged
into 2027; 5 % overhead, 2 % reserve, then fixed shares)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from billing import finance_home as home
from billing import ledger, reconcile, statements
from billing.models import AllocationKind, BatchLine, ClaimBatch, Payout, PayoutRun
from billing.selectors import ClaimFilter, ClaimSummary, claim_lines_filtered, claim_summary
from igo.dates import midnight, next_month
from igo.tenancy import tenant_scope
from tests.scenarios import kz301_reader
from tests.scenarios.clock import local, travel
from tests.scenarios.month_batches import file_of
from tests.scenarios.payouts import PayoutWorld

D = Decimal
ZERO = D("0.00")


@dataclass
class BatchFigures:
    """One released batch as finance and the insurer see it."""

    total: Decimal  # ClaimBatch.total (the batches page)
    rows: Decimal  # the sum of its batch lines
    file_lines: Decimal  # the sum of the KZ301 file's 04 records (credits negative)
    file_total: Decimal  # the 99 record's total, signed by its D/C
    file_count: int  # the 99 record's count of 04 records
    row_count: int
    claimed: Decimal  # ledger.batch_money: claimed = accepted + not awarded + rejected + open
    answered_or_open: Decimal


def batch_figures(pw: PayoutWorld, batch: ClaimBatch) -> BatchFigures:
    records = kz301_reader.parse(file_of(batch, "kz301"))
    details = [r for r in records if r.code == "04"]
    closing = next(r for r in records if r.code == "99")
    file_total = D(closing["total"]) / 100 * (-1 if closing["total_dc"] == "C" else 1)
    rows = BatchLine.unscoped.filter(batch=batch)
    with tenant_scope(pw.tenant):
        money = ledger.batch_money([batch.pk])[batch.pk]
    return BatchFigures(
        total=ClaimBatch.unscoped.get(pk=batch.pk).total,
        rows=sum((r.amount for r in rows), ZERO),
        file_lines=D(sum(kz301_reader.cents_of(r) for r in details)) / 100,
        file_total=file_total,
        file_count=closing["count_04"],
        row_count=rows.count(),
        claimed=money.claimed,
        answered_or_open=money.answered + money.open,
    )


def assert_batch_agrees(pw: PayoutWorld, batch: ClaimBatch, expected_total: Decimal) -> BatchFigures:
    """The batch's total, its lines, its KZ301 file and the ledger's reading of it: one figure."""
    f = batch_figures(pw, batch)
    assert (f.total, f.rows, f.file_lines, f.file_total, f.claimed, f.answered_or_open) == (
        expected_total,
    ) * 6, f
    assert f.file_count == f.row_count, f
    return f


@dataclass
class Desk:
    """What the controller sees on one day."""

    today: dt.date
    claims: ClaimSummary  # the claims list without filters: every current line (and refused credits open)
    ready: ClaimSummary  # claims list ?status=ready
    rejected: ClaimSummary  # claims list ?status=rejected
    home: home.FinanceHome
    due: dict[int, Decimal]  # ledger.unpaid_totals' due per member, booked up to today
    held: dict[int, Decimal]  # the same, held back
    next_run: dict[int, Decimal]  # per member, what the next payout run would mark (ledger.payable_entries)


def desk(pw: PayoutWorld, moment: dt.datetime) -> Desk:
    today = moment.date()
    with travel(moment), tenant_scope(pw.tenant):
        unpaid = ledger.unpaid_totals(until=midnight(today + dt.timedelta(days=1)), today=today)
        figures = home.finance_home(today=today)
        assert figures.payouts_period is not None
        made, undone = ledger.payable_entries(until=midnight(next_month(figures.payouts_period)), today=today)
        next_run: dict[int, Decimal] = {}
        for qs, sign in ((made, 1), (undone, -1)):
            for org, total in qs.values_list("organisation_id").annotate(s=Sum("amount")).order_by():
                next_run[org] = next_run.get(org, ZERO) + sign * total
        return Desk(
            today=today,
            claims=claim_summary(claim_lines_filtered(ClaimFilter(today=today))),
            ready=claim_summary(claim_lines_filtered(home.ready_filter(today))),
            rejected=claim_summary(claim_lines_filtered(home.rejected_filter(today))),
            home=figures,
            due={org: t.due for org, t in unpaid.items() if t.due},
            held={org: t.held for org, t in unpaid.items() if t.held},
            next_run=next_run,
        )


def assert_desk_agrees(d: Desk) -> None:
    """The finance home's cards are the claims list's filters; its payouts due is what the next payout run
    marks, of the members it pays (above nothing; the others are carried over)."""
    assert d.home.ready == d.ready, (d.home.ready, d.ready)
    assert d.home.rejected == d.rejected, (d.home.rejected, d.rejected)
    payable = sum((due for due in d.next_run.values() if due > 0), ZERO)
    assert d.home.payouts_due == payable, (d.home.payouts_due, d.next_run)


def statement_figures(pw: PayoutWorld, period: dt.date, moment: dt.datetime) -> dict[str, ledger.Totals]:
    """Each member's statement of the month by name, checked against the ledger's month totals and the
    statements' own per-member totals (three readings of the same entries)."""
    today = moment.date()
    out: dict[str, ledger.Totals] = {}
    with travel(moment), tenant_scope(pw.tenant):
        month = ledger.month_totals(period=period, today=today)
        per_member = statements.statement_totals(period=period, today=today)
        for org in pw.members():
            st = statements.member_statement(tenant=pw.tenant, organisation=org, period=period, today=today)
            assert st.totals == month.member(org.pk), (org.name, st.totals, month.member(org.pk))
            assert st.totals == per_member.get(org.pk, ledger.Totals()), org.name
            out[org.name] = st.totals
        # The month's entries of every kind add up to the month's claim lines booked, net: the IGO's overhead
        # and reserve plus the members' parts.
        assert set(month.rows) <= {(AllocationKind.MEMBER, o.pk) for o in pw.members()} | {
            (AllocationKind.OVERHEAD, None),
            (AllocationKind.RESERVE, None),
        }
    return out


def run_figures(run: PayoutRun) -> dict[str, Decimal]:
    by_name = {
        p.organisation.name: p.amount for p in Payout.unscoped.filter(run=run).select_related("organisation")
    }
    assert PayoutRun.unscoped.get(pk=run.pk).total == sum(by_name.values(), ZERO)
    return by_name


def books(pw: PayoutWorld, today: dt.date) -> reconcile.BooksReport:
    report = reconcile.books_check(tenant=pw.tenant, today=today)
    assert report.ok, reconcile.problem_lines(report)
    return report


def at(y: int, m: int, d: int, h: int = 10) -> dt.datetime:
    return local(y, m, d, h)
