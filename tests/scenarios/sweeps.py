"""The billing run at the moments it really runs: the sweep every 15 minutes of real time (Celery beat), the
day taken from the clock as the task takes it (no `today=`), key dates entered through the care-path service
at the moment a midwife saves them, and the month's batches made as beat makes them on the 1st.

Every moment here is an Amsterdam moment (tests.scenarios.clock.local) and the clock stands still at it
(time-machine, tick=False), so a row made "now" is stamped exactly then: a claim line made at 23:59:59 is
made at 23:59:59, not a few milliseconds later on the next day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from billing import reconcile, services
from billing.models import BatchLine, ClaimBatch, ClaimLine
from billing.services import batches
from igo.models import Insurer
from igo.tenancy import tenant_scope
from pregnancies.models import ClientInsurance, Episode
from pregnancies.services import episode_set_key_dates
from tests.factories import EpisodeFactory
from tests.scenarios.billing import Setup
from tests.scenarios.clock import AMSTERDAM, travel

QUARTER = dt.timedelta(minutes=15)


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
