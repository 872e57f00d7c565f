"""The payout screens: preparing a month in the background, four eyes on the run's page, the downloads (SEPA
file, payout statements, access-logged) and the IGO's own bank account (administrators only)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache

from billing import tasks
from billing.models import Allocation, Payout, PayoutFile, PayoutRun
from billing.progress import payout_progress_key
from igo.models import AuditEntry, Role, Tenant
from pregnancies.models import AccessLogEntry
from tests.scenarios.clock import travel
from tests.scenarios.files import csv_download, pdf_text
from tests.scenarios.payouts import (
    IGO_IBAN,
    KRAAM_IBAN,
    PRACTICE_IBAN,
    D,
    PayoutWorld,
    accept_all,
    at,
    bill,
    completed_pregnancy,
    payout_world,
    prepare,
    send_batch,
)

pytestmark = pytest.mark.django_db

NOV = dt.date(2026, 11, 1)


@pytest.fixture
def pw(world_a) -> PayoutWorld:
    """November's lines accepted by the insurer; nothing paid out yet."""
    pw = payout_world(world_a, kraam_iban=KRAAM_IBAN)
    completed_pregnancy(pw)
    bill(pw, at(2026, 11, 2))
    accept_all(send_batch(pw, NOV, at(2026, 11, 20)), at(2026, 11, 25))
    return pw


def url(pw: PayoutWorld, path: str = "") -> str:
    return f"/t/{pw.tenant.slug}/payouts/{path}"


def test_the_task_prepares_the_month_and_the_page_opens_the_run(pw, client_for):
    cache.delete(payout_progress_key(pw.tenant.pk))
    result = tasks.payout_run_prepare.apply(args=(pw.tenant.pk, "2026-11-01", pw.finance.pk, "2026-12-03"))
    run = PayoutRun.unscoped.get()
    assert result.get() == run.pk and run.payable_on == dt.date(2026, 12, 3)
    assert run.execution_date == dt.date(2026, 12, 4)  # the next working day after Thursday 3 December
    progress = cache.get(payout_progress_key(pw.tenant.pk))
    assert (progress["running"], progress["run"], progress["done"]) == (False, run.pk, progress["total"])
    client = client_for(pw.finance)
    poll = client.get(url(pw, "?part=progress&period=2026-11-01&n=1"), HTTP_HX_REQUEST="true")
    assert poll["HX-Redirect"] == url(pw, f"{run.pk}/")
    listing = client.get(url(pw)).content.decode()
    assert 'data-testid="payout-run-2026-11"' in listing and "3.348,00" in listing
    # Again for the same month: refused, and the page says so with a link to the run.
    tasks.payout_run_prepare.apply(args=(pw.tenant.pk, "2026-11-01", pw.finance_b.pk, "2026-12-03"))
    poll = client.get(url(pw, "?part=progress&period=2026-11-01&n=1"), HTTP_HX_REQUEST="true")
    html = poll.content.decode()
    assert "HX-Redirect" not in poll and 'data-testid="payout-error"' in html
    assert "al voorbereid" in html and url(pw, f"{run.pk}/") in html
    assert PayoutRun.unscoped.count() == 1


def test_prepare_starts_the_task_after_commit(pw, client_for, django_capture_on_commit_callbacks):
    client = client_for(pw.finance)
    with travel(at(2026, 12, 3)), django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(url(pw, "prepare/"), {"month": "2026-11"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and len(callbacks) == 1
    assert 'data-testid="payout-bar"' in response.content.decode()  # waiting for the worker, polling


def test_a_month_not_over_is_a_field_error(pw, client_for):
    client = client_for(pw.finance)
    with travel(at(2026, 11, 28)):
        response = client.post(url(pw, "prepare/"), {"month": "2026-11"})
        assert response.status_code == 400
        assert response.context["prepare_form"].errors["month"] == [
            "november 2026 is nog niet voorbij; een maand wordt na afloop uitbetaald."
        ]
        htmx = client.post(url(pw, "prepare/"), {"month": "2026-11"}, HTTP_HX_REQUEST="true")
    assert htmx["HX-Retarget"] == "#payout-prepare" and "nog niet voorbij" in htmx.content.decode()
    assert not PayoutRun.unscoped.exists()


def test_the_execution_date_is_a_bank_working_day(pw, client_for):
    with travel(at(2026, 12, 24, 10)):
        client = client_for(pw.finance)  # signed in on the day (the session's idle timeout runs from now)
        typed = client.post(url(pw, "prepare/"), {"month": "2026-11", "execution_date": "2026-12-25"})
        assert typed.status_code == 400
        assert typed.context["prepare_form"].errors["execution_date"] == [
            "vrijdag 25 december 2026 is geen bankwerkdag (een weekend of een TARGET-feestdag); "
            "de eerstvolgende is maandag 28 december 2026."
        ]
        assert not PayoutRun.unscoped.exists()
    # Left empty on Christmas Eve: the next bank working day, not Christmas Day.
    run = prepare(pw, NOV, at(2026, 12, 24, 10))
    assert run.execution_date == dt.date(2026, 12, 28)


def test_the_preparer_cannot_release_and_a_second_finance_user_can(pw, client_for):
    run = prepare(pw, NOV, at(2026, 12, 3))
    a, b = client_for(pw.finance), client_for(pw.finance_b)
    page = a.get(url(pw, f"{run.pk}/")).content.decode()
    assert 'data-testid="payout-release-disabled"' in page and 'data-testid="four-eyes"' in page
    assert 'data-testid="payout-release"' not in page
    response = a.post(url(pw, f"{run.pk}/release/"), follow=True)
    assert "vier ogen" in response.content.decode()
    run.refresh_from_db()
    assert run.status == "prepared"
    page = b.get(url(pw, f"{run.pk}/")).content.decode()
    assert 'data-testid="payout-release"' in page and 'data-testid="payout-release-disabled"' not in page
    assert b.post(url(pw, f"{run.pk}/release/")).status_code == 302
    run.refresh_from_db()
    assert (run.status, run.released_by) == ("released", pw.finance_b)
    page = a.get(url(pw, f"{run.pk}/")).content.decode()
    assert 'data-status="released"' in page and 'data-testid="payout-actions"' not in page


def test_the_sepa_file_is_for_the_bank_only_after_release_and_every_download_is_audited(pw, client_for):
    run = prepare(pw, NOV, at(2026, 12, 3))
    preparer, releaser = client_for(pw.finance), client_for(pw.finance_b)
    page = preparer.get(url(pw, f"{run.pk}/")).content.decode()
    assert 'data-testid="sepa-after-release"' in page and 'data-testid="download-sepa"' not in page
    for client in (preparer, releaser):  # four eyes: not even the second finance user takes it before release
        refused = client.get(url(pw, f"{run.pk}/sepa/"), follow=True)
        assert refused.redirect_chain == [(url(pw, f"{run.pk}/"), 302)]
        assert "application/xml" not in refused["Content-Type"]
        assert "vrijgegeven" in refused.content.decode()  # the message says why, in Dutch
    assert not AuditEntry.objects.filter(action="payout.sepa_download").exists()

    assert releaser.post(url(pw, f"{run.pk}/release/")).status_code == 302
    page = preparer.get(url(pw, f"{run.pk}/")).content.decode()
    assert 'data-testid="download-sepa"' in page
    sepa = preparer.get(url(pw, f"{run.pk}/sepa/"))
    assert sepa["Content-Type"] == "application/xml"
    stored = PayoutFile.unscoped.get(run=run)
    assert sepa.content == bytes(stored.content)
    assert f"SEPA_{pw.tenant.agb_code}_2026-11_{run.pk}.xml" in sepa["Content-Disposition"]
    (entry,) = AuditEntry.objects.filter(action="payout.sepa_download")
    assert (entry.actor, entry.tenant, entry.object_id) == (pw.finance, pw.tenant, str(run.pk))
    assert entry.details == {"period": "2026-11", "sha256": stored.sha256}


def test_downloads_payout_statements(pw, client_for, tmp_path):
    run = prepare(pw, NOV, at(2026, 12, 3))
    client = client_for(pw.finance)

    practice = Payout.unscoped.get(run=run, organisation=pw.practice)
    response = client.get(url(pw, f"{run.pk}/statements/{practice.pk}/csv/"))
    download = csv_download(response)
    rows = download.rows
    # practice: 781.20 + 502.20 + 418.50 = 1701.90, three entries (booked at one moment, by line reference)
    assert [(r["phase"], r["entry"], download.number(r["amount"])) for r in rows] == [
        ("natal", "allocation", D("502.20")),
        ("postnatal", "allocation", D("418.50")),
        ("prenatal", "allocation", D("781.20")),
    ]
    assert sum(download.number(r["amount"]) for r in rows) == practice.amount == D("1701.90")
    episode = (
        Allocation.unscoped.select_related("claim_line__episode__client")
        .get(paid_in=practice, claim_line__phase="natal")
        .claim_line.episode
    )
    assert episode is not None
    assert {r["episode"] for r in rows} == {str(episode.pk)}
    assert episode.client.family_name not in response.content.decode()  # references only, no names
    pdf = client.get(url(pw, f"{run.pk}/statements/{practice.pk}/pdf/"))
    text, pages = pdf_text(pdf.content, tmp_path)
    assert pages == 1
    assert "1.701,90" in text and "Praktijk De Wieg" in text and "****6789" in text
    assert PRACTICE_IBAN not in text
    # NEN 7513: each download names the episode of one client.
    logged = AccessLogEntry.unscoped.filter(user=pw.finance, client=episode.client, action="export")
    assert logged.count() == 2
    # A payout of another run under this run's URL is not found.
    assert client.get(url(pw, f"{run.pk + 1}/statements/{practice.pk}/csv/")).status_code == 404
    assert client.get(url(pw, f"{run.pk}/statements/{practice.pk}/xls/")).status_code == 404


def test_an_administrator_sets_the_igo_account_and_finance_cannot(pw, client_for):
    admin, finance = client_for(pw.admin), client_for(pw.finance)
    response = admin.post(url(pw, "bank-account/"), {"iban": "NL91 ABNA 0417 1643 01", "bic": ""})
    assert response.status_code == 400
    assert response.context["bank_form"].errors["iban"]
    assert finance.post(url(pw, "bank-account/"), {"iban": KRAAM_IBAN}).status_code == 403
    assert admin.post(url(pw, "bank-account/"), {"iban": KRAAM_IBAN.lower(), "bic": ""}).status_code == 302
    tenant = Tenant.objects.get(pk=pw.tenant.pk)
    assert (tenant.iban, tenant.bic) == (KRAAM_IBAN, "TRIONL2U")
    entry = AuditEntry.objects.get(action="tenant.bank_account")
    assert (entry.details["iban_old"], entry.details["iban_new"]) == ("****4300", "****6780")
    assert IGO_IBAN not in str(entry.details)
    page = finance.get(url(pw)).content.decode()
    assert "****6780" in page and 'data-testid="igo-account-form"' not in page


def test_finance_has_a_payouts_entry_in_the_navigation(world_a, client_for):
    html = client_for(world_a.user(Role.IGO_FINANCE)).get(f"/t/{world_a.tenant.slug}/").content.decode()
    assert 'data-nav="payouts"' in html
