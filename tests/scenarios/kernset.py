"""A hand-made cohort for the Kernset Geboortezorg and Zorginzicht kraamzorg indicators (issue 20), worked
out by hand in tests/quality/test_kernset_indicators.py.

Five women give birth in June 2025 at 40+0 weeks; none has a coordinating care provider (IGO total
only). Times are local; kraamzorg hours are logged by the maternity carers c1..c3.

| woman | parity | line | labour, birth, placenta + 2 h | onset | mode | perineum | Apgar 5 | kraamzorg (indicated / logged, carers, end) | feeding |
|---|---|---|---|---|---|---|---|---|---|
| K1 | 0 | first; second 5 Jun 08:00 | 5 Jun 06:00, 10:00, — | induced | spontaneous | third | 6 | 49 / 40 h, c1 c2 c3, 20 Jun | exclusive |
| K2 | 1 | first; second 10 Jun 10:00 | 10 Jun 05:00, 09:00, 11:30 | spontaneous | spontaneous | fourth | 9 | 49 / 49 h, c1 c2, 20 Jun | partial |
| K3 | 0 | first; second 1 Jun 09:00 | 12 Jun 04:00, twins 10:00 10:10 | induced | caesarean | — | 5; not recorded | not recorded / 10 h, c1, 25 Jun | none |
| K4 | 2 | second | —, 15 Jun 10:00 stillborn | no labour | caesarean | — | — | 24 / none, 22 Jun | — |
| K5 | 0 | first | 20 Jun 02:00, 06:00, — | not recorded | assisted | episiotomy | 10 | 49 / 52 h, c3, 25 Jun | not recorded |
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from django.utils import timezone

from igo.models import Role, Tenant
from igo.tenancy import tenant_scope
from pregnancies.models import (
    Birth,
    BirthMode,
    BirthOutcome,
    BirthPlace,
    CareEvent,
    Episode,
    EventType,
    Line,
    LineTransfer,
    Phase,
    Unit,
)
from providers.models import Professional
from quality.services import indicators_recompute
from tests.factories import CareEventFactory, EpisodeFactory, ProfessionalFactory
from tests.scenarios.people import TenantWorld

TZ = timezone.get_default_timezone()
JUNE_2025 = dt.date(2025, 6, 1)


@dataclass
class Kernset:
    tenant: Tenant
    ep: dict[str, Episode] = field(default_factory=dict)

    def ids(self, names: str) -> list[int]:
        return sorted(self.ep[n].pk for n in names.split())


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, 6, day, hour, minute, tzinfo=TZ)


def cohort(world: TenantWorld) -> Kernset:
    """The cohort of the module docstring, with its indicator values stored for June 2025."""
    k = Kernset(tenant=world.tenant)
    admin = world.user(Role.IGO_ADMIN)
    hours = EventType.unscoped.create(
        tenant=k.tenant, code="KZ_UUR", name_nl="Kraamzorg", name_en="Kraamzorg", phase=Phase.POSTNATAL,
        unit=Unit.HOUR, disciplines=["maternity_carer"], max_quantity=Decimal(80),
    )  # fmt: skip
    carers = {
        name: cast(Professional, ProfessionalFactory(tenant=k.tenant, discipline="maternity_carer"))
        for name in ("c1", "c2", "c3")
    }

    def woman(
        name: str,
        *,
        parity: int,
        lines: list[tuple[str, dt.datetime]],
        children: list[dict[str, Any]],
        care: list[tuple[str, int]] = (),  # type: ignore[assignment]
        **fields: Any,
    ) -> None:
        born = children[0]["born_at"].date()
        ep = cast(
            Episode,
            EpisodeFactory(
                tenant=k.tenant, intake_date=dt.date(2024, 11, 1), due_date=born,
                gestational_age_at_intake=84, parity=parity, gravida=parity + 1, **fields,
            ),
        )  # fmt: skip
        for line, moment in lines:
            LineTransfer.unscoped.create(
                tenant=k.tenant, episode=ep, line=line, effective_at=moment, created_by=admin
            )
        for number, child in enumerate(children, start=1):
            Birth.unscoped.create(
                tenant=k.tenant, episode=ep, child_number=number, place=BirthPlace.CLINICAL, **child
            )
        for i, (carer, quantity) in enumerate(care):
            CareEventFactory(
                tenant=k.tenant, episode=ep, event_type=hours, phase=Phase.POSTNATAL, professional=carers[carer],
                organisation=carers[carer].organisation, occurred_at=at(21, 9 + i) if born.day < 21 else at(26, 9 + i),
                quantity=Decimal(quantity), created_by=admin,
            )  # fmt: skip
        k.ep[name] = ep

    intake = dt.datetime(2024, 11, 1, 9, tzinfo=TZ)
    live, spont, cs = BirthOutcome.LIVE, BirthMode.SPONTANEOUS, BirthMode.CAESAREAN
    woman("K1", parity=0, lines=[(Line.FIRST, intake), (Line.SECOND, at(5, 8))],
          children=[{"born_at": at(5, 10), "mode": spont, "outcome": live, "apgar_5": 6}],
          care=[("c1", 14), ("c2", 14), ("c3", 12)], labour_started_at=at(5, 6), labour_onset="induced",
          perineum="third", kraamzorg_indicated_hours=49, kraamzorg_ended_on=dt.date(2025, 6, 20),
          breastfeeding_at_kraamzorg_end="exclusive")  # fmt: skip
    woman("K2", parity=1, lines=[(Line.FIRST, intake), (Line.SECOND, at(10, 10))],
          children=[{"born_at": at(10, 9), "mode": spont, "outcome": live, "apgar_5": 9}],
          care=[("c1", 25), ("c2", 24)], labour_started_at=at(10, 5), placenta_plus_2h_at=at(10, 11, 30),
          labour_onset="spontaneous", perineum="fourth", kraamzorg_indicated_hours=49,
          kraamzorg_ended_on=dt.date(2025, 6, 20), breastfeeding_at_kraamzorg_end="partial")  # fmt: skip
    woman("K3", parity=0, lines=[(Line.FIRST, intake), (Line.SECOND, at(1, 9))],
          children=[{"born_at": at(12, 10), "mode": cs, "outcome": live, "apgar_5": 5},
                    {"born_at": at(12, 10, 10), "mode": cs, "outcome": live, "apgar_5": None}],
          care=[("c1", 10)], labour_started_at=at(12, 4), labour_onset="induced",
          kraamzorg_ended_on=dt.date(2025, 6, 25), breastfeeding_at_kraamzorg_end="none")  # fmt: skip
    woman("K4", parity=2, lines=[(Line.SECOND, intake)],
          children=[{"born_at": at(15, 10), "mode": cs, "outcome": BirthOutcome.STILLBORN}],
          labour_onset="no_labour", kraamzorg_indicated_hours=24, kraamzorg_ended_on=dt.date(2025, 6, 22))  # fmt: skip
    woman("K5", parity=0, lines=[(Line.FIRST, intake)],
          children=[{"born_at": at(20, 6), "mode": BirthMode.ASSISTED, "outcome": live, "apgar_5": 10}],
          care=[("c3", 52)], labour_started_at=at(20, 2), perineum="episiotomy", kraamzorg_indicated_hours=49,
          kraamzorg_ended_on=dt.date(2025, 6, 25))  # fmt: skip
    assert CareEvent.unscoped.filter(tenant=k.tenant).count() == 7
    with tenant_scope(k.tenant):
        indicators_recompute(tenant=k.tenant, start=JUNE_2025, end=dt.date(2025, 7, 1))
    return k
