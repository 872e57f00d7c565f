"""FHIR XML Bundles (issue 21): read into the JSON shape and imported as JSON; malformed XML and XML that
declares a DOCTYPE or entities are refused whole with an OperationOutcome.

The world: IGO Alpha's care world and the practice's system (tests.scenarios.fhir).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from fhir_io import xml_bundle
from fhir_io.importing import Refused
from pregnancies.models import CareEvent
from tests.scenarios.care import Care
from tests.scenarios.fhir import (
    EXAMPLES,
    Sender,
    as_xml,
    care_bundle,
    code_mappings,
    encounter,
    example,
    sender_for,
)


@pytest.fixture
def sender(care: Care) -> Sender:
    code_mappings(care)
    return sender_for(care)


def post_xml(sender: Sender, body: bytes, content_type: str = "application/fhir+xml") -> Any:
    return HttpClient().post(
        sender.url, data=body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {sender.key}"
    )


def days_ago(n: int) -> Any:
    return timezone.localtime().replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=n)


def stored(care: Care) -> list[tuple[Any, ...]]:
    return list(
        CareEvent.unscoped.filter(episode=care.episode)
        .order_by("pk")
        .values_list("event_type__code", "occurred_at", "professional_id", "quantity", "status")
    )


def test_the_documented_xml_example_reads_as_its_json_twin() -> None:
    raw = (EXAMPLES / "encounters.xml").read_bytes()
    assert json.loads(xml_bundle.to_json(raw)) == example("encounters.json")


@pytest.mark.parametrize("name", ["encounters.json", "delivery.json"])
def test_every_element_of_the_examples_reads_back_from_xml(name: str) -> None:
    """Booleans, integers, decimals, repeats, choice elements and extensions keep their JSON form."""
    data = example(name)
    data["entry"][0]["resource"]["gender"] = "female"
    data["entry"][0]["resource"]["_gender"] = {"extension": [{"url": "urn:x", "valueBoolean": True}]}
    data["entry"][0]["resource"]["name"] = [{"given": ["Anna", None], "_given": [None, {"id": "g2"}]}]
    assert json.loads(xml_bundle.to_json(as_xml(data))) == data


@pytest.mark.django_db
def test_an_xml_bundle_stores_what_its_json_twin_stores(care: Care, sender: Sender) -> None:
    sent = care_bundle(
        care,
        encounter("e1", "intake", days_ago(59)),
        encounter("e2", "controle", days_ago(30)),
    )
    answer = post_xml(sender, as_xml(sent))
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"].startswith("application/fhir+json")
    assert [e["response"]["status"] for e in answer.json()["entry"]][2:] == ["201 Created", "201 Created"]
    after_xml = stored(care)
    assert len(after_xml) == 2
    # The JSON twin is the same content: a resend that changes nothing.
    again = sender.post(sent)
    assert again.status_code == 200, again.content
    assert [e["response"]["status"] for e in again.json()["entry"]][2:] == ["200 OK", "200 OK"]
    assert stored(care) == after_xml


@pytest.mark.django_db
def test_the_documented_xml_example_imports(care: Care, sender: Sender) -> None:
    raw = (EXAMPLES / "encounters.xml").read_text()
    raw = raw.replace("999911120", care.client.bsn).replace("03000001", care.midwife.agb_code)
    raw = raw.replace("2026-11-16T10:00:00+01:00", days_ago(20).isoformat())
    answer = post_xml(sender, raw.encode(), content_type="application/xml")
    assert answer.status_code == 200, answer.content
    assert len(stored(care)) == 1


def issues(answer: Any, status: int) -> list[tuple[str, str]]:
    assert answer.status_code == status, answer.content
    body = answer.json()
    assert body["resourceType"] == "OperationOutcome"
    return [(i["code"], i["expression"][0]) for i in body["issue"]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        b"<Bundle xmlns='http://hl7.org/fhir'><type value='transaction'/>",
        b"not xml at all",
        b"",
        json.dumps({"resourceType": "Bundle"}).encode(),
    ],
)
def test_malformed_xml_is_refused_as_structure(care: Care, sender: Sender, body: bytes) -> None:
    assert issues(post_xml(sender, body), 400) == [("structure", "Bundle")]
    assert stored(care) == []


@pytest.mark.django_db
def test_another_root_than_a_fhir_bundle_is_refused(care: Care, sender: Sender) -> None:
    for body in (b"<Bundle><type value='transaction'/></Bundle>", b"<Patient xmlns='http://hl7.org/fhir'/>"):
        assert issues(post_xml(sender, body), 400) == [("structure", "Bundle")]


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE Bundle [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
  <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
  <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
]>
<Bundle xmlns="http://hl7.org/fhir"><type value="transaction"/><id value="&e;"/></Bundle>
"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE Bundle [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Bundle xmlns="http://hl7.org/fhir"><id value="&x;"/></Bundle>
"""


@pytest.mark.django_db
@pytest.mark.parametrize("body", [BOMB, EXTERNAL, b"<!DOCTYPE Bundle><Bundle xmlns='http://hl7.org/fhir'/>"])
def test_a_doctype_or_entity_is_refused_before_anything_expands(
    care: Care, sender: Sender, body: bytes
) -> None:
    assert issues(post_xml(sender, body), 400) == [("security", "Bundle")]
    assert stored(care) == []


def test_the_bomb_is_refused_without_expanding() -> None:
    with pytest.raises(Refused) as refused:
        xml_bundle.to_json(BOMB)
    assert "DOCTYPE" in refused.value.issues[0].text


@pytest.mark.django_db
def test_an_unknown_or_repeated_element_is_refused_with_its_place(care: Care, sender: Sender) -> None:
    sent = care_bundle(care, encounter("e1", "intake", days_ago(59)))
    xml = as_xml(sent).decode()
    xml = xml.replace(
        '<ns0:status value="finished" />', '<ns0:status value="finished" /><ns0:colour value="red" />'
    )
    xml = xml.replace("<ns0:period>", '<ns0:period><ns0:start value="2026-01-01" />', 1)
    found = issues(post_xml(sender, xml.encode()), 422)
    assert found == [
        ("invalid", "Bundle.entry[2].resource.colour"),
        ("invalid", "Bundle.entry[2].resource.period.start"),
    ]
    assert stored(care) == []


@pytest.mark.django_db
def test_a_wrong_typed_value_is_refused_with_its_place(care: Care, sender: Sender) -> None:
    sent = care_bundle(care, encounter("e1", "kraamuren", days_ago(30), hours=2))
    xml = as_xml(sent).decode().replace('<ns0:value value="2" />', '<ns0:value value="two" />')
    assert issues(post_xml(sender, xml.encode()), 422) == [("value", "Bundle.entry[2].resource.length.value")]


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_an_xml_bundle_can_run_as_a_job(care: Care, sender: Sender) -> None:
    sent = care_bundle(care, encounter("e1", "intake", days_ago(59)))
    answer = HttpClient().post(
        sender.url,
        data=as_xml(sent),
        content_type="application/fhir+xml",
        headers={"Prefer": "respond-async"},
        HTTP_AUTHORIZATION=f"Bearer {sender.key}",
    )
    assert answer.status_code == 202, answer.content
    done = sender.job_answer(answer["Content-Location"])
    assert done.status_code == 200, done.content
    assert len(stored(care)) == 1
