"""The load test's server configuration (bench/settings.py, bench/urls.py): the bare view and the platform."""

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bench.load import TRANSACTION_STATEMENT
from igo.models import Role


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


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="bench.urls")
def test_the_bare_tenant_page_costs_only_the_session_and_the_user(world_a, client_for):
    """`/t/<slug>/bench/bare/` (the `bare-tenant` scenario and the queries load.py prints before its runs)."""
    client = client_for(world_a.user(Role.MIDWIFE))
    assert client.get(f"/t/{world_a.tenant.slug}/bench/bare/").status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/t/{world_a.tenant.slug}/bench/bare/")
    assert response.status_code == 200 and response.content == b"ok"
    assert len([q for q in ctx.captured_queries if not TRANSACTION_STATEMENT.match(q["sql"])]) == 2
    assert client.get("/t/no-such-igo/bench/bare/").status_code == 404
