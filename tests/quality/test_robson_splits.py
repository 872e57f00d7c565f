"""Indicators split by Robson group (issue 20): the caesarean rate and the outcomes the sector reports by
Robson group, on the hand-made cohort of tests.scenarios.robson_cohort (its docstring has the table).

Worked out by hand for September 2025, IGO total (numerator / denominator):

  Robson groups   R1 R2: 1, R3: 2, R4: 3, R5 R6: 5, R8: 6, R7 (twins): 8, R9 (previous caesareans not
                  recorded): not classifiable
  caesarean       R2 R3 R6 R7 R8 = 5/9. Group 1: 1/2, 2: 1/1, 3: 0/1, 5: 1/2, 6: 1/1, 8: 1/1,
                  unclassified 0/1. Size of group 1: 2/9 = 22.2 %, its contribution 1/9 = 11.1 %.
                  Parity: nullipara R1 R2 R3 R8 3/4, multipara R4 R5 R6 R7 R9 2/5.
  severe_pph      ≥ 1,000 ml: R2 R5 R7 = 3/8 (R8 not recorded). 1: 1/2, 2: 0/1, 3: 0/1, 5: 1/2,
                  8: 1/1, unclassified 0/1; group 6 absent (its only woman has no blood loss)
  severe tear     vaginal births R1 R4 R5 R7 R9: R4 third degree = 1/5. 1: 0/1, 3: 1/1, 5: 0/1, 8: 0/1,
                  unclassified 0/1
  low_apgar       per child, by the mother's group: R2 (6) and R7's second twin (5) = 2/10. 1: 1/2,
                  2: 0/1, 3: 0/1, 5: 0/2, 6: 0/1, 8: 1/2, unclassified 0/1
  exact 95 % interval of 1/2 (Clopper–Pearson, published): 0.0126–0.9874 → 1.3–98.7 %
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from igo.models import Role
from igo.tenancy import tenant_scope
from quality.indicators import ROBSON_SPLIT_CODES
from quality.models import IndicatorValue
from quality.selectors import indicator_year
from tests.scenarios.people import TenantWorld
from tests.scenarios.robson_cohort import SEPTEMBER_2025, RobsonCohort, cohort

pytestmark = [pytest.mark.django_db, pytest.mark.dated]
D = Decimal


@pytest.fixture
def r(world_a: TenantWorld) -> RobsonCohort:
    return cohort(world_a)


def splits(r: RobsonCohort, code: str) -> dict[str, tuple[int, int]]:
    row = IndicatorValue.unscoped.get(
        tenant=r.tenant, indicator=code, period=SEPTEMBER_2025, organisation=None
    )
    return {g: (int(D(s["numerator"])), int(D(s["denominator"]))) for g, s in row.splits.items()}


EXPECTED = {
    "caesarean": {
        "robson_1": (1, 2), "robson_2": (1, 1), "robson_3": (0, 1), "robson_5": (1, 2), "robson_6": (1, 1),
        "robson_8": (1, 1), "robson_unclassified": (0, 1), "nullipara": (3, 4), "multipara": (2, 5),
    },
    "severe_pph": {
        "robson_1": (1, 2), "robson_2": (0, 1), "robson_3": (0, 1), "robson_5": (1, 2), "robson_8": (1, 1),
        "robson_unclassified": (0, 1), "nullipara": (1, 3), "multipara": (2, 5),
    },
    "severe_perineal_tear": {
        "robson_1": (0, 1), "robson_3": (1, 1), "robson_5": (0, 1), "robson_8": (0, 1),
        "robson_unclassified": (0, 1), "nullipara": (0, 1), "multipara": (1, 4),
    },
    "low_apgar": {
        "robson_1": (1, 2), "robson_2": (0, 1), "robson_3": (0, 1), "robson_5": (0, 2), "robson_6": (0, 1),
        "robson_8": (1, 2), "robson_unclassified": (0, 1), "nullipara": (1, 4), "multipara": (1, 6),
    },
}  # fmt: skip


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_each_split_indicator_matches_the_hand_worked_groups(r: RobsonCohort, code: str) -> None:
    assert splits(r, code) == EXPECTED[code]


def test_the_groups_add_up_to_the_total_and_other_indicators_are_split_by_parity_only(
    r: RobsonCohort,
) -> None:
    assert set(EXPECTED) == ROBSON_SPLIT_CODES
    for code in ROBSON_SPLIT_CODES:
        row = IndicatorValue.unscoped.get(
            tenant=r.tenant, indicator=code, period=SEPTEMBER_2025, organisation=None
        )
        groups = [s for g, s in row.splits.items() if g.startswith("robson_")]
        assert sum(D(s["numerator"]) for s in groups) == row.numerator
        assert sum(D(s["denominator"]) for s in groups) == row.denominator
    assert set(splits(r, "induction")) == {"nullipara", "multipara"}


def test_the_year_by_robson_group_has_size_contribution_and_exact_interval(r: RobsonCohort) -> None:
    with tenant_scope(r.tenant):
        item = indicator_year(code="caesarean", year=2025, today=SEPTEMBER_2025)
    assert item.total is not None and (item.total.numerator, item.total.denominator) == (5, 9)
    by = {s.group: s for s in item.robson}
    # Every group is listed, in order, then the unclassifiable women.
    assert [s.group for s in item.robson] == [f"robson_{n}" for n in range(1, 11)] + ["robson_unclassified"]
    assert by["robson_4"].cell is None and by["robson_10"].cell is None
    one = by["robson_1"]
    assert one.cell is not None and one.cell.value == D("50.0")
    assert (one.size, one.contribution) == (D("22.2"), D("11.1"))
    assert one.cell.bounds is not None and (one.cell.bounds.lower, one.cell.bounds.upper) == (
        D("1.3"),
        D("98.7"),
    )
    assert (by["robson_3"].size, by["robson_3"].contribution) == (D("11.1"), D("0.0"))
    assert by["robson_1"].robson_number == "1" and by["robson_unclassified"].robson_number == ""
    # Indicators the sector does not report by Robson group have no such split.
    with tenant_scope(r.tenant):
        assert indicator_year(code="induction", year=2025, today=SEPTEMBER_2025).robson == []


def test_the_indicator_page_shows_the_robson_table(r: RobsonCohort, client_for, world_a: TenantWorld) -> None:
    client = client_for(world_a.user(Role.IGO_ADMIN))
    url = reverse("quality_indicator", args=[r.tenant.slug, "caesarean"]) + "?year=2025"
    html = client.get(url).content.decode()
    assert 'data-testid="robson-table"' in html
    row = html.split('data-testid="robson_1"')[1].split("</tr>")[0]
    assert ">1<" in row and ">2<" in row and "22,2%" in row and "50,0%" in row and "11,1%" in row
    assert "1,3%–98,7%" in row
    unclassified = html.split('data-testid="robson_unclassified"')[1].split("</tr>")[0]
    assert "0,0%" in unclassified
    page = client.get(reverse("quality_indicator", args=[r.tenant.slug, "induction"]) + "?year=2025")
    assert 'data-testid="robson-table"' not in page.content.decode()
