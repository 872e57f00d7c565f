"""The books check over the ledger (billing.reconcile): per member and month the ledger's totals equal the
statements, state by state; paid entries belong to a payout of their member in a run of their month or
later, on a payable line; payouts add up to their entries and runs to their payouts; per batch the claim
lines agree with the insurer's answers and the payments with the accepted total (or a work item says by how
much). A clean book reports nothing; each kind of mismatch planted in the database is reported, and only it.

The book (tests.scenarios.ledger), seen on 20 December 2026:
- A prenatal 1200.00 (5 October): overhead 60.00, reserve 24.00, De Maas 700.00, Rijnmond 416.00;
  N natal 900.00 (6 October): De Maas 900.00. October's batch, released 3 November: A accepted, N rejected.
  The insurer paid 1000.00 of the accepted 1200.00: a payment-difference work item of 200.00.
- Q natal 900.00 (5 November): Ziekenhuis 900.00; November's batch, released 2 December, accepted.
- P postnatal 1500.00 (12 November): Rijnmond 1500.00, waiting for a batch.
- October's payout run (released): De Maas 700.00, Rijnmond 416.00 = 1116.00. November's (prepared):
  Ziekenhuis 900.00.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.core.management import call_command

from billing import reconcile, statements
from billing.ledger import Totals
from billing.models import (
    Allocation,
    ClaimBatch,
    ClaimLine,
    InsurerPayment,
    LineStatus,
    Payout,
    PayoutRun,
    WorkItem,
    WorkReason,
)
from billing.services.insurer_payments import insurer_payment_record
from igo.tenancy import tenant_scope
from tests.scenarios.clock import local
from tests.scenarios.ledger import Book, answer, book, claim, pay, release

pytestmark = [pytest.mark.django_db, pytest.mark.clock(local(2026, 12, 20, 10))]
D = Decimal
OCT, NOV = dt.date(2026, 10, 1), dt.date(2026, 11, 1)
TODAY = dt.date(2026, 12, 20)


@dataclass
class Books:
    b: Book
    a: ClaimLine
    n: ClaimLine
    q: ClaimLine
    p: ClaimLine
    october: ClaimBatch
    november: ClaimBatch
    run_oct: PayoutRun
    run_nov: PayoutRun


@pytest.fixture
def books(world_a) -> Books:
    b = book(world_a)
    a = claim(
        b,
        at=local(2026, 10, 5, 10),
        parts={"overhead": D("60.00"), "reserve": D("24.00"), b.maas: D("700.00"), b.kraam: D("416.00")},
    )
    n = claim(b, at=local(2026, 10, 6, 10), phase="natal", parts={b.maas: D("900.00")})
    q = claim(b, at=local(2026, 11, 5, 10), phase="natal", parts={b.hospital: D("900.00")})
    p = claim(b, at=local(2026, 11, 12, 10), phase="postnatal", parts={b.kraam: D("1500.00")})
    october = release(b, [a, n], at=local(2026, 11, 3, 10))
    answer(b, october, {a: "accepted", n: "0101"}, at=local(2026, 11, 10, 10))
    with tenant_scope(b.tenant):
        insurer_payment_record(
            batch=october,
            amount=D("1000.00"),
            received_on=dt.date(2026, 11, 18),
            reference="ZK-1",
            actor=b.finance,
            today=dt.date(2026, 11, 18),
        )
    run_oct = pay(b, period=OCT, today=dt.date(2026, 11, 20))
    november = release(b, [q], at=local(2026, 12, 2, 10))
    answer(b, november, {q: "accepted"}, at=local(2026, 12, 5, 10))
    run_nov = pay(b, period=NOV, today=dt.date(2026, 12, 10), released=False)
    return Books(b, a, n, q, p, october, november, run_oct, run_nov)


def check(books: Books) -> reconcile.BooksReport:
    return reconcile.books_check(tenant=books.b.tenant, today=TODAY)


def test_a_clean_book_reconciles(books):
    report = check(books)
    assert report.ok, report.problems
    # Member-months: October De Maas and Rijnmond, November Ziekenhuis and Rijnmond.
    assert report.ledger_months == 4
    assert (report.payout_runs, report.payouts, report.paid_entries) == (2, 3, 3)
    assert (run.total for run in (books.run_oct, books.run_nov)) and books.run_oct.total == D("1116.00")
    assert books.run_nov.total == D("900.00")
    # Zilveren Kruis: claimed 2100.00 + 900.00 = 3000.00 = accepted 1200.00 + 900.00 + rejected 900.00
    # + open 0.00; received 1000.00 (the difference of 200.00 is an open work item).
    assert report.insurers == {
        "3311": {
            "claimed": D("3000.00"),
            "accepted": D("2100.00"),
            "not_awarded": D("0.00"),
            "rejected": D("900.00"),
            "open": D("0.00"),
            "received": D("1000.00"),
        }
    }
    assert report.batches_paid == 1
    assert reconcile.books_check(tenant=books.b.tenant, period=OCT, today=TODAY).ok


def _move(payout_from: Payout, payout_to: Payout, entry: Allocation) -> None:
    """Pay `entry` in another payout, keeping both payouts and their runs adding up."""
    Allocation.unscoped.filter(pk=entry.pk).update(paid_in=payout_to)
    for payout, sign in ((payout_from, -1), (payout_to, 1)):
        Payout.unscoped.filter(pk=payout.pk).update(
            amount=payout.amount + sign * entry.amount, entries=payout.entries + sign
        )
        run = PayoutRun.unscoped.get(pk=payout.run_id)
        PayoutRun.unscoped.filter(pk=run.pk).update(total=run.total + sign * entry.amount)


def plant_payout_amount(x: Books) -> list[int]:
    payout = Payout.unscoped.get(run=x.run_oct, organisation=x.b.maas)
    Payout.unscoped.filter(pk=payout.pk).update(amount=D("701.00"))
    PayoutRun.unscoped.filter(pk=x.run_oct.pk).update(total=D("1117.00"))  # the run still adds up
    return [payout.pk]


def plant_run_total(x: Books) -> list[int]:
    PayoutRun.unscoped.filter(pk=x.run_oct.pk).update(total=D("1100.00"))
    return [x.run_oct.pk]


def plant_paid_early(x: Books) -> list[int]:
    """Q, booked in November, paid in October's run (its payout moved there whole)."""
    payout = Payout.unscoped.get(run=x.run_nov)
    Payout.unscoped.filter(pk=payout.pk).update(run=x.run_oct)
    PayoutRun.unscoped.filter(pk=x.run_oct.pk).update(total=D("2016.00"))  # 1116.00 + 900.00
    PayoutRun.unscoped.filter(pk=x.run_nov.pk).update(total=D("0.00"))
    return [Allocation.unscoped.get(claim_line=x.q).pk]


def plant_paid_wrong_member(x: Books) -> list[int]:
    """De Maas's part of A paid to Kraamzorg Rijnmond (both payouts still add up)."""
    entry = Allocation.unscoped.get(claim_line=x.a, organisation=x.b.maas)
    _move(
        Payout.unscoped.get(run=x.run_oct, organisation=x.b.maas),
        Payout.unscoped.get(run=x.run_oct, organisation=x.b.kraam),
        entry,
    )
    return [entry.pk]


def plant_paid_not_payable(x: Books) -> list[int]:
    """P waits for a batch, yet its part is paid in November's run (a payout that adds up)."""
    entry = Allocation.unscoped.get(claim_line=x.p)
    payout = Payout.unscoped.create(
        tenant=x.b.tenant, run=x.run_nov, organisation=x.b.kraam, amount=D("1500.00"), entries=1,
        iban="NL91ABNA0417164300", account_holder="Rijnmond", end_to_end_id="X",
    )  # fmt: skip
    Allocation.unscoped.filter(pk=entry.pk).update(paid_in=payout)
    PayoutRun.unscoped.filter(pk=x.run_nov.pk).update(total=D("2400.00"))
    return [entry.pk]


def plant_payment_amount(x: Books) -> list[int]:
    """The payment edited to 1100.00 behind the service's back: the item still says 200.00."""
    InsurerPayment.unscoped.filter(batch=x.october).update(amount=D("1100.00"))
    return [x.october.pk]


def plant_payment_item(x: Books) -> list[int]:
    """The difference's work item resolved by hand while 200.00 is still to receive."""
    WorkItem.unscoped.filter(batch=x.october).update(resolved_at=local(2026, 12, 1, 9))
    return [x.october.pk]


def plant_payment_without_item(x: Books) -> list[int]:
    """November's batch was paid 800.00 of 900.00 accepted, recorded without the service (no item)."""
    InsurerPayment.unscoped.create(
        tenant=x.b.tenant, batch=x.november, amount=D("800.00"), received_on=dt.date(2026, 12, 15),
        reference="ZK-2", recorded_by=x.b.finance,
    )  # fmt: skip
    return [x.november.pk]


def plant_answer_status(x: Books) -> list[int]:
    """N, rejected by the insurer, marked accepted in the claim lines (its parts would be paid out)."""
    ClaimLine.unscoped.filter(pk=x.n.pk).update(status=LineStatus.ACCEPTED)
    return [x.n.pk]


PLANTS: list[tuple[Callable[[Books], list[int]], str]] = [
    (plant_payout_amount, "payout_amount"),
    (plant_run_total, "run_total"),
    (plant_paid_early, "paid_early"),
    (plant_paid_wrong_member, "paid_wrong_member"),
    (plant_paid_not_payable, "paid_not_payable"),
    (plant_payment_amount, "payment_difference"),
    (plant_payment_item, "payment_difference"),
    (plant_payment_without_item, "payment_difference"),
    (plant_answer_status, "answer_status"),
]


@pytest.mark.parametrize(
    ("plant", "kind"), PLANTS, ids=[p.__name__.removeprefix("plant_") for p, _k in PLANTS]
)
def test_a_planted_mismatch_is_reported_as_exactly_its_kind(books, plant, kind):
    ids = plant(books)
    report = check(books)
    assert report.kinds() == {kind: 1}, report.problems
    assert set(ids) <= set(report.problems[0].ids), (ids, report.problems)


def test_a_statement_that_differs_from_the_ledger_is_reported(books, monkeypatch):
    """The statements are computed independently of the ledger's month totals (entry by entry); the check
    holds them against each other. A statement that lost an entry (here: a faulty computation) is found."""
    honest = statements.statement_totals

    def losing_an_entry(*, period: dt.date, today: dt.date) -> dict[int, Totals]:
        totals = honest(period=period, today=today)
        if period == OCT:
            totals[books.b.maas.pk].add("due", D("-1.00"))
        return totals

    monkeypatch.setattr(statements, "statement_totals", losing_an_entry)
    report = check(books)
    assert report.kinds() == {"ledger_statement": 1}
    assert report.problems[0].ids == [books.b.maas.pk] and "2026-10" in report.problems[0].message


def test_the_command_prints_the_ledger_and_the_insurers(books, capsys):
    call_command("books_check", "--tenant", books.b.tenant.slug, "--language", "en")
    out = capsys.readouterr().out
    assert "Ledger: 4 member-months held against their statements" in out
    assert "Payouts: 2 run(s), 3 payout(s), 3 entries paid" in out
    assert (
        "Insurer 3311: claimed 3000.00 = accepted 2100.00 + not awarded 0.00 + rejected 900.00 + open 0.00; "
        "received 1000.00" in out
    )
    assert "OK: the books reconcile." in out
    plant_run_total(books)
    with pytest.raises(SystemExit):
        call_command("books_check", "--tenant", books.b.tenant.slug, "--language", "en")
    assert (
        "[run_total] The payout run of 2026-10 totals 1100.00, its payouts 1116.00."
        in capsys.readouterr().out
    )
    assert WorkItem.unscoped.filter(reason=WorkReason.PAYMENT_DIFFERENCE).count() == 1
