"""Identifier and code systems of the FHIR import and export (docs/fhir.md)."""

# National identifier systems (Nictiz NamingSystems).
BSN = "http://fhir.nl/fhir/NamingSystem/bsn"
AGB = "http://fhir.nl/fhir/NamingSystem/agb-z"
UZOVI = "http://fhir.nl/fhir/NamingSystem/uzovi"

# The platform's own identifier systems.
# An episode (pregnancy) by its number in the IGO.
EPISODE = "urn:igo-platform:episode"
# A client without her BSN, for receivers not entitled to it: a keyed hash of IGO and client, the same in
# every export of that client by that IGO, and not to be turned back into her record outside the platform.
CLIENT_PSEUDONYM = "urn:igo-platform:client-pseudonym"
# A care event as exported: "<igo>/<number of the first event of its correction chain>", so a corrected
# event keeps the identifier of the event it corrects (a resend is then a correction, not a new event).
CARE_EVENT = "urn:igo-platform:care-event"
# A delivery and a child of it as exported: "<igo>/<episode>" and "<igo>/<episode>/<child number>".
DELIVERY = "urn:igo-platform:delivery"
CHILD = "urn:igo-platform:child"
# The Bundle of an export: "<igo>/<what>/<moment>".
EXPORT = "urn:igo-platform:export"

# Code systems.
CATALOGUE = "urn:igo-platform:catalogue"  # an entry of the IGO's care catalogue (EventType.code)
BIRTH_RECORD = "urn:igo-platform:birth-record"  # the birth record's elements and values (docs/fhir.md)
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
V3_ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
