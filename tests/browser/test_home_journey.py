"""A midwife's home in a real browser, on a phone and on a laptop: from her caseload to a logged prenatal check
in at most three clicks, on pages no wider than the screen.

The clock stands at Wednesday 10 March 2027, 10:00 in Amsterdam.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from igo.models import Role
from pregnancies.catalogue import catalogue_seed
from pregnancies.models import CareEvent, EventStatus, EventType
from providers.models import Professional
from tests.factories import CareEventFactory, ClientFactory, EpisodeFactory, TenantFactory
from tests.scenarios.browser import VIEWPORTS, assert_fits_viewport, clinician, sign_in_to_tenant
from tests.scenarios.clock import local

NOW = local(2027, 3, 10, 10, 0)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.clock(NOW)]


@pytest.mark.parametrize("viewport", VIEWPORTS.values(), ids=VIEWPORTS.keys())
def test_midwife_logs_a_check_from_her_home_in_at_most_three_clicks(page: Page, viewport):
    page.set_viewport_size(viewport)
    tenant = TenantFactory(slug="igo-home")
    catalogue_seed(tenant=tenant)
    midwife = clinician(tenant, Role.MIDWIFE, "midwife", "midwifery_practice", "vk@home.test")
    professional = Professional.unscoped.get(user=midwife)
    pre_check = EventType.unscoped.get(tenant=tenant, code="PRE_CHECK")

    def in_her_care(family: str, given: str, due: date) -> CareEvent:
        client = ClientFactory(tenant=tenant, family_name=family, given_names=given)
        episode = EpisodeFactory(
            tenant=tenant,
            client=client,
            intake_date=due - timedelta(days=210),
            due_date=due,
            gestational_age_at_intake=70,
            coordinating_professional=professional,
        )
        # Her last check, two weeks ago.
        return CareEventFactory(
            tenant=tenant,
            episode=episode,
            event_type=pre_check,
            occurred_at=local(2027, 2, 24, 9),
            professional=professional,
            organisation=professional.organisation,
            created_by=midwife,
        )

    iris = in_her_care("Zonneveld", "Iris", date(2027, 7, 24)).episode  # 20+4 today
    in_her_care("Bakker", "Fenna", date(2027, 3, 5))  # five days past her due date
    sign_in_to_tenant(page, midwife.email)

    page.goto(reverse("care_home", args=[tenant.slug]))
    caseload = page.get_by_test_id("caseload")
    expect(caseload.get_by_test_id("caseload-row")).to_have_count(2)
    fenna = caseload.get_by_test_id("caseload-row").first  # needs attention: first
    expect(fenna).to_contain_text("Bakker")
    expect(fenna.locator("[data-flag=due_date_passed]")).to_have_text("À terme datum verstreken")
    row = caseload.locator(f"[data-episode='{iris.pk}']")
    expect(row).to_contain_text("20+4")
    expect(row).to_contain_text("24-07-2027")
    assert_fits_viewport(page)

    clicks = 0
    row.get_by_test_id("log-action").click()
    clicks += 1
    form = page.get_by_test_id("event-form")
    # The check is chosen, the time is now, the button has the focus: one more click (or Enter) logs it.
    expect(form.locator("[name=event_type]")).to_have_value(str(pre_check.pk))
    expect(form.get_by_test_id("log-submit")).to_be_focused()
    form.get_by_test_id("log-submit").click()
    clicks += 1

    expect(page.get_by_test_id("timeline").get_by_test_id("event-row")).to_have_count(2)
    assert clicks <= 3
    logged = CareEvent.unscoped.filter(episode=iris, status=EventStatus.ACTIVE).order_by("occurred_at")
    assert [e.event_type.code for e in logged] == ["PRE_CHECK", "PRE_CHECK"]
    assert logged.last().created_by == midwife
    assert_fits_viewport(page)
