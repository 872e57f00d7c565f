"""A payout run's cut-off (the end of its month) and a line re-divided after it: the insurer awards a line of
February in part on 1 March, before February's run is prepared. The run pays a line's entries together, so
it does not pay the old parts of the line without their reversal (more than the insurer pays), and the
finance home's "payouts due" is what that run pays.

The world is tests.scenarios.repricing (Zilveren Kruis 1200/900/1500; 5 % overhead, 2 % reserve: the members
get 93 %): born in January, billed on 21 February, February's batch released on 25 February."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing import reconcile
from billing.models import Allocation, AllocationKind, Payout, PayoutRun
from billing.services.payouts import payout_run_release
from igo.tenancy import tenant_scope
from tests.scenarios.clock import travel
from tests.scenarios.month_end import assert_desk_agrees, at, books, desk, run_figures
from tests.scenarios.payouts import PayoutWorld, prepare
from tests.scenarios.repricing import natal_awarded_in_part, repricing_world

pytestmark = [pytest.mark.dated, pytest.mark.clock(at(2027, 1, 2))]
D = Decimal
FEB, MAR = dt.date(2027, 2, 1), dt.date(2027, 3, 1)
MEMBERS = D("0.93")


@pytest.fixture
def pw(world_a) -> PayoutWorld:
    return repricing_world(world_a)


@pytest.fixture
def natal_awarded_on_1_march(pw):
    """Prenatal and postnatal accepted, natal awarded 800.00 of 900.00 (0611), all on 1 March."""
    return natal_awarded_in_part(pw)[1]


def natal_paid_in(run: PayoutRun, natal) -> list[Allocation]:
    return list(Allocation.unscoped.filter(claim_line=natal, paid_in__run=run)) + list(
        Allocation.unscoped.filter(claim_line=natal, reversal_paid_in__run=run)
    )


def test_payouts_due_is_what_the_next_run_pays_and_the_run_pays_what_the_insurer_awarded(
    pw, natal_awarded_on_1_march
):
    natal = natal_awarded_on_1_march["natal"]
    d = desk(pw, at(2027, 3, 1, 12))
    assert_desk_agrees(d)
    assert d.home.payouts_period == FEB
    books(pw, dt.date(2027, 3, 1))

    feb = prepare(pw, FEB, at(2027, 3, 2))
    # The natal line was re-divided after February: its entries wait whole for March's run. February pays
    # the members' 93 % of prenatal and postnatal: (1200.00 + 1500.00) x 0.93 = 2511.00.
    assert feb.total == d.home.payouts_due == (D("1200.00") + D("1500.00")) * MEMBERS
    assert sum(run_figures(feb).values(), D("0.00")) == feb.total
    assert natal_paid_in(feb, natal) == []
    books(pw, dt.date(2027, 3, 2))
    with travel(at(2027, 3, 3)), tenant_scope(pw.tenant):
        payout_run_release(run=feb, actor=pw.finance_b)

    # With February's run made, the next run is March's: the natal line's old parts, their reversal and the
    # new parts, 93 % of the 800.00 awarded.
    d = desk(pw, at(2027, 3, 20))
    assert_desk_agrees(d)
    assert (d.home.payouts_period, d.home.payouts_due) == (MAR, D("800.00") * MEMBERS)
    mar = prepare(pw, MAR, at(2027, 4, 1))
    assert mar.total == D("744.00")
    paid_for_natal = sum(
        (a.amount for a in Allocation.unscoped.filter(claim_line=natal, paid_in__run=mar)), D("0.00")
    ) - sum((a.amount for a in Allocation.unscoped.filter(claim_line=natal, reversal_paid_in__run=mar)), D(0))
    assert paid_for_natal == D("744.00")  # what the insurer pays of it, less overhead and reserve
    books(pw, dt.date(2027, 4, 1))


def test_books_check_reports_a_run_that_pays_a_line_without_its_later_reversal(pw, natal_awarded_on_1_march):
    """The books check would have caught the run paying the natal line's February parts while their reversal
    (1 March, before the run was prepared) was left for the next month."""
    natal = natal_awarded_on_1_march["natal"]
    feb = prepare(pw, FEB, at(2027, 3, 2))
    payouts = {p.organisation_id: p for p in Payout.unscoped.filter(run=feb)}
    old_parts = Allocation.unscoped.filter(
        claim_line=natal,
        kind=AllocationKind.MEMBER,
        superseded_at__isnull=False,
        organisation_id__in=list(payouts),
    )
    assert old_parts.exists()
    for part in old_parts:  # as the run did before: the old part paid, the payout and run adding it up
        payout = payouts[part.organisation_id]
        Allocation.unscoped.filter(pk=part.pk).update(paid_in=payout)
        payout.amount += part.amount
        payout.entries += 1
        payout.save(update_fields=["amount", "entries"])
        feb.total += part.amount
    feb.save(update_fields=["total"])
    report = reconcile.books_check(tenant=pw.tenant, today=dt.date(2027, 3, 2))
    assert report.kinds() == {"paid_line_split": old_parts.count()}, reconcile.problem_lines(report)
