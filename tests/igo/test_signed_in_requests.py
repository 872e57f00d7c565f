"""Signed-in requests (issue 18): what a request costs before its view, and that the cached access fails
closed.

Before any view a signed-in request reads its session and its user; the user's IGOs, roles, insurers and
second factor come from the cache (igo.access), keyed by the user's `access_version`, which every change
raises in its own transaction. The session is written only when it changed, or once a minute to keep
the idle timeout. The tenant page measured is a view that runs no query (this module's URLs).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import include, path, reverse
from rest_framework.test import APIClient

from igo import access, services
from igo.middleware import SESSION_REFRESH_SECONDS
from igo.models import InsurerMembership, Membership, Role, User
from tests.factories import PASSWORD, MembershipFactory
from tests.scenarios.clock import local, travel
from tests.scenarios.people import TenantWorld

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def bare(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [
    path("t/<slug:tenant_slug>/bare/", bare, name="bare_tenant_page"),
    path("", include("igo.urls")),
]

TRANSACTION = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT)", re.IGNORECASE)
ACCESS_TABLES = ("igo_membership", "igo_tenant", "igo_insurer", "mfa_authenticator")


def get(client: Client, url: str) -> tuple[Any, list[str]]:
    """The response and the SQL it ran, transaction statements left out."""
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    return response, [q["sql"] for q in ctx.captured_queries if not TRANSACTION.match(q["sql"])]


def session_writes(sql: list[str]) -> list[str]:
    return [q for q in sql if q.lstrip().startswith(("UPDATE", "INSERT")) and "django_session" in q]


def page(world: TenantWorld) -> str:
    return f"/t/{world.tenant.slug}/bare/"


# --- what a request costs --------------------------------------------------------------------------


def test_a_signed_in_tenant_page_runs_at_most_three_queries_before_its_view(world_a, client_for):
    client = client_for(world_a.user(Role.MIDWIFE))
    first, _sql = get(client, page(world_a))  # the cache filled, the tenant noted in the session
    assert first.status_code == 200
    for _ in range(2):
        response, sql = get(client, page(world_a))
        assert response.status_code == 200
        assert len(sql) <= 3, sql
        # session and user only: the access from the cache, the session not written again
        assert not [q for q in sql if any(t in q for t in ACCESS_TABLES)], sql
        assert session_writes(sql) == []


def test_a_page_with_navigation_reads_no_access_table_either(world_a, client_for):
    client = client_for(world_a.user(Role.IGO_ADMIN))
    client.get(reverse("tenant_dashboard", kwargs={"tenant_slug": world_a.tenant.slug}))
    response, sql = get(client, reverse("tenant_dashboard", kwargs={"tenant_slug": world_a.tenant.slug}))
    assert response.status_code == 200
    assert response.context["nav_tenants"] == [world_a.tenant]
    assert not [q for q in sql if "igo_membership" in q and 'igo_membership"."user_id" =' in q]
    # Her second factor and her insurer memberships come from the cache too (the dashboard's own content, the
    # setup checklist, may read insurers by contract: that is the page, not her access).
    assert not [q for q in sql if "mfa_authenticator" in q or "igo_insurermembership" in q]


def test_the_api_with_a_personal_key_reads_the_access_from_the_cache_too(world_a):
    finance = world_a.user(Role.IGO_FINANCE)
    _token, key = services.personal_token_create(user=finance, name="k")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    url = f"/api/t/{world_a.tenant.slug}/users/"
    assert api.get(url).status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        again = api.get(url)
    assert again.status_code == 200
    sql = [q["sql"] for q in ctx.captured_queries]
    # Her second factor and her insurer memberships come from the cache too (the dashboard's own content, the
    # setup checklist, may read insurers by contract: that is the page, not her access).
    assert not [q for q in sql if "mfa_authenticator" in q or "igo_insurermembership" in q]
    # and a revoked role counts at once on the API as well
    Membership.unscoped.filter(user=finance, tenant=world_a.tenant).delete()
    assert api.get(url).status_code in (401, 404)


def test_an_insurer_key_still_works(world_a, insurer_user):
    insurer = InsurerMembership.objects.get(user=insurer_user).insurer
    _token, key = services.insurer_token_create(user=insurer_user, insurer=insurer, name="k")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/insurer/batches/").status_code == 200


# --- the session is written when it changed, or once a minute for the idle timeout ------------------


def test_the_session_is_written_when_the_tenant_changes_and_not_otherwise(world_a, world_b, client_for):
    midwife = world_a.user(Role.MIDWIFE)
    MembershipFactory(tenant=world_b.tenant, user=midwife, role=Role.MIDWIFE)
    client = client_for(midwife)
    _r, first = get(client, page(world_a))
    assert session_writes(first)  # the IGO noted, the session's moment too
    _r, same = get(client, page(world_a))
    assert session_writes(same) == []
    _r, other = get(client, page(world_b))
    assert session_writes(other)
    assert client.session["last_tenant"] == world_b.tenant.slug


def test_a_used_session_is_kept_alive_once_a_minute_and_ends_when_idle(world_a, client_for):
    midwife = world_a.user(Role.MIDWIFE)
    start = local(2027, 3, 1, 9, 0)
    with travel(start, tick=False) as clock:
        client = client_for(midwife)
        get(client, page(world_a))
        key = client.cookies[settings.SESSION_COOKIE_NAME].value
        expiry = Session.objects.get(session_key=key).expire_date
        assert expiry == start + dt.timedelta(seconds=settings.SESSION_COOKIE_AGE)

        clock.shift(SESSION_REFRESH_SECONDS - 1)
        _r, quiet = get(client, page(world_a))
        assert session_writes(quiet) == []
        assert Session.objects.get(session_key=key).expire_date == expiry

        clock.shift(2)  # a minute after the last write: written, its expiry moved on
        response, refresh = get(client, page(world_a))
        assert response.status_code == 200 and session_writes(refresh)
        moved = Session.objects.get(session_key=key).expire_date
        assert moved == start + dt.timedelta(
            seconds=SESSION_REFRESH_SECONDS + 1 + settings.SESSION_COOKIE_AGE
        )

        clock.shift(settings.SESSION_COOKIE_AGE + 1)  # idle longer than the timeout: signed out
        response = client.get(page(world_a))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_idle_timeout_and_the_browser_session_stay(settings):
    assert settings.SESSION_COOKIE_AGE <= 60 * 60 and settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    assert "igo.middleware.SessionIdleMiddleware" in settings.MIDDLEWARE
    assert settings.MIDDLEWARE.index("igo.middleware.SessionIdleMiddleware") == (
        settings.MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware") + 1
    )


# --- a change counts from the very next request --------------------------------------------------


def warm(client: Client, world: TenantWorld) -> None:
    assert client.get(page(world)).status_code == 200
    assert client.get(page(world)).status_code == 200


def test_an_ended_membership_counts_at_the_next_request(world_a, client_for):
    midwife = world_a.user(Role.MIDWIFE)
    client = client_for(midwife)
    warm(client, world_a)
    membership = Membership.unscoped.get(user=midwife, tenant=world_a.tenant)
    services.membership_end(membership=membership, actor=world_a.user(Role.IGO_ADMIN))
    assert client.get(page(world_a)).status_code == 404


def test_a_deleted_membership_counts_at_the_next_request(world_a, client_for):
    client = client_for(world_a.user(Role.MIDWIFE))
    warm(client, world_a)
    Membership.unscoped.filter(user=world_a.user(Role.MIDWIFE)).delete()  # as the admin's delete does
    assert client.get(page(world_a)).status_code == 404


def test_an_ended_role_counts_at_the_next_request_while_another_remains(world_a, client_for):
    admin = world_a.user(Role.IGO_ADMIN)
    extra = MembershipFactory(tenant=world_a.tenant, user=admin, role=Role.MIDWIFE)
    client = client_for(admin)
    members = reverse("membership_list", kwargs={"tenant_slug": world_a.tenant.slug})
    assert client.get(members).status_code == 200
    second_admin = MembershipFactory(tenant=world_a.tenant, role=Role.IGO_ADMIN)
    admin_role = Membership.unscoped.get(user=admin, tenant=world_a.tenant, role=Role.IGO_ADMIN)
    services.membership_end(membership=admin_role, actor=second_admin.user)
    assert client.get(members).status_code == 403
    assert client.get(page(world_a)).status_code == 200  # still a midwife there
    assert extra.is_active


def test_a_new_membership_counts_at_the_next_request(world_a, world_b, client_for):
    midwife = world_a.user(Role.MIDWIFE)
    client = client_for(midwife)
    warm(client, world_a)
    assert client.get(page(world_b)).status_code == 404
    MembershipFactory(tenant=world_b.tenant, user=midwife, role=Role.MIDWIFE)
    assert client.get(page(world_b)).status_code == 200


def test_a_deactivated_igo_answers_404_at_the_next_request(world_a, client_for):
    client = client_for(world_a.user(Role.MIDWIFE))
    warm(client, world_a)
    world_a.tenant.is_active = False
    world_a.tenant.save()
    assert client.get(page(world_a)).status_code == 404


def test_removing_the_last_second_factor_sends_to_its_set_up_at_the_next_request(world_a, client_for):
    from allauth.mfa.models import Authenticator

    midwife = world_a.user(Role.MIDWIFE)
    client = client_for(midwife)
    warm(client, world_a)
    operator = User.objects.create_user(email="operator@example.test", password=PASSWORD, is_staff=True)
    for authenticator in Authenticator.objects.filter(user=midwife):
        services.authenticator_reset(authenticator=authenticator, actor=operator)
    response = client.get(page(world_a))
    assert response.status_code == 302 and response["Location"] == reverse("mfa_index")


def test_an_ended_insurer_link_counts_at_the_next_request(insurer_user, client_for):
    client = client_for(insurer_user)
    dashboard = reverse("insurer_dashboard")
    assert client.get(dashboard).status_code == 200
    link = InsurerMembership.objects.get(user=insurer_user)
    link.is_active = False
    link.save()
    assert client.get(dashboard).status_code in (403, 404)


def test_a_deactivated_account_or_a_changed_password_signs_out_at_the_next_request(world_a, client_for):
    midwife, finance = world_a.user(Role.MIDWIFE), world_a.user(Role.IGO_FINANCE)
    clients = client_for(midwife), client_for(finance)
    for client in clients:
        warm(client, world_a)
    midwife.is_active = False
    midwife.save()
    finance.set_password("another-horse-battery-7")
    finance.save()
    for client in clients:
        response = client.get(page(world_a))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_bulk_update_counts_and_saving_a_user_read_before_it_does_not_undo_it(world_a, client_for):
    midwife = world_a.user(Role.MIDWIFE)
    client = client_for(midwife)
    warm(client, world_a)
    stale = User.objects.get(pk=midwife.pk)
    Membership.unscoped.filter(user=midwife).update(is_active=False)  # no signal: the queryset raises it
    stale.full_name = "Another Name"
    stale.save()  # must not write the version it read
    assert client.get(page(world_a)).status_code == 404


class Unreachable:
    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cache down")

    set = get


def test_without_the_cache_the_access_is_read_from_the_database(world_a, client_for, monkeypatch):
    midwife = world_a.user(Role.MIDWIFE)
    client = client_for(midwife)
    warm(client, world_a)  # an entry in the cache, which then stops answering
    monkeypatch.setattr(access, "cache", Unreachable())
    response, sql = get(client, page(world_a))
    assert response.status_code == 200 and [q for q in sql if "igo_membership" in q]
    services.membership_end(
        membership=Membership.unscoped.get(user=midwife, tenant=world_a.tenant),
        actor=world_a.user(Role.IGO_ADMIN),
    )
    assert client.get(page(world_a)).status_code == 404
    monkeypatch.undo()  # back: the old entry is under the old version, never read again
    assert client.get(page(world_a)).status_code == 404


def test_bulk_changes_of_igos_and_insurer_links_count_at_the_next_request(world_a, insurer_user, client_for):
    from igo.models import Tenant

    midwife_client, insurer_client = client_for(world_a.user(Role.MIDWIFE)), client_for(insurer_user)
    warm(midwife_client, world_a)
    assert insurer_client.get(reverse("insurer_dashboard")).status_code == 200
    Tenant.objects.filter(pk=world_a.tenant.pk).update(is_active=False)
    InsurerMembership.objects.filter(user=insurer_user).update(is_active=False)
    assert midwife_client.get(page(world_a)).status_code == 404
    assert insurer_client.get(reverse("insurer_dashboard")).status_code in (403, 404)
