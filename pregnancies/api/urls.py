"""Care-logging API routes, included under `/api/t/<tenant_slug>/` (igo.urls.api_tenant_patterns)."""

from django.urls import URLPattern, path

from pregnancies.api import views

urlpatterns: list[URLPattern] = [
    path("clients/", views.ClientCreateView.as_view(), name="api_client_create"),
    path("clients/search/", views.ClientSearchView.as_view(), name="api_client_search"),
    path("clients/<int:pk>/", views.ClientDetailView.as_view(), name="api_client_detail"),
    path("clients/<int:pk>/episodes/", views.ClientEpisodesView.as_view(), name="api_client_episodes"),
    path("episodes/<int:pk>/", views.EpisodeDetailView.as_view(), name="api_episode_detail"),
    path("episodes/<int:pk>/events/", views.EpisodeEventsView.as_view(), name="api_episode_events"),
    path("episodes/<int:pk>/delivery/", views.EpisodeDeliveryView.as_view(), name="api_episode_delivery"),
    path("events/<int:pk>/correct/", views.EventCorrectView.as_view(), name="api_event_correct"),
    path("events/<int:pk>/void/", views.EventVoidView.as_view(), name="api_event_void"),
    path("event-types/", views.EventTypeListView.as_view(), name="api_event_types"),
]
