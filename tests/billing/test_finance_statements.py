"""The member statements on the finance screens (billing.statements): totals that add up to the month's
claim lines, a CSV whose rows sum to the total and a PDF, only the tenant's own statements.

The worked portfolio of tests.scenarios.billing, billed: 8 lines, 9850.00 in all: Zilveren Kruis (3311)
6 lines 7200.00 (3600.00 + 1200.00 + 1200.00 + 1200.00), VGZ (7095) 2 lines 2650.00 (1000.00 + 1650.00).
The billing run books them now, so their batches are those of the current month.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from billing.models import Allocation, ClaimLine, LineStatus
from billing.statements import member_statement, statement_totals
from igo.tenancy import tenant_scope
from pregnancies.models import ClientInsurance, Episode
from tests.factories import MemberOrganisationFactory
from tests.scenarios.billing import BILLING_NOW, PORTFOLIO_TOTAL, Setup, run, touch
from tests.scenarios.files import csv_download
from tests.scenarios.finance import euro, this_month, url
from tests.scenarios.http import row

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BILLING_NOW)]
D = Decimal


@pytest.fixture
def s(billed_portfolio: Setup) -> Setup:
    """Here `s` is the worked portfolio, billed (tests/billing/conftest.py)."""
    return billed_portfolio


def test_statement_totals_add_up_to_the_months_claim_lines(s, finance):
    month = this_month()
    html = finance.get(url(s, "statement_list"), {"month": f"{month:%Y-%m}"}).content.decode()
    with tenant_scope(s.tenant):
        totals = {
            org: t.allocated for org, t in statement_totals(period=month, today=timezone.localdate()).items()
        }
    # Every member with care in the portfolio has a total; Praktijk Zuid logged nothing.
    assert set(totals) == {s.practice.pk, s.hospital.pk, s.kraam.pk}
    for org in (s.practice, s.hospital, s.kraam):
        assert row(html, f"statement-total-{org.pk}") == euro(totals[org.pk])
        # Billed, in no batch yet: not yet payable, every euro of it.
        assert row(html, f"statement-pending-{org.pk}") == euro(totals[org.pk])
        assert (
            row(html, f"statement-paid-{org.pk}") == row(html, f"statement-held-{org.pk}") == euro(D("0.00"))
        )
    assert row(html, f"statement-total-{s.south.pk}") == euro(D("0.00"))
    overhead = Allocation.unscoped.filter(tenant=s.tenant, kind="overhead").aggregate(t=Sum("amount"))["t"]
    reserve = Allocation.unscoped.filter(tenant=s.tenant, kind="reserve").aggregate(t=Sum("amount"))["t"]
    # The split rule's 5% and 2% of every line, whatever the insurer (each line in whole euros, so exact):
    # overhead 5% of 9850.00 = 492.50, reserve 2% = 197.00; together 689.50.
    assert (overhead, reserve) == (D("492.50"), D("197.00"))
    assert sum(totals.values()) + overhead + reserve == PORTFOLIO_TOTAL
    assert row(html, "statements-members") == euro(PORTFOLIO_TOTAL - D("689.50"))
    assert row(html, "statements-overhead") == euro(D("492.50"))
    assert row(html, "statements-reserve") == euro(D("197.00"))
    assert row(html, "statements-allocated") == row(html, "statements-lines") == euro(PORTFOLIO_TOTAL)
    assert 'data-testid="statements-difference"' not in html
    # Another month has no amounts.
    empty = finance.get(url(s, "statement_list"), {"month": "2020-01"}).content.decode()
    assert row(empty, "statements-allocated") == euro(D("0.00"))


def test_statement_csv_rows_sum_to_the_total_and_pdf_is_a_pdf(s, finance):
    month = this_month()
    with tenant_scope(s.tenant):
        statement = member_statement(
            tenant=s.tenant, organisation=s.practice, period=month, today=timezone.localdate()
        )
    assert statement.total > 0 and statement.totals.pending == statement.total
    response = finance.get(
        url(s, "statement_download", org_pk=s.practice.pk, year=month.year, month=month.month, fmt="csv")
    )
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    # The Dutch interface (the default) downloads the Dutch convention, named in the file.
    assert f"Statement_{s.practice.agb_code}_{month:%Y-%m}_nl.csv" in response["Content-Disposition"]
    download = csv_download(response)
    rows = download.rows
    assert download.convention.delimiter == ";" and len(rows) == len(statement.rows)
    assert sum(download.number(r["amount"]) for r in rows) == statement.total
    assert {r["state"] for r in rows} == {"pending"}
    assert {r["organisation"] for r in rows} == {s.practice.name}
    html = finance.get(url(s, "statement_list"), {"month": f"{month:%Y-%m}"}).content.decode()
    assert row(html, f"statement-total-{s.practice.pk}") == euro(statement.total)
    pdf = finance.get(
        url(s, "statement_download", org_pk=s.practice.pk, year=month.year, month=month.month, fmt="pdf")
    )
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_statement_download_refuses_other_tenants_and_bad_input(s, finance, world_b):
    month = this_month()
    other = MemberOrganisationFactory(tenant=world_b.tenant)

    def get(org_pk: int, year: int, mon: int, fmt: str) -> int:
        link = url(s, "statement_download", org_pk=org_pk, year=year, month=mon, fmt=fmt)
        return finance.get(link).status_code

    assert get(other.pk, month.year, month.month, "csv") == 404
    assert get(s.practice.pk, month.year, 13, "csv") == 404
    assert get(s.practice.pk, 1999, 1, "csv") == 404
    assert get(s.practice.pk, month.year, month.month, "xlsx") == 404
    assert get(s.practice.pk, month.year, month.month, "csv") == 200


def test_statement_leaves_out_lines_withdrawn_before_sending(s):
    transferred = Episode.unscoped.filter(tenant=s.tenant, end_reason="transferred_out").get()
    ClientInsurance.unscoped.filter(client=transferred.client).update(policy_number="POL-NEW")
    touch(transferred)
    run(s)
    old = ClaimLine.unscoped.get(episode=transferred, status=LineStatus.WITHDRAWN)
    assert ClaimLine.unscoped.get(episode=transferred, is_current=True).amount == old.amount
    with tenant_scope(s.tenant):
        totals = statement_totals(period=this_month(), today=timezone.localdate())
    # The withdrawn line's parts are made and reversed in the month (payable at nothing), the new line's
    # made: the claim did not change (same amount, same care), so neither did the members' part.
    assert sum(t.allocated for t in totals.values()) == PORTFOLIO_TOTAL - D("689.50")
