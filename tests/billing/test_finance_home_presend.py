"""The finance home's "Ready to send" is what the next batch carries: a ready line the pre-send check held
back (an open pre-send work item on its phase) is shown apart ("held back by the pre-send check: N lines,
€ X", linking to the work queue), not in the card, until the check lets it through.

The world is tests.scenarios.repricing: born in January (three lines, 3600.00) and a miscarriage in
February without an insured number; billed on 21 February, February's batch made on 25 February."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing.models import BatchLine, ClaimLine, WorkItem, WorkReason
from billing.services.batches import batch_create
from igo.tenancy import tenant_scope
from tests.scenarios.clock import travel
from tests.scenarios.month_end import assert_desk_agrees, at, books, desk
from tests.scenarios.payouts import PayoutWorld, bill, send_batch
from tests.scenarios.repricing import born_in_january, miscarriage_in_february, repricing_world

pytestmark = [pytest.mark.dated, pytest.mark.clock(at(2027, 1, 2))]
D = Decimal
FEB, MAR = dt.date(2027, 2, 1), dt.date(2027, 3, 1)


@pytest.fixture
def pw(world_a) -> PayoutWorld:
    return repricing_world(world_a)


@pytest.fixture
def held_line(pw) -> ClaimLine:
    born_in_january(pw)
    miscarriage = miscarriage_in_february(pw, policy="")  # no insured number: the pre-send check holds it
    bill(pw, at(2027, 2, 21))
    feb = send_batch(pw, FEB, at(2027, 2, 25))
    assert BatchLine.unscoped.filter(batch=feb).count() == 3 and feb.total == D("3600.00")
    line = ClaimLine.unscoped.get(episode=miscarriage, is_current=True)
    assert WorkItem.unscoped.filter(
        episode=miscarriage, reason=WorkReason.PRESEND_POLICY, resolved_at__isnull=True
    ).exists()
    return line


def test_the_ready_card_leaves_out_a_line_the_pre_send_check_holds(pw, held_line):
    d = desk(pw, at(2027, 2, 26))
    assert_desk_agrees(d)  # the card counts the claims list it opens
    assert (d.home.ready.lines, d.home.ready.total) == (0, D("0.00"))
    assert (d.home.held.lines, d.home.held.total) == (1, held_line.amount)
    books(pw, dt.date(2027, 2, 26))
    # The next batch carries what the card said: nothing (the line is held again).
    with travel(at(2027, 3, 25)), tenant_scope(pw.tenant):
        result = batch_create(tenant=pw.tenant, insurer=pw.zk, period=MAR, actor=pw.finance, today=MAR)
    assert (result.batch, result.held) == (None, 1)


def test_the_home_shows_the_held_lines_apart_with_a_link_to_the_work_queue(pw, held_line, client_for):
    with travel(at(2027, 2, 26)):
        client = client_for(pw.finance)
        html = client.get(f"/t/{pw.tenant.slug}/finance/").content.decode()
        listed = client.get(f"/t/{pw.tenant.slug}/claims/", {"status": "ready", "sendable": "on"})
    assert 'data-testid="home-ready-held"' in html
    assert "Tegengehouden door de controle vóór verzending: 1 regel" in html
    assert f'<a href="/t/{pw.tenant.slug}/work-queue/">Tegengehouden' in html
    assert listed.status_code == 200 and 'data-lines="0"' in listed.content.decode()
