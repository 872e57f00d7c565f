"""The FHIR export (issue 21): one episode as a document for a hospital, a period as a collection for the
perinatal registry; valid by the fhir.resources models, the BSN only for a receiver entitled to it, every
client in the access log, another IGO's episode not found.

The world: tests.scenarios.fhir_export (Anna Jansen of IGO Alpha, delivered at home on 10 November 2026,
seen that afternoon).
"""

from __future__ import annotations

import json

import pytest

from fhir_io import export, systems
from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies.models import AccessAction, AccessLogEntry, Birth, CareEvent, Episode
from tests.factories import ClientFactory, EpisodeFactory
from tests.scenarios.care import Care
from tests.scenarios.fhir_export import NOW, delivered, resources, validated

pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture
def episode(care: Care) -> Episode:
    return delivered(care)


def document(care: Care, episode: Episode, receiver: str = "hospital") -> dict:
    with tenant_scope(care.tenant):
        return export.episode_document(
            tenant=care.tenant, episode=episode, actor=care.user(Role.MIDWIFE), receiver=receiver, now=NOW
        )


def test_an_episode_is_a_valid_document_with_the_composition_first(care: Care, episode: Episode) -> None:
    data = document(care, episode)
    bundle = validated(data)
    assert bundle.type == "document" and bundle.identifier is not None and bundle.timestamp is not None
    assert data["entry"][0]["resource"]["resourceType"] == "Composition"
    urls = {e["fullUrl"] for e in data["entry"]}
    composition = data["entry"][0]["resource"]
    referred = [r["reference"] for s in composition["section"] for r in s["entry"]]
    assert set(referred) <= urls and composition["subject"]["reference"] in urls
    kinds = sorted({e["resource"]["resourceType"] for e in data["entry"]})
    assert kinds == ["Composition", "Condition", "Encounter", "EpisodeOfCare", "Observation", "Organization",
                     "Patient", "Practitioner"]  # fmt: skip
    # Care: intake, the corrected check (once, at its corrected moment, under the first event's number), the
    # postnatal visit; the delivery is the delivery Observation, not a care contact.
    encounters = resources(data, "Encounter")
    assert [e["type"][0]["coding"][0]["code"] for e in encounters] == ["INTAKE", "PRE_CHECK", "POST_VISIT"]
    check = encounters[1]
    assert check["period"]["start"].startswith("2026-08-03T10:00")
    first = CareEvent.unscoped.filter(episode=episode, event_type__code="PRE_CHECK").order_by("pk")[0].pk
    assert check["identifier"] == [{"system": systems.CARE_EVENT, "value": f"{care.tenant.slug}/{first}"}]
    # The pregnancy: the condition and the parity, due date, gravidity observations.
    codes = {o["code"]["coding"][0]["code"] for o in resources(data, "Observation")}
    assert {"11977-6", "11778-8", "11996-6", "delivery", "child"} <= codes
    child = next(o for o in resources(data, "Observation") if o["code"]["coding"][0]["code"] == "child")
    values = {c["code"]["coding"][0]["code"]: c for c in child["component"]}
    assert values["birth-weight"]["valueQuantity"]["value"] == 3450
    assert values["birth-weight"]["code"]["coding"][1]["code"] == "8339-4"
    assert values["apgar-5"]["valueInteger"] == 10
    assert values["sex"]["valueCodeableConcept"]["coding"] == [
        {"system": f"{systems.BIRTH_RECORD}:sex", "code": "male"}
    ]
    assert values["gestational-age"]["valueQuantity"]["value"] == 281  # born the day after 40+0
    mother = next(o for o in resources(data, "Observation") if o["code"]["coding"][0]["code"] == "delivery")
    values = {c["code"]["coding"][0]["code"]: c for c in mother["component"]}
    assert values["blood-loss"]["valueQuantity"]["value"] == 350
    assert values["perineum"]["valueCodeableConcept"]["coding"][0]["code"] == "second"
    # None of the LEMMoN criteria: each written as false (not recorded would write none of them).
    lemmon = {k: v["valueBoolean"] for k, v in values.items() if k.startswith("lemmon-")}
    assert lemmon == {
        "lemmon-icu": False, "lemmon-uterine-rupture": False, "lemmon-eclampsia": False,
        "lemmon-hellp-liver": False, "lemmon-transfusion": False, "lemmon-embolisation-hysterectomy": False,
        "lemmon-other": False,
    }  # fmt: skip
    assert not resources(data, "Procedure")  # no caesarean


def test_a_caesarean_is_also_a_procedure(care: Care, episode: Episode) -> None:
    Birth.unscoped.filter(episode=episode).update(mode="caesarean")
    data = document(care, episode)
    validated(data)
    (procedure,) = resources(data, "Procedure")
    assert procedure["code"]["coding"][0]["code"] == "11466000"


def test_the_hospital_gets_the_bsn_and_the_registry_a_pseudonym(care: Care, episode: Episode) -> None:
    hospital = document(care, episode, "hospital")
    (patient,) = resources(hospital, "Patient")
    assert patient["identifier"] == [{"system": systems.BSN, "value": care.client.bsn}]
    assert patient["name"][0]["family"] == "Jansen"
    registry = document(care, episode, "registry")
    text = json.dumps(registry)
    assert care.client.bsn not in text and "Jansen" not in text
    (patient,) = resources(registry, "Patient")
    assert patient["identifier"][0]["system"] == systems.CLIENT_PSEUDONYM
    assert patient["identifier"][0]["value"] == export.pseudonym(care.client)
    assert patient["address"] == [{"postalCode": "1234", "country": "NL"}]
    # The same pseudonym in every export; the insurer only in the hand-over.
    assert resources(document(care, episode, "registry"), "Patient") == [patient]
    assert systems.UZOVI in json.dumps(hospital) and systems.UZOVI not in text


def test_the_download_writes_the_access_log_and_is_a_file(care: Care, episode: Episode, client_for) -> None:
    web = client_for(care.user(Role.MATERNITY_CARER))
    answer = web.get(care.url(f"episodes/{episode.pk}/fhir/?receiver=hospital"))
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/fhir+json"
    assert "attachment" in answer["Content-Disposition"]
    validated(json.loads(answer.content))
    entry = AccessLogEntry.unscoped.get(client=care.client, action=AccessAction.EXPORT)
    assert entry.user == care.user(Role.MATERNITY_CARER) and "hospital" in entry.detail
    # Without a receiver nothing is read.
    assert web.get(care.url(f"episodes/{episode.pk}/fhir/")).status_code == 400
    assert AccessLogEntry.unscoped.filter(action=AccessAction.EXPORT).count() == 1


def test_the_episode_page_offers_the_hand_over(care: Care, episode: Episode, client_for) -> None:
    page = client_for(care.user(Role.MIDWIFE)).get(care.url(f"episodes/{episode.pk}/"))
    assert f"episodes/{episode.pk}/fhir/?receiver=hospital" in page.content.decode()


def test_another_igos_episode_is_not_found(care: Care, care_b: Care, client_for) -> None:
    web = client_for(care.user(Role.MIDWIFE))
    assert web.get(care.url(f"episodes/{care_b.episode.pk}/fhir/?receiver=hospital")).status_code == 404
    assert not AccessLogEntry.unscoped.filter(action=AccessAction.EXPORT).exists()


def test_finance_cannot_download_an_episode(care: Care, episode: Episode, client_for) -> None:
    web = client_for(care.user(Role.IGO_FINANCE))
    assert web.get(care.url(f"episodes/{episode.pk}/fhir/?receiver=hospital")).status_code == 403


def test_the_registry_gets_the_year_as_a_collection(care: Care, episode: Episode, client_for) -> None:
    # Another woman, born in 2025: not in 2026's delivery. A third, ended in 2026 without a birth: in it.
    other = ClientFactory(tenant=care.tenant, family_name="Bakker")
    EpisodeFactory(tenant=care.tenant, client=other, status="ended", end_date="2026-03-01",
                   end_reason="miscarriage", intake_date="2026-01-10", due_date="2026-08-01",
                   gestational_age_at_intake=60)  # fmt: skip
    web = client_for(care.user(Role.IGO_ADMIN))
    page = web.get(care.url("fhir/export/"))
    assert page.status_code == 200 and 'data-testid="export-form"' in page.content.decode()
    answer = web.get(care.url("fhir/export/"), {"year": 2026, "receiver": "registry"})
    assert answer.status_code == 200
    data = json.loads(answer.content)
    bundle = validated(data)
    assert bundle.type == "collection"
    assert len(resources(data, "EpisodeOfCare")) == 2 and len(resources(data, "Patient")) == 2
    assert care.client.bsn not in answer.content.decode()
    logged = set(
        AccessLogEntry.unscoped.filter(action=AccessAction.EXPORT).values_list("client_id", "user_id")
    )
    assert logged == {
        (care.client.pk, care.user(Role.IGO_ADMIN).pk),
        (other.pk, care.user(Role.IGO_ADMIN).pk),
    }
    # A month without births or ends: an empty collection, still valid.
    empty = json.loads(
        web.get(care.url("fhir/export/"), {"year": 2026, "month": 6, "receiver": "registry"}).content
    )
    validated(empty)
    assert not resources(empty, "EpisodeOfCare")
    # A bad year: the form again with its error, nothing exported.
    assert web.get(care.url("fhir/export/"), {"year": "x", "receiver": "registry"}).status_code == 400


def test_only_the_administrator_exports_a_period(care: Care, client_for) -> None:
    assert client_for(care.user(Role.MIDWIFE)).get(care.url("fhir/export/")).status_code == 403
