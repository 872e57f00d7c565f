"""Care-logging journeys in a real browser: a midwife on a busy shift, a maternity carer logging hours.

The clock stands at 17 June 2026, 11:00 in Amsterdam (summer time).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies import services
from pregnancies.catalogue import catalogue_seed
from pregnancies.models import AccessLogEntry, CareEvent, EventStatus, EventType
from tests.factories import ClientFactory, EpisodeFactory, InsurerFactory, TenantFactory
from tests.scenarios.browser import clinician, sign_in_to_tenant, typed_time
from tests.scenarios.clock import local

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.clock(local(2026, 6, 17, 11)),
]


def test_midwife_finds_client_logs_three_events_and_corrects_one(page: Page):
    tenant = TenantFactory(slug="igo-journey")
    catalogue_seed(tenant=tenant)
    midwife = clinician(tenant, Role.MIDWIFE, "midwife", "midwifery_practice", "vk@journey.test")
    today = timezone.localdate()
    client = ClientFactory(tenant=tenant, family_name="Zonneveld", given_names="Iris")
    episode = EpisodeFactory(
        tenant=tenant,
        client=client,
        intake_date=today - timedelta(weeks=10),
        due_date=today + timedelta(weeks=20),
        gestational_age_at_intake=70,
    )
    sign_in_to_tenant(page, midwife.email)

    page.get_by_role("link", name="Cliënten").or_(page.locator("[data-nav=clients]")).first.click()
    search = page.get_by_test_id("client-search")
    expect(search).to_be_visible()
    page.wait_for_load_state("load")  # htmx (a deferred script) listens before she types
    search.locator("[name=q]").fill("zonnev")
    # Typing shows how many clients match, no names (nothing read, nothing logged); Enter shows them.
    expect(page.get_by_test_id("search-preview")).to_contain_text("Eén cliënt komt overeen")
    assert "Zonneveld" not in page.get_by_test_id("search-preview").inner_text()
    search.locator("[name=q]").press("Enter")
    result = page.get_by_test_id("search-results").get_by_role("link", name="Zonneveld, Iris")
    expect(result).to_be_visible()
    assert client.bsn not in page.url and "zonnev" not in page.url  # the search is a POST
    result.click()
    page.get_by_role("link", name=episode.intake_date.strftime("%d-%m-%Y")).click()
    expect(page.get_by_test_id("timeline")).to_be_visible()

    form = page.get_by_test_id("event-form")
    pre_check = EventType.unscoped.get(tenant=tenant, code="PRE_CHECK")
    for days_ago in (14, 7, 1):
        form.locator("[name=event_type]").select_option(str(pre_check.pk))
        form.locator("[name=occurred_at]").fill(typed_time(today - timedelta(days=days_ago), "10:00"))
        form.locator("[name=note]").fill(f"Controle {days_ago} dagen geleden")
        form.locator("button[type=submit]").click()
        expect(page.get_by_test_id("event-row")).to_have_count({14: 1, 7: 2, 1: 3}[days_ago])
        form = page.get_by_test_id("event-form")  # htmx swapped in a fresh form with a new submission key
    assert "/events/" not in page.url  # no full reload: still on the episode page
    assert CareEvent.unscoped.filter(episode=episode, status=EventStatus.ACTIVE).count() == 3

    page.get_by_test_id("correct-link").first.click()
    correct = page.get_by_test_id("correct-form")
    correct.locator("[name=quantity]").fill("1")
    new_moment = typed_time(today - timedelta(days=15), "09:30")
    correct.locator("[name=occurred_at]").fill(new_moment)
    correct.locator("[name=change_reason]").fill("Verkeerde datum ingevoerd")
    correct.locator("button[type=submit]").click()
    expect(page.get_by_test_id("event-row")).to_have_count(3)
    events = CareEvent.unscoped.filter(episode=episode)
    assert events.count() == 4
    superseded = events.get(status=EventStatus.SUPERSEDED)
    assert superseded.change_reason == "Verkeerde datum ingevoerd"
    # The moment as typed, on the Amsterdam clock (in UTC, 09:30 in summer is 07:30).
    assert f"{timezone.localtime(superseded.superseded_by.occurred_at):%Y-%m-%dT%H:%M}" == new_moment
    assert AccessLogEntry.unscoped.filter(client=client, user=midwife, action="view").exists()


def test_maternity_carer_logs_hours_for_todays_clients(page: Page):
    tenant = TenantFactory(slug="igo-kraam")
    catalogue_seed(tenant=tenant)
    carer = clinician(tenant, Role.MATERNITY_CARER, "maternity_carer", "kraamzorg", "kz@kraam.test")
    midwife = clinician(tenant, Role.MIDWIFE, "midwife", "midwifery_practice", "vk@kraam.test")
    InsurerFactory()
    today = timezone.localdate()
    labour = timezone.now() - timedelta(days=2, hours=6)
    with tenant_scope(tenant):
        episode = EpisodeFactory(
            tenant=tenant,
            intake_date=today - timedelta(weeks=30),
            due_date=today + timedelta(days=2),
            gestational_age_at_intake=68,
        )
        services.episode_set_key_dates(
            episode=episode,
            actor=midwife,
            labour_started_at=labour,
            placenta_plus_2h_at=labour + timedelta(hours=6),
        )
        kz = EventType.objects.get(code="KZ_HOURS")
        services.care_event_log(
            actor=carer,
            episode=episode,
            event_type=kz,
            occurred_at=labour + timedelta(days=1),
            quantity=Decimal("7"),
        )
    sign_in_to_tenant(page, carer.email)
    page.locator("[data-nav=today]").click()
    card = page.get_by_test_id(f"today-{episode.pk}")
    expect(card).to_contain_text(episode.client.family_name)
    expect(page.get_by_test_id(f"hours-{episode.pk}")).to_contain_text("7")
    form = page.get_by_test_id(f"log-form-{episode.pk}")
    form.locator("[name=quantity]").fill("5.5")
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id(f"hours-{episode.pk}")).to_contain_text("12,5")
    assert "/today/" in page.url  # back on the day list, ready for the next client
    hours = CareEvent.unscoped.filter(episode=episode, event_type__code="KZ_HOURS", status=EventStatus.ACTIVE)
    assert sorted(e.quantity for e in hours) == [Decimal("5.50"), Decimal("7.00")]
