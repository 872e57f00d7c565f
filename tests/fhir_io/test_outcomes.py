"""Births and outcomes by FHIR (issue 21): a member system sends a delivery Observation with its child
Observations; it becomes the delivery of the pregnancy through the delivery services, or the whole Bundle
is refused with each problem and its place, nothing stored.

The world: IGO Alpha's client with the pregnancy of tests.scenarios.fhir_export (due 9 November 2026,
nothing of the delivery recorded), seen on 10 November 2026 at 16:00; the practice's system sends
docs/fhir-examples/delivery.json (a home birth that morning by its midwife).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fhir_io import systems
from fhir_io.models import FhirOutcomeLink
from igo.models import AuditEntry
from pregnancies.models import Birth, CareEvent, Episode
from tests.factories import ProfessionalFactory
from tests.scenarios.care import Care
from tests.scenarios.fhir import Sender, example, sender_for
from tests.scenarios.fhir_export import NOW, pregnancy_of_nov_2026

pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture
def sender(care: Care) -> Sender:
    pregnancy_of_nov_2026(care)
    return sender_for(care)


def delivery(care: Care, agb: str | None = None) -> dict[str, Any]:
    """The documented example with the world's BSN and the midwife's AGB (or `agb`) put in."""
    data = example("delivery.json")
    data["entry"][0]["resource"]["identifier"][0]["value"] = care.client.bsn
    data["entry"][1]["resource"]["identifier"][0]["value"] = agb or care.midwife.agb_code
    return data


def component(resource: dict[str, Any], element: str) -> dict[str, Any]:
    return next(c for c in resource["component"] if c["code"]["coding"][0]["code"] == element)


def nothing_stored(care: Care) -> None:
    episode = Episode.unscoped.get(pk=care.episode.pk)
    assert (episode.labour_started_at, episode.blood_loss_ml) == (None, None)
    assert not Birth.unscoped.filter(episode=episode).exists()
    assert not CareEvent.unscoped.filter(episode=episode).exists()
    assert not FhirOutcomeLink.unscoped.exists()


def refused(answer: Any) -> list[tuple[str, str]]:
    assert answer.status_code == 422, answer.content
    return [(i["code"], i["expression"][0]) for i in answer.json()["issue"]]


def test_the_documented_delivery_becomes_the_birth_record(care: Care, sender: Sender) -> None:
    answer = sender.post(delivery(care))
    assert answer.status_code == 200, answer.content
    assert answer.json()["entry"][2]["response"]["status"] == "201 Created"
    birth = Birth.unscoped.get(episode=care.episode)
    assert (birth.mode, birth.place, birth.sex, birth.weight_grams, birth.apgar_1, birth.apgar_5) == (
        "spontaneous", "home", "female", 3280, 9, 10,
    )  # fmt: skip
    episode = Episode.unscoped.get(pk=care.episode.pk)
    assert (episode.perineum, episode.presentation, episode.blood_loss_ml) == ("first", "cephalic", 300)
    assert episode.placenta_plus_2h_at is not None
    # The delivery event of the catalogue, for the practice's midwife who performed it.
    event = CareEvent.unscoped.get(episode=care.episode)
    assert (event.event_type.code, event.professional) == ("DELIV_HOME", care.midwife)
    # Again: nothing changes.
    again = sender.post(delivery(care))
    assert again.json()["entry"][2]["response"]["status"] == "200 OK"
    assert CareEvent.unscoped.filter(episode=care.episode).count() == 1


def test_a_child_without_a_delivery_is_refused_where_it_is(care: Care, sender: Sender) -> None:
    data = delivery(care)
    del data["entry"][2]
    assert ("invalid", "Bundle.entry[2].resource") in refused(sender.post(data))
    nothing_stored(care)


def test_each_bad_element_is_named(care: Care, sender: Sender) -> None:
    data = delivery(care)
    mother, child = data["entry"][2]["resource"], data["entry"][3]["resource"]
    component(mother, "place")["valueCodeableConcept"]["coding"][0]["code"] = "garden"
    component(child, "birth-weight")["valueQuantity"]["code"] = "kg"
    mother["component"].append({"code": {"coding": [{"system": systems.BIRTH_RECORD, "code": "colour"}]}})
    issues = refused(sender.post(data))
    assert ("code-invalid", "Bundle.entry[2].resource.component[2].valueCodeableConcept") in issues
    assert ("required", "Bundle.entry[3].resource.component[3].valueQuantity") in issues
    assert ("code-invalid", "Bundle.entry[2].resource.component[9].code") in issues
    nothing_stored(care)


def test_the_services_refusal_refuses_the_bundle(care: Care, sender: Sender) -> None:
    """A birth after the placenta: the delivery service's own check, reported at the delivery."""
    data = delivery(care)
    data["entry"][3]["resource"]["effectiveDateTime"] = "2026-11-10T06:30:00+01:00"
    issues = refused(sender.post(data))
    assert ("business-rule", "Bundle.entry[2].resource (born_at_1)") in issues
    nothing_stored(care)


def test_a_maternity_carer_cannot_be_responsible_for_a_delivery(care: Care, sender: Sender) -> None:
    carer = ProfessionalFactory(tenant=care.tenant, organisation=care.practice, discipline="maternity_carer")
    issues = refused(sender.post(delivery(care, agb=carer.agb_code)))
    assert ("forbidden", "Bundle.entry[2].resource.performer") in issues
    nothing_stored(care)


def test_a_caesarean_needs_a_child_born_by_caesarean(care: Care, sender: Sender) -> None:
    data = delivery(care)
    data["entry"].append(
        {
            "fullUrl": "urn:uuid:caesarean",
            "resource": {
                "resourceType": "Procedure",
                "status": "completed",
                "code": {"coding": [{"system": systems.SNOMED, "code": "11466000"}]},
                "subject": {"reference": data["entry"][0]["fullUrl"]},
                "performedDateTime": "2026-11-10T05:40:00+01:00",
            },
        }
    )
    assert ("business-rule", "Bundle.entry[4].resource") in refused(sender.post(data))
    nothing_stored(care)
    # With the child born by caesarean (in hospital, second line) it is taken.
    caesarean = copy.deepcopy(data)
    mother, child = caesarean["entry"][2]["resource"], caesarean["entry"][3]["resource"]
    component(child, "mode")["valueCodeableConcept"]["coding"][0]["code"] = "caesarean"
    component(mother, "place")["valueCodeableConcept"]["coding"][0]["code"] = "clinical"
    component(mother, "line")["valueCodeableConcept"]["coding"][0]["code"] = "second"
    care.gynaecologist.organisation = care.practice  # the practice's system names its own professionals
    care.gynaecologist.save()
    caesarean["entry"][1]["resource"]["identifier"][0]["value"] = care.gynaecologist.agb_code
    answer = sender.post(caesarean)
    assert answer.status_code == 200, answer.content
    assert Birth.unscoped.get(episode=care.episode).mode == "caesarean"


def test_a_delivery_recorded_in_the_igo_is_not_overwritten(care: Care, sender: Sender) -> None:
    Birth.unscoped.create(
        tenant=care.tenant,
        episode=care.episode,
        child_number=1,
        born_at=NOW,
        place="home",
        mode="spontaneous",
    )
    assert ("business-rule", "Bundle.entry[2].resource") in refused(sender.post(delivery(care)))


def test_a_delivery_cannot_be_withdrawn(care: Care, sender: Sender) -> None:
    data = delivery(care)
    data["entry"][2]["resource"]["status"] = "entered-in-error"
    assert ("not-supported", "Bundle.entry[2].resource.status") in refused(sender.post(data))


def test_a_delivery_identifier_longer_than_stored_is_refused_where_it_is(care: Care, sender: Sender) -> None:
    # Was a database error (500) when the link was written; now a problem with its place, nothing stored.
    data = delivery(care)
    data["entry"][2]["resource"]["identifier"][0]["value"] = "x" * 201
    assert ("value", "Bundle.entry[2].resource.identifier") in refused(sender.post(data))
    nothing_stored(care)


def lemmon(element: str, value: bool) -> dict[str, Any]:
    return {"code": {"coding": [{"system": systems.BIRTH_RECORD, "code": element}]}, "valueBoolean": value}


def test_the_lemmon_criteria_are_read_when_sent_and_kept_when_not(care: Care, sender: Sender) -> None:
    """Sent: the criteria that are true (all false: none of them), through the outcomes service, audited.
    Not sent (a system that does not know them): those recorded in the IGO stay."""
    data = delivery(care)
    mother = data["entry"][2]["resource"]
    mother["component"] += [lemmon("lemmon-transfusion", True), lemmon("lemmon-icu", False)]
    component(mother, "blood-loss")["valueQuantity"]["value"] = 2200
    assert sender.post(data).status_code == 200
    assert Episode.unscoped.get(pk=care.episode.pk).severe_morbidity == ["transfusion"]
    assert AuditEntry.objects.filter(action="episode.severe_morbidity").count() == 1
    data = delivery(care)
    data["entry"][2]["resource"]["component"] += [lemmon("lemmon-transfusion", False)]
    assert sender.post(data).status_code == 200
    assert Episode.unscoped.get(pk=care.episode.pk).severe_morbidity == []  # none of them
    assert sender.post(delivery(care)).status_code == 200  # not sent
    assert Episode.unscoped.get(pk=care.episode.pk).severe_morbidity == []


def test_a_lemmon_criterion_must_be_true_or_false(care: Care, sender: Sender) -> None:
    data = delivery(care)
    mother = data["entry"][2]["resource"]
    mother["component"].append({"code": {"coding": [{"system": systems.BIRTH_RECORD, "code": "lemmon-icu"}]}})
    at = f"Bundle.entry[2].resource.component[{len(mother['component']) - 1}].valueBoolean"
    assert ("required", at) in refused(sender.post(data))
    nothing_stored(care)


def test_a_child_sex_outside_the_code_system_is_refused_where_it_is(care: Care, sender: Sender) -> None:
    data = delivery(care)
    child = data["entry"][3]["resource"]
    assert child["code"]["coding"][0]["code"] == "child"
    component(child, "sex")["valueCodeableConcept"]["coding"][0]["code"] = "F"
    place = next(n for n, c in enumerate(child["component"]) if c["code"]["coding"][0]["code"] == "sex")
    assert refused(sender.post(data)) == [
        ("code-invalid", f"Bundle.entry[3].resource.component[{place}].valueCodeableConcept")
    ]
    nothing_stored(care)


def test_a_child_sent_without_its_sex_has_none_recorded(care: Care, sender: Sender) -> None:
    data = delivery(care)
    child = data["entry"][3]["resource"]
    child["component"] = [c for c in child["component"] if c["code"]["coding"][0]["code"] != "sex"]
    assert sender.post(data).status_code == 200
    assert Birth.unscoped.get(episode=care.episode).sex == ""
