"""A hand-made cohort for kraamzorg hours measured against the (re-)indication in force (issue 20), worked
out by hand in tests/quality/test_kraamzorg_reindication.py.

Four women; kraamzorg ends on 15 July 2025 for each. Indications (date: hours) as the LIP gave them; hours
delivered are logged by one maternity carer.

| woman | indications | delivered | in force at 15 Jul |
|---|---|---|---|
| A | 1 Mar: 49; 12 Jul: 60 | 55 | 60 (re-indication before the end) |
| B | 1 Mar: 49; 20 Jul: 40 | 45 | 49 (the re-indication came after the end) |
| C | 1 Mar: 49; 10 Jul: 30 | 35 | 30 |
| D | 20 Jul: 49 | 20 | none (only after the end): not recorded |
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import cast

from django.utils import timezone

from igo.models import Role, Tenant
from igo.tenancy import tenant_scope
from pregnancies.models import Episode, EventType, KraamzorgIndication, Phase, Unit
from providers.models import Professional
from quality.services import indicators_recompute
from tests.factories import CareEventFactory, EpisodeFactory, ProfessionalFactory
from tests.scenarios.people import TenantWorld

TZ = timezone.get_default_timezone()
JULY_2025 = dt.date(2025, 7, 1)
END = dt.date(2025, 7, 15)


@dataclass
class Reindication:
    tenant: Tenant
    ep: dict[str, Episode] = field(default_factory=dict)

    def ids(self, names: str) -> list[int]:
        return sorted(self.ep[n].pk for n in names.split())


def cohort(world: TenantWorld) -> Reindication:
    """The cohort of the module docstring, with its indicator values stored for July 2025."""
    r = Reindication(tenant=world.tenant)
    admin = world.user(Role.IGO_ADMIN)
    hours_type = EventType.unscoped.create(
        tenant=r.tenant, code="KZ_UUR", name_nl="Kraamzorg", name_en="Kraamzorg", phase=Phase.POSTNATAL,
        unit=Unit.HOUR, disciplines=["maternity_carer"], max_quantity=Decimal(80),
    )  # fmt: skip
    carer = cast(Professional, ProfessionalFactory(tenant=r.tenant, discipline="maternity_carer"))
    rows = {
        "A": ([(dt.date(2025, 3, 1), 49), (dt.date(2025, 7, 12), 60)], 55),
        "B": ([(dt.date(2025, 3, 1), 49), (dt.date(2025, 7, 20), 40)], 45),
        "C": ([(dt.date(2025, 3, 1), 49), (dt.date(2025, 7, 10), 30)], 35),
        "D": ([(dt.date(2025, 7, 20), 49)], 20),
    }
    for name, (indications, delivered) in rows.items():
        ep = cast(
            Episode,
            EpisodeFactory(
                tenant=r.tenant, intake_date=dt.date(2025, 1, 10), due_date=dt.date(2025, 7, 8),
                gestational_age_at_intake=84, kraamzorg_ended_on=END, kraamzorg_indicated_hours=indications[-1][1],
            ),
        )  # fmt: skip
        for on, hours in indications:
            KraamzorgIndication.unscoped.create(
                tenant=r.tenant, episode=ep, indicated_on=on, hours=hours, created_by=admin
            )
        CareEventFactory(
            tenant=r.tenant, episode=ep, event_type=hours_type, phase=Phase.POSTNATAL, professional=carer,
            organisation=carer.organisation, occurred_at=dt.datetime(2025, 7, 10, 9, tzinfo=TZ),
            quantity=Decimal(delivered), created_by=admin,
        )  # fmt: skip
        r.ep[name] = ep
    with tenant_scope(r.tenant):
        indicators_recompute(tenant=r.tenant, start=JULY_2025, end=dt.date(2025, 8, 1))
    return r
