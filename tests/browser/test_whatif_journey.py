"""Issue 19 on a phone (390 px): finance drafts a 50/50 natal split for 2026, follows the simulation's
progress bar (the worker computes it), reads the result (the practice gives up 176.70 to the hospital, as
tests/whatif works out by hand) and adopts the draft as the 2026 split rule. No page is wider than the
screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from billing.models import SplitRule
from igo.models import Role
from tests.scenarios.billing import BILLING_NOW
from tests.scenarios.browser import PHONE, assert_fits_viewport, member_with_totp, sign_in_with_totp, url_re
from tests.scenarios.whatif import billed_2026

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.clock(BILLING_NOW)]


def test_finance_simulates_a_split_on_a_phone_and_adopts_it(page: Page, world_a, needs_worker):
    w = billed_2026(world_a)
    slug = w.s.tenant.slug
    controller, secret = member_with_totp(w.s.tenant, Role.IGO_FINANCE, "controller@alpha.test", "Cor Smit")
    page.set_viewport_size(PHONE)
    sign_in_with_totp(page, controller, secret, slug)

    page.goto(f"/t/{slug}/what-if/")
    assert_fits_viewport(page)
    page.get_by_test_id("whatif-new-split").click()
    expect(page.get_by_test_id("whatif-split-form")).to_be_visible()
    assert_fits_viewport(page)
    page.locator("[name=period-period_start]").fill("2026-01-01")
    page.locator("[name=period-period_end]").fill("2026-12-31")
    page.locator("[name=year]").fill("2026")
    page.locator(f"[name=pct_natal_{w.s.practice.pk}]").fill("50")
    page.locator(f"[name=pct_natal_{w.s.hospital.pk}]").fill("50")
    page.get_by_role("button", name="Simuleren").click()
    # The progress bar polls until the worker is done, then the results show.
    expect(page.get_by_test_id("whatif-table-1")).to_be_visible(timeout=60_000)
    members = page.get_by_test_id("whatif-table-1")
    expect(members.locator(f'tr[data-key="{w.s.practice.pk}"]')).to_contain_text("176,70")
    expect(members.locator(f'tr[data-key="{w.s.hospital.pk}"]')).to_contain_text("176,70")
    expect(page.get_by_test_id("whatif-episodes")).to_contain_text(str(w.switched.client))
    assert_fits_viewport(page)
    assert not SplitRule.unscoped.filter(tenant=w.s.tenant, year=2026).exists()

    page.get_by_test_id("whatif-adopt").click()
    expect(page).to_have_url(url_re(f"/t/{slug}/split-rules/"))
    rule = SplitRule.unscoped.get(tenant=w.s.tenant, year=2026)
    assert rule.created_by == controller
