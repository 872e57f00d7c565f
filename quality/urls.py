from django.urls import path

from quality import data_quality_views, views

# The fixed paths come before `quality/<code>/`, which would otherwise take them for an indicator code.
urlpatterns = [
    path("quality/", views.quality_dashboard, name="quality_dashboard"),
    path("quality/data/", data_quality_views.quality_data, name="quality_data"),
    path("quality/recompute/", views.quality_recompute, name="quality_recompute"),
    path("quality/experience/import/", views.experience_import, name="experience_import"),
    path("quality/prem/", views.prem_page, name="prem_page"),
    path("quality/export.csv", views.quality_export_csv, name="quality_export_csv"),
    path("quality/export.pdf", views.quality_export_pdf, name="quality_export_pdf"),
    path("quality/anonymised.csv", views.quality_export_anonymised, name="quality_export_anonymised"),
    path("quality/<str:code>/", views.quality_indicator, name="quality_indicator"),
    path(
        "quality/<str:code>/<int:year>/<int:month>/episodes/",
        views.quality_episodes,
        name="quality_episodes",
    ),
    path("episodes/<int:pk>/experience/", views.experience_create, name="experience_create"),
]
