"""Insurer journey in a real browser: sign in with TOTP, open a batch, download the KZ301 file, reject one
line with a reason code, accept the rest, and see the answers; the IGO gets a work item for the rejection."""

from __future__ import annotations

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.urls import reverse
from playwright.sync_api import Page, expect

from billing.models import BatchFile, BatchLine, BatchReturn, ClaimLine, LineStatus, WorkItem
from tests.factories import PASSWORD, InsurerMembershipFactory, UserFactory
from tests.scenarios.batches import make_batch
from tests.scenarios.billing import BILLING_NOW, build, portfolio, run
from tests.scenarios.browser import current_totp_code, url_re

# The billing world of 2026 with this month's batch, seen from BILLING_NOW: the signing in (TOTP) and the
# live server (a thread of this process) follow the moved clock, the browser keeps its own.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.clock(BILLING_NOW)]


def test_insurer_downloads_rejects_one_line_and_accepts_the_rest(page: Page, world_a) -> None:
    s = build(world_a)
    portfolio(s)
    run(s)
    batch = make_batch(s, s.zk)
    lines = list(BatchLine.unscoped.filter(batch=batch).order_by("line_no"))
    rejected = lines[1]
    user = UserFactory(email="declaraties@zk.test", full_name="Sanne Verbeek")
    InsurerMembershipFactory(user=user, insurer=s.zk, second_factor=False)
    secret = generate_totp_secret()
    TOTP.activate(user, secret)

    # Sign in: password, then the code from the authenticator app; an insurer-only user lands in the portal.
    page.goto(reverse("account_login"))
    form = page.get_by_test_id("login-form")
    form.locator("[name=login]").fill(user.email)
    form.locator("[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(url_re(reverse("mfa_authenticate")))
    code = page.locator("input[name=code]")
    code.fill(current_totp_code(secret))
    # The form also holds allauth's "cancel" button, which belongs to another form.
    page.locator("form", has=code).locator("button[type=submit]:not([form])").click()
    expect(page).to_have_url(url_re(reverse("insurer_dashboard")))

    page.get_by_test_id(f"open-batch-{batch.pk}").click()
    expect(page).to_have_url(url_re(reverse("insurer_batch_detail", kwargs={"pk": batch.pk})))
    expect(page.get_by_test_id("batch-number")).to_have_text(str(batch.number))
    expect(page.get_by_test_id("answer-summary")).to_have_attribute("data-open", str(len(lines)))

    # The KZ301 file: the stored bytes, starting with the 01 header record.
    with page.expect_download() as info:
        page.get_by_test_id("download-kz301").click()
    download = info.value
    assert download.suggested_filename.startswith("KZ301_") and download.suggested_filename.endswith(".txt")
    with open(download.path(), "rb") as f:
        content = f.read()
    assert content[:2] == b"01"
    assert content == bytes(BatchFile.unscoped.get(batch=batch, kind="kz301").content)

    # Reject one line with a reason code (the row is answered in place, without a page load).
    row_form = page.get_by_test_id(f"answer-form-{rejected.number}")
    row_form.locator("[name=status]").select_option("rejected")
    row_form.locator("[name=reason_code]").select_option("0101")
    row_form.locator("[name=reason_text]").fill("BSN onbekend")
    row_form.locator("button[type=submit]").click()
    answer = page.get_by_test_id(f"answer-{rejected.number}")
    expect(answer).to_have_attribute("data-status", "rejected")
    expect(answer).to_contain_text("0101")
    expect(page.get_by_test_id("answer-summary")).to_have_attribute("data-open", str(len(lines) - 1))

    # Accept the rest at once (after a confirmation).
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("accept-open").click()
    expect(page.get_by_test_id("answer-summary")).to_have_attribute("data-open", "0")
    for line in lines:
        expected = "rejected" if line.pk == rejected.pk else "accepted"
        expect(page.get_by_test_id(f"answer-{line.number}")).to_have_attribute("data-status", expected)
    expect(page.get_by_test_id("accept-open")).to_have_count(0)
    expect(page.get_by_test_id("deliveries").locator("tbody tr")).to_have_count(2)

    # The database: statuses of the claim lines, and a work item for the IGO's finance team.
    statuses = {line.number: ClaimLine.unscoped.get(pk=line.claim_line_id).status for line in lines}
    assert statuses == {
        line.number: LineStatus.REJECTED if line.pk == rejected.pk else LineStatus.ACCEPTED for line in lines
    }
    claim = ClaimLine.unscoped.get(pk=rejected.claim_line_id)
    item = WorkItem.unscoped.get(reason="rejected", resolved_at__isnull=True)
    assert (item.tenant_id, item.episode_id, item.phase) == (s.tenant.pk, claim.episode_id, claim.phase)
    assert "0101" in item.message
    assert list(
        BatchReturn.unscoped.filter(batch=batch).order_by("pk").values_list("accepted", "rejected")
    ) == [
        (0, 1),
        (len(lines) - 1, 0),
    ]
