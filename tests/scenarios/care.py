"""A tenant ready for care logging: the event catalogue, a midwifery practice, a kraamzorg organisation
and a hospital with a professional each (linked to the world's midwife, maternity carer and gynaecologist)
and one client with an episode that started 60 days ago, insured with the insurer the test passes
(`make_care`). Its parts `midwife_and_carer` and `client_in_care` also make the smaller world of the care
API's tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from igo.models import Insurer, Role, Tenant, User
from pregnancies.catalogue import catalogue_seed
from pregnancies.models import Client, ClientInsurance, Episode, EventType
from providers.models import MemberOrganisation, Professional
from tests.factories import ClientFactory, EpisodeFactory, MemberOrganisationFactory, ProfessionalFactory
from tests.scenarios.people import TenantWorld


@dataclass
class Care:
    """A tenant ready for care logging: catalogue, member organisations, linked professionals, one episode."""

    world: TenantWorld
    insurer: Insurer
    practice: MemberOrganisation
    kraamzorg: MemberOrganisation
    hospital: MemberOrganisation
    midwife: Professional
    carer: Professional
    gynaecologist: Professional
    client: Client
    episode: Episode

    @property
    def tenant(self) -> Tenant:
        return self.world.tenant

    def user(self, role: str) -> User:
        return self.world.user(role)

    def url(self, path: str = "") -> str:
        return f"/t/{self.tenant.slug}/{path}"

    def type(self, code: str) -> EventType:
        return EventType.unscoped.get(tenant=self.tenant, code=code)

    def professional_of(self, role: str) -> Professional:
        return {
            Role.MIDWIFE: self.midwife,
            Role.MATERNITY_CARER: self.carer,
            Role.GYNAECOLOGIST: self.gynaecologist,
        }[role]

    def update_episode(self, **fields: Any) -> Episode:
        Episode.unscoped.filter(pk=self.episode.pk).update(**fields)
        self.episode.refresh_from_db()
        return self.episode


def make_care(world: TenantWorld, insurer: Insurer) -> Care:
    tenant = world.tenant
    catalogue_seed(tenant=tenant)
    practice = MemberOrganisationFactory(tenant=tenant, name="Verloskundigen De Linde")
    kraamzorg = MemberOrganisationFactory(tenant=tenant, kind="kraamzorg", name="Kraamzorg Het Nest")
    hospital = MemberOrganisationFactory(tenant=tenant, kind="hospital", name="Ziekenhuis Rijnstate")
    midwife, carer = midwife_and_carer(world, practice=practice, kraamzorg=kraamzorg)
    gynaecologist = ProfessionalFactory(
        tenant=tenant, organisation=hospital, user=world.user(Role.GYNAECOLOGIST), discipline="gynaecologist"
    )
    client, episode = client_in_care(world, insurer)
    return Care(world, insurer, practice, kraamzorg, hospital, midwife, carer, gynaecologist, client, episode)


def midwife_and_carer(
    world: TenantWorld, *, practice: MemberOrganisation, kraamzorg: MemberOrganisation
) -> tuple[Professional, Professional]:
    """The professionals of the world's midwife (in `practice`) and maternity carer (in `kraamzorg`)."""
    midwife = ProfessionalFactory(
        tenant=world.tenant, organisation=practice, user=world.user(Role.MIDWIFE), discipline="midwife"
    )
    carer = ProfessionalFactory(
        tenant=world.tenant,
        organisation=kraamzorg,
        user=world.user(Role.MATERNITY_CARER),
        discipline="maternity_carer",
        big_number="",
    )
    return midwife, carer


def client_in_care(world: TenantWorld, insurer: Insurer) -> tuple[Client, Episode]:
    """Anna Jansen, insured with `insurer`, whose episode began 60 days ago at 12 weeks."""
    tenant = world.tenant
    intake = timezone.localdate() - timedelta(days=60)
    client = ClientFactory(tenant=tenant, family_name="Jansen", given_names="Anna", postcode="1234AB")
    ClientInsurance.unscoped.create(
        tenant=tenant, client=client, insurer=insurer, policy_number="P-1", valid_from=intake
    )
    episode = EpisodeFactory(
        tenant=tenant,
        client=client,
        intake_date=intake,
        due_date=intake + timedelta(days=280 - 84),
        gestational_age_at_intake=84,
    )
    return client, episode
