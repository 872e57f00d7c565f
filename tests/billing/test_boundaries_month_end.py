"""Billing at the end of a month (issue 12): a phase that ends a minute before or after midnight on the last
day is claimed exactly once and its line is in exactly one month's batch, the batch of the month its line
was made in (billing.services.batches: a month's batch takes the ready lines made before the next month's local
midnight); a run that crosses midnight leaves the new day to the next sweep; a batch made at 00:30 on the
1st holds exactly the lines made before local midnight.

How the runs are driven, how moments compare, and the splits worked out once (PRE_ZK ...):
tests.scenarios.sweeps.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from billing import services
from billing.models import BatchLine
from igo.dates import month_start
from igo.tenancy import tenant_scope
from tests.scenarios.billing import episode, log, pregnancy, split_of, touch
from tests.scenarios.clock import local, travel
from tests.scenarios.sweeps import (
    MINUTE,
    NATAL_ZK,
    POST_ZK,
    PRE_ZK,
    ZK,
    batch_periods,
    batches_at,
    books_ok,
    enter_key_dates,
    first_sweep,
    local_day,
    on,
    one_line,
    pinned,
    run_night,
    sweep,
    sweep_grid,
)

pytestmark = pytest.mark.dated

D = Decimal
NIGHT_31_JAN = sweep_grid(local(2027, 1, 31, 21, 45), local(2027, 2, 1, 2, 45))
JAN, FEB = dt.date(2027, 1, 1), dt.date(2027, 2, 1)
# Placenta + 2 h from 22:00 on 31 January to 01:59 on 1 February (minutes from midnight), saved by the
# midwife up to 10 minutes ahead (what the service accepts) or up to 45 minutes late.
BIRTHS = st.tuples(st.integers(-120, 119), st.integers(-10, 45))


@pinned
@hsettings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(births=st.lists(BIRTHS, min_size=1, max_size=4))
@example(
    births=[
        (-16, 0),  # ends 23:44, saved at once: the 23:45 sweep bills it, January
        (-1, -10),  # ends 23:59, saved at 23:49: no sweep sees it before midnight; 00:00 does: February
        (1, -10),  # ends 00:01 on 1 February, saved at 23:51: 00:00 bills it on its own day, February
        (-10, -10),  # ends 23:50, saved at 23:40: 23:45 bills it, ten minutes early (by its date), January
    ]
)
def test_a_natal_phase_ending_around_a_month_end_is_in_one_batch_of_the_month_its_line_was_made(s, births):
    """Births around midnight at the end of January, the sweep every 15 minutes. Each natal phase is claimed
    once, by the first sweep that has its date and is on or after the day it ended, at 900.00 split 60/40;
    its line is in the batch of that sweep's month: January's (beat, 1 February 06:00) or February's
    (1 March 06:00), not both. The prenatal lines (labour at 19:00) are all January's."""
    with transaction.atomic():  # every example starts from the fixture's world
        eps, entries, billed = [], [], []
        with travel(local(2027, 1, 31, 20, 0), tick=False):
            for _ in births:
                eps.append(
                    episode(s, **pregnancy(dt.date(2026, 7, 20)), labour_started_at=local(2027, 1, 31, 19))
                )
                log(s, eps[-1], "PRE_CHECK", s.practice, local(2026, 8, 3, 10))
        for ep, (ends_after_midnight, saved_after) in zip(eps, births, strict=True):
            ends = local(2027, 2, 1, 0, 0) + dt.timedelta(minutes=ends_after_midnight)
            saved = ends + dt.timedelta(minutes=saved_after)
            entries.append(
                (
                    saved,
                    lambda ep=ep, saved=saved, ends=ends: enter_key_dates(
                        s, ep, saved, placenta_plus_2h_at=ends
                    ),
                )
            )
            billed.append((ends, first_sweep(NIGHT_31_JAN, after=saved, day=local_day(ends))))
        run_night(s, NIGHT_31_JAN, entries)
        january = batches_at(s, local(2027, 2, 1, 6, 0), JAN)
        february = batches_at(s, local(2027, 3, 1, 6, 0), FEB)

        expected: dict[dt.date, list[str]] = {JAN: [], FEB: []}
        for ep, (ends, sweep_moment) in zip(eps, billed, strict=True):
            prenatal, natal = one_line(ep, "prenatal"), one_line(ep, "natal")
            assert (prenatal.amount, prenatal.service_end, split_of(prenatal)) == (
                D("1200.00"),
                dt.date(2027, 1, 31),
                PRE_ZK,
            )
            assert prenatal.created_at == local(2027, 1, 31, 21, 45)  # the first sweep of the night
            assert (natal.amount, natal.service_start, natal.service_end, split_of(natal)) == (
                D("900.00"),
                dt.date(2027, 1, 31),
                local_day(ends),
                NATAL_ZK,
            )
            assert natal.created_at == sweep_moment
            month = month_start(sweep_moment.date())
            assert batch_periods(prenatal) == [(ZK, JAN)] and batch_periods(natal) == [(ZK, month)]
            expected[JAN].append(prenatal.number)
            expected[month].append(natal.number)
        for period, made in ((JAN, january), (FEB, february)):
            numbers = BatchLine.unscoped.filter(batch=made[ZK]) if ZK in made else BatchLine.unscoped.none()
            assert sorted(numbers.values_list("number", flat=True)) == sorted(expected[period])
        books_ok(s)
        transaction.set_rollback(True)


@pinned
@pytest.mark.parametrize(
    ("postnatal_end", "saved", "billed"),
    [
        # Entered days ahead: the first sweep of 31 January (00:00) bills it, in January's batch.
        (dt.date(2027, 1, 31), local(2027, 1, 28, 10, 5), local(2027, 1, 31, 0, 0)),
        # Ending 1 February: the first sweep of 1 February, February's batch.
        (dt.date(2027, 2, 1), local(2027, 1, 28, 10, 5), local(2027, 2, 1, 0, 0)),
        # Ending 31 January but saved five minutes after midnight: the 00:15 sweep, February's batch.
        (dt.date(2027, 1, 31), local(2027, 2, 1, 0, 5), local(2027, 2, 1, 0, 15)),
    ],
    ids=["31jan-ahead", "1feb-ahead", "31jan-late"],
)
def test_a_postnatal_end_date_at_a_month_end_is_billed_on_its_day(s, postnatal_end, saved, billed):
    """The end of postnatal care is a date, often saved days ahead: the phase is claimed by the first sweep
    of that day (the daily re-check at midnight), or by the first sweep after it is saved when that is
    later, and its line is in the batch of that sweep's month."""
    with travel(local(2027, 1, 20, 15, 0), tick=False):
        ep = episode(
            s,
            **pregnancy(dt.date(2026, 7, 6)),
            labour_started_at=local(2027, 1, 20, 8),
            placenta_plus_2h_at=local(2027, 1, 20, 14),
        )
        log(s, ep, "PRE_CHECK", s.practice, local(2026, 7, 20, 10))
        log(s, ep, "POST_VISIT", s.practice, local(2027, 1, 20, 15))
    sweep(s, local(2027, 1, 20, 15, 15))
    grid = [
        local(2027, 1, 28, 10, 15),
        *sweep_grid(local(2027, 1, 30, 23, 0), local(2027, 1, 31, 1, 0)),
        *sweep_grid(local(2027, 1, 31, 23, 0), local(2027, 2, 1, 1, 0)),
    ]
    run_night(s, grid, [(saved, lambda: enter_key_dates(s, ep, saved, postnatal_ended_on=postnatal_end))])
    january = batches_at(s, local(2027, 2, 1, 6, 0), JAN)
    february = batches_at(s, local(2027, 3, 1, 6, 0), FEB)
    post = one_line(ep, "postnatal")
    # 1500.00 from the day of the birth to the end date: 75.00 + 30.00 + 1395.00 to the practice.
    assert (post.amount, post.service_start, post.service_end) == (
        D("1500.00"),
        dt.date(2027, 1, 20),
        postnatal_end,
    )
    assert split_of(post) == POST_ZK
    assert post.created_at == billed
    period = month_start(billed.date())
    assert batch_periods(post) == [(ZK, period)]
    assert january[ZK].line_count == (3 if period == JAN else 2)
    assert (ZK in february) == (period == FEB)
    books_ok(s)


@pinned
def test_a_run_that_crosses_midnight_leaves_the_new_day_to_the_next_sweep(s, monkeypatch):
    """The 23:45 sweep on 30 January bills two changed episodes, one transaction each; the second starts after
    midnight. That run bills by its own day (30 January) and must say so: the sweeps of 31 January re-check
    the episode, so its postnatal phase, ending 31 January, is claimed on 31 January (January's batch), and
    the books check that day finds nothing unclaimed."""
    monkeypatch.setattr(services.run, "BATCH_SIZE", 1)
    with travel(local(2027, 1, 21, 10, 0), tick=False):
        eps = [
            episode(
                s,
                **pregnancy(dt.date(2026, 7, 6)),
                labour_started_at=local(2027, 1, 20, 8),
                placenta_plus_2h_at=local(2027, 1, 20, 14),
                postnatal_ended_on=end,
            )
            for end in (None, dt.date(2027, 1, 31))
        ]
        for ep in eps:
            log(s, ep, "PRE_CHECK", s.practice, local(2026, 7, 20, 10))
            log(s, ep, "POST_VISIT", s.practice, local(2027, 1, 20, 15))
    sweep(s, local(2027, 1, 21, 10, 15))
    later = eps[1]
    with travel(local(2027, 1, 30, 23, 40), tick=False):
        log(s, eps[0], "PRE_CHECK", s.practice, local(2026, 8, 3, 10))
        log(s, later, "PRE_CHECK", s.practice, local(2026, 8, 3, 10))
        touch(*eps)
    after_midnight = local(2027, 1, 31, 0, 0) + dt.timedelta(seconds=30)

    def progress(done: int, total: int) -> None:
        if done == 1:
            clock.move_to(after_midnight)  # the first transaction took a quarter of an hour

    with travel(local(2027, 1, 30, 23, 45), tick=False) as clock, tenant_scope(s.tenant):
        result = services.billing_run(tenant=s.tenant, progress=progress)
    assert (result.episodes, result.batches, result.lines_created) == (2, 2, 0)
    for moment in sweep_grid(local(2027, 1, 31, 0, 15), local(2027, 1, 31, 1, 0)):
        sweep(s, moment)
    post = one_line(later, "postnatal")
    assert (post.amount, post.service_end, post.created_at) == (
        D("1500.00"),
        dt.date(2027, 1, 31),
        local(2027, 1, 31, 0, 15),
    )
    with travel(local(2027, 1, 31, 12, 0)):
        books_ok(s)
    january = batches_at(s, local(2027, 2, 1, 6, 0), JAN)
    assert january[ZK].line_count == 5  # two prenatal, two natal, one postnatal
    assert batch_periods(post) == [(ZK, JAN)]


@pinned
@pytest.mark.parametrize(
    "last_day",
    [dt.date(2027, 1, 31), dt.date(2027, 3, 31), dt.date(2027, 12, 31), dt.date(2028, 2, 29)],
    ids=["january-CET", "march-CEST", "year-end", "leap-day"],
)
def test_a_batch_made_on_the_1st_at_0030_holds_exactly_the_lines_made_before_local_midnight(s, last_day):
    """Three prenatal lines (1200.00 each), made by sweeps at 23:59:59 on the last day, at 00:00:00 and at
    00:10 on the 1st. The batch made at 00:30 on the 1st (22:30 or 23:30 UTC the day before) holds only the
    first; the next month's batch holds the other two."""
    first = last_day + dt.timedelta(days=1)
    midnight = local(first.year, first.month, first.day, 0, 0)
    made = [midnight - dt.timedelta(seconds=1), midnight, midnight + dt.timedelta(minutes=10)]
    eps = []
    for moment in made:
        with travel(moment - MINUTE, tick=False):
            ep = episode(
                s, **pregnancy(last_day - dt.timedelta(days=200)), labour_started_at=moment - 2 * MINUTE
            )
            log(s, ep, "PRE_CHECK", s.practice, on(ep.intake_date))
        sweep(s, moment)
        eps.append(ep)
    lines = [one_line(ep, "prenatal") for ep in eps]
    assert [x.created_at for x in lines] == made
    this_month = batches_at(s, local(first.year, first.month, 1, 0, 30), month_start(last_day))
    next_first = month_start(first + dt.timedelta(days=31))
    next_month = batches_at(s, local(next_first.year, next_first.month, 1, 0, 30), first)
    assert (this_month[ZK].period, this_month[ZK].line_count, this_month[ZK].total) == (
        month_start(last_day),
        1,
        D("1200.00"),
    )
    assert (next_month[ZK].period, next_month[ZK].line_count, next_month[ZK].total) == (
        first,
        2,
        D("2400.00"),
    )
    assert [batch_periods(x) for x in lines] == [
        [(ZK, month_start(last_day))],
        [(ZK, first)],
        [(ZK, first)],
    ]
    books_ok(s)
