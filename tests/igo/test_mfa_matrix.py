"""The second factor on every API endpoint, for every role and every credential (issue 16, finding 1).

Every URL pattern under /api/ is taken from the resolver, so a new endpoint is in the matrix without being
listed here. For every role (the five IGO roles, an insurer user, an operator), every channel that role has
(the browser session, a personal key, an insurer key for the insurer user) and with or without a second
factor, each endpoint is called with each of its methods:

- without a factor the answer is never a success: 403 with code `second_factor_required` where the
  credential is one the endpoint takes, 401 where it is not (a personal key on the insurer API, an insurer
  key on the IGO API), a redirect to sign in for the documentation page with a key;
- with a factor the answer is never that 403 (it is what the role may do: 200, 403 for the role, 404 for
  an object that is not hers, 400 for an empty body).

Path parameters are filled with the IGO's slug, the id of one of the IGO's rows and a file kind; whether
that row exists for the endpoint does not matter: the second factor is checked before any object is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from django.contrib.sessions.backends.db import SessionStore
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from igo import services
from igo.models import Membership, Role, User
from tests.factories import InsurerMembershipFactory, UserFactory, second_factor
from tests.scenarios.people import TenantWorld, sign_in

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def api_endpoints() -> list[tuple[str, str]]:
    """(route, method) of every API view, from the resolver."""
    found = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if not route.startswith("api/"):
            continue
        cls = getattr(pattern.callback, "cls", None)
        assert cls is not None, f"{route} is not a DRF view"
        found.extend((route, method) for method in METHODS if hasattr(cls, method))
    return found


def fill(route: str, *, slug: str, pk: int) -> str:
    path = "/" + route
    for placeholder, value in (
        ("<slug:tenant_slug>", slug),
        ("<int:pk>", str(pk)),
        ("<str:kind>", "kz301"),
    ):
        path = path.replace(placeholder, value)
    assert "<" not in path, f"fill in the parameters of {route}"
    return path


def call(client: APIClient, method: str, path: str) -> Any:
    if method == "get":
        return client.get(path)
    return getattr(client, method)(path, {}, format="json")


def mfa_refusal(response: Any) -> bool:
    """The 403 of a missing second factor (the schema view answers it in YAML, the others in JSON)."""
    return response.status_code == 403 and b"second_factor_required" in response.content


ROLES = [*Role.values, "insurer", "operator"]


def person(world: TenantWorld, role: str) -> User:
    if role == "insurer":
        return InsurerMembershipFactory(insurer__uzovi_code="3311").user
    if role == "operator":
        operator = UserFactory(email="operator@platform.test", is_staff=True, is_superuser=True)
        second_factor(operator)
        return operator
    return world.user(role)


def channels(user: User, role: str) -> dict[str, APIClient]:
    """The user's ways into the API, made while she has a second factor (keys are made only then)."""
    session = sign_in(APIClient(), user)
    personal = APIClient()
    _token, key = services.personal_token_create(user=user, name="matrix")
    personal.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    made = {"session": session, "personal key": personal}
    if role == "insurer":
        insurer = user.insurer_memberships.get().insurer
        _token, key = services.insurer_token_create(user=user, insurer=insurer, name="matrix")
        made["insurer key"] = APIClient()
        made["insurer key"].credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return made


def test_the_matrix_covers_the_api():
    routes = {route for route, _method in api_endpoints()}
    assert {
        "api/me/",
        "api/t/<slug:tenant_slug>/claim-lines/",
        "api/insurer/batches/",
        "api/schema/",
    } <= routes
    assert len(routes) >= 20


@pytest.mark.parametrize("role", ROLES)
def test_without_a_second_factor_no_credential_reaches_any_endpoint(world_a, role):
    user = person(world_a, role)
    clients = channels(user, role)
    Authenticator.objects.filter(user=user).delete()  # e.g. reset by an operator after a lost phone
    pk = Membership.unscoped.get(user=world_a.user(Role.MIDWIFE)).pk
    for channel, client in clients.items():
        for route, method in api_endpoints():
            response = call(client, method, fill(route, slug=world_a.tenant.slug, pk=pk))
            where = (role, channel, method, route, response.status_code)
            assert response.status_code in (302, 401, 403), where
            if response.status_code == 403:
                assert mfa_refusal(response), where


@pytest.mark.parametrize("role", ROLES)
def test_with_a_second_factor_no_endpoint_refuses_for_the_factor(world_a, role):
    user = person(world_a, role)
    pk = Membership.unscoped.get(user=world_a.user(Role.MIDWIFE)).pk
    for channel, client in channels(user, role).items():
        for route, method in api_endpoints():
            response = call(client, method, fill(route, slug=world_a.tenant.slug, pk=pk))
            where = (role, channel, method, route, response.status_code)
            assert not mfa_refusal(response), where
            assert response.status_code < 500, where


def test_with_a_second_factor_each_role_reads_what_it_may(world_a, insurer_user):
    """A spot check that the matrix's "with" half reaches data, not merely another refusal."""
    slug = world_a.tenant.slug
    finance = APIClient()
    _t, key = services.personal_token_create(user=world_a.user(Role.IGO_FINANCE), name="k")
    finance.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert finance.get(f"/api/t/{slug}/claim-lines/").status_code == 200
    midwife = sign_in(APIClient(), world_a.user(Role.MIDWIFE))
    assert midwife.get(f"/api/t/{slug}/event-types/").status_code == 200
    insurer = insurer_user.insurer_memberships.get().insurer
    _t, key = services.insurer_token_create(user=insurer_user, insurer=insurer, name="k")
    keyed = APIClient()
    keyed.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert keyed.get("/api/insurer/batches/").status_code == 200


# --- a session that passed the password only (security review: the admin's own login) -------------------
# A user with a second factor counts as signed in only in a session that used it (igo.mfa_session). Every
# way in that takes a password is tried; afterwards the session may read no client, reach no admin page and
# no API endpoint.


@pytest.fixture
def operator_with_factor(db) -> User:
    operator = UserFactory(email="operator@platform.test", is_staff=True, is_superuser=True)
    second_factor(operator)
    return operator


def reaches_nothing(session: Any, *, slug: str, client_pk: int) -> None:
    record = session.get(f"/t/{slug}/clients/{client_pk}/")
    assert record.status_code == 302 and record["Location"].startswith("/accounts/login/")
    admin_page = session.get("/admin/pregnancies/client/")
    assert admin_page.status_code == 302 and "/login/" in admin_page["Location"]
    assert session.get("/api/me/").status_code in (401, 403)
    assert session.get(f"/api/t/{slug}/event-types/").status_code in (401, 403)
    assert "_auth_user_id" not in session.session


def _totp_now() -> str:
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
    from django.utils import timezone

    from tests.factories import TOTP_SECRET

    return format_hotp_value(hotp_value(TOTP_SECRET, int(timezone.now().timestamp()) // 30))


def test_the_admin_login_takes_no_password_and_sends_to_the_platform_sign_in(world_a, operator_with_factor):
    from tests.factories import PASSWORD, ClientFactory

    client_row = ClientFactory(tenant=world_a.tenant)
    session = APIClient()
    posted = session.post(
        "/admin/login/?next=/admin/igo/membership/add/",
        {"username": operator_with_factor.email, "password": PASSWORD},
    )
    assert posted.status_code == 302
    assert posted["Location"] == "/accounts/login/?next=/admin/igo/membership/add/"
    reaches_nothing(session, slug=world_a.tenant.slug, client_pk=client_row.pk)
    # An address elsewhere is not passed on as `next`.
    assert (
        APIClient().get("/admin/login/?next=https://evil.example/")["Location"]
        == "/accounts/login/?next=/admin/"
    )


def test_the_operator_reaches_the_admin_after_password_and_second_factor(operator_with_factor, time_machine):
    from django.utils import timezone

    from tests.factories import PASSWORD

    session = APIClient()
    password = session.post(
        "/accounts/login/?next=/admin/", {"login": operator_with_factor.email, "password": PASSWORD}
    )
    assert password["Location"].startswith("/accounts/2fa/authenticate/")
    assert session.get("/admin/")["Location"].startswith("/admin/login/")  # the password alone: not yet
    time_machine.move_to(timezone.now(), tick=False)
    code = session.post("/accounts/2fa/authenticate/", {"code": _totp_now()})
    assert code.status_code == 302 and code["Location"] == "/admin/"
    assert session.get("/admin/").status_code == 200


def test_a_signed_in_non_operator_is_refused_by_the_admin_login_without_a_loop(world_a, client_for):
    midwife = client_for(world_a.user(Role.MIDWIFE))
    assert midwife.get("/admin/login/?next=/admin/").status_code == 403


def test_the_password_step_of_the_sign_in_page_signs_nobody_in(world_a):
    from tests.factories import PASSWORD, ClientFactory

    client_row = ClientFactory(tenant=world_a.tenant)
    midwife = world_a.user(Role.MIDWIFE)
    session = APIClient()
    password = session.post("/accounts/login/", {"login": midwife.email, "password": PASSWORD})
    assert password["Location"] == "/accounts/2fa/authenticate/"
    reaches_nothing(session, slug=world_a.tenant.slug, client_pk=client_row.pk)


@pytest.mark.parametrize("login_on_reset", [False, True])
def test_a_password_reset_signs_nobody_in_past_the_second_factor(world_a, settings, login_on_reset):
    from allauth.account.forms import default_token_generator
    from allauth.account.utils import user_pk_to_url_str

    from tests.factories import ClientFactory

    settings.ACCOUNT_LOGIN_ON_PASSWORD_RESET = login_on_reset
    client_row = ClientFactory(tenant=world_a.tenant)
    midwife = world_a.user(Role.MIDWIFE)
    session = APIClient()
    key_url = f"/accounts/password/reset/key/{user_pk_to_url_str(midwife)}-{default_token_generator.make_token(midwife)}/"
    set_url = session.get(key_url)["Location"]
    new = "a-new-long-passphrase-42"
    done = session.post(set_url, {"password1": new, "password2": new})
    assert done.status_code == 302
    midwife.refresh_from_db()
    assert midwife.check_password(new)
    if login_on_reset:
        assert done["Location"] == "/accounts/2fa/authenticate/"
    reaches_nothing(session, slug=world_a.tenant.slug, client_pk=client_row.pk)


def test_sign_up_and_sign_in_by_code_are_closed(world_a):
    from django.urls import NoReverseMatch, reverse

    session = APIClient()
    signup = session.post(
        "/accounts/signup/",
        {
            "email": "new@example.test",
            "password1": "a-new-long-passphrase-42",
            "password2": "a-new-long-passphrase-42",
        },
    )
    assert signup.status_code == 200 and "_auth_user_id" not in session.session
    assert not User.objects.filter(email="new@example.test").exists()
    with pytest.raises(NoReverseMatch):
        reverse("account_request_login_code")


@pytest.mark.parametrize("role", [Role.MIDWIFE, "operator"])
def test_a_password_only_session_is_signed_out_wherever_it_goes(world_a, role):
    """Django's `login` after a password check (what the admin's own form did) makes a session without the
    second factor: it is signed out at its next request, the account pages and re-authentication included."""
    from tests.factories import PASSWORD, ClientFactory

    client_row = ClientFactory(tenant=world_a.tenant)
    user = person(world_a, role)
    for first in (
        "/accounts/reauthenticate/",
        "/accounts/2fa/",
        "/accounts/password/change/",
        "/admin/",
        "/",
    ):
        session = APIClient()
        session.force_login(user)  # the password was checked, the factor was not
        if first == "/accounts/reauthenticate/":
            session.post(first, {"password": PASSWORD})
        else:
            assert session.get(first).status_code in (302, 403)
        reaches_nothing(session, slug=world_a.tenant.slug, client_pk=client_row.pk)


def test_an_api_session_without_the_factor_step_is_refused_by_the_api_itself(world_a, rf):
    """The API's permission holds the rule even without the middleware (defence in depth)."""
    from rest_framework.authentication import SessionAuthentication
    from rest_framework.exceptions import PermissionDenied
    from rest_framework.request import Request

    from igo.api.permissions import HasSecondFactor

    midwife = world_a.user(Role.MIDWIFE)
    raw = rf.get("/api/me/")
    raw.session = SessionStore()
    raw.user = midwife
    request = Request(raw, authenticators=[SessionAuthentication()])
    request._authenticator = request.authenticators[0]
    request._user, request._auth = midwife, None
    with pytest.raises(PermissionDenied) as refused:
        HasSecondFactor().has_permission(request, None)
    assert refused.value.get_codes() == "second_factor_required"
