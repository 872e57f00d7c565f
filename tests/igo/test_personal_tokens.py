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


def test_a_key_of_the_other_kind_is_refused_with_a_message_that_says_which_kind_it_is(world_a, insurer_user):
    # Not "no credentials were given": a key was given, only of the other kind.
    _t, personal = services.personal_token_create(user=insurer_user, name="k")
    insurer = insurer_user.insurer_memberships.get().insurer
    _t, insurer_key = services.insurer_token_create(user=insurer_user, insurer=insurer, name="k")
    on_insurer_api = bearer(personal).get("/api/insurer/batches/")
    assert on_insurer_api.status_code == 401 and on_insurer_api["WWW-Authenticate"].startswith("Bearer")
    assert on_insurer_api.json()["detail"].startswith("Dit is geen sleutel voor de verzekeraars-API")
    on_igo_api = bearer(insurer_key).get("/api/me/")
    assert on_igo_api.status_code == 401
    assert on_igo_api.json()["detail"].startswith("Dit is een sleutel voor de verzekeraars-API")
    # Where both kinds are taken (the schema), each works (a personal key of someone with a role in an IGO:
    # one of a user with none is refused everywhere); an unknown key is still simply invalid.
    _t, member_key = services.personal_token_create(user=world_a.user(Role.MIDWIFE), name="k")
    assert bearer(member_key).get("/api/schema/?format=json").status_code == 200
    assert bearer(personal).get("/api/schema/?format=json").status_code == 401
    assert bearer(insurer_key).get("/api/schema/?format=json").status_code == 200
    unknown = bearer("igo_00000000_not-a-real-key").get("/api/insurer/batches/")
    assert unknown.status_code == 401 and "verzekeraars-API" not in unknown.json()["detail"]


def test_the_user_menu_offers_personal_keys_only_to_who_can_use_them(world_a, insurer_user, client_for):
    # Someone who works only for an insurer has the portal's keys (/insurer/tokens/): a second "API keys"
    # link would lead to a key the insurer API refuses.
    marker = 'data-testid="nav-personal-tokens"'
    assert marker not in client_for(insurer_user).get(reverse("insurer_dashboard")).content.decode()
    assert (
        marker in client_for(world_a.user(Role.IGO_FINANCE)).get(reverse("personal_tokens")).content.decode()
    )


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


# --- keys revoked when the account is recovered (security review) -------------------------------------


def _keys_of(world_a, insurer_user):  # type: ignore[no-untyped-def]
    """A personal key of the finance user, and a personal key and an insurer key of the insurer user."""
    finance = world_a.user(Role.IGO_FINANCE)
    _t, finance_key = services.personal_token_create(user=finance, name="Boekhouding")
    _t, own_key = services.personal_token_create(user=insurer_user, name="Eigen")
    insurer = insurer_user.insurer_memberships.get().insurer
    _t, insurer_key = services.insurer_token_create(user=insurer_user, insurer=insurer, name="ERP")
    return finance_key, own_key, insurer_key


def _usable(key: str, path: str) -> bool:
    return bearer(key).get(path).status_code == 200


def test_changing_the_password_revokes_the_keys_she_made(world_a, insurer_user, client_for):
    finance_key, own_key, insurer_key = _keys_of(world_a, insurer_user)
    client = client_for(insurer_user)
    new = "another-long-passphrase-77"
    response = client.post(
        "/accounts/password/change/", {"oldpassword": PASSWORD, "password1": new, "password2": new}
    )
    assert response.status_code == 302
    assert not _usable(own_key, "/api/me/") and not _usable(insurer_key, "/api/insurer/batches/")
    assert _usable(finance_key, "/api/me/")  # someone else's key stays
    revoked = PersonalApiToken.objects.get(user=insurer_user)
    assert revoked.revoked_because == "password_changed"
    entries = AuditEntry.objects.filter(action__in=["personal_token.revoke", "insurer_token.revoke"])
    assert sorted(e.details["because"] for e in entries) == ["password_changed", "password_changed"]
    # Her key list says why.
    insurer_user.refresh_from_db()  # the new password's hash, which the session is signed with
    client = client_for(insurer_user)
    listing = client.get(reverse("personal_tokens")).content.decode()
    assert 'data-testid="revoked-because"' in listing and "wachtwoord gewijzigd" in listing


def test_a_password_reset_revokes_the_keys(world_a, insurer_user):
    from allauth.account.forms import default_token_generator
    from allauth.account.utils import user_pk_to_url_str

    _finance_key, own_key, insurer_key = _keys_of(world_a, insurer_user)
    session = APIClient()
    key_url = (
        f"/accounts/password/reset/key/{user_pk_to_url_str(insurer_user)}-"
        f"{default_token_generator.make_token(insurer_user)}/"
    )
    new = "a-new-long-passphrase-42"
    assert (
        session.post(session.get(key_url)["Location"], {"password1": new, "password2": new}).status_code
        == 302
    )
    assert not _usable(own_key, "/api/me/") and not _usable(insurer_key, "/api/insurer/batches/")
    assert PersonalApiToken.objects.get(user=insurer_user).revoked_because == "password_reset"


def test_removing_or_resetting_the_second_factor_revokes_the_keys(world_a, insurer_user, rf):
    from allauth.mfa.models import Authenticator
    from allauth.mfa.signals import authenticator_removed, authenticator_reset

    _f, own_key, _i = _keys_of(world_a, insurer_user)
    totp = Authenticator.objects.get(user=insurer_user, type=Authenticator.Type.TOTP)
    authenticator_removed.send(
        sender=Authenticator, request=rf.get("/"), user=insurer_user, authenticator=totp
    )
    assert not _usable(own_key, "/api/me/")
    assert PersonalApiToken.objects.get(user=insurer_user).revoked_because == "factor_removed"
    _t, again = services.personal_token_create(user=insurer_user, name="Opnieuw")
    authenticator_reset.send(sender=Authenticator, request=rf.get("/"), user=insurer_user, authenticator=totp)
    assert not _usable(again, "/api/me/")


def test_the_operators_reset_of_a_factor_revokes_the_keys(world_a, insurer_user, client_for):
    from allauth.mfa.models import Authenticator

    from tests.factories import UserFactory, second_factor

    _f, own_key, insurer_key = _keys_of(world_a, insurer_user)
    operator = UserFactory(email="operator@platform.test", is_staff=True, is_superuser=True)
    second_factor(operator)
    totp = Authenticator.objects.get(user=insurer_user, type=Authenticator.Type.TOTP)
    response = client_for(operator).post(f"/admin/mfa/authenticator/{totp.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not _usable(own_key, "/api/me/") and not _usable(insurer_key, "/api/insurer/batches/")
    revoke = AuditEntry.objects.get(action="personal_token.revoke")
    assert revoke.actor == operator and revoke.details["because"] == "operator_reset"


def test_the_operator_setting_a_password_revokes_the_keys(world_a, insurer_user, client_for):
    from tests.factories import UserFactory, second_factor

    _f, own_key, _i = _keys_of(world_a, insurer_user)
    operator = UserFactory(email="operator@platform.test", is_staff=True, is_superuser=True)
    second_factor(operator)
    new = "set-by-the-operator-91"
    response = client_for(operator).post(
        f"/admin/igo/user/{insurer_user.pk}/password/", {"password1": new, "password2": new}
    )
    assert response.status_code == 302
    assert not _usable(own_key, "/api/me/")
    assert PersonalApiToken.objects.get(user=insurer_user).revoked_because == "operator_password"


# --- every key page asks to sign in again before it makes a key (security review) -------------------------


def test_insurer_and_member_keys_are_made_only_after_signing_in_again(world_a, insurer_user, client_for):
    from fhir_io.models import MemberApiKey
    from igo.models import InsurerApiToken
    from tests.factories import MemberOrganisationFactory

    insurer = insurer_user.insurer_memberships.get().insurer
    client = client_for(insurer_user)  # signed in an hour ago
    assert client.get(reverse("insurer_tokens")).status_code == 200
    asked = client.post(reverse("insurer_tokens"), {"insurer": insurer.pk, "name": "ERP", "days": "90"})
    assert asked.status_code == 302 and "/accounts/reauthenticate/" in asked["Location"]
    assert not InsurerApiToken.objects.exists()
    assert client.post(asked["Location"], {"password": PASSWORD}).status_code == 201
    assert InsurerApiToken.objects.get().created_by == insurer_user
    # At most 180 days now (was 365).
    with pytest.raises(ValidationError):
        services.insurer_token_create(user=insurer_user, insurer=insurer, name="Lang", days=181)

    admin = world_a.user(Role.IGO_ADMIN)
    organisation = MemberOrganisationFactory(tenant=world_a.tenant)
    client = client_for(admin)
    url = reverse("fhir_member_keys", kwargs={"tenant_slug": world_a.tenant.slug})
    assert client.get(url).status_code == 200
    asked = client.post(url, {"organisation": organisation.pk, "name": "EPD", "days": "180"})
    assert asked.status_code == 302 and "/accounts/reauthenticate/" in asked["Location"]
    assert not MemberApiKey.unscoped.exists()
    back = client.post(asked["Location"], {"password": PASSWORD})
    assert back.status_code == 302 and back["Location"] == url  # the form again, to send once more
    made = client.post(url, {"organisation": organisation.pk, "name": "EPD", "days": "180"})
    assert made.status_code == 201
    assert MemberApiKey.unscoped.get().created_by == admin
    # At most 365 days now (was 730).
    from fhir_io import services as fhir_services

    assert fhir_services.MEMBER_KEY_DAYS_MAX == 365


def test_the_member_system_keys_an_administrator_made_are_revoked_with_her_password(world_a, rf):
    from allauth.account.signals import password_changed

    from fhir_io import services as fhir_services
    from fhir_io.models import MemberApiKey
    from igo.tenancy import tenant_scope
    from tests.factories import MemberOrganisationFactory

    admin = world_a.user(Role.IGO_ADMIN)
    with tenant_scope(world_a.tenant):
        row, _key = fhir_services.member_key_create(
            tenant=world_a.tenant,
            actor=admin,
            organisation=MemberOrganisationFactory(tenant=world_a.tenant),
            name="EPD",
            days=30,
        )
    password_changed.send(sender=type(admin), request=rf.get("/"), user=admin)
    row = MemberApiKey.unscoped.get(pk=row.pk)
    assert row.revoked_at is not None and row.revoked_because == "password_changed"
    entry = AuditEntry.objects.get(action="member_key.revoke")
    assert entry.tenant == world_a.tenant and entry.details["because"] == "password_changed"
