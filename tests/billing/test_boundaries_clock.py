"""Billing whatever the machine's clock does (issue 12): after the clock steps back (an NTP correction) a
change of care or of the split rule is still split by the next run and nothing is doubled or taken back;
dates come from the local day, not from the zone of the process; and the real worker bills the local day
and batches by local midnight (at the process clock, relative to it).

How the runs are driven, how moments compare, and the splits worked out once (PRE_ZK ...):
tests.scenarios.sweeps.
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
from igo.tenancy import tenant_scope
from pregnancies.models import CareEvent, EventStatus
from pregnancies.services import care_event_log, care_event_void
from providers.models import MemberOrganisation
from providers.selectors import organisation_list
from tests.scenarios.billing import Setup, current, episode, log, pregnancy, split_of
from tests.scenarios.clock import AMSTERDAM, local, travel
from tests.scenarios.sweeps import (
    MINUTE,
    NATAL_ZK,
    POST_ZK,
    PRE_ZK,
    UTC,
    books_ok,
    one_line,
    pinned,
    sweep,
    sweep_grid,
)

pytestmark = pytest.mark.dated

D = Decimal
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
            overhead_pct=D("5"),
            reserve_pct=D("2"),
            phases={
                "prenatal": {"method": "care"},
                "natal": {"method": "fixed", "shares": {s.practice.pk: 50, s.hospital.pk: 50}},
                "postnatal": {"method": "care", "minimums": {s.practice.pk: 10}},
            },
            # A phase divided by care needs a rate for its care (the split rule's check): the postnatal visit.
            rates={
                s.types["PRE_CHECK"].pk: D("50"),
                s.types["ECHO_SEO"].pk: D("120"),
                s.types["POST_VISIT"].pk: D("60"),
            },
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
                        confirm_duplicate=True,  # a new scan each day on purpose, not a repeat by mistake
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
                        overhead_pct=D("5"),
                        reserve_pct=D("2"),
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
