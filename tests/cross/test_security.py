"""Production hardening: the security headers on pages, API answers and static files, pages that keep to
the content security policy (nothing inline), and the deploy check on the database role."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from igo import checks
from igo import services as igo_services
from igo.models import Role
from igo.security import POLICY, SecurityHeadersMiddleware, content_security_policy
from pregnancies.models import Episode
from tests.factories import InsurerFactory, UserFactory
from tests.scenarios.batches import insurer_employee, make_batch
from tests.scenarios.billing import BILLING_NOW, build, portfolio, run
from tests.scenarios.people import TenantWorld, give_totp
from tests.scenarios.quality import YEAR
from tests.scenarios.quality import build as build_quality

pytestmark = pytest.mark.django_db

CSP = "Content-Security-Policy"


class InlineFinder(HTMLParser):
    """Collects what a strict content security policy would block in a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script" and not names.get("src"):
            self.found.append("inline <script>")
        if tag == "script":
            self._open = "script"
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"handler {name}= on <{tag}>")
            if name == "style":
                self.found.append(f"style= on <{tag}>")
            if name.startswith("hx-on"):
                self.found.append(f"{name} (htmx eval) on <{tag}>")
            if value and value.strip().lower().startswith("javascript:"):
                self.found.append(f"javascript: URL in {name}= on <{tag}>")

    def handle_data(self, data: str) -> None:
        if self._open == "script" and data.strip():
            self.found.append("script with inline content")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = None


def inline_parts(html: str) -> list[str]:
    finder = InlineFinder()
    finder.feed(html)
    return finder.found


def assert_headers(response, *, signed_in: bool) -> None:
    assert response[CSP] == content_security_policy()
    for directive in ("script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"):
        assert directive in response[CSP]
    assert "unsafe-inline" not in response[CSP] and "unsafe-eval" not in response[CSP]
    assert (
        "camera=()" in response["Permissions-Policy"] and "geolocation=()" in response["Permissions-Policy"]
    )
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    if signed_in:
        cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
        assert {"no-store", "private"} <= cache_control


# --- headers ------------------------------------------------------------------------------------


def test_a_page_of_a_signed_in_user_has_every_header_and_is_never_cached(world_a: TenantWorld, client_for):
    client = client_for(world_a.user(Role.MIDWIFE))
    response = client.get(reverse("client_search", args=[world_a.tenant.slug]))
    assert response.status_code == 200
    assert_headers(response, signed_in=True)


def test_the_sign_in_page_has_the_policy_too(db):
    response = Client().get(reverse("account_login"))
    assert response.status_code == 200
    assert_headers(response, signed_in=False)


def test_api_answers_have_the_headers_and_are_never_cached(world_a: TenantWorld):
    api = APIClient()
    api.force_authenticate(world_a.user(Role.MIDWIFE))
    response = api.get(reverse("api_me"))
    assert response.status_code == 200
    assert_headers(response, signed_in=True)
    # The insurer API with a key (token authentication inside the DRF view, after the middleware ran).
    insurer = InsurerFactory(uzovi_code="3311", name="Zilveren Kruis")
    user = insurer_employee(insurer, "declaraties@zk.test")
    _token, key = igo_services.insurer_token_create(user=user, insurer=insurer, name="ERP")
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = bearer.get("/api/insurer/batches/")
    assert response.status_code == 200
    assert_headers(response, signed_in=True)


def test_a_static_file_has_the_isolation_headers_and_stays_cacheable(db, settings):
    # The test settings have no collectstatic manifest; WhiteNoise serves from the finders here.
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    response = Client().get(settings.STATIC_URL + "css/app.css")
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"
    assert "no-store" not in response.get("Cache-Control", "")


def test_report_only_mode_sends_the_same_policy_under_the_other_header(rf, settings):
    settings.CSP_REPORT_ONLY = True
    settings.CSP_REPORT_URI = "/csp-reports/"
    from django.http import HttpResponse

    response = SecurityHeadersMiddleware(lambda request: HttpResponse("ok"))(rf.get("/"))
    assert CSP not in response
    assert response[f"{CSP}-Report-Only"].endswith("; report-uri /csp-reports/")
    assert response[f"{CSP}-Report-Only"].startswith("default-src 'self'; script-src 'self'")


def test_a_view_with_a_policy_of_its_own_keeps_it(rf):
    from django.http import HttpResponse

    def view(request):
        response = HttpResponse("ok")
        response[CSP] = "default-src 'none'"
        return response

    assert SecurityHeadersMiddleware(view)(rf.get("/"))[CSP] == "default-src 'none'"


def test_cookies_are_httponly_lax_and_host_prefixed_over_https():
    assert settings.SESSION_COOKIE_HTTPONLY and settings.CSRF_COOKIE_HTTPONLY
    assert settings.SESSION_COOKIE_SAMESITE == settings.CSRF_COOKIE_SAMESITE == "Lax"
    # With HTTPS on (production) the names carry the __Host- prefix; the suite runs over plain HTTP.
    import os
    import subprocess
    import sys

    env = {**os.environ, "HTTPS": "1", "DEBUG": "0", "SECRET_KEY": "x" * 60}
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='igo.settings'; django.setup();"
        "from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME, s.SESSION_COOKIE_SECURE, s.LANGUAGE_COOKIE_SECURE)"
    )
    out = subprocess.run(  # noqa: S603 - this interpreter
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["__Host-sessionid", "__Host-csrftoken", "True", "True"]


# --- pages keep to the policy -------------------------------------------------------------------


@pytest.mark.clock(BILLING_NOW)  # the billing world of 2026 with this month's batch
def test_key_pages_have_no_inline_script_style_or_handler(world_a: TenantWorld, client_for):
    s = build(world_a)
    portfolio(s)
    run(s)
    batch = make_batch(s, s.zk)
    insurer = insurer_employee(s.zk, "declaraties@zk.test")
    episode = Episode.unscoped.filter(tenant=s.tenant).order_by("pk").first()
    assert episode is not None
    slug = s.tenant.slug
    admin, finance = client_for(world_a.user(Role.IGO_ADMIN)), client_for(world_a.user(Role.IGO_FINANCE))
    midwife = client_for(world_a.user(Role.MIDWIFE))
    pages = [
        (midwife, reverse("episode_detail", args=[slug, episode.pk])),
        (midwife, reverse("client_search", args=[slug])),
        (midwife, reverse("care_home", args=[slug])),
        (client_for(world_a.user(Role.MATERNITY_CARER)), reverse("care_today", args=[slug])),
        (finance, reverse("claim_list", args=[slug])),
        (finance, reverse("revenue", args=[slug])),
        (finance, reverse("work_queue", args=[slug])),
        (finance, reverse("batch_list", args=[slug])),
        (finance, reverse("batch_detail", args=[slug, batch.pk])),
        (finance, reverse("quality_agreements", args=[slug])),
        (admin, reverse("membership_list", args=[slug])),
        (client_for(insurer), reverse("insurer_dashboard")),
        (client_for(insurer), reverse("insurer_batch_detail", args=[batch.pk])),
        (client_for(insurer), reverse("insurer_tokens")),
        (client_for(insurer), reverse("api_docs")),
    ]
    for client, url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert CSP in response, url
        assert inline_parts(response.content.decode()) == [], url


def test_quality_pages_with_svg_charts_have_no_inline_style(world_a: TenantWorld, client_for):
    q = build_quality(world_a)
    admin = client_for(world_a.user(Role.IGO_ADMIN))
    for url in (q.url("quality_dashboard", year=YEAR), q.url("quality_indicator", "caesarean", year=YEAR)):
        response = admin.get(url)
        html = response.content.decode()
        assert response.status_code == 200 and "<svg" in html, url
        assert inline_parts(html) == [], url


def test_the_error_pages_keep_to_the_policy(db):
    from django.template.loader import render_to_string

    assert inline_parts(render_to_string("500.html")) == []
    assert inline_parts(Client().get("/no-such-page/").content.decode()) == []


def test_the_finder_sees_what_the_policy_blocks():
    html = (
        '<script>alert(1)</script><script src="/s.js"></script><style>p{}</style>'
        '<p style="color:red" onclick="x()"><a href=" javascript:void(0)">x</a>'
        '<div hx-on:click="x()"></div>'
    )
    assert inline_parts(html) == [
        "inline <script>",
        "script with inline content",
        "<style> element",
        "style= on <p>",
        "handler onclick= on <p>",
        "javascript: URL in href= on <a>",
        "hx-on:click (htmx eval) on <div>",
    ]


def test_the_policy_allows_nothing_inline():
    assert POLICY["script-src"] == "'self'" and POLICY["style-src"] == "'self'"
    assert POLICY["object-src"] == POLICY["base-uri"] == POLICY["frame-ancestors"] == "'none'"


# --- the database role --------------------------------------------------------------------------


def test_the_role_decision_flags_a_superuser_and_bypassrls():
    assert checks.database_role_messages(role="igo_app", rolsuper=False, rolbypassrls=False) == []
    [superuser] = checks.database_role_messages(role="postgres", rolsuper=True, rolbypassrls=False)
    assert superuser.id == checks.SUPERUSER_ID and "postgres" in superuser.msg
    ids = [m.id for m in checks.database_role_messages(role="x", rolsuper=True, rolbypassrls=True)]
    assert ids == [checks.SUPERUSER_ID, checks.BYPASSRLS_ID]


def test_the_deploy_check_reports_the_role_of_the_current_connection():
    if connection.vendor != "postgresql":
        pytest.skip("the role check reads pg_roles")
    role, rolsuper, _bypassrls = checks.database_role() or ("", False, False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, usesuper FROM pg_user WHERE usename = current_user")
        assert cursor.fetchone() == (role, rolsuper)
    messages = checks.check_database_role(databases=["default"])
    assert [m.id for m in messages if m.id == checks.SUPERUSER_ID] == (
        [checks.SUPERUSER_ID] if rolsuper else []
    )
    # Without --database the check does not query at all, like Django's own database checks.
    assert checks.check_database_role(databases=None) == []


def test_the_test_command_runs_as_an_application_role_without_superuser():
    """scripts/test.sh connects as igo_app (scripts/services.sh creates it): the migrations, the suite and
    the worker prove the platform needs no superuser. Outside that command this says nothing."""
    if connection.vendor != "postgresql" or connection.settings_dict["USER"] != "igo_app":
        pytest.skip("not connected as the application role igo_app")
    assert checks.database_role() == ("igo_app", False, False)


def test_check_deploy_with_the_database_is_clean_for_the_application_role(settings):
    if connection.vendor != "postgresql" or (checks.database_role() or ("", True, True))[1]:
        pytest.skip("needs a PostgreSQL connection as a role without superuser")
    call_command("check", "--deploy", "--database", "default", "--tag", "database", fail_level="WARNING")


def test_check_deploy_fails_for_a_superuser(monkeypatch):
    monkeypatch.setattr(checks, "database_role", lambda alias="default": ("postgres", True, False))
    with pytest.raises(SystemCheckError, match=r"igo\.W001"):
        call_command("check", "--deploy", "--database", "default", "--tag", "database", fail_level="WARNING")


def test_the_admin_keeps_to_the_policy(db, client_for):
    operator = UserFactory(email="operator@example.test", is_staff=True, is_superuser=True)
    give_totp(operator)
    client = client_for(operator)
    for url in (
        reverse("admin:index"),
        reverse("admin:igo_user_changelist"),
        reverse("admin:igo_user_change", args=[operator.pk]),
        reverse("admin:igo_insurer_add"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert inline_parts(response.content.decode()) == [], url
