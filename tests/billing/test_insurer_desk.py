"""The insurer desk (issue 19): a partial award per line in the portal, the API and the CSV return file, through
the one service, settled into the members' payout; distinct badges per answer; the "accept all" button that
counts down after single answers; a confirmation before a key is revoked; draft batch files marked CONCEPT and
never handed to an insurer.

The world is tests.scenarios.payouts: one completed pregnancy whose three lines (prenatal 1200.00, natal
900.00, postnatal 1500.00) go to Zilveren Kruis in November's batch, released on 20 November 2026. The split:
5 % overhead, 2 % reserve, the members' 93 % by fixed shares (postnatal: practice 30 %, kraamzorg 70 %).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from billing.insurer import selectors
from billing.models import (
    Allocation,
    BatchFile,
    BatchLine,
    ClaimBatch,
    ClaimLine,
    LineStatus,
    ReturnLine,
)
from billing.services.batches import batch_create, batch_release
from igo import services as igo_services
from igo.models import InsurerApiToken, User
from igo.tenancy import tenant_scope
from tests.scenarios.batches import insurer_employee
from tests.scenarios.clock import travel
from tests.scenarios.files import pdf_text
from tests.scenarios.payouts import (
    KRAAM_IBAN,
    D,
    PayoutWorld,
    accept_all,
    at,
    bill,
    completed_pregnancy,
    lines,
    paid,
    payout_world,
    prepare,
    send_batch,
)

pytestmark = [pytest.mark.django_db, pytest.mark.clock(at(2026, 11, 25))]

NOV = dt.date(2026, 11, 1)


def sent(world_a: Any) -> tuple[PayoutWorld, ClaimBatch, dict[str, ClaimLine], User]:
    pw = payout_world(world_a, kraam_iban=KRAAM_IBAN)
    ep = completed_pregnancy(pw)
    bill(pw, at(2026, 11, 2))
    batch = send_batch(pw, NOV, at(2026, 11, 20))
    return pw, batch, lines(ep), insurer_employee(pw.zk, "declaraties@zk.test")


def line_of(batch: ClaimBatch, claim: ClaimLine) -> BatchLine:
    return BatchLine.unscoped.get(batch=batch, claim_line=claim)


def answer_url(batch: ClaimBatch, claim: ClaimLine) -> str:
    return reverse("insurer_line_answer", kwargs={"pk": batch.pk, "line_pk": line_of(batch, claim).pk})


def detail(batch: ClaimBatch) -> str:
    return reverse("insurer_batch_detail", kwargs={"pk": batch.pk})


def members(line: ClaimLine) -> dict[int | None, Any]:
    return {
        a.organisation_id: a.amount
        for a in Allocation.unscoped.filter(claim_line=line, is_current=True, kind="member")
    }


# --- a partial award ---------------------------------------------------------------------------------


def test_a_partial_award_in_the_portal_is_paid_out_as_the_members_share(world_a, client_for):
    pw, batch, first, clerk = sent(world_a)
    client = client_for(clerk)
    # The Dutch clerk types a decimal comma.
    response = client.post(
        answer_url(batch, first["postnatal"]),
        {"status": "partial", "awarded_amount": "1200,00", "reason_code": "0202", "reason_text": "Tarief"},
    )
    assert response.status_code == 302
    stored = ReturnLine.unscoped.get()
    assert (stored.status, stored.awarded_amount, stored.reason_code) == ("partial", D("1200.00"), "0202")
    assert ClaimLine.unscoped.get(pk=first["postnatal"].pk).status == LineStatus.ACCEPTED
    # Awarded 1200.00: members 93 % = 1116.00 = practice 30 % 334.80 + kraamzorg 70 % 781.20.
    assert members(first["postnatal"]) == {pw.practice.pk: D("334.80"), pw.kraam.pk: D("781.20")}
    accept_all_open(client, batch)

    run = prepare(pw, NOV, at(2026, 12, 3))
    # practice 781.20 + 502.20 + 334.80 = 1618.20; hospital 334.80 + 334.80 = 669.60; kraamzorg 781.20 (it
    # would have been 976.50 of the claimed 1500.00).
    assert paid(run) == {
        "Praktijk De Wieg": D("1618.20"),
        "Ziekenhuis Oost": D("669.60"),
        "Kraamzorg Noord": D("781.20"),
    }
    assert run.total == D("3069.00")  # 93 % of 1200.00 + 900.00 + 1200.00


@pytest.mark.parametrize(
    "typed", ["1.200,00", "1200,00", "1200", "1.200,5", "€ 1.200,00", "1,200.00", "1200.00"]
)
def test_a_partial_award_is_typed_as_the_page_shows_amounts(world_a, client_for, typed):
    _pw, batch, first, clerk = sent(world_a)
    page = client_for(clerk).get(reverse("insurer_batch_detail", kwargs={"pk": batch.pk})).content.decode()
    assert "1.500,00" in page  # how the page shows the postnatal line's amount
    response = client_for(clerk).post(
        answer_url(batch, first["postnatal"]),
        {"status": "partial", "awarded_amount": typed, "reason_code": "0202"},
    )
    assert response.status_code == 302
    expected = D("1200.50") if typed == "1.200,5" else D("1200.00")
    assert ReturnLine.unscoped.get().awarded_amount == expected


def accept_all_open(client: Client, batch: ClaimBatch) -> None:
    assert client.post(reverse("insurer_accept_open", kwargs={"pk": batch.pk})).status_code == 302


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        # No amount, no reason, an amount of the whole line, of nothing, above it, negative, not a number.
        ({"awarded_amount": "", "reason_code": "0202"}, "awarded_amount", "het toegekende bedrag nodig"),
        ({"awarded_amount": "1200,00", "reason_code": ""}, "reason_code", "heeft een redencode nodig"),
        ({"awarded_amount": "1500,00", "reason_code": "0202"}, "awarded_amount", "tussen niets"),
        ({"awarded_amount": "0", "reason_code": "0202"}, "awarded_amount", "tussen niets"),
        ({"awarded_amount": "1600", "reason_code": "0202"}, "awarded_amount", "tussen niets"),
        ({"awarded_amount": "-100", "reason_code": "0202"}, "awarded_amount", "tussen niets"),
        (
            {"awarded_amount": "twaalfhonderd", "reason_code": "0202"},
            "awarded_amount",
            "zoals 1.500,00 of 1500,00",
        ),
        # A dot before three digits is a thousand in Dutch and one euro in English: the clerk is told how.
        ({"awarded_amount": "1.000", "reason_code": "0202"}, "awarded_amount", "op twee manieren te lezen"),
        ({"awarded_amount": "1.00,00", "reason_code": "0202"}, "awarded_amount", "zoals 1.500,00 of 1500,00"),
    ],
)
def test_a_wrong_partial_award_is_refused_on_its_field_in_dutch_and_nothing_is_stored(
    world_a, client_for, form, field, message
):
    _pw, batch, first, clerk = sent(world_a)
    postnatal = first["postnatal"]
    before = members(postnatal)
    response = client_for(clerk).post(
        answer_url(batch, postnatal), {"status": "partial", **form}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200  # htmx swaps the row with its errors
    assert f'<li data-field="{field}">' in html
    errors = html[html.index(f'<li data-field="{field}">') :]
    assert message in errors[: errors.index("</li>")]
    assert not ReturnLine.unscoped.exists() and members(postnatal) == before
    assert ClaimLine.unscoped.get(pk=postnatal.pk).status == LineStatus.SENT


def test_a_partial_award_through_the_api_is_settled_by_the_same_service(world_a):
    pw, batch, first, clerk = sent(world_a)
    _token, key = igo_services.insurer_token_create(user=clerk, insurer=pw.zk, name="ERP")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    url = f"/api/insurer/batches/{batch.pk}/returns/"
    refs = {phase: line.number for phase, line in first.items()}

    # Errors per entry index: a partial award without its amount, another without a reason code.
    bad = api.post(
        url,
        {
            "lines": [
                {"reference": refs["prenatal"], "status": "accepted"},
                {"reference": refs["natal"], "status": "partial", "reason_code": "0202"},
                {"reference": refs["postnatal"], "status": "partial", "awarded_amount": "1200.00"},
            ]
        },
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()["lines"]) == {"1", "2"}
    assert "awarded_amount" in bad.json()["lines"]["1"] and "reason_code" in bad.json()["lines"]["2"]
    assert not ReturnLine.unscoped.exists()

    good = api.post(
        url,
        {
            "lines": [
                {"reference": refs["prenatal"], "status": "accepted"},
                {"reference": refs["natal"], "status": "accepted"},
                {
                    "reference": refs["postnatal"],
                    "status": "partial",
                    "awarded_amount": "1200.00",
                    "reason_code": "0202",
                },
            ]
        },
        format="json",
    )
    assert good.status_code == 201, good.json()
    assert (good.json()["accepted"], good.json()["partly_awarded"], good.json()["open"]) == (2, 1, 0)
    body = api.get(f"/api/insurer/batches/{batch.pk}/").json()
    assert body["partly_awarded"] == 1
    answer = next(x["answer"] for x in body["lines"] if x["reference"] == refs["postnatal"])
    assert (answer["status"], answer["awarded_amount"], answer["reason_code"]) == (
        "partial",
        "1200.00",
        "0202",
    )
    assert members(first["postnatal"]) == {pw.practice.pk: D("334.80"), pw.kraam.pk: D("781.20")}
    assert paid(prepare(pw, NOV, at(2026, 12, 3)))["Kraamzorg Noord"] == D("781.20")


def test_a_csv_return_file_may_award_a_line_in_part(world_a, client_for):
    pw, batch, first, clerk = sent(world_a)
    content = (
        "reference;status;reason_code;reason_text;awarded_amount\n"
        f"{first['prenatal'].number};geaccepteerd;;;\n"
        f"{first['natal'].number};afgewezen;0101;BSN onbekend;\n"
        f"{first['postnatal'].number};gedeeltelijk;0202;Tarief;1200,00\n"
    ).encode()
    upload = client_for(clerk).post(
        reverse("insurer_return_upload", kwargs={"pk": batch.pk}),
        {"file": _file("retour.csv", content)},
    )
    assert upload.status_code == 302
    stored = {r.batch_line.claim_line_id: (r.status, r.awarded_amount) for r in ReturnLine.unscoped.all()}
    assert stored == {
        first["prenatal"].pk: ("accepted", None),
        first["natal"].pk: ("rejected", None),
        first["postnatal"].pk: ("partial", D("1200.00")),
    }
    assert members(first["postnatal"])[pw.kraam.pk] == D("781.20")


def _file(name: str, content: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="text/csv")


# --- what the clerk sees -----------------------------------------------------------------------------


def test_each_answer_has_its_own_badge_in_words_and_colour(world_a, client_for):
    _pw, batch, first, clerk = sent(world_a)
    client = client_for(clerk)
    client.post(answer_url(batch, first["prenatal"]), {"status": "accepted"})
    client.post(answer_url(batch, first["natal"]), {"status": "rejected", "reason_code": "0101"})
    client.post(
        answer_url(batch, first["postnatal"]),
        {"status": "partial", "awarded_amount": "1200", "reason_code": "0202"},
    )
    html = client.get(detail(batch)).content.decode()
    badge = {phase: f'data-testid="badge-{line.number}"' for phase, line in first.items()}
    assert f'<span class="badge ok" {badge["prenatal"]}>✓ geaccepteerd' in html
    assert f'<span class="badge off" {badge["natal"]}>✗ afgewezen' in html
    assert f'<span class="badge warn" {badge["postnatal"]}>◐ gedeeltelijk toegekend' in html
    money = '<span class="money">€&nbsp;{}</span>'
    assert f"{money.format('1.200,00')} van {money.format('1.500,00')}" in html


def test_a_single_answer_brings_the_accept_all_button_back_with_the_new_count(world_a, client_for):
    _pw, batch, first, clerk = sent(world_a)
    client = client_for(clerk)
    page = client.get(detail(batch)).content.decode()
    assert 'data-testid="accept-open" data-open="3">Alle 3 open regels accepteren' in page
    row = client.post(
        answer_url(batch, first["natal"]),
        {"status": "rejected", "reason_code": "0101"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    # The summary comes out of band, in a <template> so that the HTML parser keeps its <form> after a row.
    oob = row[row.index("<template>") :]
    assert 'id="answer-summary"' in oob and 'hx-swap-oob="true"' in oob and "<form" in oob
    assert 'data-testid="accept-open" data-open="2">Alle 2 open regels accepteren' in oob
    client.post(answer_url(batch, first["prenatal"]), {"status": "accepted"})
    last = client.post(
        answer_url(batch, first["postnatal"]), {"status": "accepted"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'data-open="0"' in last and 'data-testid="accept-open"' not in last


# --- API keys -----------------------------------------------------------------------------------------


def test_revoking_a_key_asks_first_and_works_without_javascript(world_a, client_for):
    pw, _batch, _first, clerk = sent(world_a)
    token, _key = igo_services.insurer_token_create(user=clerk, insurer=pw.zk, name="ERP")
    client = client_for(clerk)
    url = reverse("insurer_token_revoke", kwargs={"pk": token.pk})
    listing = client.get(reverse("insurer_tokens")).content.decode()
    assert f'href="{url}" data-testid="revoke-{token.pk}"' in listing  # a link to the question, not a POST
    question = client.get(url)
    assert question.status_code == 200 and b'data-testid="revoke-confirm"' in question.content
    assert b"ERP" in question.content and b'name="confirm" value="yes"' in question.content
    # A POST without the confirmation only asks again.
    assert client.post(url).status_code == 200
    assert InsurerApiToken.objects.get(pk=token.pk).revoked_at is None
    assert client.post(url, {"confirm": "yes"}).status_code == 302
    assert InsurerApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert client.get(url).status_code == 302  # nothing left to ask


# --- draft batch files ---------------------------------------------------------------------------------


def test_a_drafts_files_say_concept_and_the_release_makes_the_real_summary(world_a, client_for, tmp_path):
    pw = payout_world(world_a, kraam_iban=KRAAM_IBAN)
    completed_pregnancy(pw)
    bill(pw, at(2026, 11, 2))
    with travel(at(2026, 11, 20)), tenant_scope(pw.tenant):
        draft = batch_create(tenant=pw.tenant, insurer=pw.zk, period=NOV, actor=pw.finance).batch
    assert draft is not None
    stored = {f.kind: bytes(f.content) for f in BatchFile.unscoped.filter(batch=draft)}
    text, _ = pdf_text(stored["pdf"], tmp_path, "draft")
    assert "CONCEPT" in text and "nooit" in text

    # Finance downloads the draft's files under CONCEPT names.
    finance = client_for(pw.finance)
    for kind in ("kz301", "csv", "pdf"):
        response = finance.get(reverse("batch_file", args=[pw.tenant.slug, draft.pk, kind]))
        assert response.status_code == 200
        assert 'filename="CONCEPT_KZ301_' in response["Content-Disposition"]
    page = finance.get(reverse("batch_detail", args=[pw.tenant.slug, draft.pk])).content.decode()
    assert 'data-testid="files-concept"' in page

    # No insurer gets a draft's file, in the portal, the API or the selector.
    clerk = insurer_employee(pw.zk, "declaraties@zk.test")
    portal = client_for(clerk)
    assert (
        portal.get(reverse("insurer_batch_file", kwargs={"pk": draft.pk, "kind": "pdf"})).status_code == 404
    )
    _token, key = igo_services.insurer_token_create(user=clerk, insurer=pw.zk, name="ERP")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get(f"/api/insurer/batches/{draft.pk}/files/pdf/").status_code == 404
    with pytest.raises(selectors.Http404):
        selectors.insurer_batch_file(batch=draft, kind="kz301")

    # Released: the summary is made again without CONCEPT; the declaration and the CSV stay as they were.
    with travel(at(2026, 11, 20, 11)), tenant_scope(pw.tenant):
        released = batch_release(batch=draft, actor=pw.finance)
    after = {f.kind: bytes(f.content) for f in BatchFile.unscoped.filter(batch=released)}
    assert after["kz301"] == stored["kz301"] and after["csv"] == stored["csv"]
    text, _ = pdf_text(after["pdf"], tmp_path, "released")
    assert "CONCEPT" not in text and "Vrijgegeven op" in text and "20-11-2026 11:00" in text
    download = portal.get(reverse("insurer_batch_file", kwargs={"pk": released.pk, "kind": "pdf"}))
    assert download.status_code == 200 and download.content == after["pdf"]
    assert "CONCEPT" not in download["Content-Disposition"]
    finance_name = finance.get(reverse("batch_file", args=[pw.tenant.slug, released.pk, "pdf"]))
    assert 'filename="KZ301_' in finance_name["Content-Disposition"]
    accept_all(released, at(2026, 11, 25))  # a released batch is answered as before
    assert {r.status for r in ReturnLine.unscoped.all()} == {"accepted"}
