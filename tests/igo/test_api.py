"""The REST API: tenant isolation with a personal key, and a schema that validates."""

from __future__ import annotations

import pytest

from igo.models import Membership, Role
from tests.scenarios.http import api as _token_client

pytestmark = pytest.mark.django_db


def test_me_lists_tenants_and_roles(world_a, world_b):
    body = _token_client(world_a.user(Role.IGO_FINANCE)).get("/api/me/").json()
    assert body["tenants"] == [
        {"slug": world_a.tenant.slug, "name": world_a.tenant.name, "roles": ["igo_finance"]}
    ]
    assert body["insurers"] == []


def test_token_user_sees_own_tenant_members_only(world_a, world_b):
    client = _token_client(world_a.user(Role.IGO_FINANCE))
    body = client.get(f"/api/t/{world_a.tenant.slug}/users/").json()
    emails = {row["email"] for row in body["results"]}
    assert emails == {u.email for u in world_a.users.values()}
    assert client.get(f"/api/t/{world_b.tenant.slug}/users/").status_code == 404
    other = Membership.unscoped.filter(tenant=world_b.tenant).first()
    assert client.get(f"/api/t/{world_a.tenant.slug}/users/{other.pk}/").status_code == 404


def test_clinician_token_is_forbidden_on_member_list(world_a):
    client = _token_client(world_a.user(Role.MIDWIFE))
    assert client.get(f"/api/t/{world_a.tenant.slug}/users/").status_code == 403


def test_schema_is_valid_openapi(member_client):
    response = member_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/t/{tenant_slug}/users/" in schema["paths"]
    from drf_spectacular.validation import validate_schema

    validate_schema(schema)


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
