"""The billing run at the moments it really runs: the sweep every 15 minutes of real time (Celery beat), the
day taken from the clock as the task takes it (no `today=`), key dates entered through the care-path service
at the moment a midwife saves them, and the month's batches made as beat makes them on the 1st.

Every moment here is an Amsterdam moment (tests.scenarios.clock.local) and the clock stands still at it
(time-machine, tick=False), so a row made "now" is stamped exactly then: a claim line made at 23:59:59 is
made at 23:59:59, not a few milliseconds later on the next day. Comparisons between moments are made in
UTC, because two moments in the same zone compare by their wall-clock reading (02:30 before and after the
October change are "equal" to Python).

For the tests of billing at the boundaries of time (tests/billing/test_boundaries_*.py): the moment their
world is built (`pinned`), and its splits worked out once. Amounts (tests.scenarios.billing): Zilveren Kruis
1200/900/1500, VGZ 1300/1000/1650; the split rule takes 5% overhead and 2% reserve off every line (whatever
the insurer), the natal phase is split 60/40 practice/hospital, the others by care (prenatal check 50, anomaly scan 120, postnatal visit 60 points).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from billing import reconcile, services
from billing.models import BatchLine, ClaimBatch, ClaimLine, Sign
from billing.services import batches
from igo.models import Insurer
from igo.tenancy import tenant_scope
from pregnancies.models import ClientInsurance, Episode
from pregnancies.services import episode_set_key_dates
from tests.factories import EpisodeFactory
from tests.scenarios.billing import Setup
from tests.scenarios.clock import AMSTERDAM, local, travel

D = Decimal
QUARTER = dt.timedelta(minutes=15)
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
# VGZ natal 1000.00: the same split rule, 5% 50.00 and 2% 20.00, members 930.00 at 60/40: 558.00 and 372.00.
NATAL_VGZ = {
    ("overhead", ""): D("50.00"),
    ("reserve", ""): D("20.00"),
    ("member", "Praktijk"): D("558.00"),
    ("member", "Ziekenhuis"): D("372.00"),
}
# VGZ postnatal 1650.00: 82.50 + 33.00, members 1534.50 to the practice.
POST_VGZ = {
    ("overhead", ""): D("82.50"),
    ("reserve", ""): D("33.00"),
    ("member", "Praktijk"): D("1534.50"),
}


def sweep_grid(start: dt.datetime, end: dt.datetime, every: dt.timedelta = QUARTER) -> list[dt.datetime]:
    """The sweeps from `start` to `end` (inclusive), every 15 minutes of real time: laid out in UTC, so the
    night the clocks go back has eight sweeps between 02:00 and 03:00 local, and the night they go forward
    none (that hour does not exist)."""
    moment, out = start.astimezone(dt.UTC), []
    while moment <= end:
        out.append(moment.astimezone(AMSTERDAM))
        moment += every
    return out


def sweep(s: Setup, moment: dt.datetime) -> services.RunResult:
    """One billing run at `moment`, as the task starts it: the day is the clock's local date."""
    with travel(moment, tick=False), tenant_scope(s.tenant):
        return services.billing_run(tenant=s.tenant)


def enter_key_dates(s: Setup, ep: Episode, moment: dt.datetime, **values: Any) -> Episode:
    """A midwife saves care-path dates at `moment` (the service refuses more than 10 minutes ahead)."""
    with travel(moment, tick=False), tenant_scope(s.tenant):
        return episode_set_key_dates(episode=ep, actor=s.midwife, **values)


def batches_at(s: Setup, moment: dt.datetime, period: dt.date) -> dict[str, ClaimBatch]:
    """The month's batches as beat makes them (batches_monthly -> batches_create_month) at `moment`, by the
    insurer's UZOVI code."""
    with travel(moment, tick=False), tenant_scope(s.tenant):
        results = batches.batches_create_month(tenant=s.tenant, period=period)
    return {r.batch.insurer.uzovi_code: r.batch for r in results if r.batch is not None}


def batch_periods(line: ClaimLine) -> list[tuple[str, dt.date]]:
    """(UZOVI code, period) of every batch that holds this claim line."""
    return list(
        BatchLine.unscoped.filter(claim_line=line).values_list("batch__insurer__uzovi_code", "batch__period")
    )


def insured(
    s: Setup, *, periods: list[tuple[Insurer, str, dt.date, dt.date | None]], **fields: Any
) -> Episode:
    """An episode whose client is insured (insurer, policy number, from, until) in each given period."""
    ep = EpisodeFactory(tenant=s.tenant, **fields)
    for insurer, policy, start, until in periods:
        ClientInsurance.unscoped.create(
            tenant=s.tenant,
            client=ep.client,
            insurer=insurer,
            policy_number=policy,
            valid_from=start,
            valid_until=until,
        )
    return ep


def books_ok(s: Setup) -> reconcile.BooksReport:
    """The books check of the IGO finds nothing, and nothing waits for a run."""
    report = reconcile.books_check(tenant=s.tenant)
    assert report.ok, reconcile.problem_lines(report)
    assert report.pending_episodes == 0
    return report


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
