"""Member system keys (issue 21): hashed, expiring, revocable; they may only POST care to their own IGO's
FHIR endpoint, for their own member's professionals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from fhir_io import services
from fhir_io.models import MemberApiKey
from igo.models import AuditEntry, Role
from igo.services import api_key_hash
from pregnancies.models import CareEvent
from tests.scenarios.care import Care
from tests.scenarios.fhir import care_bundle, code_mappings, encounter, sender_for

pytestmark = pytest.mark.django_db


def moment():
    return timezone.localtime().replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=30)


def test_the_key_is_stored_only_as_its_hash_and_audited(care: Care) -> None:
    row, key = services.member_key_create(
        tenant=care.tenant, actor=care.user(Role.IGO_ADMIN), organisation=care.practice, name="HIS"
    )
    assert key.startswith(f"igom_{row.prefix}_")
    assert row.key_hash == api_key_hash(key) and key not in row.key_hash
    assert AuditEntry.objects.filter(action="member_key.create", object_id=str(row.pk)).exists()


def test_a_key_cannot_read_anything(care: Care) -> None:
    sender = sender_for(care)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {sender.key}"}
    assert HttpClient().get(sender.url, **auth).status_code == 405
    # Nor any other endpoint of the IGO API (the personal-key and session classes do not take it).
    assert HttpClient().get(f"/api/t/{care.tenant.slug}/clients/search/?q=Jansen", **auth).status_code in (
        401,
        403,
    )
    assert HttpClient().get("/api/insurer/claims/", **auth).status_code in (401, 403, 404)


def test_another_igos_address_answers_404(care: Care, care_b: Care) -> None:
    code_mappings(care)
    sender = sender_for(care)
    sent = care_bundle(care, encounter("e1", "controle", moment()))
    assert sender.post(sent, url=f"/api/t/{care_b.tenant.slug}/fhir/").status_code == 404
    assert not CareEvent.unscoped.exists()


def test_a_revoked_or_expired_key_is_refused(care: Care) -> None:
    code_mappings(care)
    sender = sender_for(care)
    row = MemberApiKey.unscoped.get(key_hash=api_key_hash(sender.key))
    services.member_key_revoke(tenant=care.tenant, key=row, actor=care.user(Role.IGO_ADMIN))
    assert sender.post(care_bundle(care, encounter("e1", "controle", moment()))).status_code == 401
    other = sender_for(care)
    MemberApiKey.unscoped.filter(key_hash=api_key_hash(other.key)).update(expires_at=timezone.now())
    assert other.post(care_bundle(care, encounter("e1", "controle", moment()))).status_code == 401
    assert not CareEvent.unscoped.exists()


def test_a_signed_in_user_cannot_use_the_endpoint(care: Care, client_for) -> None:
    answer = client_for(care.user(Role.MIDWIFE)).post(
        f"/api/t/{care.tenant.slug}/fhir/", data="{}", content_type="application/fhir+json"
    )
    assert answer.status_code == 401


def test_the_kraamzorg_key_cannot_send_care_of_the_practices_midwife(care: Care) -> None:
    code_mappings(care)
    kraamzorg = sender_for(care, care.kraamzorg)
    answer = kraamzorg.post(care_bundle(care, encounter("e1", "controle", moment())))
    assert answer.status_code == 422
    assert answer.json()["issue"][0]["code"] == "forbidden"
    assert not CareEvent.unscoped.exists()
