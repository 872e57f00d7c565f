"""On a phone (390 × 844) and a laptop (1366 × 768): the user menu opens within the window, every item of it on
the screen, and she signs out from it; a checkbox or radio button with its text is a target a finger hits
(at least 44 px high): the dating choice of a new client and the severe-morbidity criteria of the outcomes.

The clock stands at 16 September 2026, 11:00 in Amsterdam.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from igo.models import Role, Tenant
from pregnancies.catalogue import catalogue_seed
from tests.factories import ClientFactory, EpisodeFactory, InsurerFactory, MembershipFactory, TenantFactory
from tests.scenarios.browser import (
    PHONE,
    VIEWPORTS,
    assert_fits_viewport,
    clinician,
    sign_in_to_tenant,
    url_re,
)
from tests.scenarios.clock import local

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.clock(local(2026, 9, 16, 11)),
]

MIN_TARGET = 44  # px: WCAG 2.5.5 (enhanced); 2.5.8's minimum is 24


def _world() -> tuple[str, int]:
    tenant = TenantFactory(slug="igo-duim", name="Geboortezorg Duim en Wijsvinger")
    catalogue_seed(tenant=tenant)
    InsurerFactory()
    # A long address, so the menu is wider than the name it hangs from.
    clinician(tenant, Role.MIDWIFE, "midwife", "midwifery_practice", "verloskundige.van.dienst@duim.test")
    today = timezone.localdate()
    episode = EpisodeFactory(
        tenant=tenant,
        client=ClientFactory(tenant=tenant, family_name="Visser", given_names="Lotte"),
        intake_date=today - timedelta(weeks=20),
        due_date=today + timedelta(weeks=10),
        gestational_age_at_intake=70,
    )
    return tenant.slug, episode.pk


def boxes(page: Page, selector: str) -> list[dict[str, float | str]]:
    return page.eval_on_selector_all(
        selector,
        """(els) => els.filter((el) => el.getClientRects().length).map((el) => {
            const r = el.getBoundingClientRect();
            return {text: el.innerText.trim(), left: r.left, right: r.right, top: r.top, bottom: r.bottom,
                    height: r.height};
        })""",
    )


@pytest.mark.parametrize("screen", list(VIEWPORTS))
def test_the_user_menu_opens_within_the_window_and_signs_her_out(page: Page, screen: str) -> None:
    _world()
    page.set_viewport_size(VIEWPORTS[screen])
    sign_in_to_tenant(page, "verloskundige.van.dienst@duim.test")
    page.get_by_test_id("user-menu").click()
    logout = page.get_by_test_id("logout")
    expect(logout).to_be_visible()
    width, height = VIEWPORTS[screen]["width"], VIEWPORTS[screen]["height"]
    items = boxes(page, ".usermenu .menu, .usermenu .menu > *, .usermenu .menu button")
    assert len(items) >= 7  # the menu, the address, four links, the sign-out form and its button
    for item in items:
        assert item["left"] >= 0 and item["right"] <= width, f"{screen}: {item} outside 0..{width}"
        assert item["top"] >= 0 and item["bottom"] <= height, f"{screen}: {item} outside 0..{height}"
    # Nothing of the open menu (or anything else) sticks out at either side.
    assert_fits_viewport(page)
    logout.click()
    expect(page).to_have_url(url_re(reverse("account_login")))
    expect(page.get_by_test_id("login-form")).to_be_visible()
    expect(page.get_by_test_id("user-menu")).to_have_count(0)


def test_checkbox_and_radio_labels_are_targets_a_finger_hits(page: Page) -> None:
    slug, episode_pk = _world()
    page.set_viewport_size(PHONE)
    sign_in_to_tenant(page, "verloskundige.van.dienst@duim.test")

    # The dating choice of a new client.
    page.goto(f"/t/{slug}/clients/new/")
    radios = boxes(page, "label:has(> input[type=radio][name=dating_method])")
    assert len(radios) >= 2
    for label in radios:
        assert label["height"] >= MIN_TARGET, label
    # A tap near the lower edge of a label chooses its option.
    last = page.locator("label:has(> input[type=radio][name=dating_method])").last
    last.scroll_into_view_if_needed()
    box = last.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] - 3)
    expect(last.locator("input")).to_be_checked()
    assert_fits_viewport(page)

    # The severe-morbidity criteria on the outcomes card.
    page.goto(f"/t/{slug}/episodes/{episode_pk}/")
    page.locator("#outcomes > summary").click()
    checks = boxes(page, "#outcomes label:has(> input[type=checkbox])")
    assert len(checks) >= 5
    for label in checks:
        assert label["height"] >= MIN_TARGET, label
    first = page.locator("#outcomes label:has(> input[type=checkbox])").first
    first.scroll_into_view_if_needed()
    box = first.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 4, box["y"] + box["height"] - 3)
    expect(first.locator("input")).to_be_checked()
    assert_fits_viewport(page)


@pytest.mark.parametrize("screen", list(VIEWPORTS))
def test_the_more_menu_opens_within_the_window(page: Page, screen: str) -> None:
    # An administrator who also does finance has the most menu items: those past the bar are under "Meer",
    # whose menu hangs from it; on a phone the bar wraps, so it must not open past the window's left edge.
    slug, _episode = _world()
    tenant = Tenant.objects.get(slug=slug)
    user = clinician(
        tenant,
        Role.IGO_ADMIN,
        "midwife",
        "midwifery_practice",
        "beheer.en.financien@duim.test",
    )
    MembershipFactory(tenant=tenant, user=user, role=Role.IGO_FINANCE)
    page.set_viewport_size(VIEWPORTS[screen])
    sign_in_to_tenant(page, "beheer.en.financien@duim.test")
    more = page.get_by_test_id("nav-more")
    expect(more).to_be_visible()
    more.locator("summary").click()
    width = VIEWPORTS[screen]["width"]
    items = boxes(page, ".navmore .menu, .navmore .menu a")
    assert len(items) >= 3
    for item in items:
        assert item["left"] >= 0 and item["right"] <= width, f"{screen}: {item} outside 0..{width}"
    assert_fits_viewport(page)
