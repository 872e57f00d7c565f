"""The insurer desk in a real browser, at a laptop's 1366 × 768: a claims clerk of Zilveren Kruis signs in, opens
November's batch, sees every column up to "Antwoord" without scrolling sideways, awards the postnatal line in
part (1200,00 of 1500,00, with a reason code; first forgetting the code, which is refused on the field), sees
the amber badge and the open count of the "accept all" button go down, and accepts the rest. Finance then
prepares November's payout, and the kraamzorg is paid its share of the awarded amount, not of the claim.

The clerk answers on 25 November 2026 (the clock of this process, and so of the live server); finance prepares
on 3 December. The split (tests.scenarios.payouts): 5 % overhead, 2 % reserve, members 93 %.

    postnatal awarded 1200.00: members 1116.00 = practice 30 % 334.80 + kraamzorg 70 % 781.20 (claimed 1500.00
    would have given the kraamzorg 976.50)
    practice: prenatal 781.20 + natal 502.20 + postnatal 334.80 = 1618.20
    hospital: prenatal 334.80 + natal 334.80 = 669.60
    total 1618.20 + 669.60 + 781.20 = 3069.00 = 93 % of (1200.00 + 900.00 + 1200.00)
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.urls import reverse
from playwright.sync_api import Page, expect

from billing.models import PayoutRun, ReturnLine
from igo.models import Role
from tests.factories import PASSWORD, InsurerMembershipFactory, UserFactory
from tests.scenarios.browser import (
    LAPTOP,
    PHONE,
    assert_fits_viewport,
    enter_totp_code,
    go_to_nav,
    member_with_totp,
    sign_in_with_totp,
    url_re,
)
from tests.scenarios.clock import local, travel
from tests.scenarios.payouts import (
    KRAAM_IBAN,
    at,
    bill,
    completed_pregnancy,
    lines,
    payout_world,
    send_batch,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.real_worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.clock(local(2026, 11, 25, 10)),
]

NOV = dt.date(2026, 11, 1)


def test_a_partial_award_in_the_portal_reaches_the_members_payout(page: Page, world_a, needs_worker) -> None:
    pw = payout_world(world_a, kraam_iban=KRAAM_IBAN)
    ep = completed_pregnancy(pw)
    bill(pw, at(2026, 11, 2))
    batch = send_batch(pw, NOV, at(2026, 11, 20))
    first = lines(ep)
    postnatal = first["postnatal"]
    clerk = UserFactory(email="declaraties@zk.test", full_name="Sanne Verbeek")
    InsurerMembershipFactory(user=clerk, insurer=pw.zk, second_factor=False)
    secret = generate_totp_secret()
    TOTP.activate(clerk, secret)

    page.set_viewport_size(LAPTOP)
    page.goto(reverse("account_login"))
    form = page.get_by_test_id("login-form")
    form.locator("[name=login]").fill(clerk.email)
    form.locator("[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    enter_totp_code(page, secret)
    expect(page).to_have_url(url_re(reverse("insurer_dashboard")))
    page.get_by_test_id(f"open-batch-{batch.pk}").click()
    expect(page.get_by_test_id("batch-number")).to_have_text(str(batch.number))
    page.wait_for_load_state("load")

    # At 1366 px the lines table needs no sideways scroll: the answer column is on the screen in full.
    table = page.get_by_test_id("batch-lines")
    widths = table.evaluate("(t) => [t.parentElement.scrollWidth, t.parentElement.clientWidth]")
    assert widths[0] <= widths[1], f"the lines scroll sideways: {widths}"
    header = table.locator("thead th").last
    expect(header).to_have_text("Antwoord")
    box = header.bounding_box()
    assert box is not None and box["x"] + box["width"] <= LAPTOP["width"]
    assert_fits_viewport(page)
    summary = page.get_by_test_id("answer-summary")
    expect(summary).to_have_attribute("data-open", "3")
    expect(page.get_by_test_id("accept-open")).to_have_text("Alle 3 open regels accepteren")

    # A partial award without a reason code is refused on the field, in Dutch; nothing is stored.
    row = page.get_by_test_id(f"answer-form-{postnatal.number}")
    row.locator("[name=status]").select_option("partial")
    row.locator("[name=awarded_amount]").fill("1200,00")
    row.locator("button[type=submit]").click()
    errors = page.get_by_test_id(f"answer-errors-{postnatal.number}")
    expect(errors.locator('[data-field="reason_code"]')).to_contain_text("reden")
    assert not ReturnLine.unscoped.exists()

    # With the reason: the row shows the amber badge with the awarded amount; the button counts 2.
    row = page.get_by_test_id(f"answer-form-{postnatal.number}")
    expect(row.locator("[name=awarded_amount]")).to_have_value("1200,00")
    row.locator("[name=reason_code]").select_option("0202")
    row.locator("[name=reason_text]").fill("Tarief boven de overeenkomst")
    row.locator("button[type=submit]").click()
    answer = page.get_by_test_id(f"answer-{postnatal.number}")
    expect(answer).to_have_attribute("data-status", "partial")
    expect(page.get_by_test_id(f"badge-{postnatal.number}")).to_have_class("badge warn")
    expect(page.get_by_test_id(f"awarded-{postnatal.number}")).to_contain_text("1.200,00")
    expect(summary).to_have_attribute("data-open", "2")
    expect(page.get_by_test_id("accept-open")).to_have_text("Alle 2 open regels accepteren")

    # Accept the rest (after a confirmation); green badges, and the amber one stays.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("accept-open").click()
    expect(summary).to_have_attribute("data-open", "0")
    for phase in ("prenatal", "natal"):
        expect(page.get_by_test_id(f"badge-{first[phase].number}")).to_have_class("badge ok")
    expect(page.get_by_test_id(f"badge-{postnatal.number}")).to_have_class("badge warn")
    stored = ReturnLine.unscoped.get(batch_line__claim_line=postnatal)
    assert (stored.status, stored.awarded_amount, stored.reason_code) == (
        "partial",
        Decimal("1200.00"),
        "0202",
    )
    # On a phone the page does not scroll sideways either (the table scrolls in its own box).
    page.set_viewport_size(PHONE)
    assert_fits_viewport(page)

    # Finance prepares November's payout on 3 December; the worker makes the run.
    with travel(at(2026, 12, 3)):
        finance, finance_secret = member_with_totp(
            pw.tenant, Role.IGO_FINANCE, "anna@alpha.test", "Anna Jansen"
        )
        page.set_viewport_size(LAPTOP)
        sign_in_with_totp(page, finance, finance_secret, pw.tenant.slug)
        go_to_nav(page, "payouts")
        expect(page.locator("#id_payout_month")).to_have_value("2026-11")
        page.get_by_test_id("prepare-payout").click()
        expect(page.get_by_test_id("payout-status")).to_have_attribute(
            "data-status", "prepared", timeout=60_000
        )
        run = PayoutRun.unscoped.get(tenant=pw.tenant)
        expect(page).to_have_url(url_re(reverse("payout_detail", args=[pw.tenant.slug, run.pk])))
        # The kraamzorg's 70 % of the members' 93 % of the awarded 1200.00, not of the claimed 1500.00.
        expect(page.get_by_test_id(f"payout-amount-{pw.kraam.agb_code}")).to_contain_text("781,20")
        expect(page.get_by_test_id(f"payout-amount-{pw.practice.agb_code}")).to_contain_text("1.618,20")
        expect(page.get_by_test_id(f"payout-amount-{pw.hospital.agb_code}")).to_contain_text("669,60")
        expect(page.get_by_test_id("payout-total")).to_contain_text("3.069,00")
