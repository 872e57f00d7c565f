"""One client seen from every URL: the world the access-log completeness test (tests/cross) walks.

IGO Alpha's client "Wolkenkrabber" (a name no other row carries) has an episode with a care event and a
birth, an open work item, a claim line in a released batch to Zilveren Kruis (its KZ301, CSV and PDF
stored), a member statement and a payout of that line, and one access-log entry. A user with every role
of the IGO (and a professional profile) opens the IGO's pages; an employee of Zilveren Kruis the insurer
portal and API. Made with the clock at BILLING_NOW (tests.scenarios.tenancy: the factories' episode).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal as D
from typing import Any, cast

from django.utils import timezone

from billing.models import Allocation, BatchLine, ClaimBatch, WorkItem, WorkReason
from billing.services.batches import batch_release
from igo.models import Insurer, InsurerApiToken, InsurerMembership, Membership, Role, User
from igo.services import insurer_token_create, invitation_create
from igo.tenancy import tenant_scope
from pregnancies.models import AccessLogEntry, Birth, Client, Episode
from providers.models import MemberOrganisation
from tests.factories import CareEventFactory, MemberOrganisationFactory, ProfessionalFactory
from tests.scenarios.batches import insurer_employee
from tests.scenarios.payouts import payout_objects
from tests.scenarios.people import TenantWorld
from tests.scenarios.repricing import reprice_job
from tests.scenarios.tenancy import batch_objects, billing_objects, booked_in
from tests.scenarios.whatif import simulation_objects

FAMILY_NAME = "Wolkenkrabber"


@dataclass
class Seen:
    world: TenantWorld
    client: Client
    episode: Episode
    batch: ClaimBatch
    insurer: Insurer
    member: User  # every role of the IGO
    insurer_user: User
    token_key: str  # an API key of Zilveren Kruis, made by `insurer_user`
    # URL name -> the keyword arguments of each request (several for a URL with a file kind or format)
    kwargs: dict[str, list[dict[str, Any]]]


def member_with_every_role(world: TenantWorld) -> User:
    """The world's administrator, given every role and a professional profile: every page opens for her."""
    admin = world.user(Role.IGO_ADMIN)
    for role in Role.values:
        Membership.unscoped.get_or_create(tenant=world.tenant, user=admin, role=role)
    ProfessionalFactory(tenant=world.tenant, user=admin)
    return admin


def make_seen(world: TenantWorld) -> Seen:
    org = MemberOrganisationFactory(tenant=world.tenant)
    prof = ProfessionalFactory(tenant=world.tenant, organisation=org)
    event = CareEventFactory(tenant=world.tenant, professional=prof, created_by=world.user(Role.MIDWIFE))
    episode = event.episode
    Client.unscoped.filter(pk=episode.client_id).update(family_name=FAMILY_NAME)
    client = Client.unscoped.get(pk=episode.client_id)
    birth = Birth.unscoped.create(
        tenant=world.tenant, episode=episode, born_at=timezone.now(), place="home", mode="spontaneous"
    )
    line = billing_objects(world, episode=episode, organisation=org)
    WorkItem.unscoped.create(
        tenant=world.tenant,
        episode=episode,
        phase="natal",
        reason=WorkReason.NO_CONTRACT,
        message="Geen contract",
    )
    debt = WorkItem.unscoped.create(
        tenant=world.tenant,
        organisation=org,
        reason=WorkReason.FORMER_MEMBER_DEBT,
        amount=D("65.10"),
        message="Oud-lid met een schuld",
    )
    batch = batch_objects(world, line=line)
    with tenant_scope(world.tenant):
        batch = batch_release(batch=batch, actor=world.user(Role.IGO_FINANCE))
    payout = payout_objects(world, organisation=cast(MemberOrganisation, org))
    Allocation.unscoped.filter(claim_line=line).update(paid_in=payout)
    AccessLogEntry.unscoped.create(
        tenant=world.tenant, user=world.user(Role.MIDWIFE), client=client, action="view", object_type="client"
    )
    insurer = line.insurer
    insurer_user = insurer_employee(insurer, "declaraties@zk.test")
    token, key = insurer_token_create(user=insurer_user, insurer=insurer, name="walk")
    batch_line = BatchLine.unscoped.get(batch=batch)
    month = booked_in(line)
    simulation = simulation_objects(world, episode=episode, contract_id=line.contract_id)
    one = lambda **kw: [kw]  # noqa: E731
    membership = Membership.unscoped.filter(tenant=world.tenant).first()
    assert membership is not None
    with tenant_scope(world.tenant):
        invitation = invitation_create(
            tenant=world.tenant,
            actor=world.user(Role.IGO_ADMIN),
            email=f"new@{world.tenant.slug}.test",
            role=Role.MIDWIFE,
        )
    kwargs: dict[str, list[dict[str, Any]]] = {
        **{
            name: one(pk=membership.pk)
            for name in ("membership_detail", "membership_end", "membership_email", "api_membership_detail")
        },
        "invitation_revoke": one(pk=invitation.pk),
        "work_item_resolve": one(pk=debt.pk),  # a former member's debt (no client on it)
        **{name: one(pk=org.pk) for name in ("organisation_detail", "organisation_end")},
        **{name: one(pk=prof.pk) for name in ("professional_edit", "professional_toggle")},
        "client_detail": one(pk=client.pk),
        "access_log_export": one(pk=client.pk),
        "client_insurance": one(pk=client.pk),
        "api_client_detail": one(pk=client.pk),
        **{name: one(pk=client.pk) for name in ("episode_new", "api_client_episodes")},  # issue 17
        **{
            name: one(pk=episode.pk)
            for name in (
                "episode_detail",
                "event_create",
                "episode_history",
                "episode_key_dates",
                "episode_kraamzorg",
                "episode_delivery",
                "episode_outcomes",
                "experience_create",
                "episode_end",
                "episode_line",
                "episode_claims",
                "api_episode_detail",
                "api_episode_events",
                "api_episode_delivery",
                "today_log",
                "today_indication",
                "fhir_episode_export",  # issue 21
            )
        },
        "partial_decision": [
            {"pk": episode.pk, "phase": phase} for phase in ("prenatal", "natal", "postnatal")
        ],
        "birth_outcome": one(pk=birth.pk),
        **{
            name: one(pk=event.pk)
            for name in ("event_correct", "event_void", "api_event_correct", "api_event_void")
        },
        "catalogue_toggle": one(pk=event.event_type_id),
        **{
            name: one(pk=line.contract_id)
            for name in (
                "contract_detail",
                "contract_new_version",
                "contract_reprice",
                "quality_agreement_create",
                "api_contract_detail",
            )
        },
        "contract_reprice_progress": one(
            pk=line.contract_id,
            job=reprice_job(world.tenant.pk, line.contract_id, world.user(Role.IGO_FINANCE).pk),
        ),
        **{
            name: one(pk=line.pk)
            for name in (
                "claim_line_explain",
                "claim_line_rebill",
                "claim_line_credit_resend",  # refused credits (a line of the IGO; not a credit here: refused)
                "api_claim_line_detail",
                "api_claim_line_allocations",
            )
        },
        **{
            name: one(pk=batch.pk)
            for name in (
                "batch_detail",
                "batch_release",
                "batch_rebuild",
                "batch_discard",
                "batch_payment_record",
                "api_batch_detail",
                "insurer_batch_detail",
                "insurer_accept_open",
                "insurer_return_upload",
                "api_insurer_batch_detail",
                "api_insurer_batch_returns",
            )
        },
        **{
            name: [{"pk": batch.pk, "kind": kind} for kind in ("kz301", "csv", "pdf")]
            for name in ("batch_file", "insurer_batch_file", "api_insurer_batch_file")
        },
        "insurer_line_answer": one(pk=batch.pk, line_pk=batch_line.pk),
        "insurer_token_revoke": one(pk=cast(InsurerApiToken, token).pk),
        "statement_download": [
            {"org_pk": org.pk, "year": month.year, "month": month.month, "fmt": fmt} for fmt in ("csv", "pdf")
        ],
        "member_repayment": one(org_pk=org.pk),  # a current member: refused (no debt of a former member)
        "quality_indicator": one(code="caesarean"),
        "quality_episodes": one(code="caesarean", year=month.year, month=month.month),
        **{
            name: one(pk=payout.run_id)
            for name in ("payout_detail", "payout_release", "payout_discard", "payout_sepa")
        },
        "payout_statement_download": [
            {"pk": payout.run_id, "payout_pk": payout.pk, "fmt": fmt} for fmt in ("csv", "pdf")
        ],
        "whatif_new_contract": one(pk=line.contract_id),  # issue 19
        # The operator's pages (the walk's users are no operators: refused, and no client on them).
        "platform_admin_invite": one(pk=world.tenant.pk),
        "platform_insurer_users": one(pk=insurer.pk),
        "platform_insurer_user_end": one(
            pk=insurer.pk, link_pk=InsurerMembership.objects.get(user=insurer_user, insurer=insurer).pk
        ),
        "platform_insurer_invitation_revoke": one(pk=insurer.pk, invitation_pk=invitation.pk),
        **{
            name: one(pk=simulation.pk)
            for name in ("whatif_detail", "whatif_progress", "whatif_adopt", "whatif_csv", "whatif_pdf")
        },
    }
    return Seen(
        world=world,
        client=client,
        episode=episode,
        batch=batch,
        insurer=insurer,
        member=member_with_every_role(world),
        insurer_user=insurer_user,
        token_key=key,
        kwargs=kwargs,
    )
