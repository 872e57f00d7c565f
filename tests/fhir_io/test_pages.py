"""The administrator's pages of the FHIR import: member system keys (made, shown once, listed, revoked)
and the code mapping; other roles and other IGOs are refused."""

from __future__ import annotations

import pytest
from django.test import Client

from fhir_io import services
from fhir_io.models import CodeMapping, MemberApiKey
from igo.models import AuditEntry, Role
from igo.services import api_key_hash
from tests.scenarios.care import Care
from tests.scenarios.people import signed_in_just_now

pytestmark = pytest.mark.django_db


def test_the_admin_makes_a_key_that_is_shown_once_and_listed(care: Care, client_for) -> None:
    url = care.url("fhir/keys/")
    asked = client_for(care.user(Role.IGO_ADMIN)).post(
        url, {"organisation": care.practice.pk, "name": "HIS De Linde", "days": 30}
    )
    assert asked.status_code == 302 and "/accounts/reauthenticate/" in asked["Location"]
    assert not MemberApiKey.unscoped.exists()
    web = signed_in_just_now(Client(), care.user(Role.IGO_ADMIN))
    made = web.post(url, {"organisation": care.practice.pk, "name": "HIS De Linde", "days": 30})
    assert made.status_code == 201
    key = made.context["new_key"]
    row = MemberApiKey.unscoped.get(key_hash=api_key_hash(key))
    assert row.account.organisation == care.practice
    assert "no-store" in made["Cache-Control"]
    listed = web.get(url)
    assert key not in listed.content.decode() and f"igom_{row.prefix}_" in listed.content.decode()
    revoke = care.url(f"fhir/keys/{row.pk}/revoke/")
    assert web.get(revoke).status_code == 200
    assert web.post(revoke, {"confirm": "yes"}).status_code == 302
    row.refresh_from_db()
    assert row.revoked_at is not None
    assert AuditEntry.objects.filter(action="member_key.revoke", object_id=str(row.pk)).exists()


def test_the_admin_adds_a_code(care: Care, client_for) -> None:
    web = client_for(care.user(Role.IGO_ADMIN))
    data = {
        "system": "https://his.example.org/codes",
        "code": "controle",
        "event_type": care.type("PRE_CHECK").pk,
    }
    assert web.post(care.url("fhir/codes/"), data).status_code == 302
    assert CodeMapping.unscoped.get(tenant=care.tenant).event_type.code == "PRE_CHECK"
    again = web.post(care.url("fhir/codes/"), data)
    assert again.status_code == 400 and CodeMapping.unscoped.count() == 1


@pytest.mark.parametrize("role", [Role.MIDWIFE, Role.IGO_FINANCE])
def test_other_roles_are_refused(care: Care, client_for, role: str) -> None:
    web = client_for(care.user(role))
    assert web.get(care.url("fhir/keys/")).status_code == 403
    assert web.get(care.url("fhir/codes/")).status_code == 403


def test_another_igos_admin_gets_404(care: Care, care_b: Care, client_for) -> None:
    web = client_for(care_b.user(Role.IGO_ADMIN))
    assert web.get(care.url("fhir/keys/")).status_code == 404


def test_another_igos_key_is_not_found_under_ones_own_igo(care: Care, care_b: Care, client_for) -> None:
    row, _key = services.member_key_create(
        tenant=care.tenant, actor=care.user(Role.IGO_ADMIN), organisation=care.practice, name="HIS"
    )
    web = client_for(care_b.user(Role.IGO_ADMIN))
    assert web.post(care_b.url(f"fhir/keys/{row.pk}/revoke/"), {"confirm": "yes"}).status_code == 404
    row.refresh_from_db()
    assert row.revoked_at is None
