"""Claim lines on the finance screens: the work queue without care records, an amount explained to the
cent (split, partial trajectory, resplit, credit and rebill), the claim list, revenue per member per
month, and a billing run started from the page.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
from django.core.cache import cache
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from billing import services
from billing.models import Allocation, ClaimLine, LineStatus, WorkItem
from billing.tasks import billing_run, progress_key
from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies.models import AccessLogEntry, CareEvent, ClientInsurance, Episode
from tests.factories import CareEventFactory, EpisodeFactory, InsurerFactory, ProfessionalFactory
from tests.scenarios.billing import BILLING_NOW, at
from tests.scenarios.finance import NOTE, Fin, full_trajectory
from tests.scenarios.http import api, row

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BILLING_NOW)]


def test_work_queue_shows_client_episode_reason_and_message_but_no_care_record(fin, client_for):
    vgz = InsurerFactory(uzovi_code="7095", name="VGZ")
    ep = EpisodeFactory(
        tenant=fin.tenant,
        intake_date=dt.date(2026, 2, 1),
        due_date=dt.date(2026, 9, 1),
        gestational_age_at_intake=70,
        labour_started_at=at(2026, 8, 30, 8),
    )
    fin.insure(ep, vgz)
    CareEventFactory(
        tenant=fin.tenant,
        episode=ep,
        event_type=fin.types["PRE_CHECK"],
        professional=ProfessionalFactory(tenant=fin.tenant, organisation=fin.practice),
        occurred_at=at(2026, 3, 1),
        note=NOTE,
    )
    fin.run()
    item = WorkItem.unscoped.get(episode=ep)
    html = client_for(fin.finance).get(fin.url("work_queue")).content.decode()
    text = unescape(row(html, f"work-item-{item.pk}"))
    assert ep.client.given_names in text and ep.client.family_name in text and f"#{ep.pk}" in text
    assert "Geen contract met de verzekeraar" in text and "Prenataal" in text
    assert item.message in text
    assert fin.url("episode_claims", pk=ep.pk) in html
    assert fin.url("episode_detail", pk=ep.pk) not in html  # finance may not open the care record
    assert NOTE not in html and ep.client.bsn not in html
    # The same item shows on the episode's claims page.
    claims = client_for(fin.finance).get(fin.url("episode_claims", pk=ep.pk)).content.decode()
    assert "Geen contract met de verzekeraar" in row(claims, "episode-work-items")


def test_explain_a_postnatal_line_to_the_cent(fin, client_for):
    ep = full_trajectory(fin)
    fin.run()
    line = ClaimLine.unscoped.get(episode=ep, phase="postnatal")
    client = client_for(fin.finance)
    claims = client.get(fin.url("episode_claims", pk=ep.pk)).content.decode()
    assert "€&nbsp;1.500,00" in row(claims, f"line-{line.pk}").replace(" ", "&nbsp;", 1) or "1.500,00" in row(
        claims, f"line-{line.pk}"
    )
    assert fin.url("claim_line_explain", pk=line.pk) in claims

    response = client.get(fin.url("claim_line_explain", pk=line.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert "IGBPOS" in row(html, "explain-line") and "30-08-2026 – 10-10-2026" in row(html, "explain-line")
    assert row(html, "explain-contract").startswith("ZK 2026 · 01-01-2026")
    assert row(html, "explain-tariff") == "€ 1.500,00"
    assert row(html, "explain-amount") == "€ 1.500,00"
    assert 'data-testid="explain-percentage"' not in html  # the whole trajectory: no percentage
    # The care: 49 kraamzorg hours × € 35 = 1715 points, one postnatal visit × € 60 = 60 points.
    kz = CareEvent.unscoped.get(episode=ep, event_type=fin.types["KZ_HOURS"])
    visit = CareEvent.unscoped.get(episode=ep, event_type=fin.types["POST_VISIT"])
    assert row(html, f"explain-event-{kz.pk}") == (
        "31-08-2026 12:00 KZ_HOURS Kraamzorg (uren) 49 uur Kraamzorg Noord € 35,00 1.715"
    )
    assert row(html, f"explain-event-{visit.pk}").endswith("Praktijk De Wieg € 60,00 60")
    assert row(html, "explain-total-points") == "1.775"
    # The division: the split rule's 5% overhead and 2% reserve, 93% to the members; the practice gets its
    # 10% minimum.
    assert row(html, "alloc-overhead") == "IGO-overhead 5,00% van de regel (verdeelmodel) € 75,00"
    assert row(html, "alloc-reserve") == "Risicoreserve 2,00% van de regel (verdeelmodel) € 30,00"
    assert row(html, f"alloc-member-{fin.practice.pk}") == (
        "Praktijk De Wieg 60 van 1.775 punten (3,38%) → gegarandeerd minimum 10,00% ; aandeel 10,00% € 139,50"
    )
    assert row(html, f"alloc-member-{fin.kraam.pk}") == (
        "Kraamzorg Noord 1.715 van 1.775 punten (96,62%); aandeel 90,00% € 1.255,50"
    )
    assert row(html, "alloc-total") == "€ 1.500,00"
    assert "€ 1.395,00" in row(html, "explain-allocations")  # the members' part
    # History: one line, this one. No note text, no BSN; the view is access-logged.
    assert line.number in row(html, "explain-history")
    assert NOTE not in html and ep.client.bsn not in html and "bsn" not in html.lower()
    assert AccessLogEntry.unscoped.filter(
        user=fin.finance, client=ep.client, object_type="claimline", object_id=str(line.pk)
    ).exists()


def test_explain_a_fixed_split_and_a_partial_trajectory(fin, client_for):
    ep = full_trajectory(fin)
    fin.run()
    natal = ClaimLine.unscoped.get(episode=ep, phase="natal")
    html = client_for(fin.admin).get(fin.url("claim_line_explain", pk=natal.pk)).content.decode()
    assert "vaste verdeling" in row(html, "explain-fixed")
    assert row(html, f"alloc-member-{fin.practice.pk}") == "Praktijk De Wieg vast aandeel 60,00% € 502,20"
    assert row(html, f"alloc-member-{fin.hospital.pk}") == "Ziekenhuis Oost vast aandeel 40,00% € 334,80"

    early = EpisodeFactory(
        tenant=fin.tenant,
        intake_date=dt.date(2026, 3, 2),
        due_date=dt.date(2026, 10, 26),
        gestational_age_at_intake=56,
        status="ended",
        end_date=dt.date(2026, 3, 23),
        end_reason="miscarriage",
    )
    fin.insure(early)
    CareEventFactory(
        tenant=fin.tenant,
        episode=early,
        event_type=fin.types["PRE_CHECK"],
        professional=ProfessionalFactory(tenant=fin.tenant, organisation=fin.practice),
        occurred_at=at(2026, 3, 2),
    )
    fin.run()
    line = ClaimLine.unscoped.get(episode=early)
    html = client_for(fin.finance).get(fin.url("claim_line_explain", pk=line.pk)).content.decode()
    assert row(html, "explain-percentage").endswith("€ 1.200,00 × 50,00% = € 600,00")
    assert "Miskraam" in row(html, "explain-percentage")
    assert row(html, "alloc-overhead").endswith("€ 30,00") and row(html, "alloc-reserve").endswith("€ 12,00")
    assert row(html, f"alloc-member-{fin.practice.pk}").endswith("aandeel 100,00% € 558,00")


def _late_care_episode(fin: Fin) -> tuple[Episode, ClientInsurance, Any, Any]:
    ep = EpisodeFactory(
        tenant=fin.tenant,
        intake_date=dt.date(2026, 2, 1),
        due_date=dt.date(2026, 9, 1),
        gestational_age_at_intake=70,
        labour_started_at=at(2026, 8, 30, 8),
    )
    insurance = ClientInsurance.unscoped.create(
        tenant=fin.tenant, client=ep.client, insurer=fin.zk, policy_number="5", valid_from=dt.date(2026, 1, 1)
    )
    mw = ProfessionalFactory(tenant=fin.tenant, organisation=fin.practice)
    gyn = ProfessionalFactory(tenant=fin.tenant, organisation=fin.hospital, discipline="gynaecologist")
    CareEventFactory(
        tenant=fin.tenant,
        episode=ep,
        event_type=fin.types["PRE_CHECK"],
        professional=mw,
        occurred_at=at(2026, 3, 1),
    )
    return ep, insurance, mw, gyn


def touch(ep: Episode) -> None:
    Episode.unscoped.filter(pk=ep.pk).update(changed_at=timezone.now())


def test_resplit_and_credit_and_rebill_history_is_explained(fin, client_for):
    ep, insurance, _mw, gyn = _late_care_episode(fin)
    fin.run()
    first = ClaimLine.unscoped.get(episode=ep)
    with tenant_scope(fin.tenant):
        services.claim_lines_mark_sent(lines=[first])
    # The hospital's echo is logged late: the same line is divided again, the first division is kept.
    CareEventFactory(
        tenant=fin.tenant,
        episode=ep,
        event_type=fin.types["ECHO_SEO"],
        professional=gyn,
        occurred_at=at(2026, 6, 1),
    )
    touch(ep)
    fin.run()
    client = client_for(fin.finance)
    html = client.get(fin.url("claim_line_explain", pk=first.pk)).content.decode()
    # Members' 1116.00 split 50 : 120 points.
    assert row(html, f"alloc-member-{fin.practice.pk}").endswith("€ 328,24")
    assert row(html, f"alloc-member-{fin.hospital.pk}").endswith("€ 787,76")
    assert row(html, "alloc-total") == "€ 1.200,00"
    earlier = row(html, "explain-earlier-splits")
    assert "1 eerdere verdeling" in earlier and "Praktijk De Wieg € 1.116,00" in earlier
    parts = api(fin.finance).get(fin.api(f"claim-lines/{first.pk}/allocations/?include_history=true")).json()
    assert [(a["is_current"], a["organisation"], a["amount"]) for a in parts if a["kind"] == "member"] == [
        (True, fin.practice.pk, "328.24"),
        (True, fin.hospital.pk, "787.76"),
        (False, fin.practice.pk, "1116.00"),
    ]
    assert len(api(fin.finance).get(fin.api(f"claim-lines/{first.pk}/allocations/")).json()) == 4
    # The insured number was wrong: the sent line is credited and a corrected line is billed.
    ClaimLine.unscoped.filter(pk=first.pk).update(status=LineStatus.SENT)
    ClientInsurance.unscoped.filter(pk=insurance.pk).update(policy_number="55")
    touch(ep)
    fin.run()
    _first, credit, rebill = ClaimLine.unscoped.filter(episode=ep).order_by("pk")
    assert (credit.sign, credit.corrects_id, rebill.is_current) == ("credit", first.pk, True)
    html = client.get(fin.url("claim_line_explain", pk=rebill.pk)).content.decode()
    history = row(html, "explain-history")
    assert first.number in history and credit.number in history and rebill.number in history
    assert "€ -1.200,00" in row(html, f"line-{credit.pk}") and "verstuurd" in row(html, f"line-{first.pk}")
    assert row(html, f"alloc-member-{fin.practice.pk}").endswith("€ 328,24")
    credit_html = client.get(fin.url("claim_line_explain", pk=credit.pk)).content.decode()
    assert first.number in row(credit_html, "explain-credit")
    assert row(credit_html, f"alloc-member-{fin.hospital.pk}").endswith("€ -787,76")
    assert row(credit_html, "alloc-total") == "€ -1.200,00"
    assert 'data-testid="explain-events"' not in credit_html


def test_explaining_another_tenants_line_is_404(fin, world_b, client_for):
    ep = full_trajectory(fin)
    fin.run()
    line = ClaimLine.unscoped.filter(episode=ep).first()
    finance_b = world_b.user(Role.IGO_FINANCE)
    url = reverse("claim_line_explain", kwargs={"tenant_slug": world_b.tenant.slug, "pk": line.pk})
    assert client_for(finance_b).get(url).status_code == 404
    url = reverse("episode_claims", kwargs={"tenant_slug": world_b.tenant.slug, "pk": ep.pk})
    assert client_for(finance_b).get(url).status_code == 404


def test_claim_list_shows_episodes_with_their_current_total(fin, client_for):
    ep = full_trajectory(fin)
    fin.run()
    html = client_for(fin.finance).get(fin.url("claim_list")).content.decode()
    text = unescape(row(html, f"claim-episode-{ep.pk}"))  # a generated name may hold an apostrophe
    assert f"#{ep.pk}" in text and ep.client.family_name in text and "€ 3.600,00" in text
    assert 'data-testid="run-billing"' in html
    assert (
        'data-testid="run-billing"' not in client_for(fin.admin).get(fin.url("claim_list")).content.decode()
    )


def test_revenue_per_member_per_month_is_the_ledgers_months(fin, client_for):
    ep, insurance, mw, gyn = _late_care_episode(fin)
    fin.run()
    # Changed before sending: the first line is withdrawn and must not count.
    ClientInsurance.unscoped.filter(pk=insurance.pk).update(policy_number="6")
    touch(ep)
    fin.run()
    assert ClaimLine.unscoped.filter(episode=ep, status=LineStatus.WITHDRAWN).count() == 1
    sent = ClaimLine.unscoped.get(episode=ep, is_current=True)
    with tenant_scope(fin.tenant):
        services.claim_lines_mark_sent(lines=[sent])
    # Late care re-splits the sent line (the superseded division must not count) ...
    CareEventFactory(
        tenant=fin.tenant,
        episode=ep,
        event_type=fin.types["PRE_CHECK"],
        professional=gyn,
        occurred_at=at(2026, 4, 1),
    )
    touch(ep)
    fin.run()
    # ... and a claim change credits it and bills it again: sent line, credit and new line all count.
    ClientInsurance.unscoped.filter(pk=insurance.pk).update(policy_number="7")
    touch(ep)
    fin.run()
    signs = list(ClaimLine.unscoped.filter(episode=ep).order_by("pk").values_list("sign", "status"))
    assert signs == [("debit", "withdrawn"), ("debit", "sent"), ("credit", "ready"), ("debit", "ready")]
    # In an active episode without lines, the practice logged care twice.
    waiting = EpisodeFactory(tenant=fin.tenant)
    CareEventFactory(tenant=fin.tenant, episode=waiting, event_type=fin.types["PRE_CHECK"], professional=mw)
    CareEventFactory(tenant=fin.tenant, episode=waiting, event_type=fin.types["PRE_CHECK"], professional=mw)

    html = client_for(fin.finance).get(fin.url("revenue")).content.decode()

    # 1200.00: overhead 60.00, reserve 24.00, members 1116.00 split 50 : 50 points, booked this month (the
    # withdrawn line made and reversed, the sent line's first split superseded, its credit and the new line:
    # the ledger's entries of the month add up to the net claim). Nothing held back or paid out yet.
    def cells(amount: str, paid: str = "€ 0,00") -> str:
        months = ["–"] * 12
        months[timezone.localdate().month - 1] = amount
        return " ".join([*months, amount, "–", amount, paid])

    assert row(html, f"revenue-member-{fin.practice.pk}") == f"Praktijk De Wieg {cells('€ 558,00')}"
    assert row(html, f"revenue-member-{fin.hospital.pk}") == f"Ziekenhuis Oost {cells('€ 558,00')}"
    assert row(html, "revenue-overhead") == f"IGO-overhead {cells('€ 60,00', paid='–')}"
    assert row(html, "revenue-reserve") == f"Risicoreserve {cells('€ 24,00', paid='–')}"
    assert row(html, "revenue-total") == "€ 1.200,00"
    assert row(html, "revenue-held") == "€ 0,00" and row(html, "revenue-net") == "€ 1.200,00"
    assert row(html, "wip-episodes") == "1"
    assert row(html, f"wip-{fin.practice.pk}") == "Praktijk De Wieg 1 2"
    # Without the superseded parts and the withdrawn line, every part adds up to the net claim.
    net = (
        Allocation.unscoped.filter(claim_line__episode=ep, is_current=True)
        .exclude(claim_line__status=LineStatus.WITHDRAWN)
        .aggregate(t=Sum("amount"))["t"]
    )
    assert net == Decimal("1200.00")


def test_run_billing_now_enqueues_the_task_and_progress_polls(
    fin, client_for, django_capture_on_commit_callbacks
):
    ep = full_trajectory(fin)
    cache.delete(progress_key(fin.tenant.pk))
    client = client_for(fin.finance)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(fin.url("billing_run_start"), HTTP_HX_REQUEST="true")
    assert len(callbacks) == 1  # enqueued once the request commits (a real worker is tested elsewhere)
    html = response.content.decode()
    assert response.status_code == 200 and 'hx-trigger="every 2s"' in html and "queued=1" in html
    billing_run.apply(args=[fin.tenant.pk])  # what the worker does with the message, here in-process
    assert ClaimLine.unscoped.filter(episode=ep).count() == 3
    done = client.get(fin.url("billing_run_progress")).content.decode()
    assert "hx-trigger" not in done and "Laatste facturatierun" in done
    # While a run is busy, the bar shows how far it is and keeps polling.
    cache.set(progress_key(fin.tenant.pk), {"done": 250, "total": 500, "running": True}, 60)
    busy = client.get(fin.url("billing_run_progress")).content.decode()
    assert 'hx-trigger="every 2s"' in busy and 'value="50"' in busy and "250" in busy and "500" in busy
    # Without htmx the button redirects back to the claims page.
    with django_capture_on_commit_callbacks(execute=False):
        plain = client.post(fin.url("billing_run_start"))
    assert plain.status_code == 302 and plain["Location"] == fin.url("claim_list")
    cache.delete(progress_key(fin.tenant.pk))
