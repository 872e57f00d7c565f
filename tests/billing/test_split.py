"""The split of a claim line over overhead, reserve and the member organisations (verdeelmodel): a line
waits for a split rule, a new rule version resplits only what it changes, and properties of the money
arithmetic (the parts always sum to the line, whatever the weights and the order of the care).

Where a test needs "the next day", the `clock` fixture moves the clock (time-machine) for the runs and
the rows the test makes alike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from billing import services
from billing.models import Allocation, ClaimLine, SplitRule, SplitShare, WorkItem
from igo.models import Insurer
from igo.money import CENT, split_largest_remainder
from igo.tenancy import tenant_scope
from pregnancies.models import Episode
from tests.scenarios.billing import (
    BILLING_NOW,
    TZ,
    D,
    Setup,
    add_split_rule,
    at,
    current,
    episode,
    log,
    ordinary,
    pregnancy,
    run,
    split_of,
    touch,
)

pytestmark = pytest.mark.clock(BILLING_NOW)


@dataclass
class Clock:
    """The clock of the runs and of the rows the test makes (time-machine): `moment` is where it was last
    set; it ticks on from there."""

    traveller: Any
    moment: dt.datetime

    def set(self, moment: dt.datetime) -> None:
        self.traveller.move_to(moment)
        self.moment = moment


@pytest.fixture
def clock(time_machine: Any) -> Clock:
    """The day after BILLING_NOW at 08:00, before the first run (09:00) of the test."""
    start = dt.datetime.combine(BILLING_NOW.date() + dt.timedelta(days=1), dt.time(8), tzinfo=TZ)
    time_machine.move_to(start)
    return Clock(time_machine, start)


def run_at(s: Setup, clock: Clock, day: dt.date, hour: int = 9) -> services.RunResult:
    clock.set(dt.datetime.combine(day, dt.time(hour), tzinfo=TZ))
    return run(s, today=day)


def _active_in_labour(s: Setup, day: dt.date) -> Episode:
    """Active episode, intake 200 days before `day`, labour 10 days before it: the prenatal phase ended."""
    intake = day - dt.timedelta(days=200)
    ep = episode(
        s,
        **pregnancy(intake),
        labour_started_at=dt.datetime.combine(day - dt.timedelta(days=10), dt.time(8), tzinfo=TZ),
    )
    log(s, ep, "PRE_CHECK", s.practice, dt.datetime.combine(intake, dt.time(10), tzinfo=TZ))
    log(s, ep, "PRE_CHECK", s.practice, dt.datetime.combine(intake, dt.time(11), tzinfo=TZ))
    return ep


def test_no_split_rule_leaves_the_line_unallocated_until_a_rule_exists(s_no_rule, clock):
    s = s_no_rule
    day1 = clock.moment.date()
    ep = _active_in_labour(s, day1)
    run_at(s, clock, day1)
    (line,) = current(ep).values()
    assert line.amount == D("1200.00") and split_of(line) == {}
    open_items = WorkItem.unscoped.filter(episode=ep, resolved_at__isnull=True)
    assert list(open_items.values_list("phase", "reason")) == [("prenatal", "no_split_rule")]
    # The next day, still no rule: still unallocated, still one open work item, no new line.
    run_at(s, clock, day1 + dt.timedelta(days=1))
    assert split_of(line) == {} and ClaimLine.unscoped.filter(episode=ep).count() == 1
    assert open_items.count() == 1
    add_split_rule(s, year=ep.intake_date.year, valid_from=dt.date(ep.intake_date.year, 1, 1))
    run_at(s, clock, day1 + dt.timedelta(days=2))
    assert ClaimLine.unscoped.filter(episode=ep).count() == 1  # the same line, now allocated
    # 1200.00: 60.00 + 24.00, members 1116.00 all to the practice (the only care logged).
    assert split_of(line) == {
        ("overhead", ""): D("60.00"),
        ("reserve", ""): D("24.00"),
        ("member", "Praktijk"): D("1116.00"),
    }
    assert not open_items.exists()


@pytest.mark.parametrize("case", ["same-day", "ended-200-days-ago"])
def test_a_rule_added_later_allocates_the_line_on_the_next_run(s_no_rule, clock, case):
    s = s_no_rule
    day1 = clock.moment.date()
    if case == "same-day":
        ep = _active_in_labour(s, day1)
        next_day = day1
    else:
        end = day1 - dt.timedelta(days=200)
        ep = episode(
            s,
            **pregnancy(end - dt.timedelta(days=230)),
            labour_started_at=dt.datetime.combine(end - dt.timedelta(days=40), dt.time(8), tzinfo=TZ),
            placenta_plus_2h_at=dt.datetime.combine(end - dt.timedelta(days=40), dt.time(15), tzinfo=TZ),
            postnatal_ended_on=end,
            status="ended",
            end_date=end,
            end_reason="completed",
        )
        log(s, ep, "PRE_CHECK", s.practice, dt.datetime.combine(ep.intake_date, dt.time(10), tzinfo=TZ))
        log(
            s,
            ep,
            "POST_VISIT",
            s.practice,
            dt.datetime.combine(end - dt.timedelta(days=20), dt.time(10), tzinfo=TZ),
        )
        next_day = day1 + dt.timedelta(days=1)
    run_at(s, clock, day1)
    assert current(ep) and all(split_of(x) == {} for x in current(ep).values())
    add_split_rule(s, year=ep.intake_date.year, valid_from=dt.date(ep.intake_date.year, 1, 1))
    run_at(s, clock, next_day, hour=11)
    assert all(split_of(x) != {} for x in current(ep).values())


def test_an_unsolved_work_item_is_not_resolved_and_reopened_by_each_run(s_no_rule, clock):
    s = s_no_rule
    day1 = clock.moment.date()
    ep = _active_in_labour(s, day1)
    run_at(s, clock, day1)
    first = WorkItem.unscoped.get(episode=ep)
    run_at(s, clock, day1 + dt.timedelta(days=1))
    first.refresh_from_db()
    assert first.resolved_at is None
    assert WorkItem.unscoped.filter(episode=ep).count() == 1


def test_a_new_split_rule_version_resplits_and_unchanged_episodes_are_not_recomputed(s, clock):
    """A split depends on the episode's care and on the split rules: the run recomputes it when either
    changed since the last check, and otherwise does not read the care at all. An ended episode whose
    lines are all made and that waits for nothing is not even checked the next day."""
    from django.test.utils import CaptureQueriesContext

    ep = ordinary(s)
    log(s, ep, "PRE_CHECK", s.practice, at(2026, 2, 9))
    day = clock.moment.date()
    run_at(s, clock, day)
    natal = current(ep)["natal"]
    assert split_of(natal)[("member", "Praktijk")] == split_of(natal)[("member", "Ziekenhuis")] * 3 / 2
    # The next day nothing changed: the ended episode is not a candidate, its care not read.
    with CaptureQueriesContext(connection) as queries:
        result = run_at(s, clock, day + dt.timedelta(days=1))
    assert result.episodes == 0 and result.lines_replaced == 0
    assert not [q["sql"] for q in queries if "pregnancies_careevent" in q["sql"]]
    # A new version of the rule (natal 50/50 from 1 January): the next run re-splits the line.
    with tenant_scope(s.tenant):
        rule = services.split_rule_create(
            tenant=s.tenant,
            actor=s.admin,
            year=2026,
            valid_from=dt.date(2026, 1, 1),
            phases={
                "prenatal": {"method": "care"},
                "natal": {"method": "fixed", "shares": {s.practice.pk: 50, s.hospital.pk: 50}},
                "postnatal": {"method": "care", "minimums": {s.practice.pk: 10}},
            },
            rates={s.types["PRE_CHECK"].pk: D("50"), s.types["POST_VISIT"].pk: D("60")},
        )
    # Saved an hour after that run, on the clock the runs see.
    SplitRule.unscoped.filter(pk=rule.pk).update(created_at=clock.moment + dt.timedelta(hours=1))
    result = run_at(s, clock, day + dt.timedelta(days=2))
    assert result.lines_replaced >= 1
    after = split_of(natal)
    assert after[("member", "Praktijk")] == after[("member", "Ziekenhuis")]
    assert sum(after.values()) == natal.amount
    assert split_of(natal, current_only=False)  # the 60/40 parts are kept as history, not current


def test_a_resplit_under_the_same_rule_version_keeps_the_overhead_and_reserve_already_allocated(s, clock):
    """No euro already allocated to the IGO moves: allocations made while the overhead and reserve came from
    the insurer's contract (here VGZ's old 4% and no reserve) keep them when later care re-splits the line
    under the same split rule version, although that version now says 5% and 2% (what migration 0009 gave
    it). Only the members' part is divided again; a new version divides the line by its own percentages."""
    ep = ordinary(s)  # prenatal 1200.00: the practice's 10 checks (500 points), the hospital's scan (120)
    day = clock.moment.date()
    SplitRule.unscoped.filter(pk=s.rule.pk).update(overhead_pct=D("4"), reserve_pct=D("0"))
    run_at(s, clock, day)
    prenatal = current(ep)["prenatal"]
    # 4% 48.00, no reserve; members 1152.00 by 500 : 120 points: 929.0322… and 222.9677…, the cent to the
    # larger remainder: 929.03 and 222.97.
    assert split_of(prenatal) == {
        ("overhead", ""): D("48.00"),
        ("member", "Praktijk"): D("929.03"),
        ("member", "Ziekenhuis"): D("222.97"),
    }
    SplitRule.unscoped.filter(pk=s.rule.pk).update(overhead_pct=D("5"), reserve_pct=D("2"))
    # A second scan by the hospital, logged the next day: 500 : 240 points.
    clock.set(clock.moment + dt.timedelta(hours=20))
    log(s, ep, "ECHO_SEO", s.hospital, at(2026, 5, 4))
    touch(ep)
    result = run_at(s, clock, day + dt.timedelta(days=1))
    assert result.lines_replaced == 1  # only the prenatal line's care changed
    # Overhead 48.00 kept, no reserve; members 1152.00 by 500 : 240: 778.3783… and 373.6216…, the cent to the
    # larger remainder: 778.38 and 373.62.
    assert split_of(prenatal) == {
        ("overhead", ""): D("48.00"),
        ("member", "Praktijk"): D("778.38"),
        ("member", "Ziekenhuis"): D("373.62"),
    }
    assert sum(split_of(prenatal).values()) == prenatal.amount
    (kept,) = Allocation.unscoped.filter(claim_line=prenatal, is_current=True, kind="overhead")
    assert kept.basis == {"percentage": "4.00"}  # the percentage it was taken with, as before
    # The natal line was divided under the same rule with 4% and is untouched: 36.00 of 900.00.
    assert split_of(current(ep)["natal"])[("overhead", "")] == D("36.00")
    # A new version of the rule from 1 January 2026 divides the line wholly by its own 6% and 1%.
    with tenant_scope(s.tenant):
        rule = services.split_rule_create(
            tenant=s.tenant,
            actor=s.admin,
            year=2026,
            valid_from=dt.date(2026, 1, 1),
            overhead_pct=D("6"),
            reserve_pct=D("1"),
            phases={
                "prenatal": {"method": "care"},
                "natal": {"method": "fixed", "shares": {s.practice.pk: 60, s.hospital.pk: 40}},
                "postnatal": {"method": "care", "minimums": {s.practice.pk: 10}},
            },
            # Dividing postnatal care needs a rate of its own (a split rule without one is refused); no
            # kraamzorg hours are logged here, so it changes no amount below.
            rates={
                s.types["PRE_CHECK"].pk: D("50"),
                s.types["ECHO_SEO"].pk: D("120"),
                s.types["KZ_HOURS"].pk: D("35"),
            },
        )
    SplitRule.unscoped.filter(pk=rule.pk).update(created_at=clock.moment + dt.timedelta(hours=1))
    run_at(s, clock, day + dt.timedelta(days=2))
    # 6% 72.00, 1% 12.00, members 1116.00 by 500 : 240: 754.0540… and 361.9459…: 754.05 and 361.95.
    assert split_of(prenatal) == {
        ("overhead", ""): D("72.00"),
        ("reserve", ""): D("12.00"),
        ("member", "Praktijk"): D("754.05"),
        ("member", "Ziekenhuis"): D("361.95"),
    }
    bases = {
        a.kind: a.basis
        for a in Allocation.unscoped.filter(claim_line=prenatal, is_current=True, organisation=None)
    }
    assert bases == {"overhead": {"percentage": "6.00"}, "reserve": {"percentage": "1.00"}}


cents = st.integers(min_value=-(10**11), max_value=10**11)
weights = st.one_of(
    st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=10**6).map(Decimal),
    st.builds(lambda a, b: Decimal(a) / Decimal(b), st.integers(0, 1000), st.integers(1, 1000)),
)


@hsettings(max_examples=200, deadline=None)
@given(total_cents=cents, ws=st.lists(weights, min_size=1, max_size=10))
def test_split_largest_remainder_properties(total_cents, ws):
    total = Decimal(total_cents) * CENT
    parts = split_largest_remainder(total, ws)
    assert len(parts) == len(ws)
    assert sum(parts) == total
    assert all(p == p.quantize(CENT) for p in parts)
    if total >= 0:
        assert all(p >= 0 for p in parts)
    else:
        assert all(p <= 0 for p in parts)
    weight_sum = sum((Fraction(w) for w in ws), Fraction(0))
    for part, w in zip(parts, ws, strict=True):
        exact = Fraction(total) * (Fraction(w) / weight_sum if weight_sum else Fraction(1, len(ws)))
        assert abs(Fraction(part) - exact) < Fraction(1, 100)
    assert split_largest_remainder(total, list(ws)) == parts
    assert split_largest_remainder(Decimal(str(total)), tuple(ws)) == parts


@st.composite
def care_weights_input(draw: st.DrawFn) -> tuple[list[SplitShare], dict[int, Decimal]]:
    orgs = list(range(1, draw(st.integers(1, 6)) + 1))
    with_points = draw(st.lists(st.sampled_from(orgs), min_size=1, unique=True))
    points = {
        o: Decimal(draw(st.integers(1, 1200))) * Decimal(draw(st.integers(1, 50000))) / Decimal(10000)
        for o in with_points
    }
    raw = {o: draw(st.integers(0, 10000)) for o in draw(st.lists(st.sampled_from(orgs), unique=True))}
    total = sum(raw.values())
    if total > 10000:  # scale the minimums down so they add up to at most 100.00%
        raw = {o: v * 10000 // total for o, v in raw.items()}
    shares = [SplitShare(organisation_id=o, minimum_pct=Decimal(v) / 100) for o, v in raw.items()]
    return shares, points


@hsettings(max_examples=200, deadline=None)
@given(data=care_weights_input())
def test_member_weights_sum_to_one_and_respect_every_minimum(data):
    shares, points = data
    result = services.member_weights(method="care", shares=shares, points=points)
    assert abs(sum(result.values(), Decimal(0)) - 1) <= Decimal("1e-20")
    assert all(w > 0 for w in result.values())
    for share in shares:
        assert result.get(share.organisation_id, Decimal(0)) >= share.minimum_pct / 100
    assert services.member_weights(method="care", shares=shares, points=dict(points)) == result


def test_member_weights_without_points_but_with_minimums():
    shares = [SplitShare(organisation_id=1, minimum_pct=D("10"))]
    result = services.member_weights(method="care", shares=shares, points={})
    assert result == {} or sum(result.values()) == 1


@dataclass
class CareScenario:
    k: int
    events: list[tuple[int, str, int]]  # (organisation index, event type code, quantity in hundredths)
    order: list[int]
    overhead: int  # hundredths of a percent
    reserve: int
    rates: dict[str, int]  # cents
    fixed: list[int]  # natal shares in hundredths of a percent, summing to 10000
    minimums: list[int]  # postnatal minimums in hundredths of a percent, summing to at most 10000
    tariffs: list[int]  # cents


CODES = ["PRE_CHECK", "ECHO_SEO", "DELIV_CLIN", "PARTUS_ASSIST", "POST_VISIT", "KZ_HOURS"]


@st.composite
def care_scenarios(draw: st.DrawFn) -> CareScenario:
    k = draw(st.integers(2, 4))
    events = draw(
        st.lists(
            st.tuples(st.integers(0, k - 1), st.sampled_from(CODES), st.integers(1, 1200)),
            min_size=1,
            max_size=12,
        )
    )
    cuts = sorted(draw(st.lists(st.integers(0, 10000), min_size=k - 1, max_size=k - 1)))
    fixed = [b - a for a, b in zip([0, *cuts], [*cuts, 10000], strict=True)]
    minimums = draw(st.lists(st.integers(0, 4000), min_size=k, max_size=k))
    if sum(minimums) > 10000:
        minimums = [m * 10000 // sum(minimums) for m in minimums]
    overhead = draw(st.integers(0, 2000))
    return CareScenario(
        k=k,
        events=events,
        order=draw(st.permutations(range(len(events)))),
        overhead=overhead,
        reserve=draw(st.integers(0, 1000)),
        # A phase divided by care needs one positive rate (a split rule without one is refused): the echo
        # and the kraamzorg hour always have one, the others may weigh nothing.
        rates={
            code: draw(st.integers(1 if code in ("ECHO_SEO", "KZ_HOURS") else 0, 50000)) for code in CODES
        },
        fixed=fixed,
        minimums=minimums,
        tariffs=[draw(st.integers(0, 500000)) for _ in range(3)],
    )


@pytest.mark.django_db
@hsettings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sc=care_scenarios())
def test_allocations_sum_to_the_line_and_ignore_event_order(s, sc):
    orgs = [s.practice, s.hospital, s.kraam, s.south][: sc.k]
    hundredths = Decimal("0.01")
    with transaction.atomic():  # every example starts from the fixture's state
        insurer, _ = Insurer.objects.get_or_create(uzovi_code="4000", defaults={"name": "Eigenschap"})
        with tenant_scope(s.tenant):
            services.contract_create(
                tenant=s.tenant,
                actor=s.admin,
                insurer=insurer,
                name="Eigenschap",
                valid_from=dt.date(2025, 1, 1),
                tariffs={
                    phase: (f"IGB{phase[:3].upper()}", cents_ * hundredths)
                    for phase, cents_ in zip(("prenatal", "natal", "postnatal"), sc.tariffs, strict=True)
                },
            )
            services.split_rule_create(
                tenant=s.tenant,
                actor=s.admin,
                year=2026,
                overhead_pct=sc.overhead * hundredths,
                reserve_pct=sc.reserve * hundredths,
                phases={
                    "prenatal": {"method": "care"},
                    "natal": {
                        "method": "fixed",
                        "shares": {o.pk: v * hundredths for o, v in zip(orgs, sc.fixed, strict=True)},
                    },
                    "postnatal": {
                        "method": "care",
                        "minimums": {
                            o.pk: v * hundredths for o, v in zip(orgs, sc.minimums, strict=True) if v
                        },
                    },
                },
                rates={s.types[c].pk: r * hundredths for c, r in sc.rates.items()},
            )
        dates = {
            **pregnancy(dt.date(2026, 1, 5)),
            "labour_started_at": at(2026, 7, 20, 8),
            "placenta_plus_2h_at": at(2026, 7, 20, 14),
            "postnatal_ended_on": dt.date(2026, 8, 31),
        }
        in_order = episode(s, insurer=insurer, **dates)
        shuffled = episode(s, insurer=insurer, **dates)
        for ep, order in ((in_order, range(len(sc.events))), (shuffled, sc.order)):
            for i in order:
                org, code, qty = sc.events[i]
                log(s, ep, code, orgs[org], at(2026, 7, 20), qty * hundredths)
        run(s)
        splits = []
        for ep in (in_order, shuffled):
            lines = current(ep)
            assert sorted(lines) == ["natal", "postnatal", "prenatal"]
            per_phase = {}
            for phase, line in lines.items():
                assert line.amount == sc.tariffs[services.PHASES.index(phase)] * hundredths
                parts = split_of(line)
                if parts:  # a care phase without any weighted care gets a work item instead
                    assert sum(parts.values()) == line.amount
                    assert all(v >= 0 for v in parts.values())
                else:
                    assert WorkItem.unscoped.filter(episode=ep, phase=phase, reason="no_care_basis").exists()
                per_phase[phase] = parts
            splits.append(per_phase)
        assert splits[0] == splits[1]
        transaction.set_rollback(True)
