"""The insurer API, included under `/api/insurer/` (igo.urls)."""

from django.urls import URLPattern, path

from billing.insurer import api as views

urlpatterns: list[URLPattern] = [
    path("batches/", views.InsurerBatchListView.as_view(), name="api_insurer_batch_list"),
    path("batches/<int:pk>/", views.InsurerBatchDetailView.as_view(), name="api_insurer_batch_detail"),
    path(
        "batches/<int:pk>/files/<str:kind>/",
        views.InsurerBatchFileView.as_view(),
        name="api_insurer_batch_file",
    ),
    path(
        "batches/<int:pk>/returns/", views.InsurerBatchReturnView.as_view(), name="api_insurer_batch_returns"
    ),
    path("return-codes/", views.InsurerReturnCodeListView.as_view(), name="api_insurer_return_codes"),
]
