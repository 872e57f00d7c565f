"""Issue 17 on a phone (390 × 844) and a laptop (1366 × 768): every clinician page fits the window (the episode
page with the logging form before the timeline on the phone, beside it on the laptop), the administrator's
and finance's navigation stays on one row on the laptop, and a reload or a language switch after a refused
form shows the form's page, never a blank 405.

The clock stands at 16 September 2026, 11:00 in Amsterdam.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies import services
from pregnancies.catalogue import catalogue_seed
from pregnancies.models import CareEvent, Episode, EventType
from tests.factories import (
    ClientFactory,
    EpisodeFactory,
    InsurerFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
)
from tests.scenarios.browser import VIEWPORTS, assert_fits_viewport, clinician, sign_in_to_tenant, typed_time
from tests.scenarios.clock import local

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.clock(local(2026, 9, 16, 11)),
]

LONG_NOTE = (
    "Bloeddruk 125/80, fundushoogte past bij de termijn, hartactie foetus 140/min, geen oedeem; "
    "besproken: voeding, beweging, werk tot 34 weken, kraamzorg aangevraagd bij Kraamzorg Het Nest."
)


def _world() -> tuple[str, Episode, object, object]:
    tenant = TenantFactory(slug="igo-telefoon", name="Geboortezorg Regio Rijn en IJssel")
    catalogue_seed(tenant=tenant)
    InsurerFactory()
    midwife = clinician(tenant, Role.MIDWIFE, "midwife", "midwifery_practice", "vk@telefoon.test")
    today = timezone.localdate()
    client = ClientFactory(
        tenant=tenant, family_name="Schimmelpenninck van der Oye", given_names="Anna-Catharina"
    )
    episode = EpisodeFactory(
        tenant=tenant,
        client=client,
        intake_date=today - timedelta(weeks=20),
        due_date=today + timedelta(weeks=10),
        gestational_age_at_intake=70,
    )
    with tenant_scope(tenant):
        check = EventType.objects.get(code="PRE_CHECK")
        for days in (60, 30, 2):
            services.care_event_log(
                actor=midwife,
                episode=episode,
                event_type=check,
                occurred_at=timezone.now() - timedelta(days=days),
                note=LONG_NOTE,
            )
    return tenant.slug, episode, midwife, tenant


def _sign_in(page: Page, tenant, role: str, email: str) -> None:
    user = UserFactory(email=email)
    MembershipFactory(tenant=tenant, user=user, role=role)
    page.context.clear_cookies()
    sign_in_to_tenant(page, email)


def _open(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    page.wait_for_load_state("load")
    assert_fits_viewport(page)


@pytest.mark.parametrize("screen", VIEWPORTS)
def test_every_clinician_page_fits_and_the_form_comes_first_on_a_phone(page: Page, screen):
    slug, episode, midwife, tenant = _world()
    page.set_viewport_size(VIEWPORTS[screen])
    sign_in_to_tenant(page, midwife.email)
    assert_fits_viewport(page)

    # The search, with its results.
    _open(page, reverse("client_search", args=[slug]))
    search = page.get_by_test_id("client-search")
    search.locator("[name=q]").fill("schimmel")
    search.locator("[name=q]").press("Enter")
    expect(page.get_by_test_id("search-results")).to_contain_text("Schimmelpenninck")
    assert_fits_viewport(page)

    _open(page, reverse("client_detail", args=[slug, episode.client_id]))
    _open(page, reverse("care_today", args=[slug]))
    _open(page, reverse("episode_detail", args=[slug, episode.pk]))

    # The episode page: the logging form before the timeline on a phone, to its right on a laptop.
    form, timeline = page.get_by_test_id("event-form"), page.get_by_test_id("timeline")
    form_box, timeline_box = form.bounding_box(), timeline.bounding_box()
    assert form_box and timeline_box
    if screen == "phone":
        assert form_box["y"] < timeline_box["y"], "the logging form is below the timeline"
    else:
        assert form_box["x"] > timeline_box["x"] + timeline_box["width"] - 1, (
            "the form is not beside the timeline"
        )
        assert abs(form_box["y"] - timeline_box["y"]) < 80

    # Logging through htmx adds the row in place and keeps the page within the window.
    check = EventType.unscoped.get(tenant=episode.tenant, code="PRE_CHECK")
    form.locator("[name=event_type]").select_option(str(check.pk))
    form.locator("[name=occurred_at]").fill(typed_time(timezone.localdate() - timedelta(days=10), "10:00"))
    form.locator("[name=note]").fill(LONG_NOTE)
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("event-row")).to_have_count(4)
    assert "/events/" not in page.url
    assert_fits_viewport(page)
    # In time order: the new one (10 days ago) between 30 days ago and 2 days ago.
    rows = page.locator("table.timeline tbody").evaluate_all("els => els.map(e => e.id)")
    expected = CareEvent.unscoped.filter(episode=episode).order_by("occurred_at").values_list("pk", flat=True)
    assert rows == [f"event-{pk}" for pk in expected]

    event = CareEvent.unscoped.filter(episode=episode).order_by("occurred_at").first()
    assert event is not None
    _open(page, reverse("event_correct", args=[slug, event.pk]))
    _open(page, reverse("episode_history", args=[slug, episode.pk]))

    # The administrator's pages a clinician's record leads to: the access log, the catalogue.
    _sign_in(page, tenant, Role.IGO_ADMIN, "beheer@telefoon.test")
    _open(page, reverse("access_log", args=[slug]))
    _open(page, reverse("catalogue", args=[slug]))


def _nav_rows(page: Page) -> int:
    """How many rows the main navigation's items take."""
    tops = page.locator(".mainnav > a, .mainnav > details > summary").evaluate_all(
        "els => els.map(e => Math.round(e.getBoundingClientRect().top))"
    )
    return len(set(tops))


@pytest.mark.parametrize("screen", VIEWPORTS)
@pytest.mark.parametrize("role", [Role.IGO_ADMIN, Role.IGO_FINANCE])
def test_the_navigation_of_administrator_and_finance_stays_on_one_row(page: Page, screen, role):
    tenant = TenantFactory(slug="igo-nav", name="Geboortezorg Regio Rijn en IJssel")
    page.set_viewport_size(VIEWPORTS[screen])
    _sign_in(page, tenant, role, f"{role}@nav.test")
    assert_fits_viewport(page)
    topbar = page.locator(".topbar").bounding_box()
    assert topbar is not None
    if screen == "laptop":
        assert _nav_rows(page) == 1
        assert topbar["height"] < 70, f"the top bar is {topbar['height']} px high: it wraps"
    # What the role uses most stands on the bar, not under "More" (igo.context_processors).
    first = {
        Role.IGO_FINANCE: ["claims", "batches", "payouts", "revenue"],
        Role.IGO_ADMIN: ["dashboard", "members", "organisations", "professionals"],
    }[role]
    for key in first:
        expect(page.locator(f'.mainnav > a[data-nav="{key}"]')).to_be_visible()
    # Every item is reachable: the rest under "More", which opens within the window.
    page.get_by_test_id("nav-more").locator("summary").click()
    menu = page.locator(".navmore .menu")
    expect(menu).to_be_visible()
    box = menu.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORTS[screen]["width"]
    assert_fits_viewport(page)


@pytest.mark.parametrize("screen", VIEWPORTS)
def test_a_reload_or_language_switch_after_a_refused_form_shows_the_form(page: Page, screen):
    slug, episode, midwife, _tenant = _world()
    page.set_viewport_size(VIEWPORTS[screen])
    sign_in_to_tenant(page, midwife.email)
    episode_url = reverse("episode_detail", args=[slug, episode.pk])

    def refuse_a_birth() -> None:
        _open(page, episode_url)
        page.get_by_test_id("delivery-card").locator(":scope > summary").click()
        form = page.get_by_test_id("delivery-form")
        # Two days before the intake: the service refuses it at the field (the browser cannot know).
        before = episode.intake_date - timedelta(days=2)
        form.locator("[name=labour_started_at]").fill(typed_time(before, "08:00"))
        form.locator("[name=born_at_1]").fill(typed_time(before, "10:00"))
        form.locator("[name=placenta_at]").fill(typed_time(before, "10:20"))
        form.locator("button[type=submit]").click()
        expect(page.get_by_test_id("delivery-form").locator(".errorlist").first).to_be_visible()
        assert page.url.endswith("/delivery/")  # the browser is on the POST-only address
        assert_fits_viewport(page)

    refuse_a_birth()
    # A reload of that address (a GET) shows the episode page with the form, not a blank 405.
    response = page.goto(page.url)
    assert response is not None and response.status == 200
    assert page.url.endswith(f"{episode_url}#delivery")
    expect(page.get_by_test_id("delivery-form")).to_be_attached()
    expect(page.get_by_test_id("event-form")).to_be_visible()

    # The language switch from the refused form lands on the episode page, now in English.
    refuse_a_birth()
    page.get_by_test_id("lang-en").click()
    expect(page.get_by_test_id("lang-en")).to_have_class(r"linkish active")
    assert page.url.split("#")[0].endswith(episode_url)
    expect(page.get_by_role("heading", name="Log care")).to_be_visible()
    assert_fits_viewport(page)
    page.get_by_test_id("lang-nl").click()
    expect(page.get_by_role("heading", name="Zorg registreren")).to_be_visible()
