from django.urls import path

from fhir_io.api import FhirImportView

urlpatterns = [path("fhir/", FhirImportView.as_view(), name="api_fhir_import")]
