"""The load test's server configuration (bench/settings.py, bench/urls.py): the bare view and the platform."""

from django.test import Client, override_settings
from django.urls import reverse


@override_settings(ROOT_URLCONF="bench.urls")
def test_bare_view_answers_through_the_middleware_without_the_database(client: Client):
    # No django_db mark: pytest-django refuses any query, so this also shows the view needs none.
    response = client.get("/bench/bare/")
    assert response.status_code == 200
    assert response.content == b"ok"
    # The production middleware ran: its headers are on the answer.
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Content-Language"] == "nl"


@override_settings(ROOT_URLCONF="bench.urls")
def test_platform_urls_stay_the_same_under_the_bench_urlconf(client: Client):
    assert reverse("home") == "/"
    assert reverse("episode_detail", kwargs={"tenant_slug": "x", "pk": 1}) == "/t/x/episodes/1/"
    response = client.get("/t/x/episodes/1/")
    assert response.status_code == 302  # anonymous: to the sign-in page, as on the real server
    assert "/accounts/login/" in response["Location"]
