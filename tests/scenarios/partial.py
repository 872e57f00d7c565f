"""Partial trajectories and late facts: an IGO whose Zilveren Kruis contract (2026, 1200/900/1500) has rules
per end reason, interrupted phase and week band (PARTIAL_RULES), none for moving away; CZ, an insurer the
IGO has no contract with yet (CZ_TARIFFS: the one it will get late); the worked split rule (2024 to 2026);
the early endings worked out in tests/billing/test_partial.py and the completed pregnancies of
tests/billing/test_late_facts.py. Dates are fixed; a test sets the clock and passes `today=`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.urls import reverse

from billing import services
from billing.models import ClaimLine, Contract, PartialDecision, WorkItem
from billing.services.partial_decisions import partial_decision_record
from igo.models import Insurer, Role, Tenant, User
from igo.tenancy import tenant_scope
from pregnancies.catalogue import catalogue_seed
from pregnancies.models import CareEvent, ClientInsurance, Episode, EventType
from providers.models import MemberOrganisation, Professional
from tests.factories import (
    CareEventFactory,
    EpisodeFactory,
    InsurerFactory,
    MemberOrganisationFactory,
    ProfessionalFactory,
)
from tests.scenarios.billing import ZK_TARIFFS, at, pregnancy, worked_split_rule
from tests.scenarios.people import TenantWorld

D = Decimal

# Per end reason and interrupted phase, optionally for a band of gestational weeks [from, until).
PARTIAL_RULES: list[dict[str, Any]] = [
    {"end_reason": "miscarriage", "phase": "prenatal", "until_week": 16, "percentage": D("27.15")},
    {"end_reason": "miscarriage", "phase": "prenatal", "from_week": 16, "percentage": D("60")},
    # Natal care interrupted by a miscarriage: a miscarriage never reaches labour, so this never bills.
    {"end_reason": "miscarriage", "phase": "natal", "percentage": D("100")},
    {"end_reason": "transferred_out", "phase": "prenatal", "until_week": 24, "percentage": D("40")},
    {"end_reason": "transferred_out", "phase": "prenatal", "from_week": 24, "percentage": D("87.55")},
    {"end_reason": "transferred_out", "phase": "natal", "percentage": D("50")},
    {"end_reason": "transferred_out", "phase": "postnatal", "percentage": D("33.33")},
]

CZ_TARIFFS = {
    "prenatal": ("IGBPRE", D("1300.00")),
    "natal": ("IGBNAT", D("1000.00")),
    "postnatal": ("IGBPOS", D("1650.00")),
}


@dataclass
class PartialWorld:
    world: TenantWorld
    zk: Insurer
    cz: Insurer
    contract: Contract
    practice: MemberOrganisation
    hospital: MemberOrganisation
    kraam: MemberOrganisation
    pros: dict[int, Professional]
    types: dict[str, EventType]

    @property
    def tenant(self) -> Tenant:
        return self.world.tenant

    @property
    def finance(self) -> User:
        return self.world.user(Role.IGO_FINANCE)

    @property
    def admin(self) -> User:
        return self.world.user(Role.IGO_ADMIN)

    def url(self, name: str, **kwargs: Any) -> str:
        return reverse(name, kwargs={"tenant_slug": self.tenant.slug, **kwargs})

    def run(self, today: dt.date) -> services.RunResult:
        with tenant_scope(self.tenant):
            return services.billing_run(tenant=self.tenant, today=today)

    def episode(
        self, *, insurer: Insurer | None = None, insured_from: dt.date = dt.date(2024, 1, 1), **fields: Any
    ) -> Episode:
        ep = EpisodeFactory(tenant=self.tenant, **fields)
        ClientInsurance.unscoped.create(
            tenant=self.tenant,
            client=ep.client,
            insurer=insurer or self.zk,
            policy_number="ZK-77",
            valid_from=insured_from,
        )
        return ep

    def log(
        self, ep: Episode, code: str, org: MemberOrganisation, when: dt.datetime, quantity: str = "1"
    ) -> CareEvent:
        et = self.types[code]
        return CareEventFactory(
            tenant=self.tenant,
            episode=ep,
            event_type=et,
            phase=et.phase,
            professional=self.pros[org.pk],
            organisation=org,
            occurred_at=when,
            quantity=D(quantity),
            created_by=self.world.user(Role.MIDWIFE),
        )

    def decide(
        self,
        ep: Episode,
        *,
        choice: str,
        reason: str,
        phase: str = "prenatal",
        percentage: Decimal | str | None = None,
        today: dt.date,
    ) -> PartialDecision:
        with tenant_scope(self.tenant):
            return partial_decision_record(
                episode=ep,
                phase=phase,
                choice=choice,
                percentage=percentage,
                reason=reason,
                actor=self.finance,
                today=today,
            )


def partial_world(world: TenantWorld) -> PartialWorld:
    tenant = world.tenant
    admin = world.user(Role.IGO_ADMIN)
    catalogue_seed(tenant=tenant)
    zk = InsurerFactory(uzovi_code="3311", name="Zilveren Kruis")
    cz = InsurerFactory(uzovi_code="9664", name="CZ")
    practice = MemberOrganisationFactory(tenant=tenant, name="Praktijk", kind="midwifery_practice")
    hospital = MemberOrganisationFactory(tenant=tenant, name="Ziekenhuis", kind="hospital")
    kraam = MemberOrganisationFactory(tenant=tenant, name="Kraamzorg", kind="kraamzorg")
    pros = {
        practice.pk: ProfessionalFactory(tenant=tenant, organisation=practice),
        hospital.pk: ProfessionalFactory(tenant=tenant, organisation=hospital, discipline="gynaecologist"),
        kraam.pk: ProfessionalFactory(
            tenant=tenant, organisation=kraam, discipline="maternity_carer", big_number=""
        ),
    }
    with tenant_scope(tenant):
        contract = services.contract_create(
            tenant=tenant,
            actor=admin,
            insurer=zk,
            name="ZK 2026",
            valid_from=dt.date(2026, 1, 1),
            tariffs=ZK_TARIFFS,
            partial_rules=PARTIAL_RULES,
        )
        types = {t.code: t for t in EventType.objects.all()}
    for year in (2024, 2025, 2026):
        worked_split_rule(
            tenant=tenant, actor=admin, practice=practice, hospital=hospital, types=types, year=year
        )
    return PartialWorld(
        world=world,
        zk=zk,
        cz=cz,
        contract=contract,
        practice=practice,
        hospital=hospital,
        kraam=kraam,
        pros=pros,
        types=types,
    )


def record_cz_contract(w: PartialWorld, *, valid_from: dt.date, submission_months: int = 12) -> Contract:
    """Finance records the CZ contract (CZ_TARIFFS, open-ended), through the service."""
    with tenant_scope(w.tenant):
        return services.contract_create(
            tenant=w.tenant,
            actor=w.finance,
            insurer=w.cz,
            name="CZ integraal",
            valid_from=valid_from,
            submission_months=submission_months,
            tariffs=CZ_TARIFFS,
        )


def _prenatal_care(w: PartialWorld, ep: Episode, first: dt.datetime, checks: int) -> None:
    for i in range(checks):
        w.log(ep, "PRE_CHECK", w.practice, first + dt.timedelta(weeks=2 * i))


def transferred_after_birth(w: PartialWorld) -> Episode:
    """Intake 2 Feb 2026 at 12w0d; labour 14 Aug 08:00, placenta + 2 h 14 Aug 15:00 (both in the IGO);
    transferred out of the region on 17 Aug, three days after the birth, before postnatal care ended."""
    ep = w.episode(
        **pregnancy(dt.date(2026, 2, 2)),
        labour_started_at=at(2026, 8, 14, 8),
        placenta_plus_2h_at=at(2026, 8, 14, 15),
        status="ended",
        end_date=dt.date(2026, 8, 17),
        end_reason="transferred_out",
    )
    _prenatal_care(w, ep, at(2026, 2, 9), 4)
    w.log(ep, "KZ_HOURS", w.kraam, at(2026, 8, 15), "20")
    return ep


def transferred_at_30_weeks(w: PartialWorld) -> Episode:
    """Intake 2 Feb 2026 at 84 days (12w0d); transferred out on 8 Jun = intake + 126 days = 210 days."""
    ep = w.episode(
        **pregnancy(dt.date(2026, 2, 2)),
        status="ended",
        end_date=dt.date(2026, 6, 8),
        end_reason="transferred_out",
    )
    _prenatal_care(w, ep, at(2026, 2, 9), 5)
    return ep


def miscarriage_at_11_weeks(w: PartialWorld) -> Episode:
    """Intake 2 Mar 2026 at 56 days (8w0d); miscarriage on 23 Mar = intake + 21 days = 77 days."""
    ep = w.episode(
        **pregnancy(dt.date(2026, 3, 2), ga=56),
        status="ended",
        end_date=dt.date(2026, 3, 23),
        end_reason="miscarriage",
    )
    _prenatal_care(w, ep, at(2026, 3, 2), 2)
    return ep


def moved_away_at_20_weeks(w: PartialWorld) -> Episode:
    """Intake 2 Feb 2026 at 84 days; moved away on 30 Mar = intake + 56 days = 140 days. The contract has
    no rule for moving away."""
    ep = w.episode(
        **pregnancy(dt.date(2026, 2, 2)),
        status="ended",
        end_date=dt.date(2026, 3, 30),
        end_reason="moved_away",
    )
    _prenatal_care(w, ep, at(2026, 2, 9), 3)
    return ep


def completed_under(
    w: PartialWorld, insurer: Insurer, *, intake: dt.date, labour: dt.datetime, post_end: dt.date
) -> Episode:
    """A pregnancy with its care completed: intake at 12w0d, labour and placenta + 2 h on the same day,
    postnatal care (and the episode) ended on `post_end`."""
    ep = w.episode(
        insurer=insurer,
        **pregnancy(intake),
        labour_started_at=labour,
        placenta_plus_2h_at=labour + dt.timedelta(hours=6),
        postnatal_ended_on=post_end,
        status="ended",
        end_date=post_end,
        end_reason="completed",
    )
    _prenatal_care(w, ep, at(intake.year, intake.month, intake.day) + dt.timedelta(days=7), 3)
    w.log(ep, "KZ_HOURS", w.kraam, labour + dt.timedelta(days=1), "49")
    return ep


def lines(ep: Episode) -> dict[str, ClaimLine]:
    """The current debit line per phase."""
    return {line.phase: line for line in ClaimLine.unscoped.filter(episode=ep, is_current=True, sign="debit")}


def open_items(ep: Episode) -> dict[tuple[str, str], WorkItem]:
    """The open work items by (phase, reason)."""
    return {(i.phase, i.reason): i for i in WorkItem.unscoped.filter(episode=ep, resolved_at__isnull=True)}
