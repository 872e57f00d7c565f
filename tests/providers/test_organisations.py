"""Member organisations and professionals: management by administrators, and bad input refused."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError

from igo.models import AuditEntry, Role
from igo.tenancy import tenant_scope
from providers.models import MemberOrganisation, Professional
from providers.services import organisation_create, professional_create
from tests.factories import MemberOrganisationFactory, ProfessionalFactory

pytestmark = pytest.mark.django_db

ORG = {
    "name": "Verloskundigenpraktijk De Wieg",
    "kind": "midwifery_practice",
    "agb_code": "02123456",
    "member_from": "2025-01-01",
}


def test_admin_creates_organisation_and_professional_through_the_pages(world_a, client_for):
    client = client_for(world_a.user(Role.IGO_ADMIN))
    base = f"/t/{world_a.tenant.slug}"
    assert client.post(f"{base}/organisations/new/", ORG).status_code == 302
    org = MemberOrganisation.unscoped.get(tenant=world_a.tenant, agb_code="02123456")
    midwife = world_a.user(Role.MIDWIFE)
    response = client.post(
        f"{base}/professionals/new/",
        {
            "full_name": "Carla Bakker",
            "discipline": "midwife",
            "organisation": org.pk,
            "agb_code": "03111111",
            "big_number": "19012345601",
            "user": midwife.pk,
        },
    )
    assert response.status_code == 302
    prof = Professional.unscoped.get(tenant=world_a.tenant, full_name="Carla Bakker")
    assert prof.user == midwife and prof.organisation == org
    listing = client.get(f"{base}/professionals/?q=Bakker").content.decode()
    assert "Carla Bakker" in listing and "19012345601" in listing
    assert AuditEntry.objects.filter(tenant=world_a.tenant, action__startswith="professional.").count() == 1


def test_search_filters_organisations_with_htmx_partial(world_a, client_for):
    MemberOrganisationFactory(tenant=world_a.tenant, name="Kraamzorg Het Nest", kind="kraamzorg")
    MemberOrganisationFactory(tenant=world_a.tenant, name="Ziekenhuis Zuid", kind="hospital")
    client = client_for(world_a.user(Role.IGO_FINANCE))
    html = client.get(
        f"/t/{world_a.tenant.slug}/organisations/?q=nest", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Kraamzorg Het Nest" in html and "Ziekenhuis Zuid" not in html
    assert "<html" not in html  # only the table is swapped in


@pytest.mark.parametrize(
    "change,field",
    [
        ({"agb_code": "0212345"}, "agb_code"),
        ({"agb_code": "02x23456"}, "agb_code"),
        ({"member_from": "2025-02-30"}, "member_from"),
        ({"member_until": "2024-12-31"}, "member_until"),
        ({"kind": "bakery"}, "kind"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_organisation_input_gives_field_errors_and_stores_nothing(change, field, world_a, client_for):
    client = client_for(world_a.user(Role.IGO_ADMIN))
    response = client.post(f"/t/{world_a.tenant.slug}/organisations/new/", {**ORG, **change})
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert not MemberOrganisation.unscoped.filter(tenant=world_a.tenant).exists()


def test_duplicate_organisation_agb_in_same_tenant_is_refused_but_allowed_elsewhere(world_a, world_b):
    admin_a, admin_b = world_a.user(Role.IGO_ADMIN), world_b.user(Role.IGO_ADMIN)
    fields = {**ORG, "member_from": datetime.date(2025, 1, 1)}
    with tenant_scope(world_a.tenant):
        organisation_create(tenant=world_a.tenant, actor=admin_a, **fields)
        with pytest.raises(ValidationError) as exc:
            organisation_create(tenant=world_a.tenant, actor=admin_a, **fields)
        assert "agb_code" in exc.value.message_dict
    with tenant_scope(world_b.tenant):
        organisation_create(tenant=world_b.tenant, actor=admin_b, **fields)
    assert MemberOrganisation.unscoped.filter(agb_code=ORG["agb_code"]).count() == 2


def test_professional_rules(world_a, world_b):
    admin = world_a.user(Role.IGO_ADMIN)
    org = MemberOrganisationFactory(tenant=world_a.tenant)
    org_b = MemberOrganisationFactory(tenant=world_b.tenant)
    base = {"full_name": "Test", "discipline": "midwife", "organisation": org, "agb_code": "", "user": None}
    with tenant_scope(world_a.tenant):
        with pytest.raises(ValidationError) as exc:  # a midwife needs a BIG number
            professional_create(tenant=world_a.tenant, actor=admin, **base, big_number="")
        assert "big_number" in exc.value.message_dict
        with pytest.raises(ValidationError) as exc:  # an organisation of another IGO
            professional_create(
                tenant=world_a.tenant, actor=admin, **{**base, "organisation": org_b}, big_number="1" * 11
            )
        assert "organisation" in exc.value.message_dict
        with pytest.raises(ValidationError) as exc:  # a user without a role in this IGO
            professional_create(
                tenant=world_a.tenant,
                actor=admin,
                **{**base, "user": world_b.user(Role.MIDWIFE)},
                big_number="1" * 11,
            )
        assert "user" in exc.value.message_dict
        # A maternity carer has no BIG registration.
        carer = professional_create(
            tenant=world_a.tenant, actor=admin, **{**base, "discipline": "maternity_carer"}, big_number=""
        )
        assert carer.pk
        with pytest.raises(ValidationError) as exc:  # one professional per user
            ProfessionalFactory(tenant=world_a.tenant, organisation=org, user=world_a.user(Role.MIDWIFE))
            professional_create(
                tenant=world_a.tenant,
                actor=admin,
                **{**base, "user": world_a.user(Role.MIDWIFE)},
                big_number="1" * 11,
            )
        assert "user" in exc.value.message_dict
    assert Professional.unscoped.filter(tenant=world_a.tenant).count() == 2


def test_professional_form_offers_only_this_tenants_organisations_and_users(world_a, world_b, client_for):
    MemberOrganisationFactory(tenant=world_b.tenant, name="Alleen in Beta")
    MemberOrganisationFactory(tenant=world_a.tenant, name="Alleen in Alpha")
    html = (
        client_for(world_a.user(Role.IGO_ADMIN))
        .get(f"/t/{world_a.tenant.slug}/professionals/new/")
        .content.decode()
    )
    assert "Alleen in Alpha" in html and "Alleen in Beta" not in html
    assert world_a.user(Role.MIDWIFE).email in html and world_b.user(Role.MIDWIFE).email not in html


def test_end_membership_and_deactivate_professional(world_a, client_for):
    client = client_for(world_a.user(Role.IGO_ADMIN))
    org = MemberOrganisationFactory(tenant=world_a.tenant)
    prof = ProfessionalFactory(tenant=world_a.tenant, organisation=org)
    base = f"/t/{world_a.tenant.slug}"
    refused = client.post(f"{base}/organisations/{org.pk}/end/", {"until": "2023-12-31"})
    assert refused.status_code == 400  # before the start: refused at the field, as she typed it
    assert "until" in refused.context["end_form"].errors and 'value="2023-12-31"' in refused.content.decode()
    org.refresh_from_db()
    assert org.member_until is None
    assert client.post(f"{base}/organisations/{org.pk}/end/", {"until": "2026-12-31"}).status_code == 302
    org.refresh_from_db()
    assert org.member_until == datetime.date(2026, 12, 31)
    assert client.post(f"{base}/professionals/{prof.pk}/toggle/").status_code == 302
    prof.refresh_from_db()
    assert not prof.is_active


def test_finance_can_read_but_not_change_an_organisation(world_a, client_for):
    org = MemberOrganisationFactory(tenant=world_a.tenant, name="Oud")
    client = client_for(world_a.user(Role.IGO_FINANCE))
    url = f"/t/{world_a.tenant.slug}/organisations/{org.pk}/"
    assert client.get(url).status_code == 200
    assert client.post(url, {**ORG, "name": "Nieuw"}).status_code == 403
    org.refresh_from_db()
    assert org.name == "Oud"


@pytest.mark.parametrize("agb", ["0212345", "021234567", "02x23456"])
def test_a_bad_agb_code_gets_one_message_on_both_forms(agb, world_a, client_for):
    """Only the 8-digit message, not Django's "at least/at most 8 characters" beside it."""
    client = client_for(world_a.user(Role.IGO_ADMIN))
    base = f"/t/{world_a.tenant.slug}"
    response = client.post(f"{base}/organisations/new/", {**ORG, "agb_code": agb})
    assert response.status_code == 400
    assert response.context["form"].errors["agb_code"] == ["Een AGB-code bestaat uit precies 8 cijfers."]
    org = MemberOrganisationFactory(tenant=world_a.tenant)
    response = client.post(
        f"{base}/professionals/new/",
        {
            "full_name": "Carla Bakker",
            "discipline": "maternity_carer",
            "organisation": org.pk,
            "agb_code": agb,
        },
    )
    assert response.status_code == 400
    assert response.context["form"].errors["agb_code"] == ["Een AGB-code bestaat uit precies 8 cijfers."]
    assert 'maxlength="8"' in response.content.decode()
    assert not Professional.unscoped.filter(tenant=world_a.tenant).exists()


@pytest.mark.parametrize("big", ["190123456012", "1901234560", "1901234560x"])
def test_a_bad_big_number_gets_one_message(big, world_a, client_for):
    """Only the 11-digit message, not Django's "at most 11 characters" beside it (12 digits gave both)."""
    client = client_for(world_a.user(Role.IGO_ADMIN))
    org = MemberOrganisationFactory(tenant=world_a.tenant)
    response = client.post(
        f"/t/{world_a.tenant.slug}/professionals/new/",
        {"full_name": "Anna de Vries", "discipline": "midwife", "organisation": org.pk, "big_number": big},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["big_number"] == ["Een BIG-nummer bestaat uit precies 11 cijfers."]
    assert 'maxlength="11"' in response.content.decode()
    assert not Professional.unscoped.filter(tenant=world_a.tenant).exists()
