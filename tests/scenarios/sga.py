"""Small for gestational age (< p10): a SYNTHETIC birth-weight reference and a hand-made cohort worked out by
hand in tests/quality/test_sga.py.

THE REFERENCE IS TEST DATA, NOT REAL PERCENTILES. Its "p10" is a straight line made up for arithmetic that
can be checked by eye: girls 1,000 g at 24+0 weeks (168 days) plus 12 g a day, boys 100 g more, by day from
24+0 to 42+6 weeks (168–300 days). It says nothing about real children and must never be loaded anywhere
else; the platform ships no percentiles (docs/quality.md).

| day | girls' synthetic p10 | boys' synthetic p10 |
|---|---|---|
| 37+0 (259) | 2,092 g | 2,192 g |
| 39+3 (276) | 2,296 g | 2,396 g |
| 40+0 (280) | 2,344 g | 2,444 g |

The cohort: twelve episodes, each child born in October 2025 (none has a coordinating care provider: IGO
total only).

| episode | parity | child(ren) | born at | weight | counts as |
|---|---|---|---|---|---|
| C1 | 0 | girl, live | 40+0 | 2,300 g | SGA (< 2,344) |
| C2 | 1 | boy, live | 40+0 | 2,444 g | not SGA (equal to p10 is not below) |
| C3 | 0 | boy, live | 37+0 | 2,100 g | SGA (< 2,192) |
| C4 | 1 | girl, live | 39+3 | 3,400 g | not SGA |
| C5 | 0 | sex not recorded, live | 40+0 | 2,000 g | missing (sex) |
| C6 | 1 | undetermined, live | 39+0 | 3,000 g | missing (sex) |
| C7 | 0 | girl, live | 43+1 | 3,500 g | missing (age after the table) |
| C8 | 1 | girl, live | 40+0 | not recorded | missing (weight) |
| C9 | 0 | twin girls, live | 36+0 | 1,800 g each | left out: not singletons (the reference is of singletons) |
| C10 | 1 | boy, stillborn | 38+0 | 1,500 g | left out: stillborn |
| C11 | 0 | girl, live | 21+6 | 500 g | left out: before 22+0 weeks |
| C12 | 1 | girl, live | 23+0 | 600 g | missing (age before the table) |

October 2025: SGA 2 of 4 (C1, C3) = 50.0 %, exact interval 6.8–93.2 %; completeness 4 of 9 (C5–C8, C12
missing); nullipara 2 of 2 (C1, C3), multipara 0 of 2 (C2, C4).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import cast

from django.utils import timezone

from igo.models import Tenant, User
from igo.tenancy import tenant_scope
from pregnancies.models import Birth, BirthMode, BirthOutcome, BirthPlace, Episode
from quality import birth_weight
from quality.models import BirthWeightReference
from quality.services import indicators_recompute
from tests.factories import EpisodeFactory, UserFactory, second_factor
from tests.scenarios.people import TenantWorld

TZ = timezone.get_default_timezone()
OCTOBER_2025 = dt.date(2025, 10, 1)
NOVEMBER_2025 = dt.date(2025, 11, 1)
SYNTHETIC_SOURCE = "SYNTHETIC TEST DATA - not real percentiles"
FIRST_DAY, LAST_DAY = 168, 300  # 24+0 to 42+6 weeks
OPERATOR_EMAIL = "operator@platform.test"


def synthetic_p10(sex: str, days: int) -> int:
    """The made-up "p10" of the test table (see the module docstring): not a real percentile."""
    return 1000 + 12 * (days - FIRST_DAY) + (100 if sex == "male" else 0)


def synthetic_csv(*, shift: int = 0, first: int = FIRST_DAY, last: int = LAST_DAY) -> bytes:
    """The synthetic table as the import reads it, every value `shift` grams higher."""
    lines = ["sex;gestational_age_days;p10_grams"]
    for sex in ("female", "male"):
        lines += [f"{sex};{d};{synthetic_p10(sex, d) + shift}" for d in range(first, last + 1)]
    return ("\n".join(lines) + "\n").encode()


def operator() -> User:
    """The platform operator (a staff user with a second factor), who alone loads a reference."""
    existing = User.objects.filter(email=OPERATOR_EMAIL).first()
    if existing is not None:
        return existing
    user = cast(User, UserFactory(email=OPERATOR_EMAIL, is_staff=True))
    second_factor(user)
    return user


def load_synthetic(
    actor: User | None = None, *, shift: int = 0, version: str = "test-1"
) -> BirthWeightReference:
    return birth_weight.reference_import(
        actor=actor or operator(),
        content=synthetic_csv(shift=shift),
        source=SYNTHETIC_SOURCE,
        version=version,
        filename="synthetic.csv",
    )


@dataclass
class Cohort:
    tenant: Tenant
    ep: dict[str, Episode] = field(default_factory=dict)

    def ids(self, names: str) -> list[int]:
        return sorted(self.ep[n].pk for n in names.split())

    def recompute(self) -> None:
        with tenant_scope(self.tenant):
            indicators_recompute(tenant=self.tenant, start=OCTOBER_2025, end=NOVEMBER_2025)


def cohort(world: TenantWorld) -> Cohort:
    """The cohort of the module docstring (no values computed yet: load a reference, then `recompute`)."""
    c = Cohort(tenant=world.tenant)

    def episode(
        name: str,
        *,
        day: int,
        days: int,
        parity: int,
        sex: str,
        weight: int | None,
        children: int = 1,
        outcome: str = BirthOutcome.LIVE,
    ) -> None:
        born = dt.datetime(2025, 10, day, 10, tzinfo=TZ)
        due = born.date() + dt.timedelta(days=280 - days)  # born at `days` of gestation
        ep = cast(
            Episode,
            EpisodeFactory(
                tenant=c.tenant, intake_date=dt.date(2025, 3, 1), due_date=due, gestational_age_at_intake=70,
                parity=parity, gravida=parity + 1, labour_started_at=born - dt.timedelta(hours=5),
            ),
        )  # fmt: skip
        for number in range(1, children + 1):
            Birth.unscoped.create(
                tenant=c.tenant, episode=ep, child_number=number, place=BirthPlace.CLINICAL,
                born_at=born + dt.timedelta(minutes=10 * (number - 1)), mode=BirthMode.SPONTANEOUS,
                outcome=outcome, sex=sex, weight_grams=weight,
            )  # fmt: skip
        c.ep[name] = ep

    episode("C1", day=2, days=280, parity=0, sex="female", weight=2300)
    episode("C2", day=3, days=280, parity=1, sex="male", weight=2444)
    episode("C3", day=5, days=259, parity=0, sex="male", weight=2100)
    episode("C4", day=6, days=276, parity=1, sex="female", weight=3400)
    episode("C5", day=8, days=280, parity=0, sex="", weight=2000)
    episode("C6", day=9, days=273, parity=1, sex="undetermined", weight=3000)
    episode("C7", day=12, days=302, parity=0, sex="female", weight=3500)
    episode("C8", day=13, days=280, parity=1, sex="female", weight=None)
    episode("C9", day=15, days=252, parity=0, sex="female", weight=1800, children=2)
    episode("C10", day=18, days=266, parity=1, sex="male", weight=1500, outcome=BirthOutcome.STILLBORN)
    episode("C11", day=20, days=153, parity=0, sex="female", weight=500)
    episode("C12", day=22, days=161, parity=1, sex="female", weight=600)
    return c
