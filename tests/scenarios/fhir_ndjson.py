"""NDJSON for the FHIR import (issue 21): one resource per line, referring to each other as `<Type>/<id>`,
built from the Bundle builders of tests.scenarios.fhir for the care world's client and midwife."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.test import Client as HttpClient

from tests.scenarios.care import Care
from tests.scenarios.fhir import Sender, encounter, patient, practitioner

NDJSON = "application/fhir+ndjson"
PATIENT = "Patient/p1"
PRACTITIONER = "Practitioner/d1"


def post_ndjson(
    sender: Sender, body: bytes | str, *, content_type: str = NDJSON, slug: str | None = None
) -> Any:
    return HttpClient().post(
        f"/api/t/{slug or sender.care.tenant.slug}/fhir/ndjson/",
        data=body,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {sender.key}",
    )


def ndjson(*resources: dict[str, Any] | str) -> bytes:
    """One line per resource (a str is sent as it is: a broken line)."""
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in resources).encode()


def nd_encounter(ident: str, code: str, start: datetime, **kwargs: Any) -> dict[str, Any]:
    """An Encounter of the Bundle builder, referring to the file's patient and practitioner by id."""
    kwargs.setdefault("patient_url", PATIENT)
    kwargs.setdefault("practitioner_url", PRACTITIONER)
    return encounter(ident, code, start, **kwargs)["resource"]


def care_lines(care: Care, *encounters: dict[str, Any]) -> list[dict[str, Any]]:
    """The care world's client (id p1) and midwife (id d1), then these encounters."""
    return [
        patient(care.client.bsn)["resource"] | {"id": "p1"},
        practitioner(care.midwife.agb_code)["resource"] | {"id": "d1"},
        *encounters,
    ]
