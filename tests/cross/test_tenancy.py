"""Tenant scoping fails closed, and no URL lets a user of one IGO reach another IGO's data.

The URL checks build on the factories' episode of 2026 and a batch of its claim line: they are seen from
BILLING_NOW (`pytest.mark.clock`). The pages that open at the current month or year are tried once more at
whatever moment the clock shows (`dated`: the test command repeats it at month ends, New Year, DST nights).
"""

from __future__ import annotations

from decimal import Decimal
from typing import cast

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import (
    Allocation,
    BatchFile,
    ClaimBatch,
    ClaimLine,
    Contract,
    ContractTariff,
    Payout,
    PayoutFile,
    PayoutRun,
    SplitRule,
    WorkItem,
    WorkReason,
)
from fhir_io.models import FhirImportJob
from fhir_io.services import member_key_create
from igo.models import Invitation, Membership, Role, Tenant, User
from igo.services import invitation_create
from igo.tenancy import TenantScopeError, current_tenant_or_none, tenant_scope
from pregnancies.models import AccessLogEntry, Birth, CareEvent, Episode
from providers.models import MemberOrganisation, Professional
from quality.models import ExperienceResponse
from tests.factories import (
    CareEventFactory,
    MemberOrganisationFactory,
    MembershipFactory,
    ProfessionalFactory,
)
from tests.scenarios.billing import BILLING_NOW
from tests.scenarios.payouts import payout_objects
from tests.scenarios.people import TenantWorld, sign_in
from tests.scenarios.repricing import reprice_job
from tests.scenarios.tenancy import TENANT_URLS, batch_objects, billing_objects, booked_in
from tests.scenarios.whatif import simulation_objects

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
    member_key, _key = member_key_create(
        tenant=world.tenant, actor=world.user(Role.IGO_ADMIN), organisation=org, name="HIS"
    )  # issue 21
    event = CareEventFactory(tenant=world.tenant, professional=prof, created_by=world.user(Role.MIDWIFE))
    episode, client = event.episode, event.episode.client
    birth = Birth.unscoped.create(
        tenant=world.tenant, episode=episode, born_at=timezone.now(), place="home", mode="spontaneous"
    )
    line = billing_objects(world, episode=episode, organisation=org)
    batch = batch_objects(world, line=line)
    debt = WorkItem.unscoped.create(
        tenant=world.tenant,
        organisation=org,
        reason=WorkReason.FORMER_MEMBER_DEBT,
        amount=Decimal("65.10"),
        message="Oud-lid met een schuld",
    )
    payout = payout_objects(world, organisation=cast(MemberOrganisation, org))
    month = booked_in(line)
    simulation = simulation_objects(world, episode=episode, contract_id=line.contract_id)
    return {
        "client_detail": client.pk,
        "access_log_export": client.pk,
        "episode_detail": episode.pk,
        "event_create": episode.pk,
        "episode_history": episode.pk,
        "episode_key_dates": episode.pk,
        "episode_kraamzorg": episode.pk,
        "episode_delivery": episode.pk,
        "episode_outcomes": episode.pk,
        "today_log": episode.pk,
        "today_indication": episode.pk,
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
        "membership_email": membership.pk,
        "invitation_revoke": invitation.pk,
        "api_membership_detail": membership.pk,
        "organisation_detail": org.pk,
        "organisation_end": org.pk,
        "professional_edit": prof.pk,
        "professional_toggle": prof.pk,
        "fhir_member_key_revoke": member_key.pk,  # issue 21
        "fhir_bsn_misses_reset": member_key.pk,
        "fhir_episode_export": episode.pk,  # issue 21
        "api_fhir_import_job": FhirImportJob.unscoped.create(
            tenant=world.tenant, organisation=org, key=member_key, body=b"{}", body_sha256="-"
        ).pk,  # issue 21
        "api_client_detail": client.pk,
        "episode_new": client.pk,  # issue 17
        "api_client_episodes": client.pk,  # issue 17
        "api_episode_detail": episode.pk,
        "api_episode_events": episode.pk,
        "api_episode_delivery": episode.pk,  # issue 17
        "api_event_correct": event.pk,
        "api_event_void": event.pk,
        "contract_new_version": line.contract_id,
        "contract_reprice": line.contract_id,
        "contract_reprice_progress": {
            "pk": line.contract_id,
            "job": reprice_job(world.tenant.pk, line.contract_id, world.user(Role.IGO_FINANCE).pk),
        },
        "contract_detail": line.contract_id,
        "quality_agreement_create": line.contract_id,
        "episode_claims": episode.pk,
        "claim_line_explain": line.pk,
        "api_contract_detail": line.contract_id,
        "api_claim_line_detail": line.pk,
        "api_claim_line_allocations": line.pk,
        "claim_line_rebill": line.pk,
        "claim_line_credit_resend": line.pk,
        "work_item_resolve": debt.pk,
        "member_repayment": {"org_pk": org.pk},
        "partial_decision": {"pk": episode.pk, "phase": "prenatal"},  # issue 14
        "batch_detail": batch.pk,
        "batch_release": batch.pk,
        "batch_rebuild": batch.pk,
        "batch_discard": batch.pk,
        "batch_file": {"pk": batch.pk, "kind": "csv"},
        "batch_payment_record": batch.pk,
        "api_batch_detail": batch.pk,
        "statement_download": {"org_pk": org.pk, "year": month.year, "month": month.month, "fmt": "csv"},
        "quality_indicator": {"code": "caesarean"},
        "quality_episodes": {"code": "caesarean", "year": month.year, "month": month.month},
        "payout_detail": payout.run_id,
        "payout_release": payout.run_id,
        "payout_discard": payout.run_id,
        "payout_sepa": payout.run_id,
        "payout_statement_download": {"pk": payout.run_id, "payout_pk": payout.pk, "fmt": "csv"},
        "whatif_new_contract": line.contract_id,  # issue 19
        **dict.fromkeys(
            ("whatif_detail", "whatif_progress", "whatif_adopt", "whatif_csv", "whatif_pdf"), simulation.pk
        ),
    }


# URLs whose parameters name no object of a tenant (an indicator code, a month): on A's URL they show
# A's own data. Their other-tenant objects (a member organisation in ?org=) are tried in their own tests.
NO_OBJECT_PARAMS = {"quality_indicator", "quality_episodes"}

# URLs that take no browser session, only a key of their own: a signed-in user of A is refused (401) before
# any IGO is looked at. The key's own wall (another IGO's address answers 404) is tried where it is made.
KEY_ONLY = {  # issue 21
    "api_fhir_import": "member system key only: tests/fhir_io/test_keys.py",
    "api_fhir_import_ndjson": "member system key only: tests/fhir_io/test_ndjson.py",
    "api_fhir_import_job": "member system key only: tests/fhir_io/test_jobs.py",
}


def _kwargs(params: list[str], value: int | dict[str, int | str] | None) -> dict[str, int | str | None]:
    if isinstance(value, dict):
        assert set(value) == set(params), (params, value)
        return dict(value)
    return dict.fromkeys(params, value)


def test_every_tenant_url_is_covered_by_the_isolation_test():
    with_pk = {name for name, params in TENANT_URLS if params}
    known = {
        "membership_detail",
        "membership_end",
        "membership_email",
        "invitation_revoke",
        "api_membership_detail",
    }
    known |= {"organisation_detail", "organisation_end", "professional_edit", "professional_toggle"}
    known |= {"client_detail", "access_log_export", "episode_detail", "event_create", "episode_history"}
    known |= {"episode_key_dates", "episode_delivery", "episode_end", "event_correct", "event_void"}
    known |= {"episode_line", "client_insurance", "catalogue_toggle", "episode_kraamzorg"}
    known |= {"episode_outcomes", "experience_create", "birth_outcome"}
    known |= {"today_log", "today_indication"}  # issue 17: the maternity carer's day list
    known |= {"api_client_detail", "api_episode_detail", "api_episode_events", "api_event_correct"}
    known |= {"api_event_void", "api_episode_delivery"}
    known |= {"contract_new_version", "episode_claims", "claim_line_explain", "api_contract_detail"}
    known |= {"quality_agreement_create"}
    known |= {"contract_detail", "contract_reprice", "contract_reprice_progress"}
    known |= {"api_claim_line_detail", "api_claim_line_allocations"}
    known |= {"claim_line_credit_resend", "work_item_resolve", "member_repayment"}
    known |= {"claim_line_rebill", "batch_detail", "batch_release", "batch_rebuild", "batch_discard"}
    known |= {"batch_file", "statement_download", "api_batch_detail"}
    known |= {"batch_payment_record"}
    known |= {"quality_indicator", "quality_episodes"}
    known |= {"partial_decision"}  # issue 14
    known |= {"episode_new", "api_client_episodes"}  # issue 17: a new pregnancy
    known |= {"payout_detail", "payout_release", "payout_discard", "payout_sepa", "payout_statement_download"}
    known |= {"whatif_new_contract", "whatif_detail", "whatif_progress", "whatif_adopt", "whatif_csv"}
    known |= {"whatif_pdf"}  # issue 19
    known |= {"fhir_member_key_revoke", "fhir_episode_export", "api_fhir_import_job"}  # issue 21
    known |= {"fhir_bsn_misses_reset"}  # probing BSNs
    assert with_pk <= known, "A new tenant URL with an object parameter: add its object to _objects_of()"
    assert len(TENANT_URLS) >= 8


def member_with_every_role(world: TenantWorld) -> User:
    """The world's administrator, given every role and a professional profile: a refusal is then the
    tenant wall, not a missing role."""
    admin = world.user(Role.IGO_ADMIN)
    for role in Role.values:
        Membership.unscoped.get_or_create(tenant=world.tenant, user=admin, role=role)
    ProfessionalFactory(tenant=world.tenant, user=admin)
    return admin


@pytest.mark.clock(BILLING_NOW)
@pytest.mark.parametrize("name,params", TENANT_URLS, ids=[n for n, _ in TENANT_URLS])
def test_user_of_tenant_a_gets_404_for_tenant_b(name, params, world_a, world_b, client_for):
    objects_b = _objects_of(world_b)
    admin_a = member_with_every_role(world_a)
    client = client_for(admin_a)
    kwargs = _kwargs(params, objects_b.get(name))
    # Tenant B's own URL: A is no member of B.
    url_b = reverse(name, kwargs={"tenant_slug": world_b.tenant.slug, **kwargs})
    for method in ("get", "post"):
        response = getattr(client, method)(url_b)
        expected = 401 if name in KEY_ONLY else 404
        assert response.status_code == expected, (method, url_b, response.status_code)
    # Tenant A's URL naming B's object: the scoped query does not find it.
    # (A key-only URL refuses the session first: 401; its own wall is tried where its key is.)
    if params and name not in NO_OBJECT_PARAMS and name not in KEY_ONLY:
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
    run_b = PayoutRun.unscoped.get(tenant=world_b.tenant)
    assert (run_b.status, run_b.released_by) == ("prepared", None)
    assert Payout.unscoped.filter(run=run_b).count() == 1 and PayoutFile.unscoped.filter(run=run_b).exists()
    tenant_b = Tenant.objects.get(pk=world_b.tenant.pk)
    assert (tenant_b.iban, tenant_b.bic) == ("", "")


@pytest.mark.clock(BILLING_NOW)
@pytest.mark.parametrize("name,params", TENANT_URLS, ids=[n for n, _ in TENANT_URLS])
def test_outsider_and_anonymous_are_refused(name, params, world_b, outsider, client_for):
    objects_b = _objects_of(world_b)
    url = reverse(name, kwargs={"tenant_slug": world_b.tenant.slug, **_kwargs(params, objects_b.get(name))})
    assert client_for(outsider).get(url).status_code == (401 if name in KEY_ONLY else 404)
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
    fresh = sign_in(Client(), user)
    response = fresh.get("/")
    assert response.status_code == 200
    assert (
        world_a.tenant.slug in response.content.decode() and world_b.tenant.slug in response.content.decode()
    )


@pytest.mark.dated
def test_pages_of_the_current_period_show_a_its_own_data_and_answer_b_404(world_a, world_b, client_for):
    """The pages that open at the clock's day, month or year (today's clients, this month's batches, last
    month's statements, the year's revenue, quality and agreements), at whatever moment the clock shows: the
    dated pass tries month ends, New Year and the DST nights, where a UTC date is another day or year."""
    event = CareEventFactory(tenant=world_a.tenant, created_by=world_a.user(Role.MIDWIFE))
    line = billing_objects(world_a, episode=event.episode, organisation=event.organisation)
    month = booked_in(line)  # the clock's month on the Amsterdam calendar: the part below was allocated now
    client_a = client_for(member_with_every_role(world_a))
    client_b = client_for(world_b.user(Role.IGO_ADMIN))
    slug = world_a.tenant.slug
    pages = {
        "tenant_dashboard": {},
        "care_today": {},
        "care_home": {},
        "episode_detail": {"pk": event.episode_id},
        "claim_list": {},
        "claim_list_export": {},
        "finance_home": {},
        "revenue": {},
        "work_queue": {},
        "batch_list": {},
        "statement_list": {},
        "statement_download": {
            "org_pk": event.organisation_id,
            "year": month.year,
            "month": month.month,
            "fmt": "csv",
        },
        "split_rule_create": {},
        "quality_agreements": {},
        "quality_agreement_create": {"pk": line.contract_id},
        "quality_dashboard": {},
        "quality_indicator": {"code": "caesarean"},
        "quality_episodes": {"code": "caesarean", "year": month.year, "month": month.month},
    }
    for name, kwargs in pages.items():
        url = reverse(name, kwargs={"tenant_slug": slug, **kwargs})
        response = client_a.get(url)
        assert response.status_code == 200, (url, response.status_code)
        if name == "statement_download":
            assert line.number in response.content.decode()  # allocated now: in this month's statement
        assert client_b.get(url).status_code == 404, url
