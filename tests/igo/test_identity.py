"""Identities that stay put: a sign-in address changes only verified (by the user) or audited (by her IGO's
administrator), never to another account's address; the access log and the audit log keep the name and
address of the time, in the pages and in the export."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.db import connection
from django.test import Client

from igo.db import identity_snapshots_backfill
from igo.models import AuditEntry, Membership, Role, User
from igo.services import invitation_create
from igo.tenancy import tenant_scope
from pregnancies.models import AccessLogEntry
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.scenarios.files import csv_download

pytestmark = pytest.mark.django_db


def _confirm_link(message: mail.EmailMessage) -> str:
    found = re.search(r"https?://\S+(/accounts/email/confirm/\S+/)", message.body)
    assert found, message.body
    return found.group(1)


# --- the user changes her own address ------------------------------------------------------


def test_user_changes_her_address_only_after_confirming_it_at_the_new_address(
    world_a, client_for, django_capture_on_commit_callbacks
):
    midwife = world_a.user(Role.MIDWIFE)
    old = midwife.email
    browser = client_for(midwife)
    with django_capture_on_commit_callbacks(execute=True):
        asked = browser.post("/accounts/email/", {"email": "Nieuw.Adres@Example.test", "password": PASSWORD})
    assert asked.status_code == 302
    midwife.refresh_from_db()
    assert midwife.email == old  # nothing changes before the new address is confirmed
    [confirm] = mail.outbox
    assert confirm.to == ["nieuw.adres@example.test"]

    link = _confirm_link(confirm)
    assert browser.get(link).status_code == 200  # the GET shows the change, a mail scanner changes nothing
    midwife.refresh_from_db()
    assert midwife.email == old
    with django_capture_on_commit_callbacks(execute=True):
        done = browser.post(link)
    assert done.status_code == 302
    midwife.refresh_from_db()
    assert midwife.email == "nieuw.adres@example.test"
    notice = mail.outbox[-1]
    assert notice.to == [old] and "nieuw.adres@example.test" in notice.body
    change = AuditEntry.objects.get(action="user.email_change")
    assert change.details == {"old_email": old, "new_email": "nieuw.adres@example.test", "verified": True}
    assert change.actor_email == old  # who acted, as she was named when she acted

    # She signs in with the new address, no longer with the old one; the link cannot be used twice.
    assert Client().post("/accounts/login/", {"login": old, "password": PASSWORD}).status_code == 200
    fresh = Client()
    assert (
        fresh.post(
            "/accounts/login/", {"login": "nieuw.adres@example.test", "password": PASSWORD}
        ).status_code
        == 302
    )
    assert browser.post(link).status_code == 410


def test_a_wrong_password_or_a_forged_link_changes_nothing(world_a, client_for):
    midwife = world_a.user(Role.MIDWIFE)
    browser = client_for(midwife)
    wrong = browser.post("/accounts/email/", {"email": "nieuw@example.test", "password": "not-my-password"})
    assert wrong.status_code == 400 and wrong.context["form"].errors["password"]
    assert mail.outbox == []
    assert browser.post("/accounts/email/confirm/eyJ1Ijo.forged.token/").status_code == 410
    midwife.refresh_from_db()
    assert midwife.email == "midwife@alpha.test"


def test_a_link_for_one_user_does_not_work_for_another(
    world_a, client_for, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client_for(world_a.user(Role.MIDWIFE)).post(
            "/accounts/email/", {"email": "nieuw@example.test", "password": PASSWORD}
        )
    link = _confirm_link(mail.outbox[0])
    assert client_for(world_a.user(Role.GYNAECOLOGIST)).post(link).status_code == 410
    assert not User.objects.filter(email="nieuw@example.test").exists()


@pytest.mark.parametrize(
    "taken", ["gynaecologist@alpha.test", "GYNAECOLOGIST@alpha.test", "invited@example.test"]
)
def test_the_address_of_another_account_or_an_open_invitation_cannot_be_claimed(world_a, client_for, taken):
    with tenant_scope(world_a.tenant):
        invitation_create(
            tenant=world_a.tenant,
            actor=world_a.user(Role.IGO_ADMIN),
            email="invited@example.test",
            role=Role.MIDWIFE,
        )
    mail.outbox.clear()
    midwife = world_a.user(Role.MIDWIFE)
    response = client_for(midwife).post("/accounts/email/", {"email": taken, "password": PASSWORD})
    assert response.status_code == 400
    assert "cannot be used" in str(response.context["form"].errors["email"]) or "kan niet" in str(
        response.context["form"].errors["email"]
    )
    assert mail.outbox == []
    midwife.refresh_from_db()
    assert midwife.email == "midwife@alpha.test"


def test_allauths_make_primary_of_another_users_address_no_longer_gives_a_500(world_a, client_for):
    """Before: POST /accounts/email/ with action_primary for another user's address gave a 500 and left that
    address marked primary. The page is now ours: the request is a bad form, nothing changes."""
    midwife, other = world_a.user(Role.MIDWIFE), world_a.user(Role.GYNAECOLOGIST)
    browser = client_for(midwife)
    add = browser.post("/accounts/email/", {"action_add": "", "email": other.email})
    primary = browser.post("/accounts/email/", {"action_primary": "", "email": other.email})
    assert add.status_code == 400 and primary.status_code == 400
    assert not EmailAddress.objects.filter(email__iexact=other.email, user=midwife).exists()
    midwife.refresh_from_db()
    assert midwife.email == "midwife@alpha.test"


# --- the administrator changes a user's address --------------------------------------------


def test_administrator_changes_a_users_address_audited_with_both_addresses(
    world_a, client_for, django_capture_on_commit_callbacks
):
    admin, midwife = world_a.user(Role.IGO_ADMIN), world_a.user(Role.MIDWIFE)
    membership = Membership.unscoped.get(user=midwife)
    url = f"/t/{world_a.tenant.slug}/users/{membership.pk}/email/"
    browser = client_for(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(url, {"email": "m.jansen@example.test"})
    assert response.status_code == 302
    midwife.refresh_from_db()
    assert midwife.email == "m.jansen@example.test"
    entry = AuditEntry.objects.get(action="user.email_change")
    assert (entry.tenant, entry.actor, entry.actor_email) == (world_a.tenant, admin, admin.email)
    assert entry.details == {
        "old_email": "midwife@alpha.test",
        "new_email": "m.jansen@example.test",
        "verified": False,
    }
    assert sorted(m.to[0] for m in mail.outbox) == ["m.jansen@example.test", "midwife@alpha.test"]
    page = browser.get(f"/t/{world_a.tenant.slug}/users/{membership.pk}/").content.decode()
    assert "user.email_change" in page
    assert (
        Client()
        .post("/accounts/login/", {"login": "m.jansen@example.test", "password": PASSWORD})
        .status_code
        == 302
    )


def test_administrator_cannot_take_another_address_or_a_user_of_another_igo(world_a, world_b, client_for):
    admin, midwife = world_a.user(Role.IGO_ADMIN), world_a.user(Role.MIDWIFE)
    membership = Membership.unscoped.get(user=midwife)
    url = f"/t/{world_a.tenant.slug}/users/{membership.pk}/email/"
    taken = client_for(admin).post(url, {"email": world_b.user(Role.MIDWIFE).email})
    assert taken.status_code == 400 and taken.context["email_form"].errors["email"]

    # The midwife also works for IGO Beta: Alpha's administrator may no longer change her address.
    MembershipFactory(tenant=world_b.tenant, user=midwife, role=Role.MIDWIFE)
    shared = client_for(admin).post(url, {"email": "elders@example.test"})
    assert shared.status_code == 400 and shared.context["email_form"].errors["email"]
    assert client_for(world_a.user(Role.MIDWIFE)).post(url, {"email": "x@example.test"}).status_code == 403
    midwife.refresh_from_db()
    assert midwife.email == "midwife@alpha.test"
    assert not AuditEntry.objects.filter(action="user.email_change").exists()


# --- the logs keep the identity of the time ------------------------------------------------


def test_access_log_page_and_export_and_audit_log_show_the_address_of_the_time(
    care, client_for, django_capture_on_commit_callbacks
):
    admin, midwife = care.user(Role.IGO_ADMIN), care.user(Role.MIDWIFE)
    client_for(midwife).get(care.url(f"clients/{care.client.pk}/"))
    with tenant_scope(care.tenant):
        invitation_create(tenant=care.tenant, actor=midwife, email="later@example.test", role=Role.MIDWIFE)
    # The midwife's address and name change afterwards.
    with django_capture_on_commit_callbacks(execute=True):
        client_for(admin).post(
            care.url(f"users/{Membership.unscoped.get(user=midwife).pk}/email/"),
            {"email": "renamed@example.test"},
        )
    User.objects.filter(pk=midwife.pk).update(full_name="Anders Genoemd")

    browser = client_for(admin)
    page = browser.get(care.url(f"access-log/?client={care.client.pk}")).content.decode()
    assert "midwife@alpha.test" in page and "renamed@example.test" not in page
    export = browser.get(care.url(f"access-log/client/{care.client.pk}.csv"))
    rows = [list(r.values()) for r in csv_download(export).rows]
    views = [r for r in rows if r[3] == "view" and r[4] == "client"]
    # The midwife's views under the address she had; the administrator's own look at the page is logged too.
    assert any(r[1] == "midwife@alpha.test" for r in views)
    assert not any("renamed@example.test" in cell for r in rows for cell in r)
    assert all(r[7] != "Anders Genoemd" for r in views)
    # Searching by the address of the time still finds the entries.
    assert "midwife@alpha.test" in browser.get(care.url("access-log/?user=midwife@alpha")).content.decode()

    audit = browser.get(care.url("audit/")).content.decode()
    assert "midwife@alpha.test" in audit  # the invitation she sent, under her address of the time
    entry = AuditEntry.objects.get(action="invitation.create")
    assert (entry.actor_email, entry.actor.email) == ("midwife@alpha.test", "renamed@example.test")


def test_bulk_written_entries_get_the_snapshot_too(care):
    midwife = care.user(Role.MIDWIFE)
    with tenant_scope(care.tenant):
        AccessLogEntry.objects.bulk_create(
            [AccessLogEntry(tenant=care.tenant, user_id=midwife.pk, client=care.client, action="view")]
        )
    entry = AccessLogEntry.unscoped.get(user=midwife)
    assert (entry.user_name, entry.user_email) == (midwife.full_name, midwife.email)


def test_the_backfill_fills_existing_rows_through_the_append_only_trigger(care):
    """The data migration fills rows written before the columns existed, from the users as they are now
    (best effort), although the table refuses UPDATE: it switches the trigger off for its one statement."""
    midwife = care.user(Role.MIDWIFE)
    AccessLogEntry.unscoped.create(tenant=care.tenant, user=midwife, client=care.client, action="view")
    with connection.cursor() as cursor:  # a row as the old code wrote it: no snapshot
        cursor.execute(
            "INSERT INTO pregnancies_accesslogentry (tenant_id, at, user_id, client_id, action, object_type,"
            " object_id, detail, user_name, user_email, on_behalf_of_name, on_behalf_of_email)"
            " VALUES (%s, now(), %s, %s, 'view', '', '', 'old row', '', '', '', '')",
            [care.tenant.pk, midwife.pk, care.client.pk],
        )
    operation = identity_snapshots_backfill(
        "pregnancies_accesslogentry",
        {
            "user_id": ("user_name", "user_email"),
            "on_behalf_of_id": ("on_behalf_of_name", "on_behalf_of_email"),
        },
    )
    with connection.schema_editor() as editor:
        operation.code(None, editor)
    old = AccessLogEntry.unscoped.get(detail="old row")
    assert (old.user_name, old.user_email, old.on_behalf_of_email) == (midwife.full_name, midwife.email, "")
    if connection.vendor == "postgresql":  # the trigger is on again
        from django.db import DatabaseError, transaction

        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AccessLogEntry.unscoped.filter(pk=old.pk).update(detail="changed")


def test_existing_users_keep_signing_in(world_a):
    user = UserFactory(email="bestaand@example.test")
    assert not EmailAddress.objects.filter(user=user).exists()
    assert (
        Client()
        .post("/accounts/login/", {"login": "bestaand@example.test", "password": PASSWORD})
        .status_code
        == 302
    )
