"""The billing pipeline end to end: worked examples to the cent, refused input, properties of the money
arithmetic, repeat/concurrency/interruption safety, and the Celery tasks on a real worker.

Every expected amount is worked out by hand in a comment next to the assertion. The world is seen from
BILLING_NOW (20 November 2026, `pytest.mark.clock`) and the runs use a fixed `today` before it (TODAY);
where a test needs "the next day", the `clock` fixture moves the clock (time-machine) for the runs and the
rows the test makes alike. The worker tests run at the worker's own clock: their portfolio has ended long
before any date they may run at.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from billing import services
from billing import tasks as billing_tasks
from billing.models import (
    Allocation,
    ClaimLine,
    Contract,
    ContractTariff,
    InternalRate,
    LineStatus,
    PartialRule,
    SplitPhase,
    SplitRule,
    SplitShare,
    WorkItem,
)
from igo.models import AuditEntry, Insurer, Tenant
from igo.money import CENT, split_largest_remainder
from igo.tenancy import tenant_scope
from pregnancies.models import Birth, ClientInsurance, Episode
from pregnancies.services import care_event_void
from tests.factories import (
    InsurerFactory,
)
from tests.scenarios.billing import (
    BILLING_NOW,
    PORTFOLIO_LINES,
    PORTFOLIO_TOTAL,
    TODAY,
    TZ,
    VGZ_TARIFFS,
    ZK_TARIFFS,
    D,
    Setup,
    add_split_rule,
    assert_books_balance,
    at,
    build,
    current,
    episode,
    log,
    new_insurer_on_1_january,
    ordinary,
    portfolio,
    pregnancy,
    run,
    snapshot,
    split_of,
    touch,
    transferred_in_week_30,
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


# === 1. worked examples ===============================================================================


def test_ordinary_trajectory_to_the_cent(s):
    ep = ordinary(s)
    result = run(s)
    assert (result.lines_created, result.lines_allocated, result.work_items) == (3, 3, 0)
    lines = current(ep)
    assert {p: (x.amount, x.prestatie_code, x.service_start, x.service_end) for p, x in lines.items()} == {
        "prenatal": (D("1200.00"), "IGB-PRE", dt.date(2026, 2, 2), dt.date(2026, 8, 14)),
        "natal": (D("900.00"), "IGB-NAT", dt.date(2026, 8, 14), dt.date(2026, 8, 14)),
        "postnatal": (D("1500.00"), "IGB-POST", dt.date(2026, 8, 14), dt.date(2026, 9, 25)),
    }
    # Prenatal 1200.00: overhead 5% 60.00, reserve 2% 24.00, members 1116.00 by points
    # practice 10 x 50 = 500, hospital 1 x 120 = 120: 1116 x 500/620 = 900.00, 1116 x 120/620 = 216.00.
    assert split_of(lines["prenatal"]) == {
        ("overhead", ""): D("60.00"),
        ("reserve", ""): D("24.00"),
        ("member", "Praktijk"): D("900.00"),
        ("member", "Ziekenhuis"): D("216.00"),
    }
    # Natal 900.00: 45.00 + 18.00, members 837.00 fixed 60/40: 502.20 and 334.80.
    assert split_of(lines["natal"]) == {
        ("overhead", ""): D("45.00"),
        ("reserve", ""): D("18.00"),
        ("member", "Praktijk"): D("502.20"),
        ("member", "Ziekenhuis"): D("334.80"),
    }
    # Postnatal 1500.00: 75.00 + 30.00, members 1395.00; by points the practice has 60/1775 = 3.4%,
    # below its 10% minimum: practice 139.50, kraamzorg the rest 1255.50.
    assert split_of(lines["postnatal"]) == {
        ("overhead", ""): D("75.00"),
        ("reserve", ""): D("30.00"),
        ("member", "Praktijk"): D("139.50"),
        ("member", "Kraamzorg"): D("1255.50"),
    }
    assert_books_balance(s.tenant)


TRANSFER_FULL = {  # 1200.00: 60.00 + 24.00, members 1116.00 by points practice 6 x 50 = 300, hospital 120
    # 1116 x 300/420 = 797.142.. -> 797.14 (rest .29 ct), 1116 x 120/420 = 318.857.. -> 318.85 (rest .71 ct);
    # one cent left over goes to the larger remainder: hospital 318.86.
    ("overhead", ""): D("60.00"),
    ("reserve", ""): D("24.00"),
    ("member", "Praktijk"): D("797.14"),
    ("member", "Ziekenhuis"): D("318.86"),
}
TRANSFER_75 = {  # 75% of 1200.00 = 900.00: 45.00 + 18.00, members 837.00
    # 837 x 5/7 = 597.857.. -> 597.85 (rest .71 ct), 837 x 2/7 = 239.142.. -> 239.14 (rest .29 ct);
    # the cent left over goes to the practice: 597.86.
    ("overhead", ""): D("45.00"),
    ("reserve", ""): D("18.00"),
    ("member", "Praktijk"): D("597.86"),
    ("member", "Ziekenhuis"): D("239.14"),
}
T75 = {"end_reason": "transferred_out", "phases": ["prenatal"], "percentage": 75}


@pytest.mark.parametrize(
    ("rules", "amount", "percentage", "expected"),
    [
        pytest.param([], D("1200.00"), D("100.00"), TRANSFER_FULL, id="no-partial-rule"),
        pytest.param([T75], D("900.00"), D("75.00"), TRANSFER_75, id="rule-75pct"),
        # Week 30 is not "before week 30": the rule does not apply.
        pytest.param(
            [{**T75, "before_week": 30}], D("1200.00"), D("100.00"), TRANSFER_FULL, id="before-week-30"
        ),
        pytest.param([{**T75, "before_week": 31}], D("900.00"), D("75.00"), TRANSFER_75, id="before-week-31"),
        pytest.param(
            [{**T75, "end_reason": "moved_away"}], D("1200.00"), D("100.00"), TRANSFER_FULL, id="other-reason"
        ),
        # The most specific matching rule wins over a rule without threshold.
        pytest.param(
            [{**T75, "percentage": 90}, {**T75, "before_week": 32}],
            D("900.00"),
            D("75.00"),
            TRANSFER_75,
            id="most-specific",
        ),
    ],
)
def test_transfer_out_of_the_region_in_week_30(s, rules, amount, percentage, expected):
    menzis = InsurerFactory(uzovi_code="3332", name="Menzis")
    with tenant_scope(s.tenant):
        services.contract_create(
            tenant=s.tenant,
            actor=s.admin,
            insurer=menzis,
            name="Menzis integraal",
            valid_from=dt.date(2025, 1, 1),
            overhead_pct=D("5"),
            reserve_pct=D("2"),
            tariffs=ZK_TARIFFS,
            partial_rules=rules,
        )
    ep = transferred_in_week_30(s, insurer=menzis)
    assert services.gestational_week(ep, ep.end_date) == 30
    run(s)
    assert list(ClaimLine.unscoped.filter(episode=ep).values_list("phase", flat=True)) == ["prenatal"]
    (line,) = current(ep).values()
    assert (line.amount, line.percentage, line.insurer_id) == (amount, percentage, menzis.pk)
    assert (line.service_start, line.service_end) == (dt.date(2026, 2, 2), dt.date(2026, 6, 8))
    assert split_of(line) == expected
    assert not WorkItem.unscoped.filter(episode=ep).exists()


def test_new_insurer_on_1_january_between_prenatal_and_natal_care(s):
    ep = new_insurer_on_1_january(s)
    run(s)
    lines = current(ep)
    assert {
        p: (x.insurer.uzovi_code, x.policy_number, x.contract_id, x.amount, x.service_start, x.service_end)
        for p, x in lines.items()
    } == {
        # Prenatal care started 16 Jun 2025 under ZK: ZK's tariff, ZK's policy number.
        "prenatal": (
            "3311",
            "ZK-1",
            s.zk_contract.pk,
            D("1200.00"),
            dt.date(2025, 6, 16),
            dt.date(2026, 1, 3),
        ),
        # Natal and postnatal care started 3 Jan 2026 under VGZ: VGZ's tariffs.
        "natal": ("7095", "VGZ-2", s.vgz_contract.pk, D("1000.00"), dt.date(2026, 1, 3), dt.date(2026, 1, 3)),
        "postnatal": (
            "7095",
            "VGZ-2",
            s.vgz_contract.pk,
            D("1650.00"),
            dt.date(2026, 1, 3),
            dt.date(2026, 2, 13),
        ),
    }
    # Each line is split with its own contract's percentages.
    # Prenatal (ZK 5% + 2%): 60.00 + 24.00, members 1116.00, all care by the practice.
    assert split_of(lines["prenatal"]) == {
        ("overhead", ""): D("60.00"),
        ("reserve", ""): D("24.00"),
        ("member", "Praktijk"): D("1116.00"),
    }
    # Natal (VGZ 4% + 0%): overhead 40.00, no reserve row, members 960.00 fixed 60/40: 576.00 and 384.00.
    assert split_of(lines["natal"]) == {
        ("overhead", ""): D("40.00"),
        ("member", "Praktijk"): D("576.00"),
        ("member", "Ziekenhuis"): D("384.00"),
    }
    # Postnatal (VGZ): overhead 66.00, members 1584.00; practice minimum 10% = 158.40, kraamzorg 1425.60.
    assert split_of(lines["postnatal"]) == {
        ("overhead", ""): D("66.00"),
        ("member", "Praktijk"): D("158.40"),
        ("member", "Kraamzorg"): D("1425.60"),
    }
    assert not WorkItem.unscoped.filter(episode=ep).exists()


def test_twins_are_one_episode_with_one_line_per_phase(s):
    ep = ordinary(s)
    for child, minute in ((1, 10), (2, 24)):
        Birth.unscoped.create(
            tenant=s.tenant,
            episode=ep,
            child_number=child,
            born_at=at(2026, 8, 14, 12, minute),
            place="clinical",
            mode="spontaneous",
            weight_grams=2450,
        )
    run(s)
    rows = list(ClaimLine.unscoped.filter(episode=ep).values_list("phase", "sign", "amount"))
    assert sorted(rows) == [
        ("natal", "debit", D("900.00")),
        ("postnatal", "debit", D("1500.00")),
        ("prenatal", "debit", D("1200.00")),
    ]


def test_contract_version_change_mid_year(s):
    # Episode 1: every phase starts before 1 July (postnatal care ends after it: the start counts).
    ep1 = episode(
        s,
        **pregnancy(dt.date(2026, 1, 5)),
        labour_started_at=at(2026, 6, 10, 8),
        placenta_plus_2h_at=at(2026, 6, 10, 13),
        postnatal_ended_on=dt.date(2026, 7, 22),
    )
    log(s, ep1, "PRE_CHECK", s.practice, at(2026, 1, 12))
    log(s, ep1, "KZ_HOURS", s.kraam, at(2026, 6, 11), "45")
    run(s)
    before = sorted(ClaimLine.unscoped.filter(episode=ep1).values_list("pk", "phase", "amount", "number"))
    assert sorted((p, a) for _, p, a, _ in before) == [
        ("natal", D("900.00")),
        ("postnatal", D("1500.00")),
        ("prenatal", D("1200.00")),
    ]
    with tenant_scope(s.tenant):
        v2 = services.contract_new_version(
            contract=s.zk_contract,
            actor=s.admin,
            valid_from=dt.date(2026, 7, 1),
            tariffs={
                "prenatal": ("IGB-PRE", D("1260.00")),
                "natal": ("IGB-NAT", D("945.00")),
                "postnatal": ("IGB-POST", D("1575.00")),
            },
        )
    s.zk_contract.refresh_from_db()
    assert s.zk_contract.valid_until == dt.date(2026, 6, 30)
    # Episode 2: prenatal care from 2 Feb (old tariff), labour 15 Jul (new tariffs).
    ep2 = episode(
        s,
        **pregnancy(dt.date(2026, 2, 2)),
        labour_started_at=at(2026, 7, 15, 8),
        placenta_plus_2h_at=at(2026, 7, 15, 13),
        postnatal_ended_on=dt.date(2026, 8, 26),
    )
    # Episode 3: labour 30 Jun 23:00, placenta+2h 1 Jul 01:00 local time (30 Jun 23:00 UTC): natal care
    # starts under the old version, postnatal care under the new one.
    ep3 = episode(
        s,
        **pregnancy(dt.date(2026, 1, 12)),
        labour_started_at=at(2026, 6, 30, 23),
        placenta_plus_2h_at=at(2026, 7, 1, 1),
        postnatal_ended_on=dt.date(2026, 8, 12),
    )
    for ep in (ep2, ep3):
        log(s, ep, "PRE_CHECK", s.practice, at(2026, 2, 16))
        log(s, ep, "KZ_HOURS", s.kraam, at(2026, 7, 16), "45")
    touch(ep1)  # ep1 is recomputed under the new version set: nothing may change
    run(s)
    assert (
        sorted(ClaimLine.unscoped.filter(episode=ep1).values_list("pk", "phase", "amount", "number"))
        == before
    )
    assert {p: x.contract_id for p, x in current(ep1).items()} == dict.fromkeys(
        ("prenatal", "natal", "postnatal"), s.zk_contract.pk
    )
    assert {p: (x.contract_id, x.amount) for p, x in current(ep2).items()} == {
        "prenatal": (s.zk_contract.pk, D("1200.00")),
        "natal": (v2.pk, D("945.00")),
        "postnatal": (v2.pk, D("1575.00")),
    }
    assert {p: (x.contract_id, x.amount) for p, x in current(ep3).items()} == {
        "prenatal": (s.zk_contract.pk, D("1200.00")),
        "natal": (s.zk_contract.pk, D("900.00")),
        "postnatal": (v2.pk, D("1575.00")),
    }
    # Postnatal 1575.00 under v2 (percentages carried over, 5% + 2%): 78.75 + 31.50, members 1464.75;
    # the practice logged no postnatal care but has its 10% minimum: 146.475 -> 146.47, kraamzorg 90%
    # 1318.275 -> 1318.27; the cent left over ties on remainder (.5) and goes to the earlier organisation
    # (the practice, lower id): 146.48 + 1318.27.
    assert split_of(current(ep2)["postnatal"]) == {
        ("overhead", ""): D("78.75"),
        ("reserve", ""): D("31.50"),
        ("member", "Praktijk"): D("146.48"),
        ("member", "Kraamzorg"): D("1318.27"),
    }
    # An edit that would move an existing line to another version is refused; nothing changes.
    lines_before = snapshot(s.tenant)
    contracts_before = Contract.unscoped.count()
    with tenant_scope(s.tenant), pytest.raises(ValidationError) as exc:
        services.contract_new_version(
            contract=v2,
            actor=s.admin,
            valid_from=dt.date(2026, 7, 10),
            tariffs={"prenatal": ("IGB-PRE", D("1300.00"))},
        )
    assert set(exc.value.message_dict) == {"valid_until"}
    v2.refresh_from_db()
    assert v2.valid_until is None and Contract.unscoped.count() == contracts_before
    assert snapshot(s.tenant) == lines_before


def test_phase_not_covered_by_the_contract_is_a_work_item(s):
    cz = InsurerFactory(uzovi_code="9664", name="CZ")
    with tenant_scope(s.tenant):
        services.contract_create(
            tenant=s.tenant,
            actor=s.admin,
            insurer=cz,
            name="CZ zonder kraamperiode",
            valid_from=dt.date(2025, 1, 1),
            tariffs={k: v for k, v in VGZ_TARIFFS.items() if k != "postnatal"},
        )
    ep = ordinary(s)
    ClientInsurance.unscoped.filter(client=ep.client).update(insurer=cz)
    run(s)
    assert {p: (x.insurer_id, x.amount) for p, x in current(ep).items()} == {
        "prenatal": (cz.pk, D("1300.00")),
        "natal": (cz.pk, D("1000.00")),
    }
    (item,) = WorkItem.unscoped.filter(episode=ep)
    assert (item.phase, item.reason, item.resolved_at) == ("postnatal", "not_covered", None)
    assert "CZ zonder kraamperiode" in item.message
    touch(ep)
    run(s)
    assert WorkItem.unscoped.filter(episode=ep).count() == 1
    assert not ClaimLine.unscoped.filter(episode=ep, phase="postnatal").exists()


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
    changed since the last check, and otherwise does not read the care at all (the daily re-check of every
    active and recently ended episode stays cheap)."""
    from django.test.utils import CaptureQueriesContext

    ep = ordinary(s)
    log(s, ep, "PRE_CHECK", s.practice, at(2026, 2, 9))
    day = clock.moment.date()
    run_at(s, clock, day)
    natal = current(ep)["natal"]
    assert split_of(natal)[("member", "Praktijk")] == split_of(natal)[("member", "Ziekenhuis")] * 3 / 2
    # The next day nothing changed: the episode is rolled up (a phase may end by time), its care not read.
    with CaptureQueriesContext(connection) as queries:
        result = run_at(s, clock, day + dt.timedelta(days=1))
    assert result.episodes == 1 and result.lines_replaced == 0
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


def test_voiding_an_event_after_sending_resplits_without_touching_the_claim(s):
    """The amount claimed from the insurer does not depend on who delivered the care, so a late change in
    the logged care re-splits internally: the sent line stays as it is (no credit and identical rebill,
    which an insurer would reject in one file), its old allocations are kept as history."""
    ep = episode(s, **pregnancy(dt.date(2026, 2, 2)), labour_started_at=at(2026, 8, 14, 8))
    log(s, ep, "PRE_CHECK", s.practice, at(2026, 2, 9))
    log(s, ep, "PRE_CHECK", s.practice, at(2026, 3, 9))
    echo = log(s, ep, "ECHO_SEO", s.hospital, at(2026, 4, 20))
    run(s)
    (original,) = current(ep).values()
    # 1200.00: 60.00 + 24.00, members 1116.00 by points practice 100 : hospital 120
    # 1116 x 100/220 = 507.2727 -> 507.27, 1116 x 120/220 = 608.7272 -> 608.72 + the left-over cent.
    first_split = {
        ("overhead", ""): D("60.00"),
        ("reserve", ""): D("24.00"),
        ("member", "Praktijk"): D("507.27"),
        ("member", "Ziekenhuis"): D("608.73"),
    }
    assert split_of(original) == first_split
    with tenant_scope(s.tenant):
        assert services.claim_lines_mark_sent(lines=[original]) == 1
        assert services.claim_lines_mark_sent(lines=[original]) == 0  # only ready lines
    original.refresh_from_db()
    frozen = (original.amount, original.status, original.number, original.sent_at, original.service_end)
    with tenant_scope(s.tenant):
        care_event_void(event=echo, actor=s.midwife, reason="logged for the wrong client")
    result = run(s)
    assert result.lines_replaced == 1
    rows = list(ClaimLine.unscoped.filter(episode=ep).order_by("pk"))
    assert [(x.pk, x.sign, x.status, x.is_current) for x in rows] == [
        (original.pk, "debit", LineStatus.SENT, True)
    ]
    original.refresh_from_db()
    assert (
        original.amount,
        original.status,
        original.number,
        original.sent_at,
        original.service_end,
    ) == frozen
    new_split = {  # without the echo all care is the practice's: 1116.00
        ("overhead", ""): D("60.00"),
        ("reserve", ""): D("24.00"),
        ("member", "Praktijk"): D("1116.00"),
    }
    assert split_of(original) == new_split
    assert split_of(original, current_only=False) == first_split  # the earlier split is kept as history
    assert_books_balance(s.tenant)


# === 2. bad input is refused, on the right key, and nothing is stored ==================================


def _counts() -> tuple[int, ...]:
    return (
        Contract.unscoped.count(),
        ContractTariff.unscoped.count(),
        PartialRule.unscoped.count(),
        SplitRule.unscoped.count(),
        SplitPhase.unscoped.count(),
        SplitShare.unscoped.count(),
        InternalRate.unscoped.count(),
        AuditEntry.objects.count(),
    )


def _contract(s: Setup, **overrides: Any) -> Contract:
    args: dict[str, Any] = {
        "tenant": s.tenant,
        "actor": s.admin,
        "insurer": InsurerFactory(uzovi_code="3343", name="ONVZ"),
        "name": "ONVZ integraal",
        "valid_from": dt.date(2026, 1, 1),
        "tariffs": dict(ZK_TARIFFS),
    }
    args.update(overrides)
    with tenant_scope(s.tenant):
        return services.contract_create(**args)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        # ZK already has an open-ended contract from 1 Jan 2025.
        pytest.param({"insurer": "zk", "valid_from": dt.date(2026, 3, 1)}, "valid_from", id="overlap-open"),
        pytest.param(
            {"insurer": "zk", "valid_from": dt.date(2024, 6, 1), "valid_until": dt.date(2025, 1, 1)},
            "valid_from",
            id="overlap-one-day",
        ),
        pytest.param(
            {"tariffs": {**ZK_TARIFFS, "natal": ("IGB-NAT", D("-0.01"))}}, "amount_natal", id="negative"
        ),
        pytest.param(
            {"tariffs": {**ZK_TARIFFS, "prenatal": ("IGB-PRE", D("1200.005"))}},
            "amount_prenatal",
            id="three-decimals",
        ),
        pytest.param({"overhead_pct": D("60"), "reserve_pct": D("40.01")}, "reserve_pct", id="over-100pct"),
        pytest.param(
            {"partial_rules": [{"end_reason": "emigrated", "phases": ["prenatal"]}]},
            "partial_rules",
            id="unknown-reason-after-the-rows-were-written",
        ),
    ],
)
def test_bad_contract_is_refused_and_nothing_is_stored(s, overrides, key):
    if overrides.get("insurer") == "zk":
        overrides = {**overrides, "insurer": s.zk}
    InsurerFactory(uzovi_code="3343", name="ONVZ")
    before = _counts()
    with pytest.raises(ValidationError) as exc:
        _contract(s, **overrides)
    assert set(exc.value.message_dict) == {key}
    assert _counts() == before


def test_contract_periods_that_do_not_overlap_are_accepted(s):
    """The control for the overlap cases: the day after an ended version, and another insurer."""
    with tenant_scope(s.tenant):
        services.contract_end(contract=s.zk_contract, actor=s.admin, valid_until=dt.date(2025, 12, 31))
    _contract(s, insurer=s.zk, valid_from=dt.date(2026, 1, 1))
    _contract(s, valid_from=dt.date(2025, 1, 1))
    assert Contract.unscoped.filter(tenant=s.tenant).count() == 4


@pytest.mark.parametrize(
    ("phases", "key"),
    [
        pytest.param({"natal": {"method": "fixed", "shares": {"p": 60, "h": 30}}}, "natal", id="sum-90"),
        pytest.param(
            {"natal": {"method": "fixed", "shares": {"p": D("60.01"), "h": 40}}}, "natal", id="sum-100.01"
        ),
        pytest.param(
            {"postnatal": {"method": "care", "minimums": {"p": 70, "h": 31}}}, "postnatal", id="min-101"
        ),
    ],
)
def test_bad_split_rule_is_refused_and_nothing_is_stored(s, phases, key):
    ids = {"p": s.practice.pk, "h": s.hospital.pk}
    spec = {
        phase: {
            k: ({ids[o]: v for o, v in val.items()} if isinstance(val, dict) else val) for k, val in p.items()
        }
        for phase, p in phases.items()
    }
    before = _counts()
    with tenant_scope(s.tenant), pytest.raises(ValidationError) as exc:
        services.split_rule_create(
            tenant=s.tenant,
            actor=s.admin,
            year=2026,
            phases={"prenatal": {"method": "care"}, **spec},
            rates={s.types["PRE_CHECK"].pk: D("50")},
        )
    assert set(exc.value.message_dict) == {key}
    assert _counts() == before


# === 3. properties =====================================================================================

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
        rates={code: draw(st.integers(0, 50000)) for code in CODES},
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
                overhead_pct=sc.overhead * hundredths,
                reserve_pct=sc.reserve * hundredths,
                tariffs={
                    phase: (f"IGB-{phase[:3].upper()}", cents_ * hundredths)
                    for phase, cents_ in zip(("prenatal", "natal", "postnatal"), sc.tariffs, strict=True)
                },
            )
            services.split_rule_create(
                tenant=s.tenant,
                actor=s.admin,
                year=2026,
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


# === 4. reliability ====================================================================================


def test_running_twice_gives_identical_lines_and_allocations(s):
    episodes = portfolio(s)
    first = run(s)
    assert (first.episodes, first.lines_created) == (5, PORTFOLIO_LINES)
    lines, allocations = snapshot(s.tenant)
    assert sum(x[4] for x in lines) == PORTFOLIO_TOTAL
    touch(*episodes)  # force a full recompute, not just an empty second run
    second = run(s)
    assert (second.episodes, second.lines_created, second.lines_replaced, second.lines_allocated) == (
        5,
        0,
        0,
        0,
    )
    assert snapshot(s.tenant) == (lines, allocations)
    assert {(e, p, sg, a) for _, e, p, sg, a, *_ in lines} == {
        (line.episode_id, line.phase, line.sign, line.amount) for line in ClaimLine.unscoped.all()
    }
    assert_books_balance(s.tenant)


def _totals(tenant: Tenant) -> tuple[Counter[tuple[Any, ...]], dict[tuple[str, str], Decimal]]:
    lines = Counter(
        ClaimLine.unscoped.filter(tenant=tenant).values_list(
            "phase", "sign", "amount", "status", "is_current"
        )
    )
    by_org = {
        (row["kind"], row["organisation__name"] or ""): row["total"]
        for row in Allocation.unscoped.filter(tenant=tenant)
        .values("kind", "organisation__name")
        .annotate(total=Sum("amount"))
    }
    return lines, by_org


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_the_same_time_on_postgresql(world_a, world_b, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent row locking (select_for_update skip_locked) needs PostgreSQL")
    concurrent, reference = build(world_a), build(world_b)
    copies = 4
    for _ in range(copies):
        portfolio(concurrent)
        portfolio(reference)
    run(reference)  # the single run to compare with
    monkeypatch.setattr(services.run, "BATCH_SIZE", 3)  # many small batches, so the two runs interleave
    barrier = threading.Barrier(2)
    results: list[services.RunResult] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with tenant_scope(concurrent.tenant):
                barrier.wait(timeout=30)
                results.append(services.billing_run(tenant=concurrent.tenant, today=TODAY))
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(results) == 2 and sum(r.lines_created for r in results) == copies * PORTFOLIO_LINES
    assert sum(r.episodes for r in results) >= copies * 5  # every episode checked (at least) once
    assert_books_balance(concurrent.tenant)
    assert ClaimLine.unscoped.filter(tenant=concurrent.tenant).count() == copies * PORTFOLIO_LINES
    assert (
        ClaimLine.unscoped.filter(tenant=concurrent.tenant).aggregate(t=Sum("amount"))["t"]
        == copies * PORTFOLIO_TOTAL
    )
    assert _totals(concurrent.tenant) == _totals(reference.tenant)
    assert not WorkItem.unscoped.filter(tenant=concurrent.tenant).exists()


def test_a_run_interrupted_in_the_middle_is_completed_by_the_next_run(s, monkeypatch):
    episodes = portfolio(s)
    monkeypatch.setattr(services.run, "BATCH_SIZE", 2)
    real_split = services.split_lines
    calls = {"n": 0}

    def failing_split(**kwargs: Any) -> services.SplitResult:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker lost in the second batch")
        return real_split(**kwargs)

    monkeypatch.setattr(services.run, "split_lines", failing_split)
    with pytest.raises(RuntimeError, match="second batch"):
        run(s)
    # The first batch (the two lowest episode ids) is committed, the second rolled back entirely.
    billed = set(ClaimLine.unscoped.values_list("episode_id", flat=True))
    assert billed == {episodes[0].pk, episodes[1].pk}
    assert_books_balance(s.tenant)
    monkeypatch.setattr(services.run, "split_lines", real_split)
    result = run(s)
    assert result.episodes == 3  # the three not yet checked
    assert_books_balance(s.tenant)
    ended = {
        (e.pk, p)
        for e in episodes
        for p in services.PHASES
        if p in {b.phase for b in services.ended_phases(e) if b.end <= TODAY}
    }
    current_debits = list(
        ClaimLine.unscoped.filter(is_current=True, sign="debit").values_list("episode_id", "phase")
    )
    assert sorted(current_debits) == sorted(ended) and len(ended) == PORTFOLIO_LINES
    assert ClaimLine.unscoped.count() == PORTFOLIO_LINES  # nothing withdrawn, credited or duplicated
    assert Allocation.unscoped.aggregate(t=Sum("amount"))["t"] == PORTFOLIO_TOTAL
    assert not ClaimLine.unscoped.filter(allocations__isnull=True).exists()


def test_a_sent_line_is_never_changed_by_a_correction(s):
    ep = ordinary(s)
    run(s)
    with tenant_scope(s.tenant):
        assert services.claim_lines_mark_sent(lines=list(current(ep).values())) == 3
    fields = [
        "pk",
        "number",
        "sign",
        "amount",
        "status",
        "sent_at",
        "service_start",
        "service_end",
        "tariff_id",
    ]
    sent = {x["phase"]: x for x in ClaimLine.unscoped.filter(episode=ep).values("phase", *fields)}
    sent_split = {p: split_of(x) for p, x in current(ep).items()}
    # The start of labour is corrected to the evening before: prenatal ends and natal starts 13 Aug.
    Episode.unscoped.filter(pk=ep.pk).update(labour_started_at=at(2026, 8, 13, 22), changed_at=timezone.now())
    result = run(s)
    assert result.lines_replaced == 2
    for phase, before in sent.items():
        row = ClaimLine.unscoped.values("phase", *fields).get(pk=before["pk"])
        assert row == before  # amount, status, number, dates: unchanged
        assert split_of(ClaimLine.unscoped.get(pk=before["pk"])) == sent_split[phase]
    credits = ClaimLine.unscoped.filter(episode=ep, sign="credit")
    assert sorted(credits.values_list("phase", "amount", "corrects__status")) == [
        ("natal", D("-900.00"), LineStatus.SENT),
        ("prenatal", D("-1200.00"), LineStatus.SENT),
    ]
    now = current(ep)
    assert {p: (x.amount, x.service_start, x.service_end) for p, x in now.items()} == {
        "prenatal": (D("1200.00"), dt.date(2026, 2, 2), dt.date(2026, 8, 13)),
        "natal": (D("900.00"), dt.date(2026, 8, 13), dt.date(2026, 8, 14)),
        "postnatal": (D("1500.00"), dt.date(2026, 8, 14), dt.date(2026, 9, 25)),
    }
    assert now["postnatal"].pk == sent["postnatal"]["pk"]  # not touched at all
    # Net claimed per phase is still one tariff: 1200 - 1200 + 1200, 900 - 900 + 900, 1500.
    net = dict(
        ClaimLine.unscoped.filter(episode=ep)
        .values_list("phase")
        .annotate(t=Sum("amount"))
        .values_list("phase", "t")
    )
    assert net == {"prenatal": D("1200.00"), "natal": D("900.00"), "postnatal": D("1500.00")}
    assert_books_balance(s.tenant)


# === 5. the Celery tasks on a real worker ==============================================================


def _wait_until_runs_finished(tenant_ids: list[int], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [cache.get(billing_tasks.progress_key(t)) for t in tenant_ids]
        if all(st_ is not None and not st_["running"] for st_ in states):
            return
        time.sleep(0.2)
    pytest.fail(f"billing runs still going after {timeout} s")


@pytest.mark.real_worker
@pytest.mark.dated  # the worker bills at its own clock, moved in the dated passes
@pytest.mark.django_db(transaction=True)
def test_worker_billing_run_creates_the_lines(s, needs_worker):
    portfolio(s)
    portfolio(s)
    result = billing_tasks.billing_run.delay(s.tenant.pk).get(timeout=60)
    assert (result["episodes"], result["lines_created"], result["lines_allocated"]) == (10, 16, 16)
    assert ClaimLine.unscoped.filter(tenant=s.tenant).aggregate(t=Sum("amount"))["t"] == 2 * PORTFOLIO_TOTAL
    assert_books_balance(s.tenant)
    assert cache.get(billing_tasks.progress_key(s.tenant.pk))["running"] is False


@pytest.mark.real_worker
@pytest.mark.dated  # the worker bills at its own clock, moved in the dated passes
@pytest.mark.django_db(transaction=True)
def test_worker_two_runs_at_once_give_no_duplicates(s, needs_worker):
    for _ in range(3):
        portfolio(s)
    first = billing_tasks.billing_run.delay(s.tenant.pk)
    second = billing_tasks.billing_run.delay(s.tenant.pk)
    results = [first.get(timeout=60), second.get(timeout=60)]
    assert sum(r["lines_created"] for r in results) == 3 * PORTFOLIO_LINES
    assert ClaimLine.unscoped.filter(tenant=s.tenant).count() == 3 * PORTFOLIO_LINES
    assert ClaimLine.unscoped.filter(tenant=s.tenant).aggregate(t=Sum("amount"))["t"] == 3 * PORTFOLIO_TOTAL
    assert_books_balance(s.tenant)


@pytest.mark.real_worker
@pytest.mark.dated  # the worker bills at its own clock, moved in the dated passes
@pytest.mark.django_db(transaction=True)
def test_worker_sweep_starts_a_run_per_active_tenant(s, world_b, needs_worker):
    Tenant.objects.filter(pk=world_b.tenant.pk).update(is_active=False)
    portfolio(s)
    active = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    assert s.tenant.pk in active and world_b.tenant.pk not in active
    for pk in active:
        cache.delete(billing_tasks.progress_key(pk))
    assert billing_tasks.billing_sweep.delay().get(timeout=60) == len(active)
    _wait_until_runs_finished(active)  # the runs it started, before the test database is emptied
    assert ClaimLine.unscoped.filter(tenant=s.tenant).count() == PORTFOLIO_LINES
    assert cache.get(billing_tasks.progress_key(world_b.tenant.pk)) is None
    assert_books_balance(s.tenant)
