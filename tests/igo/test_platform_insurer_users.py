"""Insurer users from the operator's side (/platform/insurers/): invited by e-mail, they set their own
password and then their second factor; the operator sees who is invited or active and when each last
signed in, invites again and ends access, all audited."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from igo.models import AuditEntry, InsurerMembership, Invitation, Role, User
from igo.selectors import invitation_token
from igo.tasks import invitation_send
from tests.factories import InsurerFactory, InsurerMembershipFactory, UserFactory
from tests.scenarios.people import give_totp, sign_in

pytestmark = pytest.mark.django_db

PASSWORD = "Een-lang-wachtwoord-42"


@pytest.fixture
def operator(client_for):  # type: ignore[no-untyped-def]
    user = UserFactory(email="operator@platform.test", is_staff=True, is_superuser=True)
    give_totp(user)
    return user, client_for(user)


@pytest.fixture
def zk(db):  # type: ignore[no-untyped-def]
    return InsurerFactory(uzovi_code="3311", name="Zilveren Kruis")


def _row(page: str, email: str) -> str:
    match = re.search(rf'data-email="{re.escape(email)}">(.*?)</tr>', page, re.S)
    assert match, f"no row for {email}"
    return match.group(1)


def test_invited_insurer_user_sets_her_password_then_must_set_up_a_second_factor(
    operator, zk, django_capture_on_commit_callbacks
):
    user, client = operator
    url = reverse("platform_insurer_users", args=[zk.pk])
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, {"email": " Anna@ZK.test ", "full_name": "Anna de Vries"})
    assert response.status_code == 302 and len(callbacks) == 1  # the mail job, once committed
    invitation = Invitation.unscoped.get(insurer=zk)
    assert invitation.email == "anna@zk.test" and invitation.tenant is None and invitation.role == ""
    page = client.get(url).content.decode()
    assert "niet verstuurd" in _row(page, "anna@zk.test")
    assert invitation_send.apply(args=[invitation.pk]).get()["sent"] is True
    assert [m.to for m in mail.outbox] == [["anna@zk.test"]]
    body = mail.outbox[0].body
    link = reverse("invitation_accept", args=[invitation_token(invitation)])
    assert link in body and "Zilveren Kruis" in body and "tweede factor" in body
    assert "Zilveren Kruis" in mail.outbox[0].subject
    entry = AuditEntry.objects.get(action="insurer_user.invite")
    assert (
        entry.actor == user
        and entry.details["insurer"] == "3311"
        and entry.details["email"] == "anna@zk.test"
    )

    page = client.get(url).content.decode()
    assert "uitgenodigd" in _row(page, "anna@zk.test") and "nooit" in _row(page, "anna@zk.test")

    # She opens the link, chooses her own password, and lands on the second-factor page first.
    anna = Client()
    accept = anna.get(link)
    assert accept.status_code == 200 and "Zilveren Kruis" in accept.content.decode()
    done = anna.post(link, {"full_name": "Anna de Vries", "password1": PASSWORD, "password2": PASSWORD})
    assert done.status_code == 302 and done["Location"] == reverse("insurer_dashboard")
    account = User.objects.get(email="anna@zk.test")
    assert account.check_password(PASSWORD) and not account.is_staff
    assert InsurerMembership.objects.get(user=account, insurer=zk).is_active
    blocked = anna.get(reverse("insurer_dashboard"))
    assert blocked.status_code == 302 and blocked["Location"] == reverse("mfa_index")
    assert AuditEntry.objects.filter(action="invitation.accept", actor=account).exists()

    page = client.get(url).content.decode()
    assert "actief" in _row(page, "anna@zk.test")
    listing = client.get(reverse("platform_insurers")).content.decode()
    assert re.search(r'data-testid="insurer-3311">.*?<td[^>]*>1</td>', listing, re.S)


def test_reinvite_withdraws_the_old_link_and_a_withdrawn_link_names_the_operator(operator, zk):
    _user, client = operator
    url = reverse("platform_insurer_users", args=[zk.pk])
    client.post(url, {"email": "bob@zk.test"})
    first = Invitation.unscoped.get(insurer=zk)
    assert client.post(url, {"email": "bob@zk.test"}).status_code == 302
    first.refresh_from_db()
    assert first.revoked_at is not None
    new = Invitation.unscoped.get(insurer=zk, revoked_at__isnull=True)
    assert invitation_send.apply(args=[first.pk]).get()["sent"] is False
    old = Client().get(reverse("invitation_accept", args=[invitation_token(first)]))
    assert old.status_code == 410 and "platformbeheerder" in old.content.decode()
    assert Client().get(reverse("invitation_accept", args=[invitation_token(new)])).status_code == 200
    assert AuditEntry.objects.get(action="insurer_user.invite", object_id=str(new.pk)).details["revoked"] == 1


def test_operator_ends_access_and_can_invite_her_again(operator, zk):
    user, client = operator
    link = InsurerMembershipFactory(insurer=zk, user=UserFactory(email="carla@zk.test"))
    give_totp(link.user)
    url = reverse("platform_insurer_users", args=[zk.pk])
    assert "actief" in _row(client.get(url).content.decode(), "carla@zk.test")

    end = reverse("platform_insurer_user_end", args=[zk.pk, link.pk])
    assert client.get(end).status_code == 303  # a POST-only address
    assert client.post(end).status_code == 302
    link.refresh_from_db()
    assert not link.is_active
    entry = AuditEntry.objects.get(action="insurer_user.end")
    assert entry.actor == user
    assert entry.details == {"insurer": "3311", "user": "carla@zk.test", "keys_revoked": True}
    assert "toegang beëindigd" in _row(client.get(url).content.decode(), "carla@zk.test")
    assert sign_in(Client(), link.user).get(reverse("insurer_dashboard")).status_code == 403

    # Invited again, she accepts with her existing account (signed in) and has access once more.
    client.post(url, {"email": "carla@zk.test"})
    invitation = Invitation.unscoped.get(insurer=zk, email="carla@zk.test", revoked_at__isnull=True)
    signed_in = sign_in(Client(), link.user)
    response = signed_in.post(reverse("invitation_accept", args=[invitation_token(invitation)]))
    assert response.status_code == 302
    link.refresh_from_db()
    assert link.is_active


def test_invitation_can_be_withdrawn_and_refusals_are_field_errors(operator, zk, world_a):
    _user, client = operator
    url = reverse("platform_insurer_users", args=[zk.pk])
    client.post(url, {"email": "dirk@zk.test"})
    invitation = Invitation.unscoped.get(insurer=zk)
    assert (
        client.post(reverse("platform_insurer_invitation_revoke", args=[zk.pk, invitation.pk])).status_code
        == 302
    )
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert 'data-email="dirk@zk.test"' not in client.get(url).content.decode()

    active = InsurerMembershipFactory(insurer=zk, user=UserFactory(email="eva@zk.test"))
    for email in ("geen-adres", active.user.email, world_a.user(Role.MIDWIFE).email):
        response = client.post(url, {"email": email})
        assert response.status_code == 400 and response.context["form"].errors["email"], email
    assert Invitation.unscoped.filter(insurer=zk, revoked_at__isnull=True).count() == 0

    # Another insurer's row is not reachable through this insurer's address.
    other = InsurerFactory(uzovi_code="7095", name="VGZ")
    response = client.post(reverse("platform_insurer_user_end", args=[other.pk, active.pk]))
    assert response.status_code == 404
    active.refresh_from_db()
    assert active.is_active


def test_insurer_invitations_stay_out_of_the_igo_pages(operator, zk, world_a, client_for):
    _user, client = operator
    client.post(reverse("platform_insurer_users", args=[zk.pk]), {"email": "fien@zk.test"})
    admin = client_for(world_a.user(Role.IGO_ADMIN))
    page = admin.get(reverse("membership_list", kwargs={"tenant_slug": world_a.tenant.slug}))
    assert page.status_code == 200 and "fien@zk.test" not in page.content.decode()


@pytest.mark.parametrize("role", Role.values)
def test_only_operators_reach_the_insurer_user_pages(role, zk, world_a, client_for):
    link = InsurerMembershipFactory(insurer=zk)
    client = client_for(world_a.user(role))
    urls = [
        reverse("platform_insurers"),
        reverse("platform_insurer_users", args=[zk.pk]),
    ]
    for url in urls:
        assert client.get(url).status_code == 403
        assert Client().get(url).status_code == 302
    assert client.post(urls[1], {"email": "x@y.test"}).status_code == 403
    assert client.post(reverse("platform_insurer_user_end", args=[zk.pk, link.pk])).status_code == 403
    link.refresh_from_db()
    assert link.is_active and not Invitation.unscoped.filter(email="x@y.test").exists()


def test_an_insurer_user_does_not_reach_the_pages_either(insurer_user, client_for):
    client = client_for(insurer_user)
    own = insurer_user.insurer_memberships.get().insurer
    assert client.get(reverse("platform_insurers")).status_code == 403
    assert (
        client.post(reverse("platform_insurer_users", args=[own.pk]), {"email": "x@y.test"}).status_code
        == 403
    )
    assert not Invitation.unscoped.filter(email="x@y.test").exists()


def test_the_admin_site_no_longer_makes_insurer_users(operator, zk):
    _user, client = operator
    assert client.get(reverse("admin:igo_insurermembership_add")).status_code == 403
    changelist = client.get(reverse("admin:igo_insurermembership_changelist")).content.decode()
    assert f'href="{reverse("platform_insurers")}"' in changelist
