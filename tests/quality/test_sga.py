"""Small for gestational age (< p10) per live-born singleton from 22+0 weeks, on the hand-made cohort and the
SYNTHETIC reference of tests.scenarios.sga (its docstring has both tables; the reference is made-up test
data, not real percentiles).

Worked out by hand for October 2025, IGO total:

  population   live-born singletons from 22+0 weeks: C1–C8, C12 (C9 twins, C10 stillborn and C11 at 21+6
               are not in it)                                                                         9
  denominator  of them with a sex in the table (girl or boy), a weight and an age in the table:
               C1 C2 C3 C4 (C5 no sex, C6 undetermined, C7 43+1 after the table, C8 no weight, C12 23+0
               before the table: missing)                                                           4
  numerator    weight below the synthetic p10: C1 (2,300 < 2,344), C3 (2,100 < 2,192); C2 weighs exactly
               the p10 (2,444): not below                                                            2
  value        2 / 4 = 50.0 %; completeness 4 of 9
  interval     exact 95 % Clopper–Pearson for 2 of 4: 0.0676–0.9324, 6.8–93.2 %
  parity       nullipara C1 C3: 2 of 2; multipara C2 C4: 0 of 2
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies.models import AccessLogEntry
from quality import birth_weight
from quality.indicators import BY_CODE, compute, interval, unavailable
from quality.models import IndicatorValue
from tests.scenarios.clock import local
from tests.scenarios.people import TenantWorld
from tests.scenarios.sga import NOVEMBER_2025, OCTOBER_2025, Cohort, cohort, load_synthetic

pytestmark = [pytest.mark.django_db, pytest.mark.clock(local(2026, 1, 15, 12))]
D = Decimal
CODE = "sga"


@pytest.fixture
def c(world_a: TenantWorld) -> Cohort:
    return cohort(world_a)


def stored(c: Cohort) -> IndicatorValue:
    return IndicatorValue.unscoped.get(
        tenant=c.tenant, indicator=CODE, period=OCTOBER_2025, organisation=None
    )


def test_without_a_reference_nothing_is_computed_and_the_dashboard_says_why(
    c: Cohort, world_a: TenantWorld, client_for
) -> None:
    c.recompute()
    assert not IndicatorValue.unscoped.filter(indicator=CODE).exists()
    with tenant_scope(c.tenant):
        assert not [k for k in compute(start=OCTOBER_2025, end=NOVEMBER_2025) if k[0] == CODE]
    admin = client_for(world_a.user(Role.IGO_ADMIN))
    html = admin.get(reverse("quality_dashboard", args=[c.tenant.slug]) + "?year=2025").content.decode()
    assert 'data-testid="card-sga"' not in html
    listed = re.search(r'data-testid="unavailable-sga">(.*?)</li>', html, re.S)
    assert listed and "geen geboortegewichtreferentie geladen" in listed.group(1)


def test_the_rate_matches_the_hand_worked_cohort(c: Cohort) -> None:
    load_synthetic()
    c.recompute()
    v = stored(c)
    assert (v.numerator, v.denominator) == (D(2), D(4))
    assert (v.numerator_episodes, v.denominator_episodes) == (c.ids("C1 C3"), c.ids("C1 C2 C3 C4"))
    assert (v.records, v.population) == (4, 9)  # C5 C6 C7 C8 C12 missing: completeness 4 of 9
    indicator = BY_CODE[CODE]
    assert (indicator.unit, indicator.basis, indicator.better) == ("percent", "child", "lower")
    assert indicator.value(v.numerator, v.denominator) == D("50.0")
    assert interval(indicator, v.numerator, v.denominator) == (D("6.8"), D("93.2"))
    assert v.splits == {
        "nullipara": {"numerator": "2", "denominator": "2", "records": 2},
        "multipara": {"numerator": "0", "denominator": "2", "records": 2},
    }
    # Twins, a stillborn child and a child before 22+0 weeks are outside the population, not missing.
    for name in ("C9", "C10", "C11"):
        assert c.ep[name].pk not in v.denominator_episodes


def test_the_newest_reference_is_in_force(c: Cohort) -> None:
    load_synthetic()
    # A second synthetic table, 200 g higher everywhere: C2 (2,444 < 2,644) and C4 (3,400) — C2 becomes SGA.
    load_synthetic(shift=200, version="test-2")
    c.recompute()
    v = stored(c)
    assert (v.numerator, v.denominator) == (D(3), D(4))
    assert v.numerator_episodes == c.ids("C1 C2 C3")


def test_withdrawing_the_reference_stops_the_indicator(c: Cohort) -> None:
    reference = load_synthetic()
    c.recompute()
    assert stored(c)
    birth_weight.reference_withdraw(actor=reference.loaded_by)
    c.recompute()
    assert not IndicatorValue.unscoped.filter(indicator=CODE).exists()


def test_a_weekly_table_holds_for_the_days_of_its_completed_week() -> None:
    table = birth_weight.Table(p10={"female": {259: 2000, 266: 2200}}, by_week=True)
    assert [table.lookup("female", d) for d in (258, 259, 265, 266, 272, 273)] == [
        None, 2000, 2000, 2200, 2200, None,
    ]  # fmt: skip
    assert table.lookup("male", 259) is None and table.lookup("undetermined", 259) is None
    daily = birth_weight.Table(p10={"female": {259: 2000}})
    assert (daily.lookup("female", 259), daily.lookup("female", 260)) == (2000, None)


def test_the_dashboard_shows_it_and_the_clients_behind_it_are_access_logged(
    c: Cohort, world_a: TenantWorld, client_for
) -> None:
    load_synthetic()
    c.recompute()
    admin_user = world_a.user(Role.IGO_ADMIN)
    admin = client_for(admin_user)
    html = admin.get(reverse("quality_dashboard", args=[c.tenant.slug]) + "?year=2025").content.decode()
    assert 'data-testid="card-sga"' in html and 'data-testid="unavailable-sga"' not in html
    assert unavailable(reference_loaded=True) == []
    url = reverse("quality_episodes", args=[c.tenant.slug, CODE, 2025, 10]) + "?part=numerator"
    response = admin.get(url)
    assert response.status_code == 200
    logged = AccessLogEntry.unscoped.filter(
        user=admin_user, detail__startswith="quality indicator sga 2025-10"
    )
    assert sorted(e.client_id for e in logged) == sorted(c.ep[n].client_id for n in ("C1", "C3"))


def test_another_igo_sees_none_of_it(c: Cohort, world_b: TenantWorld, client_for) -> None:
    """The reference is the platform's; the values stay the IGO's own."""
    load_synthetic()
    c.recompute()
    outsider = client_for(world_b.user(Role.IGO_ADMIN))
    url = reverse("quality_episodes", args=[c.tenant.slug, CODE, 2025, 10]) + "?part=numerator"
    assert outsider.get(url).status_code == 404
    with tenant_scope(world_b.tenant):
        assert not IndicatorValue.objects.filter(indicator=CODE).exists()
