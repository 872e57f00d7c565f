"""Sign-in journeys in a real browser: a forced second factor (TOTP here; passkeys in test_passkey_journey)
for an IGO administrator and a midwife, language switch, sign-out.

Runs against pytest-django's `live_server` with Debian's Chromium (see tests/browser/conftest.py).
"""

from __future__ import annotations

import re
from importlib import import_module

import pytest
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY
from django.conf import settings
from django.urls import reverse
from django.utils import translation
from playwright.sync_api import Page, expect

from igo.models import Role, Tenant, User
from tests.factories import PASSWORD, TOTP_SECRET, MembershipFactory, TenantFactory, UserFactory
from tests.scenarios.browser import certainly_wrong_totp_code, current_totp_code, enter_totp_code, url_re
from tests.scenarios.clock import local

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# --- helpers ----------------------------------------------------------------------------------------


def translated(message: str, language: str) -> str:
    """What Django renders for `message` in `language`, whatever the state of the project's catalogs."""
    with translation.override(language):
        return translation.gettext(message)


def admin_without_totp() -> tuple[User, Tenant]:
    tenant = TenantFactory(name="IGO Zuidoever", slug="igo-zuidoever")
    user = UserFactory(email="beheer@zuidoever.test", full_name="Anouk de Vries")
    MembershipFactory(tenant=tenant, user=user, role=Role.IGO_ADMIN, second_factor=False)
    assert not Authenticator.objects.filter(user=user).exists()
    return user, tenant


def sign_in(page: Page, email: str) -> None:
    page.goto(reverse("account_login"))
    form = page.get_by_test_id("login-form")
    expect(form).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    form.locator("[name=login]").fill(email)
    form.locator("[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()


def reach_totp_activation(page: Page) -> bool:
    """The middleware sends the user to the second-factor page, where she chooses the authenticator app;
    allauth may first ask for the password again.

    Returns whether the password was asked for.
    """
    activate = url_re(reverse("mfa_activate_totp"))
    reauthenticate = url_re(reverse("account_reauthenticate"))
    expect(page).to_have_url(url_re(reverse("mfa_index")))
    page.locator(f"a[href='{reverse('mfa_activate_totp')}']").click()
    expect(page).to_have_url(re.compile(f"{activate.pattern}|{reauthenticate.pattern}"))
    reauthenticated = bool(reauthenticate.match(page.url))
    if reauthenticated:
        password = page.locator("input[name=password]")
        expect(password).to_be_visible()
        password.fill(PASSWORD)
        page.locator("form", has=password).locator("button[type=submit]").click()
    expect(page).to_have_url(activate)
    expect(page.locator("#authenticator_secret")).to_be_visible()
    return reauthenticated


def shown_totp_secret(page: Page) -> str:
    """The secret allauth prints in the disabled `#authenticator_secret` field of the activation form."""
    secret_field = page.locator("#authenticator_secret")
    expect(secret_field).to_have_value(re.compile(r"^[A-Z2-7]{16,}=*$"))
    secret = secret_field.input_value()
    assert secret, "no TOTP secret on the activation page"
    return secret


def session_value(page: Page, key: str) -> object:
    """Read a value from the browser's server-side session."""
    cookie = next(c for c in page.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=cookie["value"])
    return store.get(key)


def submit_totp_code(page: Page, code: str) -> None:
    field = page.locator("input[name=code]")
    field.fill(code)
    page.locator("form", has=field).locator("button[type=submit]").click()


# --- tests ------------------------------------------------------------------------------------------


# A set moment, far from midnight: the footer's date stays the same through the journey (it is compared).
@pytest.mark.clock(local(2027, 1, 14, 12))
def test_admin_sets_up_totp_switches_language_and_signs_out(page: Page, live_server) -> None:
    user, tenant = admin_without_totp()
    dashboard = reverse("tenant_dashboard", kwargs={"tenant_slug": tenant.slug})

    # Sign in: a second factor is compulsory for an IGO administrator, so no dashboard yet.
    sign_in(page, user.email)
    reach_totp_activation(page)

    # The dashboard stays out of reach until TOTP is set up.
    page.goto(dashboard)
    reach_totp_activation(page)

    secret = shown_totp_secret(page)
    assert session_value(page, SECRET_SESSION_KEY) == secret
    submit_totp_code(page, current_totp_code(secret))

    # allauth continues to the recovery codes (or the MFA overview); either way we leave the form.
    expect(page).not_to_have_url(url_re(reverse("mfa_activate_totp")))
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).count() == 1
    assert session_value(page, SECRET_SESSION_KEY) is None

    # Now the tenant dashboard opens.
    page.goto(dashboard)
    expect(page).to_have_url(url_re(dashboard))
    expect(page.get_by_test_id("current-tenant")).to_have_text(tenant.name)
    html = page.locator("html")
    expect(html).to_have_attribute("lang", "nl")

    user_menu = page.get_by_test_id("user-menu")
    logout = page.get_by_test_id("logout")
    footer = page.locator("footer")
    user_menu.click()
    expect(logout).to_be_visible()
    expect(logout).to_have_text(translated("Sign out", "nl"))
    dutch_logout = logout.inner_text().strip()
    dutch_footer = footer.inner_text().strip()

    # Switch to English.
    page.get_by_test_id("lang-en").click()
    expect(html).to_have_attribute("lang", "en")
    expect(page).to_have_url(url_re(dashboard))
    expect(page.get_by_test_id("current-tenant")).to_have_text(tenant.name)
    expect(page.get_by_test_id("lang-en")).to_have_class(re.compile(r"\bactive\b"))
    user_menu.click()
    expect(logout).to_be_visible()
    expect(logout).to_have_text("Sign out")
    # Django's own Dutch catalog already names the month in the footer date differently ("januari"/"January").
    expect(footer).not_to_have_text(dutch_footer)

    # And back to Dutch: the same texts as before the switch.
    page.get_by_test_id("lang-nl").click()
    expect(html).to_have_attribute("lang", "nl")
    expect(page).to_have_url(url_re(dashboard))
    expect(page.get_by_test_id("lang-nl")).to_have_class(re.compile(r"\bactive\b"))
    expect(footer).to_have_text(dutch_footer)
    user_menu.click()
    expect(logout).to_be_visible()
    expect(logout).to_have_text(dutch_logout)

    # Sign out through the user menu.
    logout.click()
    expect(page).to_have_url(url_re(reverse("account_login")))
    expect(page.get_by_test_id("login-form")).to_be_visible()
    expect(page.get_by_test_id("user-menu")).to_have_count(0)

    # The dashboard now asks for a sign-in again.
    page.goto(dashboard)
    expect(page).to_have_url(url_re(reverse("account_login")))
    assert f"next={dashboard}" in page.url.replace("%2F", "/")
    expect(page.get_by_test_id("login-form")).to_be_visible()


def test_wrong_totp_code_is_refused_and_stores_nothing(page: Page, live_server) -> None:
    user, tenant = admin_without_totp()

    sign_in(page, user.email)
    reach_totp_activation(page)
    secret = shown_totp_secret(page)

    submit_totp_code(page, certainly_wrong_totp_code(secret))

    expect(page).to_have_url(url_re(reverse("mfa_activate_totp")))
    with translation.override("nl"):  # allauth's "Incorrect code.", as the Dutch page shows it
        incorrect_code = str(get_mfa_adapter().error_messages["incorrect_code"])
    expect(page.locator(".errorlist")).to_contain_text(incorrect_code)
    # The form is shown again with the same secret, so the user can retry with their app.
    expect(page.locator("#authenticator_secret")).to_have_value(secret)
    assert not Authenticator.objects.filter(user=user).exists()

    # Still no way around the set-up.
    page.goto(reverse("tenant_dashboard", kwargs={"tenant_slug": tenant.slug}))
    expect(page).to_have_url(url_re(reverse("mfa_index")))
    assert not Authenticator.objects.filter(user=user).exists()


def test_midwife_signs_in_with_her_app_code_to_her_caseload(page: Page, live_server) -> None:
    tenant = TenantFactory(name="IGO Westhaven", slug="igo-westhaven")
    midwife = UserFactory(email="verloskundige@westhaven.test", full_name="Fatima el Amrani")
    MembershipFactory(tenant=tenant, user=midwife, role=Role.MIDWIFE)  # with an authenticator app
    caseload = reverse("care_home", kwargs={"tenant_slug": tenant.slug})
    dashboard = reverse("tenant_dashboard", kwargs={"tenant_slug": tenant.slug})

    sign_in(page, midwife.email)
    enter_totp_code(page, TOTP_SECRET)

    # Only clinical roles in her IGO: she lands on her caseload, not on the dashboard.
    expect(page).to_have_url(url_re(caseload))
    expect(page.get_by_test_id("current-tenant")).to_have_text(tenant.name)
    expect(page.get_by_test_id("caseload")).to_be_visible()
    expect(page.get_by_test_id("user-menu")).to_have_text("Fatima")
    # Her caseload is the first item of the bar, and the brand leads there too.
    expect(page.locator(".mainnav > a").first).to_have_attribute("data-nav", "home")
    expect(page.get_by_test_id("nav-brand")).to_have_attribute("href", caseload)

    # `/` also sends a user with a single IGO to it; the dashboard is still there for her.
    page.goto(reverse("home"))
    expect(page).to_have_url(url_re(caseload))
    page.goto(dashboard)
    expect(page.get_by_test_id("card-care")).to_be_visible()
