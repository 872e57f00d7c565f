"""What the browser journeys share: matching a live-server URL, a TOTP code that is still valid when the server
checks it, signing a member in (password and authenticator code), and a clinician with a professional profile.

The codes follow the clock of this process, which is also the live server's (a thread of it): a journey that
sets the clock (`pytest.mark.clock`) signs in at that moment.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import cast

from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.urls import reverse
from playwright.sync_api import Page, expect

from igo.models import Tenant, User
from tests.factories import (
    PASSWORD,
    TOTP_SECRET,
    MemberOrganisationFactory,
    MembershipFactory,
    ProfessionalFactory,
    UserFactory,
)

TOTP_PERIOD = 30
# Submitting a code takes well under this; closer to the end of a period we wait for the next one, so
# the server (TOTP_TOLERANCE = 0: only the current period counts) never sees an expired code.
TOTP_MARGIN_SECONDS = 5


def url_re(path: str) -> re.Pattern[str]:
    """Match an absolute live-server URL on its path, with an optional query string."""
    return re.compile(rf"^https?://[^/]+{re.escape(path)}(\?.*)?$")


def current_totp_code(secret: str) -> str:
    """A code valid now and for at least TOTP_MARGIN_SECONDS more (clock alignment, not a UI wait)."""
    remaining = TOTP_PERIOD - time.time() % TOTP_PERIOD
    if remaining < TOTP_MARGIN_SECONDS:
        time.sleep(remaining + 0.1)
    return format_hotp_value(hotp_value(secret, int(time.time()) // TOTP_PERIOD))


def certainly_wrong_totp_code(secret: str) -> str:
    """A six-digit code that is not valid in the current period nor in its neighbours."""
    counter = int(time.time()) // TOTP_PERIOD
    valid = {hotp_value(secret, counter + delta) for delta in range(-2, 3)}
    candidate = (hotp_value(secret, counter) + 500_000) % 1_000_000
    while candidate in valid:
        candidate = (candidate + 1) % 1_000_000
    return format_hotp_value(candidate)


def typed_time(day: dt.date, time_of_day: str) -> str:
    """What a person types in a datetime-local field: a time of day on the Amsterdam calendar. Take one
    outside 02:00-03:00: that hour is missing on the night the clocks go forward and comes twice on the
    night they go back, whereas "now minus a day" may land in it."""
    return f"{day:%Y-%m-%d}T{time_of_day}"


def sign_in_to_tenant(page: Page, email: str) -> None:
    """Sign a member made by the factories in: password, then a code of her authenticator app
    (tests.factories.TOTP_SECRET); the page lands in her IGO."""
    page.goto("/accounts/login/")
    form = page.get_by_test_id("login-form")
    form.locator("[name=login]").fill(email)
    form.locator("[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    enter_totp_code(page, TOTP_SECRET)
    expect(page.get_by_test_id("current-tenant")).to_be_visible()
    # The element can be there before the stylesheet: a measurement then sees the page unstyled.
    page.wait_for_load_state("load")


def enter_totp_code(page: Page, secret: str) -> None:
    """On the second-factor step of signing in: type the authenticator app's current code."""
    expect(page).to_have_url(url_re(reverse("mfa_authenticate")))
    code = page.locator("input[name=code]")
    code.fill(current_totp_code(secret))
    page.locator("form", has=code).locator("button[type=submit]:not([form])").click()


def clinician(tenant: Tenant, role: str, discipline: str, kind: str, email: str) -> User:
    """A user with `role` in the IGO and a professional profile in a member organisation of `kind`."""
    user = UserFactory(email=email)
    MembershipFactory(tenant=tenant, user=user, role=role)
    org = MemberOrganisationFactory(tenant=tenant, kind=kind)
    ProfessionalFactory(
        tenant=tenant,
        user=user,
        discipline=discipline,
        organisation=org,
        big_number="" if discipline == "maternity_carer" else "19000000555",
    )
    return user


def member_with_totp(tenant: Tenant, role: str, email: str, name: str) -> tuple[User, str]:
    """A user with a role in the IGO and an active TOTP second factor; returns the user and the secret."""
    user = cast(User, UserFactory(email=email, full_name=name))
    MembershipFactory(tenant=tenant, user=user, role=role, second_factor=False)
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return user, secret


def sign_in_with_totp(page: Page, user: User, secret: str, slug: str) -> None:
    """Sign a user with a TOTP second factor in (password, then code); the page lands on the IGO's home."""
    page.context.clear_cookies()
    page.goto(reverse("account_login"))
    form = page.get_by_test_id("login-form")
    form.locator("[name=login]").fill(user.email)
    form.locator("[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    enter_totp_code(page, secret)
    expect(page).to_have_url(url_re(reverse("tenant_dashboard", args=[slug])))


# The two screens every clinician journey runs on (issue 17): a phone held upright and a common laptop.
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}
VIEWPORTS = {"phone": PHONE, "laptop": LAPTOP}


# What lies beyond the window's left edge cannot be scrolled to at all (scrollWidth does not count it): a
# visible element there is lost to her. The skip link waits there on purpose until it gets the focus; an
# element inside a box that scrolls or clips sideways is that box's business.
OFF_LEFT_JS = """() => [...document.querySelectorAll('body *')]
    .filter((el) => {
        const r = el.getBoundingClientRect();
        if (r.left >= -0.5 || r.width === 0 || r.height === 0 || el.closest('.skip')) return false;
        // Not shown: hidden, or in a closed <details> (laid out in Chromium, but never painted).
        if (!el.checkVisibility({visibilityProperty: true})) return false;
        for (let box = el.parentElement; box && box !== document.body; box = box.parentElement) {
            if (getComputedStyle(box).overflowX !== 'visible') return false;
        }
        return true;
    })
    .slice(0, 6)
    .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}`
        + `#${el.id} left=${Math.round(el.getBoundingClientRect().left)}`)"""


def assert_fits_viewport(page: Page) -> None:
    """The page is no wider than the window: nothing needs a sideways scroll (a table may scroll inside
    its own box, the page may not), and nothing sticks out past the left edge, where no scroll reaches."""
    width = page.viewport_size["width"] if page.viewport_size else 0
    # Measured before the stylesheet has loaded (a busy machine, just after a form's POST), every page is too wide.
    page.wait_for_load_state("load")
    off_left = page.evaluate(OFF_LEFT_JS)
    if off_left:
        raise AssertionError(f"{page.url} has content left of the {width} px window: {off_left}")
    scroll = int(page.evaluate("document.documentElement.scrollWidth"))
    if scroll > width:
        # Name the elements that stick out, so that a failure says where to look.
        wide = page.evaluate(
            """(w) => [...document.querySelectorAll('body *')]
                .filter((el) => el.getBoundingClientRect().right > w + 0.5)
                .slice(0, 6)
                .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}`
                    + `#${el.id} right=${Math.round(el.getBoundingClientRect().right)}`)""",
            width,
        )
        raise AssertionError(f"{page.url} is {scroll} px wide in a {width} px window; sticking out: {wide}")


def go_to_nav(page: Page, key: str) -> None:
    """Follow the main navigation's item `key` (its data-nav), opening the "More" menu first when the item
    is in it (base.html: the first items, per role, are on the bar, the rest under "More")."""
    item = page.locator(f'.mainnav [data-nav="{key}"]')
    if not item.is_visible():
        page.get_by_test_id("nav-more").locator("summary").click()
    item.click()
