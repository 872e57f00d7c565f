from django.urls import path

from fhir_io.api import FhirImportJobView, FhirImportView

urlpatterns = [
    path("fhir/", FhirImportView.as_view(), name="api_fhir_import"),
    path("fhir/jobs/<int:pk>/", FhirImportJobView.as_view(), name="api_fhir_import_job"),
]
