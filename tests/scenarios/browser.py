"""What the browser journeys share: matching a live-server URL, a TOTP code that is still valid when the server
checks it, signing a clinician in with a password, and a clinician with a professional profile.

The codes follow the clock of this process, which is also the live server's (a thread of it): a journey that
sets the clock (`pytest.mark.clock`) signs in at that moment.
"""

from __future__ import annotations

import datetime as dt
import re
import time

from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from playwright.sync_api import Page, expect

from igo.models import Tenant, User
from tests.factories import (
    PASSWORD,
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
    """Sign a user without a second factor in with the password; the page lands in their IGO."""
    page.goto("/accounts/login/")
    form = page.get_by_test_id("login-form")
    form.locator("[name=login]").fill(email)
    form.locator("[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("current-tenant")).to_be_visible()


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
