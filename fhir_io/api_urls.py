from django.urls import path

from fhir_io.api import FhirImportJobView, FhirImportView, FhirNdjsonImportView

urlpatterns = [
    path("fhir/", FhirImportView.as_view(), name="api_fhir_import"),
    path("fhir/ndjson/", FhirNdjsonImportView.as_view(), name="api_fhir_import_ndjson"),
    path("fhir/jobs/<int:pk>/", FhirImportJobView.as_view(), name="api_fhir_import_job"),
]
