"""The insurer API: bearer keys (expiry, revocation, a maker who left), one insurer per key, isolation,
throttling per key, downloads, return information with errors per entry, and a schema that validates."""

from __future__ import annotations

import datetime as dt
import hashlib
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import BatchFile, BatchReturn, ClaimLine, LineStatus, ReturnCode, ReturnLine, WorkItem
from billing.services.returns import RETURN_CODES
from igo import services as igo_services
from igo.models import AuditEntry, InsurerApiToken, InsurerMembership, User
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
from tests.scenarios.http import api
from tests.scenarios.kz302 import agb_of, invoice_of, kz302_file
from tests.scenarios.people import TenantWorld, sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BILLING_NOW)]

BATCHES = "/api/insurer/batches/"


@pytest.fixture
def bx(world_a: TenantWorld, world_b: TenantWorld) -> Batches:
    return make_batches(world_a, world_b)


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()  # the throttle counts live in the cache (Redis in CI), shared between tests
    yield
    cache.clear()


def key_for(user: User, insurer, **kwargs) -> str:  # type: ignore[no-untyped-def]
    _token, key = igo_services.insurer_token_create(user=user, insurer=insurer, name="ERP", **kwargs)
    return key


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def session(user: User) -> APIClient:
    return sign_in(APIClient(), user)


def listed(client: APIClient, **query: str) -> set[int]:
    response = client.get(BATCHES, query)
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


# --- authentication ----------------------------------------------------------------------------


def test_key_lists_released_batches_of_its_insurer_from_every_igo(bx):
    client = bearer(key_for(bx.zk_user, bx.a.zk))
    body = client.get(BATCHES).json()
    assert body["count"] == 2 and {"next", "previous", "results"} <= set(body)
    assert {row["id"] for row in body["results"]} == {bx.zk_a.pk, bx.zk_b.pk}
    row = next(r for r in body["results"] if r["id"] == bx.zk_a.pk)
    assert row["igo"] == {
        "slug": bx.a.tenant.slug,
        "name": bx.a.tenant.name,
        "agb_code": bx.a.tenant.agb_code,
    }
    assert row["insurer"] == {"uzovi_code": "3311", "name": bx.a.zk.name}
    assert (row["number"], row["period"], row["line_count"]) == (bx.zk_a.number, f"{bx.period:%Y-%m}", 6)
    assert row["total"] == str(bx.zk_a.total) and (row["answered"], row["open"]) == (0, 6)
    assert [f["kind"] for f in row["files"]] == ["kz301", "csv", "pdf"]
    assert row["files"][0]["url"] == f"/api/insurer/batches/{bx.zk_a.pk}/files/kz301/"


def test_filters_by_period_and_igo(bx):
    client = bearer(key_for(bx.zk_user, bx.a.zk))
    assert listed(client, period=f"{bx.period:%Y-%m}") == {bx.zk_a.pk, bx.zk_b.pk}
    assert listed(client, period="2021-05") == set()
    assert listed(client, igo=bx.b.tenant.slug) == {bx.zk_b.pk}
    bad = client.get(BATCHES, {"period": "05-2026"})
    assert bad.status_code == 400 and "period" in bad.json()


def test_key_acts_for_its_own_insurer_only_even_if_its_maker_has_two(bx):
    both = insurer_employee(bx.a.zk, "beide@verzekeraars.test")
    InsurerMembershipFactory(user=both, insurer=bx.a.vgz)
    vgz_key = bearer(key_for(both, bx.a.vgz))
    assert listed(vgz_key) == {bx.vgz_a.pk}
    assert vgz_key.get(f"{BATCHES}{bx.zk_a.pk}/").status_code == 404
    assert vgz_key.get(f"{BATCHES}{bx.zk_a.pk}/files/kz301/").status_code == 404
    # The same person in the browser acts for both insurers.
    assert listed(session(both)) == {bx.zk_a.pk, bx.zk_b.pk, bx.vgz_a.pk}


def test_other_insurers_batch_and_a_draft_are_not_found(bx):
    client = bearer(key_for(bx.vgz_user, bx.a.vgz))
    for batch in (bx.zk_a, bx.vgz_b_draft):
        line = lines_of(batch)[0]
        assert client.get(f"{BATCHES}{batch.pk}/").status_code == 404
        assert client.get(f"{BATCHES}{batch.pk}/files/csv/").status_code == 404
        response = client.post(
            f"{BATCHES}{batch.pk}/returns/",
            {"lines": [{"reference": line.number, "status": "accepted"}]},
            format="json",
        )
        assert response.status_code == 404
        assert nothing_answered(batch)
    assert not AuditEntry.objects.filter(action="batch.download").exists()


def test_igo_user_is_forbidden_and_anonymous_is_unauthorised(bx):
    finance = session(bx.finance_a)
    for url in (BATCHES, f"{BATCHES}{bx.zk_a.pk}/", "/api/insurer/return-codes/"):
        assert finance.get(url).status_code == 403, url
        anonymous = APIClient().get(url)
        assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Bearer")
    # An IGO user's personal API key is no insurer key.
    assert api(bx.finance_a).get(BATCHES).status_code == 401
    response = finance.post(
        f"{BATCHES}{bx.zk_a.pk}/returns/",
        {"lines": [{"reference": lines_of(bx.zk_a)[0].number, "status": "accepted"}]},
        format="json",
    )
    assert response.status_code == 403 and nothing_answered(bx.zk_a)


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer igo_abc_def extra", "Bearer igo_00000000_not-a-real-key", "Bearer \xe9t\xe9"],
)
def test_malformed_or_unknown_key_is_401(bx, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get(BATCHES).status_code == 401


def test_expired_key_is_401(bx):
    key = key_for(bx.zk_user, bx.a.zk, days=1)
    assert bearer(key).get(BATCHES).status_code == 200
    now = timezone.now()
    InsurerApiToken.objects.update(created_at=now - timedelta(days=1), expires_at=now - timedelta(seconds=1))
    assert bearer(key).get(BATCHES).status_code == 401


def test_revoked_key_is_401(bx):
    key = key_for(bx.zk_user, bx.a.zk)
    assert bearer(key).get(BATCHES).status_code == 200
    igo_services.insurer_token_revoke(token=InsurerApiToken.objects.get(), actor=bx.zk_user)
    assert bearer(key).get(BATCHES).status_code == 401


@pytest.mark.parametrize("change", ["membership_ended", "user_inactive", "insurer_inactive"])
def test_key_stops_when_its_maker_leaves(bx, change):
    key = key_for(bx.zk_user, bx.a.zk)
    assert bearer(key).get(BATCHES).status_code == 200
    if change == "membership_ended":
        InsurerMembership.objects.filter(user=bx.zk_user).update(is_active=False)
    elif change == "user_inactive":
        User.objects.filter(pk=bx.zk_user.pk).update(is_active=False)
    else:
        type(bx.a.zk).objects.filter(pk=bx.a.zk.pk).update(is_active=False)
    assert bearer(key).get(BATCHES).status_code == 401


def test_last_used_is_written_at_most_once_a_minute(bx):
    key = key_for(bx.zk_user, bx.a.zk)
    assert InsurerApiToken.objects.get().last_used_at is None
    bearer(key).get(BATCHES)
    first = InsurerApiToken.objects.get().last_used_at
    assert first is not None
    bearer(key).get(BATCHES)
    assert InsurerApiToken.objects.get().last_used_at == first
    earlier = first - timedelta(minutes=2)
    InsurerApiToken.objects.update(last_used_at=earlier)
    bearer(key).get(BATCHES)
    assert InsurerApiToken.objects.get().last_used_at > first


def test_only_the_hash_of_the_key_is_stored(bx):
    key = key_for(bx.zk_user, bx.a.zk)
    token = InsurerApiToken.objects.get()
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key.startswith(f"igo_{token.prefix}_") and len(key) > 50


# --- throttling --------------------------------------------------------------------------------


def test_throttled_per_key_after_the_limit(bx):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "insurer": "3/min"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        cache.clear()
        first = bearer(key_for(bx.zk_user, bx.a.zk))
        assert [first.get(BATCHES).status_code for _ in range(3)] == [200, 200, 200]
        refused = first.get(BATCHES)
        assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
        # Another key has its own allowance, and so has the browser session.
        second = bearer(key_for(bx.zk_user, bx.a.zk))
        assert second.get(BATCHES).status_code == 200
        assert session(bx.zk_user).get(BATCHES).status_code == 200


def test_default_rate_is_120_per_minute():
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["insurer"] == "120/min"


# --- detail and files --------------------------------------------------------------------------


def test_detail_has_lines_and_answers(bx):
    client = bearer(key_for(bx.zk_user, bx.a.zk))
    lines = lines_of(bx.zk_a)
    client.post(
        f"{BATCHES}{bx.zk_a.pk}/returns/",
        {"lines": [{"reference": lines[0].number, "status": "rejected", "reason_code": "0102"}]},
        format="json",
    )
    body = client.get(f"{BATCHES}{bx.zk_a.pk}/").json()
    assert [row["reference"] for row in body["lines"]] == [x.number for x in lines]
    first = body["lines"][0]
    assert first["bsn"] == lines[0].bsn and first["insured_number"] == lines[0].policy_number
    assert first["debit_credit"] == "D" and first["amount"] == str(lines[0].amount)
    assert first["answer"]["status"] == "rejected" and first["answer"]["reason_code"] == "0102"
    assert body["lines"][1]["answer"] is None
    assert (body["answered"], body["rejected"], body["open"]) == (1, 1, 5)
    # What a claim needs, nothing clinical.
    assert set(first) == {
        "line_no", "reference", "corrects", "debit_credit", "bsn", "insured_number", "date_of_birth",
        "family_name", "initials", "prestatie_code", "phase", "service_start", "service_end", "tariff",
        "percentage", "amount", "episode_reference", "answer",
    }  # fmt: skip


@pytest.mark.parametrize("kind", ["kz301", "csv", "pdf"])
def test_download_is_the_stored_file(bx, kind):
    response = bearer(key_for(bx.zk_user, bx.a.zk)).get(
        f"{BATCHES}{bx.zk_a.pk}/files/{kind}/", HTTP_ACCEPT="application/json"
    )
    stored = BatchFile.unscoped.get(batch=bx.zk_a, kind=kind)
    assert response.status_code == 200
    assert response.content == bytes(stored.content)
    assert response["Content-Disposition"].startswith("attachment; filename=")
    entry = AuditEntry.objects.get(action="batch.download")
    assert entry.details["via"] == "api" and entry.tenant == bx.a.tenant and entry.actor == bx.zk_user
    assert entry.details["key"] == f"igo_{InsurerApiToken.objects.get().prefix}"  # which key downloaded it


def test_unknown_file_kind_is_404_as_json(bx):
    response = bearer(key_for(bx.zk_user, bx.a.zk)).get(f"{BATCHES}{bx.zk_a.pk}/files/xml/")
    assert response.status_code == 404 and "detail" in response.json()


def test_return_codes(bx):
    # A Vektis code in force today joins the platform's own; "fully awarded" (8001) is no reason.
    ReturnCode.objects.get_or_create(
        code="0611",
        valid_from=dt.date(2017, 1, 1),
        defaults={"description": "Tarief ontbreekt of is niet volgens de overeenkomst"},
    )
    ReturnCode.objects.get_or_create(
        code="8001", valid_from=dt.date(2017, 1, 1), defaults={"description": "Volledig toegekend"}
    )
    body = bearer(key_for(bx.zk_user, bx.a.zk)).get("/api/insurer/return-codes/").json()
    codes = [row["code"] for row in body]
    assert set(RETURN_CODES) | {"0611"} <= set(codes) and "8001" not in codes
    assert codes == sorted(codes)
    assert all(row["label"] and not row["label"].startswith(row["code"]) for row in body)


# --- return information ------------------------------------------------------------------------


def returns(client: APIClient, batch, lines: list[dict]):  # type: ignore[no-untyped-def]
    return client.post(f"{BATCHES}{batch.pk}/returns/", {"lines": lines}, format="json")


def test_post_returns_happy_path(bx):
    lines = lines_of(bx.zk_a)
    payload = [{"reference": x.number, "status": "accepted"} for x in lines[:4]]
    payload.append(
        {"reference": lines[4].number, "status": "rejected", "reason_code": "0101", "reason_text": "BSN?"}
    )
    response = returns(bearer(key_for(bx.zk_user, bx.a.zk)), bx.zk_a, payload)
    assert response.status_code == 201
    body = response.json()
    assert (body["accepted"], body["rejected"], body["open"]) == (4, 1, 1)
    delivery = BatchReturn.unscoped.get(pk=body["id"])
    assert (delivery.source, delivery.received_by) == ("api", bx.zk_user)
    assert [claim_status(x) for x in lines] == [LineStatus.ACCEPTED] * 4 + [
        LineStatus.REJECTED,
        LineStatus.SENT,
    ]
    rejected = ClaimLine.unscoped.get(pk=lines[4].claim_line_id)
    item = WorkItem.unscoped.get(reason="rejected")
    assert (item.tenant, item.episode_id, item.phase) == (bx.a.tenant, rejected.episode_id, rejected.phase)


def test_post_returns_errors_per_entry_index_and_nothing_stored(bx):
    lines = lines_of(bx.zk_a)
    client = bearer(key_for(bx.zk_user, bx.a.zk))
    response = returns(
        client,
        bx.zk_a,
        [
            {"reference": "NOT-IN-BATCH", "status": "accepted"},
            {"reference": lines[1].number, "status": "accepted"},
            {"reference": lines[2].number, "status": "rejected"},
            {"reference": lines[3].number, "status": "accepted", "reason_code": "0101"},
            {"reference": lines[1].number, "status": "accepted"},
        ],
    )
    assert response.status_code == 400
    errors = response.json()["lines"]
    assert {index: set(fields) for index, fields in errors.items()} == {
        "0": {"reference"},
        "2": {"reason_code"},
        "3": {"reason_code"},
        "4": {"reference"},
    }
    assert "NOT-IN-BATCH" in errors["0"]["reference"][0]
    assert nothing_answered(bx.zk_a)


def test_post_returns_malformed_entries_are_400_per_index(bx):
    client = bearer(key_for(bx.zk_user, bx.a.zk))
    line = lines_of(bx.zk_a)[0]
    response = returns(
        client, bx.zk_a, [{"reference": line.number, "status": "accepted"}, {"status": "maybe"}]
    )
    assert response.status_code == 400
    assert set(response.json()["lines"]["1"]) == {"reference", "status"}
    assert returns(client, bx.zk_a, []).status_code == 400
    assert client.post(f"{BATCHES}{bx.zk_a.pk}/returns/", {}, format="json").status_code == 400
    assert nothing_answered(bx.zk_a)


def test_malformed_json_and_an_empty_body_get_clear_dutch_messages(bx):
    client = bearer(key_for(bx.zk_user, bx.a.zk))
    url = f"{BATCHES}{bx.zk_a.pk}/returns/"
    line = lines_of(bx.zk_a)[0]
    # A list where a text belongs: Django REST framework's own Dutch catalog leaves this message in English.
    wrong = returns(
        client,
        bx.zk_a,
        [{"reference": ["a"], "status": "accepted"}, {"reference": line.number, "status": True}],
    )
    assert wrong.status_code == 400
    assert wrong.json() == {
        "lines": {
            "0": {
                "reference": [
                    "Dit moet een tekst zijn (tussen aanhalingstekens), geen lijst, object of ja/nee."
                ]
            },
            "1": {"status": ['"True" is een ongeldige keuze.']},
        }
    }
    # An empty KZ302 post says what to send, not that a JSON field is missing.
    for content_type in ("text/plain", "text/plain; charset=us-ascii"):
        empty = client.generic("POST", url, b"", content_type=content_type)
        assert empty.status_code == 400
        assert empty.json() == {
            "non_field_errors": [
                "De aanvraag is leeg: stuur het KZ302-retourbestand zelf als inhoud (Content-Type: "
                "text/plain), of JSON met “lines”."
            ]
        }
    missing = client.post(url, {}, format="json")
    assert missing.status_code == 400
    assert missing.json() == {
        "lines": [
            "Stuur de antwoorden als “lines”, een lijst met per regel de referentie en de status, of een "
            "KZ302-retourbestand als text/plain."
        ]
    }
    assert nothing_answered(bx.zk_a)


def test_a_line_is_answered_once_through_the_api(bx):
    client = bearer(key_for(bx.zk_user, bx.a.zk))
    line = lines_of(bx.zk_a)[0]
    assert returns(client, bx.zk_a, [{"reference": line.number, "status": "accepted"}]).status_code == 201
    again = returns(
        client, bx.zk_a, [{"reference": line.number, "status": "rejected", "reason_code": "0101"}]
    )
    assert again.status_code == 400 and "reference" in again.json()["lines"]["0"]
    assert ReturnLine.unscoped.get(batch_line=line).status == "accepted"


def test_a_whole_file_rejection_of_another_igos_batch_is_refused_on_its_agb_code(bx):
    # Invoice numbers are the month and the IGO's own batch number: both IGOs' first November batch to
    # Zilveren Kruis is the same invoice. Alpha's KZ302 rejecting its whole declaration (its 01 record echoed,
    # return code 0001, no 04 records) is posted to Beta's batch.
    assert invoice_of(bx.zk_a) == invoice_of(bx.zk_b) and agb_of(bx.zk_a) != agb_of(bx.zk_b)
    alpha = kz302_file(
        uzovi=bx.a.zk.uzovi_code,
        invoice=invoice_of(bx.zk_a),
        agb=agb_of(bx.zk_a),
        answers=[],
        file_codes=["0001"],
    )
    client = bearer(key_for(bx.zk_user, bx.a.zk))
    url = f"{BATCHES}{bx.zk_b.pk}/returns/"
    refused = client.generic("POST", url, alpha, content_type="text/plain")
    assert refused.status_code == 400, refused.content
    assert refused.json() == {
        "records": {
            "1": {
                "agb": [
                    f"Het bestand beantwoordt een declaratie van AGB-code {bx.a.tenant.agb_code} (0112); "
                    f"deze batch is verstuurd door {bx.b.tenant.agb_code}."
                ]
            }
        }
    }
    assert nothing_answered(bx.zk_b) and nothing_answered(bx.zk_a)
    # Beta's own rejection of its declaration is taken.
    beta = alpha.replace(agb_of(bx.zk_a).encode(), agb_of(bx.zk_b).encode(), 1)
    taken = client.generic("POST", url, beta, content_type="text/plain")
    assert taken.status_code == 201, taken.content
    assert ReturnLine.unscoped.filter(batch_line__batch=bx.zk_b, status="rejected").count() == 6
    assert nothing_answered(bx.zk_a)


def test_session_of_an_insurer_user_may_post_returns(bx):
    line = lines_of(bx.zk_b)[0]
    response = returns(session(bx.zk_user), bx.zk_b, [{"reference": line.number, "status": "accepted"}])
    assert response.status_code == 201 and claim_status(line) == LineStatus.ACCEPTED


# --- schema ------------------------------------------------------------------------------------


def test_schema_shows_the_insurer_endpoints_with_a_bearer_scheme(member_client):
    schema = member_client.get("/api/schema/?format=json").json()
    assert schema["components"]["securitySchemes"]["insurerKey"]["scheme"] == "bearer"
    operation = schema["paths"]["/api/insurer/batches/"]["get"]
    assert {"insurerKey": []} in operation["security"]
    download = schema["paths"]["/api/insurer/batches/{id}/files/{kind}/"]["get"]
    assert set(download["responses"]["200"]["content"]) == {"text/plain", "text/csv", "application/pdf"}
    assert "/api/insurer/batches/{id}/returns/" in schema["paths"]
    assert "/api/insurer/return-codes/" in schema["paths"]


def test_schema_generation_has_no_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi:")


def test_key_expiry_is_at_most_half_a_year(bx):
    key_for(bx.zk_user, bx.a.zk, days=180)
    token = InsurerApiToken.objects.get()
    assert token.expires_at - token.created_at == dt.timedelta(days=180)
    with pytest.raises(ValidationError):
        key_for(bx.zk_user, bx.a.zk, days=181)


# --- reason codes: the list valid on the day the batch was released -------------------------------------


def test_a_json_answer_with_a_code_not_on_the_list_is_refused_per_entry_and_nothing_is_stored(bx):
    # The portal offers only the list's codes; the API checks the same list, in the same service.
    lines = lines_of(bx.zk_a)
    client = bearer(key_for(bx.zk_user, bx.a.zk))
    response = returns(
        client,
        bx.zk_a,
        [
            {"reference": lines[0].number, "status": "accepted"},
            {"reference": lines[1].number, "status": "rejected", "reason_code": "ZZ"},
            {
                "reference": lines[2].number,
                "status": "partial",
                "awarded_amount": "1.00",
                "reason_code": "9999",
            },
        ],
    )
    assert response.status_code == 400
    errors = response.json()["lines"]
    assert set(errors) == {"1", "2"}
    assert set(errors["1"]) == {"reason_code"} and "ZZ" in errors["1"]["reason_code"][0]
    assert "reason_code" in errors["2"]
    assert nothing_answered(bx.zk_a)
    # The same answer with a code of the list is taken.
    lines_ok = [{"reference": lines[1].number, "status": "rejected", "reason_code": "0101"}]
    assert returns(client, bx.zk_a, lines_ok).status_code == 201


def test_a_code_is_checked_against_the_list_of_the_release_day_and_return_codes_answers_for_it(bx):
    released = timezone.localdate(bx.zk_a.released_at)
    later = released + timedelta(days=30)
    # A Vektis code that came after the batch was released, and one that ended before it.
    ReturnCode.objects.create(code="9101", description="Nieuw na de vrijgave", valid_from=later)
    ReturnCode.objects.create(
        code="9102",
        description="Beëindigd voor de vrijgave",
        valid_from=dt.date(2017, 1, 1),
        valid_until=released - timedelta(days=1),
    )
    ReturnCode.objects.create(
        code="9103", description="Geldig op de vrijgave", valid_from=dt.date(2017, 1, 1)
    )
    client = bearer(key_for(bx.zk_user, bx.a.zk))

    def codes(**query: str) -> set[str]:
        response = client.get("/api/insurer/return-codes/", query)
        assert response.status_code == 200, response.content
        return {row["code"] for row in response.json()}

    for_batch = codes(batch=str(bx.zk_a.pk))
    assert "9103" in for_batch and not {"9101", "9102"} & for_batch
    assert codes(on=released.isoformat()) == for_batch
    assert "9101" in codes(on=later.isoformat())
    # The service takes exactly the codes return-codes/?batch= lists.
    lines = lines_of(bx.zk_a)
    for i, code in enumerate(("9101", "9102")):
        refused = returns(
            client, bx.zk_a, [{"reference": lines[i].number, "status": "rejected", "reason_code": code}]
        )
        assert refused.status_code == 400 and "reason_code" in refused.json()["lines"]["0"], code
    taken = returns(
        client, bx.zk_a, [{"reference": lines[0].number, "status": "rejected", "reason_code": "9103"}]
    )
    assert taken.status_code == 201
    # Another insurer's batch is not found; a malformed day is a field error.
    assert client.get("/api/insurer/return-codes/", {"batch": bx.vgz_a.pk}).status_code == 404
    bad = client.get("/api/insurer/return-codes/", {"on": "2026-13-01"})
    assert bad.status_code == 400 and "on" in bad.json()


def test_money_in_an_api_error_is_written_as_the_pages_write_it(bx):
    line = next(x for x in lines_of(bx.zk_a) if x.amount == x.amount.to_integral() and x.amount >= 1000)
    client = bearer(key_for(bx.zk_user, bx.a.zk))
    response = returns(
        client,
        bx.zk_a,
        [
            {
                "reference": line.number,
                "status": "partial",
                "awarded_amount": str(line.amount),
                "reason_code": "0202",
            }
        ],
    )
    assert response.status_code == 400
    message = response.json()["lines"]["0"]["awarded_amount"][0]
    # e.g. 1500.00 → "€ 1.500,00" (Dutch by default), never the bare "1500.00".
    whole = int(line.amount)
    assert f"€ {whole // 1000}.{whole % 1000:03d},00" in message and str(line.amount) not in message
