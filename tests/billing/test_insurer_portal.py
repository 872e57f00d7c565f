"""The insurer portal: only released batches of the user's insurers (from every IGO), downloads that are
the stored bytes, answers per line / for all open lines / by return file with nothing stored on an error,
and API keys that are shown once and stored as a hash.

Batches are made with the real pipeline: the billing world of tests.scenarios.billing in two IGOs, a
billing run, then `billing.services.batches.batch_create` and `batch_release` (tests.scenarios.batches).
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from billing.insurer.return_files import ReturnFileError, return_file_parse
from billing.insurer.selectors import batch_filename
from billing.models import (
    BatchFile,
    BatchLine,
    BatchReturn,
    ClaimBatch,
    ClaimLine,
    LineStatus,
    ReturnLine,
    WorkItem,
)
from igo import services as igo_services
from igo.models import AuditEntry, InsurerApiToken, InsurerMembership, Role
from tests.factories import InsurerMembershipFactory
from tests.scenarios.batches import (
    Batches,
    claim_status,
    insurer_employee,
    lines_of,
    make_batches,
    nothing_answered,
)
from tests.scenarios.billing import BILLING_NOW
from tests.scenarios.kz302 import agb_of, invoice_of, kz302_file
from tests.scenarios.people import TenantWorld, signed_in_just_now

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BILLING_NOW)]


@pytest.fixture
def bx(world_a: TenantWorld, world_b: TenantWorld) -> Batches:
    return make_batches(world_a, world_b)


def detail(batch: ClaimBatch) -> str:
    return reverse("insurer_batch_detail", kwargs={"pk": batch.pk})


def portal_urls(batch: ClaimBatch) -> list[tuple[str, str]]:
    line = lines_of(batch)[0]
    return [
        ("get", detail(batch)),
        ("get", reverse("insurer_batch_file", kwargs={"pk": batch.pk, "kind": "kz301"})),
        ("post", reverse("insurer_line_answer", kwargs={"pk": batch.pk, "line_pk": line.pk})),
        ("post", reverse("insurer_accept_open", kwargs={"pk": batch.pk})),
        ("post", reverse("insurer_return_upload", kwargs={"pk": batch.pk})),
    ]


# --- who sees what -----------------------------------------------------------------------------


def test_fixture_batches_are_what_the_tests_assume(bx):
    # Zilveren Kruis: ordinary 3 lines + transferred 1 + prenatal of the insurer change 1 + in labour 1.
    assert (bx.zk_a.line_count, bx.vgz_a.line_count, bx.zk_b.line_count) == (6, 2, 6)
    assert bx.zk_a.status == bx.vgz_a.status == bx.zk_b.status == "released"
    assert bx.vgz_b_draft.status == "draft"
    assert all(claim_status(line) == LineStatus.SENT for line in lines_of(bx.zk_a))


def test_dashboard_lists_released_batches_of_own_insurer_from_every_igo(bx, client_for):
    page = client_for(bx.zk_user).get(reverse("insurer_dashboard"))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-testid="batch-{bx.zk_a.pk}"' in html and f'data-testid="batch-{bx.zk_b.pk}"' in html
    assert f'data-testid="batch-{bx.vgz_a.pk}"' not in html
    assert bx.a.tenant.agb_code in html and bx.b.tenant.agb_code in html

    vgz = client_for(bx.vgz_user).get(reverse("insurer_dashboard")).content.decode()
    assert f'data-testid="batch-{bx.vgz_a.pk}"' in vgz
    assert f'data-testid="batch-{bx.vgz_b_draft.pk}"' not in vgz  # a draft is not sent yet
    assert f'data-testid="batch-{bx.zk_a.pk}"' not in vgz


def test_dashboard_counts_answered_and_open_lines(bx, client_for):
    client = client_for(bx.zk_user)
    first = lines_of(bx.zk_a)[0]
    client.post(
        reverse("insurer_line_answer", kwargs={"pk": bx.zk_a.pk, "line_pk": first.pk}),
        {"status": "rejected", "reason_code": "0101"},
    )
    page = client.get(reverse("insurer_dashboard"))
    batch = next(b for b in page.context["page"] if b.pk == bx.zk_a.pk)
    assert (batch.answered, batch.rejected, batch.open_lines) == (1, 1, 5)
    assert f'data-testid="open-{bx.zk_a.pk}">5<' in page.content.decode()


def test_dashboard_filters_by_month_and_igo(bx, client_for):
    client = client_for(bx.zk_user)
    url = reverse("insurer_dashboard")

    def shown(query: dict[str, str]) -> set[int]:
        response = client.get(url, query)
        assert response.status_code == 200
        return {b.pk for b in response.context["page"]}

    month = f"{bx.period:%Y-%m}"
    assert shown({}) == {bx.zk_a.pk, bx.zk_b.pk}
    assert shown({"period": month}) == {bx.zk_a.pk, bx.zk_b.pk}
    assert shown({"period": "2020-01"}) == set()
    assert shown({"igo": bx.b.tenant.slug}) == {bx.zk_b.pk}
    assert shown({"period": month, "igo": bx.a.tenant.slug}) == {bx.zk_a.pk}
    # A malformed month is an error on the field, not a crash and not a silent filter.
    response = client.get(url, {"period": "2026-13"})
    assert response.status_code == 200 and response.context["form"].errors["period"]
    # htmx asks for the table only.
    partial = client.get(url, {"igo": bx.a.tenant.slug}, HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content and f'data-testid="batch-{bx.zk_a.pk}"'.encode() in partial.content


def test_other_insurers_batch_and_a_draft_are_not_found(bx, client_for):
    vgz = client_for(bx.vgz_user)
    for method, url in portal_urls(bx.zk_a) + portal_urls(bx.vgz_b_draft):
        response = getattr(vgz, method)(url, {"status": "accepted"} if method == "post" else None)
        assert response.status_code == 404, url
    assert nothing_answered(bx.zk_a) and nothing_answered(bx.vgz_b_draft)
    assert not AuditEntry.objects.filter(action="batch.download").exists()


def test_line_of_another_batch_is_not_found(bx, client_for):
    other_line = lines_of(bx.zk_b)[0]
    response = client_for(bx.zk_user).post(
        reverse("insurer_line_answer", kwargs={"pk": bx.zk_a.pk, "line_pk": other_line.pk}),
        {"status": "accepted"},
    )
    assert response.status_code == 404
    assert nothing_answered(bx.zk_b)


@pytest.mark.parametrize("who", ["finance", "midwife", "outsider"])
def test_users_without_an_insurer_get_403_everywhere(bx, client_for, who, world_a, outsider):
    user = {"finance": bx.finance_a, "midwife": world_a.user(Role.MIDWIFE), "outsider": outsider}[who]
    client = client_for(user)
    urls = [
        ("get", reverse("insurer_dashboard")),
        ("get", reverse("insurer_tokens")),
        ("post", reverse("insurer_tokens")),
        ("post", reverse("insurer_token_revoke", kwargs={"pk": 1})),
        *portal_urls(bx.zk_a),
    ]
    for method, url in urls:
        assert getattr(client, method)(url).status_code == 403, url
    assert nothing_answered(bx.zk_a)


def test_anonymous_is_sent_to_the_login_page(bx):
    for method, url in [("get", reverse("insurer_dashboard")), *portal_urls(bx.zk_a)]:
        response = getattr(Client(), method)(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_login")), url


def test_ended_insurer_membership_loses_access(bx, client_for):
    client = client_for(bx.zk_user)
    assert client.get(detail(bx.zk_a)).status_code == 200
    InsurerMembership.objects.filter(user=bx.zk_user).update(is_active=False)
    assert client.get(detail(bx.zk_a)).status_code == 403


def test_detail_shows_header_lines_and_no_care_data(bx, client_for):
    response = client_for(bx.zk_user).get(detail(bx.zk_a))
    assert response.status_code == 200
    html = response.content.decode()
    assert bx.a.tenant.agb_code in html and bx.a.tenant.name in html
    assert [line.pk for line in response.context["page"]] == [line.pk for line in lines_of(bx.zk_a)]
    for line in lines_of(bx.zk_a):
        assert f'data-testid="line-{line.number}"' in html and line.bsn in html
    for kind in ("kz301", "csv", "pdf"):
        assert reverse("insurer_batch_file", kwargs={"pk": bx.zk_a.pk, "kind": kind}) in html
    # Nothing from the care record: no episode or care-event pages, no member organisations.
    assert "/t/" not in html
    assert bx.a.practice.name not in html and bx.a.hospital.name not in html


# --- downloads ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "content_type"),
    [
        ("kz301", "text/plain; charset=us-ascii"),
        ("csv", "text/csv; charset=utf-8"),
        ("pdf", "application/pdf"),
    ],
)
def test_download_is_the_stored_file_and_is_audited(bx, client_for, kind, content_type):
    response = client_for(bx.zk_user).get(
        reverse("insurer_batch_file", kwargs={"pk": bx.zk_a.pk, "kind": kind})
    )
    stored = BatchFile.unscoped.get(batch=bx.zk_a, kind=kind)
    assert response.status_code == 200
    assert response.content == bytes(stored.content)
    assert hashlib.sha256(response.content).hexdigest() == stored.sha256 == response["X-Content-SHA256"]
    assert response["Content-Type"] == content_type
    name = batch_filename(bx.zk_a, kind)
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    assert name.startswith(("KZ301_", "batch_")) and bx.a.tenant.agb_code in name and "_3311_" in name
    assert "no-store" in response["Cache-Control"]
    entry = AuditEntry.objects.get(action="batch.download")
    assert (entry.actor, entry.tenant, entry.object_id) == (bx.zk_user, bx.a.tenant, str(bx.zk_a.pk))
    assert entry.details == {"kind": kind, "insurer": "3311", "via": "portal"}


def test_kz301_download_starts_with_the_header_record(bx, client_for):
    body = (
        client_for(bx.zk_user)
        .get(reverse("insurer_batch_file", kwargs={"pk": bx.zk_a.pk, "kind": "kz301"}))
        .content
    )
    assert body[:2] == b"01" and body.endswith(b"\r\n")


def test_unknown_file_kind_is_not_found(bx, client_for):
    url = reverse("insurer_batch_file", kwargs={"pk": bx.zk_a.pk, "kind": "xml"})
    assert client_for(bx.zk_user).get(url).status_code == 404
    assert not AuditEntry.objects.filter(action="batch.download").exists()


# --- answers in the portal ---------------------------------------------------------------------


def answer_url(batch: ClaimBatch, line: BatchLine) -> str:
    return reverse("insurer_line_answer", kwargs={"pk": batch.pk, "line_pk": line.pk})


def test_reject_one_line_opens_a_work_item_in_the_igo(bx, client_for):
    line = lines_of(bx.zk_a)[1]
    response = client_for(bx.zk_user).post(
        answer_url(bx.zk_a, line),
        {"status": "rejected", "reason_code": "0103", "reason_text": "Nummer onbekend"},
    )
    assert response.status_code == 302 and response["Location"] == detail(bx.zk_a)
    answer = ReturnLine.unscoped.select_related("batch_return").get(batch_line=line)
    assert (answer.status, answer.reason_code, answer.reason_text) == ("rejected", "0103", "Nummer onbekend")
    assert (answer.batch_return.source, answer.batch_return.received_by) == ("portal", bx.zk_user)
    claim = ClaimLine.unscoped.get(pk=line.claim_line_id)
    assert claim.status == LineStatus.REJECTED
    item = WorkItem.unscoped.get(reason="rejected")
    assert (item.tenant, item.episode_id, item.phase) == (bx.a.tenant, claim.episode_id, claim.phase)
    assert "0103" in item.message
    # The others are untouched.
    assert [claim_status(x) for x in lines_of(bx.zk_a) if x.pk != line.pk] == [LineStatus.SENT] * 5


def test_reject_without_reason_code_stores_nothing_and_says_why(bx, client_for):
    line = lines_of(bx.zk_a)[0]
    client = client_for(bx.zk_user)
    response = client.post(answer_url(bx.zk_a, line), {"status": "rejected", "reason_text": "?"})
    assert response.status_code == 400
    assert f'data-testid="answer-errors-{line.number}"' in response.content.decode()
    assert nothing_answered(bx.zk_a)
    # With htmx the row comes back (htmx swaps only 2xx) with the errors and the posted values.
    row = client.post(
        answer_url(bx.zk_a, line), {"status": "rejected", "reason_text": "?"}, HTTP_HX_REQUEST="true"
    )
    assert row.status_code == 200
    html = row.content.decode()
    assert html.startswith("<tr") and f'data-testid="answer-errors-{line.number}"' in html
    assert '<option value="rejected" selected>' in html
    assert nothing_answered(bx.zk_a)


def test_htmx_answer_returns_the_row_and_the_new_summary(bx, client_for):
    line = lines_of(bx.zk_a)[0]
    row = client_for(bx.zk_user).post(
        answer_url(bx.zk_a, line), {"status": "accepted"}, HTTP_HX_REQUEST="true"
    )
    html = row.content.decode()
    assert row.status_code == 200
    assert f'data-testid="answer-{line.number}" data-status="accepted"' in html
    assert 'hx-swap-oob="true"' in html and 'data-open="5"' in html
    assert claim_status(line) == LineStatus.ACCEPTED


def test_a_line_is_answered_once(bx, client_for):
    line = lines_of(bx.zk_a)[0]
    client = client_for(bx.zk_user)
    client.post(answer_url(bx.zk_a, line), {"status": "accepted"})
    response = client.post(answer_url(bx.zk_a, line), {"status": "rejected", "reason_code": "0101"})
    assert response.status_code == 400
    assert ReturnLine.unscoped.get(batch_line=line).status == "accepted"
    assert claim_status(line) == LineStatus.ACCEPTED


def test_accept_all_open_lines_after_one_rejection(bx, client_for):
    lines = lines_of(bx.zk_a)
    client = client_for(bx.zk_user)
    client.post(answer_url(bx.zk_a, lines[2]), {"status": "rejected", "reason_code": "0101"})
    response = client.post(reverse("insurer_accept_open", kwargs={"pk": bx.zk_a.pk}))
    assert response.status_code == 302
    assert [claim_status(x) for x in lines] == [
        LineStatus.REJECTED if x.pk == lines[2].pk else LineStatus.ACCEPTED for x in lines
    ]
    delivery = BatchReturn.unscoped.filter(batch=bx.zk_a).order_by("-pk").first()
    assert (delivery.accepted, delivery.rejected, delivery.source) == (5, 0, "portal")
    # Nothing open any more: a second click stores nothing.
    client.post(reverse("insurer_accept_open", kwargs={"pk": bx.zk_a.pk}))
    assert BatchReturn.unscoped.filter(batch=bx.zk_a).count() == 2
    page = client.get(detail(bx.zk_a))
    assert 'data-open="0"' in page.content.decode() and b'data-testid="accept-open"' not in page.content


# --- return files ------------------------------------------------------------------------------


def upload(client: Client, batch: ClaimBatch, content: bytes, name: str = "retour.csv"):  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        reverse("insurer_return_upload", kwargs={"pk": batch.pk}),
        {"file": SimpleUploadedFile(name, content, content_type="text/csv")},
    )


def test_upload_return_file_with_dutch_status_words(bx, client_for):
    lines = lines_of(bx.zk_a)
    rows = ["reference;status;reason_code;reason_text"]
    rows += [f"{x.number};Geaccepteerd;;" for x in lines[:5]]
    rows += [f"{lines[5].number};afgewezen;0101;BSN onbekend bij ons"]
    content = ("\ufeff" + "\r\n".join(rows) + "\r\n").encode("utf-8")
    response = upload(client_for(bx.zk_user), bx.zk_a, content, "ZK-retour-2026-11.csv")
    assert response.status_code == 302
    delivery = BatchReturn.unscoped.get(batch=bx.zk_a)
    assert (delivery.source, delivery.filename, delivery.accepted, delivery.rejected) == (
        "file", "ZK-retour-2026-11.csv", 5, 1,
    )  # fmt: skip
    assert claim_status(lines[5]) == LineStatus.REJECTED
    assert ReturnLine.unscoped.get(batch_line=lines[5]).reason_text == "BSN onbekend bij ons"
    assert WorkItem.unscoped.filter(reason="rejected", tenant=bx.a.tenant).count() == 1


def test_upload_with_commas_columns_reordered_and_leading_zero_lost(bx, client_for):
    lines = lines_of(bx.zk_a)
    content = f"status,reference,reason_code\nrejected,{lines[0].number},101\n".encode()
    response = upload(client_for(bx.zk_user), bx.zk_a, content)
    assert response.status_code == 302
    assert ReturnLine.unscoped.get(batch_line=lines[0]).reason_code == "0101"


def test_bad_return_file_shows_errors_per_row_and_stores_nothing(bx, client_for):
    lines = lines_of(bx.zk_a)
    content = (
        "reference;status;reason_code;reason_text\n"
        f"{lines[0].number};accepted;;\n"
        "\n"
        f"{lines[1].number};misschien;;\n"
        ";accepted;;\n"
    ).encode()
    response = upload(client_for(bx.zk_user), bx.zk_a, content)
    assert response.status_code == 400
    assert [(e.row, e.field) for e in response.context["upload_errors"]] == [(4, "status"), (5, "reference")]
    assert b'data-testid="upload-errors"' in response.content
    assert nothing_answered(bx.zk_a)


def test_return_file_refused_by_the_service_names_the_file_rows(bx, client_for):
    lines = lines_of(bx.zk_a)
    content = (
        "reference;status;reason_code;reason_text\n"
        f"{lines[0].number};accepted;;\n"
        "NOT-IN-BATCH;accepted;;\n"
        f"{lines[1].number};rejected;;\n"
        f"{lines[0].number};accepted;;\n"
    ).encode()
    response = upload(client_for(bx.zk_user), bx.zk_a, content)
    assert response.status_code == 400
    errors = {(e.row, e.field) for e in response.context["upload_errors"]}
    assert errors == {(3, "reference"), (4, "reason_code"), (5, "reference")}
    assert nothing_answered(bx.zk_a)


def test_a_kz302_upload_answering_another_igos_declaration_is_refused(bx, client_for):
    # Both IGOs' first November batch to Zilveren Kruis is invoice …000001; Alpha's whole-file rejection
    # uploaded on Beta's batch is refused on the AGB code of its 01 record, and nothing is stored.
    alpha = kz302_file(
        uzovi=bx.a.zk.uzovi_code,
        invoice=invoice_of(bx.zk_a),
        agb=agb_of(bx.zk_a),
        answers=[],
        file_codes=["0001"],
    )
    response = upload(client_for(bx.zk_user), bx.zk_b, alpha, name="retour.kz302")
    assert response.status_code == 400
    assert [(e.row, e.field) for e in response.context["upload_errors"]] == [(1, "agb")]
    assert f"declaratie van AGB-code {bx.a.tenant.agb_code} (0112)" in response.content.decode()
    assert nothing_answered(bx.zk_b) and nothing_answered(bx.zk_a)


def translated(message: str, language: str, **values: object) -> str:
    """What the page shows for `message` in `language`, whatever the state of the project's catalogs."""
    with translation.override(language):
        return translation.gettext(message) % values


def test_return_file_errors_are_in_the_users_language(bx, client_for):
    client = client_for(bx.zk_user)
    content = b"reference;status\nX;misschien\n"
    dutch = upload(client, bx.zk_a, content).content.decode()
    client.cookies["django_language"] = "en"
    english = upload(client, bx.zk_a, content).content.decode()
    assert "Row 2 · status: Unknown status “misschien”" in english
    unknown = (
        "Unknown status “%(word)s”: use accepted, partial or rejected (or geaccepteerd, gedeeltelijk or "
        "afgewezen)."
    )
    assert translated(unknown, "nl", word="misschien") in dutch
    assert translated("Row %(row)s", "nl", row=2) in dutch
    assert nothing_answered(bx.zk_a)


@pytest.mark.parametrize(
    ("content", "row", "fragment"),
    [
        (b"", 0, "empty"),
        (b"reference;status\n", 0, "only a header"),
        (b"reference;state\nA;accepted\n", 1, "state"),
        (b"reference;status;reference\nA;accepted;A\n", 1, "twice"),
        (b"status\naccepted\n", 1, "reference"),
        (b"reference;status\nA;accepted;x;y\n", 2, "fields"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", 0, "not a text"),
    ],
)
def test_return_file_parser_refuses_malformed_files(content, row, fragment):
    with translation.override("en"):  # the messages in English
        with pytest.raises(ReturnFileError) as exc:
            return_file_parse(content)
        assert exc.value.errors[0].row == row
        assert fragment in str(exc.value.errors[0].message)


def test_return_file_amounts_are_read_as_the_portal_reads_them():
    head = "reference;status;reason_code;reason_text;awarded_amount\n"
    parsed = return_file_parse(
        (head + "A;gedeeltelijk;0202;;1.200,00\nB;partial;0202;;1200,5\nC;partial;0202;;1,200.00\n").encode()
    )
    assert [e.awarded_amount for e in parsed.entries] == [
        Decimal("1200.00"),
        Decimal("1200.5"),
        Decimal("1200.00"),
    ]
    with pytest.raises(ReturnFileError) as exc:
        return_file_parse(
            (head + "A;partial;0202;;1.000\nB;partial;0202;;12,345\nC;partial;0202;;12,00\n").encode()
        )
    assert [(e.row, e.field) for e in exc.value.errors] == [(2, "awarded_amount"), (3, "awarded_amount")]


def test_return_file_parser_reads_windows_1252_and_skips_blank_lines():
    content = "reference;status;reason_code;reason_text\r\n\r\nA-1;afgewezen;0999;Naam wijkt af (Müller)\r\n".encode(
        "cp1252"
    )
    parsed = return_file_parse(content)
    assert parsed.rows == [3]
    entry = parsed.entries[0]
    assert (entry.reference, entry.status, entry.reason_code, entry.reason_text) == (
        "A-1", "rejected", "0999", "Naam wijkt af (Müller)",
    )  # fmt: skip


# --- API keys in the portal --------------------------------------------------------------------


def test_create_key_shows_it_once_and_stores_only_its_hash(bx, client_for):
    # Making a key asks to sign in again (an hour-old session is sent to do so).
    asked = client_for(bx.zk_user).post(
        reverse("insurer_tokens"), {"name": "Declaratiesysteem", "days": "30"}
    )
    assert asked.status_code == 302 and "/accounts/reauthenticate/" in asked["Location"]
    assert not InsurerApiToken.objects.exists()
    client = signed_in_just_now(Client(), bx.zk_user)
    response = client.post(reverse("insurer_tokens"), {"name": "Declaratiesysteem", "days": "30"})
    assert response.status_code == 201
    key = response.context["new_key"]
    assert key.startswith("igo_") and key in response.content.decode()
    token = InsurerApiToken.objects.get()
    assert token.insurer == bx.a.zk and token.created_by == bx.zk_user
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key.split("_")[1] == token.prefix and len(token.prefix) == 8
    assert key not in {token.name, token.prefix, token.key_hash}
    assert 29 < (token.expires_at - token.created_at).days <= 30
    assert "no-store" in response["Cache-Control"]
    entry = AuditEntry.objects.get(action="insurer_token.create")
    assert key not in str(entry.details) and entry.actor == bx.zk_user
    # The list shows the prefix, never the key again.
    listing = client.get(reverse("insurer_tokens")).content.decode()
    assert token.prefix in listing and key not in listing


@pytest.mark.parametrize("days", ["0", "181", "abc"])
def test_key_validity_is_1_to_180_days(bx, days):
    response = signed_in_just_now(Client(), bx.zk_user).post(
        reverse("insurer_tokens"), {"name": "x", "days": days}
    )
    assert response.status_code == 400 and response.context["form"].errors["days"]
    assert not InsurerApiToken.objects.exists()


def test_revoke_key_and_keys_of_other_insurers_are_not_found(bx, client_for):
    token, _key = igo_services.insurer_token_create(user=bx.zk_user, insurer=bx.a.zk, name="k")
    vgz_token, _ = igo_services.insurer_token_create(user=bx.vgz_user, insurer=bx.a.vgz, name="v")
    client = client_for(bx.zk_user)
    revoke = reverse("insurer_token_revoke", kwargs={"pk": vgz_token.pk})
    assert client.post(revoke, {"confirm": "yes"}).status_code == 404
    assert client.get(revoke).status_code == 404
    assert "v" not in [t.name for t in client.get(reverse("insurer_tokens")).context["tokens"]]
    response = client.post(reverse("insurer_token_revoke", kwargs={"pk": token.pk}), {"confirm": "yes"})
    assert response.status_code == 302
    token.refresh_from_db()
    vgz_token.refresh_from_db()
    assert token.revoked_at is not None and vgz_token.revoked_at is None
    assert AuditEntry.objects.filter(action="insurer_token.revoke", object_id=str(token.pk)).count() == 1


def test_a_colleague_may_revoke_a_key_of_the_same_insurer(bx):
    colleague = insurer_employee(bx.a.zk, "collega@zk.test")
    token, _key = igo_services.insurer_token_create(user=bx.zk_user, insurer=bx.a.zk, name="k")
    igo_services.insurer_token_revoke(token=token, actor=colleague)
    assert InsurerApiToken.objects.get(pk=token.pk).revoked_at is not None
    with pytest.raises(igo_services.ValidationError):
        igo_services.insurer_token_revoke(token=token, actor=colleague)  # already revoked
    with pytest.raises(igo_services.ValidationError):
        igo_services.insurer_token_revoke(token=token, actor=bx.vgz_user)


def test_token_service_refuses_an_insurer_the_user_does_not_work_for(bx):
    with pytest.raises(igo_services.ValidationError) as exc:
        igo_services.insurer_token_create(user=bx.zk_user, insurer=bx.a.vgz, name="k")
    assert "insurer" in exc.value.message_dict
    with pytest.raises(igo_services.ValidationError) as exc:
        igo_services.insurer_token_create(user=bx.finance_a, insurer=bx.a.zk, name="k", days=400)
    assert set(exc.value.message_dict) == {"insurer", "days"}
    assert not InsurerApiToken.objects.exists()


def test_user_of_two_insurers_chooses_the_insurer_of_a_key(bx, client_for):
    both = insurer_employee(bx.a.zk, "beide@verzekeraars.test")
    InsurerMembershipFactory(user=both, insurer=bx.a.vgz)
    client = signed_in_just_now(Client(), both)
    page = client.get(reverse("insurer_tokens")).content.decode()
    assert '<select name="insurer"' in page
    assert client.post(reverse("insurer_tokens"), {"name": "x", "days": "10"}).status_code == 400
    response = client.post(reverse("insurer_tokens"), {"name": "x", "days": "10", "insurer": bx.a.vgz.pk})
    assert response.status_code == 201
    assert InsurerApiToken.objects.get().insurer == bx.a.vgz
    # A user of one insurer cannot smuggle in another insurer's id.
    response = signed_in_just_now(Client(), bx.zk_user).post(
        reverse("insurer_tokens"), {"name": "y", "days": "10", "insurer": bx.a.vgz.pk}
    )
    assert response.status_code == 400 and InsurerApiToken.objects.count() == 1


# --- review of the claims clerk's desk (declaraties@zk.demo) --------------------------------------


def test_a_return_file_row_with_a_code_not_on_the_list_is_refused_and_nothing_is_stored(bx, client_for):
    # The form offers only the list's codes; a file is checked against the same list (the batch's day).
    lines = lines_of(bx.zk_a)
    content = (
        "reference;status;reason_code;reason_text;awarded_amount\n"
        f"{lines[0].number};geaccepteerd;;;\n"
        f"{lines[1].number};afgewezen;x1;;\n"
    ).encode()
    response = upload(client_for(bx.zk_user), bx.zk_a, content)
    assert response.status_code == 400
    assert [(e.row, e.field) for e in response.context["upload_errors"]] == [(3, "reason_code")]
    assert "“x1” is geen retourcode" in response.content.decode()
    assert nothing_answered(bx.zk_a)


def test_answering_a_line_a_colleague_answered_meanwhile_says_so_on_the_row(bx, client_for):
    # Two tabs (or a colleague): the line was accepted after this page was opened.
    line = lines_of(bx.zk_a)[0]
    client = client_for(bx.zk_user)
    client_for(insurer_employee(bx.a.zk, "collega@zk.test")).post(
        answer_url(bx.zk_a, line), {"status": "accepted"}
    )
    said = f"Regel {line.number} is al beantwoord"
    # Without htmx: the page again (400), the message where the line is.
    page = client.post(answer_url(bx.zk_a, line), {"status": "rejected", "reason_code": "0101"})
    assert page.status_code == 400
    html = page.content.decode()
    errors = html.split(f'data-testid="answer-errors-{line.number}"', 1)[1].split("</ul>", 1)[0]
    assert said in errors
    # With htmx: the row as it is now (the colleague's answer) and the message, not silently the old row.
    row = client.post(
        answer_url(bx.zk_a, line), {"status": "rejected", "reason_code": "0101"}, HTTP_HX_REQUEST="true"
    )
    html = row.content.decode()
    assert row.status_code == 200 and html.startswith("<tr")
    assert f'data-testid="answer-{line.number}" data-status="accepted"' in html
    assert said in html and f'data-testid="answer-errors-{line.number}"' in html
    assert 'hx-swap-oob="true"' in html and 'data-open="5"' in html  # the summary counts the colleague's
    assert ReturnLine.unscoped.get(batch_line=line).status == "accepted"


def test_every_table_of_the_portal_scrolls_in_its_own_box(bx, client_for):
    # At 390 px a table outside a scroll box breaks its words letter by letter (static/css/app.css).
    client = client_for(bx.zk_user)
    client.post(answer_url(bx.zk_a, lines_of(bx.zk_a)[0]), {"status": "accepted"})  # "Answers received"
    igo_services.insurer_token_create(user=bx.zk_user, insurer=bx.a.zk, name="ERP")
    pages = [
        client.get(reverse("insurer_dashboard")),
        client.get(detail(bx.zk_a)),
        client.get(reverse("insurer_tokens")),  # the list needs no new sign-in
    ]
    tables = 0
    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        for before in html.split("<table")[:-1]:
            tables += 1
            assert before.rstrip().endswith('<div class="scroll-x">'), before[-200:]
    assert tables >= 4  # batches, lines, answers received, keys
