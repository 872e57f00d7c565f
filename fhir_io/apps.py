from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FhirIoConfig(AppConfig):
    # Not "fhir": that name belongs to the fhir.resources namespace package, which an app called fhir hides.
    name = "fhir_io"
    verbose_name = _("FHIR import")
