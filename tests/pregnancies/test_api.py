"""The care-logging API: thin views over the pregnancy services, clinicians only. Search by BSN in the
body, intake with field-level errors and nothing stored, client and episode details, logging events
(a repeated submission key answers the same event), corrections and voids, the event types of the
caller's discipline.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from igo.models import Role, User
from pregnancies.models import (
    AccessLogEntry,
    CareEvent,
    Client,
    ClientInsurance,
    Episode,
    EventStatus,
    EventType,
    LineTransfer,
)
from tests.factories import ClientFactory, EpisodeFactory, ProfessionalFactory
from tests.scenarios.care_api import Care, event_body, intake_body, log_event
from tests.scenarios.http import api

pytestmark = [pytest.mark.django_db, pytest.mark.dated]
INVALID_BSN = "123456789"  # fails the eleven-test


def logs(user: User, action: str, client: Client | None = None) -> int:
    qs = AccessLogEntry.unscoped.filter(user=user, action=action)
    return qs.filter(client=client).count() if client is not None else qs.count()


def test_search_by_bsn_in_body_returns_masked_bsn_and_logs(care_a):
    midwife = care_a.world.user(Role.MIDWIFE)
    ClientFactory(tenant=care_a.world.tenant, family_name="Other")
    response = api(midwife).post(f"{care_a.url}clients/search/", {"q": care_a.client.bsn}, format="json")
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": care_a.client.pk,
            "family_name": "Jansen",
            "given_names": "Anna",
            "date_of_birth": "1994-05-17",
            "bsn_masked": f"*****{care_a.client.bsn[-4:]}",
            "postcode": "1234AB",
        }
    ]
    assert care_a.client.bsn not in response.content.decode()
    assert logs(midwife, "search", care_a.client) == 1
    assert logs(midwife, "search") == 1


def test_search_by_name_and_date_of_birth(care_a):
    gyn = care_a.world.user(Role.GYNAECOLOGIST)
    ClientFactory(tenant=care_a.world.tenant, family_name="Jansen", date_of_birth=date(1990, 1, 1))
    client = api(gyn)
    rows = client.post(f"{care_a.url}clients/search/", {"q": "jans"}, format="json").json()
    assert len(rows) == 2
    rows = client.post(
        f"{care_a.url}clients/search/", {"q": "jans", "date_of_birth": "1994-05-17"}, format="json"
    ).json()
    assert [r["id"] for r in rows] == [care_a.client.pk]
    assert logs(gyn, "search") == 3


def test_search_is_post_only(care_a):
    client = api(care_a.world.user(Role.MIDWIFE))
    assert client.get(f"{care_a.url}clients/search/", {"q": care_a.client.bsn}).status_code == 405
    assert client.post(f"{care_a.url}clients/search/", {}, format="json").json() == []


def test_search_with_unparseable_date_is_field_level_400(care_a):
    response = api(care_a.world.user(Role.MIDWIFE)).post(
        f"{care_a.url}clients/search/", {"date_of_birth": "17-05-1994"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"date_of_birth"}


def test_intake_creates_client_insurance_and_episode(care_a, insurer):
    midwife = care_a.world.user(Role.MIDWIFE)
    body = intake_body(insurer)
    response = api(midwife).post(f"{care_a.url}clients/", body, format="json")
    assert response.status_code == 201, response.json()
    ids = response.json()
    assert set(ids) == {"client_id", "episode_id"}
    client = Client.unscoped.get(pk=ids["client_id"], tenant=care_a.world.tenant)
    assert client.bsn == body["bsn"] and client.postcode == "3511AB"
    assert ClientInsurance.unscoped.get(client=client).insurer == insurer
    episode = Episode.unscoped.get(pk=ids["episode_id"], client=client)
    assert episode.gestational_age_at_intake == 70
    assert episode.parity == 1
    assert episode.coordinating_professional == care_a.midwife
    assert LineTransfer.unscoped.get(episode=episode).line == "first"
    # The client, the episode and the intake's care event, logged for the midwife who took her in (issue 17).
    intake_event = CareEvent.unscoped.get(episode=episode)
    assert (intake_event.event_type.code, intake_event.professional) == ("INTAKE", care_a.midwife)
    assert logs(midwife, "create", client) == 3
    assert body["bsn"] not in response.content.decode()


def _nothing_stored(care: Care, before: dict[str, int]) -> None:
    tenant = care.world.tenant
    after = {
        "clients": Client.unscoped.filter(tenant=tenant).count(),
        "insurances": ClientInsurance.unscoped.filter(tenant=tenant).count(),
        "episodes": Episode.unscoped.filter(tenant=tenant).count(),
        "logs": AccessLogEntry.unscoped.filter(tenant=tenant).count(),
    }
    assert after == before


def _counts(care: Care) -> dict[str, int]:
    tenant = care.world.tenant
    return {
        "clients": Client.unscoped.filter(tenant=tenant).count(),
        "insurances": ClientInsurance.unscoped.filter(tenant=tenant).count(),
        "episodes": Episode.unscoped.filter(tenant=tenant).count(),
        "logs": AccessLogEntry.unscoped.filter(tenant=tenant).count(),
    }


def test_intake_with_invalid_bsn_is_400_on_bsn_and_stores_nothing(care_a, insurer):
    before = _counts(care_a)
    response = api(care_a.world.user(Role.MIDWIFE)).post(
        f"{care_a.url}clients/", intake_body(insurer, bsn=INVALID_BSN), format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"bsn"}
    _nothing_stored(care_a, before)


def test_intake_with_duplicate_bsn_is_400_on_bsn(care_a, insurer):
    before = _counts(care_a)
    response = api(care_a.world.user(Role.MIDWIFE)).post(
        f"{care_a.url}clients/", intake_body(insurer, bsn=care_a.client.bsn), format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"bsn"}
    _nothing_stored(care_a, before)


@pytest.mark.parametrize("days_after_intake", [300, -5], ids=["more-than-40-weeks", "before-intake"])
def test_intake_with_impossible_due_date_rolls_back_the_client(care_a, insurer, days_after_intake):
    """The client is valid and written first; the episode refuses the due date: both are undone."""
    before = _counts(care_a)
    body = intake_body(insurer)
    body["due_date"] = (
        date.fromisoformat(body["intake_date"]) + timedelta(days=days_after_intake)
    ).isoformat()
    response = api(care_a.world.user(Role.MIDWIFE)).post(f"{care_a.url}clients/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"due_date"}
    _nothing_stored(care_a, before)
    assert not Client.unscoped.filter(bsn=body["bsn"]).exists()


def test_intake_reports_parse_and_service_errors_by_field(care_a, insurer):
    client = api(care_a.world.user(Role.MIDWIFE))
    response = client.post(f"{care_a.url}clients/", {}, format="json")
    assert response.status_code == 400
    # The due date is no longer required by itself: a pregnancy dated by its last period or an ultrasound
    # gets it calculated (issue 17); without one the service asks for it (test_lifecycle).
    assert {"bsn", "date_of_birth", "insurer", "intake_date"} <= set(response.json())
    response = client.post(
        f"{care_a.url}clients/",
        {**intake_body(insurer), "insurer": "0000", "policy_number": ""},
        format="json",
    )
    assert response.status_code == 400 and set(response.json()) == {"insurer"}
    response = client.post(f"{care_a.url}clients/", intake_body(insurer, policy_number=" "), format="json")
    assert response.status_code == 400 and set(response.json()) == {"policy_number"}


def test_client_detail_masks_bsn_and_logs_the_view(care_a):
    gyn = care_a.world.user(Role.GYNAECOLOGIST)
    response = api(gyn).get(f"{care_a.url}clients/{care_a.client.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["bsn_masked"] == f"*****{care_a.client.bsn[-4:]}"
    assert care_a.client.bsn not in response.content.decode()
    assert [e["id"] for e in body["episodes"]] == [care_a.episode.pk]
    assert body["episodes"][0]["status"] == "active"
    assert body["insurances"][0]["insurer_uzovi_code"] == "3311"
    assert logs(gyn, "view", care_a.client) == 1


def test_episode_detail_has_key_dates_and_active_events_by_phase(care_a):
    midwife = care_a.world.user(Role.MIDWIFE)
    kept = log_event(care_a, note="Alles goed.")
    log_event(care_a, status=EventStatus.VOIDED, change_reason="dubbel")
    response = api(midwife).get(f"{care_a.url}episodes/{care_a.episode.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == care_a.episode.pk
    assert body["client"]["bsn_masked"].startswith("*****")
    assert body["due_date"] == care_a.episode.due_date.isoformat()
    assert body["key_dates"] == {
        "labour_started_at": None,
        "placenta_plus_2h_at": None,
        "hospital_admitted_at": None,
        "hospital_discharged_at": None,
        "kraamzorg_ended_on": None,
        "postnatal_ended_on": None,
    }
    assert set(body["events"]) == {"prenatal", "natal", "postnatal"}
    assert [e["id"] for e in body["events"]["prenatal"]] == [kept.pk]
    assert body["events"]["prenatal"][0]["note"] == "Alles goed."
    assert body["events"]["prenatal"][0]["event_type"]["code"] == "PRE_CHECK"
    assert body["events"]["natal"] == [] and body["events"]["postnatal"] == []
    assert logs(midwife, "view", care_a.client) == 1


def test_episode_events_list_in_time_order_with_optional_history(care_a):
    later = log_event(care_a, occurred_at=timezone.now() - timedelta(days=1))
    earlier = log_event(care_a, occurred_at=timezone.now() - timedelta(days=5))
    voided = log_event(care_a, status=EventStatus.VOIDED, change_reason="dubbel")
    client = api(care_a.world.user(Role.MIDWIFE))
    url = f"{care_a.url}episodes/{care_a.episode.pk}/events/"
    response = client.get(url)
    assert response.status_code == 200
    assert [e["id"] for e in response.json()] == [earlier.pk, later.pk]
    history = client.get(url, {"include_history": "true"}).json()
    assert [e["id"] for e in history] == [earlier.pk, voided.pk, later.pk]
    assert history[1]["status"] == "voided"
    assert logs(care_a.world.user(Role.MIDWIFE), "view", care_a.client) == 2


def test_log_event_is_201_and_a_repeated_submission_key_is_200_with_the_same_event(care_a):
    midwife = care_a.world.user(Role.MIDWIFE)
    client = api(midwife)
    url = f"{care_a.url}episodes/{care_a.episode.pk}/events/"
    body = event_body(submission_key=str(uuid.uuid4()))
    first = client.post(url, body, format="json")
    assert first.status_code == 201, first.json()
    result = first.json()
    assert result["created"] is True and result["warnings"] == []
    event = result["event"]
    assert event["event_type"]["code"] == "PRE_CHECK"
    assert event["phase"] == "prenatal" and event["status"] == "active"
    assert event["professional"]["id"] == care_a.midwife.pk
    assert event["organisation"]["id"] == care_a.midwife.organisation_id
    assert event["note"] == "RR 120/80, groei conform."
    assert event["quantity"] == "1.00"
    again = client.post(url, body, format="json")
    assert again.status_code == 200
    assert again.json()["created"] is False and again.json()["event"]["id"] == event["id"]
    assert CareEvent.unscoped.filter(tenant=care_a.world.tenant).count() == 1
    stored = CareEvent.unscoped.get(pk=event["id"])
    assert stored.event_type.tenant_id == care_a.world.tenant.pk
    assert logs(midwife, "create", care_a.client) == 1


def test_log_event_without_submission_key_creates_each_time(care_a):
    client = api(care_a.world.user(Role.MIDWIFE))
    url = f"{care_a.url}episodes/{care_a.episode.pk}/events/"
    assert client.post(url, event_body(), format="json").status_code == 201
    # The same check again within its repeat window is stored once confirmed (tests/pregnancies/test_duplicates.py).
    again = event_body(confirm_duplicate=True)
    assert client.post(url, again, format="json").status_code == 201
    assert CareEvent.unscoped.filter(episode=care_a.episode).count() == 2


@pytest.mark.parametrize(
    "user_role,body,field",
    [
        # A natal event before active labour has started: the wrong phase.
        (Role.MIDWIFE, event_body(event_type="DELIV_HOME"), "occurred_at"),
        # A midwife may not log the kraamzorg intake.
        (Role.MIDWIFE, event_body(event_type="KZ_INTAKE"), "event_type"),
        # A maternity carer may not log a prenatal check.
        (Role.MATERNITY_CARER, event_body(), "event_type"),
        (Role.MIDWIFE, event_body(event_type="NO_SUCH_CODE"), "event_type"),
        (Role.MIDWIFE, event_body(quantity="2"), "quantity"),
        (Role.MIDWIFE, event_body(quantity="-1"), "quantity"),
        (Role.MIDWIFE, event_body(occurred_at="gisteren"), "occurred_at"),
        (
            Role.MIDWIFE,
            event_body(occurred_at=(timezone.now() + timedelta(days=1)).isoformat()),
            "occurred_at",
        ),
        # A gynaecologist whose account is not linked to a professional.
        (Role.GYNAECOLOGIST, event_body(), "professional"),
    ],
    ids=[
        "wrong-phase",
        "midwife-kz-intake",
        "carer-prenatal-check",
        "unknown-code",
        "over-max",
        "negative",
        "unparseable-time",
        "future",
        "no-professional",
    ],
)
def test_log_event_refusals_are_field_level_400_and_store_nothing(care_a, user_role, body, field):
    user = care_a.world.user(user_role)
    response = api(user).post(f"{care_a.url}episodes/{care_a.episode.pk}/events/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {field}, response.json()
    assert not CareEvent.unscoped.filter(tenant=care_a.world.tenant).exists()
    assert logs(user, "create") == 0


def test_event_type_codes_of_another_tenant_do_not_resolve(care_a, world_b):
    EventType.unscoped.create(
        tenant=world_b.tenant, code="B_ONLY", name_nl="B", name_en="B", phase="", disciplines=["midwife"]
    )
    response = api(care_a.world.user(Role.MIDWIFE)).post(
        f"{care_a.url}episodes/{care_a.episode.pk}/events/", event_body(event_type="B_ONLY"), format="json"
    )
    assert response.status_code == 400 and set(response.json()) == {"event_type"}


def test_kraamzorg_hours_over_the_maximum_need_confirmation_and_warn(care_a):
    carer = care_a.world.user(Role.MATERNITY_CARER)
    now = timezone.now()
    Episode.unscoped.filter(pk=care_a.episode.pk).update(
        labour_started_at=now - timedelta(days=4, hours=8),
        placenta_plus_2h_at=now - timedelta(days=4),
    )
    for day in range(3, -1, -1):  # 4 x 12 + 4 x 8 = 80 hours already
        for quantity in ("12", "8"):
            log_event(
                care_a,
                "KZ_HOURS",
                occurred_at=now - timedelta(days=day, hours=2),
                phase="postnatal",
                quantity=Decimal(quantity),
                professional=care_a.carer,
                organisation=care_a.carer.organisation,
                created_by=carer,
            )
    url = f"{care_a.url}episodes/{care_a.episode.pk}/events/"
    body = event_body(event_type="KZ_HOURS", quantity="2.5", note="")
    refused = api(carer).post(url, body, format="json")
    assert refused.status_code == 400 and set(refused.json()) == {"confirm_over_limit"}
    assert CareEvent.unscoped.filter(episode=care_a.episode).count() == 8
    accepted = api(carer).post(url, {**body, "confirm_over_limit": True}, format="json")
    assert accepted.status_code == 201
    assert len(accepted.json()["warnings"]) == 1
    assert accepted.json()["event"]["phase"] == "postnatal"


def test_correct_own_event_supersedes_it(care_a):
    midwife = care_a.world.user(Role.MIDWIFE)
    original = log_event(care_a, note="Eerste notitie")
    moment = timezone.now() - timedelta(days=3)
    response = api(midwife).post(
        f"{care_a.url}events/{original.pk}/correct/",
        {"reason": "Verkeerde tijd", "occurred_at": moment.isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.json()
    new = response.json()["event"]
    assert new["supersedes"] == original.pk and new["status"] == "active"
    assert new["note"] == "Eerste notitie"  # left-out fields keep their value
    assert response.json()["warnings"] == []
    original.refresh_from_db()
    assert original.status == EventStatus.SUPERSEDED and original.change_reason == "Verkeerde tijd"
    assert logs(midwife, "update", care_a.client) == 1


def test_correct_refusals_are_400_and_change_nothing(care_a):
    midwife = care_a.world.user(Role.MIDWIFE)
    original = log_event(care_a)
    url = f"{care_a.url}events/{original.pk}/correct/"
    client = api(midwife)
    missing = client.post(url, {"quantity": "1"}, format="json")
    assert missing.status_code == 400 and set(missing.json()) == {"reason"}
    blank = client.post(url, {"reason": "  "}, format="json")
    assert blank.status_code == 400 and set(blank.json()) == {"reason"}
    wrong_phase = client.post(url, {"reason": "x", "event_type": "DELIV_HOME"}, format="json")
    assert wrong_phase.status_code == 400 and set(wrong_phase.json()) == {"occurred_at"}
    # Only the person who logged it may correct it: not tied to one field.
    ProfessionalFactory(tenant=care_a.world.tenant, user=care_a.world.user(Role.GYNAECOLOGIST))
    other = api(care_a.world.user(Role.GYNAECOLOGIST)).post(url, {"reason": "x"}, format="json")
    assert other.status_code == 400 and set(other.json()) == {"non_field_errors"}
    original.refresh_from_db()
    assert original.status == EventStatus.ACTIVE
    assert CareEvent.unscoped.filter(tenant=care_a.world.tenant).count() == 1


def test_void_requires_a_reason_and_keeps_the_row(care_a):
    midwife = care_a.world.user(Role.MIDWIFE)
    event = log_event(care_a)
    url = f"{care_a.url}events/{event.pk}/void/"
    client = api(midwife)
    assert set(client.post(url, {}, format="json").json()) == {"reason"}
    blank = client.post(url, {"reason": ""}, format="json")
    assert blank.status_code == 400 and set(blank.json()) == {"reason"}
    event.refresh_from_db()
    assert event.status == EventStatus.ACTIVE
    response = client.post(url, {"reason": "Dubbel ingevoerd"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "voided" and response.json()["change_reason"] == "Dubbel ingevoerd"
    event.refresh_from_db()
    assert event.status == EventStatus.VOIDED and event.voided_by == midwife
    again = client.post(url, {"reason": "nogmaals"}, format="json")
    assert again.status_code == 400 and set(again.json()) == {"non_field_errors"}
    assert logs(midwife, "void", care_a.client) == 1


def test_event_types_are_those_of_the_callers_discipline(care_a):
    def codes(role: str) -> set[str]:
        response = api(care_a.world.user(role)).get(f"{care_a.url}event-types/")
        assert response.status_code == 200
        return {t["code"] for t in response.json()}

    midwife = codes(Role.MIDWIFE)
    assert {"INTAKE", "PRE_CHECK", "DELIV_HOME", "POST_VISIT"} <= midwife
    assert not {"KZ_HOURS", "KZ_INTAKE", "HOSP_DAY"} & midwife
    assert codes(Role.MATERNITY_CARER) == {"KZ_INTAKE", "PARTUS_ASSIST", "KZ_HOURS", "KZ_OBS"}
    assert codes(Role.GYNAECOLOGIST) == set()  # not linked to a professional
    row = next(
        t
        for t in api(care_a.world.user(Role.MATERNITY_CARER)).get(f"{care_a.url}event-types/").json()
        if t["code"] == "KZ_HOURS"
    )
    assert row["unit"] == "hour" and row["phase"] == "postnatal" and row["max_quantity"] == "12.00"


def test_a_submission_key_reused_on_another_episode_is_refused(care_a):
    midwife = care_a.world.user(Role.MIDWIFE)
    other_episode = EpisodeFactory(
        tenant=care_a.world.tenant,
        intake_date=care_a.episode.intake_date,
        due_date=care_a.episode.due_date,
        gestational_age_at_intake=84,
    )
    key = str(uuid.uuid4())
    client = api(midwife)
    first = client.post(
        f"{care_a.url}episodes/{care_a.episode.pk}/events/", event_body(submission_key=key), format="json"
    )
    assert first.status_code == 201
    reused = client.post(
        f"{care_a.url}episodes/{other_episode.pk}/events/", event_body(submission_key=key), format="json"
    )
    assert reused.status_code == 400 and reused.json()["non_field_errors"]
    assert not CareEvent.unscoped.filter(episode=other_episode).exists()
