"""The pages this stop added, as their users open them on a phone (390 px): the controller books a former
member's repayment from the payouts page (a too large amount is refused at its field, her input kept; a
part is booked), and the IGO administrator switches four eyes on claim batches on the IGO settings page. No
page is wider than the screen, and nothing sticks out at its left edge.

The story is tests.scenarios.former_member: the kraamzorg, a member until 15 April 2027, owes 65.10 after
April's run; the controller opens the payouts page on 8 May 2027."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Page, expect

from billing.models import MemberRepayment
from igo.models import AuditEntry, Role, Tenant
from tests.scenarios.browser import PHONE, assert_fits_viewport, member_with_totp, sign_in_with_totp
from tests.scenarios.clock import local, travel
from tests.scenarios.former_member import kraam_in_debt_after_april

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_controller_books_a_repayment_on_a_phone(page: Page, world_a):
    story = kraam_in_debt_after_april(world_a, member_until=dt.date(2027, 4, 15))
    pw = story.pw
    with travel(local(2027, 5, 8, 10)):
        controller, secret = member_with_totp(pw.tenant, Role.IGO_FINANCE, "controle@alpha.test", "Cor Smit")
        page.set_viewport_size(PHONE)
        sign_in_with_totp(page, controller, secret, pw.tenant.slug)
        page.goto(f"/t/{pw.tenant.slug}/payouts/")
        debts = page.get_by_test_id("former-debts")
        expect(debts).to_contain_text("65,10")
        assert_fits_viewport(page)

        page.get_by_test_id(f"repayment-{pw.kraam.agb_code}").click()
        expect(page.get_by_test_id("repayment-owes")).to_contain_text("65,10")
        assert_fits_viewport(page)
        form = page.get_by_test_id("repayment-form")
        # More than the debt: refused at the amount, what she typed is still there, nothing booked.
        form.locator("[name=amount]").fill("70,00")
        form.locator("[name=received_on]").fill("2027-05-07")
        form.locator("[name=reference]").fill("NL12 terugbetaling deel 1")
        page.get_by_test_id("repayment-save").click()
        amount_field = page.locator("[data-field=amount]")
        expect(amount_field.locator(".errorlist")).to_be_visible()
        expect(form.locator("[name=reference]")).to_have_value("NL12 terugbetaling deel 1")
        assert not MemberRepayment.unscoped.exists()
        assert_fits_viewport(page)
        # A part: booked, and the payouts page says what is still owed (65.10 - 30.00 = 35.10).
        form.locator("[name=amount]").fill("30,00")
        page.get_by_test_id("repayment-save").click()
        expect(page.get_by_test_id("former-debts")).to_contain_text("35,10")
        assert_fits_viewport(page)
    assert [str(r.amount) for r in MemberRepayment.unscoped.all()] == ["30.00"]


def test_the_administrator_switches_four_eyes_on_a_phone(page: Page, world_a):
    tenant = world_a.tenant
    Tenant.objects.filter(pk=tenant.pk).update(batch_four_eyes=False)
    admin, secret = member_with_totp(tenant, Role.IGO_ADMIN, "beheer@alpha.test", "Bea Heer")
    page.set_viewport_size(PHONE)
    sign_in_with_totp(page, admin, secret, tenant.slug)
    page.goto(f"/t/{tenant.slug}/settings/")
    form = page.get_by_test_id("tenant-settings-form")
    assert_fits_viewport(page)
    form.locator("[name=batch_four_eyes]").check()
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("load")
    assert Tenant.objects.get(pk=tenant.pk).batch_four_eyes is True
    assert AuditEntry.objects.filter(action="tenant.batch_four_eyes", tenant=tenant).exists()
    assert_fits_viewport(page)
