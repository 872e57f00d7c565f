"""Kraamzorg hours against the (re-)indication in force (issue 20): the last indication dated on or before
the end of kraamzorg, on the hand-made cohort of tests.scenarios.reindication (its docstring has the table).

Worked out by hand for July 2025, IGO total:

  kraamzorg_below_indication   A 55 < 60 yes, B 45 < 49 yes, C 35 ≥ 30 no; D not recorded   2/3 of 4
  kraamzorg_hours              delivered 55 + 45 + 35 = 135 over in force 60 + 49 + 30 = 139 = 97.1 %
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from pregnancies.models import Episode, KraamzorgIndication
from quality.indicators import BY_CODE, indication_in_force
from quality.models import IndicatorValue
from tests.scenarios.people import TenantWorld
from tests.scenarios.reindication import JULY_2025, Reindication, cohort

pytestmark = [pytest.mark.django_db, pytest.mark.dated]
D = Decimal


@pytest.fixture
def r(world_a: TenantWorld) -> Reindication:
    return cohort(world_a)


def value(r: Reindication, code: str) -> IndicatorValue:
    return IndicatorValue.unscoped.get(tenant=r.tenant, indicator=code, period=JULY_2025, organisation=None)


def test_hours_below_the_indication_in_force(r: Reindication) -> None:
    below = value(r, "kraamzorg_below_indication")
    assert (below.numerator, below.denominator) == (D(2), D(3))
    assert (below.numerator_episodes, below.denominator_episodes) == (r.ids("A B"), r.ids("A B C"))
    assert (below.records, below.population) == (3, 4)
    hours = value(r, "kraamzorg_hours")
    assert (hours.numerator, hours.denominator) == (D(135), D(139))
    assert BY_CODE["kraamzorg_hours"].value(hours.numerator, hours.denominator) == D("97.1")


def test_the_indication_in_force_is_the_last_dated_on_or_before_the_end() -> None:
    episode = Episode(kraamzorg_indicated_hours=72)
    rows = [
        KraamzorgIndication(indicated_on=dt.date(2025, 3, 1), hours=49),
        KraamzorgIndication(indicated_on=dt.date(2025, 7, 10), hours=60),
        KraamzorgIndication(indicated_on=dt.date(2025, 7, 10), hours=56),  # same day, recorded later: counts
        KraamzorgIndication(indicated_on=dt.date(2025, 7, 20), hours=40),
    ]
    assert indication_in_force(episode, rows, dt.date(2025, 7, 15)) == 56
    assert indication_in_force(episode, rows, dt.date(2025, 7, 10)) == 56  # on the end day itself
    assert indication_in_force(episode, rows, dt.date(2025, 7, 9)) == 49
    assert indication_in_force(episode, rows, dt.date(2025, 2, 28)) is None  # all after the end
    assert indication_in_force(episode, [], dt.date(2025, 7, 15)) == 72  # no history: the stored hours
