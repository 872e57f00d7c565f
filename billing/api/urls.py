"""Billing API routes, included under `/api/t/<tenant_slug>/` (igo.urls.api_tenant_patterns)."""

from django.urls import URLPattern, path

from billing.api import views

urlpatterns: list[URLPattern] = [
    path("contracts/", views.ContractListView.as_view(), name="api_contract_list"),
    path("contracts/<int:pk>/", views.ContractDetailView.as_view(), name="api_contract_detail"),
    path("claim-lines/", views.ClaimLineListView.as_view(), name="api_claim_line_list"),
    path("claim-lines/<int:pk>/", views.ClaimLineDetailView.as_view(), name="api_claim_line_detail"),
    path(
        "claim-lines/<int:pk>/allocations/",
        views.ClaimLineAllocationsView.as_view(),
        name="api_claim_line_allocations",
    ),
    path("batches/", views.BatchListView.as_view(), name="api_batch_list"),
    path("batches/<int:pk>/", views.BatchDetailView.as_view(), name="api_batch_detail"),
]
