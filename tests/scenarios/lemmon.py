"""A hand-made cohort for the severe maternal morbidity indicator (LEMMoN criteria), worked out by hand in
tests/quality/test_severe_maternal_morbidity.py.

Seven women give birth in September 2025; none has a coordinating care provider (IGO total only). The
LEMMoN criteria are stored on the mother's record (`Episode.severe_morbidity`: None not recorded, []
none of them).

| woman | parity | gestational age | children | LEMMoN criteria | blood loss |
|---|---|---|---|---|---|
| M1 | 0 | 40+0 | 1 | ICU admission, transfusion of 4+ units | 2,500 ml |
| M2 | 1 | 39+0 | 1 | none | 300 ml |
| M3 | 0 | 38+0 | 1 | eclampsia | 400 ml |
| M4 | 2 | 40+0 | 1 | not recorded | 350 ml |
| M5 | 1 | 41+0 | 1 | none | 500 ml |
| M6 | 0 | 21+6 | 1 (stillborn) | other | — |
| M7 | 0 | 36+0 | twins | HELLP with liver haematoma | 700 ml |
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, cast

from django.utils import timezone

from igo.models import Tenant
from igo.tenancy import tenant_scope
from pregnancies.models import Birth, BirthMode, BirthOutcome, BirthPlace, Episode
from quality.services import indicators_recompute
from tests.factories import EpisodeFactory
from tests.scenarios.people import TenantWorld

TZ = timezone.get_default_timezone()
SEPTEMBER_2025 = dt.date(2025, 9, 1)
OCTOBER_2025 = dt.date(2025, 10, 1)


@dataclass
class Lemmon:
    tenant: Tenant
    ep: dict[str, Episode] = field(default_factory=dict)

    def ids(self, names: str) -> list[int]:
        return sorted(self.ep[n].pk for n in names.split())


def cohort(world: TenantWorld) -> Lemmon:
    """The cohort of the module docstring, with its indicator values stored for September 2025."""
    m = Lemmon(tenant=world.tenant)

    def woman(
        name: str,
        *,
        day: int,
        weeks: int,
        extra_days: int = 0,
        parity: int,
        criteria: list[str] | None,
        children: int = 1,
        outcome: str = BirthOutcome.LIVE,
        **fields: Any,
    ) -> None:
        born = dt.datetime(2025, 9, day, 10, tzinfo=TZ)
        # Born at `weeks`+`extra_days`: the due date lies 280 days after the start of the pregnancy.
        due = born.date() + dt.timedelta(days=280 - (weeks * 7 + extra_days))
        ep = cast(
            Episode,
            EpisodeFactory(
                tenant=m.tenant, intake_date=dt.date(2025, 3, 1), due_date=due, gestational_age_at_intake=70,
                parity=parity, gravida=parity + 1, severe_morbidity=criteria,
                labour_started_at=born - dt.timedelta(hours=5), **fields,
            ),
        )  # fmt: skip
        for number in range(1, children + 1):
            Birth.unscoped.create(
                tenant=m.tenant, episode=ep, child_number=number, place=BirthPlace.CLINICAL,
                born_at=born + dt.timedelta(minutes=10 * (number - 1)), mode=BirthMode.SPONTANEOUS,
                outcome=outcome,
            )  # fmt: skip
        m.ep[name] = ep

    woman("M1", day=2, weeks=40, parity=0, criteria=["icu", "transfusion"], blood_loss_ml=2500)
    woman("M2", day=5, weeks=39, parity=1, criteria=[], blood_loss_ml=300)
    woman("M3", day=9, weeks=38, parity=0, criteria=["eclampsia"], blood_loss_ml=400)
    woman("M4", day=12, weeks=40, parity=2, criteria=None, blood_loss_ml=350)
    woman("M5", day=16, weeks=41, parity=1, criteria=[], blood_loss_ml=500)
    woman("M6", day=20, weeks=21, extra_days=6, parity=0, criteria=["other"], outcome=BirthOutcome.STILLBORN)
    woman("M7", day=25, weeks=36, parity=0, criteria=["hellp_liver"], children=2, blood_loss_ml=700)
    with tenant_scope(m.tenant):
        indicators_recompute(tenant=m.tenant, start=SEPTEMBER_2025, end=OCTOBER_2025)
    return m
