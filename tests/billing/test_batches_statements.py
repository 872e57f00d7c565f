"""Member statements: per member organisation, the parts of the claim lines booked in a month; they add up
to the month's claim lines, a resplit reverses in its own month, a credit line's parts are negative.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Exists, OuterRef, Sum
from django.utils import timezone

from billing import services, statements
from billing.files import csv as files_csv
from billing.files import pdf as files_pdf
from billing.models import Allocation, ClaimLine
from igo import dates
from igo.exports import DUTCH, parse_csv_decimal
from igo.tenancy import tenant_scope
from pregnancies.services import care_event_void
from tests.scenarios.billing import (
    BILLING_NOW,
    PORTFOLIO_TOTAL,
    Setup,
    at,
    current,
    episode,
    log,
    ordinary,
    portfolio,
    pregnancy,
    run,
    split_of,
)
from tests.scenarios.files import pdf_text
from tests.scenarios.month_batches import LAST_MONTH, THIS_MONTH, csv_rows, move_labour_a_day_earlier

pytestmark = pytest.mark.clock(BILLING_NOW)
D = Decimal


def _month_bounds(period: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = timezone.make_aware(dt.datetime.combine(period, dt.time.min))
    end = timezone.make_aware(dt.datetime.combine(dates.add_months(period, 1), dt.time.min))
    return start, end


def _igo_parts(s: Setup, period: dt.date) -> Decimal:
    """Overhead and reserve dated like the statements: made in the month, minus superseded in it."""
    start, end = _month_bounds(period)
    qs = Allocation.unscoped.filter(tenant=s.tenant, kind__in=["overhead", "reserve"])
    made = qs.filter(created_at__gte=start, created_at__lt=end).aggregate(t=Sum("amount"))["t"] or 0
    gone = qs.filter(superseded_at__gte=start, superseded_at__lt=end).aggregate(t=Sum("amount"))["t"] or 0
    return D(made) - D(gone)


def _claimed(s: Setup, period: dt.date) -> Decimal:
    start, end = _month_bounds(period)
    total = (
        ClaimLine.unscoped.filter(tenant=s.tenant, created_at__gte=start, created_at__lt=end)
        .filter(Exists(Allocation.unscoped.filter(claim_line=OuterRef("pk"))))
        .aggregate(t=Sum("amount"))["t"]
    )
    return total or D("0.00")


def _statements(s: Setup, period: dt.date) -> dict[str, statements.Statement]:
    with tenant_scope(s.tenant):
        return {
            org.name: statements.member_statement(
                tenant=s.tenant, organisation=org, period=period, today=timezone.localdate()
            )
            for org in (s.practice, s.hospital, s.kraam, s.south)
        }


def _assert_month_adds_up(s: Setup, period: dt.date) -> dict[str, statements.Statement]:
    found = _statements(s, period)
    with tenant_scope(s.tenant):
        totals = {
            org: t.allocated
            for org, t in statements.statement_totals(period=period, today=timezone.localdate()).items()
        }
    for org in (s.practice, s.hospital, s.kraam, s.south):
        assert totals.get(org.pk, D("0.00")) == found[org.name].total
        header, rows = csv_rows(files_csv.statement_csv(found[org.name], convention=DUTCH))
        assert header == list(files_csv.STATEMENT_CSV_HEADER)
        assert len(rows) == len(found[org.name].rows)
        assert sum((parse_csv_decimal(x["amount"], DUTCH) for x in rows), D("0.00")) == found[org.name].total
    assert sum(totals.values(), D("0.00")) + _igo_parts(s, period) == _claimed(s, period)
    return found


def test_member_statements_add_up_to_the_claim_lines_of_the_month(s):
    portfolio(s)
    run(s)
    assert not ClaimLine.unscoped.filter(allocations__isnull=True).exists()
    found = _assert_month_adds_up(s, THIS_MONTH)
    assert _claimed(s, THIS_MONTH) == PORTFOLIO_TOTAL
    assert found["Praktijk Zuid"].rows == [] and found["Praktijk"].total > 0
    # Each row of a statement is one of the member's allocations, traced to its claim line.
    for row in found["Ziekenhuis"].rows:
        assert row.entry == "allocation" and row.amount > 0 and row.batch_number is None
    assert all(x.total == 0 for x in _statements(s, LAST_MONTH).values())


def test_a_resplit_reverses_in_its_own_month_and_statements_still_add_up(s):
    ep = episode(s, **pregnancy(dt.date(2026, 2, 2)), labour_started_at=at(2026, 8, 14, 8))
    log(s, ep, "PRE_CHECK", s.practice, at(2026, 2, 9))
    log(s, ep, "PRE_CHECK", s.practice, at(2026, 3, 9))
    echo = log(s, ep, "ECHO_SEO", s.hospital, at(2026, 4, 20))
    run(s)
    (line,) = current(ep).values()
    last_month = timezone.make_aware(dt.datetime.combine(LAST_MONTH, dt.time(10)))
    ClaimLine.unscoped.filter(pk=line.pk).update(created_at=last_month)
    Allocation.unscoped.filter(claim_line=line).update(created_at=last_month)
    closed = {name: (st_.total, len(st_.rows)) for name, st_ in _assert_month_adds_up(s, LAST_MONTH).items()}
    # Last month: 1200.00 = 60.00 + 24.00 + practice 507.27 + hospital 608.73 (see the pipeline tests).
    assert (closed["Praktijk"][0], closed["Ziekenhuis"][0]) == (D("507.27"), D("608.73"))
    with tenant_scope(s.tenant):
        care_event_void(event=echo, actor=s.midwife, reason="logged for the wrong client")
    assert run(s).lines_replaced == 1
    # The closed month does not change.
    after = {name: (st_.total, len(st_.rows)) for name, st_ in _assert_month_adds_up(s, LAST_MONTH).items()}
    assert after == closed
    # This month: the old parts are reversed and the new split (all 1116.00 to the practice) made.
    now = _assert_month_adds_up(s, THIS_MONTH)
    assert _claimed(s, THIS_MONTH) == 0
    assert now["Praktijk"].total == D("1116.00") - D("507.27")
    assert [(x.entry, x.amount) for x in now["Ziekenhuis"].rows] == [("reversal", D("-608.73"))]
    _, rows = csv_rows(files_csv.statement_csv(now["Ziekenhuis"], convention=DUTCH))
    # Written as a Dutch spreadsheet reads it: decimal comma (the separator is the semicolon).
    assert [(x["entry"], x["amount"], x["claim_line"]) for x in rows] == [
        ("reversal", "-608,73", line.number)
    ]
    assert split_of(line) == {
        ("overhead", ""): D("60.00"),
        ("reserve", ""): D("24.00"),
        ("member", "Praktijk"): D("1116.00"),
    }


def test_a_credit_lines_parts_appear_negative_in_the_statement(s, tmp_path):
    ep = ordinary(s)
    run(s)
    sent = current(ep)
    parts = {p: split_of(x) for p, x in sent.items()}
    with tenant_scope(s.tenant):
        services.claim_lines_mark_sent(lines=list(sent.values()))
    move_labour_a_day_earlier(ep)
    run(s)
    found = _assert_month_adds_up(s, THIS_MONTH)
    # 3600.00 sent, 2100.00 credited and billed again: 3600.00 claimed in the month.
    assert _claimed(s, THIS_MONTH) == D("3600.00")
    credits = {x.phase: x for x in ClaimLine.unscoped.filter(sign="credit")}
    assert sorted(credits) == ["natal", "prenatal"]
    practice_rows = {(x.line.number, x.amount) for x in found["Praktijk"].rows}
    for phase, credit in credits.items():
        assert (credit.number, -parts[phase][("member", "Praktijk")]) in practice_rows
    _, rows = csv_rows(files_csv.statement_csv(found["Praktijk"], convention=DUTCH))
    credit_rows = [x for x in rows if x["debit_credit"] == "C"]
    assert len(credit_rows) == 2 and all(
        parse_csv_decimal(x["amount"], DUTCH) < 0 and x["method"] == "credit" for x in credit_rows
    )
    # Practice: 900.00 + 502.20 + 139.50 sent, -900.00 - 502.20 credited, 900.00 + 502.20 billed anew.
    assert found["Praktijk"].total == D("1541.70")
    text, pages = pdf_text(files_pdf.statement_pdf(found["Praktijk"]), tmp_path)
    assert "Praktijk" in text and "€ 1.541,70" in text and "€ -502,20" in text
    assert "Pagina 1 van 1" in text and pages == 1
