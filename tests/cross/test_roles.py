"""Each role sees only its own navigation and is refused elsewhere with 403/404, never a 500.

The world's claim line and batch are of the factories' episode of 2026 (tests.scenarios.tenancy): the module
is seen from BILLING_NOW (`pytest.mark.clock`).
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import Allocation, ClaimBatch, ClaimLine, Payout, WorkItem, WorkReason
from fhir_io.services import member_key_create
from igo.models import Invitation, Membership, Role
from pregnancies.models import CareEvent, Episode
from pregnancies.models import Client as CareClient
from providers.models import MemberOrganisation, Professional
from tests.factories import CareEventFactory, MemberOrganisationFactory, ProfessionalFactory
from tests.scenarios.billing import BILLING_NOW
from tests.scenarios.payouts import payout_objects
from tests.scenarios.people import TenantWorld
from tests.scenarios.repricing import reprice_job
from tests.scenarios.tenancy import TENANT_URLS, batch_objects, billing_objects, booked_in
from tests.scenarios.whatif import simulation_objects
from whatif.models import Simulation

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BILLING_NOW)]

ALL = set(Role.values)
ADMIN = {Role.IGO_ADMIN}
ADMIN_FINANCE = {Role.IGO_ADMIN, Role.IGO_FINANCE}
CLINICAL = {Role.MIDWIFE, Role.GYNAECOLOGIST, Role.MATERNITY_CARER}
OBSTETRIC = {Role.MIDWIFE, Role.GYNAECOLOGIST}  # issue 17: maternity carers log hours, not births
FINANCE = {Role.IGO_FINANCE}

# URL name -> (method, roles allowed). Unlisted tenant URLs make the coverage test below fail.
ACCESS = {
    "tenant_dashboard": ("get", ALL),
    "membership_list": ("get", ADMIN_FINANCE),
    "membership_detail": ("get", ADMIN_FINANCE),
    "membership_end": ("post", ADMIN),
    "membership_email": ("post", ADMIN),
    "invitation_create": ("get", ADMIN),
    "invitation_revoke": ("post", ADMIN),
    "audit_list": ("get", ADMIN),
    "tenant_settings": ("get", ADMIN),
    "api_membership_list": ("get", ADMIN_FINANCE),
    "api_membership_detail": ("get", ADMIN_FINANCE),
    "organisation_list": ("get", ADMIN_FINANCE),
    "organisation_create": ("get", ADMIN),
    "organisation_detail": ("get", ADMIN_FINANCE),
    "organisation_end": ("post", ADMIN),
    "professional_list": ("get", ADMIN_FINANCE),
    "professional_create": ("get", ADMIN),
    "professional_edit": ("get", ADMIN),
    "professional_toggle": ("post", ADMIN),
    "client_search": ("get", CLINICAL),
    "client_new": ("get", CLINICAL),
    "client_detail": ("get", CLINICAL),
    "episode_new": ("get", CLINICAL),  # issue 17
    "api_client_episodes": ("post", CLINICAL),  # issue 17
    "episode_detail": ("get", CLINICAL),
    "episode_history": ("get", CLINICAL),
    "event_create": ("post", CLINICAL),
    "event_correct": ("get", CLINICAL),
    "event_void": ("post", CLINICAL),
    "episode_key_dates": ("post", CLINICAL),
    "episode_kraamzorg": ("post", CLINICAL),
    "episode_delivery": ("post", OBSTETRIC),
    "episode_outcomes": ("post", CLINICAL),
    "birth_outcome": ("post", CLINICAL),
    "experience_create": ("post", CLINICAL | ADMIN),
    "experience_import": ("get", ADMIN),
    "prem_page": ("get", ADMIN),
    "episode_end": ("post", OBSTETRIC),
    "episode_line": ("post", OBSTETRIC),
    "client_insurance": ("post", CLINICAL),
    "care_today": ("get", CLINICAL),
    "today_log": ("post", CLINICAL),
    "today_indication": ("post", CLINICAL),
    "care_home": ("get", CLINICAL),
    "access_log": ("get", ADMIN),
    "catalogue": ("get", CLINICAL | ADMIN),
    "catalogue_toggle": ("post", ADMIN),
    "access_log_export": ("get", ADMIN),
    "api_client_search": ("post", CLINICAL),
    "api_client_create": ("post", CLINICAL),
    "api_client_detail": ("get", CLINICAL),
    "api_episode_detail": ("get", CLINICAL),
    "api_episode_events": ("get", CLINICAL),
    "api_episode_delivery": ("get", CLINICAL),  # reading; recording is for OBSTETRIC (test_delivery_api)
    "api_event_correct": ("post", CLINICAL),
    "api_event_void": ("post", CLINICAL),
    "api_event_types": ("get", CLINICAL),
    "contract_list": ("get", ADMIN_FINANCE),
    "contract_create": ("get", FINANCE),
    "contract_detail": ("get", ADMIN_FINANCE),
    "contract_new_version": ("get", FINANCE),
    "contract_reprice": ("get", FINANCE),
    "contract_reprice_progress": ("get", FINANCE),
    "quality_agreement_create": ("get", FINANCE),
    "quality_agreements": ("get", ADMIN_FINANCE),
    "quality_settle": ("post", FINANCE),
    "split_rule_list": ("get", ADMIN_FINANCE),
    "split_rule_create": ("get", FINANCE),
    "work_queue": ("get", ADMIN_FINANCE),
    "work_item_resolve": ("get", FINANCE),
    "member_repayment": ("get", FINANCE),
    "claim_list": ("get", ADMIN_FINANCE),
    "claim_list_export": ("get", ADMIN_FINANCE),
    "finance_home": ("get", ADMIN_FINANCE),
    "episode_claims": ("get", ADMIN_FINANCE),
    "claim_line_explain": ("get", ADMIN_FINANCE),
    "revenue": ("get", ADMIN_FINANCE),
    "billing_run_start": ("post", FINANCE),
    "billing_run_progress": ("get", ADMIN_FINANCE),
    "api_contract_list": ("get", ADMIN_FINANCE),
    "api_contract_detail": ("get", ADMIN_FINANCE),
    "api_claim_line_list": ("get", ADMIN_FINANCE),
    "api_claim_line_detail": ("get", ADMIN_FINANCE),
    "api_claim_line_allocations": ("get", ADMIN_FINANCE),
    "claim_line_rebill": ("post", FINANCE),
    "claim_line_credit_resend": ("post", FINANCE),
    "partial_decision": ("get", FINANCE),  # issue 14
    "batch_list": ("get", ADMIN_FINANCE),
    "batch_create": ("post", FINANCE),
    "batch_detail": ("get", ADMIN_FINANCE),
    "batch_release": ("post", FINANCE),
    "batch_rebuild": ("post", FINANCE),
    "batch_discard": ("post", FINANCE),
    "batch_file": ("get", ADMIN_FINANCE),
    "batch_payment_record": ("post", FINANCE),
    "statement_list": ("get", ADMIN_FINANCE),
    "statement_download": ("get", ADMIN_FINANCE),
    "api_batch_list": ("get", ADMIN_FINANCE),
    "api_batch_detail": ("get", ADMIN_FINANCE),
    "quality_dashboard": ("get", ADMIN_FINANCE),
    "quality_recompute": ("post", ADMIN),
    "quality_export_csv": ("get", ADMIN_FINANCE),
    "quality_export_pdf": ("get", ADMIN_FINANCE),
    "quality_export_anonymised": ("get", ADMIN_FINANCE),
    "quality_indicator": ("get", ADMIN_FINANCE),
    "quality_episodes": ("get", ADMIN),
    "quality_data": ("get", ADMIN),  # issue 20: the data-quality list of birth records
    # payouts to members (issue 14)
    "payout_list": ("get", ADMIN_FINANCE),
    "payout_prepare": ("post", FINANCE),
    "payout_bank_account": ("post", ADMIN),
    "payout_detail": ("get", ADMIN_FINANCE),
    "payout_release": ("post", FINANCE),
    "payout_discard": ("post", FINANCE),
    "payout_sepa": ("get", ADMIN_FINANCE),
    "payout_statement_download": ("get", ADMIN_FINANCE),
    # budget neutrality (issue 19)
    "neutrality": ("get", ADMIN_FINANCE),
    "neutrality_csv": ("get", ADMIN_FINANCE),
    "neutrality_dbc": ("get", ADMIN_FINANCE),
    "neutrality_mapping": ("get", ADMIN_FINANCE),
    # what-if simulations (issue 19)
    "whatif_list": ("get", ADMIN_FINANCE),
    "whatif_new_split": ("get", FINANCE),
    "whatif_new_contract": ("get", FINANCE),
    "whatif_detail": ("get", ADMIN_FINANCE),
    "whatif_progress": ("get", ADMIN_FINANCE),
    "whatif_adopt": ("post", FINANCE),
    "whatif_csv": ("get", ADMIN_FINANCE),
    "whatif_pdf": ("get", ADMIN_FINANCE),
    # the FHIR import (issue 21): its keys and code mapping are the administrator's; the endpoint takes no
    # browser session at all, only a member system key (401 for every role)
    "fhir_member_keys": ("get", ADMIN),
    "fhir_member_key_revoke": ("get", ADMIN),
    "fhir_code_mappings": ("get", ADMIN),
    "fhir_import_jobs": ("get", ADMIN),
    "fhir_bsn_misses": ("get", ADMIN),  # BSNs sent that are no client, per key (fhir_io.probing)
    "fhir_bsn_misses_reset": ("post", ADMIN),
    "fhir_care_csv": ("get", ADMIN),  # the CSV import, uploaded by the administrator for a member
    "fhir_care_csv_template": ("get", ADMIN),
    "api_fhir_import": ("post", set()),
    "api_fhir_import_ndjson": ("post", set()),  # NDJSON, always a job (issue 21)
    # the FHIR export (issue 21): an episode for whoever reads the episode page, a period for the administrator
    "fhir_episode_export": ("get", CLINICAL),
    "fhir_period_export": ("get", ADMIN),
    "api_fhir_import_job": ("get", set()),
}
SESSION_NOT_TAKEN = {"api_fhir_import", "api_fhir_import_ndjson", "api_fhir_import_job"}

NAV = {
    Role.MIDWIFE: {"dashboard", "home", "clients"},
    Role.GYNAECOLOGIST: {"dashboard", "home", "clients"},
    Role.MATERNITY_CARER: {"dashboard", "home", "clients", "today"},
    Role.IGO_FINANCE: {
        "dashboard",
        "members",
        "organisations",
        "professionals",
        "finance",
        "contracts",
        "claims",
        "batches",
        "workqueue",
        "revenue",
        "payouts",
        "quality",
    },
    Role.IGO_ADMIN: {
        "dashboard",
        "members",
        "organisations",
        "professionals",
        "finance",
        "contracts",
        "claims",
        "batches",
        "workqueue",
        "revenue",
        "payouts",
        "quality",
        "catalogue",
        "access",
        "audit",
        "settings",
    },
}


def test_access_table_covers_every_tenant_url():
    assert {name for name, _ in TENANT_URLS} == set(ACCESS)


def _url(name: str, world) -> str:  # type: ignore[no-untyped-def]
    kwargs = {"tenant_slug": world.tenant.slug}
    if name in ("membership_detail", "membership_end", "membership_email", "api_membership_detail"):
        # A midwife's membership: ending it is a legal action for an administrator.
        kwargs["pk"] = Membership.unscoped.get(tenant=world.tenant, user=world.user(Role.MIDWIFE)).pk
    if name in ("organisation_detail", "organisation_end"):
        kwargs["pk"] = MemberOrganisation.unscoped.filter(tenant=world.tenant).first().pk
    if name in ("professional_edit", "professional_toggle"):
        kwargs["pk"] = Professional.unscoped.filter(tenant=world.tenant).first().pk
    if name in ("client_detail", "access_log_export", "client_insurance", "api_client_detail") or name in (
        "episode_new",
        "api_client_episodes",
    ):
        kwargs["pk"] = CareClient.unscoped.filter(tenant=world.tenant).first().pk
    if name in (
        "episode_detail",
        "episode_history",
        "event_create",
        "episode_key_dates",
        "episode_kraamzorg",
        "episode_delivery",
        "episode_outcomes",
        "experience_create",
        "episode_end",
        "episode_line",
        "api_episode_detail",
        "api_episode_events",
        "api_episode_delivery",
        "episode_claims",
        "today_log",
        "today_indication",
        "fhir_episode_export",
    ):
        kwargs["pk"] = Episode.unscoped.filter(tenant=world.tenant).first().pk
    if name == "partial_decision":  # issue 14
        kwargs.update(pk=Episode.unscoped.filter(tenant=world.tenant).first().pk, phase="prenatal")
    if name == "birth_outcome":
        kwargs["pk"] = _birth(world).pk
    if name == "catalogue_toggle":
        kwargs["pk"] = CareEvent.unscoped.filter(tenant=world.tenant).first().event_type_id
    if name in ("event_correct", "event_void", "api_event_correct", "api_event_void"):
        kwargs["pk"] = CareEvent.unscoped.filter(tenant=world.tenant).first().pk
    if name in (
        "contract_new_version",
        "contract_reprice",
        "contract_detail",
        "quality_agreement_create",
        "claim_line_explain",
        "api_contract_detail",
        "api_claim_line_detail",
        "api_claim_line_allocations",
        "claim_line_rebill",
        "claim_line_credit_resend",
        "whatif_new_contract",
    ):
        line = _claim_line(world)
        kwargs["pk"] = (
            line.contract_id if "contract" in name or name.startswith("quality_agreement") else line.pk
        )
    if name in ("whatif_detail", "whatif_progress", "whatif_adopt", "whatif_csv", "whatif_pdf"):
        kwargs["pk"] = _simulation(world).pk
    if name in (
        "batch_detail",
        "batch_release",
        "batch_rebuild",
        "batch_discard",
        "batch_file",
        "batch_payment_record",
        "api_batch_detail",
    ):
        kwargs["pk"] = _batch(world).pk
        if name == "batch_file":
            kwargs["kind"] = "pdf"
    if name == "statement_download":
        line = _claim_line(world)
        org = Allocation.unscoped.get(claim_line=line).organisation
        month = booked_in(line)
        kwargs.update(org_pk=org.pk, year=month.year, month=month.month, fmt="pdf")
    if name == "contract_reprice_progress":
        contract_id = _claim_line(world).contract_id
        finance = world.user(Role.IGO_FINANCE)
        kwargs.update(pk=contract_id, job=reprice_job(world.tenant.pk, contract_id, finance.pk))
    if name == "quality_indicator":
        kwargs["code"] = "caesarean"
    if name == "quality_episodes":
        kwargs.update(code="caesarean", year=2026, month=3)
    if name == "api_fhir_import_job":
        kwargs["pk"] = 1  # the session is refused before any job is looked for
    if name in ("fhir_member_key_revoke", "fhir_bsn_misses_reset"):
        kwargs["pk"] = member_key_create(
            tenant=world.tenant,
            actor=world.user(Role.IGO_ADMIN),
            organisation=MemberOrganisation.unscoped.filter(tenant=world.tenant).first(),
            name="HIS",
        )[0].pk
    if name == "invitation_revoke":
        inv = Invitation.unscoped.filter(tenant=world.tenant).first()
        kwargs["pk"] = inv.pk
    if name in (
        "payout_detail",
        "payout_release",
        "payout_discard",
        "payout_sepa",
        "payout_statement_download",
    ):
        payout = _payout(world)
        kwargs["pk"] = payout.run_id
        if name == "payout_statement_download":
            kwargs.update(payout_pk=payout.pk, fmt="csv")
    if name == "work_item_resolve":
        kwargs["pk"] = _debt_item(world).pk
    if name == "member_repayment":
        kwargs["org_pk"] = MemberOrganisation.unscoped.filter(tenant=world.tenant).first().pk
    return reverse(name, kwargs=kwargs)


def _debt_item(world: TenantWorld) -> WorkItem:
    """An open work item about a former member's debt, made on first use."""
    org = MemberOrganisation.unscoped.filter(tenant=world.tenant).first()
    item, _ = WorkItem.unscoped.get_or_create(
        tenant=world.tenant,
        organisation=org,
        reason=WorkReason.FORMER_MEMBER_DEBT,
        resolved_at=None,
        defaults={"amount": Decimal("65.10"), "message": "Oud-lid met een schuld"},
    )
    return item


def _claim_line(world):  # type: ignore[no-untyped-def]
    """The world's claim line (with its contract), made on first use."""
    line = ClaimLine.unscoped.filter(tenant=world.tenant).first()
    if line is None:
        event = CareEvent.unscoped.filter(tenant=world.tenant).select_related("episode").first()
        line = billing_objects(world, episode=event.episode, organisation=event.organisation)
    return line


def _birth(world):  # type: ignore[no-untyped-def]
    """A birth in the world's episode, made on first use."""
    from pregnancies.models import Birth

    episode = Episode.unscoped.filter(tenant=world.tenant).first()
    birth, _ = Birth.unscoped.get_or_create(
        tenant=world.tenant,
        episode=episode,
        child_number=1,
        defaults={"born_at": timezone.now(), "place": "home", "mode": "spontaneous"},
    )
    return birth


def _payout(world: TenantWorld) -> Payout:
    """The world's prepared payout run, paying its first member organisation, made on first use."""
    payout = Payout.unscoped.filter(tenant=world.tenant).first()
    return payout or payout_objects(
        world, organisation=MemberOrganisation.unscoped.filter(tenant=world.tenant)[0]
    )


def _simulation(world):  # type: ignore[no-untyped-def]
    """The world's finished what-if simulation, made on first use."""
    simulation = Simulation.unscoped.filter(tenant=world.tenant).first()
    if simulation is None:
        line = _claim_line(world)
        simulation = simulation_objects(world, episode=line.episode, contract_id=line.contract_id)
    return simulation


def _batch(world):  # type: ignore[no-untyped-def]
    """The world's draft batch holding its claim line, made on first use."""
    batch = ClaimBatch.unscoped.filter(tenant=world.tenant).first()
    return batch or batch_objects(world, line=_claim_line(world))


@pytest.fixture
def world_with_invitation(world_a):
    from igo.services import invitation_create
    from igo.tenancy import tenant_scope

    with tenant_scope(world_a.tenant):
        invitation_create(
            tenant=world_a.tenant, actor=world_a.user(Role.IGO_ADMIN), email="x@y.test", role="midwife"
        )
    prof = ProfessionalFactory(
        tenant=world_a.tenant, organisation=MemberOrganisationFactory(tenant=world_a.tenant)
    )
    CareEventFactory(tenant=world_a.tenant, professional=prof, created_by=world_a.user(Role.MIDWIFE))
    return world_a


@pytest.mark.parametrize("role", Role.values)
@pytest.mark.parametrize("name", sorted(ACCESS))
def test_role_access(role, name, world_with_invitation, client_for):
    world = world_with_invitation
    method, allowed = ACCESS[name]
    response = getattr(client_for(world.user(role)), method)(_url(name, world))
    if role in allowed:  # allowed: served, redirected, or an input error (empty POST), never refused
        assert response.status_code in (200, 302, 400), response.status_code
    else:
        assert response.status_code == (401 if name in SESSION_NOT_TAKEN else 403), response.status_code


@pytest.mark.parametrize("role", Role.values)
def test_navigation_by_role(role, world_a, client_for):
    html = client_for(world_a.user(role)).get(f"/t/{world_a.tenant.slug}/").content.decode()
    shown = set(re.findall(r'data-nav="([a-z]+)"', html))
    assert shown == NAV[role]


def test_insurer_user_has_no_tenant_access(world_a, insurer_user, client_for):
    client = client_for(insurer_user)
    assert client.get("/").status_code == 302 and client.get("/")["Location"] == "/insurer/"
    page = client.get("/insurer/")
    assert page.status_code == 200 and "3311" in page.content.decode()
    assert client.get(f"/t/{world_a.tenant.slug}/").status_code == 404
    assert client.get(f"/api/t/{world_a.tenant.slug}/users/").status_code == 404
    assert set(re.findall(r'data-nav="([a-z]+)"', page.content.decode())) == {"insurer"}


@pytest.mark.parametrize("role", Role.values)
def test_tenant_users_cannot_open_insurer_portal_or_platform(role, world_a, client_for):
    client = client_for(world_a.user(role))
    assert client.get("/insurer/").status_code == 403
    assert client.get("/platform/").status_code == 403
    assert client.get("/platform/insurers/").status_code == 403
    assert client.get("/admin/").status_code == 302  # the admin site sends non-staff to its own login


def test_anonymous_is_sent_to_login():
    for url in ("/", "/insurer/", "/platform/", "/platform/insurers/"):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_member_list_queries_do_not_grow_with_members(world_a, client_for, django_assert_max_num_queries):
    from tests.factories import MembershipFactory

    client = client_for(world_a.user(Role.IGO_ADMIN))
    url = f"/t/{world_a.tenant.slug}/users/"
    client.get(url)
    MembershipFactory.create_batch(40, tenant=world_a.tenant, role=Role.MATERNITY_CARER)
    with django_assert_max_num_queries(16):
        response = client.get(url)
    assert response.content.decode().count('href="/t/') >= 45
