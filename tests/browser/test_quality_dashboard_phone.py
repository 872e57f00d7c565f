"""The quality dashboard on a phone (390 × 844) with every kind of card filled (issue 20): the hand-made
worlds of the quality tests (March–April, June and September 2025) give values, intervals, targets,
small-number badges and Robson splits. Measured in Chromium: the page needs no sideways scroll, every
card's texts stay inside the card, and no two texts of a card overlap. The indicator page with the Robson
table fits too, and the dashboard links to the data-quality list for the administrator."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from igo.models import Role
from tests.factories import MembershipFactory, UserFactory
from tests.scenarios.browser import PHONE, assert_fits_viewport, sign_in_to_tenant
from tests.scenarios.kernset import cohort as kernset_cohort
from tests.scenarios.quality import YEAR, build
from tests.scenarios.robson_cohort import cohort as robson_cohort

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Per card: the texts a reader reads (heading, figure, notes, badges, target lines, interval), each with its
# box; pairs where one holds the other are not overlaps.
MEASURE = """(card) => {
    const box = card.getBoundingClientRect();
    const items = [...card.querySelectorAll('h2, .figure > *, :scope > p, :scope > div, ul.targets li, .badge')]
        .filter((el) => el.offsetParent !== null && el.getBoundingClientRect().height > 0);
    const rect = (el) => el.getBoundingClientRect();
    const outside = items.filter((el) => rect(el).right > box.right + 0.5 || rect(el).left < box.left - 0.5)
        .map((el) => el.textContent.trim().slice(0, 40));
    const overlaps = [];
    for (let i = 0; i < items.length; i++) {
        for (let j = i + 1; j < items.length; j++) {
            const a = items[i], b = items[j];
            if (a.contains(b) || b.contains(a)) continue;
            const r = rect(a), s = rect(b);
            const w = Math.min(r.right, s.right) - Math.max(r.left, s.left);
            const h = Math.min(r.bottom, s.bottom) - Math.max(r.top, s.top);
            if (w > 1 && h > 1) overlaps.push([a.textContent.trim().slice(0, 30), b.textContent.trim().slice(0, 30)]);
        }
    }
    return {outside, overlaps, count: items.length};
}"""


def test_the_quality_dashboard_fits_a_phone_without_overlapping_labels(page: Page, world_a) -> None:
    q = build(world_a)
    kernset_cohort(world_a)
    robson_cohort(world_a)
    user = UserFactory(email="kwaliteit@alpha.test")
    MembershipFactory(tenant=q.tenant, user=user, role=Role.IGO_ADMIN)
    page.set_viewport_size(PHONE)
    sign_in_to_tenant(page, user.email)
    response = page.goto(f"/t/{q.tenant.slug}/quality/?year={YEAR}")
    assert response is not None and response.status == 200
    cards = page.locator(".quality-card")
    assert cards.count() >= 27
    assert_fits_viewport(page)
    problems = {}
    for i in range(cards.count()):
        card = cards.nth(i)
        found = card.evaluate(MEASURE)
        assert found["count"] >= 2
        if found["outside"] or found["overlaps"]:
            problems[card.get_attribute("data-testid")] = found
    assert not problems, problems

    # The administrator may see the data-quality list: the dashboard leads there.
    link = page.get_by_test_id("data-quality-link")
    expect(link).to_be_visible()
    link.click()
    expect(page.get_by_test_id("data-quality-title")).to_be_visible()
    assert_fits_viewport(page)

    # The indicator page with its Robson table: the table scrolls in its own box, the page does not.
    page.goto(f"/t/{q.tenant.slug}/quality/caesarean/?year={YEAR}")
    expect(page.get_by_test_id("robson-table")).to_be_visible()
    assert_fits_viewport(page)
