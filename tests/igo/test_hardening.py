"""The lower findings of the security review (issue 16): the sign-in lockout that never locks out the owner,
the shared cache the counters need, messages kept out of cookies, the reset mail for an unknown address, one
log line per refused request, tokens kept out of the access log, deep JSON, and text in PDF page margins."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core import mail
from django.core.cache import cache
from django.template import Context, Template
from django.test import Client
from django.utils import timezone

from igo.checks import PER_PROCESS_CACHE_ID, cache_messages
from igo.gunicorn_logging import RedactingLogger
from igo.models import Role
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def _totp_user(world):  # type: ignore[no-untyped-def]
    """The world's administrator with a TOTP device whose secret the test knows."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    admin = world.user(Role.IGO_ADMIN)
    Authenticator.objects.filter(user=admin, type=Authenticator.Type.TOTP).delete()
    secret = generate_totp_secret()
    TOTP.activate(admin, secret)
    return admin, secret


def _totp_code(secret: str) -> str:
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    return format_hotp_value(hotp_value(secret, int(timezone.now().timestamp()) // 30))


def _stranger_tries(email: str, times: int = 6) -> None:
    # From several network addresses, as a distributed guess would: only the account's own count matters.
    for i in range(times):
        Client(REMOTE_ADDR=f"203.0.113.{i + 1}").post(
            "/accounts/login/", {"login": email, "password": "guess-1234"}
        )


# --- lockout -------------------------------------------------------------------------------


def test_a_locked_account_with_a_second_factor_answers_right_and_wrong_passwords_alike(world_a, time_machine):
    """Security review: the right password of a locked account still led to the second-factor page (302)
    where a wrong one got the form again (200), so the lock did not slow guessing beyond the limit per
    network address. Now both get the same refusal; the owner has the unlock link that was mailed."""
    admin, secret = _totp_user(world_a)
    _stranger_tries(admin.email)
    [notice] = mail.outbox  # the owner hears of the lock at once
    assert notice.to == [admin.email]
    right = Client(REMOTE_ADDR="198.51.100.7").post(
        "/accounts/login/", {"login": admin.email, "password": PASSWORD}
    )
    wrong = Client(REMOTE_ADDR="198.51.100.8").post(
        "/accounts/login/", {"login": admin.email, "password": "guess-9999"}
    )
    assert right.status_code == wrong.status_code == 200
    assert right.context["form"].errors == wrong.context["form"].errors
    assert "mfa" not in str(right.get("Location", "")) and "_auth_user_id" not in right.wsgi_request.session
    # The unlock link lets the owner in with password and factor.
    link = re.search(r"https?://\S+(/accounts/unlock/\S+/)", notice.body).group(1)  # type: ignore[union-attr]
    assert Client().post(link).status_code == 302
    owner = Client(REMOTE_ADDR="198.51.100.7")
    password = owner.post("/accounts/login/", {"login": admin.email, "password": PASSWORD})
    assert password.status_code == 302 and password["Location"] == "/accounts/2fa/authenticate/"
    time_machine.move_to(timezone.now(), tick=False)
    assert owner.post("/accounts/2fa/authenticate/", {"code": _totp_code(secret)}).status_code == 302
    assert int(owner.session["_auth_user_id"]) == admin.pk


def test_a_locked_unknown_address_answers_as_a_locked_account(world_a):
    """No telling which addresses have an account: an unknown one locks and answers the same way."""
    _stranger_tries("nobody@example.test")
    _stranger_tries(world_a.user(Role.MIDWIFE).email)
    answers = [
        Client().post("/accounts/login/", {"login": email, "password": "guess-1234"}).context["form"].errors
        for email in ("nobody@example.test", world_a.user(Role.MIDWIFE).email)
    ]
    assert answers[0] == answers[1]


def _without_second_factor(user):  # type: ignore[no-untyped-def]
    """The factories give every member a factor; these cases are about one who has none yet."""
    from allauth.mfa.models import Authenticator

    Authenticator.objects.filter(user=user).delete()


def test_a_locked_account_without_second_factor_gets_an_unlock_link_that_works(world_a):
    midwife = world_a.user(Role.MIDWIFE)
    _without_second_factor(midwife)
    _stranger_tries(midwife.email)
    [notice] = mail.outbox  # one mail per lock, however many tries follow
    assert notice.to == [midwife.email]
    refused = Client().post("/accounts/login/", {"login": midwife.email, "password": PASSWORD})
    assert refused.status_code == 200 and "_auth_user_id" not in refused.wsgi_request.session
    assert refused.context["form"].errors
    assert len(mail.outbox) == 1

    link = re.search(r"https?://\S+(/accounts/unlock/\S+/)", notice.body).group(1)  # type: ignore[union-attr]
    assert Client().get(link).status_code == 200  # asking only
    assert Client().post(link).status_code == 302
    owner = Client()
    assert owner.post("/accounts/login/", {"login": midwife.email, "password": PASSWORD}).status_code == 302
    assert int(owner.session["_auth_user_id"]) == midwife.pk
    assert Client().get("/accounts/unlock/forged/").status_code == 410


def test_the_lock_counts_per_account_across_network_addresses(world_a):
    midwife = world_a.user(Role.MIDWIFE)
    _without_second_factor(midwife)  # so that the right password alone signs in, until the lock
    _stranger_tries(midwife.email, times=4)
    assert (
        Client().post("/accounts/login/", {"login": midwife.email, "password": PASSWORD}).status_code == 302
    )
    _stranger_tries(midwife.email, times=2)
    assert (
        Client().post("/accounts/login/", {"login": midwife.email, "password": PASSWORD}).status_code == 200
    )


def test_one_network_address_is_refused_outright_after_a_flood(world_a, settings):
    settings.LOGIN_FAILED_PER_ADDRESS = "3/m/ip"
    gynaecologist, midwife = world_a.user(Role.GYNAECOLOGIST), world_a.user(Role.MIDWIFE)
    flood = Client(REMOTE_ADDR="203.0.113.99")
    for _ in range(3):
        flood.post("/accounts/login/", {"login": gynaecologist.email, "password": "guess-1234"})
    blocked = flood.post("/accounts/login/", {"login": midwife.email, "password": PASSWORD})
    assert "_auth_user_id" not in blocked.wsgi_request.session
    assert (
        Client(REMOTE_ADDR="198.51.100.7")
        .post("/accounts/login/", {"login": midwife.email, "password": PASSWORD})
        .status_code
        == 302
    )


def test_deploy_check_fails_with_a_per_process_cache():
    for backend in (
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
    ):
        [message] = cache_messages({"default": {"BACKEND": backend}})
        assert message.id == PER_PROCESS_CACHE_ID and message.is_serious()
    assert cache_messages({"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache"}}) == []


def test_deploy_check_runs_with_the_settings(settings):
    from django.core.checks import run_checks

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    found = [m.id for m in run_checks(include_deployment_checks=True, tags=["caches"])]
    assert PER_PROCESS_CACHE_ID in found


def test_api_throttles_count_in_the_shared_cache(settings):
    from rest_framework.throttling import SimpleRateThrottle

    assert "RedisCache" in settings.CACHES["default"]["BACKEND"]
    assert SimpleRateThrottle.cache is cache or SimpleRateThrottle.cache.__class__ is cache.__class__


# --- messages, reset mail, logging ---------------------------------------------------------


def test_messages_are_not_stored_in_a_cookie(care, client_for):
    browser = client_for(care.user(Role.IGO_ADMIN))
    browser.post(care.url("invitations/new/"), {"email": "nieuw@example.test", "role": Role.MIDWIFE})
    assert "messages" not in browser.cookies
    page = browser.get(care.url("users/"))
    assert "nieuw@example.test" in page.content.decode()  # the message still reaches the next page


def test_reset_mail_for_an_unknown_address_does_not_link_to_the_closed_sign_up():
    response = Client().post("/accounts/password/reset/", {"email": "nobody@example.test"})
    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [["nobody@example.test"]]
    body = mail.outbox[0].body
    assert "/accounts/signup/" not in body and "http" not in body


def test_a_403_logs_one_line_without_traceback(world_a, client_for, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client_for(world_a.user(Role.MIDWIFE)).get(f"/t/{world_a.tenant.slug}/audit/")
    assert response.status_code == 403
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.status_code == 403 and record.exc_info is None  # type: ignore[attr-defined]
    assert "Traceback" not in caplog.text


# --- tokens stay out of the server's access log --------------------------------------------


def _access_line(path: str, query: str = "", referer: str = "-") -> str:
    from gunicorn.config import Config

    config = Config()
    config.set("accesslog", "-")
    logger = RedactingLogger(config)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": path + (f"?{query}" if query else ""),
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "198.51.100.7",
        "HTTP_REFERER": referer,
    }
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    atoms = logger.atoms(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=5))
    return logger.cfg.access_log_format % logger.atoms_wrapper_class(atoms)


def test_invitation_and_other_link_tokens_are_not_in_the_logged_request_line(world_a):
    from igo.selectors import invitation_token
    from igo.services import invitation_create
    from igo.tenancy import tenant_scope

    with tenant_scope(world_a.tenant):
        invitation = invitation_create(
            tenant=world_a.tenant,
            actor=world_a.user(Role.IGO_ADMIN),
            email="nieuw@example.test",
            role=Role.MIDWIFE,
        )
    token = invitation_token(invitation)
    line = _access_line(f"/invite/{token}/", referer=f"https://igo.example/invite/{token}/")
    assert token not in line and "/invite/[redacted]/" in line
    login = _access_line("/accounts/login/", query=f"next=%2Finvite%2F{token}%2F")
    assert token not in login
    for path in (
        "/accounts/unlock/abc.DEF:ghi/",
        "/accounts/email/confirm/abc.DEF:ghi/",
        "/accounts/password/reset/key/1-abc-def/",
    ):
        assert "abc" not in _access_line(path)
    assert "/t/igo-alpha/clients/12/" in _access_line("/t/igo-alpha/clients/12/")


def test_gunicorn_uses_the_redacting_logger():
    from gunicorn.config import Config

    config = Config()
    namespace: dict[str, object] = {}
    exec(Path("gunicorn.conf.py").read_text(), namespace)  # noqa: S102 - our own configuration file
    config.set("logger_class", namespace["logger_class"])
    assert config.logger_class is RedactingLogger


# --- deep JSON, PDF margins ----------------------------------------------------------------


def test_deeply_nested_json_is_a_400_not_a_500(world_a, client_for):
    response = client_for(world_a.user(Role.MIDWIFE)).post(
        f"/api/t/{world_a.tenant.slug}/clients/", "[" * 50000, content_type="application/json"
    )
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


def test_pdf_page_margins_print_hyphens_and_quotes_as_they_are(tmp_path):
    html = Template('{% include "pdf/_style.html" %}<body><p>body</p></body>').render(
        Context(
            {
                "doc_title": 'Afrekening 12-2026 "definitief"',
                "tenant": {"name": "Geboortezorg Brabant-Oost", "agb_code": "53000001"},
            }
        )
    )
    assert "u002D" not in html
    if shutil.which("pdftotext") is None:  # the CSS alone then: a CSS escape, not JavaScript's
        assert 'content: "Afrekening 12-2026 \\22 definitief\\22 "' in html
        return
    from weasyprint import HTML

    pdf = tmp_path / "doc.pdf"
    HTML(string=html).write_pdf(pdf)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout  # noqa: S603, S607
    assert "Geboortezorg Brabant-Oost" in text
    assert 'Afrekening 12-2026 "definitief"' in text
