"""The finance home (issue 19): money figures that are the counts of the lists they open (the claims list's
filters, the work queue's reasons), worked out by hand for the world of tests.scenarios.finance_home.

That world, on 20 Nov 2026: Zilveren Kruis lines 1200 + 900 + 1500 (episode 1), 1200 (2), 1200 (3,
prenatal), 1200 (4) were sent; the insurer rejected episode 1's natal line (900.00) and accepted the rest
(6300.00). VGZ's natal 1000.00 and postnatal 1650.00 of episode 3 are ready, in a batch for review. Two
pregnancies wait for finance: one without insurance, one with an insurer the IGO has no contract with.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import finance_home as home
from billing import ledger
from billing.models import WorkReason
from billing.selectors import service_end_bounds
from igo.dates import add_months
from igo.models import Role
from igo.tenancy import tenant_scope
from tests.scenarios.billing import BILLING_NOW
from tests.scenarios.finance import euro, url
from tests.scenarios.finance_home import HomeWorld, home_world, shorten_vgz_term
from tests.scenarios.http import row

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BILLING_NOW)]
D = Decimal


@pytest.fixture
def h(world_a) -> HomeWorld:
    return home_world(world_a)


def figures(h: HomeWorld) -> home.FinanceHome:
    with tenant_scope(h.s.tenant):
        return home.finance_home(today=timezone.localdate())


def test_the_home_adds_up_the_worked_world(h):
    shorten_vgz_term(h)
    f = figures(h)
    assert f.today == dt.date(2026, 11, 20)
    # Ready: VGZ natal 1000.00 + postnatal 1650.00 (in a batch for review, not sent).
    assert (f.ready.lines, f.ready.total, f.ready.episodes) == (2, D("2650.00"), 1)
    # Rejected and not yet corrected: episode 1's natal line.
    assert (f.rejected.lines, f.rejected.total) == (1, D("900.00"))
    # Deadline by 20 Dec 2026: VGZ natal ended 3 Jan 2026, + 11 months = 3 Dec 2026 (at risk: 1000.00);
    # VGZ postnatal: 13 Feb 2026 + 11 = 13 Jan 2027 (later); the rejected ZK line: 14 Aug 2027 (12 months).
    assert f.deadline_by == dt.date(2026, 12, 20)
    assert (f.deadline_soon.lines, f.deadline_soon.total) == (1, D("1000.00"))
    # Waiting for finance: one item each.
    assert {(r.reason, r.items) for r in f.waiting} == {
        (WorkReason.NO_INSURANCE, 1),
        (WorkReason.NO_CONTRACT, 1),
        (WorkReason.REJECTED, 1),
    }
    assert f.waiting_items == 3
    # Open phases of active episodes at today's ZK tariffs: episode 4 (prenatal claimed) natal 900 +
    # postnatal 1500 = 2400; episode 5 (early) 1200 + 900 + 1500 = 3600; together 6000.00 for 5 phases.
    # The uninsured and the uncontracted pregnancies: 3 + 3 phases without a price.
    assert (f.work.amount, f.work.phases, f.work.unpriced) == (D("6000.00"), 5, 6)
    # Payable to members: the accepted lines' members' part, 93 % (5 % overhead, 2 % reserve) of 6300.00.
    assert f.payouts_due == D("5859.00")
    assert f.payouts_period == dt.date(2026, 11, 1)  # October has nothing to pay: November's run pays it
    # The same figure as the payout run's own reading of the ledger, summed over the members.
    with tenant_scope(h.s.tenant):
        unpaid = ledger.unpaid_totals(until=timezone.now() + dt.timedelta(days=1), today=f.today)
    assert sum((t.due for t in unpaid.values()), D("0.00")) == f.payouts_due


def test_a_term_long_enough_puts_nothing_at_risk(h):
    assert figures(h).deadline_soon.lines == 0  # 12 months: VGZ natal is due by 3 Jan 2027


def test_the_deadline_range_is_exact_at_month_ends():
    """add_months clamps (31 Mar + 11 months = 28 Feb): the range is checked against every day."""
    for months in (1, 11, 12, 13):
        for first in (dt.date(2026, 11, 20), dt.date(2026, 2, 28), dt.date(2027, 3, 31)):
            last = first + dt.timedelta(days=30)
            lo, hi = service_end_bounds(months=months, first=first, last=last)
            days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(1500)]
            inside = [d for d in days if first <= add_months(d, months) <= last]
            assert (lo, hi) == (inside[0], inside[-1])


def _count(html: str, testid: str) -> int:
    found = re.search(rf'data-testid="{testid}"[^>]*>\s*(\d+)', html)
    assert found, testid
    return int(found.group(1))


def _summary_lines(html: str) -> int:
    found = re.search(r'data-testid="claim-summary" data-lines="(\d+)"', html)
    assert found
    return int(found.group(1))


def test_the_homes_counts_are_the_work_queues_and_the_claims_lists(h, world_a, client_for):
    shorten_vgz_term(h)
    browser = client_for(world_a.user(Role.IGO_FINANCE))
    page = browser.get(url(h.s, "finance_home"))
    assert page.status_code == 200
    html = page.content.decode()
    f = page.context["home"]
    # Each reason's count is the work queue's, filtered by that reason.
    for r in f.waiting:
        queue = browser.get(url(h.s, "work_queue"), {"reason": r.reason})
        assert queue.context["page"].paginator.count == r.items
        assert f'?reason={r.reason}"' in html
    assert browser.get(url(h.s, "work_queue")).context["page"].paginator.count == f.waiting_items
    assert _count(html, "home-waiting-total") == f.waiting_items
    # Each claims card's count is the claims list's under the filter its link carries.
    for card, figure in (("ready", f.ready), ("rejected", f.rejected), ("deadline", f.deadline_soon)):
        link = re.search(rf'href="([^"]+)" data-testid="home-{card}-link"', html)
        assert link
        listed = browser.get(link.group(1).replace("&amp;", "&")).content.decode()
        assert _summary_lines(listed) == figure.lines, card
        assert figure.lines > 0


def test_finance_sees_money_on_the_dashboard_the_administrator_head_counts(h, world_a, client_for):
    finance = client_for(world_a.user(Role.IGO_FINANCE))
    html = finance.get(url(h.s, "tenant_dashboard")).content.decode()
    assert 'data-testid="finance-cards"' in html and 'data-testid="card-members"' not in html
    assert euro(D("2650.00")) in row(html, "home-ready")  # ready to send, as the Dutch screens write it
    admin = client_for(h.s.admin).get(url(h.s, "tenant_dashboard")).content.decode()
    assert 'data-testid="card-members"' in admin and 'data-testid="finance-cards"' not in admin


def test_another_igos_home_counts_nothing_of_this_one(h, world_b, client_for):
    browser = client_for(world_b.user(Role.IGO_FINANCE))
    f = browser.get(reverse_home(world_b)).context["home"]
    assert (f.ready.lines, f.rejected.lines, f.waiting_items, f.work.phases, f.payouts_due) == (
        0,
        0,
        0,
        0,
        D("0.00"),
    )
    assert client_for(world_b.user(Role.MIDWIFE)).get(reverse_home(world_b)).status_code == 403


def reverse_home(world) -> str:
    return f"/t/{world.tenant.slug}/finance/"
