"""The data-quality list on a phone (390 × 844) and a laptop: the quality officer's page with a birth record
that has a warning (a caesarean in hospital while the first line stayed responsible) fits the window.

The clock stands at 10 November 2026, 16:00 in Amsterdam."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from igo.models import Role
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.scenarios.birth_record import BIRTH, another_episode, stored_birth
from tests.scenarios.browser import VIEWPORTS, assert_fits_viewport, sign_in_to_tenant

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.clock(BIRTH.afternoon),
]


@pytest.mark.parametrize("screen", VIEWPORTS)
def test_the_data_quality_list_fits_the_window(page: Page, screen):
    tenant = TenantFactory(slug="igo-kwaliteit", name="Geboortezorg Regio Rijn en IJssel")
    episode = another_episode(tenant, "Schimmelpenninck van der Oye", due=BIRTH.day)
    stored_birth(episode, BIRTH.born, place="clinical", mode="caesarean", weight_grams=900)
    user = UserFactory(email="kwaliteit@igo.test")
    MembershipFactory(tenant=tenant, user=user, role=Role.IGO_ADMIN)
    page.set_viewport_size(VIEWPORTS[screen])
    sign_in_to_tenant(page, user.email)
    response = page.goto(f"/t/{tenant.slug}/quality/data/?year=2026")
    assert response is not None and response.status == 200
    row = page.get_by_test_id(f"dq-episode-{episode.pk}")
    expect(row).to_be_visible()
    assert row.locator("li").count() == 2  # the caesarean in first-line care and 900 g at 40+0 weeks
    assert_fits_viewport(page)
