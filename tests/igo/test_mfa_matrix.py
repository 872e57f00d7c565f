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
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from igo import services
from igo.models import Membership, Role, User
from tests.factories import InsurerMembershipFactory, UserFactory, second_factor
from tests.scenarios.people import TenantWorld

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
    session = APIClient()
    session.force_login(user)
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
    midwife = APIClient()
    midwife.force_login(world_a.user(Role.MIDWIFE))
    assert midwife.get(f"/api/t/{slug}/event-types/").status_code == 200
    insurer = insurer_user.insurer_memberships.get().insurer
    _t, key = services.insurer_token_create(user=insurer_user, insurer=insurer, name="k")
    keyed = APIClient()
    keyed.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert keyed.get("/api/insurer/batches/").status_code == 200
