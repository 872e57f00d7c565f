"""The FHIR import (issue 21): a member's system sends care as a transaction Bundle.

The world: IGO Alpha's care world (tests.scenarios.care): Anna Jansen, whose pregnancy began 60 days ago
(prenatal, no labour yet), the midwife of practice De Linde, the maternity carer of Het Nest; the practice's
system has a key, and the IGO maps the sender's codes (controle -> PRE_CHECK, intake -> INTAKE,
kraamuren -> KZ_HOURS, nacontrole -> CHECK_6W).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from fhir_io import systems
from fhir_io.models import FhirResourceLink
from pregnancies.models import AccessLogEntry, CareEvent, EventStatus
from tests.scenarios.care import Care
from tests.scenarios.fhir import (
    SENDER_CODES,
    SENDER_IDS,
    Sender,
    bundle,
    care_bundle,
    code_mappings,
    encounter,
    example,
    patient,
    practitioner,
    sender_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def sender(care: Care) -> Sender:
    code_mappings(care)
    return sender_for(care)


def days_ago(n: int, hour: int = 10):
    return timezone.localtime().replace(hour=hour, minute=0, second=0, microsecond=0) - timedelta(days=n)


def events(care: Care):
    return CareEvent.unscoped.filter(episode=care.episode).order_by("pk")


def test_a_bundle_becomes_care_events_of_the_members_own_professional(care: Care, sender: Sender) -> None:
    answer = sender.post(
        care_bundle(care, encounter("e1", "intake", days_ago(59)), encounter("e2", "controle", days_ago(30)))
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["type"] == "transaction-response"
    # One response per request entry: patient, practitioner, two encounters.
    assert [e["response"]["status"] for e in body["entry"]] == [
        "200 OK",
        "200 OK",
        "201 Created",
        "201 Created",
    ]
    logged = list(events(care))
    assert [e.event_type.code for e in logged] == ["INTAKE", "PRE_CHECK"]
    assert {e.professional_id for e in logged} == {care.midwife.pk}
    assert {e.organisation_id for e in logged} == {care.practice.pk}
    assert all(e.phase == "prenatal" and e.status == EventStatus.ACTIVE for e in logged)
    # Logged by the practice's system user, which cannot sign in.
    system_user = logged[0].created_by
    assert not system_user.has_usable_password()
    # The BSN lookup and the two new events are in the access log of Anna's record.
    actions = set(
        AccessLogEntry.unscoped.filter(client=care.client, user=system_user).values_list("action", flat=True)
    )
    assert {"search", "create"} <= actions


def test_the_documented_example_imports(care: Care, sender: Sender) -> None:
    """docs/fhir-examples/encounters.json, with the test world's BSN, AGB and dates put in."""
    data = example("encounters.json")
    for entry in data["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Patient":
            resource["identifier"][0]["value"] = care.client.bsn
        elif resource["resourceType"] == "Practitioner":
            resource["identifier"][0]["value"] = care.midwife.agb_code
        else:
            resource["period"]["start"] = days_ago(20).isoformat()
    answer = sender.post(data)
    assert answer.status_code == 200, answer.content
    assert events(care).count() == 1


def test_sending_the_same_bundle_again_changes_nothing(care: Care, sender: Sender) -> None:
    sent = care_bundle(
        care, encounter("e1", "intake", days_ago(59)), encounter("e2", "controle", days_ago(30))
    )
    assert sender.post(sent).status_code == 200
    before = list(events(care).values_list("pk", "status", "occurred_at"))
    again = sender.post(sent)
    assert again.status_code == 200
    assert [e["response"]["status"] for e in again.json()["entry"]][2:] == ["200 OK", "200 OK"]
    assert list(events(care).values_list("pk", "status", "occurred_at")) == before
    assert FhirResourceLink.unscoped.count() == 2


def test_a_changed_resource_becomes_a_correction_with_history(care: Care, sender: Sender) -> None:
    assert sender.post(care_bundle(care, encounter("e2", "controle", days_ago(30)))).status_code == 200
    original = events(care).get()
    moved = days_ago(29, hour=14)
    assert sender.post(care_bundle(care, encounter("e2", "controle", moved))).status_code == 200
    original.refresh_from_db()
    assert original.status == EventStatus.SUPERSEDED
    assert "e2" in original.change_reason
    corrected = CareEvent.unscoped.get(supersedes=original)
    assert corrected.status == EventStatus.ACTIVE and corrected.occurred_at == moved
    assert FhirResourceLink.unscoped.get().care_event == corrected


def test_entered_in_error_voids_the_event_and_a_resend_keeps_it_void(care: Care, sender: Sender) -> None:
    assert sender.post(care_bundle(care, encounter("e2", "controle", days_ago(30)))).status_code == 200
    withdrawn = care_bundle(care, encounter("e2", "controle", days_ago(30), status="entered-in-error"))
    assert sender.post(withdrawn).status_code == 200
    event = events(care).get()
    assert event.status == EventStatus.VOIDED and event.voided_at is not None
    assert sender.post(withdrawn).status_code == 200
    assert events(care).get().status == EventStatus.VOIDED


def _refused(answer, status: int = 422) -> list[dict]:
    assert answer.status_code == status, answer.content
    body = answer.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"] and all(i["expression"] for i in body["issue"])
    return body["issue"]


def test_wrong_resource_type_is_refused_whole(care: Care, sender: Sender) -> None:
    observation = {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}}
    issues = _refused(sender.post(care_bundle(care, encounter("e1", "intake", days_ago(59)), observation)))
    assert issues[0]["expression"] == ["Bundle.entry[3].resource"]
    assert not events(care).exists()


def test_an_element_fhir_does_not_know_is_refused_with_its_place(care: Care, sender: Sender) -> None:
    wrong = encounter("e1", "intake", days_ago(59))
    wrong["resource"]["colour"] = "blue"
    issues = _refused(sender.post(care_bundle(care, wrong)))
    assert issues[0]["expression"] == ["Bundle.entry[2].resource.colour"]
    assert not events(care).exists()


def test_unknown_code_and_another_members_professional_are_both_listed(care: Care, sender: Sender) -> None:
    """Every problem is listed, not only the first: an unmapped code on one encounter, and the maternity
    carer of Het Nest (not the practice's) on another."""
    sent = bundle(
        patient(care.client.bsn),
        practitioner(care.midwife.agb_code),
        practitioner(care.carer.agb_code, url="urn:uuid:practitioner-2"),
        encounter("e1", "onbekend", days_ago(40)),
        encounter("e2", "controle", days_ago(30), practitioner_url="urn:uuid:practitioner-2"),
        encounter("e3", "controle", days_ago(20)),
    )
    issues = _refused(sender.post(sent))
    places = {i["expression"][0]: i["code"] for i in issues}
    assert places["Bundle.entry[2].resource.identifier"] == "forbidden"
    assert places["Bundle.entry[3].resource.type"] == "code-invalid"
    assert not events(care).exists()


def test_another_igos_client_is_unknown(care: Care, care_b: Care, sender: Sender) -> None:
    issues = _refused(
        sender.post(bundle(patient(care_b.client.bsn), practitioner(care.midwife.agb_code),
                           encounter("e1", "controle", days_ago(30))))
    )  # fmt: skip
    assert issues[0]["expression"] == ["Bundle.entry[0].resource.identifier"]
    assert not CareEvent.unscoped.exists()


def test_duplicate_identifiers_inside_one_bundle_are_refused(care: Care, sender: Sender) -> None:
    sent = care_bundle(
        care, encounter("e1", "controle", days_ago(30)), encounter("e1", "controle", days_ago(20))
    )
    sent["entry"][3]["fullUrl"] = "urn:uuid:other"
    issues = _refused(sender.post(sent))
    assert [i["code"] for i in issues] == ["duplicate"]
    assert not events(care).exists()


def test_an_event_in_the_wrong_phase_refuses_the_bundle_and_stores_nothing(
    care: Care, sender: Sender
) -> None:
    """A six-week check (postnatal) while Anna is still pregnant: the care service refuses it; the valid
    encounter before it in the same Bundle is rolled back too."""
    sent = care_bundle(
        care, encounter("e1", "controle", days_ago(30)), encounter("e2", "nacontrole", days_ago(10))
    )
    issues = _refused(sender.post(sent))
    assert issues[0]["code"] == "business-rule"
    assert issues[0]["expression"][0].startswith("Bundle.entry[3].resource")
    assert not events(care).exists()
    assert not FhirResourceLink.unscoped.exists()


def test_malformed_json_is_refused(care: Care, sender: Sender) -> None:
    issues = _refused(sender.post(b'{"resourceType": "Bundle", "entry": ['), status=400)
    assert issues[0]["code"] == "structure"


def test_a_bundle_that_is_not_a_transaction_is_refused(care: Care, sender: Sender) -> None:
    sent = care_bundle(care, encounter("e1", "controle", days_ago(30)))
    sent["type"] = "collection"
    assert _refused(sender.post(sent))[0]["expression"] == ["Bundle.type"]


def test_a_bundle_over_the_size_limit_is_refused(care: Care, sender: Sender, settings) -> None:
    settings.FHIR_IMPORT_MAX_BYTES = 2000
    sent = care_bundle(care, *[encounter(f"e{n}", "controle", days_ago(30 - n)) for n in range(10)])
    issues = _refused(sender.post(sent), status=413)
    assert issues[0]["code"] == "too-costly"
    assert not events(care).exists()


def test_a_procedure_and_an_episode_of_care_by_the_platforms_identifier(care: Care, sender: Sender) -> None:
    """The EpisodeOfCare names Anna's pregnancy by the platform's episode number; the Procedure (an intake)
    is performed by the midwife."""
    procedure = {
        "fullUrl": "urn:uuid:procedure-p1",
        "resource": {
            "resourceType": "Procedure",
            "identifier": [{"system": SENDER_IDS, "value": "p1"}],
            "status": "completed",
            "code": {"coding": [{"system": SENDER_CODES, "code": "intake"}]},
            "subject": {"reference": "urn:uuid:patient-1"},
            "performer": [{"actor": {"reference": "urn:uuid:practitioner-1"}}],
            "performedDateTime": days_ago(59).isoformat(),
        },
        "request": {"method": "PUT", "url": "Procedure?identifier=p1"},
    }
    pregnancy = {
        "fullUrl": "urn:uuid:episode-1",
        "resource": {
            "resourceType": "EpisodeOfCare",
            "identifier": [{"system": systems.EPISODE, "value": str(care.episode.pk)}],
            "status": "active",
            "patient": {"reference": "urn:uuid:patient-1"},
        },
        "request": {"method": "PUT", "url": "EpisodeOfCare?identifier=x"},
    }
    visit = encounter("e2", "controle", days_ago(30))
    visit["resource"]["episodeOfCare"] = [{"reference": "urn:uuid:episode-1"}]
    answer = sender.post(care_bundle(care, pregnancy, procedure, visit))
    assert answer.status_code == 200, answer.content
    assert [e.event_type.code for e in events(care)] == ["INTAKE", "PRE_CHECK"]


def test_an_episode_number_of_another_client_is_not_found(care: Care, care_b: Care, sender: Sender) -> None:
    pregnancy = {
        "fullUrl": "urn:uuid:episode-1",
        "resource": {
            "resourceType": "EpisodeOfCare",
            "identifier": [{"system": systems.EPISODE, "value": str(care_b.episode.pk)}],
            "status": "active",
            "patient": {"reference": "urn:uuid:patient-1"},
        },
    }
    issues = _refused(sender.post(care_bundle(care, pregnancy)))
    assert issues[0]["code"] == "not-found"


@pytest.mark.parametrize("value", ["²", "9" * 30])
def test_an_episode_number_that_is_no_row_id_is_not_found(care: Care, sender: Sender, value: str) -> None:
    # A superscript digit passed str.isdigit() and then int() failed; 30 digits overflowed the key: both
    # were server errors.
    pregnancy = {
        "fullUrl": "urn:uuid:episode-1",
        "resource": {
            "resourceType": "EpisodeOfCare",
            "identifier": [{"system": systems.EPISODE, "value": value}],
            "status": "active",
            "patient": {"reference": "urn:uuid:patient-1"},
        },
    }
    issues = _refused(sender.post(care_bundle(care, pregnancy)))
    assert issues[0]["code"] == "not-found"


def test_kraamzorg_hours_come_from_the_encounter_length(care: Care) -> None:
    """Het Nest's system sends 3.5 hours of maternity care two days after a birth; the delivery is set on
    the episode first so that the moment lies in the postnatal phase."""
    code_mappings(care)
    born = days_ago(4, hour=8)
    placenta = born + timedelta(minutes=20)
    care.update_episode(
        labour_started_at=born - timedelta(hours=6),
        placenta_at=placenta,
        placenta_plus_2h_at=placenta + timedelta(hours=2),
    )
    kraamzorg = sender_for(care, care.kraamzorg)
    sent = bundle(
        patient(care.client.bsn),
        practitioner(care.carer.agb_code),
        encounter("k1", "kraamuren", days_ago(2), hours=3.5),
    )
    answer = kraamzorg.post(sent)
    assert answer.status_code == 200, answer.content
    event = events(care).get()
    assert event.quantity == Decimal("3.5") and event.phase == "postnatal"
    assert event.organisation == care.kraamzorg
