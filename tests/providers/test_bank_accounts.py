"""A member organisation's bank account: IBAN checked with schwifty, BIC optional (looked up from the IBAN),
an account holder required with an IBAN, every change audited with the IBANs masked."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from igo.banking import bank_account_check, iban_check, mask_iban
from igo.models import AuditEntry, Role
from igo.tenancy import tenant_scope
from providers.models import MemberOrganisation
from providers.services import organisation_create, organisation_update
from tests.scenarios.payouts import BAD_IBAN, HOSPITAL_IBAN, PRACTICE_IBAN, member

pytestmark = pytest.mark.django_db

ORG = {
    "name": "Verloskundigenpraktijk De Wieg",
    "kind": "midwifery_practice",
    "agb_code": "02123456",
    "member_from": "2025-01-01",
}


def test_iban_is_normalised_and_bic_derived():
    # Spaces and lower case as people type them; schwifty knows the bank of a Dutch IBAN.
    account = bank_account_check(iban=" nl44 rabo 0123 4567 89 ", bic="")
    assert (account.iban, account.bic) == (PRACTICE_IBAN, "RABONL2U")
    # A BIC given is kept (checked, in capitals).
    assert bank_account_check(iban=PRACTICE_IBAN, bic="rabonl2uxxx").bic == "RABONL2UXXX"
    assert mask_iban(PRACTICE_IBAN) == "****6789"


@pytest.mark.parametrize(
    "value,code",
    [
        (BAD_IBAN, "iban_checksum"),  # one digit off
        ("NL44RABO012345678", "iban_length"),
        ("XX44RABO0123456789", "iban_country"),
        ("NL44-RABO-0123", "iban_invalid"),
    ],
)
def test_iban_failing_its_check_is_refused_with_the_reason(value, code):
    with pytest.raises(ValidationError) as exc:
        iban_check(value)
    assert exc.value.code == code


def test_admin_enters_a_bank_account_on_the_organisation_page(world_a, client_for):
    admin = world_a.user(Role.IGO_ADMIN)
    client = client_for(admin)
    response = client.post(
        f"/t/{world_a.tenant.slug}/organisations/new/",
        {**ORG, "iban": "nl44 rabo 0123 4567 89", "bic": "", "account_holder": " Praktijk  De Wieg "},
    )
    assert response.status_code == 302
    org = MemberOrganisation.unscoped.get(tenant=world_a.tenant, agb_code="02123456")
    assert (org.iban, org.bic, org.account_holder) == (PRACTICE_IBAN, "RABONL2U", "Praktijk De Wieg")
    entry = AuditEntry.objects.get(tenant=world_a.tenant, action="organisation.create")
    assert entry.details["iban_new"] == "****6789" and PRACTICE_IBAN not in str(entry.details)

    # Changing it: the audit entry has the old and the new IBAN, both masked.
    response = client.post(
        f"/t/{world_a.tenant.slug}/organisations/{org.pk}/",
        {**ORG, "iban": HOSPITAL_IBAN, "bic": "", "account_holder": "Praktijk De Wieg"},
    )
    assert response.status_code == 302
    org.refresh_from_db()
    assert (org.iban, org.bic) == (HOSPITAL_IBAN, "INGBNL2A")
    entry = AuditEntry.objects.get(tenant=world_a.tenant, action="organisation.update")
    assert entry.details == {
        "iban_old": "****6789",
        "iban_new": "****4567",
        "bic_old": "RABONL2U",
        "bic_new": "INGBNL2A",
    }


def test_a_failing_iban_is_a_dutch_field_error_and_nothing_is_stored(world_a, client_for):
    client = client_for(world_a.user(Role.IGO_ADMIN))
    response = client.post(
        f"/t/{world_a.tenant.slug}/organisations/new/",
        {**ORG, "iban": BAD_IBAN, "account_holder": "Praktijk De Wieg"},
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["iban"] == [
        "Dit IBAN klopt niet (de controlecijfers kloppen niet); controleer het op een tikfout."
    ]
    assert not MemberOrganisation.unscoped.filter(tenant=world_a.tenant).exists()


def test_an_iban_needs_an_account_holder_and_a_bic_needs_an_iban(world_a):
    admin = world_a.user(Role.IGO_ADMIN)
    fields: dict[str, Any] = {**ORG, "member_from": datetime.date(2025, 1, 1)}
    with tenant_scope(world_a.tenant):
        with pytest.raises(ValidationError) as exc:
            organisation_create(tenant=world_a.tenant, actor=admin, **fields, iban=PRACTICE_IBAN)
        assert set(exc.value.message_dict) == {"account_holder"}
        with pytest.raises(ValidationError) as exc:
            organisation_create(tenant=world_a.tenant, actor=admin, **fields, bic="RABONL2U")
        assert set(exc.value.message_dict) == {"bic"}
        with pytest.raises(ValidationError) as exc:  # a bad IBAN and a bad BIC: both fields at once
            organisation_create(
                tenant=world_a.tenant, actor=admin, **fields, iban=BAD_IBAN, bic="RABO", account_holder="X"
            )
        assert set(exc.value.message_dict) == {"iban", "bic"}
    assert not MemberOrganisation.unscoped.filter(tenant=world_a.tenant).exists()


def test_update_without_bank_fields_keeps_the_account_and_removing_it_is_audited(world_a):
    admin = world_a.user(Role.IGO_ADMIN)
    org = member(tenant=world_a.tenant, iban=PRACTICE_IBAN, bic="RABONL2U", account_holder="De Wieg")
    base: dict[str, Any] = {
        "name": "Nieuwe naam",
        "kind": org.kind,
        "agb_code": org.agb_code,
        "member_from": org.member_from,
        "member_until": None,
    }
    with tenant_scope(world_a.tenant):
        organisation_update(organisation=org, actor=admin, **base)
        org.refresh_from_db()
        assert (org.name, org.iban) == ("Nieuwe naam", PRACTICE_IBAN)
        organisation_update(organisation=org, actor=admin, **base, iban="", bic="", account_holder="")
    org.refresh_from_db()
    assert (org.iban, org.bic, org.account_holder) == ("", "", "")
    last = AuditEntry.objects.filter(tenant=world_a.tenant, action="organisation.update").latest("pk")
    assert last.details["iban_old"] == "****6789" and last.details["iban_new"] == ""


def test_finance_sees_the_account_masked(world_a, client_for):
    org = member(tenant=world_a.tenant, iban=PRACTICE_IBAN, bic="RABONL2U", account_holder="De Wieg")
    html = (
        client_for(world_a.user(Role.IGO_FINANCE))
        .get(f"/t/{world_a.tenant.slug}/organisations/{org.pk}/")
        .content.decode()
    )
    assert "****6789" in html and PRACTICE_IBAN not in html
