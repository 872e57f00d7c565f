"""The quality world: one IGO in 2025, with births recorded through the care services and the indicator
values stored by `quality.services` (`build`):

- March: 12 deliveries. Practice P coordinates E0..E7, the hospital H E8..E11. Caesareans: E0, E8, E9.
  Blood loss recorded for E1 (1,200 ml: severe), E2 (500) and E3 (300). E4's kraamzorg ended on
  20 March with 49 hours indicated and none logged.
- April: 2 deliveries, E12 (caesarean) and E13, both with P.

Caesarean section, worked out by hand:
  IGO   March 3/12 = 25.0 %   April 1/2 = 50.0 % (small)   year 4/14 = 28.6 %
  P     March 1/8  = 12.5 % (small)   April 1/2 (small)   year 2/10 = 20.0 % (10 clients: not small)
  H     March 2/4  = 50.0 % (small)   year 2/4 = 50.0 % (small)
Targets 2025: Zilveren Kruis ≤ 25.0, VGZ ≤ 30.0. The year's 4/14 = 28.6 % has the exact (Clopper–Pearson)
95 % interval 8.4–58.1 %, which contains both targets: neither is decidable yet.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.urls import reverse
from django.utils import timezone

from billing.models import Contract
from billing.services import contract_create
from billing.services.quality_claims import agreement_create
from igo.models import Role, Tenant
from igo.tenancy import tenant_scope
from pregnancies.models import BirthMode, BirthPlace, Episode
from pregnancies.services import birth_record, episode_set_outcomes
from providers.models import MemberOrganisation
from quality.services import indicators_refresh
from tests.factories import (
    ClientFactory,
    EpisodeFactory,
    InsurerFactory,
    MemberOrganisationFactory,
    ProfessionalFactory,
    valid_bsn,
)
from tests.scenarios.people import TenantWorld

D = Decimal
YEAR = 2025
TZ = timezone.get_default_timezone()
CAESAREANS = {0, 8, 9, 12}
EPISODE_ID_BASE = 7_300_000  # far from any count on the pages, so "no episode id in the export" means it


@dataclass
class Q:
    """The quality world: practice P, hospital H, episodes E0..E13 by number, contracts by UZOVI code."""

    world: TenantWorld
    tenant: Tenant
    practice: MemberOrganisation
    hospital: MemberOrganisation
    ep: dict[int, Episode] = field(default_factory=dict)
    contracts: dict[str, Contract] = field(default_factory=dict)

    def url(self, name: str, *args: Any, **query: Any) -> str:
        path = reverse(name, args=[self.tenant.slug, *args])
        return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")

    def ids(self, numbers: set[int] | list[int]) -> set[int]:
        return {self.ep[n].pk for n in numbers}


def build(world: TenantWorld) -> Q:
    """The world of this module's docstring in `world`'s IGO, with the indicator values stored."""
    tenant = world.tenant
    midwife = world.user(Role.MIDWIFE)
    practice = MemberOrganisationFactory(tenant=tenant, name="Verloskundigen Oost", kind="midwifery_practice")
    hospital = MemberOrganisationFactory(tenant=tenant, name="Ziekenhuis Rivierenland", kind="hospital")
    # The midwife's own professional record: only a linked obstetric professional records a birth.
    pro_p = ProfessionalFactory(tenant=tenant, organisation=practice, user=midwife)
    pro_h = ProfessionalFactory(tenant=tenant, organisation=hospital, discipline="gynaecologist")
    q = Q(world=world, tenant=tenant, practice=practice, hospital=hospital)
    for n in range(14):
        born = (
            dt.datetime(YEAR, 3, 3 + n, 10, 30, tzinfo=TZ)
            if n < 12
            else dt.datetime(YEAR, 4, n, 9, tzinfo=TZ)
        )
        due = born.date() + dt.timedelta(days=7)
        client = ClientFactory(
            tenant=tenant,
            family_name=f"Vermeulen{chr(65 + n)}",
            given_names=f"Sanne{chr(65 + n)}",
            date_of_birth=dt.date(1990, 1, 1) + dt.timedelta(days=37 * n),
            bsn=valid_bsn(5000 + n),
        )
        extra = (
            {"kraamzorg_ended_on": dt.date(YEAR, 3, 20), "kraamzorg_indicated_hours": 49} if n == 4 else {}
        )
        ep = EpisodeFactory(
            id=EPISODE_ID_BASE + n,
            tenant=tenant,
            client=client,
            intake_date=due - dt.timedelta(days=196),
            due_date=due,
            coordinating_professional=pro_h if 8 <= n <= 11 else pro_p,
            **extra,
        )
        q.ep[n] = ep
        caesarean = n in CAESAREANS
        with tenant_scope(tenant):
            birth_record(
                episode=ep,
                actor=midwife,
                child_number=1,
                born_at=born,
                outcome="live",
                place=BirthPlace.CLINICAL if caesarean else BirthPlace.HOME,
                mode=BirthMode.CAESAREAN if caesarean else BirthMode.SPONTANEOUS,
                weight_grams=3400,
            )
            if n in (1, 2, 3):
                episode_set_outcomes(
                    episode=ep,
                    actor=midwife,
                    blood_loss_ml={1: 1200, 2: 500, 3: 300}[n],
                    kraamzorg_indicated_hours=None,
                )
    finance = world.user(Role.IGO_FINANCE)
    with tenant_scope(tenant):
        for uzovi, name, target in (("3311", "Zilveren Kruis", "25.0"), ("7095", "VGZ", "30.0")):
            contract = contract_create(
                tenant=tenant,
                actor=finance,
                insurer=InsurerFactory(uzovi_code=uzovi, name=name),
                name=f"{name} {YEAR}",
                valid_from=dt.date(YEAR, 1, 1),
                tariffs={"prenatal": ("IGBPRE", D("1200.00"))},
            )
            agreement_create(
                contract=contract, actor=finance, indicator="caesarean", year=YEAR, target=D(target)
            )
            q.contracts[uzovi] = contract
        # The nightly refresh as it ran on the last day of the year (its 25 months hold all of 2025).
        indicators_refresh(tenant=tenant, full=True, today=dt.date(YEAR, 12, 31))
    return q
