from django.urls import path

from fhir_io import views

urlpatterns = [
    path("fhir/keys/", views.member_keys, name="fhir_member_keys"),
    path("fhir/keys/<int:pk>/revoke/", views.member_key_revoke, name="fhir_member_key_revoke"),
    path("fhir/codes/", views.code_mappings, name="fhir_code_mappings"),
    path("fhir/export/", views.period_export, name="fhir_period_export"),
    path("episodes/<int:pk>/fhir/", views.episode_export, name="fhir_episode_export"),
    path("fhir/jobs/", views.import_jobs, name="fhir_import_jobs"),
    path("fhir/misses/", views.bsn_misses, name="fhir_bsn_misses"),
    path("fhir/misses/<int:pk>/reset/", views.bsn_misses_reset, name="fhir_bsn_misses_reset"),
    path("fhir/csv/", views.care_csv_upload, name="fhir_care_csv"),
    path("fhir/csv/template/", views.care_csv_template, name="fhir_care_csv_template"),
]
