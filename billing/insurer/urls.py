"""The insurer portal, included under `/insurer/` (igo.urls)."""

from django.urls import URLPattern, path

from billing.insurer import views

urlpatterns: list[URLPattern] = [
    path("", views.insurer_dashboard, name="insurer_dashboard"),
    path("batches/<int:pk>/", views.insurer_batch_detail, name="insurer_batch_detail"),
    path("batches/<int:pk>/files/<str:kind>/", views.insurer_batch_file, name="insurer_batch_file"),
    path(
        "batches/<int:pk>/lines/<int:line_pk>/answer/",
        views.insurer_line_answer,
        name="insurer_line_answer",
    ),
    path("batches/<int:pk>/accept-open/", views.insurer_accept_open, name="insurer_accept_open"),
    path("batches/<int:pk>/returns/upload/", views.insurer_return_upload, name="insurer_return_upload"),
    path("tokens/", views.insurer_tokens, name="insurer_tokens"),
    path("tokens/<int:pk>/revoke/", views.insurer_token_revoke, name="insurer_token_revoke"),
]
