"""The profiles the FHIR import accepts in `meta.profile` (docs/fhir.md, "Profiles").

A resource need not declare a profile. One that does must declare only profiles of this list for its type:
FHIR R4's base profile of the type, or the Nictiz profile of the zib (zib2020, nl-core for FHIR R4) that
the type stands for. A canonical may carry a version (`…|1.0.0`); the version is not checked. A profile the
platform does not know may constrain the resource in a way this import does not read, so it is refused,
not ignored.
"""

from __future__ import annotations

from typing import Any

BASE = "http://hl7.org/fhir/StructureDefinition/"
NICTIZ = "http://nictiz.nl/fhir/StructureDefinition/"

# Per resource type: the Nictiz nl-core profiles (zib2020) accepted beside the base profile.
NL_CORE: dict[str, tuple[str, ...]] = {
    "Patient": ("nl-core-Patient",),
    "Practitioner": ("nl-core-HealthProfessional-Practitioner",),
    "EpisodeOfCare": ("nl-core-EpisodeOfCare",),
    "Encounter": ("nl-core-Encounter",),
    "Procedure": ("nl-core-Procedure-event",),
    "Organization": ("nl-core-HealthcareProvider-Organization",),
    "Condition": ("nl-core-Problem",),
    "Observation": (),
    "Bundle": (),
}

ALLOWED: dict[str, frozenset[str]] = {
    kind: frozenset({BASE + kind, *(NICTIZ + name for name in names)}) for kind, names in NL_CORE.items()
}


def unknown(resource: Any) -> list[tuple[int, str]]:
    """The declared profiles of a resource (the JSON shape) that are not accepted for its type, with their
    place in `meta.profile`. Malformed `meta` is left to the FHIR validation."""
    if not isinstance(resource, dict):
        return []
    meta = resource.get("meta")
    declared = meta.get("profile") if isinstance(meta, dict) else None
    allowed = ALLOWED.get(str(resource.get("resourceType")))
    if not isinstance(declared, list) or allowed is None:  # a type not imported is refused as such
        return []
    return [
        (j, url)
        for j, url in enumerate(declared)
        if isinstance(url, str) and url.split("|", 1)[0] not in allowed
    ]
