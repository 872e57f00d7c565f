"""The API keys of someone whose access is ended, per kind of key:

- a personal key acts as its user: ending her last active role revokes it, and the API refuses it at check
  time anyway once she holds no active role (also when the role was ended some other way);
- a member-system key (fhir_io) and an insurer API key belong to the organisation: the end-of-access screen
  lists the ones she made and revokes them unless the administrator or operator unticks "also revoke the
  API keys she made"; a kept key is marked in the key lists as made by a user who is no longer active.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from fhir_io import services as fhir_services
from fhir_io.models import MemberApiKey
from igo import services
from igo.models import AuditEntry, InsurerApiToken, KeysRevokedBecause, Membership, PersonalApiToken, Role
from tests.factories import (
    InsurerFactory,
    InsurerMembershipFactory,
    MemberOrganisationFactory,
    MembershipFactory,
    UserFactory,
)
from tests.scenarios.people import give_totp

pytestmark = pytest.mark.django_db

ENDED = KeysRevokedBecause.ACCESS_ENDED


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def end_url(world, membership: Membership) -> str:
    return reverse("membership_end", args=[world.tenant.slug, membership.pk])


# --- personal keys -----------------------------------------------------------------------------------


def test_ending_her_last_role_revokes_her_personal_key_and_the_next_request_is_refused(world_a, client_for):
    finance = world_a.user(Role.IGO_FINANCE)
    token, key = services.personal_token_create(user=finance, name="Boekhouding")
    assert bearer(key).get("/api/me/").status_code == 200
    membership = Membership.unscoped.get(tenant=world_a.tenant, user=finance)
    admin = client_for(world_a.user(Role.IGO_ADMIN))
    page = admin.get(reverse("membership_detail", args=[world_a.tenant.slug, membership.pk])).content.decode()
    assert 'data-testid="end-personal-keys"' in page  # the screen says her key stops with it
    assert admin.post(end_url(world_a, membership)).status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_because == ENDED
    assert AuditEntry.objects.filter(action="personal_token.revoke", object_id=str(token.pk)).count() == 1
    assert bearer(key).get("/api/me/").status_code == 401
    assert bearer(key).get(f"/api/t/{world_a.tenant.slug}/users/").status_code == 401


def test_a_personal_key_of_a_user_without_an_active_role_is_refused_at_check_time(world_a):
    finance = world_a.user(Role.IGO_FINANCE)
    token, key = services.personal_token_create(user=finance, name="Boekhouding")
    # Her role ended without the service (an import, a hand-made fix): the key is not revoked, yet refused.
    Membership.unscoped.filter(user=finance).update(is_active=False)
    token.refresh_from_db()
    assert token.revoked_at is None
    assert bearer(key).get("/api/me/").status_code == 401


def test_a_user_with_a_role_elsewhere_keeps_her_key_but_loses_the_ended_igo(world_a, world_b, client_for):
    finance = world_a.user(Role.IGO_FINANCE)
    MembershipFactory(tenant=world_b.tenant, user=finance, role=Role.IGO_FINANCE)
    token, key = services.personal_token_create(user=finance, name="Boekhouding")
    assert bearer(key).get(f"/api/t/{world_a.tenant.slug}/users/").status_code == 200
    membership = Membership.unscoped.get(tenant=world_a.tenant, user=finance)
    client_for(world_a.user(Role.IGO_ADMIN)).post(end_url(world_a, membership))
    token.refresh_from_db()
    assert token.revoked_at is None  # it acts as her, and her roles are checked on each request
    assert bearer(key).get(f"/api/t/{world_a.tenant.slug}/users/").status_code in (403, 404)
    assert bearer(key).get(f"/api/t/{world_b.tenant.slug}/users/").status_code == 200


# --- member-system keys ------------------------------------------------------------------------------


@pytest.fixture
def leaving_admin(world_a):
    """A second administrator (an IGO keeps one) who made a member system's key."""
    user = UserFactory(email="beheer2@alpha.test")
    give_totp(user)
    membership = MembershipFactory(tenant=world_a.tenant, user=user, role=Role.IGO_ADMIN)
    organisation = MemberOrganisationFactory(tenant=world_a.tenant, name="Praktijk De Wieg")
    row, _key = fhir_services.member_key_create(
        tenant=world_a.tenant, actor=user, organisation=organisation, name="Praktijksysteem"
    )
    return membership, row


def test_the_end_screen_lists_her_member_keys_and_revokes_them_by_default(world_a, leaving_admin, client_for):
    membership, row = leaving_admin
    admin_user = world_a.user(Role.IGO_ADMIN)
    admin = client_for(admin_user)
    page = admin.get(reverse("membership_detail", args=[world_a.tenant.slug, membership.pk])).content.decode()
    assert 'data-testid="revoke-keys"' in page and 'name="revoke_keys" checked' in page
    assert "Praktijksysteem" in page and row.prefix in page
    admin.post(end_url(world_a, membership), {"keys_choice": "1", "revoke_keys": "on"})
    row.refresh_from_db()
    assert row.revoked_at is not None and row.revoked_because == ENDED
    entry = AuditEntry.objects.get(action="member_key.revoke", object_id=str(row.pk))
    assert (entry.actor, entry.tenant, entry.details["because"]) == (admin_user, world_a.tenant, ENDED)
    assert AuditEntry.objects.get(action="membership.end").details["keys_revoked"] is True


def test_a_kept_member_key_keeps_working_and_the_list_names_its_maker_inactive(
    world_a, leaving_admin, client_for
):
    membership, row = leaving_admin
    admin = client_for(world_a.user(Role.IGO_ADMIN))
    admin.post(end_url(world_a, membership), {"keys_choice": "1"})  # the box unticked
    row.refresh_from_db()
    assert row.revoked_at is None and row.is_usable()
    assert AuditEntry.objects.get(action="membership.end").details["keys_revoked"] is False
    listing = admin.get(reverse("fhir_member_keys", args=[world_a.tenant.slug])).content.decode()
    assert f'data-testid="maker-inactive-{row.pk}"' in listing
    assert "niet meer actief" in listing


def test_an_end_form_without_the_choice_revokes(world_a, leaving_admin, client_for):
    membership, row = leaving_admin
    client_for(world_a.user(Role.IGO_ADMIN)).post(end_url(world_a, membership))
    assert MemberApiKey.unscoped.get(pk=row.pk).revoked_because == ENDED


def test_ending_a_role_in_one_igo_leaves_her_keys_in_another(world_a, world_b, leaving_admin, client_for):
    membership, _row = leaving_admin
    MembershipFactory(tenant=world_b.tenant, user=membership.user, role=Role.IGO_ADMIN)
    elsewhere, _key = fhir_services.member_key_create(
        tenant=world_b.tenant,
        actor=membership.user,
        organisation=MemberOrganisationFactory(tenant=world_b.tenant),
        name="Ander systeem",
    )
    client_for(world_a.user(Role.IGO_ADMIN)).post(end_url(world_a, membership))
    assert MemberApiKey.unscoped.get(pk=elsewhere.pk).revoked_at is None


# --- insurer keys ------------------------------------------------------------------------------------


@pytest.fixture
def insurer_setup(client_for):
    operator = UserFactory(email="operator@platform.test", is_staff=True, is_superuser=True)
    give_totp(operator)
    zk = InsurerFactory(uzovi_code="3311", name="Zilveren Kruis")
    leaving = InsurerMembershipFactory(insurer=zk, user=UserFactory(email="carla@zk.test"))
    colleague = InsurerMembershipFactory(insurer=zk, user=UserFactory(email="piet@zk.test"))
    for link in (leaving, colleague):
        give_totp(link.user)
    token, key = services.insurer_token_create(user=leaving.user, insurer=zk, name="Declaratiesysteem")
    return client_for(operator), zk, leaving, colleague, token, key


def test_the_operator_sees_her_insurer_keys_and_ends_access_revoking_them(insurer_setup):
    operator, zk, leaving, _colleague, token, key = insurer_setup
    assert bearer(key).get("/api/insurer/batches/").status_code == 200
    page = operator.get(reverse("platform_insurer_users", args=[zk.pk])).content.decode()
    assert 'data-testid="revoke-keys"' in page and "Declaratiesysteem" in page
    operator.post(
        reverse("platform_insurer_user_end", args=[zk.pk, leaving.pk]),
        {"keys_choice": "1", "revoke_keys": "on"},
    )
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_because == ENDED
    entry = AuditEntry.objects.get(action="insurer_token.revoke", object_id=str(token.pk))
    assert entry.details["because"] == ENDED and entry.details["insurer"] == "3311"
    assert bearer(key).get("/api/insurer/batches/").status_code == 401


def test_a_kept_insurer_key_is_refused_and_the_portal_says_its_maker_left(insurer_setup, client_for):
    operator, zk, leaving, colleague, token, key = insurer_setup
    operator.post(reverse("platform_insurer_user_end", args=[zk.pk, leaving.pk]), {"keys_choice": "1"})
    token.refresh_from_db()
    assert token.revoked_at is None
    assert AuditEntry.objects.get(action="insurer_user.end").details["keys_revoked"] is False
    assert bearer(key).get("/api/insurer/batches/").status_code == 401  # its maker has no access
    portal = client_for(colleague.user).get(reverse("insurer_tokens")).content.decode()
    assert f'data-testid="maker-inactive-{token.pk}"' in portal
    # The colleague's own key is not marked.
    own, _own_key = services.insurer_token_create(user=colleague.user, insurer=zk, name="Eigen")
    portal = client_for(colleague.user).get(reverse("insurer_tokens")).content.decode()
    assert f'data-testid="maker-inactive-{own.pk}"' not in portal


def test_the_service_revokes_insurer_keys_by_default(insurer_setup):
    _operator, _zk, leaving, _colleague, token, _key = insurer_setup
    services.insurer_user_end(link=leaving, actor=leaving.user)
    assert InsurerApiToken.objects.get(pk=token.pk).revoked_because == ENDED
    assert not PersonalApiToken.objects.exists()
