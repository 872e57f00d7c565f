from django.urls import path

from neutrality import views

urlpatterns = [
    path("neutrality/", views.neutrality_page, name="neutrality"),
    path("neutrality/export.csv", views.neutrality_csv, name="neutrality_csv"),
    path("neutrality/dbc/", views.dbc_amounts, name="neutrality_dbc"),
    path("neutrality/mapping/", views.catalogue_mapping, name="neutrality_mapping"),
]
