"""A hand-made cohort for the indicators split by Robson group (issue 20), worked out by hand in
tests/quality/test_robson_splits.py.

Nine women give birth in September 2025, each with one child born at 10:00 (R7: twins), none with a
coordinating care provider (IGO total only). Gestational age is set through the due date.

| woman | parity | previous CS | presentation | weeks | onset | mode | blood loss | perineum | Apgar 5 | Robson |
|---|---|---|---|---|---|---|---|---|---|---|
| R1 | 0 | — | cephalic | 40 | spontaneous | spontaneous | 300 | second | 9 | 1 |
| R2 | 0 | — | cephalic | 40 | spontaneous | caesarean | 1,100 | — | 6 | 1 |
| R3 | 0 | — | cephalic | 39 | induced | caesarean | 800 | — | 8 | 2 |
| R4 | 1 | 0 | cephalic | 39 | spontaneous | spontaneous | 400 | third | 9 | 3 |
| R5 | 1 | 1 | cephalic | 40 | spontaneous | spontaneous | 1,500 | intact | 10 | 5 |
| R6 | 2 | 1 | cephalic | 38 | no labour | caesarean | 600 | — | 9 | 5 |
| R7 | 1 | 0 | cephalic | 36 | spontaneous | spontaneous, caesarean | 1,200 | first | 7; 5 | 8 |
| R8 | 0 | — | breech | 39 | no labour | caesarean | not recorded | — | 9 | 6 |
| R9 | 1 | — (not recorded) | cephalic | 40 | spontaneous | spontaneous | 350 | intact | 9 | not classifiable |
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, cast

from django.utils import timezone

from igo.models import Role, Tenant
from igo.tenancy import tenant_scope
from pregnancies.models import Birth, BirthMode, BirthOutcome, BirthPlace, Episode, Line, LineTransfer
from quality.services import indicators_recompute
from tests.factories import EpisodeFactory
from tests.scenarios.people import TenantWorld

TZ = timezone.get_default_timezone()
SEPTEMBER_2025 = dt.date(2025, 9, 1)
SPONT, CS = BirthMode.SPONTANEOUS, BirthMode.CAESAREAN


@dataclass
class RobsonCohort:
    tenant: Tenant
    ep: dict[str, Episode] = field(default_factory=dict)


def cohort(world: TenantWorld) -> RobsonCohort:
    """The cohort of the module docstring, with its indicator values stored for September 2025."""
    c = RobsonCohort(tenant=world.tenant)
    admin = world.user(Role.IGO_ADMIN)

    def woman(
        name: str,
        day: int,
        parity: int,
        previous: int | None,
        presentation: str,
        weeks: int,
        onset: str,
        modes: list[str],
        blood: int | None,
        perineum: str,
        apgars: list[int],
    ) -> None:
        born = dt.date(2025, 9, day)
        fields: dict[str, Any] = {
            "presentation": presentation, "previous_caesareans": previous, "labour_onset": onset,
            "blood_loss_ml": blood, "perineum": perineum,
        }  # fmt: skip
        ep = cast(
            Episode,
            EpisodeFactory(
                tenant=c.tenant, intake_date=born - dt.timedelta(days=weeks * 7 - 70),
                due_date=born + dt.timedelta(days=280 - weeks * 7), gestational_age_at_intake=70,
                parity=parity, gravida=parity + 1, **fields,
            ),
        )  # fmt: skip
        LineTransfer.unscoped.create(
            tenant=c.tenant, episode=ep, line=Line.SECOND, effective_at=dt.datetime(2025, 3, 1, 9, tzinfo=TZ),
            created_by=admin,
        )  # fmt: skip
        for number, (mode, apgar) in enumerate(zip(modes, apgars, strict=True), start=1):
            Birth.unscoped.create(
                tenant=c.tenant, episode=ep, child_number=number, place=BirthPlace.CLINICAL, mode=mode,
                outcome=BirthOutcome.LIVE, weight_grams=3000, apgar_5=apgar,
                born_at=dt.datetime(2025, 9, day, 10, number * 5, tzinfo=TZ),
            )  # fmt: skip
        c.ep[name] = ep

    woman("R1", 2, 0, None, "cephalic", 40, "spontaneous", [SPONT], 300, "second", [9])
    woman("R2", 3, 0, None, "cephalic", 40, "spontaneous", [CS], 1100, "", [6])
    woman("R3", 4, 0, None, "cephalic", 39, "induced", [CS], 800, "", [8])
    woman("R4", 5, 1, 0, "cephalic", 39, "spontaneous", [SPONT], 400, "third", [9])
    woman("R5", 8, 1, 1, "cephalic", 40, "spontaneous", [SPONT], 1500, "intact", [10])
    woman("R6", 9, 2, 1, "cephalic", 38, "no_labour", [CS], 600, "", [9])
    woman("R7", 10, 1, 0, "cephalic", 36, "spontaneous", [SPONT, CS], 1200, "first", [7, 5])
    woman("R8", 11, 0, None, "breech", 39, "no_labour", [CS], None, "", [9])
    woman("R9", 12, 1, None, "cephalic", 40, "spontaneous", [SPONT], 350, "intact", [9])
    with tenant_scope(c.tenant):
        indicators_recompute(tenant=c.tenant, start=SEPTEMBER_2025, end=dt.date(2025, 10, 1))
    return c
