"""The stored indicator values and their refresh: everything first, then only what changed; a full
refresh without duplicates; never another tenant's data; a birth or a line transfer picked up by the
next sweep; two recomputes of one month at once; and the Celery task.

The world is the hand-made IGO of tests.scenarios.indicators (the `d` fixture of tests/quality/conftest.py):
fourteen episodes E1..E14 with births in March and April 2026, and the table EXPECTED that gives, for
every indicator, month and organisation, the numerator, the denominator and the episodes behind each.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from igo.models import Tenant
from igo.tenancy import tenant_scope
from pregnancies.models import Birth, Episode, Line
from pregnancies.services import birth_record, birth_set_outcome, episode_set_outcomes, line_transfer
from providers.models import Professional
from quality import tasks as quality_tasks
from quality.models import IndicatorValue, QualityState
from quality.services import FULL_MONTHS, indicators_recompute, indicators_refresh
from tests.scenarios.billing import at
from tests.scenarios.concurrency import wait_for_a_lock_wait
from tests.scenarios.indicators import (
    APR,
    CLIN,
    CS,
    HOME,
    LIVE,
    MAR,
    SPONT,
    Data,
    expected_tallies,
    experience,
    new_episode,
    new_org,
    new_pro,
)
from tests.scenarios.people import TenantWorld

pytestmark = pytest.mark.dated
D = Decimal
TODAY = dt.date(2026, 11, 23)  # the refreshes' "today": the window of 25 months holds March and April 2026


def stored(
    tenant: Tenant,
) -> dict[tuple[str, dt.date, int | None], tuple[Decimal, Decimal, list[int], list[int]]]:
    return {
        (v.indicator, v.period, v.organisation_id): (
            v.numerator,
            v.denominator,
            v.numerator_episodes,
            v.denominator_episodes,
        )
        for v in IndicatorValue.unscoped.filter(tenant=tenant)
    }


def refresh(tenant: Tenant, full: bool = False) -> Any:
    with tenant_scope(tenant):
        return indicators_refresh(tenant=tenant, full=full, today=TODAY)


def test_refresh_stores_everything_first_then_only_what_changed(d: Data) -> None:
    tenant = d.s.tenant
    first = refresh(tenant)
    # First call: the full window, 25 months (November 2024 up to November 2026).
    assert (first.full, first.months) == (True, FULL_MONTHS)
    values = stored(tenant)
    assert first.values == len(values) == IndicatorValue.unscoped.filter(tenant=tenant).count()
    assert values == expected_tallies(d)  # every value of the tables, and only those (March and April)
    state = QualityState.unscoped.get(tenant=tenant)
    assert state.full_at == state.computed_at

    # Nothing changed: nothing recomputed, nothing rewritten.
    stamps = dict(IndicatorValue.unscoped.filter(tenant=tenant).values_list("pk", "computed_at"))
    second = refresh(tenant)
    assert (second.full, second.months, second.values) == (False, 0, 0)
    assert dict(IndicatorValue.unscoped.filter(tenant=tenant).values_list("pk", "computed_at")) == stamps

    # E9's child (April only) is admitted to the NICU: April is recomputed, March is not touched.
    with tenant_scope(tenant):
        birth_set_outcome(
            birth=d.birth["E9"],
            actor=d.s.midwife,
            nicu_admission=True,
            neonatal_death_on=dt.date(2026, 4, 12),
        )
    third = refresh(tenant)
    april_keys = [k for k in values if k[1] == APR]
    assert (third.full, third.months, third.values) == (False, 1, len(april_keys))
    values = stored(tenant)
    e6, e8, e9 = d.ep["E6"].pk, d.ep["E8"].pk, d.ep["E9"].pk
    nicu_den = d.ids("E6 E8 E9 E11 E13")  # E10 (21+6) is outside the population
    # NICU April: was 2/5 (E6b, E8), now 3/5 with E9; P: 2/2.
    assert values[("nicu", APR, None)] == (D(3), D(5), sorted([e6, e8, e9]), nicu_den)
    assert values[("nicu", APR, d.org["P"])] == (D(2), D(2), sorted([e6, e9]), sorted([e6, e9]))
    march = IndicatorValue.unscoped.filter(tenant=tenant, period=MAR)
    assert all(stamps[v.pk] == v.computed_at for v in march)
    assert not IndicatorValue.unscoped.filter(tenant=tenant, period=APR, pk__in=stamps).exists()

    # The twins (March delivery, April child): both months. Blood loss 800 -> 1000 ml: severe.
    with tenant_scope(tenant):
        episode_set_outcomes(
            episode=d.ep["E6"], actor=d.s.midwife, blood_loss_ml=1000, kraamzorg_indicated_hours=None
        )
    fourth = refresh(tenant)
    assert (fourth.months, fourth.values) == (2, len(values))
    # Severe PPH March: was 2/7 (E2, E5), now 3/7.
    assert stored(tenant)[("severe_pph", MAR, None)][:3] == (D(3), D(7), d.ids("E2 E5 E6"))

    # An answered questionnaire alone (E2's kraamzorg ended 18 March; answered in April): April.
    experience(d, "E2", dt.date(2026, 4, 3), 10)
    fifth = refresh(tenant)
    assert fifth.months == 2  # the episode's months: March (delivery, end of kraamzorg) and April (answer)
    # Experience April: was 22/3, now 32/4; P joins with 10/1.
    assert stored(tenant)[("experience", APR, None)][:3] == (D(32), D(4), d.ids("E2 E3 E4 E5"))
    assert stored(tenant)[("experience", APR, d.org["P"])][:2] == (D(10), D(1))


def test_full_refresh_replaces_without_duplicates(d: Data) -> None:
    tenant = d.s.tenant
    refresh(tenant)
    before = stored(tenant)
    count = IndicatorValue.unscoped.filter(tenant=tenant).count()
    again = refresh(tenant, full=True)
    assert (again.full, again.months, again.values) == (True, FULL_MONTHS, count)
    assert stored(tenant) == before
    keys = Counter(
        IndicatorValue.unscoped.filter(tenant=tenant).values_list("indicator", "period", "organisation_id")
    )
    assert max(keys.values()) == 1
    assert len(set(IndicatorValue.unscoped.filter(tenant=tenant).values_list("computed_at", flat=True))) == 1
    # Recomputing one month directly also replaces (the whole IGO row has no organisation: the unique
    # constraint treats the empty organisation as a value).
    with tenant_scope(tenant):
        n = indicators_recompute(tenant=tenant, start=dt.date(2026, 3, 17), end=APR)
    assert n == len([k for k in before if k[1] == MAR])
    assert IndicatorValue.unscoped.filter(tenant=tenant).count() == count
    with pytest.raises(IntegrityError), transaction.atomic():
        IndicatorValue.unscoped.create(
            tenant=tenant, indicator="caesarean", period=MAR, organisation=None, numerator=1, denominator=2
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        IndicatorValue.unscoped.create(
            tenant=tenant, indicator="caesarean", period=dt.date(2026, 3, 2), numerator=1, denominator=2
        )


def test_another_tenants_data_never_appears(d: Data, world_b: TenantWorld) -> None:
    tb = world_b.tenant
    org_b = new_org(tenant=tb, name="Praktijk B")
    pro_b = new_pro(tenant=tb, organisation=org_b)
    ep_b = new_episode(
        tenant=tb, intake_date=dt.date(2025, 9, 1), due_date=dt.date(2026, 3, 9), coordinating_professional=pro_b,
        blood_loss_ml=2000, kraamzorg_indicated_hours=80, kraamzorg_ended_on=dt.date(2026, 3, 17),
    )  # fmt: skip
    Birth.unscoped.create(
        tenant=tb,
        episode=ep_b,
        born_at=at(2026, 3, 9),
        place=CLIN,
        mode=CS,
        weight_grams=1200,
        nicu_admission=True,
    )
    refresh(d.s.tenant)
    a_rows = stored(d.s.tenant)
    assert a_rows == expected_tallies(d)
    a_episodes = set(Episode.unscoped.filter(tenant=d.s.tenant).values_list("pk", flat=True))
    for num_eps, den_eps in IndicatorValue.unscoped.filter(tenant=d.s.tenant).values_list(
        "numerator_episodes", "denominator_episodes"
    ):
        assert set(num_eps) | set(den_eps) <= a_episodes
    assert not IndicatorValue.unscoped.filter(tenant=d.s.tenant, organisation=org_b).exists()

    # B's refresh stores B's own values and leaves A's alone.
    b = refresh(tb)
    assert b.full
    b_rows = stored(tb)
    assert b_rows[("caesarean", MAR, None)] == (D(1), D(1), [ep_b.pk], [ep_b.pk])
    assert b_rows[("caesarean", MAR, org_b.pk)] == (D(1), D(1), [ep_b.pk], [ep_b.pk])
    assert b_rows[("kraamzorg_hours", MAR, None)] == (D(0), D(80), [], [ep_b.pk])
    assert {k[1] for k in b_rows} == {MAR}
    assert stored(d.s.tenant) == a_rows
    # Within B's scope the scoped manager shows only B's values.
    with tenant_scope(tb):
        assert set(IndicatorValue.objects.values_list("tenant_id", flat=True)) == {tb.pk}
    assert QualityState.unscoped.count() == 2


def linked_midwife(d: Data) -> Any:
    """The world's midwife as the practice's professional: recording a birth and transferring the line
    take a linked professional of an obstetric discipline (issue 17)."""
    Professional.unscoped.filter(pk=d.s.pros[d.s.practice.pk].pk).update(user=d.s.midwife)
    return d.s.midwife


def test_recording_a_birth_is_picked_up_by_the_next_sweep(d: Data) -> None:
    tenant = d.s.tenant
    midwife = linked_midwife(d)
    refresh(tenant)
    ep = d.ep["E14"]  # still pregnant, due 20 December; born early in November
    with tenant_scope(tenant):
        Episode.unscoped.filter(pk=ep.pk).update(
            labour_started_at=at(2026, 11, 2, 6), placenta_plus_2h_at=at(2026, 11, 2, 12)
        )
        ep.refresh_from_db()
        birth_record(
            episode=ep, actor=midwife, child_number=1, born_at=at(2026, 11, 2, 10),
            outcome=LIVE, place=HOME, mode=SPONT, weight_grams=2900,
        )  # fmt: skip
    result = refresh(tenant)
    assert result.months == 1
    assert stored(tenant)[("caesarean", dt.date(2026, 11, 1), None)] == (D(0), D(1), [], [ep.pk])


def test_a_line_transfer_is_picked_up_by_the_next_sweep(d: Data) -> None:
    tenant = d.s.tenant
    midwife = linked_midwife(d)
    refresh(tenant)
    with tenant_scope(tenant):
        line_transfer(
            episode=d.ep["E1"], actor=midwife, line=Line.SECOND, effective_at=at(2026, 3, 3, 10),
            reason="failure to progress",
        )  # fmt: skip
    result = refresh(tenant)
    assert result.months == 1  # E1: March (delivery, end of kraamzorg, answer)
    # Transfer during labour March: was 1/5 (E2), now 2/5 (E1, E2).
    assert stored(tenant)[("transfer_in_labour", MAR, None)][:3] == (D(2), D(5), d.ids("E1 E2"))


def _one_birth(tenant: Tenant, day: dt.date) -> Episode:
    """An episode of a new member organisation with one home birth at term on `day`, nothing else logged."""
    org = new_org(tenant=tenant)
    pro = new_pro(tenant=tenant, organisation=org)
    ep = new_episode(
        tenant=tenant, intake_date=day - dt.timedelta(days=196), due_date=day, coordinating_professional=pro
    )
    Birth.unscoped.create(
        tenant=tenant,
        episode=ep,
        born_at=timezone.make_aware(dt.datetime.combine(day, dt.time(12))),
        place=HOME,
        mode=SPONT,
        weight_grams=3500,
    )
    return ep


@pytest.mark.django_db(transaction=True)
def test_two_recomputes_of_the_same_month_at_once(world_a: TenantWorld) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    tenant = world_a.tenant
    _one_birth(tenant, dt.date(2026, 3, 9))
    with tenant_scope(tenant):
        rows = indicators_recompute(tenant=tenant, start=MAR, end=APR)
    inside, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def slow() -> None:
        """A recompute whose transaction stays open a while, as a 25-month one with many rows does."""
        try:
            with tenant_scope(tenant), transaction.atomic():
                indicators_recompute(tenant=tenant, start=MAR, end=APR)
                inside.set()
                release.wait(timeout=30)
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)
        finally:
            inside.set()
            connections.close_all()

    def quick() -> None:
        try:
            inside.wait(timeout=30)
            with tenant_scope(tenant):
                indicators_recompute(tenant=tenant, start=MAR, end=APR)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=slow), threading.Thread(target=quick)]
    for t in threads:
        t.start()
    try:
        wait_for_a_lock_wait()  # let the first commit only once the second waits on its lock
    finally:
        release.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    assert IndicatorValue.unscoped.filter(tenant=tenant).count() == rows


def test_quality_refresh_task_returns_the_result(world_a: TenantWorld) -> None:
    """Called in-process (the task body) and through `apply` (eager); it enters the tenant scope itself.
    It refreshes up to the real date, so the birth lies in last month."""
    tenant = world_a.tenant
    last_month = timezone.localdate().replace(day=1) - dt.timedelta(days=10)
    ep = _one_birth(tenant, last_month)
    result = quality_tasks.quality_refresh(tenant.pk, True)
    rows = IndicatorValue.unscoped.filter(tenant=tenant)
    assert result == {"months": FULL_MONTHS, "values": rows.count(), "full": True}
    # caesarean, first line, four places, preterm, low weight, NICU, four versions of perinatal mortality,
    # and severe haemorrhage, induction, severe perineal tear, Apgar < 7 and severe maternal morbidity with
    # nothing counted but their completeness (blood loss, onset of labour, perineum, Apgar, LEMMoN criteria
    # not recorded: 0 of 1); no line, labour or care logged: no referral, transfer or continuity. For the
    # IGO and the organisation.
    assert rows.count() == 2 * 18
    pph = rows.get(indicator="severe_pph", organisation=None)
    assert (pph.denominator, pph.records, pph.population) == (0, 0, 1)
    assert rows.get(indicator="place_home", organisation=None).numerator_episodes == [ep.pk]
    assert rows.get(indicator="place_home", organisation=None).period == last_month.replace(day=1)

    again = quality_tasks.quality_refresh.apply(args=(tenant.pk,)).get()
    assert again == {"months": 0, "values": 0, "full": False}
