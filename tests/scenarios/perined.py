"""A hand-made cohort for Perined's population rules (issue 20), with every answer worked out by hand in
tests/quality/test_perined_rules.py.

Seven women give birth in June 2025, one in February 2025 and one in January 2026. None has a
coordinating care provider, so everything counts in the IGO total only. Gestational age is set through
the due date (280 days − (due date − day of birth)).

| woman | parity | born | weeks | children | outcome | place, mode | line at birth | blood loss | Robson |
|---|---|---|---|---|---|---|---|---|---|
| A | 0 | 3 Jun 2025  | 40+0 | 1: 3,500 g | live | home, spontaneous | first | 300 | 1 |
| B | 1 | 10 Jun 2025 | 35+0 | twins: 2,300 g; 2,400 g (NICU) | live, live | clinical, spontaneous; caesarean | second | 900 | 8 (twins) |
| C | 0 | 12 Jun 2025 | 20+0 | 1: 350 g | stillborn | clinical, spontaneous | second | 200 | 10 (outside the population) |
| D | 2 | 15 Jun 2025 | 30+0 | 1: 1,400 g | stillborn | clinical, spontaneous | second | not recorded | 10 (preterm) |
| E | 0 | 20 Jun 2025 | 39+0 | 1: 3,300 g, died 30 Jun (day 10) | live | polyclinic, caesarean | first | 1,200 | 2 (no labour) |
| F | 1 | 25 Jun 2025 | 23+0 | 1: 600 g (NICU), died 27 Jun (day 2) | live | clinical, spontaneous | second | 400 | 7 (breech) |
| G | 0 | 10 Feb 2025 | 38+0 | 1: 3,100 g | live | home, spontaneous | first | 250 | 1 |
| H | 0 | 14 Jan 2026 | 39+0 | 1: 3,200 g | live | birth centre, spontaneous | first | 350 | 1 |

Every woman is recorded cephalic with spontaneous labour and no previous caesarean, except E (no labour:
a primary caesarean) and F (breech).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, cast

from django.utils import timezone

from igo.models import Role, Tenant
from igo.tenancy import tenant_scope
from pregnancies.models import (
    Birth,
    BirthMode,
    BirthOutcome,
    BirthPlace,
    Episode,
    LabourOnset,
    Line,
    LineTransfer,
    Presentation,
)
from quality.services import indicators_recompute
from tests.factories import EpisodeFactory
from tests.scenarios.people import TenantWorld

TZ = timezone.get_default_timezone()
LIVE, STILL = BirthOutcome.LIVE, BirthOutcome.STILLBORN
SPONT, CS = BirthMode.SPONTANEOUS, BirthMode.CAESAREAN
JUNE_2025 = dt.date(2025, 6, 1)


@dataclass
class Cohort:
    tenant: Tenant
    ep: dict[str, Episode] = field(default_factory=dict)

    def ids(self, names: str) -> list[int]:
        return sorted(self.ep[n].pk for n in names.split())


def _woman(
    c: Cohort,
    world: TenantWorld,
    name: str,
    *,
    born: dt.date,
    weeks: int,
    parity: int,
    line: str,
    children: list[dict[str, Any]],
    blood_loss_ml: int | None,
    presentation: str = Presentation.CEPHALIC,
    labour_onset: str = LabourOnset.SPONTANEOUS,
) -> None:
    due = born + dt.timedelta(days=280 - weeks * 7)
    intake = born - dt.timedelta(days=weeks * 7 - 70)  # intake at 10+0 weeks
    ep = cast(
        Episode,
        EpisodeFactory(
            tenant=c.tenant,
            intake_date=intake,
            due_date=due,
            gestational_age_at_intake=70,
            parity=parity,
            gravida=parity + 1,
            blood_loss_ml=blood_loss_ml,
            presentation=presentation,
            labour_onset=labour_onset,
            previous_caesareans=0,
        ),
    )
    LineTransfer.unscoped.create(
        tenant=c.tenant,
        episode=ep,
        line=line,
        effective_at=dt.datetime.combine(intake, dt.time(9), tzinfo=TZ),
        created_by=world.user(Role.IGO_ADMIN),
    )
    for number, child in enumerate(children, start=1):
        Birth.unscoped.create(
            tenant=c.tenant,
            episode=ep,
            child_number=number,
            born_at=dt.datetime.combine(born, dt.time(10, number * 10), tzinfo=TZ),
            **child,
        )
    c.ep[name] = ep


def cohort(world: TenantWorld) -> Cohort:
    """The cohort of the module docstring, with its indicator values stored for January 2025 up to
    March 2026."""
    c = Cohort(tenant=world.tenant)
    clin, home = BirthPlace.CLINICAL, BirthPlace.HOME

    def child(weight: int, place: str, mode: str = SPONT, outcome: str = LIVE, **more: Any) -> dict[str, Any]:
        return {"weight_grams": weight, "place": place, "mode": mode, "outcome": outcome, **more}

    june = dt.date(2025, 6, 1)
    _woman(c, world, "A", born=june.replace(day=3), weeks=40, parity=0, line=Line.FIRST,
           children=[child(3500, home)], blood_loss_ml=300)  # fmt: skip
    _woman(c, world, "B", born=june.replace(day=10), weeks=35, parity=1, line=Line.SECOND,
           children=[child(2300, clin), child(2400, clin, CS, nicu_admission=True)], blood_loss_ml=900)  # fmt: skip
    _woman(c, world, "C", born=june.replace(day=12), weeks=20, parity=0, line=Line.SECOND,
           children=[child(350, clin, outcome=STILL)], blood_loss_ml=200)  # fmt: skip
    _woman(c, world, "D", born=june.replace(day=15), weeks=30, parity=2, line=Line.SECOND,
           children=[child(1400, clin, outcome=STILL)], blood_loss_ml=None)  # fmt: skip
    _woman(c, world, "E", born=june.replace(day=20), weeks=39, parity=0, line=Line.FIRST,
           children=[child(3300, BirthPlace.POLYCLINIC, CS, neonatal_death_on=dt.date(2025, 6, 30))],
           blood_loss_ml=1200, labour_onset=LabourOnset.NO_LABOUR)  # fmt: skip
    _woman(c, world, "F", born=june.replace(day=25), weeks=23, parity=1, line=Line.SECOND,
           children=[child(600, clin, nicu_admission=True, neonatal_death_on=dt.date(2025, 6, 27))],
           blood_loss_ml=400, presentation=Presentation.BREECH)  # fmt: skip
    _woman(c, world, "G", born=dt.date(2025, 2, 10), weeks=38, parity=0, line=Line.FIRST,
           children=[child(3100, home)], blood_loss_ml=250)  # fmt: skip
    _woman(c, world, "H", born=dt.date(2026, 1, 14), weeks=39, parity=0, line=Line.FIRST,
           children=[child(3200, BirthPlace.BIRTH_CENTRE)], blood_loss_ml=350)  # fmt: skip
    with tenant_scope(c.tenant):
        indicators_recompute(tenant=c.tenant, start=dt.date(2025, 1, 1), end=dt.date(2026, 4, 1))
    return c
