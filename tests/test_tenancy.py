"""Tenant scoping fails closed, and no URL lets a user of one IGO reach another IGO's data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from billing.batches import batch_create
from billing.models import (
    Allocation,
    BatchFile,
    ClaimBatch,
    ClaimLine,
    Contract,
    ContractTariff,
    SplitRule,
)
from billing.services import contract_create
from igo.models import Invitation, Membership, Role
from igo.services import invitation_create
from igo.tenancy import TenantScopeError, current_tenant_or_none, tenant_scope
from pregnancies.models import AccessLogEntry, Birth, CareEvent, Episode
from providers.models import MemberOrganisation, Professional
from quality.models import ExperienceResponse
from tests.factories import (
    CareEventFactory,
    InsurerFactory,
    MemberOrganisationFactory,
    MembershipFactory,
    ProfessionalFactory,
)

pytestmark = pytest.mark.django_db


def test_query_without_tenant_raises(world_a):
    with pytest.raises(TenantScopeError):
        list(Membership.objects.all())


def test_scoped_query_sees_only_its_tenant(world_a, world_b):
    with tenant_scope(world_a.tenant):
        tenants = set(Membership.objects.values_list("tenant_id", flat=True))
    assert tenants == {world_a.tenant.pk}
    assert current_tenant_or_none() is None  # the scope is left cleanly


def test_scope_nests_and_restores(world_a, world_b):
    with tenant_scope(world_a.tenant):
        with tenant_scope(world_b.tenant):
            assert set(Membership.objects.values_list("tenant_id", flat=True)) == {world_b.tenant.pk}
        assert set(Membership.objects.values_list("tenant_id", flat=True)) == {world_a.tenant.pk}


def test_object_of_other_tenant_is_not_found_by_scoped_get(world_a, world_b):
    other = Membership.unscoped.filter(tenant=world_b.tenant).first()
    with tenant_scope(world_a.tenant), pytest.raises(Membership.DoesNotExist):
        Membership.objects.get(pk=other.pk)


def _tenant_url_patterns() -> list[tuple[str, list[str]]]:
    """Every named URL whose route takes a tenant slug, with its other parameters."""
    found: list[tuple[str, list[str]]] = []

    def walk(patterns, prefix_params: list[str]):  # type: ignore[no-untyped-def]
        for p in patterns:
            params = prefix_params + list(p.pattern.converters.keys())
            if isinstance(p, URLResolver):
                walk(p.url_patterns, params)
            elif isinstance(p, URLPattern) and p.name and "tenant_slug" in params:
                found.append((p.name, [x for x in params if x != "tenant_slug"]))

    walk(get_resolver().url_patterns, [])
    return found


TENANT_URLS = _tenant_url_patterns()


def billing_objects(world, *, episode: Episode, organisation: MemberOrganisation) -> ClaimLine:  # type: ignore[no-untyped-def]
    """A contract (through the service) and one claim line of `episode` with one allocation."""
    insurer = InsurerFactory(uzovi_code="3311", name="Zilveren Kruis")
    with tenant_scope(world.tenant):
        contract = contract_create(
            tenant=world.tenant,
            actor=world.user(Role.IGO_FINANCE),
            insurer=insurer,
            name=f"Contract {world.tenant.slug}",
            valid_from=dt.date(2026, 1, 1),
            tariffs={"prenatal": ("IGB-PRE", Decimal("1000.00"))},
        )
        tariff = ContractTariff.objects.get(contract=contract)
    line = ClaimLine.unscoped.create(
        tenant=world.tenant,
        episode=episode,
        phase="prenatal",
        number=f"{episode.pk}-PRE-D1",
        prestatie_code="IGB-PRE",
        contract=contract,
        tariff=tariff,
        insurer=insurer,
        policy_number="1",
        service_start=episode.intake_date,
        service_end=episode.intake_date + dt.timedelta(days=180),
        amount=Decimal("1000.00"),
    )
    Allocation.unscoped.create(
        tenant=world.tenant, claim_line=line, kind="member", organisation=organisation, amount=line.amount
    )
    return line


def batch_objects(world, *, line: ClaimLine) -> ClaimBatch:  # type: ignore[no-untyped-def]
    """A draft batch (through the service) holding `line`, for the month the line was booked in."""
    with tenant_scope(world.tenant):
        result = batch_create(
            tenant=world.tenant,
            insurer=line.insurer,
            period=timezone.localtime(line.created_at).date().replace(day=1),
            actor=world.user(Role.IGO_FINANCE),
        )
    assert result.batch is not None and result.batch.line_count == 1, result
    return result.batch


def _objects_of(world) -> dict[str, int | dict[str, int | str]]:  # type: ignore[no-untyped-def]
    """One object of each kind that a `pk` parameter may name, per URL name; for a URL with several
    parameters, all of them."""
    membership = Membership.unscoped.filter(tenant=world.tenant).first()
    with tenant_scope(world.tenant):
        invitation = invitation_create(
            tenant=world.tenant,
            actor=world.user(Role.IGO_ADMIN),
            email=f"new@{world.tenant.slug}.test",
            role=Role.MIDWIFE,
        )
    org = MemberOrganisationFactory(tenant=world.tenant)
    prof = ProfessionalFactory(tenant=world.tenant, organisation=org)
    event = CareEventFactory(tenant=world.tenant, professional=prof, created_by=world.user(Role.MIDWIFE))
    episode, client = event.episode, event.episode.client
    birth = Birth.unscoped.create(
        tenant=world.tenant, episode=episode, born_at=timezone.now(), place="home", mode="spontaneous"
    )
    line = billing_objects(world, episode=episode, organisation=org)
    batch = batch_objects(world, line=line)
    today = timezone.localdate()
    return {
        "client_detail": client.pk,
        "access_log_export": client.pk,
        "episode_detail": episode.pk,
        "event_create": episode.pk,
        "episode_history": episode.pk,
        "episode_key_dates": episode.pk,
        "birth_create": episode.pk,
        "episode_outcomes": episode.pk,
        "experience_create": episode.pk,
        "birth_outcome": birth.pk,
        "episode_end": episode.pk,
        "episode_line": episode.pk,
        "client_insurance": client.pk,
        "event_correct": event.pk,
        "event_void": event.pk,
        "catalogue_toggle": event.event_type_id,
        "membership_detail": membership.pk,
        "membership_end": membership.pk,
        "invitation_revoke": invitation.pk,
        "api_membership_detail": membership.pk,
        "organisation_detail": org.pk,
        "organisation_end": org.pk,
        "professional_edit": prof.pk,
        "professional_toggle": prof.pk,
        "api_client_detail": client.pk,
        "api_episode_detail": episode.pk,
        "api_episode_events": episode.pk,
        "api_event_correct": event.pk,
        "api_event_void": event.pk,
        "contract_new_version": line.contract_id,
        "quality_agreement_create": line.contract_id,
        "episode_claims": episode.pk,
        "claim_line_explain": line.pk,
        "api_contract_detail": line.contract_id,
        "api_claim_line_detail": line.pk,
        "api_claim_line_allocations": line.pk,
        "claim_line_rebill": line.pk,
        "batch_detail": batch.pk,
        "batch_release": batch.pk,
        "batch_rebuild": batch.pk,
        "batch_discard": batch.pk,
        "batch_file": {"pk": batch.pk, "kind": "csv"},
        "api_batch_detail": batch.pk,
        "statement_download": {"org_pk": org.pk, "year": today.year, "month": today.month, "fmt": "csv"},
        "quality_indicator": {"code": "caesarean"},
        "quality_episodes": {"code": "caesarean", "year": today.year, "month": today.month},
    }


# URLs whose parameters name no object of a tenant (an indicator code, a month): on A's URL they show
# A's own data. Their other-tenant objects (a member organisation in ?org=) are tried in their own tests.
NO_OBJECT_PARAMS = {"quality_indicator", "quality_episodes"}


def _kwargs(params: list[str], value: int | dict[str, int | str] | None) -> dict[str, int | str | None]:
    if isinstance(value, dict):
        assert set(value) == set(params), (params, value)
        return dict(value)
    return dict.fromkeys(params, value)


def test_every_tenant_url_is_covered_by_the_isolation_test():
    with_pk = {name for name, params in TENANT_URLS if params}
    known = {"membership_detail", "membership_end", "invitation_revoke", "api_membership_detail"}
    known |= {"organisation_detail", "organisation_end", "professional_edit", "professional_toggle"}
    known |= {"client_detail", "access_log_export", "episode_detail", "event_create", "episode_history"}
    known |= {"episode_key_dates", "birth_create", "episode_end", "event_correct", "event_void"}
    known |= {"episode_line", "client_insurance", "catalogue_toggle"}
    known |= {"episode_outcomes", "experience_create", "birth_outcome"}
    known |= {"api_client_detail", "api_episode_detail", "api_episode_events", "api_event_correct"}
    known |= {"api_event_void"}
    known |= {"contract_new_version", "episode_claims", "claim_line_explain", "api_contract_detail"}
    known |= {"quality_agreement_create"}
    known |= {"api_claim_line_detail", "api_claim_line_allocations"}
    known |= {"claim_line_rebill", "batch_detail", "batch_release", "batch_rebuild", "batch_discard"}
    known |= {"batch_file", "statement_download", "api_batch_detail"}
    known |= {"quality_indicator", "quality_episodes"}
    assert with_pk <= known, "A new tenant URL with an object parameter: add its object to _objects_of()"
    assert len(TENANT_URLS) >= 8


@pytest.mark.parametrize("name,params", TENANT_URLS, ids=[n for n, _ in TENANT_URLS])
def test_user_of_tenant_a_gets_404_for_tenant_b(name, params, world_a, world_b, client_for):
    objects_b = _objects_of(world_b)
    # A member of A with every role and a professional profile: any refusal is then the tenant wall.
    admin_a = world_a.user(Role.IGO_ADMIN)
    for role in Role.values:
        Membership.unscoped.get_or_create(tenant=world_a.tenant, user=admin_a, role=role)
    ProfessionalFactory(tenant=world_a.tenant, user=admin_a)
    client = client_for(admin_a)
    kwargs = _kwargs(params, objects_b.get(name))
    # Tenant B's own URL: A is no member of B.
    url_b = reverse(name, kwargs={"tenant_slug": world_b.tenant.slug, **kwargs})
    for method in ("get", "post"):
        response = getattr(client, method)(url_b)
        assert response.status_code == 404, (method, url_b, response.status_code)
    # Tenant A's URL naming B's object: the scoped query does not find it.
    if params and name not in NO_OBJECT_PARAMS:
        url_a = reverse(name, kwargs={"tenant_slug": world_a.tenant.slug, **kwargs})
        for method in ("get", "post"):
            response = getattr(client, method)(url_a)
            assert response.status_code in (404, 405), (method, url_a, response.status_code)
            assert response.status_code != 200
    # B's data is untouched by all of this.
    assert Membership.unscoped.filter(tenant=world_b.tenant, is_active=True).count() == len(Role.values)
    assert not Membership.unscoped.filter(tenant=world_b.tenant, user=admin_a).exists()
    assert Invitation.unscoped.filter(tenant=world_b.tenant, revoked_at__isnull=True).count() == 1
    assert MemberOrganisation.unscoped.get(tenant=world_b.tenant).member_until is None
    assert Professional.unscoped.get(tenant=world_b.tenant).is_active
    assert CareEvent.unscoped.get(tenant=world_b.tenant).status == "active"
    assert CareEvent.unscoped.get(tenant=world_b.tenant).event_type.is_active
    assert Episode.unscoped.get(tenant=world_b.tenant).status == "active"
    assert Episode.unscoped.get(tenant=world_b.tenant).blood_loss_ml is None
    assert not Birth.unscoped.get(tenant=world_b.tenant).nicu_admission
    assert not ExperienceResponse.unscoped.filter(tenant=world_b.tenant).exists()
    assert not AccessLogEntry.unscoped.filter(tenant=world_b.tenant, user=admin_a).exists()
    contract_b = Contract.unscoped.get(tenant=world_b.tenant)
    assert contract_b.valid_until is None and contract_b.name == f"Contract {world_b.tenant.slug}"
    assert ContractTariff.unscoped.filter(tenant=world_b.tenant).count() == 1
    line_b = ClaimLine.unscoped.get(tenant=world_b.tenant)
    assert (line_b.status, line_b.is_current, line_b.amount) == ("ready", True, Decimal("1000.00"))
    assert list(Allocation.unscoped.filter(tenant=world_b.tenant).values_list("amount", flat=True)) == [
        Decimal("1000.00")
    ]
    assert not SplitRule.unscoped.filter(tenant=world_b.tenant).exists()
    batch_b = ClaimBatch.unscoped.get(tenant=world_b.tenant)
    assert (batch_b.status, batch_b.line_count, batch_b.released_at) == ("draft", 1, None)
    assert BatchFile.unscoped.filter(batch=batch_b).count() == 3


@pytest.mark.parametrize("name,params", TENANT_URLS, ids=[n for n, _ in TENANT_URLS])
def test_outsider_and_anonymous_are_refused(name, params, world_b, outsider, client_for):
    objects_b = _objects_of(world_b)
    url = reverse(name, kwargs={"tenant_slug": world_b.tenant.slug, **_kwargs(params, objects_b.get(name))})
    assert client_for(outsider).get(url).status_code == 404
    response = Client().get(url)
    if url.startswith("/api/"):
        assert response.status_code in (401, 403)
    else:
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_unknown_tenant_is_404(world_a, client_for):
    assert client_for(world_a.user(Role.IGO_ADMIN)).get("/t/does-not-exist/").status_code == 404


def test_inactive_tenant_is_404(world_a, client_for):
    world_a.tenant.is_active = False
    world_a.tenant.save()
    assert client_for(world_a.user(Role.MIDWIFE)).get(f"/t/{world_a.tenant.slug}/").status_code == 404


def test_ended_membership_loses_access(world_a, client_for):
    membership = Membership.unscoped.get(tenant=world_a.tenant, user=world_a.user(Role.MIDWIFE))
    membership.is_active = False
    membership.save()
    assert client_for(world_a.user(Role.MIDWIFE)).get(f"/t/{world_a.tenant.slug}/").status_code == 404


def test_user_in_two_tenants_sees_each_separately(world_a, world_b, client_for):
    user = world_a.user(Role.MIDWIFE)
    MembershipFactory(tenant=world_b.tenant, user=user, role=Role.MIDWIFE)
    client = client_for(user)
    page_a = client.get(f"/t/{world_a.tenant.slug}/").content.decode()
    page_b = client.get(f"/t/{world_b.tenant.slug}/").content.decode()
    assert world_a.tenant.name in page_a and world_b.tenant.name in page_b
    # With two tenants and no earlier choice, the start page offers a choice instead of guessing.
    fresh = Client()
    fresh.force_login(user)
    response = fresh.get("/")
    assert response.status_code == 200
    assert (
        world_a.tenant.slug in response.content.decode() and world_b.tenant.slug in response.content.decode()
    )
