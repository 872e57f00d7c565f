"""Identifier systems the import knows (docs/fhir.md)."""

BSN = "http://fhir.nl/fhir/NamingSystem/bsn"
AGB = "http://fhir.nl/fhir/NamingSystem/agb-z"
UZOVI = "http://fhir.nl/fhir/NamingSystem/uzovi"
# The platform's own: an episode (pregnancy) by its number in the IGO.
EPISODE = "urn:igo-platform:episode"
