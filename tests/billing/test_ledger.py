"""The ledger (billing.ledger), the one record of money: the state of each entry on a day (paid, due, held,
pending), what a payout run may pay, and one month's money read three ways — the ledger's month totals, the
member statements (billing.statements) and the revenue page — equal to the cent.

The world is tests.scenarios.ledger: Zilveren Kruis with an answer term of 30 days. Line A, prenatal
€ 1.200,00, is divided overhead 60.00 + reserve 24.00 + De Maas 700.00 + Kraamzorg Rijnmond 416.00 = 1200.00.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing import ledger, selectors, statements
from billing.ledger import Totals
from billing.models import Allocation, AllocationKind, ClaimLine, LineStatus, Payout
from igo.models import Role
from igo.tenancy import tenant_scope
from tests.scenarios.clock import local
from tests.scenarios.http import row
from tests.scenarios.ledger import Book, answer, book, claim, pay, release, resplit, withdraw

pytestmark = [pytest.mark.django_db, pytest.mark.clock(local(2027, 1, 20, 10))]
D = Decimal
OCT, NOV, DEC = dt.date(2026, 10, 1), dt.date(2026, 11, 1), dt.date(2026, 12, 1)


@pytest.fixture
def b(world_a) -> Book:
    return book(world_a)


def parts_a(b: Book) -> dict:
    return {"overhead": D("60.00"), "reserve": D("24.00"), b.maas: D("700.00"), b.kraam: D("416.00")}


def month(b: Book, period: dt.date, today: dt.date) -> ledger.MonthTotals:
    with tenant_scope(b.tenant):
        return ledger.month_totals(period=period, today=today)


def states(t: Totals) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(paid, due, held, pending)"""
    return (t.paid, t.due, t.held, t.pending)


Z = D("0.00")


def test_a_line_is_pending_until_answered_or_its_answer_term_has_passed(b):
    a = claim(b, at=local(2026, 10, 5, 10), parts=parts_a(b))
    # Waiting for a batch: not yet payable.
    assert states(month(b, OCT, dt.date(2026, 10, 20)).member(b.maas.pk)) == (Z, Z, Z, D("700.00"))
    release(b, [a], at=local(2026, 11, 3, 10))
    # Released on 3 November; unanswered, it becomes payable on 3 November + 30 days = 3 December.
    assert states(month(b, OCT, dt.date(2026, 12, 2)).member(b.maas.pk)) == (Z, Z, Z, D("700.00"))
    on_term = month(b, OCT, dt.date(2026, 12, 3))
    assert states(on_term.member(b.maas.pk)) == (Z, D("700.00"), Z, Z)
    assert states(on_term.member(b.kraam.pk)) == (Z, D("416.00"), Z, Z)
    assert on_term.igo(AllocationKind.OVERHEAD).due == D("60.00")
    assert on_term.igo(AllocationKind.RESERVE).due == D("24.00")


def test_the_answer_term_counts_calendar_days_across_the_change_of_the_clocks(b):
    a = claim(b, at=local(2026, 9, 10, 10), parts=parts_a(b))
    # Released at 00:30 on 28 September (summer time, 27 September 22:30 UTC). 28 September + 30 days is
    # 28 October, after the clocks went back on 25 October; 30 × 24 hours from the moment of release would
    # end at 23:30 on 27 October, a day early.
    release(b, [a], at=local(2026, 9, 28, 0, 30))
    sep = dt.date(2026, 9, 1)
    assert month(b, sep, dt.date(2026, 10, 27)).member(b.maas.pk).pending == D("700.00")
    assert month(b, sep, dt.date(2026, 10, 28)).member(b.maas.pk).due == D("700.00")


def test_an_accepted_line_is_payable_and_a_rejected_one_held_back(b):
    a = claim(b, at=local(2026, 10, 5, 10), parts=parts_a(b))
    other = claim(
        b,
        at=local(2026, 10, 6, 10),
        phase="natal",
        parts={"overhead": D("45.00"), "reserve": D("18.00"), b.maas: D("500.00"), b.kraam: D("337.00")},
    )
    batch = release(b, [a, other], at=local(2026, 11, 3, 10))
    answer(b, batch, {a: "accepted", other: "0101"}, at=local(2026, 11, 10, 10))
    totals = month(b, OCT, dt.date(2026, 11, 20))
    # De Maas: 700.00 of A payable, 500.00 of the rejected natal line held back.
    assert states(totals.member(b.maas.pk)) == (Z, D("700.00"), D("500.00"), Z)
    assert states(totals.member(b.kraam.pk)) == (Z, D("416.00"), D("337.00"), Z)
    assert states(totals.igo(AllocationKind.OVERHEAD)) == (Z, D("60.00"), D("45.00"), Z)
    # A rejected line stays held back after the answer term: it was answered.
    assert month(b, OCT, dt.date(2027, 1, 5)).member(b.maas.pk).held == D("500.00")


def test_a_rejected_line_taken_out_of_use_is_payable_at_nothing(b):
    a = claim(b, at=local(2026, 10, 5, 10), parts=parts_a(b))
    batch = release(b, [a], at=local(2026, 11, 3, 10))
    answer(b, batch, {a: "0101"}, at=local(2026, 11, 10, 10))
    withdraw(b, a, at=local(2026, 12, 2, 10))  # not credited: the insurer never booked it
    assert not ClaimLine.unscoped.filter(corrects=a).exists()
    day = dt.date(2026, 12, 5)
    # October: +700.00, December: the part reversed, -700.00; both payable, together nothing.
    assert states(month(b, OCT, day).member(b.maas.pk)) == (Z, D("700.00"), Z, Z)
    assert states(month(b, DEC, day).member(b.maas.pk)) == (Z, D("-700.00"), Z, Z)
    assert month(b, NOV, day).member(b.maas.pk).allocated == Z
    assert month(b, DEC, day).igo(AllocationKind.OVERHEAD).due == D("-60.00")


def test_a_withdrawn_line_is_payable_at_nothing(b):
    a = claim(b, at=local(2026, 10, 30, 10), parts=parts_a(b))
    withdraw(b, a, at=local(2026, 11, 2, 10))
    day = dt.date(2026, 11, 5)
    assert states(month(b, OCT, day).member(b.kraam.pk)) == (Z, D("416.00"), Z, Z)
    assert states(month(b, NOV, day).member(b.kraam.pk)) == (Z, D("-416.00"), Z, Z)


def test_a_payout_pays_the_entries_that_are_due_and_they_show_as_paid(b):
    a = claim(b, at=local(2026, 10, 5, 10), parts=parts_a(b))
    waiting = claim(b, at=local(2026, 10, 25, 10), phase="natal", parts={b.maas: D("900.00")})
    batch = release(b, [a], at=local(2026, 11, 3, 10))
    answer(b, batch, {a: "accepted"}, at=local(2026, 11, 10, 10))
    run = pay(b, period=OCT, today=dt.date(2026, 11, 20))
    # October's run pays A's member parts: De Maas 700.00, Kraamzorg Rijnmond 416.00; 1116.00 in all.
    # The natal line waits for a batch: not paid. Overhead and reserve are not paid out.
    assert run.total == D("1116.00")
    assert dict(Payout.unscoped.filter(run=run).values_list("organisation_id", "amount")) == {
        b.maas.pk: D("700.00"),
        b.kraam.pk: D("416.00"),
    }
    totals = month(b, OCT, dt.date(2026, 11, 20))
    assert states(totals.member(b.maas.pk)) == (D("700.00"), Z, Z, D("900.00"))
    assert totals.igo(AllocationKind.OVERHEAD).due == D("60.00")
    assert Allocation.unscoped.get(claim_line=waiting).paid_in is None


def test_a_rejected_line_is_paid_only_together_with_its_reversal(b):
    """A rejected October line taken out of use on 5 December: October's run, made after that, must not pay
    the rejected line (it is settled in December, where its parts are reversed): both are paid in
    December's run, together nothing. The same for a line withdrawn in the month after it was made."""
    a = claim(b, at=local(2026, 10, 5, 10), parts=parts_a(b))
    w = claim(b, at=local(2026, 10, 30, 10), phase="natal", parts={b.hospital: D("900.00")})
    batch = release(b, [a], at=local(2026, 11, 3, 10))
    answer(b, batch, {a: "0101"}, at=local(2026, 11, 10, 10))
    withdraw(b, w, at=local(2026, 11, 2, 10))
    withdraw(b, a, at=local(2026, 12, 5, 10))
    october = pay(b, period=OCT, today=dt.date(2026, 12, 10))
    assert october.total == Z and not Payout.unscoped.filter(run=october).exists()
    november = pay(b, period=NOV, today=dt.date(2026, 12, 10))
    # November: the withdrawn line, +900.00 (October) and -900.00 (November), in one payout of nothing.
    assert list(Payout.unscoped.filter(run=november).values_list("organisation_id", "amount", "entries")) == [
        (b.hospital.pk, Z, 2)
    ]
    december = pay(b, period=DEC, today=dt.date(2027, 1, 5))
    # December: A's parts (October) and their reversal (December): De Maas 700.00 - 700.00, Rijnmond
    # 416.00 - 416.00.
    assert sorted(Payout.unscoped.filter(run=december).values_list("amount", "entries")) == [(Z, 2), (Z, 2)]
    assert not Allocation.unscoped.filter(kind=AllocationKind.MEMBER, paid_in__isnull=True).exists()


def lines_of_three_months(b: Book) -> None:
    """October to December 2026, every way an entry is booked:
    A  prenatal 1200.00, made and divided 5 October: overhead 60, reserve 24, De Maas 700, Rijnmond 416.
    B  natal 900.00, made 20 October, divided only on 4 November (the split waited): overhead 45, reserve
       18, De Maas 500, Ziekenhuis 337; divided anew on 8 December: De Maas 400, Ziekenhuis 437.
    C  postnatal 1500.00, made and divided 12 November: overhead 75, reserve 30, Rijnmond 1395; withdrawn
       on 1 December before it was sent."""
    claim(b, at=local(2026, 10, 5, 10), parts=parts_a(b))
    parts_b = {"overhead": D("45.00"), "reserve": D("18.00"), b.maas: D("500.00"), b.hospital: D("337.00")}
    line_b = claim(
        b, at=local(2026, 10, 20, 10), phase="natal", parts=parts_b, parts_at=local(2026, 11, 4, 10)
    )
    resplit(
        b,
        line_b,
        at=local(2026, 12, 8, 10),
        parts={"overhead": D("45.00"), "reserve": D("18.00"), b.maas: D("400.00"), b.hospital: D("437.00")},
    )
    parts_c = {"overhead": D("75.00"), "reserve": D("30.00"), b.kraam: D("1395.00")}
    line_c = claim(b, at=local(2026, 11, 12, 10), phase="postnatal", parts=parts_c)
    withdraw(b, line_c, at=local(2026, 12, 1, 10))


# Per month (October, November, December), by hand:
#   De Maas     700.00 | 500.00             | -500.00 + 400.00 = -100.00     year 1100.00
#   Rijnmond    416.00 | 1395.00            | -1395.00                       year  416.00
#   Ziekenhuis    0.00 | 337.00             | -337.00 + 437.00 = 100.00      year  437.00
#   overhead     60.00 | 45.00 + 75.00 = 120 | -45 + 45 - 75 = -75.00        year  105.00
#   reserve      24.00 | 18.00 + 30.00 = 48  | -18 + 18 - 30 = -30.00        year   42.00
#   together   1200.00 | 2400.00            | -1500.00                       year 2100.00 = A + B
EXPECTED = {
    "maas": [D("700.00"), D("500.00"), D("-100.00")],
    "kraam": [D("416.00"), D("1395.00"), D("-1395.00")],
    "hospital": [Z, D("337.00"), D("100.00")],
    "overhead": [D("60.00"), D("120.00"), D("-75.00")],
    "reserve": [D("24.00"), D("48.00"), D("-30.00")],
}


def test_month_totals_statements_and_revenue_cells_are_the_same_to_the_cent(b):
    lines_of_three_months(b)
    today = dt.date(2027, 1, 20)
    orgs = {"maas": b.maas, "kraam": b.kraam, "hospital": b.hospital}
    with tenant_scope(b.tenant):
        revenue = selectors.revenue_by_member_month(year=2026, overhead_label="o", reserve_label="r")
        by_row = {(r.kind, r.organisation_id): r for r in revenue.rows}
        for i, period in enumerate((OCT, NOV, DEC)):
            totals = ledger.month_totals(period=period, today=today)
            from_statements = statements.statement_totals(period=period, today=today)
            for name, org in orgs.items():
                stmt = statements.member_statement(
                    tenant=b.tenant, organisation=org, period=period, today=today
                )
                assert (
                    totals.member(org.pk).allocated
                    == stmt.total
                    == from_statements.get(org.pk, Totals()).allocated
                    == by_row[(AllocationKind.MEMBER, org.pk)].amounts[period.month - 1]
                    == EXPECTED[name][i]
                ), (name, period)
            for kind in ("overhead", "reserve"):
                assert totals.igo(kind).allocated == by_row[(kind, None)].amounts[period.month - 1]
                assert totals.igo(kind).allocated == EXPECTED[kind][i]
            overview = selectors.statement_overview(period=period, today=today)
            assert overview.allocated_total == sum(EXPECTED[k][i] for k in EXPECTED)
    assert [(r.label, r.total) for r in revenue.rows] == [
        ("Kraamzorg Rijnmond", D("416.00")),
        ("Verloskundigenpraktijk De Maas", D("1100.00")),
        ("Ziekenhuis Rijnmond", D("437.00")),
        ("o", D("105.00")),
        ("r", D("42.00")),
    ]
    assert revenue.total == D("2100.00") and revenue.held == Z
    # The December statement of De Maas: B's November part reversed, its new part made.
    with tenant_scope(b.tenant):
        dec = statements.member_statement(tenant=b.tenant, organisation=b.maas, period=DEC, today=today)
    assert [(r.entry, r.amount, r.state) for r in dec.rows] == [
        ("allocation", D("400.00"), "pending"),
        ("reversal", D("-500.00"), "pending"),
    ]


def test_the_demo_finding_a_rejected_line_divided_and_re_split_a_month_later(b, client_for):
    """The shape of the demo's finding: a line made on 28 November whose split waited until 2 December,
    re-split on 15 December, sent in December's batch and rejected. The old revenue page dated it by the
    line (November) and counted it as revenue; the statements dated it by its parts (December). Now both
    read the ledger: nothing in November, December as on the statements, and the rejected part held back.

    Rejected line R, prenatal 1200.00: overhead 60.00, reserve 24.00, De Maas 1080.53, Rijnmond 35.47
    (2 December); re-split 15 December: De Maas 1000.00, Rijnmond 116.00. Accepted line N, natal 900.00,
    3 December: overhead 45.00, reserve 18.00, De Maas 500.00, Rijnmond 337.00.
    De Maas, December: 1080.53 - 1080.53 + 1000.00 (R, held back) + 500.00 (N) = 1500.00; net 500.00.
    Rijnmond, December: 35.47 - 35.47 + 116.00 (R, held back) + 337.00 (N) = 453.00; net 337.00."""
    r = claim(
        b,
        at=local(2026, 11, 28, 10),
        parts={"overhead": D("60.00"), "reserve": D("24.00"), b.maas: D("1080.53"), b.kraam: D("35.47")},
        parts_at=local(2026, 12, 2, 10),
    )
    resplit(
        b,
        r,
        at=local(2026, 12, 15, 10),
        parts={"overhead": D("60.00"), "reserve": D("24.00"), b.maas: D("1000.00"), b.kraam: D("116.00")},
    )
    n = claim(
        b,
        at=local(2026, 12, 3, 10),
        phase="natal",
        parts={"overhead": D("45.00"), "reserve": D("18.00"), b.maas: D("500.00"), b.kraam: D("337.00")},
    )
    batch = release(b, [r, n], at=local(2027, 1, 4, 10))
    answer(b, batch, {r: "0101", n: "accepted"}, at=local(2027, 1, 10, 10))
    assert ClaimLine.unscoped.get(pk=r.pk).status == LineStatus.REJECTED

    html = (
        client_for(b.world.user(Role.IGO_FINANCE))
        .get(f"/t/{b.tenant.slug}/revenue/?year=2026")
        .content.decode()
    )

    def cells(nov: str, dec: str, total: str, held: str, net: str, paid: str) -> str:
        months = ["–"] * 12
        months[10], months[11] = nov, dec
        return " ".join([*months, total, held, net, paid])

    maas = row(html, f"revenue-member-{b.maas.pk}")
    assert (
        maas == f"{b.maas.name} {cells('–', '€ 1.500,00', '€ 1.500,00', '€ 1.000,00', '€ 500,00', '€ 0,00')}"
    )
    kraam = row(html, f"revenue-member-{b.kraam.pk}")
    assert kraam == f"{b.kraam.name} {cells('–', '€ 453,00', '€ 453,00', '€ 116,00', '€ 337,00', '€ 0,00')}"
    # The IGO's own parts of R are held back too: overhead 60.00 of 105.00.
    assert row(html, "revenue-held-overhead") == "€ 60,00"
    assert row(html, "revenue-total") == "€ 2.100,00" and row(html, "revenue-held") == "€ 1.200,00"
    assert row(html, "revenue-net") == "€ 900,00"
    # The month cells are the statements' totals, to the cent; the statement shows the part held back.
    today = dt.date(2027, 1, 20)
    with tenant_scope(b.tenant):
        revenue = selectors.revenue_by_member_month(year=2026, overhead_label="o", reserve_label="r")
        cells_of = {r.organisation_id: r.amounts for r in revenue.rows}
        for org in (b.maas, b.kraam):
            for period in (NOV, DEC):
                stmt = statements.member_statement(
                    tenant=b.tenant, organisation=org, period=period, today=today
                )
                assert stmt.total == cells_of[org.pk][period.month - 1]
        dec = statements.member_statement(tenant=b.tenant, organisation=b.maas, period=DEC, today=today)
    assert (dec.total, dec.totals.held, dec.totals.due) == (D("1500.00"), D("1000.00"), D("500.00"))
    page = (
        client_for(b.world.user(Role.IGO_FINANCE))
        .get(f"/t/{b.tenant.slug}/statements/", {"month": "2026-12"})
        .content.decode()
    )
    assert row(page, f"statement-total-{b.maas.pk}") == "€ 1.500,00"
    assert row(page, f"statement-held-{b.maas.pk}") == "€ 1.000,00"
    assert row(page, f"statement-due-{b.maas.pk}") == "€ 500,00"
    assert row(page, f"statement-total-{b.kraam.pk}") == "€ 453,00"
