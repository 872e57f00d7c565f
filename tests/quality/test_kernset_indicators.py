"""The Kernset Geboortezorg indicators, the three transfer moments and Zorginzicht's kraamzorg indicators
(issue 20), on the hand-made cohort of tests.scenarios.kernset (its docstring has the table).

Worked out by hand for June 2025, IGO total (numerator / denominator; population for completeness):

  referral_before_labour  first line at intake K1 K2 K3 K5; K3 moved on 1 June, before labour    1/4
                          nullipara K1 K3 K5: 1/3; multipara K2: 0/1
  transfer_in_labour      first line at the start of labour K1 K2 K5 (K3 already second, K4 no
                          labour); K1 moved at 08:00, labour 06:00, birth 10:00                   1/3
                          nullipara K1 K5: 1/2; multipara K2: 0/1
  transfer_after_birth    first line at the birth K2 K5; K2 moved at 10:00, after the birth at
                          09:00 and before placenta + 2 h (11:30)                                 1/2
  induction               K1 K3 induced, K2 spontaneous, K4 no labour; K5 not recorded            2/4 of 5
  severe_perineal_tear    vaginal births K1 K2 K5 (K3 K4 caesarean): third and fourth degree;
                          K5's episiotomy is no tear                                              2/3
  low_apgar               live-born children K1 (6), K2 (9), K3a (5), K5 (10); K3b not recorded;
                          K4 stillborn, not in the population                                     2/4 of 5
  kraamzorg_below_ind.    K1 40 < 49, K4 0 < 24 (nothing logged); K2 49 = 49 and K5 52 > 49 not;
                          K3 nothing indicated (not recorded)                                      2/4 of 5
  kraamzorg_carers        with kraamzorg hours logged K1 (3 carers), K2 (2), K3 (1), K5 (1)        3/4
  breastfeeding           a child alive at the end of kraamzorg K1 K2 K3 K5 (K4 stillborn); K5
                          not recorded. Exclusive K1: 1/3; exclusive or partial K1 K2: 2/3        of 4
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from igo.tenancy import tenant_scope
from quality.indicators import BY_CODE, UNAVAILABLE, unavailable
from quality.models import IndicatorValue
from tests.scenarios.kernset import JUNE_2025, Kernset, cohort
from tests.scenarios.people import TenantWorld

pytestmark = pytest.mark.dated
D = Decimal


@pytest.fixture
def k(world_a: TenantWorld) -> Kernset:
    return cohort(world_a)


def value(k: Kernset, code: str) -> IndicatorValue:
    return IndicatorValue.unscoped.get(tenant=k.tenant, indicator=code, period=JUNE_2025, organisation=None)


# code -> (numerator, denominator, numerator episodes, denominator episodes, records, population)
EXPECTED = {
    "referral_before_labour": (1, 4, "K3", "K1 K2 K3 K5", 4, 4),
    "transfer_in_labour": (1, 3, "K1", "K1 K2 K5", 3, 3),
    "transfer_after_birth": (1, 2, "K2", "K2 K5", 2, 2),
    "induction": (2, 4, "K1 K3", "K1 K2 K3 K4", 4, 5),
    "severe_perineal_tear": (2, 3, "K1 K2", "K1 K2 K5", 3, 3),
    "low_apgar": (2, 4, "K1 K3", "K1 K2 K3 K5", 4, 5),
    "kraamzorg_below_indication": (2, 4, "K1 K4", "K1 K2 K4 K5", 4, 5),
    "kraamzorg_carers": (3, 4, "K2 K3 K5", "K1 K2 K3 K5", 4, 4),
    "breastfeeding_exclusive": (1, 3, "K1", "K1 K2 K3", 3, 4),
    "breastfeeding_any": (2, 3, "K1 K2", "K1 K2 K3", 3, 4),
}


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_each_new_indicator_matches_the_hand_worked_cohort(k: Kernset, code: str) -> None:
    num, den, num_eps, den_eps, records, population = EXPECTED[code]
    v = value(k, code)
    assert (v.numerator, v.denominator) == (D(num), D(den))
    assert (v.numerator_episodes, v.denominator_episodes) == (k.ids(num_eps), k.ids(den_eps))
    assert (v.records, v.population) == (records, population)


def test_transfers_are_split_by_parity(k: Kernset) -> None:
    assert value(k, "transfer_in_labour").splits == {
        "nullipara": {"numerator": "1", "denominator": "2", "records": 2},
        "multipara": {"numerator": "0", "denominator": "1", "records": 1},
    }
    assert value(k, "referral_before_labour").splits == {
        "nullipara": {"numerator": "1", "denominator": "3", "records": 3},
        "multipara": {"numerator": "0", "denominator": "1", "records": 1},
    }


def test_the_new_proportions_have_exact_intervals_and_a_documented_definition() -> None:
    for code in EXPECTED:
        indicator = BY_CODE[code]
        assert indicator.proportion and indicator.unit == "percent"
        assert indicator.source and indicator.numerator_text and indicator.denominator_text
    assert BY_CODE["transfer_in_labour"].version == 3  # no longer up to placenta + 2 h
    assert BY_CODE["low_apgar"].basis == "child"


def test_sga_is_listed_as_not_computed_without_a_reference(k: Kernset) -> None:
    """Severe maternal morbidity (LEMMoN) is computed since its criteria are recorded; SGA only once the
    platform operator has loaded a birth-weight reference (none is in this world)."""
    assert not UNAVAILABLE
    codes = {code for code, _name, _why in unavailable(reference_loaded=False)}
    assert codes == {"sga"}
    assert not unavailable(reference_loaded=True)
    assert "severe_maternal_morbidity" in BY_CODE
    with tenant_scope(k.tenant):
        assert not IndicatorValue.objects.filter(indicator__in=codes).exists()


def test_the_kraamzorg_month_is_the_end_of_kraamzorg(k: Kernset) -> None:
    """All five ended kraamzorg in June; nothing is stored for July."""
    assert not IndicatorValue.unscoped.filter(
        tenant=k.tenant, indicator__startswith="kraamzorg", period=dt.date(2025, 7, 1)
    ).exists()
