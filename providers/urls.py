from django.urls import path

from providers import views

urlpatterns = [
    path("organisations/", views.organisation_list, name="organisation_list"),
    path("organisations/new/", views.organisation_create, name="organisation_create"),
    path("organisations/<int:pk>/", views.organisation_detail, name="organisation_detail"),
    path("organisations/<int:pk>/end/", views.organisation_end, name="organisation_end"),
    path("professionals/", views.professional_list, name="professional_list"),
    path("professionals/new/", views.professional_create, name="professional_create"),
    path("professionals/<int:pk>/", views.professional_edit, name="professional_edit"),
    path("professionals/<int:pk>/toggle/", views.professional_toggle, name="professional_toggle"),
]
