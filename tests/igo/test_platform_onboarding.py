"""A new IGO from the operator's side: the first administrator's invitation can be made again on /platform/
(a typo, an expired link, a mail that never arrived), and the admin site no longer makes IGOs or
invitations that skip the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from igo.models import AuditEntry, Invitation, Role, Tenant
from igo.selectors import invitation_token
from igo.services import tenant_create
from igo.tasks import invitation_send
from tests.factories import UserFactory
from tests.scenarios.people import give_totp

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client_for):  # type: ignore[no-untyped-def]
    user = UserFactory(email="operator@platform.test", is_staff=True, is_superuser=True)
    give_totp(user)
    return user, client_for(user)


def _new_igo(operator_user):  # type: ignore[no-untyped-def]
    return tenant_create(
        actor=operator_user,
        name="IGO Twente",
        slug="igo-twente",
        agb_code="53123456",
        first_admin_email="baas@twnete.test",  # the typo the operator made
    )


def test_operator_reinvites_the_first_administrator_and_only_the_new_link_works(
    operator, django_capture_on_commit_callbacks
):
    user, client = operator
    tenant, first = _new_igo(user)
    listing = client.get("/platform/").content.decode()
    # The page shows the pending invitation and that its mail was not sent yet.
    assert "baas@twnete.test" in listing and "niet verstuurd" in listing

    url = reverse("platform_admin_invite", args=[tenant.pk])
    page = client.get(url)
    assert page.status_code == 200 and page.context["form"].initial["email"] == "baas@twnete.test"
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, {"email": "baas@twente.test"})
    assert response.status_code == 302 and len(callbacks) == 1  # the mail job, once committed

    first.refresh_from_db()
    assert first.revoked_at is not None
    new = Invitation.unscoped.get(tenant=tenant, revoked_at__isnull=True)
    assert new.email == "baas@twente.test" and new.role == Role.IGO_ADMIN
    assert invitation_send.apply(args=[new.pk]).get()["sent"] is True
    assert invitation_send.apply(args=[first.pk]).get()["sent"] is False  # a withdrawn one is never sent
    assert [m.to for m in mail.outbox] == [["baas@twente.test"]]
    # The old link tells its holder to ask the operator: the IGO has no administrator to ask yet.
    old = Client().get(reverse("invitation_accept", args=[invitation_token(first)]))
    assert old.status_code == 410 and "platformbeheerder" in old.content.decode()
    assert Client().get(reverse("invitation_accept", args=[invitation_token(new)])).status_code == 200
    actions = list(AuditEntry.objects.filter(tenant=tenant).values_list("action", flat=True))
    assert {"invitation.revoke", "invitation.create", "tenant.admin_invite"} <= set(actions)
    entry = AuditEntry.objects.get(action="tenant.admin_invite")
    assert entry.actor == user and entry.details == {
        "email": "baas@twente.test",
        "revoked": ["baas@twnete.test"],
    }
    listing = client.get("/platform/").content.decode()
    assert "baas@twente.test" in listing and "verstuurd op" in listing and "baas@twnete" not in listing


@pytest.mark.dated
def test_an_expired_first_invitation_can_be_sent_again_to_the_same_address(operator, time_machine):
    user, client = operator
    time_machine.move_to("2026-03-02 09:00 +01:00")
    tenant, first = _new_igo(user)
    invitation_send.apply(args=[first.pk])
    time_machine.move_to("2026-04-20 09:00 +02:00")  # well past the validity
    page = client.get("/platform/").content.decode()
    assert "verlopen" in page
    response = client.post(reverse("platform_admin_invite", args=[tenant.pk]), {"email": "baas@twnete.test"})
    assert response.status_code == 302
    new = Invitation.unscoped.get(tenant=tenant, revoked_at__isnull=True)
    assert new.pk != first.pk and new.expires_at > timezone.now() + timedelta(days=1)


def test_a_bad_address_is_a_field_error_and_nothing_changes(operator):
    user, client = operator
    tenant, first = _new_igo(user)
    response = client.post(reverse("platform_admin_invite", args=[tenant.pk]), {"email": "geen-adres"})
    assert response.status_code == 400 and response.context["form"].errors["email"]
    first.refresh_from_db()
    assert first.revoked_at is None and Invitation.unscoped.filter(tenant=tenant).count() == 1


def test_an_existing_administrator_is_refused_at_the_field(operator, world_a):
    _user, client = operator
    admin = world_a.user(Role.IGO_ADMIN)
    response = client.post(reverse("platform_admin_invite", args=[world_a.tenant.pk]), {"email": admin.email})
    assert response.status_code == 400 and response.context["form"].errors["email"]


def test_only_operators_reach_the_invitation_page(world_a, client_for):
    url = reverse("platform_admin_invite", args=[world_a.tenant.pk])
    admin = client_for(world_a.user(Role.IGO_ADMIN))
    assert admin.get(url).status_code == 403
    assert admin.post(url, {"email": "x@y.test"}).status_code == 403
    assert not Invitation.unscoped.filter(email="x@y.test").exists()
    assert Client().get(url).status_code == 302


def test_the_operator_page_does_not_grow_in_queries_with_igos(operator, django_assert_max_num_queries):
    user, client = operator
    for n in range(4):
        tenant_create(
            actor=user,
            name=f"IGO {n}",
            slug=f"igo-{n}",
            agb_code=f"5300000{n}",
            first_admin_email=f"a{n}@b.test",
        )
    with django_assert_max_num_queries(12):
        page = client.get("/platform/")
    assert page.status_code == 200 and page.content.decode().count('data-testid="admin-invite-link"') == 4


def test_the_admin_site_lists_invitations_read_only(operator):
    user, client = operator
    assert client.get(reverse("admin:igo_invitation_add")).status_code == 403
    invitation = tenant_create(
        actor=user, name="Y", slug="y", agb_code="53999998", first_admin_email="y@y.test"
    )[1]
    change = reverse("admin:igo_invitation_change", args=[invitation.pk])
    assert client.get(change).status_code == 200  # view only
    client.post(change, {"email": "other@y.test"})
    invitation.refresh_from_db()
    assert invitation.email == "y@y.test"
    assert client.get(reverse("admin:igo_invitation_delete", args=[invitation.pk])).status_code == 403


def test_the_admin_site_adds_no_igo_and_points_to_the_platform_page(operator):
    _user, client = operator
    assert client.get(reverse("admin:igo_tenant_add")).status_code == 403
    response = client.post(
        reverse("admin:igo_tenant_add"), {"name": "X", "slug": "x", "agb_code": "53999999"}
    )
    assert response.status_code == 403
    assert not Tenant.objects.filter(slug="x").exists()
    changelist = client.get(reverse("admin:igo_tenant_changelist")).content.decode()
    assert f'href="{reverse("platform_tenants")}"' in changelist
