"""A former member that credits leave below nothing: the payout run carries its debt over, and since no later
payout will net it off, a work item asks finance to settle it outside the platform (tests.scenarios.payouts has
the world and the split of each line by hand: postnatal 1500.00 → practice 418.50, kraamzorg 976.50).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from billing.models import PayoutRun, WorkItem, WorkReason
from billing.services.payouts import payout_run_discard, payout_run_release
from billing.services.work_items import work_item_resolve_by_hand
from igo.models import AuditEntry
from igo.tenancy import tenant_scope
from tests.scenarios.clock import travel
from tests.scenarios.former_member import debt_items, kraam_in_debt_after_april, late_postnatal_billed_in_may
from tests.scenarios.month_end import books
from tests.scenarios.payouts import (
    D,
    accept_all,
    at,
    bill,
    completed_pregnancy,
    paid,
    payout_world,
    prepare,
    send_batch,
)

pytestmark = [pytest.mark.django_db, pytest.mark.dated]

MAR, APR, MAY = dt.date(2027, 3, 1), dt.date(2027, 4, 1), dt.date(2027, 5, 1)


def test_a_former_member_carried_over_below_nothing_gets_one_work_item(world_a, client_for):
    story = kraam_in_debt_after_april(world_a, member_until=dt.date(2027, 4, 15))
    pw = story.pw
    [item] = debt_items(pw)
    assert (item.amount, item.resolved_at, item.episode_id) == (D("65.10"), None, None)
    assert "Kraamzorg Noord" in item.message and "€ 65,10" in item.message
    assert "vraag om terugbetaling" in item.message and "15-04-2027" in item.message
    assert AuditEntry.objects.get(action="payout_run.prepare", object_id=str(story.april.pk)).details[
        "former_member_debt"
    ] == [pw.kraam.pk]
    books(pw, dt.date(2027, 5, 4))
    # Discarded and prepared again: still the one item, not a second.
    with tenant_scope(pw.tenant):
        payout_run_discard(run=story.april, actor=pw.finance)
    prepare(pw, APR, at(2027, 5, 5))
    assert [(i.pk, i.amount, i.resolved_at) for i in debt_items(pw)] == [(item.pk, D("65.10"), None)]
    # Finance sees it on its home and in the work queue, named and with its amount.
    with travel(at(2027, 5, 5, 11)):
        queue = client_for(pw.finance).get(f"/t/{pw.tenant.slug}/work-queue/?reason=former_member_debt")
        home = client_for(pw.finance).get(f"/t/{pw.tenant.slug}/finance/")
    html = queue.content.decode()
    assert f'data-testid="work-item-organisation-{item.pk}"' in html and "Kraamzorg Noord" in html
    assert "65,10" in html
    assert "reason=former_member_debt" in home.content.decode()
    books(pw, dt.date(2027, 5, 5))


def test_a_current_member_below_nothing_gets_no_work_item(world_a):
    # Still a member: its next payouts take the debt back.
    story = kraam_in_debt_after_april(world_a, member_until=None)
    assert debt_items(story.pw) == []
    books(story.pw, dt.date(2027, 5, 4))


def test_a_membership_ending_on_the_months_last_day_gets_no_work_item_yet(world_a):
    # A member until 30 April is still one on the April run's last day.
    story = kraam_in_debt_after_april(world_a, member_until=dt.date(2027, 4, 30))
    assert debt_items(story.pw) == []


def test_the_balance_back_above_nothing_resolves_the_item(world_a):
    story = kraam_in_debt_after_april(world_a, member_until=dt.date(2027, 4, 15))
    pw = story.pw
    with tenant_scope(pw.tenant):
        payout_run_release(run=story.april, actor=pw.finance_b)
    # The March birth's postnatal care (ended 10 April, before the membership ended) is recorded late and
    # billed in May: kraamzorg 911.40, and −65.10 + 911.40 = 846.30 is paid in May's run.
    may = late_postnatal_billed_in_may(story)
    assert paid(may)["Kraamzorg Noord"] == D("846.30")
    [item] = debt_items(pw)
    assert item.resolved_at is not None and item.resolution_note == ""
    books(pw, dt.date(2027, 6, 2))


def test_finance_resolves_the_item_by_hand_with_a_note(world_a):
    pw = kraam_in_debt_after_april(world_a, member_until=dt.date(2027, 4, 15)).pw
    [item] = debt_items(pw)
    with travel(at(2027, 5, 10)), tenant_scope(pw.tenant):
        with pytest.raises(ValidationError) as exc:
            work_item_resolve_by_hand(item=item, actor=pw.finance, note="  ")
        assert "note" in exc.value.message_dict
        done = work_item_resolve_by_hand(item=item, actor=pw.finance, note="Terugbetaald op 8-5-2027")
        with pytest.raises(ValidationError) as exc:
            work_item_resolve_by_hand(item=done, actor=pw.finance, note="nog eens")
        assert "note" in exc.value.message_dict
    assert done.resolved_at is not None and done.resolution_note == "Terugbetaald op 8-5-2027"
    entry = AuditEntry.objects.get(action="work_item.resolve", object_id=str(item.pk))
    assert entry.details["note"] == "Terugbetaald op 8-5-2027" and entry.details["amount"] == "65.10"
    # The entries stay unpaid in the ledger: the next run does not open the settled debt again.
    with tenant_scope(pw.tenant):
        payout_run_release(run=PayoutRun.unscoped.get(period=APR, tenant=pw.tenant), actor=pw.finance_b)
    with pytest.raises(ValidationError):  # May: nothing new to pay anyone
        prepare(pw, MAY, at(2027, 6, 2))
    assert [(i.pk, i.resolved_at is not None) for i in debt_items(pw)] == [(item.pk, True)]


def test_another_reason_is_not_resolved_by_hand(world_a):
    pw = payout_world(world_a)  # the kraamzorg has no bank account: a NO_IBAN item after November
    completed_pregnancy(pw)
    bill(pw, at(2026, 11, 2))
    accept_all(send_batch(pw, dt.date(2026, 11, 1), at(2026, 11, 20)), at(2026, 11, 25))
    prepare(pw, dt.date(2026, 11, 1), at(2026, 12, 3))
    item = WorkItem.unscoped.get(organisation=pw.kraam, reason=WorkReason.NO_IBAN)
    with tenant_scope(pw.tenant), pytest.raises(ValidationError):
        work_item_resolve_by_hand(item=item, actor=pw.finance, note="Opgelost")
    item.refresh_from_db()
    assert item.resolved_at is None


def test_finance_resolves_it_from_the_work_queue_with_a_note(world_a, client_for):
    pw = kraam_in_debt_after_april(world_a, member_until=dt.date(2027, 4, 15)).pw
    [item] = debt_items(pw)
    base = f"/t/{pw.tenant.slug}"
    with travel(at(2027, 5, 10, 11)):
        client = client_for(pw.finance)
        assert (
            f'href="{base}/work-queue/{item.pk}/resolve/"'
            in client.get(f"{base}/work-queue/").content.decode()
        )
        page = client.get(f"{base}/work-queue/{item.pk}/resolve/")
        assert page.status_code == 200 and "65,10" in page.content.decode()
        refused = client.post(f"{base}/work-queue/{item.pk}/resolve/", {"note": "   "})
        assert refused.status_code == 400 and list(refused.context["form"].errors) == ["note"]
        item.refresh_from_db()
        assert item.resolved_at is None
        done = client.post(f"{base}/work-queue/{item.pk}/resolve/", {"note": "Terugbetaald op 8-5-2027"})
        assert done.status_code == 302 and done["Location"] == f"{base}/work-queue/"
        # Resolved: the address answers 404, and the queue no longer lists it.
        assert client.get(f"{base}/work-queue/{item.pk}/resolve/").status_code == 404
        assert f"work-item-{item.pk}" not in client.get(f"{base}/work-queue/").content.decode()
    item.refresh_from_db()
    assert item.resolution_note == "Terugbetaald op 8-5-2027"
    assert AuditEntry.objects.filter(
        action="work_item.resolve", object_id=str(item.pk), actor=pw.finance
    ).exists()
