"""The care API one tenant at a time: every endpoint answers 404 to a user of another tenant (and works
for the owner), 403 to the non-clinical roles, and refuses anonymous callers and outsiders; the schema
documents it.
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from igo.models import Role, User
from pregnancies.models import AccessLogEntry, CareEvent, Client, EventStatus
from tests.factories import valid_bsn
from tests.scenarios.care_api import Care, event_body, intake_body, log_event, make_care
from tests.scenarios.http import api

pytestmark = [pytest.mark.django_db, pytest.mark.dated]


@pytest.fixture
def care_b(world_b, insurer) -> Care:
    """Tenant B in the care API's smaller world (here instead of the `care_b` of tests/conftest.py)."""
    return make_care(world_b, insurer)


def _endpoints(care: Care, *, slug: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every endpoint with a body that would succeed for the owner of the objects."""
    event = CareEvent.unscoped.filter(tenant=care.world.tenant).first() or log_event(care)
    prefix = f"/api/t/{slug}/"
    return [
        ("post", f"{prefix}clients/search/", {"q": care.client.bsn}),
        ("post", f"{prefix}clients/", intake_body(care.insurer, bsn=valid_bsn(7777))),
        ("get", f"{prefix}clients/{care.client.pk}/", None),
        ("get", f"{prefix}episodes/{care.episode.pk}/", None),
        ("get", f"{prefix}episodes/{care.episode.pk}/events/", None),
        ("post", f"{prefix}episodes/{care.episode.pk}/events/", event_body()),
        ("post", f"{prefix}events/{event.pk}/correct/", {"reason": "x", "quantity": "1"}),
        ("post", f"{prefix}events/{event.pk}/void/", {"reason": "x"}),
        ("get", f"{prefix}event-types/", None),
    ]


def _send(client: APIClient, method: str, url: str, body: dict[str, Any] | None) -> int:
    if method == "get":
        return client.get(url).status_code
    return client.post(url, body, format="json").status_code


def _b_untouched(care_b: Care, intruder: User) -> None:
    tenant = care_b.world.tenant
    assert not AccessLogEntry.unscoped.filter(tenant=tenant).exists()
    assert Client.unscoped.filter(tenant=tenant).count() == 1
    assert CareEvent.unscoped.filter(tenant=tenant).count() == 1
    assert CareEvent.unscoped.get(tenant=tenant).status == EventStatus.ACTIVE
    assert not AccessLogEntry.unscoped.filter(user=intruder).exists()


def test_user_of_tenant_a_gets_404_for_tenant_b_slug_and_for_b_objects(care_a, care_b):
    # A midwife of A with a professional in A: every refusal below is the tenant wall.
    midwife_a = care_a.world.user(Role.MIDWIFE)
    client = api(midwife_a)
    for method, url, body in _endpoints(care_b, slug=care_b.world.tenant.slug):
        assert _send(client, method, url, body) == 404, (method, url)
    for method, url, body in _endpoints(care_b, slug=care_a.world.tenant.slug):
        if "/clients/search/" in url or url.endswith("/clients/") or url.endswith("/event-types/"):
            continue  # no object of B in these URLs
        assert _send(client, method, url, body) == 404, (method, url)
    _b_untouched(care_b, midwife_a)
    # Under A's own slug, B's client cannot be found by BSN either.
    response = client.post(f"{care_a.url}clients/search/", {"q": care_b.client.bsn}, format="json")
    assert response.status_code == 200 and response.json() == []


def test_the_same_endpoints_work_for_the_owner(care_a):
    """The 404s above are the tenant wall, not broken requests: the owner's calls succeed."""
    client = api(care_a.world.user(Role.MIDWIFE))
    statuses = [_send(client, m, u, b) for m, u, b in _endpoints(care_a, slug=care_a.world.tenant.slug)]
    assert statuses == [200, 201, 200, 200, 200, 201, 201, 400, 200]  # void after correct: superseded


@pytest.mark.parametrize("role", [Role.IGO_FINANCE, Role.IGO_ADMIN])
def test_non_clinical_roles_are_forbidden(care_a, role):
    event = log_event(care_a, note="Medische notitie")
    client = api(care_a.world.user(role))
    for method, url, body in _endpoints(care_a, slug=care_a.world.tenant.slug):
        response = client.get(url) if method == "get" else client.post(url, body, format="json")
        assert response.status_code == 403, (method, url)
        assert "Medische notitie" not in response.content.decode()
    assert CareEvent.unscoped.filter(tenant=care_a.world.tenant).count() == 1
    event.refresh_from_db()
    assert event.status == EventStatus.ACTIVE
    assert not AccessLogEntry.unscoped.filter(tenant=care_a.world.tenant).exists()


def test_anonymous_and_outsider_are_refused(care_a, outsider, world_b):
    # A key of someone with no role in any IGO is refused at the key itself (401); a key of another IGO's
    # midwife is a valid key that finds nothing here (404, as if the IGO did not exist).
    anonymous, stranger, other_igo = api(), api(outsider), api(world_b.user(Role.MIDWIFE))
    for method, url, body in _endpoints(care_a, slug=care_a.world.tenant.slug):
        assert _send(anonymous, method, url, body) in (401, 403), (method, url)
        assert _send(stranger, method, url, body) == 401, (method, url)
        assert _send(other_igo, method, url, body) == 404, (method, url)
    assert not AccessLogEntry.unscoped.exists()


def test_schema_documents_the_care_api_and_validates(member_client):
    from drf_spectacular.validation import validate_schema

    response = member_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    paths = schema["paths"]
    prefix = "/api/t/{tenant_slug}/"
    assert set(paths[f"{prefix}episodes/{{id}}/events/"]) == {"get", "post"}
    for path in ("clients/search/", "clients/", "events/{id}/correct/", "events/{id}/void/"):
        assert set(paths[prefix + path]) == {"post"}
    for path in ("clients/{id}/", "episodes/{id}/", "event-types/"):
        assert set(paths[prefix + path]) == {"get"}
    search = paths[f"{prefix}clients/search/"]["post"]
    assert all(p["in"] == "path" for p in search.get("parameters", []))  # the BSN stays in the body
    create = paths[f"{prefix}episodes/{{id}}/events/"]["post"]
    assert {"200", "201", "400"} <= set(create["responses"])
    schemas = schema["components"]["schemas"]
    assert "bsn" not in schemas["ClientDetail"]["properties"]
    assert "bsn" in schemas["IntakeRequest"]["properties"]
