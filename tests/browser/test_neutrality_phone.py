"""The budget-neutrality monitor on a phone (390 px), as IGO finance opens it: the monitor with its chart and
table (the worked example of tests.scenarios.neutrality, year 2026), the DBC amounts with their form and the
catalogue mapping. None is wider than the screen (a wide table scrolls inside its own box).

Seen on 15 November 2026."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from igo.models import Role
from tests.scenarios.browser import assert_fits_viewport, member_with_totp, sign_in_with_totp
from tests.scenarios.clock import local
from tests.scenarios.neutrality import neutral

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.clock(local(2026, 11, 15, 10)),
]

PHONE = {"width": 390, "height": 844}


def test_the_monitor_fits_a_phone(page: Page, world_a):
    n = neutral(world_a)
    slug = world_a.tenant.slug
    controller, secret = member_with_totp(
        world_a.tenant, Role.IGO_FINANCE, "controller@alpha.test", "Cor Smit"
    )
    page.set_viewport_size(PHONE)
    sign_in_with_totp(page, controller, secret, slug)
    page.goto(reverse("neutrality", args=[slug]) + "?year=2026")
    expect(page.get_by_test_id("neutrality-chart")).to_be_visible()
    expect(page.get_by_test_id(f"neutrality-{n.b.maas.pk}-{n.b.zk.pk}")).to_contain_text("1.650,00")
    expect(page.get_by_test_id("neutrality-missing")).to_contain_text("VK-ECHO")
    assert_fits_viewport(page)
    for name in ("neutrality_dbc", "neutrality_mapping"):
        response = page.goto(reverse(name, args=[slug]))
        assert response is not None and response.status == 200, name
        assert_fits_viewport(page)
