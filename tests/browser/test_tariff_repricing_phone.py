"""A controller enters the 2027 tariffs, agreed in March, from the contract page on a phone (390 px): the form,
its preview of what changes per phase and the confirmation, none wider than the screen. The world is
tests.scenarios.repricing: the January birth billed and sent in February under the prolonged 2026 tariffs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from playwright.sync_api import Page, ViewportSize, expect

from billing.models import ClaimLine, Contract
from igo.models import Role
from tests.scenarios.browser import assert_fits_viewport, member_with_totp, sign_in_with_totp, url_re
from tests.scenarios.payouts import accept_all, bill, send_batch
from tests.scenarios.repricing import at, born_in_january, current_version, repricing_world

pytestmark = [
    pytest.mark.browser,
    pytest.mark.dated,
    pytest.mark.django_db(transaction=True),
    pytest.mark.clock(at(2027, 3, 15)),
]

PHONE: ViewportSize = {"width": 390, "height": 844}


def test_a_controller_changes_the_tariffs_retroactively_on_a_phone(page: Page, world_a):
    pw = repricing_world(world_a)
    born_in_january(pw)
    bill(pw, at(2027, 2, 21))
    accept_all(send_batch(pw, dt.date(2027, 2, 1), at(2027, 2, 25)), at(2027, 3, 1))
    old = current_version(pw)
    controller, secret = member_with_totp(pw.tenant, Role.IGO_FINANCE, "controller@alpha.test", "Cor Smit")
    page.set_viewport_size(PHONE)
    sign_in_with_totp(page, controller, secret, pw.tenant.slug)

    page.goto(reverse("contract_detail", kwargs={"tenant_slug": pw.tenant.slug, "pk": old.pk}))
    page.get_by_test_id(f"reprice-{old.pk}").click()
    assert_fits_viewport(page)
    page.locator("[name=valid_from]").fill("2027-01-01")
    page.locator("[name=name]").fill("ZK 2027")
    page.locator("[name=amount_prenatal]").fill("1300.00")
    page.locator("[name=amount_natal]").fill("950.00")
    page.locator("[name=amount_postnatal]").fill("1600.00")
    page.get_by_test_id("reprice-preview").click()
    expect(page.get_by_test_id("reprice-total")).to_contain_text("150,00")
    assert_fits_viewport(page)
    page.get_by_test_id("reprice-confirm").click()
    # The worker confirms it in the background; the progress page polls until it shows the result.
    expect(page.get_by_test_id("reprice-done")).to_be_visible(timeout=60_000)
    assert_fits_viewport(page)
    page.get_by_test_id("reprice-open").click()
    new = Contract.unscoped.get(name="ZK 2027")
    expect(page).to_have_url(
        url_re(reverse("contract_detail", kwargs={"tenant_slug": pw.tenant.slug, "pk": new.pk}))
    )
    assert_fits_viewport(page)
    assert ClaimLine.unscoped.filter(sign="credit").count() == 2
    assert set(ClaimLine.unscoped.filter(is_current=True, contract=new).values_list("amount", flat=True)) == {
        Decimal("950.00"),
        Decimal("1600.00"),
    }
