"""Personal API keys (issue 16): made by the user herself after signing in again, shown once, listed,
revocable, expiring; DRF's tokens, which an operator could mint for anyone, no longer exist."""

from __future__ import annotations

from datetime import timedelta

import pytest
from allauth.mfa.models import Authenticator
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from igo import services
from igo.models import AuditEntry, PersonalApiToken, Role
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

MOMENT = "2026-03-10T10:00:00+01:00"


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_making_a_key_asks_to_sign_in_again_and_shows_it_once(world_a, client_for):
    finance = world_a.user(Role.IGO_FINANCE)
    client = client_for(finance)
    assert client.get(reverse("personal_tokens")).status_code == 200  # the list needs no new sign-in
    response = client.post(reverse("personal_tokens"), {"name": "Boekhouding", "days": "30"})
    assert response.status_code == 302 and "/accounts/reauthenticate/" in response["Location"]
    assert not PersonalApiToken.objects.exists()
    # Signing in again (the password) carries out the request that asked for it.
    response = client.post(response["Location"], {"password": PASSWORD})
    assert response.status_code == 201
    key = response.context["new_key"]
    assert key.startswith("igop_") and key in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    token = PersonalApiToken.objects.get()
    assert token.key_hash != key and key not in token.key_hash
    assert token.expires_at == token.created_at + timedelta(days=30)
    listing = client.get(reverse("personal_tokens")).content.decode()
    assert key not in listing and f"igop_{token.prefix}_" in listing
    entry = AuditEntry.objects.get(action="personal_token.create")
    assert (
        entry.actor == finance and entry.details["prefix"] == token.prefix and key not in str(entry.details)
    )
    assert bearer(key).get("/api/me/").json()["email"] == finance.email


def test_a_key_is_valid_for_at_most_90_days_and_needs_a_name(world_a):
    finance = world_a.user(Role.IGO_FINANCE)
    with pytest.raises(ValidationError) as caught:
        services.personal_token_create(user=finance, name=" ", days=91)
    assert set(caught.value.message_dict) == {"name", "days"}
    assert not PersonalApiToken.objects.exists()


def test_no_key_without_a_second_factor(world_a):
    midwife = world_a.user(Role.MIDWIFE)
    Authenticator.objects.filter(user=midwife).delete()
    with pytest.raises(ValidationError):
        services.personal_token_create(user=midwife, name="x")


@pytest.mark.clock(MOMENT)
def test_a_key_expires(world_a, time_machine):
    _token, key = services.personal_token_create(user=world_a.user(Role.IGO_FINANCE), name="k", days=1)
    assert bearer(key).get("/api/me/").status_code == 200
    time_machine.move_to(timezone.now() + timedelta(days=1, seconds=1))
    response = bearer(key).get("/api/me/")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_key_stops_at_once_and_only_its_owner_revokes_it(world_a, client_for):
    finance, admin = world_a.user(Role.IGO_FINANCE), world_a.user(Role.IGO_ADMIN)
    token, key = services.personal_token_create(user=finance, name="k")
    url = reverse("personal_token_revoke", args=[token.pk])
    assert client_for(admin).post(url).status_code == 404  # someone else's key
    with pytest.raises(ValidationError):
        services.personal_token_revoke(token=token, actor=admin)
    assert client_for(finance).post(url).status_code == 302
    assert bearer(key).get("/api/me/").status_code == 401
    assert AuditEntry.objects.filter(action="personal_token.revoke", actor=finance).count() == 1
    assert PersonalApiToken.objects.get().last_used_at is None  # a refused key is not "used"


def test_keys_are_told_apart_personal_keys_only_on_the_igo_api(world_a, insurer_user):
    _t, personal = services.personal_token_create(user=world_a.user(Role.IGO_FINANCE), name="k")
    insurer = insurer_user.insurer_memberships.get().insurer
    _t, insurer_key = services.insurer_token_create(user=insurer_user, insurer=insurer, name="k")
    assert bearer(personal).get("/api/insurer/batches/").status_code == 401
    assert bearer(insurer_key).get(f"/api/t/{world_a.tenant.slug}/users/").status_code == 401
    assert bearer(insurer_key).get("/api/insurer/batches/").status_code == 200


def test_drf_tokens_are_gone(world_a):
    from django.apps import apps

    assert not apps.is_installed("rest_framework.authtoken")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    assert client.get("/api/me/").status_code == 401


def test_schema_and_docs_refuse_anonymous_visitors(world_a, client_for):
    assert APIClient().get("/api/schema/").status_code == 401
    docs = Client().get("/api/docs/")
    assert docs.status_code == 302 and docs["Location"].startswith("/accounts/login/")
    midwife = world_a.user(Role.MIDWIFE)
    assert client_for(midwife).get("/api/schema/?format=json").status_code == 200
    assert client_for(midwife).get("/api/docs/").status_code == 200
    Authenticator.objects.filter(user=midwife).delete()
    assert client_for(midwife).get("/api/schema/?format=json").status_code == 403


def test_the_api_speaks_json_only_in_production(world_a, client_for):
    response = client_for(world_a.user(Role.IGO_FINANCE)).get("/api/me/", HTTP_ACCEPT="text/html")
    assert response.status_code in (200, 406)
    assert "text/html" not in response["Content-Type"]
