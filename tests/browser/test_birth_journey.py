"""A home birth recorded once, then a postnatal visit logged the same afternoon (issue 17), on a phone and on
a laptop: the one delivery form sets the phases, so the visit at 14:00 is accepted without touching any
other date.

The clock stands at 10 November 2026, 16:00 in Amsterdam; labour began at 01:30, the child was born at
05:40 and the placenta at 06:00, so the postnatal phase begins at 08:00.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from igo.models import Role
from pregnancies.catalogue import catalogue_seed
from pregnancies.models import Birth, CareEvent, Episode, EventStatus, EventType
from tests.factories import ClientFactory, EpisodeFactory, TenantFactory
from tests.scenarios.birth_record import BIRTH
from tests.scenarios.browser import VIEWPORTS, assert_fits_viewport, clinician, sign_in_to_tenant, typed_time
from tests.scenarios.care_logging import form_dt
from tests.scenarios.clock import local

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.clock(BIRTH.afternoon),
]

DAY = BIRTH.day


def a_pregnancy_at_term() -> tuple[str, Episode, str]:
    tenant = TenantFactory(slug="igo-birth")
    catalogue_seed(tenant=tenant)
    midwife = clinician(tenant, Role.MIDWIFE, "midwife", "midwifery_practice", "vk@birth.test")
    episode = EpisodeFactory(
        tenant=tenant,
        client=ClientFactory(tenant=tenant, family_name="Bakker", given_names="Lotte"),
        intake_date=DAY - timedelta(weeks=28),
        due_date=DAY + timedelta(days=3),
        gestational_age_at_intake=84,
    )
    return midwife.email, episode, f"/t/{tenant.slug}/episodes/{episode.pk}/"


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_a_home_birth_recorded_once_then_a_postnatal_visit(page: Page, viewport: str):
    page.set_viewport_size(VIEWPORTS[viewport])
    email, episode, url = a_pregnancy_at_term()
    sign_in_to_tenant(page, email)
    page.goto(url)

    card = page.get_by_test_id("delivery-card")
    card.locator(":scope > summary").click()
    form = page.get_by_test_id("delivery-form")
    form.locator("[name=labour_started_at]").fill(form_dt(BIRTH.labour))
    form.locator("[name=born_at_1]").fill(form_dt(BIRTH.born))
    form.locator("[name=weight_grams_1]").fill("3450")
    form.locator("[name=placenta_at]").fill(form_dt(BIRTH.placenta))
    form.locator("[name=place]").select_option("home")
    form.locator("[name=line]").select_option("first")
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("birth-row")).to_have_count(1)
    expect(page.get_by_test_id("delivery-phases")).to_contain_text("10-11-2026 08:00")

    # The delivery was logged once, for her: no separate "Bevalling thuis" to enter.
    deliveries = CareEvent.unscoped.filter(episode=episode, event_type__code="DELIV_HOME")
    assert [(e.status, e.phase) for e in deliveries] == [(EventStatus.ACTIVE, "natal")]
    assert Birth.unscoped.filter(episode=episode).count() == 1

    visit = EventType.unscoped.get(tenant=episode.tenant, code="POST_VISIT")
    logging = page.get_by_test_id("event-form")
    logging.locator("[name=event_type]").select_option(str(visit.pk))
    logging.locator("[name=occurred_at]").fill(typed_time(DAY, "14:00"))
    logging.locator("button[type=submit]").click()
    expect(page.get_by_test_id("event-row")).to_have_count(2)
    logged = CareEvent.unscoped.get(episode=episode, event_type=visit)
    assert (logged.phase, logged.occurred_at) == ("postnatal", local(2026, 11, 10, 14))


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_the_page_with_the_delivery_form_fits_the_screen(page: Page, viewport: str):
    page.set_viewport_size(VIEWPORTS[viewport])
    email, _episode, url = a_pregnancy_at_term()
    sign_in_to_tenant(page, email)
    page.goto(url)
    page.get_by_test_id("delivery-card").locator(":scope > summary").click()
    expect(page.get_by_test_id("delivery-form")).to_be_visible()
    assert_fits_viewport(page)
    # A third and fourth child fold away under "Nog een kind"; opened, the page still fits.
    more = page.get_by_test_id("more-children")
    expect(page.get_by_test_id("delivery-form").locator("[name=born_at_3]")).to_be_hidden()
    more.locator("summary").click()
    expect(page.get_by_test_id("delivery-form").locator("[name=born_at_3]")).to_be_visible()
    expect(page.get_by_test_id("child-4")).to_contain_text("Kind 4 geboren om")
    assert_fits_viewport(page)
