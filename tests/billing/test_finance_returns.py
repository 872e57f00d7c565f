"""Return information on the finance screens: returns in the list and detail, and a rejected line rebilled
from the work queue (a line that was not rejected is refused).

The worked portfolio of tests.scenarios.billing, billed: 8 lines, 9850.00 in all: Zilveren Kruis (3311)
6 lines 7200.00 (3600.00 + 1200.00 + 1200.00 + 1200.00), VGZ (7095) 2 lines 2650.00 (1000.00 + 1650.00).
The billing run books them now, so their batches are those of the current month.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Sum

from billing.models import ClaimLine, LineStatus, WorkItem
from billing.services import returns
from igo.models import Role
from pregnancies.models import AccessAction, AccessLogEntry, ClientInsurance
from tests.scenarios.billing import BILLING_NOW, PORTFOLIO_LINES, Setup
from tests.scenarios.finance import ERROR, OK, act, euro, make_batches, reject_first_line, url
from tests.scenarios.http import row

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BILLING_NOW)]
D = Decimal


@pytest.fixture
def s(billed_portfolio: Setup) -> Setup:
    """Here `s` is the worked portfolio, billed (tests/billing/conftest.py)."""
    return billed_portfolio


def test_returns_show_in_the_list_and_detail(s, finance, world_a):
    vgz = make_batches(s)["7095"]
    rejected = reject_first_line(s, vgz, world_a.user(Role.IGO_FINANCE))
    html = finance.get(url(s, "batch_list")).content.decode()
    assert row(html, f"returns-{vgz.pk}") == "1 geaccepteerd · 1 afgewezen · 0 open"
    detail = finance.get(url(s, "batch_detail", pk=vgz.pk)).content.decode()
    first = row(detail, "batch-line-1")
    assert rejected.number in first and "0101" in first and "BSN onbekend" in first
    assert str(returns.RETURN_CODES["0101"]) in first
    assert 'data-testid="batch-returns"' in detail


def test_rebill_a_rejected_line_from_the_work_queue(s, finance, world_a):
    zk = make_batches(s)["3311"]
    rejected = reject_first_line(s, zk, world_a.user(Role.IGO_FINANCE))
    assert rejected.status == LineStatus.REJECTED
    item = WorkItem.unscoped.get(episode_id=rejected.episode_id, reason="rejected", resolved_at__isnull=True)
    html = finance.get(url(s, "work_queue")).content.decode()
    text = row(html, f"work-item-{item.pk}")
    assert "0101" in text and f"#{rejected.episode_id}" in text
    assert f'data-testid="rebill-{rejected.pk}"' in html
    assert url(s, "episode_claims", pk=rejected.episode_id) in html
    # Finance corrected the insured number first; billing again claims the phase anew. The rejected line is
    # not credited: the insurer never booked it (a credit would come back as 8017).
    ClientInsurance.unscoped.filter(client_id=rejected.episode.client_id).update(policy_number="CORRECTED")
    assert act(finance, url(s, "claim_line_rebill", pk=rejected.pk)) == (url(s, "work_queue"), OK)
    assert not ClaimLine.unscoped.filter(corrects=rejected).exists()
    debit = ClaimLine.unscoped.get(
        episode_id=rejected.episode_id, phase=rejected.phase, is_current=True, sign="debit"
    )
    assert (debit.amount, debit.status, debit.policy_number) == (
        rejected.amount,
        LineStatus.READY,
        "CORRECTED",
    )
    assert debit.pk != rejected.pk and not ClaimLine.unscoped.get(pk=rejected.pk).is_current
    assert WorkItem.unscoped.get(pk=item.pk).resolved_at is not None  # kept, but resolved
    assert f"work-item-{item.pk}" not in finance.get(url(s, "work_queue")).content.decode()
    assert AccessLogEntry.unscoped.filter(
        user=world_a.user(Role.IGO_FINANCE), action=AccessAction.UPDATE, object_id=str(rejected.pk)
    ).exists()
    # The new lines wait for the next batch: the new debit of the rejected phase, and (the insured number
    # changed for the whole episode) a credit and a new debit for each other phase of the episode already
    # sent. Those pairs net to 0.00, so the batch waits with the rejected phase's amount.
    new_lines = ClaimLine.unscoped.filter(episode_id=rejected.episode_id, status=LineStatus.READY)
    assert new_lines.count() >= 1 and new_lines.aggregate(t=Sum("amount"))["t"] == rejected.amount
    waiting = finance.get(url(s, "batch_list")).content.decode()
    assert (
        row(waiting, "waiting-3311") == f"Zilveren Kruis (3311) {new_lines.count()} {euro(rejected.amount)}"
    )
    # A second attempt is refused with a message: the line is no longer current.
    again = act(finance, url(s, "claim_line_rebill", pk=rejected.pk), {"next": "episode"})
    assert again == (url(s, "episode_claims", pk=rejected.episode_id), ERROR)
    assert ClaimLine.unscoped.filter(episode_id=rejected.episode_id, phase=rejected.phase).count() == 2


def test_rebill_of_a_line_that_was_not_rejected_is_refused(s, finance, client_for, world_a):
    line = ClaimLine.unscoped.filter(tenant=s.tenant).first()
    assert act(finance, url(s, "claim_line_rebill", pk=line.pk)) == (url(s, "work_queue"), ERROR)
    assert ClaimLine.unscoped.filter(tenant=s.tenant).count() == PORTFOLIO_LINES
    assert (
        client_for(world_a.user(Role.IGO_ADMIN)).post(url(s, "claim_line_rebill", pk=line.pk)).status_code
        == 403
    )
