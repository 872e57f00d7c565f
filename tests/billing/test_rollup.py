"""The roll-up of care into claim lines, worked out to the cent: one line per phase at the tariff of the
insurer and contract version of the day the phase ended, partial trajectories, twins, a phase the contract
does not cover (a work item, nothing guessed).

Every expected amount is worked out by hand in a comment next to the assertion. The world is seen from
BILLING_NOW (20 November 2026, `pytest.mark.clock`) and the runs use a fixed `today` before it (TODAY).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum

from billing import services
from billing.models import Allocation, ClaimLine, Contract, WorkItem
from igo.tenancy import tenant_scope
from pregnancies.models import Birth, ClientInsurance
from tests.factories import CareEventFactory, EpisodeFactory, InsurerFactory, ProfessionalFactory
from tests.scenarios.billing import (
    BILLING_NOW,
    VGZ_TARIFFS,
    ZK_TARIFFS,
    D,
    assert_books_balance,
    at,
    current,
    episode,
    log,
    new_insurer_on_1_january,
    ordinary,
    pregnancy,
    run,
    run_for,
    snapshot,
    split_of,
    touch,
    transferred_in_week_30,
)

pytestmark = pytest.mark.clock(BILLING_NOW)


def test_ordinary_trajectory_to_the_cent(s):
    ep = ordinary(s)
    result = run(s)
    assert (result.lines_created, result.lines_allocated, result.work_items) == (3, 3, 0)
    lines = current(ep)
    assert {p: (x.amount, x.prestatie_code, x.service_start, x.service_end) for p, x in lines.items()} == {
        "prenatal": (D("1200.00"), "IGBPRE", dt.date(2026, 2, 2), dt.date(2026, 8, 14)),
        "natal": (D("900.00"), "IGBNAT", dt.date(2026, 8, 14), dt.date(2026, 8, 14)),
        "postnatal": (D("1500.00"), "IGBPOS", dt.date(2026, 8, 14), dt.date(2026, 9, 25)),
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
T75 = {"end_reason": "transferred_out", "phase": "prenatal", "percentage": 75}
T100 = {**T75, "percentage": 100}


@pytest.mark.parametrize(
    ("rules", "amount", "percentage", "expected"),
    [
        pytest.param([T100], D("1200.00"), D("100.00"), TRANSFER_FULL, id="rule-100pct"),
        pytest.param([T75], D("900.00"), D("75.00"), TRANSFER_75, id="rule-75pct"),
        # The band [from, until) holds its first week and not its last: week 30 is not in [.., 30).
        pytest.param([{**T75, "until_week": 31}], D("900.00"), D("75.00"), TRANSFER_75, id="until-week-31"),
        pytest.param([{**T75, "from_week": 30}], D("900.00"), D("75.00"), TRANSFER_75, id="from-week-30"),
        # Bands that follow one another: the one holding week 30 counts.
        pytest.param(
            [{**T75, "percentage": 90, "until_week": 30}, {**T75, "from_week": 30}],
            D("900.00"),
            D("75.00"),
            TRANSFER_75,
            id="bands",
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
    assert line.explanation["partial"]["week"] == 30
    assert not WorkItem.unscoped.filter(episode=ep).exists()


@pytest.mark.parametrize(
    "rules",
    [
        pytest.param([], id="no-rule"),
        pytest.param([{**T75, "until_week": 30}], id="until-week-30"),
        pytest.param([{**T75, "end_reason": "moved_away"}], id="other-reason"),
        # A rule for natal care does not bill prenatal care interrupted.
        pytest.param([{**T75, "phase": "natal"}], id="other-phase"),
    ],
)
def test_transfer_in_week_30_without_a_matching_rule_waits_for_finance(s, rules):
    menzis = InsurerFactory(uzovi_code="3332", name="Menzis")
    with tenant_scope(s.tenant):
        services.contract_create(
            tenant=s.tenant,
            actor=s.admin,
            insurer=menzis,
            name="Menzis integraal",
            valid_from=dt.date(2025, 1, 1),
            tariffs=ZK_TARIFFS,
            partial_rules=rules,
        )
    ep = transferred_in_week_30(s, insurer=menzis)
    run(s)
    assert not ClaimLine.unscoped.filter(episode=ep).exists()  # nothing guessed
    (item,) = WorkItem.unscoped.filter(episode=ep)
    assert (item.phase, item.reason, item.resolved_at) == ("prenatal", "no_partial_rule", None)
    assert "week 30" in item.message and "Menzis integraal" in item.message


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
    # Each line is split by the split rule's 5% overhead and 2% reserve, whatever its insurer.
    # Prenatal (ZK): 60.00 + 24.00, members 1116.00, all care by the practice.
    assert split_of(lines["prenatal"]) == {
        ("overhead", ""): D("60.00"),
        ("reserve", ""): D("24.00"),
        ("member", "Praktijk"): D("1116.00"),
    }
    # Natal (VGZ 1000.00): 50.00 + 20.00, members 930.00 fixed 60/40: 558.00 and 372.00.
    assert split_of(lines["natal"]) == {
        ("overhead", ""): D("50.00"),
        ("reserve", ""): D("20.00"),
        ("member", "Praktijk"): D("558.00"),
        ("member", "Ziekenhuis"): D("372.00"),
    }
    # Postnatal (VGZ 1650.00): 82.50 + 33.00, members 1534.50; practice minimum 10% = 153.45, kraamzorg
    # 1381.05.
    assert split_of(lines["postnatal"]) == {
        ("overhead", ""): D("82.50"),
        ("reserve", ""): D("33.00"),
        ("member", "Praktijk"): D("153.45"),
        ("member", "Kraamzorg"): D("1381.05"),
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
                "prenatal": ("IGBPRE", D("1260.00")),
                "natal": ("IGBNAT", D("945.00")),
                "postnatal": ("IGBPOS", D("1575.00")),
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
    # An edit that would move an existing line to another version is refused on the date the user gave (the
    # new version's start, not the old version's derived end); nothing changes.
    lines_before = snapshot(s.tenant)
    contracts_before = Contract.unscoped.count()
    with tenant_scope(s.tenant), pytest.raises(ValidationError) as exc:
        services.contract_new_version(
            contract=v2,
            actor=s.admin,
            valid_from=dt.date(2026, 7, 10),
            tariffs={"prenatal": ("IGBPRE", D("1300.00"))},
        )
    assert set(exc.value.message_dict) == {"valid_from"}
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


@pytest.mark.django_db
def test_full_trajectory_to_the_cent(setup):
    s = setup
    tenant = s["tenant"]
    ep = EpisodeFactory(
        tenant=tenant,
        intake_date=dt.date(2026, 2, 1),
        due_date=dt.date(2026, 9, 1),
        gestational_age_at_intake=70,
        labour_started_at=at(2026, 8, 30, 8),
        placenta_plus_2h_at=at(2026, 8, 30, 16),
        postnatal_ended_on=dt.date(2026, 10, 10),
    )
    ClientInsurance.unscoped.create(
        tenant=tenant, client=ep.client, insurer=s["zk"], policy_number="123", valid_from=dt.date(2025, 1, 1)
    )
    mw = ProfessionalFactory(tenant=tenant, organisation=s["practice"])
    kz = ProfessionalFactory(
        tenant=tenant, organisation=s["kraam"], discipline="maternity_carer", big_number=""
    )
    for i in range(10):
        CareEventFactory(
            tenant=tenant,
            episode=ep,
            event_type=s["types"]["PRE_CHECK"],
            professional=mw,
            occurred_at=at(2026, 3, 1) + dt.timedelta(weeks=i),
        )
    CareEventFactory(
        tenant=tenant,
        episode=ep,
        event_type=s["types"]["KZ_HOURS"],
        professional=kz,
        phase="postnatal",
        occurred_at=at(2026, 8, 31),
        quantity=Decimal("49"),
    )
    CareEventFactory(
        tenant=tenant,
        episode=ep,
        event_type=s["types"]["POST_VISIT"],
        professional=mw,
        phase="postnatal",
        occurred_at=at(2026, 9, 1),
    )
    result = run_for(tenant)
    assert result.lines_created == 3 and result.lines_allocated == 3
    lines = {line.phase: line for line in ClaimLine.unscoped.filter(episode=ep)}
    assert {p: line.amount for p, line in lines.items()} == {
        "prenatal": Decimal("1200.00"),
        "natal": Decimal("900.00"),
        "postnatal": Decimal("1500.00"),
    }
    for line in lines.values():
        assert Allocation.unscoped.filter(claim_line=line).aggregate(t=Sum("amount"))["t"] == line.amount
    post = {
        (a.kind, a.organisation_id): a.amount
        for a in Allocation.unscoped.filter(claim_line=lines["postnatal"])
    }
    # 1500: overhead 5% = 75.00, reserve 2% = 30.00, members 1395.00 split 60 (practice) : 1715 (kraamzorg)
    assert post[("overhead", None)] == Decimal("75.00") and post[("reserve", None)] == Decimal("30.00")
    assert post[("member", s["practice"].pk)] == Decimal(
        "139.50"
    )  # the 10% minimum applies (47.15 by points)
    assert post[("member", s["kraam"].pk)] == Decimal("1255.50")
    natal = {
        (a.kind, a.organisation_id): a.amount for a in Allocation.unscoped.filter(claim_line=lines["natal"])
    }
    assert natal[("member", s["practice"].pk)] == Decimal("502.20")  # 60% of 837.00
    assert natal[("member", s["hospital"].pk)] == Decimal("334.80")
    # Running again changes nothing.
    again = run_for(tenant)
    assert again.lines_created == 0 and ClaimLine.unscoped.filter(episode=ep).count() == 3


@pytest.mark.django_db
def test_miscarriage_at_11_weeks_bills_half_the_prenatal_tariff(setup):
    s = setup
    tenant = s["tenant"]
    ep = EpisodeFactory(
        tenant=tenant,
        intake_date=dt.date(2026, 3, 2),
        due_date=dt.date(2026, 10, 26),
        gestational_age_at_intake=56,
        status="ended",
        end_date=dt.date(2026, 3, 23),
        end_reason="miscarriage",
    )
    ClientInsurance.unscoped.create(
        tenant=tenant, client=ep.client, insurer=s["zk"], policy_number="9", valid_from=dt.date(2026, 1, 1)
    )
    mw = ProfessionalFactory(tenant=tenant, organisation=s["practice"])
    CareEventFactory(
        tenant=tenant,
        episode=ep,
        event_type=s["types"]["PRE_CHECK"],
        professional=mw,
        occurred_at=at(2026, 3, 2),
    )
    run_for(tenant)
    (line,) = ClaimLine.unscoped.filter(episode=ep)
    assert (line.phase, line.amount, line.percentage) == ("prenatal", Decimal("600.00"), Decimal("50.00"))
    members = Allocation.unscoped.filter(claim_line=line, kind="member")
    assert [(a.organisation_id, a.amount) for a in members] == [(s["practice"].pk, Decimal("558.00"))]


@pytest.mark.django_db
def test_no_contract_becomes_a_work_item_and_nothing_is_guessed(setup):
    s = setup
    tenant = s["tenant"]
    other = InsurerFactory(uzovi_code="7095", name="VGZ")
    ep = EpisodeFactory(
        tenant=tenant,
        intake_date=dt.date(2026, 2, 1),
        due_date=dt.date(2026, 9, 1),
        gestational_age_at_intake=70,
        labour_started_at=at(2026, 8, 30, 8),
    )
    ClientInsurance.unscoped.create(
        tenant=tenant, client=ep.client, insurer=other, policy_number="1", valid_from=dt.date(2026, 1, 1)
    )
    run_for(tenant)
    assert not ClaimLine.unscoped.filter(episode=ep).exists()
    item = WorkItem.unscoped.get(episode=ep)
    assert (item.phase, item.reason) == ("prenatal", "no_contract")
    run_for(tenant)
    assert WorkItem.unscoped.filter(episode=ep).count() == 1
