"""Profiles in `meta.profile` (issue 21: "wrong resource types or profiles" are refused whole): a resource
may declare FHIR's base profile of its type or the Nictiz zib profile for it (fhir_io.profiles); any other
profile refuses the Bundle with its place. A resource without `meta.profile` is accepted as before.

The world: IGO Alpha's care world and the practice's system (tests.scenarios.fhir).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from fhir_io import profiles
from pregnancies.models import CareEvent
from tests.scenarios.care import Care
from tests.scenarios.fhir import Sender, care_bundle, code_mappings, encounter, sender_for

pytestmark = pytest.mark.django_db

NICTIZ = "http://nictiz.nl/fhir/StructureDefinition/"
BASE = "http://hl7.org/fhir/StructureDefinition/"


@pytest.fixture
def sender(care: Care) -> Sender:
    code_mappings(care)
    return sender_for(care)


def days_ago(n: int) -> Any:
    return timezone.localtime().replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=n)


def with_profiles(care: Care, patient: list[str], enc: list[str]) -> dict[str, Any]:
    sent = care_bundle(care, encounter("e1", "intake", days_ago(59)))
    if patient:
        sent["entry"][0]["resource"]["meta"] = {"profile": patient}
    if enc:
        sent["entry"][2]["resource"]["meta"] = {"profile": enc}
    return sent


def stored(care: Care) -> int:
    return CareEvent.unscoped.filter(episode=care.episode).count()


def test_the_nictiz_and_base_profiles_are_accepted(care: Care, sender: Sender) -> None:
    sent = with_profiles(
        care, [NICTIZ + "nl-core-Patient|2.0.0"], [NICTIZ + "nl-core-Encounter", BASE + "Encounter"]
    )
    sent["entry"][1]["resource"]["meta"] = {"profile": [NICTIZ + "nl-core-HealthProfessional-Practitioner"]}
    answer = sender.post(sent)
    assert answer.status_code == 200, answer.content
    assert stored(care) == 1


def test_without_a_profile_a_resource_is_accepted_as_before(care: Care, sender: Sender) -> None:
    answer = sender.post(with_profiles(care, [], []))
    assert answer.status_code == 200, answer.content


def test_an_unknown_profile_refuses_the_whole_bundle_with_its_place(care: Care, sender: Sender) -> None:
    sent = with_profiles(
        care,
        ["https://example.org/fhir/StructureDefinition/my-patient"],
        [NICTIZ + "nl-core-Encounter", NICTIZ + "nl-core-Patient"],  # another type's profile
    )
    answer = sender.post(sent)
    assert answer.status_code == 422, answer.content
    found = [(i["code"], i["expression"][0]) for i in answer.json()["issue"]]
    assert found == [
        ("not-supported", "Bundle.entry[0].resource.meta.profile[0]"),
        ("not-supported", "Bundle.entry[2].resource.meta.profile[1]"),
    ]
    assert "my-patient" in answer.json()["issue"][0]["diagnostics"]
    assert stored(care) == 0


def test_the_bundles_own_profile_is_checked_too(care: Care, sender: Sender) -> None:
    sent = with_profiles(care, [], [])
    sent["meta"] = {"profile": ["https://example.org/fhir/StructureDefinition/my-bundle"]}
    answer = sender.post(sent)
    assert answer.status_code == 422, answer.content
    assert answer.json()["issue"][0]["expression"] == ["Bundle.meta.profile[0]"]
    sent["meta"] = {"profile": [BASE + "Bundle"]}
    assert sender.post(sent).status_code == 200


def test_every_imported_type_accepts_its_base_profile() -> None:
    for kind in ("Patient", "Practitioner", "EpisodeOfCare", "Encounter", "Procedure", "Observation"):
        resource = {"resourceType": kind, "meta": {"profile": [BASE + kind]}}
        assert profiles.unknown(resource) == []
    assert profiles.unknown({"resourceType": "Patient", "meta": {"profile": [BASE + "Encounter"]}}) == [
        (0, BASE + "Encounter")
    ]
