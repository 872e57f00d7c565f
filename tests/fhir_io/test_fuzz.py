"""Schemathesis over the FHIR endpoint (issue 21): generated bodies, sent with a valid member key.

Two schemas drive it. The published one (drf-spectacular's, as `/api/schema/` serves it) says only "a JSON
object", so its bodies are mostly refused at the door. The second describes a transaction Bundle in the
shape the import reads (Patient, Practitioner, EpisodeOfCare, Encounter, Procedure and others; identifiers,
references, codes, moments, lengths) with placeholders that the test fills with the care world's real BSN,
AGB codes, mapped codes and a moment in the pregnancy, so that generated Bundles get through parsing and
mapping into the store, next to every kind of wrong value.

Checks on every answer: no 5xx; `application/fhir+json`; an OperationOutcome whose issues have a severity,
a code and an expression (400, 413, 422), or a transaction-response Bundle with one entry per request entry
(200); and on any refusal nothing stored (no care event, no link, no status changed).

The world is IGO Alpha's care world (tests.scenarios.care) seen on 15 September 2026, the practice's
system's key, the IGO's code mapping. A fixed seed keeps it repeatable; IGO_FUZZ_SEED=<n> and
IGO_FUZZ_EXAMPLES=<n> explore more by hand. The crashes it found are kept as regression tests below.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from schemathesis.config import SchemathesisConfig

from fhir_io import systems
from fhir_io.models import FhirResourceLink
from pregnancies.models import CareEvent
from tests.scenarios.care import Care
from tests.scenarios.clock import local
from tests.scenarios.fhir import CODES, SENDER_CODES, SENDER_IDS, Sender, code_mappings, sender_for

pytestmark = [pytest.mark.django_db, pytest.mark.clock(local(2026, 9, 15, 12))]

SEED = int(os.environ.get("IGO_FUZZ_SEED", "20261206"))
EXAMPLES = int(os.environ.get("IGO_FUZZ_EXAMPLES", "40"))
CONFIG = SchemathesisConfig.from_dict({"seed": SEED})
PATH = "/api/t/{tenant_slug}/fhir/"

# Placeholders in generated bodies, filled per world (a string in the JSON is replaced whole).
BSN, BSN_OTHER, AGB, AGB_OTHER = "@BSN@", "@BSN_OTHER@", "@AGB@", "@AGB_OTHER@"
EPISODE, MOMENT, MOMENT_LATER = "@EPISODE@", "@MOMENT@", "@MOMENT_LATER@"
URLS = ["urn:uuid:patient-1", "urn:uuid:practitioner-1", "urn:uuid:episode-1", "urn:uuid:care-1"]
OWN_URLS = ["urn:uuid:patient-2", "urn:uuid:episode-1", "urn:uuid:care-1", "urn:uuid:care-2"]


def _any_of(*options: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": list(options)}


TEXT = {"type": "string"}
# Any token FHIR takes as a string, code or uri (no white space): wrong values that pass the door.
TOKEN = {"type": "string", "pattern": "^\\S{1,30}$"}
IDENT = {
    "type": "object",
    "required": ["system", "value"],
    "properties": {
        "system": _any_of(
            {"enum": [systems.BSN, systems.AGB, systems.EPISODE, SENDER_IDS]},
            {"type": "string", "maxLength": 40},
        ),
        "value": _any_of({"enum": [BSN, BSN_OTHER, AGB, AGB_OTHER, EPISODE, "e1", "e2"]}, TOKEN),
    },
}
IDENTIFIERS = {"type": "array", "items": IDENT, "maxItems": 2}
# A reference to an entry of the Bundle, not always of the right kind (a random one finds nothing: dull).
REFERENCE = {"type": "object", "required": ["reference"], "properties": {"reference": {"enum": URLS}}}
MOMENT_VALUE = _any_of({"enum": [MOMENT, MOMENT_LATER]}, {"type": "string", "format": "date-time"})
CODING = {
    "type": "object",
    "properties": {
        "system": _any_of({"enum": [SENDER_CODES]}, TOKEN),
        "code": _any_of({"enum": sorted(CODES)}, TOKEN),
    },
}
CONCEPT = {"type": "object", "properties": {"coding": {"type": "array", "items": CODING, "maxItems": 2}}}
STATUS = {"enum": ["finished", "completed", "entered-in-error", "planned", "in-progress", "active"]}


def _resource(kind: str, *required: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["resourceType", *required],
        "properties": {"resourceType": {"enum": [kind]}, "identifier": IDENTIFIERS, **properties},
    }


def _care(kind: str, *required: str, **properties: Any) -> dict[str, Any]:
    """An Encounter or Procedure: with an identifier, mostly the sender's own system."""
    resource = _resource(kind, "identifier", *required, **properties)
    resource["properties"]["identifier"] = {
        "type": "array",
        "minItems": 1,
        "maxItems": 1,
        "items": {
            "type": "object",
            "required": ["system", "value"],
            "properties": {
                "system": {"enum": [SENDER_IDS]},
                "value": _any_of({"enum": ["e1", "e2", "e3"]}, TOKEN),
            },
        },
    }
    return resource


RESOURCES = [
    _resource("Patient"),
    _resource("Practitioner"),
    _resource("EpisodeOfCare", "status", "patient", status=STATUS, patient=REFERENCE),
    _care(
        "Encounter",
        "status",
        "class",
        "subject",
        "participant",
        "type",
        "period",
        status=STATUS,
        **{
            "class": {"type": "object", "properties": {"code": {"enum": ["AMB", "HH"]}}, "required": ["code"]}
        },
        type={"type": "array", "items": CONCEPT, "maxItems": 2},
        subject=REFERENCE,
        episodeOfCare={"type": "array", "items": REFERENCE, "maxItems": 1},
        participant={
            "type": "array",
            "items": {"type": "object", "required": ["individual"], "properties": {"individual": REFERENCE}},
            "maxItems": 2,
        },
        period={"type": "object", "properties": {"start": MOMENT_VALUE}},
        length={
            "type": "object",
            "properties": {"value": {"type": "number"}, "code": _any_of({"enum": ["h", "min", "s"]}, TOKEN)},
        },
    ),
    _care(
        "Procedure",
        "status",
        "subject",
        "code",
        "performer",
        "performedDateTime",
        status=STATUS,
        code=CONCEPT,
        subject=REFERENCE,
        performer={
            "type": "array",
            "items": {"type": "object", "required": ["actor"], "properties": {"actor": REFERENCE}},
            "maxItems": 2,
        },
        performedDateTime=MOMENT_VALUE,
    ),
    {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": _any_of({"enum": ["Observation", "Condition"]}, TEXT)},
    },
]
BUNDLE = {
    "type": "object",
    "required": ["resourceType", "type", "entry"],
    "properties": {
        "resourceType": {"enum": ["Bundle"]},  # other bodies: the published schema's test
        "type": {"enum": ["transaction"]},
        "entry": {
            "type": "array",
            "minItems": 1,
            "maxItems": 6,
            "items": {
                "type": "object",
                "required": ["fullUrl", "resource"],
                "properties": {
                    "fullUrl": _any_of({"enum": OWN_URLS}, TOKEN),
                    "resource": {"anyOf": RESOURCES},
                    "request": {
                        "type": "object",
                        "properties": {"method": {"enum": ["PUT", "POST"]}, "url": TOKEN},
                    },
                },
            },
        },
    },
}
SHAPED = {
    "openapi": "3.0.3",
    "info": {"title": "FHIR import, Bundle-shaped", "version": "1"},
    "paths": {
        PATH: {
            "post": {
                "parameters": [{"in": "path", "name": "tenant_slug", "required": True, "schema": TEXT}],
                "requestBody": {"required": True, "content": {"application/fhir+json": {"schema": BUNDLE}}},
                "responses": {"200": {"description": "transaction-response"}},
            }
        }
    },
}

shaped = schemathesis.openapi.from_dict(SHAPED, config=CONFIG)
published = schemathesis.openapi.from_dict(
    copy.deepcopy(SchemaGenerator().get_schema(request=None, public=True)), config=CONFIG
).include(path=PATH)
SETTINGS = hsettings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


@pytest.fixture
def sender(care: Care, care_b: Care, settings: Any) -> Sender:
    # Hundreds of bodies in a minute: the per-member rate (60/min, tests/fhir_io/test_jobs.py) is off here,
    # what is fuzzed is the reading of the body.
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "fhir_member": None},
    }
    code_mappings(care)
    return sender_for(care)


def fill(body: Any, care: Care, care_b: Care) -> Any:
    """The placeholders of a generated body, as values of the care world (a string replaced whole)."""
    values = {
        BSN: care.client.bsn,
        BSN_OTHER: care_b.client.bsn,
        AGB: care.midwife.agb_code,
        AGB_OTHER: care.carer.agb_code,
        EPISODE: str(care.episode.pk),
        MOMENT: local(2026, 8, 20, 10, 30).isoformat(),
        MOMENT_LATER: local(2026, 9, 3, 14, 0).isoformat(),
    }
    if isinstance(body, dict):
        return {k: fill(v, care, care_b) for k, v in body.items()}
    if isinstance(body, list):
        return [fill(v, care, care_b) for v in body]
    return values.get(body, body) if isinstance(body, str) else body


def stored() -> tuple[int, int, list[tuple[int, str]]]:
    return (
        CareEvent.unscoped.count(),
        FhirResourceLink.unscoped.count(),
        list(CareEvent.unscoped.order_by("pk").values_list("pk", "status")),
    )


JSON_TYPES = (dict, list, str, int, float, bool, type(None))


def send_and_check(sender: Sender, body: Any) -> Any:
    """Send a body (no body at all where the generator made none); assert the endpoint's promises."""
    before = stored()
    raw = body if isinstance(body, bytes | str) else json.dumps(body) if isinstance(body, JSON_TYPES) else b""
    answer = sender.post(raw)
    assert answer.status_code < 500, answer.content
    assert answer["Content-Type"].startswith("application/fhir+json"), answer["Content-Type"]
    data = answer.json()
    if answer.status_code == 200:
        assert data["resourceType"] == "Bundle" and data["type"] == "transaction-response", data
        assert len(data["entry"]) == len(body["entry"])
        assert all(e["response"]["status"] in ("200 OK", "201 Created") for e in data["entry"])
    else:
        assert answer.status_code in (400, 413, 422), answer.status_code
        assert data["resourceType"] == "OperationOutcome" and data["issue"], data
        for issue in data["issue"]:
            assert issue["severity"] == "error" and issue["code"] and issue["diagnostics"]
            assert isinstance(issue["expression"], list) and issue["expression"][0]
        assert stored() == before, "a refused Bundle stored something"
    return answer


def with_people(body: Any) -> Any:
    """The generated entries after the care world's client and midwife (URLS[0], URLS[1]), so that the
    generated care can refer to them: most Bundles then reach the store, where the business rules are."""
    if not isinstance(body, dict) or not isinstance(body.get("entry"), list):
        return body
    people = [
        {"fullUrl": URLS[0], "resource": {"resourceType": "Patient", "identifier": [{"system": systems.BSN, "value": BSN}]}},
        {"fullUrl": URLS[1], "resource": {"resourceType": "Practitioner", "identifier": [{"system": systems.AGB, "value": AGB}]}},
    ]  # fmt: skip
    return {**body, "entry": people + body["entry"]}


@shaped.parametrize()
@SETTINGS
def test_bundle_shaped_bodies(case: Any, care: Care, care_b: Care, sender: Sender) -> None:
    send_and_check(sender, fill(with_people(case.body), care, care_b))


@published.parametrize()
@SETTINGS
def test_bodies_of_the_published_schema(case: Any, care: Care, care_b: Care, sender: Sender) -> None:
    body = case.body
    # A generated body that is no JSON object still goes as JSON (the endpoint reads the bytes itself).
    send_and_check(
        sender, body if isinstance(body, dict) or not isinstance(body, JSON_TYPES) else json.dumps(body)
    )


def test_the_shaped_schema_reaches_the_store(care: Care, care_b: Care, sender: Sender) -> None:
    """The placeholders make importable Bundles: one such, as the generator could make it, is stored."""
    body = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": URLS[0], "resource": {"resourceType": "Patient", "identifier": [{"system": systems.BSN, "value": BSN}]}},
            {"fullUrl": URLS[1], "resource": {"resourceType": "Practitioner", "identifier": [{"system": systems.AGB, "value": AGB}]}},
            {
                "fullUrl": URLS[3],
                "resource": {
                    "resourceType": "Encounter",
                    "identifier": [{"system": SENDER_IDS, "value": "e1"}],
                    "status": "finished",
                    "class": {"code": "AMB"},
                    "type": [{"coding": [{"system": SENDER_CODES, "code": "controle"}]}],
                    "subject": {"reference": URLS[0]},
                    "participant": [{"individual": {"reference": URLS[1]}}],
                    "period": {"start": MOMENT},
                },
            },
        ],
    }  # fmt: skip
    assert send_and_check(sender, fill(body, care, care_b)).status_code == 200
    assert CareEvent.unscoped.count() == 1


# --- what the fuzzing found, kept (each was a 500) ------------------------------------------------------


def _encounter_bundle(ident: str = "e1", start: str = MOMENT, system: str = SENDER_IDS, **extra: Any) -> Any:
    body = with_people(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": URLS[3],
                    "resource": {
                        "resourceType": "Encounter",
                        "identifier": [{"system": system, "value": ident}],
                        "status": "finished",
                        "class": {"code": "AMB"},
                        "type": [{"coding": [{"system": SENDER_CODES, "code": "controle"}]}],
                        "subject": {"reference": URLS[0]},
                        "participant": [{"individual": {"reference": URLS[1]}}],
                        "period": {"start": start},
                        **extra,
                    },
                }
            ],
        }
    )
    return body


FOUND = {
    # resourceType an object or a list: `kind not in KNOWN_TYPES` hashed it (TypeError).
    "resource type an object": (
        {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {"resourceType": {}}}]},
        "Bundle.entry[0].resource",
    ),
    # Identifiers longer than FhirResourceLink's columns (DataError on insert).
    "long identifier": (_encounter_bundle(ident="x" * 300), "Bundle.entry[2].resource.identifier"),
    "long system": (_encounter_bundle(system="urn:" + "s" * 300), "Bundle.entry[2].resource.identifier"),
    # A NUL character, valid in a FHIR string, which PostgreSQL cannot store (DataError).
    "nul in identifier": (
        _encounter_bundle(ident="e\x001"),
        "Bundle.entry[2].resource.identifier[0].value",
    ),
    # Moments that leave the calendar on the Amsterdam clock (OverflowError in localdate).
    "year 1": (_encounter_bundle(start="0001-01-01T00:00:00+14:00"), "Bundle.entry[2].resource"),
    "year 9999": (_encounter_bundle(start="9999-12-31T23:59:59-12:00"), "Bundle.entry[2].resource"),
    # An episode number beyond bigint: not found (no crash; kept as the boundary).
    "huge episode": (_encounter_bundle(episodeOfCare=[{"reference": URLS[2]}]), "Bundle.entry[3].resource"),
}


@pytest.mark.parametrize("name", sorted(FOUND))
def test_what_fuzzing_found_is_refused(name: str, care: Care, care_b: Care, sender: Sender) -> None:
    body, expression = copy.deepcopy(FOUND[name])
    if name == "huge episode":
        body["entry"].append(
            {
                "fullUrl": URLS[2],
                "resource": {
                    "resourceType": "EpisodeOfCare",
                    "status": "active",
                    "patient": {"reference": URLS[0]},
                    "identifier": [{"system": systems.EPISODE, "value": "9" * 30}],
                },
            }
        )
    answer = send_and_check(sender, fill(body, care, care_b))
    assert answer.status_code in (400, 422)
    assert any(i["expression"][0].startswith(expression) for i in answer.json()["issue"]), answer.json()
