"""The quality indicator engine computes every indicator as worked out by hand: tallies per month and
organisation (the episode without a coordinating professional only in the IGO total), a month alone
equal to its part of a longer run, a fixed number of queries, and the values with their units and
rounding.

The world is the hand-made IGO of tests.scenarios.indicators (the `d` fixture of tests/quality/conftest.py):
fourteen episodes E1..E14 with births in March and April 2026, and the table EXPECTED that gives, for
every indicator, month and organisation, the numerator, the denominator and the episodes behind each.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from igo.tenancy import tenant_scope
from quality.indicators import BY_CODE, INDICATORS, Tally, compute, gestational_days, months_between
from tests.scenarios.indicators import APR, EXPECTED, MAR, MAY, Data, expected_tallies

pytestmark = pytest.mark.dated
D = Decimal
# Indicator.value of the IGO totals: percent / per mille to 0.1, scores to 0.1.
EXPECTED_VALUE: dict[tuple[str, dt.date], str] = {
    ("caesarean", MAR): "25.0",  # 2/8
    ("caesarean", APR): "25.0",  # 1/4 (E10 at 21+6 is outside the population)
    ("first_line_birth", MAR): "50.0",  # 4/8
    ("first_line_birth", APR): "75.0",  # 3/4
    ("place_home", MAR): "12.5",  # 1/8
    ("place_clinical", APR): "25.0",  # 1/4
    ("transfer_in_labour", MAR): "20.0",  # 1/5
    ("transfer_in_labour", APR): "0.0",  # 0/3 (E11 moved after the birth)
    ("transfer_after_birth", APR): "33.3",  # 1/3 = 33.33
    ("referral_before_labour", MAR): "37.5",  # 3/8
    ("kraamzorg_below_indication", APR): "66.7",  # 2/3 = 66.67
    ("preterm", MAR): "12.5",  # 1/8
    ("low_birth_weight", MAR): "33.3",  # 2/6
    ("nicu", MAR): "14.3",  # 1/7 = 14.29
    ("nicu", APR): "40.0",  # 2/5
    ("severe_pph", MAR): "28.6",  # 2/7 = 28.57
    ("severe_pph", APR): "25.0",  # 1/4
    ("perinatal_mortality", MAR): "125.0",  # 1/8 per mille
    ("perinatal_mortality", APR): "200.0",  # 1/5 per mille
    ("perinatal_mortality_28d", APR): "400.0",  # 2/5 per mille
    ("kraamzorg_hours", MAR): "94.7",  # 89/94 = 94.68 %
    ("kraamzorg_hours", APR): "86.4",  # 127/147 = 86.39 %
    ("continuity", MAR): "75.0",  # 3/4
    ("continuity", APR): "66.7",  # 2/3 = 66.67
    ("experience", MAR): "9.0",  # 9/1
    ("experience", APR): "7.3",  # 22/3 = 7.33
}


def as_rows(tallies: dict[Any, Tally]) -> dict[Any, tuple[Decimal, Decimal, list[int], list[int]]]:
    return {
        k: (t.numerator, t.denominator, sorted(t.numerator_episodes), sorted(t.denominator_episodes))
        for k, t in tallies.items()
    }


def test_every_indicator_matches_the_hand_worked_tables(d: Data) -> None:
    assert {i.code for i in INDICATORS} == set(EXPECTED)  # every indicator has its table
    with tenant_scope(d.s.tenant):
        got = as_rows(compute(start=MAR, end=MAY))
    want = expected_tallies(d)
    # Key by key, so that a failure names the indicator, month and organisation.
    for key in sorted(want, key=str):
        assert got.get(key) == want[key], key
    # And nothing else: no value for an organisation without deliveries (H in April), none for E14 or
    # for E8's organisation (it has none), none outside March and April.
    assert set(got) == set(want)


def test_the_birth_before_22_weeks_and_the_dating_helpers(d: Data) -> None:
    # The due dates were derived so that the first child is born at the stated gestational age.
    assert gestational_days(d.ep["E10"], d.birth["E10"].born_at) == 153  # 21+6
    assert gestational_days(d.ep["E4"], d.birth["E4"].born_at) == 258  # 36+6
    assert gestational_days(d.ep["E3"], d.birth["E3"].born_at) == 259  # 37+0
    # The second twin was born on 1 April local time, 31 March UTC: its day is the local one.
    assert d.birth["E6b"].born_at.astimezone(dt.UTC).date() == dt.date(2026, 3, 31)
    assert gestational_days(d.ep["E6"], d.birth["E6b"].born_at) == 260
    assert list(months_between(dt.date(2025, 11, 15), dt.date(2026, 2, 1))) == [
        dt.date(2025, 11, 1),
        dt.date(2025, 12, 1),
        dt.date(2026, 1, 1),
    ]


def test_organisation_split_adds_up_and_the_episode_without_coordinator_is_only_in_the_total(d: Data) -> None:
    with tenant_scope(d.s.tenant):
        got = compute(start=MAR, end=MAY)
    e8 = d.ep["E8"].pk
    for (code, month, org), t in got.items():
        if org is None:
            continue
        assert e8 not in t.denominator_episodes, (code, month, org)
        total = got[(code, month, None)]
        assert t.denominator_episodes <= total.denominator_episodes
    for (code, month, org), total in got.items():
        if org is not None:
            continue
        parts = [t for (c, m, o), t in got.items() if (c, m) == (code, month) and o is not None]
        # The member organisations together make the total, except for what E8 contributes (one delivery
        # or one child: 1 in a denominator, 1 in a numerator when counted there).
        e8_den = 1 if e8 in total.denominator_episodes else 0
        e8_num = 1 if e8 in total.numerator_episodes else 0
        assert sum(t.denominator for t in parts) + e8_den == total.denominator, (code, month)
        assert sum(t.numerator for t in parts) + e8_num == total.numerator, (code, month)
    # E8 is in April's totals: a delivery (caesarean, clinical, preterm) and a child (low weight, NICU,
    # perinatal death).
    for code in ("caesarean", "place_clinical", "preterm", "low_birth_weight", "nicu", "perinatal_mortality"):
        assert e8 in got[(code, APR, None)].numerator_episodes, code


def test_a_month_computed_alone_equals_its_part_of_a_longer_run(d: Data) -> None:
    """The twins straddle the month boundary: March alone still counts the delivery and the first child,
    April alone the second child only."""
    with tenant_scope(d.s.tenant):
        both = as_rows(compute(start=MAR, end=MAY))
        march = as_rows(compute(start=MAR, end=APR))
        april = as_rows(compute(start=dt.date(2026, 4, 15), end=MAY))  # start rounds down to the month
    assert {k[1] for k in march} == {MAR}
    assert {k[1] for k in april} == {APR}
    assert {**march, **april} == both
    assert d.ep["E6"].pk not in april[("caesarean", APR, None)][3]
    assert d.ep["E6"].pk in april[("nicu", APR, None)][2]


def test_compute_reads_in_a_fixed_number_of_queries(d: Data) -> None:
    with tenant_scope(d.s.tenant), CaptureQueriesContext(connection) as queries:
        compute(start=MAR, end=MAY)
    # births, kraamzorg episodes, answers, PREM answers, episodes, transfers, professionals, hour types,
    # hours and carers, dated kraamzorg indications, births of the kraamzorg episodes, the birth-weight
    # reference (the Robson groups are derived from what is already read)
    assert len(queries) <= 12


def test_indicator_values_of_the_totals(d: Data) -> None:
    with tenant_scope(d.s.tenant):
        got = compute(start=MAR, end=MAY)
    for (code, month), text in EXPECTED_VALUE.items():
        t = got[(code, month, None)]
        assert BY_CODE[code].value(t.numerator, t.denominator) == D(text), (code, month)
    # A per-organisation value: S's perinatal mortality in March, 1/3 per mille = 333.3.
    t = got[("perinatal_mortality", MAR, d.org["S"])]
    assert BY_CODE["perinatal_mortality"].value(t.numerator, t.denominator) == D("333.3")


def test_indicator_value_units_and_an_empty_denominator() -> None:
    assert BY_CODE["caesarean"].unit == "percent"
    assert BY_CODE["perinatal_mortality"].unit == "per_mille"
    assert BY_CODE["experience"].unit == "score"
    assert BY_CODE["caesarean"].value(D(1), D(3)) == D("33.3")
    assert BY_CODE["caesarean"].value(D(2), D(3)) == D("66.7")
    assert BY_CODE["perinatal_mortality"].value(D(3), D(700)) == D("4.3")  # 4.2857 per mille
    assert BY_CODE["experience"].value(D(23), D(3)) == D("7.7")  # 7.667
    assert BY_CODE["experience"].value(D(16), D(2)) == D("8.0")
    assert BY_CODE["kraamzorg_hours"].value(D("52.00"), D("49.00")) == D("106.1")  # above 100 is possible
    for code in ("caesarean", "perinatal_mortality", "experience"):
        assert BY_CODE[code].value(D(0), D(0)) is None
        assert BY_CODE[code].value(D(3), D("0.00")) is None
    assert BY_CODE["nicu"].value(D(0), D(4)) == D("0.0")


def test_indicator_value_rounds_half_up() -> None:
    assert BY_CODE["experience"].value(D(33), D(4)) == D("8.3")  # 8.25
    assert BY_CODE["caesarean"].value(D(1), D(16)) == D("6.3")  # 6.25 %
