"""The credit of a line the insurer awarded in part (the auditor's question): the 2027 tariffs are agreed
late, so February's natal line (900.00, awarded 800.00 on 1 March, 0611) is credited and claimed anew at
950.00. The credit goes out at -900.00, the full claim (a credit mirrors the line it takes back, as Vektis
expects), while its parts take back what the members got of the 800.00 awarded: -800.00. The insurer should
award it in part, -800.00; accepted in full it would take back 100.00 it never paid, which the books check
reports (`credit_over_awarded`).

The world is tests.scenarios.repricing: born in January, billed on 21 February, February's batch released
on 25 February; the tariffs 1300/950/1600 confirmed on 5 March; March's batch released on 20 March."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum

from billing import reconcile
from billing.models import Allocation, ClaimLine, Sign
from tests.scenarios.month_end import at
from tests.scenarios.payouts import PayoutWorld, answer, send_batch
from tests.scenarios.repricing import all_lines, natal_awarded_in_part, reprice, repricing_world

pytestmark = [pytest.mark.dated, pytest.mark.clock(at(2027, 1, 2))]
D = Decimal
FEB, MAR = dt.date(2027, 2, 1), dt.date(2027, 3, 1)


@pytest.fixture
def pw(world_a) -> PayoutWorld:
    return repricing_world(world_a)


def parts(line: ClaimLine) -> Decimal:
    return Allocation.unscoped.filter(claim_line=line, is_current=True).aggregate(s=Sum("amount"))["s"]


@pytest.fixture
def credited(pw):
    """The natal line awarded 800.00 of 900.00, then credited and claimed anew by the re-pricing; March's
    batch sent with the credit and the new line."""
    ep, _sent = natal_awarded_in_part(pw)
    reprice(pw, at(2027, 3, 5))
    natal = all_lines(ep, "natal")
    credit = next(line for line in natal if line.sign == Sign.CREDIT)
    new = next(line for line in natal if line.sign == Sign.DEBIT and line.is_current)
    assert (credit.amount, parts(credit)) == (D("-900.00"), D("-800.00"))
    assert (new.amount, parts(new)) == (D("950.00"), D("950.00"))
    return send_batch(pw, MAR, at(2027, 3, 20)), credit, new


def test_awarded_in_part_by_what_the_line_was_awarded_the_credit_reconciles(pw, credited):
    batch, credit, new = credited
    answer(batch, at(2027, 3, 25), accept=[new], award=[(credit, D("-800.00"))])
    report = reconcile.books_check(tenant=pw.tenant, today=dt.date(2027, 3, 26))
    assert report.ok, reconcile.problem_lines(report)


def test_accepted_in_full_the_credit_is_reported(pw, credited):
    batch, credit, new = credited
    answer(batch, at(2027, 3, 25), accept=[credit, new])
    report = reconcile.books_check(tenant=pw.tenant, today=dt.date(2027, 3, 26))
    assert report.kinds() == {"credit_over_awarded": 1}, reconcile.problem_lines(report)
