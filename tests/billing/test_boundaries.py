"""Billing at the boundaries of time: any date, any boundary (issue 12).

A phase ends a minute before or after midnight at the end of a month, a year, a contract version; the clocks
go forward in March and back in October; the machine's clock steps back after an NTP correction. Whatever
the moment, every ended phase is claimed exactly once, from the right insurer at the right tariff, split
by the right rule, and its line is in exactly one month's batch: the batch of the month its line was made
in (billing.services.batches: a month's batch takes the ready lines made before the next month's local midnight).

The runs here are the sweep as beat starts it, every 15 minutes of real time, taking the day from the clock
(tests.scenarios.sweeps); key dates and care are saved through the pregnancy services at the moment a
midwife saves them. The clock stands still at each moment (time-machine), so a line made at 23:59:59 is
stamped 23:59:59. Moments are Amsterdam time; comparisons between moments are made in UTC, because two
moments in the same zone compare by their wall-clock reading (02:30 before and after the October change
are "equal" to Python). The worker test at the end runs at the process clock, relative to it.

Amounts (tests.scenarios.billing): Zilveren Kruis 1200/900/1500 with 5% overhead and 2% reserve, VGZ
1300/1000/1650 with 4% overhead; the natal phase is split 60/40 practice/hospital, the others by care
(prenatal check 50, anomaly scan 120, postnatal visit 60 points).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from billing import services
from billing import tasks as billing_tasks
from billing.models import (
    Allocation,
    BatchLine,
    ClaimBatch,
    ClaimLine,
    EpisodeBillingState,
    LineStatus,
    Sign,
    SplitRule,
)
from billing.services.batches import batch_create, batch_release
from igo.dates import month_start
from igo.tenancy import tenant_scope
from pregnancies.models import CareEvent, EventStatus
from pregnancies.services import care_event_log, care_event_void
from providers.models import MemberOrganisation
from providers.selectors import organisation_list
from tests.scenarios.billing import Setup, current, episode, log, pregnancy, split_of, touch
from tests.scenarios.clock import AMSTERDAM, local, travel
from tests.scenarios.sweeps import (
    batch_periods,
    batches_at,
    books_ok,
    enter_key_dates,
    insured,
    sweep,
    sweep_grid,
)

pytestmark = pytest.mark.dated

D = Decimal
UTC = dt.UTC
ZK, VGZ = "3311", "7095"
# The world of a pinned test is built at this moment (its rows are stamped then); each test moves on from it.
BASE = local(2027, 1, 4, 9)
pinned = pytest.mark.clock(BASE)
MINUTE = dt.timedelta(minutes=1)

# The splits, worked out once:
# prenatal 1200.00 with only the practice's checks: 5% 60.00, 2% 24.00, members 1116.00 to the practice.
PRE_ZK = {("overhead", ""): D("60.00"), ("reserve", ""): D("24.00"), ("member", "Praktijk"): D("1116.00")}
# natal 900.00: 45.00 + 18.00, members 837.00 at 60/40: 502.20 and 334.80.
NATAL_ZK = {
    ("overhead", ""): D("45.00"),
    ("reserve", ""): D("18.00"),
    ("member", "Praktijk"): D("502.20"),
    ("member", "Ziekenhuis"): D("334.80"),
}
# postnatal 1500.00 with only the practice's visit: 75.00 + 30.00, members 1395.00 to the practice.
POST_ZK = {("overhead", ""): D("75.00"), ("reserve", ""): D("30.00"), ("member", "Praktijk"): D("1395.00")}
# VGZ natal 1000.00: 4% 40.00, no reserve, members 960.00 at 60/40: 576.00 and 384.00.
NATAL_VGZ = {
    ("overhead", ""): D("40.00"),
    ("member", "Praktijk"): D("576.00"),
    ("member", "Ziekenhuis"): D("384.00"),
}
# VGZ postnatal 1650.00: 66.00, members 1584.00 to the practice.
POST_VGZ = {("overhead", ""): D("66.00"), ("member", "Praktijk"): D("1584.00")}


def one_line(ep: Any, phase: str) -> ClaimLine:
    """The only claim line ever made for this phase: no second debit, no withdrawn line, no credit."""
    lines = list(ClaimLine.unscoped.filter(episode=ep, phase=phase))
    assert len(lines) == 1, [(x.number, x.sign, x.status, x.amount) for x in lines]
    (line,) = lines
    assert line.sign == Sign.DEBIT and line.is_current
    return line


def first_sweep(grid: list[dt.datetime], *, after: dt.datetime, day: dt.date) -> dt.datetime:
    """The first sweep at or after `after` (in real time) whose local date is `day` or later."""
    return min(
        (m for m in grid if m.astimezone(UTC) >= after.astimezone(UTC) and m.date() >= day),
        key=lambda m: m.astimezone(UTC),
    )


def local_day(moment: dt.datetime) -> dt.date:
    return timezone.localdate(moment)


def on(day: dt.date, hour: int = 10) -> dt.datetime:
    return local(day.year, day.month, day.day, hour)


def run_night(s: Setup, grid: list[dt.datetime], entries: list[tuple[dt.datetime, Any]]) -> None:
    """Sweep at every moment of `grid`; each entry (moment, action) is done at its moment, before the sweep
    at the same moment (all in real-time order)."""
    todo = sorted(entries, key=lambda e: e[0].astimezone(UTC))
    for moment in grid:
        while todo and todo[0][0].astimezone(UTC) <= moment.astimezone(UTC):
            todo.pop(0)[1]()
        sweep(s, moment)
    assert not todo, "an entry after the last sweep"


# === 1. a phase that ends around midnight at the end of a month ========================================

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


# === 2. the batch made on the 1st at 00:30 ===============================================================


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


# === 3. the nights the clocks change ========================================================================


@pinned
@pytest.mark.parametrize("night", ["march", "october"])
def test_the_nights_the_clocks_change_bill_each_phase_once_with_local_dates(s, night):
    """Sweeps every 15 minutes of real time from 00:00 to 05:00. In March 02:00 CET becomes 03:00 CEST; in
    October 03:00 CEST becomes 02:00 CET, so 02:00-03:00 happens twice (eight sweeps). Labour at 00:30 local
    (the day before in UTC), placenta + 2 h in the hour that changes (in October once in each 02:30), a
    prenatal check logged in that hour and voided in it (in October: logged at 02:20 the first time round,
    voided at 02:10 the second, later in real time). Each phase is claimed once, dated by the local day,
    the void is the last word, and the month's batch holds every line."""
    day = dt.date(2027, 3, 28) if night == "march" else dt.date(2027, 10, 31)
    ams = local(day.year, day.month, day.day, 0, 0).tzinfo
    if night == "march":
        ends = [local(2027, 3, 28, 3, 30), local(2027, 3, 28, 1, 59)]  # just after and just before the jump
        logged_at, voided_at = local(2027, 3, 28, 1, 50), local(2027, 3, 28, 3, 10)
    else:
        ends = [
            dt.datetime(2027, 10, 31, 2, 30, tzinfo=ams),  # the first 02:30 (CEST, 00:30 UTC)
            dt.datetime(2027, 10, 31, 2, 30, fold=1, tzinfo=ams),  # the second (CET, 01:30 UTC)
        ]
        logged_at = dt.datetime(2027, 10, 31, 2, 20, tzinfo=ams)
        voided_at = dt.datetime(2027, 10, 31, 2, 10, fold=1, tzinfo=ams)
    labour = local(day.year, day.month, day.day, 0, 30)
    assert labour.astimezone(UTC).date() == day - dt.timedelta(days=1)
    grid = sweep_grid(local(day.year, day.month, day.day, 0, 0), local(day.year, day.month, day.day, 5, 0))
    assert len(grid) == (17 if night == "march" else 25)  # 5 hours of wall clock: 4 or 6 of real time
    eps: list[Any] = []
    event: dict[str, CareEvent] = {}

    def labour_starts() -> None:
        with travel(labour, tick=False):
            for _ in ends:
                eps.append(episode(s, **pregnancy(day - dt.timedelta(days=200)), labour_started_at=labour))
                log(s, eps[-1], "PRE_CHECK", s.practice, on(eps[-1].intake_date + dt.timedelta(days=7)))

    def log_check() -> None:
        with travel(logged_at, tick=False), tenant_scope(s.tenant):
            event["check"] = care_event_log(
                actor=s.midwife,
                episode=eps[0],
                event_type=s.types["PRE_CHECK"],
                occurred_at=on(eps[0].intake_date + dt.timedelta(days=35)),
                professional=s.pros[s.south.pk],
            )[0]

    def void_check() -> None:
        with travel(voided_at, tick=False), tenant_scope(s.tenant):
            care_event_void(event=event["check"], actor=s.midwife, reason="logged for the wrong client")

    entries = [(labour, labour_starts), (logged_at, log_check), (voided_at, void_check)]
    entries += [
        (end, lambda i=i, end=end: enter_key_dates(s, eps[i], end, placenta_plus_2h_at=end))
        for i, end in enumerate(ends)
    ]
    run_night(s, grid, entries)

    for ep, end in zip(eps, ends, strict=True):
        prenatal, natal = one_line(ep, "prenatal"), one_line(ep, "natal")
        assert (prenatal.amount, prenatal.service_end, split_of(prenatal)) == (D("1200.00"), day, PRE_ZK)
        assert prenatal.created_at == grid[2]  # the 00:30 sweep, right after labour (00:30) was saved
        assert (natal.amount, natal.service_start, natal.service_end, split_of(natal)) == (
            D("900.00"),
            day,
            day,
            NATAL_ZK,
        )
        # In UTC: a moment in the repeated hour never equals one in another zone (PEP 495).
        assert natal.created_at == first_sweep(grid, after=end, day=day).astimezone(UTC)
    # The check was logged and voided: the prenatal line was split three times, the last split is current.
    history = Allocation.unscoped.filter(claim_line=one_line(eps[0], "prenatal"), kind="member")
    assert history.filter(is_current=False).count() == 3  # practice alone, practice + Zuid, practice + Zuid
    after = month_start(day + dt.timedelta(days=31))
    batch = batches_at(s, local(after.year, after.month, 1, 6, 0), month_start(day))[ZK]
    assert (batch.line_count, batch.total) == (4, D("4200.00"))
    books_ok(s)


# === 4. contract and split rule versions switch at local midnight ===========================================


@pinned
@pytest.mark.parametrize(
    ("switch", "labour", "new_natal"),
    [
        (dt.date(2027, 2, 1), local(2027, 1, 31, 23, 30), False),  # 22:30 UTC on 31 January
        (dt.date(2027, 2, 1), local(2027, 2, 1, 0, 30), True),  # 23:30 UTC on 31 January
        (dt.date(2027, 7, 1), local(2027, 6, 30, 23, 30), False),  # 21:30 UTC on 30 June
        (dt.date(2027, 7, 1), local(2027, 7, 1, 0, 30), True),  # 22:30 UTC on 30 June
        (dt.date(2027, 7, 1), local(2027, 7, 1, 1, 30), True),  # 23:30 UTC on 30 June
    ],
    ids=["feb-2330", "feb-0030", "jul-2330", "jul-0030", "jul-0130"],
)
def test_contract_and_split_rule_versions_start_at_local_midnight(s, switch, labour, new_natal):
    """A new contract version (1250/950/1600) and a new split rule version (natal 50/50) from `switch`. A phase
    is priced and split by the versions in force on its local start date: prenatal (from the intake) stays
    old, postnatal (placenta + 2 h on the switch day) is new, natal follows the local date of labour, also
    when UTC still reads the day before."""
    with tenant_scope(s.tenant):
        new_contract = services.contract_new_version(
            contract=s.zk_contract,
            actor=s.admin,
            valid_from=switch,
            tariffs={
                "prenatal": ("IGB-PRE", D("1250.00")),
                "natal": ("IGB-NAT", D("950.00")),
                "postnatal": ("IGB-POST", D("1600.00")),
            },
        )
        services.split_rule_create(
            tenant=s.tenant,
            actor=s.admin,
            year=switch.year,
            valid_from=switch,
            phases={
                "prenatal": {"method": "care"},
                "natal": {"method": "fixed", "shares": {s.practice.pk: 50, s.hospital.pk: 50}},
                "postnatal": {"method": "care", "minimums": {s.practice.pk: 10}},
            },
            rates={s.types["PRE_CHECK"].pk: D("50"), s.types["POST_VISIT"].pk: D("60")},
        )
    placenta = labour + dt.timedelta(hours=3)
    assert local_day(placenta) == switch
    with travel(placenta + MINUTE, tick=False):
        ep = episode(
            s,
            **pregnancy(switch - dt.timedelta(days=200)),
            labour_started_at=labour,
            placenta_plus_2h_at=placenta,
            postnatal_ended_on=switch + dt.timedelta(days=10),
        )
        log(s, ep, "PRE_CHECK", s.practice, on(ep.intake_date))
        log(s, ep, "POST_VISIT", s.practice, placenta + dt.timedelta(days=1))
    sweep(s, local(switch.year, switch.month, switch.day, 0, 0) + dt.timedelta(days=11))
    lines = current(ep)
    assert (lines["prenatal"].contract_id, lines["prenatal"].amount, split_of(lines["prenatal"])) == (
        s.zk_contract.pk,
        D("1200.00"),
        PRE_ZK,
    )
    natal = lines["natal"]
    if new_natal:
        # 950.00: 47.50 + 19.00, members 883.50 at 50/50: 441.75 each.
        assert (natal.contract_id, natal.amount, natal.service_start) == (
            new_contract.pk,
            D("950.00"),
            switch,
        )
        assert split_of(natal) == {
            ("overhead", ""): D("47.50"),
            ("reserve", ""): D("19.00"),
            ("member", "Praktijk"): D("441.75"),
            ("member", "Ziekenhuis"): D("441.75"),
        }
    else:
        assert (natal.contract_id, natal.amount, natal.service_start) == (
            s.zk_contract.pk,
            D("900.00"),
            switch - dt.timedelta(days=1),
        )
        assert split_of(natal) == NATAL_ZK
    # 1600.00: 80.00 + 32.00, members 1488.00 to the practice.
    assert (lines["postnatal"].contract_id, lines["postnatal"].amount, split_of(lines["postnatal"])) == (
        new_contract.pk,
        D("1600.00"),
        {("overhead", ""): D("80.00"), ("reserve", ""): D("32.00"), ("member", "Praktijk"): D("1488.00")},
    )
    books_ok(s)


# === 5. a new insurer on 1 January ==========================================================================

NEW_YEAR_SWEEPS = sweep_grid(local(2027, 12, 31, 20, 0), local(2028, 1, 1, 1, 0))
INTAKE = dt.date(2027, 6, 14)
DEC, JAN28 = dt.date(2027, 12, 1), dt.date(2028, 1, 1)
Y27, Y28 = dt.date(2027, 12, 31), dt.date(2028, 1, 1)


@pinned
@pytest.mark.parametrize(
    ("labour", "placenta", "expected"),
    [
        (
            local(2027, 12, 31, 23, 40),
            local(2028, 1, 1, 0, 10),
            {  # phase: insurer, policy, amount, start, end, split, batch month when swept every 15 minutes
                "prenatal": (ZK, "ZK-1", D("1200.00"), INTAKE, Y27, PRE_ZK, DEC),  # by the 23:45 sweep
                "natal": (ZK, "ZK-1", D("900.00"), Y27, Y28, NATAL_ZK, JAN28),  # by the 00:15 sweep
                "postnatal": (VGZ, "VGZ-2", D("1650.00"), Y28, Y28, POST_VGZ, JAN28),  # 00:15
            },
        ),
        (
            local(2028, 1, 1, 0, 10),
            local(2028, 1, 1, 0, 25),
            {
                "prenatal": (ZK, "ZK-1", D("1200.00"), INTAKE, Y28, PRE_ZK, JAN28),  # 00:15
                "natal": (VGZ, "VGZ-2", D("1000.00"), Y28, Y28, NATAL_VGZ, JAN28),  # 00:30
                "postnatal": (VGZ, "VGZ-2", D("1650.00"), Y28, Y28, POST_VGZ, JAN28),  # 00:30
            },
        ),
        (
            local(2027, 12, 31, 21, 0),
            local(2027, 12, 31, 23, 50),
            {
                "prenatal": (ZK, "ZK-1", D("1200.00"), INTAKE, Y27, PRE_ZK, DEC),  # 21:00
                "natal": (ZK, "ZK-1", D("900.00"), Y27, Y27, NATAL_ZK, JAN28),  # 00:00
                "postnatal": (ZK, "ZK-1", D("1500.00"), Y27, Y28, POST_ZK, JAN28),  # 00:00
            },
        ),
    ],
    ids=["labour-2340-placenta-0010", "labour-0010", "all-on-31-december"],
)
@pytest.mark.parametrize("runs", ["every-15-minutes", "once-at-0030"])
def test_a_new_insurer_on_1_january_gets_the_phases_that_start_in_the_new_year(
    s, labour, placenta, expected, runs
):
    """Zilveren Kruis (ZK-1) until 31 December, VGZ (VGZ-2) from 1 January; postnatal care ends 1 January.
    Each phase goes to the insurer of its local start date (prenatal: the intake in June). Swept every 15
    minutes, a line made before midnight is in December's batch; with one run at 00:30 on 1 January (23:30
    UTC on 31 December) all three are in January's batches, still each with the insurer of its start date."""
    ep = insured(
        s,
        periods=[(s.zk, "ZK-1", dt.date(2024, 1, 1), Y27), (s.vgz, "VGZ-2", Y28, None)],
        **pregnancy(INTAKE),
    )
    log(s, ep, "PRE_CHECK", s.practice, on(INTAKE + dt.timedelta(days=7)))

    def deliver() -> None:
        enter_key_dates(s, ep, placenta, placenta_plus_2h_at=placenta, postnatal_ended_on=Y28)
        with travel(placenta, tick=False):
            log(s, ep, "POST_VISIT", s.practice, placenta)
            touch(ep)

    entries = [
        (labour, lambda: enter_key_dates(s, ep, labour, labour_started_at=labour)),
        (placenta, deliver),
    ]
    swept = runs == "every-15-minutes"
    run_night(s, NEW_YEAR_SWEEPS if swept else [local(2028, 1, 1, 0, 30)], entries)
    december = batches_at(s, local(2028, 1, 1, 6, 0), DEC)
    january = batches_at(s, local(2028, 2, 1, 6, 0), JAN28)
    for phase, (uzovi, policy, amount, start, end, split, month) in expected.items():
        line = one_line(ep, phase)
        assert (line.insurer.uzovi_code, line.policy_number, line.amount) == (uzovi, policy, amount), phase
        assert (line.service_start, line.service_end, split_of(line)) == (start, end, split), phase
        assert batch_periods(line) == [(uzovi, month if swept else JAN28)], phase
    in_batches = [b.line_count for b in [*december.values(), *january.values()]]
    assert sum(in_batches) == 3
    books_ok(s)


# === 6. a clock that steps back ============================================================================

STEPS = {"1h": dt.timedelta(hours=1), "1d": dt.timedelta(days=1)}


def in_labour_with_care(s: Setup, *, labour: dt.datetime, placenta: dt.datetime) -> tuple[Any, CareEvent]:
    """Intake 1 September 2026; two checks by the practice, the anomaly scan by the hospital."""
    ep = episode(s, **pregnancy(dt.date(2026, 9, 1)), labour_started_at=labour, placenta_plus_2h_at=placenta)
    log(s, ep, "PRE_CHECK", s.practice, local(2026, 9, 8, 10))
    log(s, ep, "PRE_CHECK", s.practice, local(2026, 10, 6, 10))
    scan = log(s, ep, "ECHO_SEO", s.hospital, local(2026, 11, 3, 10))
    return ep, scan


# 1200.00: 60.00 + 24.00, members 1116.00 by points practice 100 : hospital 120:
# 1116 x 100/220 = 507.2727 -> 507.27, 1116 x 120/220 = 608.7272 -> 608.72 + the left-over cent.
PRE_WITH_SCAN = {**PRE_ZK, ("member", "Praktijk"): D("507.27"), ("member", "Ziekenhuis"): D("608.73")}


@pinned
@pytest.mark.parametrize("step", list(STEPS), ids=list(STEPS))
@pytest.mark.parametrize("change", ["void", "log"])
def test_care_changed_after_the_clock_stepped_back_is_split_by_the_next_run(s, step, change):
    """A run at 10:00; then the clock steps back (an hour, a day) and care is voided or logged, which stamps
    the episode changed earlier than that run checked it. The next sweep re-splits the prenatal line, and
    the clock catching up later changes nothing more."""
    with travel(local(2027, 3, 10, 9, 0), tick=False):
        ep, scan = in_labour_with_care(s, labour=local(2027, 3, 8, 4), placenta=local(2027, 3, 8, 9))
    sweep(s, local(2027, 3, 10, 10, 0))
    prenatal, natal = one_line(ep, "prenatal"), one_line(ep, "natal")
    assert split_of(prenatal) == PRE_WITH_SCAN
    back = local(2027, 3, 10, 10, 0).astimezone(UTC) - STEPS[step]
    with travel(back + 5 * MINUTE, tick=False), tenant_scope(s.tenant):
        if change == "void":
            care_event_void(event=scan, actor=s.midwife, reason="logged for the wrong client")
        else:
            care_event_log(
                actor=s.midwife,
                episode=ep,
                event_type=s.types["PRE_CHECK"],
                occurred_at=local(2026, 11, 10, 10),
                professional=s.pros[s.south.pk],
            )
    sweep(s, back + 15 * MINUTE)
    if change == "void":
        expected = PRE_ZK  # the scan is gone: all 1116.00 to the practice
    else:
        # Points practice 100, hospital 120, Zuid 50 (270): 413.333 -> 413.33, 496.00, 206.666 -> 206.66
        # + the left-over cent (largest remainder) = 206.67.
        expected = {
            **PRE_ZK,
            ("member", "Praktijk"): D("413.33"),
            ("member", "Ziekenhuis"): D("496.00"),
            ("member", "Praktijk Zuid"): D("206.67"),
        }
    assert split_of(prenatal) == expected
    assert split_of(natal) == NATAL_ZK
    books_ok(s)
    # The clock catches up and passes midnight: nothing is claimed, withdrawn or split again.
    before = sorted(Allocation.unscoped.filter(tenant=s.tenant).values_list("pk", "is_current"))
    for moment in (local(2027, 3, 10, 10, 15), local(2027, 3, 11, 0, 0), local(2027, 3, 11, 0, 15)):
        sweep(s, moment)
    assert sorted(Allocation.unscoped.filter(tenant=s.tenant).values_list("pk", "is_current")) == before
    assert one_line(ep, "prenatal").pk == prenatal.pk and one_line(ep, "natal").pk == natal.pk
    books_ok(s)


@pinned
@pytest.mark.parametrize("sent", [True, False], ids=["sent", "unallocated"])
def test_a_clock_a_day_behind_does_not_take_back_a_claim_made_on_the_later_day(request, sent):
    """Labour and placenta + 2 h on 10 March; the 08:45 sweep claims prenatal and natal (both ending 10 March).
    Then the clock steps back a day. A run on "9 March" still sees the phases as ended on 10 March and its
    clock as the only thing that changed: it keeps the claims (no credit to the insurer for a sent line,
    nothing withdrawn for an unsent one), and the clock catching up claims nothing twice."""
    world: Setup = request.getfixturevalue("s" if sent else "s_no_rule")
    with travel(local(2027, 3, 10, 8, 30), tick=False):
        ep, scan = in_labour_with_care(world, labour=local(2027, 3, 10, 4), placenta=local(2027, 3, 10, 8))
    sweep(world, local(2027, 3, 10, 8, 45))
    made = {phase: one_line(ep, phase).pk for phase in ("prenatal", "natal")}
    if sent:
        with travel(local(2027, 3, 10, 9, 0), tick=False), tenant_scope(world.tenant):
            batch = batch_create(tenant=world.tenant, insurer=world.zk, period=dt.date(2027, 3, 1))
            assert batch.batch is not None and batch.batch.line_count == 2
            batch_release(batch=batch.batch, actor=world.admin)
    with travel(local(2027, 3, 9, 9, 30), tick=False), tenant_scope(world.tenant):
        care_event_void(event=scan, actor=world.midwife, reason="logged for the wrong client")
    for moment in (
        local(2027, 3, 9, 9, 45),
        local(2027, 3, 10, 0, 0),
        local(2027, 3, 10, 9, 45),
        local(2027, 3, 11, 0, 0),
    ):
        sweep(world, moment)
        assert {phase: one_line(ep, phase).pk for phase in made} == made
        with travel(moment + MINUTE, tick=False):
            books_ok(world)
    lines = current(ep)
    if sent:
        assert {p: x.status for p, x in lines.items()} == {
            "prenatal": LineStatus.SENT,
            "natal": LineStatus.SENT,
        }
        assert split_of(lines["prenatal"]) == PRE_ZK  # the void re-split it, on "9 March"
    else:
        assert {p: x.status for p, x in lines.items()} == {
            "prenatal": LineStatus.READY,
            "natal": LineStatus.READY,
        }
        assert all(split_of(x) == {} for x in lines.values())  # no rule: waiting, with a work item
    assert not ClaimLine.unscoped.filter(tenant=world.tenant, sign=Sign.CREDIT).exists()


@pinned
@pytest.mark.parametrize("how", ["clock-1h", "clock-1d", "committed-late"])
def test_a_split_rule_saved_before_the_last_check_by_the_clock_still_resplits(s, how):
    """A new version of the split rule (natal 50/50) that the last check did not see, although its created_at
    reads earlier than that check: saved after the clock stepped back an hour or a day, or saved at 08:00 in a
    transaction that committed after the 10:00 run. The next day's re-check re-splits the natal line."""
    with travel(local(2027, 3, 10, 9, 0), tick=False):
        ep, _scan = in_labour_with_care(s, labour=local(2027, 3, 1, 4), placenta=local(2027, 3, 1, 9))
    sweep(s, local(2027, 3, 10, 10, 0))
    natal = one_line(ep, "natal")
    assert split_of(natal) == NATAL_ZK
    saved_at = {
        "clock-1h": local(2027, 3, 10, 9, 5),
        "clock-1d": local(2027, 3, 9, 10, 5),
        "committed-late": local(2027, 3, 10, 10, 5),
    }[how]
    with travel(saved_at, tick=False), tenant_scope(s.tenant):
        rule = services.split_rule_create(
            tenant=s.tenant,
            actor=s.admin,
            year=2027,
            valid_from=dt.date(2027, 1, 1),
            phases={
                "prenatal": {"method": "care"},
                "natal": {"method": "fixed", "shares": {s.practice.pk: 50, s.hospital.pk: 50}},
                "postnatal": {"method": "care", "minimums": {s.practice.pk: 10}},
            },
            rates={s.types["PRE_CHECK"].pk: D("50"), s.types["ECHO_SEO"].pk: D("120")},
        )
    if how == "committed-late":
        SplitRule.unscoped.filter(pk=rule.pk).update(created_at=local(2027, 3, 10, 8, 0))
    for moment in sweep_grid(local(2027, 3, 10, 23, 45), local(2027, 3, 11, 0, 30)):
        sweep(s, moment)
    # 900.00: 45.00 + 18.00, members 837.00 at 50/50: 418.50 each.
    assert split_of(natal) == {
        **NATAL_ZK,
        ("member", "Praktijk"): D("418.50"),
        ("member", "Ziekenhuis"): D("418.50"),
    }
    assert one_line(ep, "natal").pk == natal.pk
    books_ok(s)


CLOCK_STEPS = st.sampled_from(
    [
        dt.timedelta(minutes=15),
        dt.timedelta(days=1),
        -dt.timedelta(minutes=1),
        -dt.timedelta(hours=1),
        -dt.timedelta(days=1),
    ]
)
ACTIONS = st.sampled_from(["nothing", "log-zuid", "log-hospital", "void", "new-rule"])


def fresh_split(s: Setup, line: ClaimLine) -> dict[tuple[str, int | None], Decimal]:
    """What splitting the line now gives, from the care and the split rules as they are."""
    with tenant_scope(s.tenant):
        computed = services.compute_allocations(line, services.SplitContext({line.episode_id}))
    assert not isinstance(computed, tuple), computed
    return {(a.kind, a.organisation_id): a.amount for a in computed}


def stored_split(line: ClaimLine) -> dict[tuple[str, int | None], Decimal]:
    return {
        (a.kind, a.organisation_id): a.amount
        for a in Allocation.unscoped.filter(claim_line=line, is_current=True)
    }


@pinned
@hsettings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(walk=st.lists(st.tuples(CLOCK_STEPS, ACTIONS), min_size=1, max_size=5))
@example(  # back a day (before the phases ended) and void, back an hour and log, a rule, the next day
    walk=[
        (-dt.timedelta(days=1), "void"),
        (-dt.timedelta(hours=1), "log-zuid"),
        (dt.timedelta(minutes=15), "new-rule"),
        (dt.timedelta(days=1), "nothing"),
    ]
)
def test_whatever_the_clock_does_a_change_is_split_by_the_next_run_and_nothing_is_doubled(s, walk):
    """The clock walks forward and back (a minute, an hour, a day) from 10:00 on 10 March, the day labour
    and placenta + 2 h were; at each stop care may be logged or voided, or a split rule version saved, and a
    sweep follows a minute later. After every sweep: the two lines made at the start are the only lines
    (nothing credited, withdrawn or doubled, also with the clock before the day the phases ended); a change
    of care is split by that sweep; a new rule at the latest by the next day's re-check; whenever the run
    looked at the episode its parts are what a fresh split of the care under the rules gives; and the books
    check finds nothing. (Each stop is a microsecond apart from every other, as real changes are: a change
    stamped with the very moment of the change the run last saw would look like no change.)"""
    with transaction.atomic():
        start = local(2027, 3, 10, 10, 0).astimezone(UTC)
        with travel(start - MINUTE, tick=False):
            ep, _scan = in_labour_with_care(s, labour=local(2027, 3, 10, 4), placenta=local(2027, 3, 10, 8))
        sweep(s, start)
        made = {phase: one_line(ep, phase) for phase in ("prenatal", "natal")}
        moment, latest, care_changed = start, start, False
        for n, (step, action) in enumerate(walk, start=1):
            moment += step + dt.timedelta(microseconds=n)
            with travel(moment, tick=False), tenant_scope(s.tenant):
                if action.startswith("log"):
                    org = s.south if action == "log-zuid" else s.hospital
                    care_event_log(
                        actor=s.midwife,
                        episode=ep,
                        event_type=s.types["PRE_CHECK" if org == s.south else "ECHO_SEO"],
                        occurred_at=local(2026, 12, 1, 10) + dt.timedelta(days=n),
                        professional=s.pros[org.pk],
                    )
                    care_changed = True
                elif action == "void":
                    active = CareEvent.unscoped.filter(episode=ep, status=EventStatus.ACTIVE).order_by("pk")
                    if active.count() > 1:  # keep one: a care split needs a basis
                        care_event_void(event=active.last(), actor=s.midwife, reason="wrong client")
                        care_changed = True
                elif action == "new-rule":
                    share = 40 + 5 * n
                    services.split_rule_create(
                        tenant=s.tenant,
                        actor=s.admin,
                        year=2027,
                        valid_from=dt.date(2027, 1, 1),
                        phases={
                            "prenatal": {"method": "care"},
                            "natal": {
                                "method": "fixed",
                                "shares": {s.practice.pk: share, s.hospital.pk: 100 - share},
                            },
                        },
                        rates={s.types["PRE_CHECK"].pk: D("50") + n, s.types["ECHO_SEO"].pk: D("120")},
                    )
            before = {p: stored_split(x) for p, x in made.items()}
            moment += MINUTE
            latest = max(latest, moment)
            sweep(s, moment)
            checked = EpisodeBillingState.unscoped.get(episode=ep).checked_at == moment
            assert checked or not care_changed, (step, action)  # a change of care is never skipped
            for phase, line in made.items():
                assert one_line(ep, phase).pk == line.pk
                assert stored_split(line) == (fresh_split(s, line) if checked else before[phase]), (
                    step,
                    action,
                )
            care_changed = care_changed and not checked
            with travel(moment, tick=False):
                books_ok(s)
        # The next day's first sweep looks at it again: whatever rule came last is in force.
        sweep(
            s, latest.astimezone(AMSTERDAM).replace(hour=0, minute=15, microsecond=0) + dt.timedelta(days=1)
        )
        for phase, line in made.items():
            assert one_line(ep, phase).pk == line.pk
            assert stored_split(line) == fresh_split(s, line)
        books_ok(s)
        transaction.set_rollback(True)


# === 7. dates from the local day, not the process's zone ===================================================


@pinned
def test_current_members_are_those_of_the_local_day_whatever_the_zone_of_the_process(s):
    """At 00:30 on 1 February in Amsterdam (23:30 UTC on 31 January) the members of the IGO are those of
    1 February, also in a process whose zone is UTC (a container, a script that did not load Django's
    settings first): Zuid joins that day, Kraamzorg left the day before."""
    MemberOrganisation.unscoped.filter(pk=s.south.pk).update(member_from=dt.date(2027, 2, 1))
    MemberOrganisation.unscoped.filter(pk=s.kraam.pk).update(member_until=dt.date(2027, 1, 31))
    zone = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        # A UTC moment: time-machine leaves the process's zone as it is.
        with travel(dt.datetime(2027, 1, 31, 23, 30, tzinfo=UTC)), tenant_scope(s.tenant):
            names = [o.name for o in organisation_list(current_only=True)]
    finally:
        if zone is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = zone
        time.tzset()
    assert names == ["Praktijk", "Praktijk Zuid", "Ziekenhuis"]


# === 8. on the real worker, at the process clock ===========================================================


def _wait_for_batches(tenant_id: int, period: dt.date, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = cache.get(billing_tasks.batch_progress_key(tenant_id))
        if state is not None and state["period"] == period.isoformat() and not state["running"]:
            return
        time.sleep(0.2)
    pytest.fail(f"no batches for {period} after {timeout} s")


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_bills_the_local_day_and_batches_by_local_midnight(s, needs_worker):
    """Relative to the clock (the worker's is the test's, moved with it in the dated passes): postnatal care
    that ends today (the local date; at 00:30 on the 1st UTC still reads the month before) is claimed by the
    worker's run. With one line as if made at 23:59:59 on the last day of last month and one at 00:00:00 on
    the 1st, beat's job on the 1st (batches_monthly) puts exactly the first in last month's batch; this
    month's batch holds the other two."""
    to_midnight = (
        timezone.make_aware(dt.datetime.combine(timezone.localdate() + dt.timedelta(days=1), dt.time.min))
        - timezone.now()
    )
    if to_midnight < dt.timedelta(seconds=30):  # not across the day's end: wait for the new day
        time.sleep(to_midnight.total_seconds() + 1)
    today = timezone.localdate()
    this_month = today.replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    midnight = timezone.make_aware(dt.datetime.combine(this_month, dt.time.min))
    born = timezone.now() - dt.timedelta(days=10)
    ep = episode(
        s,
        **pregnancy(today - dt.timedelta(days=250)),
        labour_started_at=born - dt.timedelta(hours=6),
        placenta_plus_2h_at=born,
        postnatal_ended_on=today,
    )
    log(s, ep, "PRE_CHECK", s.practice, born - dt.timedelta(days=100))
    log(s, ep, "POST_VISIT", s.practice, born + dt.timedelta(hours=20))
    result = billing_tasks.billing_run.delay(s.tenant.pk).get(timeout=60)
    assert (result["lines_created"], result["lines_allocated"]) == (3, 3)
    lines = current(ep)
    assert (lines["postnatal"].amount, lines["postnatal"].service_end) == (D("1500.00"), today)
    assert split_of(lines["postnatal"]) == POST_ZK
    ClaimLine.unscoped.filter(pk=lines["prenatal"].pk).update(created_at=midnight - dt.timedelta(seconds=1))
    ClaimLine.unscoped.filter(pk=lines["natal"].pk).update(created_at=midnight)
    cache.delete(billing_tasks.batch_progress_key(s.tenant.pk))
    assert billing_tasks.batches_monthly.delay().get(timeout=60) == 1
    _wait_for_batches(s.tenant.pk, last_month)
    last = ClaimBatch.unscoped.get(tenant=s.tenant, period=last_month)
    assert list(BatchLine.unscoped.filter(batch=last).values_list("claim_line_id", flat=True)) == [
        lines["prenatal"].pk
    ]
    (made,) = billing_tasks.batches_create.delay(s.tenant.pk, this_month.isoformat()).get(timeout=60)
    this = ClaimBatch.unscoped.get(pk=made)
    assert this.period == this_month
    assert sorted(BatchLine.unscoped.filter(batch=this).values_list("claim_line_id", flat=True)) == sorted(
        [lines["natal"].pk, lines["postnatal"].pk]
    )
    assert (last.total, this.total) == (D("1200.00"), D("2400.00"))
    books_ok(s)
