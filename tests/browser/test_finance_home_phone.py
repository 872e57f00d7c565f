"""The finance home, finance's dashboard and the filtered claims list (issue 19) on a phone (390 px): none is
wider than the screen, and filtering the claims list through its form (htmx) narrows it in place and keeps
the filter in the address, so the pager and a reload keep it.

Seen from 20 Nov 2026 in the world of tests.scenarios.finance_home."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from igo.models import Role
from tests.scenarios.billing import BILLING_NOW
from tests.scenarios.browser import member_with_totp, sign_in_with_totp
from tests.scenarios.finance import url
from tests.scenarios.finance_home import home_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.clock(BILLING_NOW)]

PHONE = {"width": 390, "height": 844}


def _width(page: Page) -> int:
    page.wait_for_load_state("load")
    return int(page.evaluate("document.documentElement.scrollWidth"))


def test_the_finance_home_and_the_filtered_claims_fit_a_phone(page: Page, world_a):
    h = home_world(world_a)
    controller, secret = member_with_totp(h.s.tenant, Role.IGO_FINANCE, "controller@alpha.test", "Cor Smit")
    page.set_viewport_size(PHONE)
    sign_in_with_totp(page, controller, secret, h.s.tenant.slug)
    for name in ("finance_home", "tenant_dashboard", "claim_list"):
        response = page.goto(url(h.s, name))
        assert response is not None and response.status == 200, name
        assert _width(page) <= PHONE["width"], f"{name} is {_width(page)} px wide"
    # Filter on rejected lines: one episode (episode 1's natal line), the address carries the filter.
    form = page.get_by_test_id("claim-filter")
    form.locator("[name=status]").select_option("rejected")
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("claim-summary")).to_have_attribute("data-lines", "1")
    expect(page.locator('[data-testid^="claim-episode-"]')).to_have_count(1)
    assert "status=rejected" in page.url
    assert _width(page) <= PHONE["width"]
