from django.urls import path

from pregnancies import views

urlpatterns = [
    path("clients/", views.client_search, name="client_search"),
    path("clients/new/", views.client_new, name="client_new"),
    path("clients/<int:pk>/", views.client_detail, name="client_detail"),
    path("clients/<int:pk>/episodes/new/", views.episode_new, name="episode_new"),
    path("episodes/<int:pk>/", views.episode_detail, name="episode_detail"),
    path("episodes/<int:pk>/events/", views.event_create, name="event_create"),
    path("episodes/<int:pk>/history/", views.episode_history, name="episode_history"),
    path("episodes/<int:pk>/dates/", views.episode_key_dates, name="episode_key_dates"),
    path("episodes/<int:pk>/kraamzorg/", views.episode_kraamzorg, name="episode_kraamzorg"),
    path("episodes/<int:pk>/delivery/", views.episode_delivery, name="episode_delivery"),
    path("episodes/<int:pk>/outcomes/", views.episode_outcomes, name="episode_outcomes"),
    path("births/<int:pk>/outcome/", views.birth_outcome, name="birth_outcome"),
    path("episodes/<int:pk>/end/", views.episode_end, name="episode_end"),
    path("episodes/<int:pk>/line/", views.episode_line, name="episode_line"),
    path("clients/<int:pk>/insurance/", views.client_insurance, name="client_insurance"),
    path("events/<int:pk>/", views.event_correct, name="event_correct"),
    path("events/<int:pk>/void/", views.event_void, name="event_void"),
    path("home/", views.care_home, name="care_home"),
    path("today/", views.today, name="care_today"),
    path("today/<int:pk>/log/", views.today_log, name="today_log"),
    path("today/<int:pk>/indication/", views.today_indication, name="today_indication"),
    path("catalogue/", views.catalogue, name="catalogue"),
    path("catalogue/<int:pk>/toggle/", views.catalogue_toggle, name="catalogue_toggle"),
    path("access-log/", views.access_log_list, name="access_log"),
    path("access-log/client/<int:pk>.csv", views.access_log_export, name="access_log_export"),
]
