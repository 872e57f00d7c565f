"""A passkey as the second factor, in a real browser with a virtual authenticator (Chromium's WebAuthn
DevTools domain): a maternity carer without a factor registers a passkey where she is sent at her first
sign-in, then signs in with password and passkey (issue 16).

The virtual authenticator stands for a phone's or laptop's built-in one: CTAP2, internal transport, a
resident (discoverable) key, user verification that succeeds (a fingerprint or PIN).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from django.urls import reverse
from playwright.sync_api import Page, expect

from igo.models import Role
from tests.factories import PASSWORD, MembershipFactory, TenantFactory, UserFactory
from tests.scenarios.browser import url_re

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def virtual_authenticator(page: Page) -> tuple[Any, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def password_step(page: Page, email: str) -> None:
    page.goto(reverse("account_login"))
    form = page.get_by_test_id("login-form")
    form.locator("[name=login]").fill(email)
    form.locator("[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()


def test_maternity_carer_registers_a_passkey_and_signs_in_with_it(page: Page, live_server) -> None:
    assert live_server.url.startswith("http://localhost:")  # WebAuthn: a secure origin, a domain as RP id
    tenant = TenantFactory(name="IGO Kraamzorg Oost", slug="igo-kraamzorg-oost")
    carer = UserFactory(email="kraamzorg@oost.test", full_name="Ilse Jansen")
    MembershipFactory(tenant=tenant, user=carer, role=Role.MATERNITY_CARER, second_factor=False)
    dashboard = reverse("tenant_dashboard", kwargs={"tenant_slug": tenant.slug})
    cdp, authenticator_id = virtual_authenticator(page)

    # First sign-in: no factor yet, so the second-factor page, where she chooses a passkey.
    password_step(page, carer.email)
    expect(page).to_have_url(url_re(reverse("mfa_index")))
    page.locator(f"a[href='{reverse('mfa_add_webauthn')}']").click()
    reauthenticate = url_re(reverse("account_reauthenticate"))
    add = url_re(reverse("mfa_add_webauthn"))
    expect(page).to_have_url(re.compile(f"{add.pattern}|{reauthenticate.pattern}"))
    if reauthenticate.match(page.url):
        password = page.locator("input[name=password]")
        password.fill(PASSWORD)
        page.locator("form", has=password).locator("button[type=submit]").click()
    expect(page).to_have_url(add)
    name = page.locator("input[name=name]")
    if name.count():
        name.fill("Telefoon")
    page.locator("#mfa_webauthn_add").click()

    # The browser made the credential; allauth stored it and continues (recovery codes or the overview).
    expect(page).not_to_have_url(add)
    assert Authenticator.objects.filter(user=carer, type=Authenticator.Type.WEBAUTHN).count() == 1
    assert len(cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"]) == 1
    page.goto(dashboard)
    expect(page).to_have_url(url_re(dashboard))

    # Sign out and in again: password, then the passkey instead of a code.
    page.context.clear_cookies()
    password_step(page, carer.email)
    expect(page).to_have_url(url_re(reverse("mfa_authenticate")))
    page.locator("#mfa_webauthn_authenticate").click()
    # A maternity carer lands on her caseload (igo.landing).
    expect(page).to_have_url(url_re(reverse("care_home", kwargs={"tenant_slug": tenant.slug})))
    expect(page.get_by_test_id("current-tenant")).to_have_text(tenant.name)
    passkey = Authenticator.objects.get(user=carer, type=Authenticator.Type.WEBAUTHN)
    assert passkey.last_used_at is not None


def test_the_second_factor_pages_fit_a_phone(page: Page, live_server) -> None:
    """The allauth pages she is sent to, in Dutch, at 390 px without a sideways scroll."""
    tenant = TenantFactory(slug="igo-telefoon")
    user = UserFactory(email="verloskundige@telefoon.test")
    MembershipFactory(tenant=tenant, user=user, role=Role.MIDWIFE, second_factor=False)
    page.set_viewport_size({"width": 390, "height": 844})
    password_step(page, user.email)
    expect(page).to_have_url(url_re(reverse("mfa_index")))
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.locator("main")).to_contain_text("Authenticator")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
