"""The FHIR import's world (issue 21): a member's system key, the IGO's code mapping for the sender's codes,
and Bundles built for the care world's client and professionals (tests.scenarios.care)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from django.test import Client as HttpClient

from fhir_io import services, systems
from igo.models import Role
from tests.scenarios.care import Care

SENDER_CODES = "https://his.example.org/fhir/CodeSystem/visits"
SENDER_IDS = "https://his.example.org/fhir/NamingSystem/encounter"
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "fhir-examples"

# The sender's codes and the catalogue entries they stand for.
CODES = {"controle": "PRE_CHECK", "intake": "INTAKE", "kraamuren": "KZ_HOURS", "nacontrole": "CHECK_6W"}


@dataclass
class Sender:
    """A member organisation's system: its key for the FHIR endpoint of its IGO."""

    care: Care
    key: str

    @property
    def url(self) -> str:
        return f"/api/t/{self.care.tenant.slug}/fhir/"

    def post(
        self, bundle: dict[str, Any] | bytes | str, *, url: str | None = None, respond_async: bool = False
    ) -> Any:
        body = bundle if isinstance(bundle, bytes | str) else json.dumps(bundle)
        headers = {"Prefer": "respond-async"} if respond_async else {}
        return HttpClient().post(
            url or self.url,
            data=body,
            content_type="application/fhir+json",
            headers=headers,
            HTTP_AUTHORIZATION=f"Bearer {self.key}",
        )

    def get(self, url: str) -> Any:
        return HttpClient().get(url, HTTP_AUTHORIZATION=f"Bearer {self.key}")

    def job_answer(self, status_url: str, *, timeout: float = 60) -> Any:
        """The job's status polled until it is no longer 202 (the worker has ended it)."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.get(status_url)
            if answer.status_code != 202 or time.monotonic() > deadline:
                return answer
            time.sleep(0.2)


def code_mappings(care: Care) -> None:
    admin = care.user(Role.IGO_ADMIN)
    for code, entry in CODES.items():
        services.code_mapping_create(
            tenant=care.tenant, actor=admin, system=SENDER_CODES, code=code, event_type=care.type(entry)
        )


def sender_for(care: Care, organisation: Any = None) -> Sender:
    """The practice's system (or `organisation`'s), with the IGO's code mapping in place."""
    _row, key = services.member_key_create(
        tenant=care.tenant,
        actor=care.user(Role.IGO_ADMIN),
        organisation=organisation or care.practice,
        name="Praktijksysteem",
    )
    return Sender(care, key)


def patient(bsn: str, url: str = "urn:uuid:patient-1") -> dict[str, Any]:
    return {
        "fullUrl": url,
        "resource": {"resourceType": "Patient", "identifier": [{"system": systems.BSN, "value": bsn}]},
        "request": {"method": "PUT", "url": f"Patient?identifier={systems.BSN}|{bsn}"},
    }


def practitioner(agb: str, url: str = "urn:uuid:practitioner-1") -> dict[str, Any]:
    return {
        "fullUrl": url,
        "resource": {"resourceType": "Practitioner", "identifier": [{"system": systems.AGB, "value": agb}]},
        "request": {"method": "PUT", "url": f"Practitioner?identifier={systems.AGB}|{agb}"},
    }


def encounter(
    ident: str,
    code: str,
    start: datetime,
    *,
    status: str = "finished",
    patient_url: str = "urn:uuid:patient-1",
    practitioner_url: str = "urn:uuid:practitioner-1",
    hours: float | None = None,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "identifier": [{"system": SENDER_IDS, "value": ident}],
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"coding": [{"system": SENDER_CODES, "code": code}]}],
        "subject": {"reference": patient_url},
        "participant": [{"individual": {"reference": practitioner_url}}],
        "period": {"start": start.isoformat()},
    }
    if hours is not None:
        resource["length"] = {"value": hours, "unit": "h", "system": "http://unitsofmeasure.org", "code": "h"}
    return {
        "fullUrl": f"urn:uuid:encounter-{ident}",
        "resource": resource,
        "request": {"method": "PUT", "url": f"Encounter?identifier={SENDER_IDS}|{ident}"},
    }


def bundle(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def care_bundle(care: Care, *encounters: dict[str, Any]) -> dict[str, Any]:
    """The care world's client and midwife, and these encounters."""
    return bundle(patient(care.client.bsn), practitioner(care.midwife.agb_code), *encounters)


def example(name: str) -> dict[str, Any]:
    """An example Bundle of docs/fhir-examples/."""
    return json.loads((EXAMPLES / name).read_text())


FHIR_NS = "{http://hl7.org/fhir}"


def as_xml(data: dict[str, Any]) -> bytes:
    """A Bundle in the FHIR JSON shape written as FHIR XML: an object becomes an element, an array repeats
    its element, a primitive's value goes in `value` (its `_name` id and extensions beside it), a resource is
    wrapped in an element named by its type, an element's `id` and an extension's `url` are attributes.
    Element order is the dict's (the import's reader does not depend on it)."""

    def text(value: Any) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    def element(parent: ElementTree.Element, name: str, value: Any, extra: Any) -> None:
        if name == "div":
            parent.append(ElementTree.fromstring(value))  # noqa: S314 (the test's own XHTML)
        elif isinstance(value, dict) and "resourceType" in value:
            resource(ElementTree.SubElement(parent, FHIR_NS + name), value)
        elif isinstance(value, dict):
            fill(
                ElementTree.SubElement(parent, FHIR_NS + name),
                value,
                name in ("extension", "modifierExtension"),
            )
        else:
            node = ElementTree.SubElement(parent, FHIR_NS + name)
            if value is not None:
                node.set("value", text(value))
            if extra and "id" in extra:
                node.set("id", extra["id"])
            for ext in (extra or {}).get("extension", []):
                element(node, "extension", ext, None)

    def fill(node: ElementTree.Element, data: dict[str, Any], extension: bool) -> None:
        for key, value in data.items():
            if key == "resourceType" or key.startswith("_"):
                continue
            if (key == "id" and "resourceType" not in data) or (key == "url" and extension):
                node.set(key, value)
                continue
            extra = data.get("_" + key)
            if isinstance(value, list):
                extras = extra if isinstance(extra, list) else [None] * len(value)
                for item, item_extra in zip(value, extras, strict=True):
                    element(node, key, item, item_extra)
            else:
                element(node, key, value, extra)

    def resource(parent: ElementTree.Element, data: dict[str, Any]) -> None:
        fill(ElementTree.SubElement(parent, FHIR_NS + data["resourceType"]), data, False)

    holder = ElementTree.Element("holder")
    resource(holder, data)
    return ElementTree.tostring(holder[0], encoding="utf-8")
