"""A second pregnancy for a known client, in a real browser, on a phone and on a laptop (issue 17): the
midwife finds her, opens her page, starts a new pregnancy with gravida and parity proposed from the first,
dates it by the last period (the page shows the due date it gives while she types) and lands on the new
episode with its weeks of pregnancy today. No page is wider than the window.

The clock stands at 14 October 2026, 11:00 in Amsterdam.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from igo.models import Role
from pregnancies.catalogue import catalogue_seed
from pregnancies.dating import due_date_from_lmp, gestational_age_on
from pregnancies.models import Birth, CareEvent, Episode
from tests.factories import ClientFactory, EpisodeFactory, TenantFactory
from tests.scenarios.browser import VIEWPORTS, assert_fits_viewport, clinician, sign_in_to_tenant
from tests.scenarios.clock import local

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.clock(local(2026, 10, 14, 11)),
]


@pytest.mark.parametrize("viewport", VIEWPORTS.values(), ids=VIEWPORTS.keys())
def test_midwife_starts_a_second_pregnancy_for_a_known_client(page: Page, viewport):
    page.set_viewport_size(viewport)
    tenant = TenantFactory(slug="igo-second")
    catalogue_seed(tenant=tenant)
    midwife = clinician(tenant, Role.MIDWIFE, "midwife", "midwifery_practice", "vk@second.test")
    today = timezone.localdate()
    client = ClientFactory(tenant=tenant, family_name="Zonneveld", given_names="Iris")
    # Her first pregnancy: a daughter born at term two years ago, care ended six weeks later.
    due = today - timedelta(days=730)
    first = EpisodeFactory(
        tenant=tenant,
        client=client,
        intake_date=due - timedelta(days=196),
        due_date=due,
        gestational_age_at_intake=84,
        status="ended",
        end_date=due + timedelta(days=42),
        end_reason="completed",
        gravida=1,
        parity=0,
    )
    born = timezone.make_aware(datetime.combine(due, time(4, 0)))
    Birth.unscoped.create(tenant=tenant, episode=first, born_at=born, place="home", mode="spontaneous")
    sign_in_to_tenant(page, midwife.email)

    page.locator("[data-nav=clients]").first.click()
    search = page.get_by_test_id("client-search")
    search.locator("[name=q]").fill("Zonneveld")
    search.locator("[name=q]").press("Enter")
    page.get_by_test_id("search-results").get_by_role("link", name="Zonneveld, Iris").click()
    expect(page.get_by_test_id("new-pregnancy")).to_be_visible()
    assert_fits_viewport(page)

    page.get_by_test_id("new-pregnancy").click()
    form = page.get_by_test_id("pregnancy-form")
    # Proposed from the first pregnancy: one more pregnancy, one more birth (at term, so from 24 weeks).
    expect(form.locator("[name=gravida]")).to_have_value("2")
    expect(form.locator("[name=parity]")).to_have_value("1")
    form.get_by_label("Laatste menstruatie", exact=True).check()
    lmp = today - timedelta(weeks=7, days=2)
    form.locator("[name=lmp_date]").fill(lmp.isoformat())
    expected_due = due_date_from_lmp(lmp)
    # The page shows the due date while she types; the server calculates the one stored.
    expect(form.locator("[data-due-preview]")).to_contain_text(expected_due.strftime("%d-%m-%Y"))
    expect(form.locator("[data-due-preview]")).to_contain_text("7+2")
    expect(form.locator("[data-field=ultrasound_on]")).to_be_hidden()
    assert_fits_viewport(page)
    form.get_by_role("button", name="Start de zwangerschap").click()

    summary = page.get_by_test_id("episode-summary")
    expect(summary).to_contain_text("G2P1")
    expect(summary).to_contain_text(expected_due.strftime("%d-%m-%Y"))
    expect(page.get_by_test_id("gestational-age")).to_contain_text(
        gestational_age_on(due_date=expected_due, on=today)
    )
    second = Episode.unscoped.get(client=client, status="active")
    assert (second.gravida, second.parity, second.due_date) == (2, 1, expected_due)
    assert CareEvent.unscoped.get(episode=second).event_type.code == "INTAKE"
    assert_fits_viewport(page)
