"""Sign-in, invitations, two-factor enforcement and bad input on accounts and tenants."""

from __future__ import annotations

from datetime import timedelta

import pytest
from allauth.mfa.models import Authenticator
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from igo.models import AuditEntry, Insurer, Invitation, Membership, Role, Tenant, User
from igo.selectors import invitation_token
from igo.services import invitation_accept, invitation_create, membership_end, tenant_create
from igo.tasks import invitation_send
from igo.tenancy import tenant_scope
from tests.factories import PASSWORD, MembershipFactory, TenantFactory, UserFactory
from tests.scenarios.people import sign_in

pytestmark = pytest.mark.django_db


def _invite(world, email="nieuw@example.test", role=Role.MIDWIFE) -> Invitation:  # type: ignore[no-untyped-def]
    with tenant_scope(world.tenant):
        return invitation_create(
            tenant=world.tenant, actor=world.user(Role.IGO_ADMIN), email=email, role=role
        )


# --- invitations ---------------------------------------------------------------------------


def test_admin_invites_through_the_page_and_the_mail_carries_a_working_link(
    world_a, client_for, django_capture_on_commit_callbacks
):
    client = client_for(world_a.user(Role.IGO_ADMIN))
    url = f"/t/{world_a.tenant.slug}/invitations/new/"
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            url, {"email": "Nieuw@Example.test", "full_name": "Nel Nieuw", "role": "midwife"}
        )
    assert response.status_code == 302
    assert len(callbacks) == 1  # the e-mail job is enqueued only once the invitation is committed
    invitation = Invitation.unscoped.get(tenant=world_a.tenant)
    assert invitation.email == "nieuw@example.test" and invitation.sent_at is None
    result = invitation_send.apply(args=[invitation.pk]).get()
    assert result["sent"] is True
    invitation.refresh_from_db()
    assert invitation.sent_at is not None
    # Idempotent: a second delivery of the same job sends nothing.
    assert invitation_send.apply(args=[invitation.pk]).get()["sent"] is False
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["nieuw@example.test"]
    link = next(line for line in mail.outbox[0].body.splitlines() if "/invite/" in line)
    path = link[link.index("/invite/") :]
    assert Client().get(path).status_code == 200
    assert AuditEntry.objects.filter(tenant=world_a.tenant, action="invitation.create").count() == 1


def test_new_user_accepts_invitation_and_lands_in_the_tenant(world_a):
    invitation = _invite(world_a)
    client = Client()
    path = f"/invite/{invitation_token(invitation)}/"
    response = client.post(path, {"full_name": "Nel Nieuw", "password1": PASSWORD, "password2": PASSWORD})
    # A midwife's IGO opens on her caseload (igo.landing).
    assert response.status_code == 302 and response["Location"] == f"/t/{world_a.tenant.slug}/home/"
    user = User.objects.get(email="nieuw@example.test")
    assert Membership.unscoped.filter(
        tenant=world_a.tenant, user=user, role=Role.MIDWIFE, is_active=True
    ).exists()
    # Every role has a second factor: the new midwife chooses one (app or passkey) before anything else.
    assert client.get(response["Location"])["Location"] == "/accounts/2fa/"
    # The link is single-use.
    again = Client().get(path)
    assert again.status_code == 410


def test_the_first_second_factor_page_says_one_is_needed_before_going_on(world_a, client_for):
    invitation = _invite(world_a)
    client = Client()
    path = f"/invite/{invitation_token(invitation)}/"
    client.post(path, {"full_name": "Nel Nieuw", "password1": PASSWORD, "password2": PASSWORD})
    page = client.get("/accounts/2fa/")
    text = page.content.decode()
    assert page.status_code == 200 and 'data-testid="mfa-required"' in text
    assert "Stel een tweede factor in voordat u verdergaat." in text
    assert reverse("mfa_activate_totp") in text  # allauth's own page follows
    # Once she has one, the page is just the page to manage her factors.
    user = User.objects.get(email="nieuw@example.test")
    Authenticator.objects.create(user=user, type=Authenticator.Type.WEBAUTHN, data={"name": "sleutel"})
    assert 'data-testid="mfa-required"' not in client_for(user).get("/accounts/2fa/").content.decode()


def test_existing_user_must_sign_in_to_accept(world_a, world_b):
    member_b = world_b.user(Role.MIDWIFE)
    invitation = _invite(world_a, email=member_b.email)
    path = f"/invite/{invitation_token(invitation)}/"
    anonymous = Client().post(path)
    assert anonymous.status_code == 400
    assert not Membership.unscoped.filter(tenant=world_a.tenant, user=member_b).exists()
    signed_in = sign_in(Client(), member_b)
    assert signed_in.post(path).status_code == 302
    assert Membership.unscoped.filter(tenant=world_a.tenant, user=member_b, role=Role.MIDWIFE).exists()


def test_expired_invitation_is_refused_with_a_clear_message_and_nothing_stored(world_a):
    invitation = _invite(world_a)
    Invitation.unscoped.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    path = f"/invite/{invitation_token(invitation)}/"
    response = Client().post(path, {"full_name": "Nel", "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 410
    assert "expired" in response.content.decode() or "verlopen" in response.content.decode()
    assert not User.objects.filter(email=invitation.email).exists()


def test_tampered_token_is_404(world_a):
    invitation = _invite(world_a)
    token = invitation_token(invitation)
    assert Client().get(f"/invite/{token[:-2]}xx/").status_code == 404
    other_nonce = f"{invitation.pk}.{'0' * 32}"
    assert Client().get(f"/invite/{other_nonce}/").status_code == 404


def test_duplicate_invitation_and_existing_member_are_refused(world_a, client_for):
    _invite(world_a)
    with pytest.raises(ValidationError) as exc:
        _invite(world_a)
    assert "email" in exc.value.message_dict
    existing = world_a.user(Role.MIDWIFE)
    with pytest.raises(ValidationError) as exc:
        _invite(world_a, email=existing.email.upper(), role=Role.MIDWIFE)
    assert "email" in exc.value.message_dict
    # Through the page: field-level error, status 400, nothing stored.
    client = client_for(world_a.user(Role.IGO_ADMIN))
    before = Invitation.unscoped.count()
    response = client.post(
        f"/t/{world_a.tenant.slug}/invitations/new/", {"email": existing.email, "role": "midwife"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["email"]
    assert Invitation.unscoped.count() == before


def test_weak_password_and_mismatch_store_nothing(world_a):
    invitation = _invite(world_a)
    path = f"/invite/{invitation_token(invitation)}/"
    for data in (
        {"full_name": "Nel", "password1": "12345", "password2": "12345"},
        {"full_name": "Nel", "password1": PASSWORD, "password2": PASSWORD + "x"},
        {"full_name": "", "password1": PASSWORD, "password2": PASSWORD},
    ):
        response = Client().post(path, data)
        assert response.status_code == 400
        assert response.context["form"].errors
    assert not User.objects.filter(email=invitation.email).exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_revoked_invitation_cannot_be_accepted(world_a, client_for):
    invitation = _invite(world_a)
    client = client_for(world_a.user(Role.IGO_ADMIN))
    assert client.post(f"/t/{world_a.tenant.slug}/invitations/{invitation.pk}/revoke/").status_code == 302
    with pytest.raises(ValidationError):
        invitation_accept(invitation=invitation, full_name="Nel", password=PASSWORD)
    assert Client().get(f"/invite/{invitation_token(invitation)}/").status_code == 410


def test_last_administrator_cannot_be_ended(world_a):
    admin = Membership.unscoped.get(tenant=world_a.tenant, role=Role.IGO_ADMIN)
    with pytest.raises(ValidationError):
        membership_end(membership=admin, actor=world_a.user(Role.IGO_ADMIN))
    admin.refresh_from_db()
    assert admin.is_active


def test_admin_ends_a_role_and_the_audit_log_shows_it(world_a, client_for):
    client = client_for(world_a.user(Role.IGO_ADMIN))
    midwife = Membership.unscoped.get(tenant=world_a.tenant, role=Role.MIDWIFE)
    assert client.post(f"/t/{world_a.tenant.slug}/users/{midwife.pk}/end/").status_code == 302
    midwife.refresh_from_db()
    assert not midwife.is_active and midwife.ended_at is not None
    page = client.get(f"/t/{world_a.tenant.slug}/audit/").content.decode()
    assert "membership.end" in page


# --- tenants, AGB and UZOVI ----------------------------------------------------------------


@pytest.mark.parametrize("agb,message_part", [("5300001", "8"), ("1200000a", "8"), ("01000001", "53")])
def test_operator_gets_field_error_for_invalid_agb_and_nothing_is_stored(agb, message_part, client_for):
    operator = UserFactory(is_staff=True)
    from tests.scenarios.people import give_totp

    give_totp(operator)
    response = client_for(operator).post(
        "/platform/",
        {
            "name": "IGO Test",
            "slug": "igo-test",
            "agb_code": agb,
            "first_admin_email": "a@b.test",
        },
    )
    assert response.status_code == 400
    errors = response.context["form"].errors["agb_code"]
    assert any(message_part in e for e in errors)
    assert len(errors) == 1  # not Django's "at least 8 characters" beside the 8-digit message
    assert not Tenant.objects.filter(slug="igo-test").exists()
    assert not Invitation.unscoped.exists()


def test_operator_creates_tenant_and_first_admin_invitation(client_for):
    operator = UserFactory(is_staff=True)
    from tests.scenarios.people import give_totp

    give_totp(operator)
    response = client_for(operator).post(
        "/platform/",
        {
            "name": "IGO Twente",
            "slug": "igo-twente",
            "agb_code": "53123456",
            "first_admin_email": "baas@twente.test",
        },
    )
    assert response.status_code == 302
    tenant = Tenant.objects.get(slug="igo-twente")
    assert Invitation.unscoped.get(tenant=tenant).role == Role.IGO_ADMIN


def test_duplicate_agb_or_slug_is_refused(world_a):
    with pytest.raises(ValidationError) as exc:
        tenant_create(
            actor=world_a.user(Role.IGO_ADMIN),
            name="X",
            slug=world_a.tenant.slug,
            agb_code=world_a.tenant.agb_code,
            first_admin_email="x@y.test",
        )
    assert {"slug", "agb_code"} <= set(exc.value.message_dict)


def test_uzovi_code_is_validated():
    with pytest.raises(ValidationError) as exc:
        Insurer(uzovi_code="331", name="Te kort").full_clean()
    assert "uzovi_code" in exc.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        Insurer.objects.create(uzovi_code="33x1", name="Geen cijfers")


def test_database_refuses_a_tenant_agb_of_another_type():
    with pytest.raises(IntegrityError), transaction.atomic():
        TenantFactory(agb_code="01234567")


def test_email_is_unique_regardless_of_case():
    UserFactory(email="anke@example.test")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="Anke@Example.test")


# --- two-factor authentication -------------------------------------------------------------


@pytest.mark.parametrize("role", Role.values)
def test_every_role_must_set_up_a_second_factor(role):
    tenant = TenantFactory()
    user = UserFactory()
    MembershipFactory(tenant=tenant, user=user, role=role, second_factor=False)
    client = Client()
    client.force_login(user)
    response = client.get(f"/t/{tenant.slug}/")
    # The second-factor page, where she chooses an authenticator app or a passkey.
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/"
    me = client.get("/api/me/")
    assert me.status_code == 403 and me.json()["code"] == "second_factor_required"


def test_insurer_user_must_set_up_a_second_factor():
    from tests.factories import InsurerMembershipFactory

    user = InsurerMembershipFactory(second_factor=False).user
    client = Client()
    client.force_login(user)
    assert client.get("/insurer/")["Location"] == "/accounts/2fa/"


def test_a_passkey_is_a_second_factor_too(world_a, client_for):
    midwife = world_a.user(Role.MIDWIFE)
    Authenticator.objects.filter(user=midwife).delete()
    Authenticator.objects.create(user=midwife, type=Authenticator.Type.WEBAUTHN, data={"name": "sleutel"})
    assert client_for(midwife).get(f"/t/{world_a.tenant.slug}/").status_code == 200


def test_recovery_codes_alone_are_no_second_factor(world_a, client_for):
    midwife = world_a.user(Role.MIDWIFE)
    Authenticator.objects.filter(user=midwife).delete()
    Authenticator.objects.create(user=midwife, type=Authenticator.Type.RECOVERY_CODES, data={"seed": "x"})
    assert client_for(midwife).get(f"/t/{world_a.tenant.slug}/")["Location"] == "/accounts/2fa/"


def _reauthenticated_client(user: User) -> Client:
    client = Client()
    assert client.post("/accounts/login/", {"login": user.email, "password": PASSWORD}).status_code == 302
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    return client


@pytest.mark.django_db(transaction=True)  # allauth announces the new factor on commit, as in production
def test_totp_activation_with_right_and_wrong_code(time_machine):
    from allauth.mfa.totp.internal.auth import hotp_value

    tenant = TenantFactory()
    user = UserFactory()
    MembershipFactory(tenant=tenant, user=user, role=Role.IGO_ADMIN, second_factor=False)
    client = _reauthenticated_client(user)
    assert client.get("/accounts/2fa/totp/activate/").status_code == 200
    secret = client.session["mfa.totp.secret"]
    wrong = client.post("/accounts/2fa/totp/activate/", {"code": "000000"})
    assert wrong.status_code == 200 and wrong.context["form"].errors["code"]
    assert not Authenticator.objects.filter(user=user).exists()
    # The code of this 30-second period, sent within it: the clock stands still until it is checked.
    time_machine.move_to(timezone.now(), tick=False)
    code = f"{hotp_value(secret, int(timezone.now().timestamp()) // 30):06d}"
    right = client.post("/accounts/2fa/totp/activate/", {"code": code})
    assert right.status_code == 302
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    # Setting the factor up used it: this session stays signed in (igo.mfa_session.enrolment_record).
    assert client.get(f"/t/{tenant.slug}/").status_code == 200


def test_login_asks_for_totp_code_when_device_exists(world_a):
    admin = world_a.user(Role.IGO_ADMIN)
    response = Client().post("/accounts/login/", {"login": admin.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/authenticate/"


# --- login protection and sessions ---------------------------------------------------------


def test_failed_logins_are_rate_limited(world_a):
    from django.core.cache import cache

    cache.clear()
    midwife = world_a.user(Role.MIDWIFE)
    client = Client()
    statuses = [
        client.post("/accounts/login/", {"login": midwife.email, "password": "wrong-password"}).status_code
        for _ in range(6)
    ]
    assert statuses[:5] == [200] * 5
    # After five failures the right password alone no longer signs in: it is refused, or (the account
    # being locked, igo/lockout.py) it leads only to the second-factor step, which only the owner passes.
    blocked = client.post("/accounts/login/", {"login": midwife.email, "password": PASSWORD})
    assert blocked.status_code in (200, 429) or blocked["Location"] == "/accounts/2fa/authenticate/"
    assert "_auth_user_id" not in client.session
    cache.clear()


def test_wrong_password_gives_a_message_and_no_session(world_a):
    from django.core.cache import cache

    cache.clear()
    response = Client().post(
        "/accounts/login/", {"login": world_a.user(Role.MIDWIFE).email, "password": "nope"}
    )
    assert response.status_code == 200 and response.context["form"].errors


def test_sessions_expire_when_idle_and_on_browser_close(settings):
    assert settings.SESSION_COOKIE_AGE <= 60 * 60
    # the idle timeout is kept by igo.middleware.SessionIdleMiddleware, which saves a used session at most
    # once a minute (tests/igo/test_signed_in_requests.py), not by a write on every request
    assert "igo.middleware.SessionIdleMiddleware" in settings.MIDDLEWARE
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE


def test_open_signup_is_closed():
    response = Client().post(
        "/accounts/signup/", {"email": "x@y.test", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert not User.objects.filter(email="x@y.test").exists()
    assert response.status_code in (200, 302, 403)


# --- the audit table cannot be altered -----------------------------------------------------


def test_audit_entries_are_append_only(world_a):
    entry = AuditEntry.objects.create(tenant=world_a.tenant, action="test")
    with pytest.raises(RuntimeError):
        entry.save()
    with pytest.raises(RuntimeError):
        entry.delete()
    if connection.vendor == "postgresql":
        from django.db.utils import DatabaseError

        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEntry.objects.filter(pk=entry.pk).update(action="changed")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEntry.objects.filter(pk=entry.pk).delete()


# --- language ------------------------------------------------------------------------------


def test_dutch_by_default_even_for_an_english_browser_and_english_on_request(world_a, client_for):
    client = client_for(world_a.user(Role.MIDWIFE))
    url = f"/t/{world_a.tenant.slug}/"
    dutch = client.get(url, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert dutch["Content-Language"] == "nl" and '<html lang="nl">' in dutch.content.decode()
    assert client.post("/i18n/setlang/", {"language": "en", "next": url}).status_code == 302
    english = client.get(url)
    assert english["Content-Language"] == "en" and '<html lang="en">' in english.content.decode()
    assert "Sign out" in english.content.decode()


def test_password_reset_by_mail(world_a):
    from django.core.cache import cache

    cache.clear()
    midwife = world_a.user(Role.MIDWIFE)
    response = Client().post("/accounts/password/reset/", {"email": midwife.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [midwife.email]
    link = next(word for word in mail.outbox[0].body.split() if "/accounts/password/reset/key/" in word)
    client = Client()
    form_page = client.get(link[link.index("/accounts/") :], follow=True)
    assert form_page.status_code == 200
    new_password = "a-new-long-passphrase-42"
    done = client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else link,
        {"password1": new_password, "password2": new_password},
    )
    assert done.status_code == 302
    midwife.refresh_from_db()
    assert midwife.check_password(new_password)


def test_password_reset_for_unknown_address_reveals_nothing():
    from django.core.cache import cache

    cache.clear()
    response = Client().post("/accounts/password/reset/", {"email": "nobody@example.test"})
    assert response.status_code == 302
    assert all("password/reset/key" not in m.body for m in mail.outbox)


def test_pages_are_translated_to_dutch(world_a, client_for):
    login = Client().get("/accounts/login/").content.decode()
    assert "Inloggen" in login and "Sign in" not in login
    html = client_for(world_a.user(Role.IGO_ADMIN)).get(f"/t/{world_a.tenant.slug}/users/").content.decode()
    assert "Gebruikers en rollen" in html and "Uitnodiging versturen" in html
