"""Severe maternal morbidity (LEMMoN criteria) per 1,000 women giving birth from 22+0 weeks, on the
hand-made cohort of tests.scenarios.lemmon (its docstring has the table).

Worked out by hand for September 2025, IGO total:

  population   women whose first child was born from 22+0 weeks: M1 M2 M3 M4 M5 M7 (M6 at 21+6 counts
               in no birth indicator, whatever her record says)                                       6
  denominator  of them with the criteria recorded (M4 not recorded: missing)   M1 M2 M3 M5 M7            5
  numerator    at least one criterion: M1 (ICU, transfusion: one woman, counted once), M3 (eclampsia),
               M7 (HELLP with liver haematoma; twins are one woman)           M1 M3 M7                  3
  value        3 / 5 × 1000 = 600.0 ‰; completeness 5 of 6
  interval     exact 95 % Clopper–Pearson for 3 of 5: 0.1466–0.9473 (published tables), 146.6–947.3 ‰
  parity       nullipara M1 M3 M7: 3 of 3; multipara M2 M5: 0 of 2 (M4 missing)
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from quality.indicators import BY_CODE, UNAVAILABLE, interval
from quality.models import IndicatorValue
from tests.scenarios.lemmon import OCTOBER_2025, SEPTEMBER_2025, Lemmon, cohort
from tests.scenarios.people import TenantWorld

pytestmark = pytest.mark.dated
D = Decimal
CODE = "severe_maternal_morbidity"


@pytest.fixture
def m(world_a: TenantWorld) -> Lemmon:
    return cohort(world_a)


def stored(m: Lemmon, period=SEPTEMBER_2025) -> IndicatorValue:
    return IndicatorValue.unscoped.get(tenant=m.tenant, indicator=CODE, period=period, organisation=None)


def test_the_rate_matches_the_hand_worked_cohort(m: Lemmon) -> None:
    v = stored(m)
    assert (v.numerator, v.denominator) == (D(3), D(5))
    assert (v.numerator_episodes, v.denominator_episodes) == (m.ids("M1 M3 M7"), m.ids("M1 M2 M3 M5 M7"))
    assert (v.records, v.population) == (5, 6)  # M4 not recorded: completeness 5 of 6
    indicator = BY_CODE[CODE]
    assert indicator.value(v.numerator, v.denominator) == D("600.0")
    assert interval(indicator, v.numerator, v.denominator) == (D("146.6"), D("947.3"))


def test_the_rate_is_split_by_parity(m: Lemmon) -> None:
    assert stored(m).splits == {
        "nullipara": {"numerator": "3", "denominator": "3", "records": 3},
        "multipara": {"numerator": "0", "denominator": "2", "records": 2},
    }


def test_a_birth_before_22_weeks_and_other_months_count_nowhere(m: Lemmon) -> None:
    assert m.ep["M6"].pk not in stored(m).denominator_episodes
    assert not IndicatorValue.unscoped.filter(tenant=m.tenant, indicator=CODE, period=OCTOBER_2025).exists()


def test_the_definition_is_documented_and_no_longer_unavailable() -> None:
    indicator = BY_CODE[CODE]
    assert (indicator.unit, indicator.better, indicator.basis) == ("per_mille", "lower", "woman")
    assert indicator.proportion and indicator.missing_text
    assert "LEMMoN" in str(indicator.source) and "Zwart" in str(indicator.source)
    assert indicator.version == 1
    assert CODE not in {code for code, _name, _why in UNAVAILABLE}
