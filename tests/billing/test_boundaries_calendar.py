"""Billing at the boundaries of the calendar (issue 12): the nights the clocks go forward in March and back
in October bill each phase once with local dates, contract and split rule versions start at local
midnight, and a client with a new insurer on 1 January is claimed from the insurer of the year each
phase ends in.

How the runs are driven, how moments compare, and the splits worked out once (PRE_ZK ...):
tests.scenarios.sweeps.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from billing import services
from billing.models import Allocation
from igo.dates import month_start
from igo.tenancy import tenant_scope
from pregnancies.models import CareEvent
from pregnancies.services import care_event_log, care_event_void
from tests.scenarios.billing import current, episode, log, pregnancy, split_of, touch
from tests.scenarios.clock import local, travel
from tests.scenarios.sweeps import (
    MINUTE,
    NATAL_VGZ,
    NATAL_ZK,
    POST_VGZ,
    POST_ZK,
    PRE_ZK,
    UTC,
    VGZ,
    ZK,
    batch_periods,
    batches_at,
    books_ok,
    enter_key_dates,
    first_sweep,
    insured,
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
                "prenatal": ("IGBPRE", D("1250.00")),
                "natal": ("IGBNAT", D("950.00")),
                "postnatal": ("IGBPOS", D("1600.00")),
            },
        )
        services.split_rule_create(
            tenant=s.tenant,
            actor=s.admin,
            year=switch.year,
            valid_from=switch,
            overhead_pct=D("5"),
            reserve_pct=D("2"),
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
