"""A payout run that is only prepared has paid nothing: the controller has not released it and it may still
be discarded. Its entries show as "in a prepared payout run" on the member statement (page, CSV, PDF
totals), not as paid out; the revenue page's "paid out" counts released runs only; and releasing the run,
or discarding it, moves them to paid out or back to payable.

The world is tests.scenarios.repricing: born in January, billed on 21 February, February's batch released
on 25 February and accepted on 1 March; February's run prepared on 2 March. The practice gets 1701.90."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing import ledger, statements
from billing.files.csv import statement_csv
from billing.ledger import EntryState
from billing.models import PayoutRun, PayoutStatus
from billing.selectors import revenue_by_member_month
from billing.services.payouts import payout_run_discard, payout_run_release
from igo.tenancy import tenant_scope
from tests.scenarios.clock import travel
from tests.scenarios.http import row
from tests.scenarios.month_end import at, books
from tests.scenarios.payouts import PayoutWorld, accept_all, bill, prepare, send_batch
from tests.scenarios.repricing import born_in_january, repricing_world

pytestmark = [pytest.mark.dated, pytest.mark.clock(at(2027, 1, 2))]
D = Decimal
FEB = dt.date(2027, 2, 1)
PRACTICE = D("1701.90")  # 93 % of its fixed shares of 1200.00, 900.00 and 1500.00


@pytest.fixture
def pw(world_a) -> PayoutWorld:
    return repricing_world(world_a)


@pytest.fixture
def run(pw) -> PayoutRun:
    born_in_january(pw)
    bill(pw, at(2027, 2, 21))
    accept_all(send_batch(pw, FEB, at(2027, 2, 25)), at(2027, 3, 1))
    run = prepare(pw, FEB, at(2027, 3, 2))
    assert run.status == PayoutStatus.PREPARED
    return run


def practice_figures(pw, day: dt.date) -> tuple[statements.Statement, ledger.Totals, Decimal]:
    """The practice's February statement and ledger month totals, and the revenue page's paid out."""
    with travel(at(day.year, day.month, day.day, 16)), tenant_scope(pw.tenant):
        st = statements.member_statement(tenant=pw.tenant, organisation=pw.practice, period=FEB, today=day)
        month = ledger.month_totals(period=FEB, today=day).member(pw.practice.pk)
        revenue = revenue_by_member_month(year=2027, overhead_label="o", reserve_label="r")
    return st, month, revenue.paid


def test_a_prepared_run_is_not_paid_out_until_it_is_released(pw, run):
    st, month, revenue_paid = practice_figures(pw, dt.date(2027, 3, 2))
    assert (st.totals.paid, st.totals.prepared, st.totals.due) == (D("0.00"), PRACTICE, D("0.00"))
    assert (month.paid, month.prepared) == (st.totals.paid, st.totals.prepared)
    assert revenue_paid == D("0.00")
    assert {row.state for row in st.rows} == {EntryState.PREPARED}
    assert ("prepared", "in een voorbereide uitbetaling", PRACTICE) in st.state_totals
    assert b";prepared;" in statement_csv(st)
    books(pw, dt.date(2027, 3, 2))

    with travel(at(2027, 3, 3)), tenant_scope(pw.tenant):
        payout_run_release(run=run, actor=pw.finance_b)
    st, month, revenue_paid = practice_figures(pw, dt.date(2027, 3, 3))
    assert (st.totals.paid, st.totals.prepared) == (PRACTICE, D("0.00"))
    assert month.paid == PRACTICE
    assert revenue_paid == PayoutRun.unscoped.get(pk=run.pk).total
    books(pw, dt.date(2027, 3, 3))


def test_a_discarded_run_leaves_its_entries_payable(pw, run):
    with travel(at(2027, 3, 2, 13)), tenant_scope(pw.tenant):
        payout_run_discard(run=run, actor=pw.finance_b)
    st, month, revenue_paid = practice_figures(pw, dt.date(2027, 3, 2))
    assert (st.totals.paid, st.totals.prepared, st.totals.due) == (D("0.00"), D("0.00"), PRACTICE)
    assert (month.due, revenue_paid) == (PRACTICE, D("0.00"))
    books(pw, dt.date(2027, 3, 2))


def test_the_statements_page_shows_the_prepared_run_apart(pw, run, client_for):
    with travel(at(2027, 3, 2, 16)):
        page = client_for(pw.finance).get(f"/t/{pw.tenant.slug}/statements/", {"month": "2027-02"})
    assert page.status_code == 200
    html = page.content.decode()
    assert row(html, f"statement-prepared-{pw.practice.pk}") == "€ 1.701,90"
    assert row(html, f"statement-paid-{pw.practice.pk}") == "€ 0,00"
    assert "In een voorbereide uitbetaling" in html
