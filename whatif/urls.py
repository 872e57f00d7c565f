"""What-if simulations, included under `/t/<tenant_slug>/` (igo.urls.tenant_patterns)."""

from django.urls import URLPattern, path

from whatif import views

urlpatterns: list[URLPattern] = [
    path("what-if/", views.simulation_list, name="whatif_list"),
    path("what-if/split-rule/", views.simulation_new_split, name="whatif_new_split"),
    path("what-if/contracts/<int:pk>/", views.simulation_new_contract, name="whatif_new_contract"),
    path("what-if/<int:pk>/", views.simulation_detail, name="whatif_detail"),
    path("what-if/<int:pk>/progress/", views.simulation_progress, name="whatif_progress"),
    path("what-if/<int:pk>/adopt/", views.simulation_adopt, name="whatif_adopt"),
    path("what-if/<int:pk>/csv/", views.simulation_csv, name="whatif_csv"),
    path("what-if/<int:pk>/pdf/", views.simulation_pdf, name="whatif_pdf"),
]
