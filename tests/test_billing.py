"""The billing pipeline: worked examples to the cent, corrections, repeat safety."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from billing import services
from billing.models import Allocation, ClaimLine, LineStatus, WorkItem
from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies.catalogue import catalogue_seed
from pregnancies.models import ClientInsurance, EventType
from tests.factories import (
    CareEventFactory,
    EpisodeFactory,
    InsurerFactory,
    MemberOrganisationFactory,
    ProfessionalFactory,
)
from tests.scenarios.billing import BILLING_NOW

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BILLING_NOW)]

TZ = timezone.get_default_timezone()


def at(y: int, m: int, d: int, h: int = 12) -> dt.datetime:
    return dt.datetime(y, m, d, h, tzinfo=TZ)


@pytest.fixture
def setup(world_a):
    tenant = world_a.tenant
    admin = world_a.user(Role.IGO_ADMIN)
    catalogue_seed(tenant=tenant)
    zk = InsurerFactory(uzovi_code="3311", name="Zilveren Kruis")
    practice = MemberOrganisationFactory(tenant=tenant, name="Praktijk", kind="midwifery_practice")
    hospital = MemberOrganisationFactory(tenant=tenant, name="Ziekenhuis", kind="hospital")
    kraam = MemberOrganisationFactory(tenant=tenant, name="Kraamzorg", kind="kraamzorg")
    with tenant_scope(tenant):
        services.contract_create(
            tenant=tenant,
            actor=admin,
            insurer=zk,
            name="ZK 2026",
            valid_from=dt.date(2026, 1, 1),
            overhead_pct=Decimal("5"),
            reserve_pct=Decimal("2"),
            tariffs={
                "prenatal": ("IGB-PRE", Decimal("1200.00")),
                "natal": ("IGB-NAT", Decimal("900.00")),
                "postnatal": ("IGB-POST", Decimal("1500.00")),
            },
            partial_rules=[
                {"end_reason": "miscarriage", "before_week": 16, "phases": ["prenatal"], "percentage": 50}
            ],
        )
        types = {t.code: t for t in EventType.objects.all()}
        services.split_rule_create(
            tenant=tenant,
            actor=admin,
            year=2026,
            phases={
                "prenatal": {"method": "care"},
                "natal": {"method": "fixed", "shares": {practice.pk: 60, hospital.pk: 40}},
                "postnatal": {"method": "care", "minimums": {practice.pk: 10}},
            },
            rates={
                types["PRE_CHECK"].pk: Decimal("50"),
                types["ECHO_SEO"].pk: Decimal("120"),
                types["KZ_HOURS"].pk: Decimal("35"),
                types["POST_VISIT"].pk: Decimal("60"),
            },
        )
    return {
        "tenant": tenant,
        "admin": admin,
        "zk": zk,
        "practice": practice,
        "hospital": hospital,
        "kraam": kraam,
        "types": types,
    }


def run(tenant, today=dt.date(2026, 11, 1)):  # type: ignore[no-untyped-def]
    with tenant_scope(tenant):
        return services.billing_run(tenant=tenant, today=today)


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
    result = run(tenant)
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
    again = run(tenant)
    assert again.lines_created == 0 and ClaimLine.unscoped.filter(episode=ep).count() == 3


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
    run(tenant)
    (line,) = ClaimLine.unscoped.filter(episode=ep)
    assert (line.phase, line.amount, line.percentage) == ("prenatal", Decimal("600.00"), Decimal("50.00"))
    members = Allocation.unscoped.filter(claim_line=line, kind="member")
    assert [(a.organisation_id, a.amount) for a in members] == [(s["practice"].pk, Decimal("558.00"))]


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
    run(tenant)
    assert not ClaimLine.unscoped.filter(episode=ep).exists()
    item = WorkItem.unscoped.get(episode=ep)
    assert (item.phase, item.reason) == ("prenatal", "no_contract")
    run(tenant)
    assert WorkItem.unscoped.filter(episode=ep).count() == 1


def test_late_care_after_sending_resplits_and_a_claim_change_is_credit_and_rebill(setup):
    s = setup
    tenant = s["tenant"]
    ep = EpisodeFactory(
        tenant=tenant,
        intake_date=dt.date(2026, 2, 1),
        due_date=dt.date(2026, 9, 1),
        gestational_age_at_intake=70,
        labour_started_at=at(2026, 8, 30, 8),
    )
    insurance = ClientInsurance.unscoped.create(
        tenant=tenant, client=ep.client, insurer=s["zk"], policy_number="5", valid_from=dt.date(2026, 1, 1)
    )
    mw = ProfessionalFactory(tenant=tenant, organisation=s["practice"])
    other = ProfessionalFactory(tenant=tenant, organisation=s["hospital"], discipline="gynaecologist")
    CareEventFactory(
        tenant=tenant,
        episode=ep,
        event_type=s["types"]["PRE_CHECK"],
        professional=mw,
        occurred_at=at(2026, 3, 1),
    )
    run(tenant)
    (line,) = ClaimLine.unscoped.filter(episode=ep)
    with tenant_scope(tenant):
        services.claim_lines_mark_sent(lines=[line])
    # The hospital's echo is logged late: the split changes, the claim to the insurer does not.
    CareEventFactory(
        tenant=tenant,
        episode=ep,
        event_type=s["types"]["ECHO_SEO"],
        professional=other,
        occurred_at=at(2026, 6, 1),
    )
    ep.__class__.unscoped.filter(pk=ep.pk).update(changed_at=timezone.now())
    run(tenant)
    assert list(ClaimLine.unscoped.filter(episode=ep).values_list("pk", "status", "is_current")) == [
        (line.pk, LineStatus.SENT, True)
    ]
    current = {
        a.organisation_id: a.amount for a in Allocation.unscoped.filter(claim_line=line, is_current=True)
    }
    # members' 1116.00 split 50 : 120 points
    assert current[s["practice"].pk] == Decimal("328.24") and current[s["hospital"].pk] == Decimal("787.76")
    assert Allocation.unscoped.filter(
        claim_line=line, is_current=False, kind="member"
    ).get().amount == Decimal("1116.00")  # the first split is kept
    # The insured number was wrong: the sent line is credited and a corrected line is billed.
    ClientInsurance.unscoped.filter(pk=insurance.pk).update(policy_number="55")
    ep.__class__.unscoped.filter(pk=ep.pk).update(changed_at=timezone.now())
    run(tenant)
    lines = list(ClaimLine.unscoped.filter(episode=ep).order_by("pk"))
    assert [(x.sign, x.amount, x.is_current, x.status, x.policy_number) for x in lines] == [
        ("debit", Decimal("1200.00"), False, LineStatus.SENT, "5"),
        ("credit", Decimal("-1200.00"), False, LineStatus.READY, "5"),
        ("debit", Decimal("1200.00"), True, LineStatus.READY, "55"),
    ]
    assert lines[1].corrects_id == lines[0].pk
    net = (
        Allocation.unscoped.filter(claim_line__episode=ep, is_current=True)
        .values("organisation_id")
        .annotate(t=Sum("amount"))
    )
    by_org = {row["organisation_id"]: row["t"] for row in net}
    assert by_org[s["practice"].pk] == Decimal("328.24") and by_org[s["hospital"].pk] == Decimal("787.76")
    assert sum(by_org.values()) == Decimal("1200.00")
