"""Four-eyes payout in a real browser: finance user A prepares November's payout (the run is made by the Celery
worker while the page follows its progress), sees that she cannot release it herself; finance user B signs in,
releases it, and downloads the SEPA file, which is the stored pain.001.001.03 document.

The page is seen on 3 December 2026 (the clock of this process, and so of the live server, which passes the day
to the worker's task); November's lines were accepted by the insurer on 25 November."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import sepaxml
import xmlschema
from django.urls import reverse
from playwright.sync_api import Page, expect

from billing.models import PayoutFile, PayoutRun
from igo.models import Role, Tenant, User
from tests.scenarios.browser import go_to_nav, member_with_totp, sign_in_with_totp, url_re
from tests.scenarios.clock import local
from tests.scenarios.payouts import (
    KRAAM_IBAN,
    accept_all,
    at,
    bill,
    completed_pregnancy,
    payout_world,
    send_batch,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.real_worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.clock(local(2026, 12, 3, 10)),
]

NOV = dt.date(2026, 11, 1)


def finance_user(tenant: Tenant, email: str, name: str) -> tuple[User, str]:
    return member_with_totp(tenant, Role.IGO_FINANCE, email, name)


def test_a_prepares_cannot_release_b_releases_and_downloads_the_sepa_file(page: Page, world_a, needs_worker):
    pw = payout_world(world_a, kraam_iban=KRAAM_IBAN)
    completed_pregnancy(pw)
    bill(pw, at(2026, 11, 2))
    accept_all(send_batch(pw, NOV, at(2026, 11, 20)), at(2026, 11, 25))
    slug = pw.tenant.slug
    anna, anna_secret = finance_user(pw.tenant, "anna@alpha.test", "Anna Jansen")
    bram, bram_secret = finance_user(pw.tenant, "bram@alpha.test", "Bram de Vries")

    # A prepares November (the month field offers last month) and the page opens the run when it is made.
    sign_in_with_totp(page, anna, anna_secret, slug)
    go_to_nav(page, "payouts")
    expect(page).to_have_url(url_re(reverse("payout_list", args=[slug])))
    expect(page.locator("#id_payout_month")).to_have_value("2026-11")
    page.get_by_test_id("prepare-payout").click()
    run_page = page.get_by_test_id("payout-status")
    expect(run_page).to_have_attribute("data-status", "prepared", timeout=60_000)
    run = PayoutRun.unscoped.get(tenant=pw.tenant)
    expect(page).to_have_url(url_re(reverse("payout_detail", args=[slug, run.pk])))
    # practice 1701.90 + hospital 669.60 + kraamzorg 976.50 = 3348.00
    expect(page.get_by_test_id("payout-total")).to_contain_text("3.348,00")
    expect(page.get_by_test_id("payout-prepared-by")).to_contain_text("Anna Jansen")

    # A sees that she cannot release it: the button is disabled, with the reason. On a phone (390 px) the page
    # does not scroll sideways (wide tables scroll within their own box).
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(page.get_by_test_id("payout-release-disabled")).to_be_disabled()
    expect(page.get_by_test_id("payout-release")).to_have_count(0)
    expect(page.get_by_test_id("four-eyes")).to_contain_text("vier ogen")

    # B signs in, checks and releases it (after a confirmation).
    sign_in_with_totp(page, bram, bram_secret, slug)
    page.goto(reverse("payout_detail", args=[slug, run.pk]))
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("payout-release").click()
    expect(page.get_by_test_id("payout-status")).to_have_attribute("data-status", "released")
    expect(page.get_by_test_id("payout-released-by")).to_contain_text("Bram de Vries")
    run.refresh_from_db()
    assert (run.status, run.prepared_by, run.released_by) == ("released", anna, bram)

    # The SEPA file: the stored bytes, valid pain.001.001.03, paying the run's total.
    with page.expect_download() as info:
        page.get_by_test_id("download-sepa").click()
    download = info.value
    assert download.suggested_filename == f"SEPA_{pw.tenant.agb_code}_2026-11_{run.pk}.xml"
    content = Path(download.path()).read_bytes()
    assert content == bytes(PayoutFile.unscoped.get(run=run).content)
    xsd = Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.03.xsd"
    xmlschema.XMLSchema(str(xsd)).validate(content.decode())
    assert f"<CtrlSum>{run.total}</CtrlSum>".encode() in content and run.total == Decimal("3348.00")
