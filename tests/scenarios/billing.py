"""The billing world: one IGO with four members, two insurers with contracts (Zilveren Kruis 1200/900/1500,
VGZ 1300/1000/1650; prenatal care interrupted by a transfer out billed in full), a verdeelmodel (5% overhead,
2% reserve), and a mixed portfolio of episodes from 2026 whose claims are worked out by hand (PORTFOLIO_TOTAL).
Dates are fixed; a test that bills them sets the clock (tests.scenarios.clock)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count
from django.utils import timezone

from billing import services
from billing.models import Allocation, ClaimBatch, ClaimLine, Contract, LineStatus, ReturnSource, SplitRule
from billing.services.batches import batch_create, batch_release
from billing.services.returns import ReturnEntry, batch_return_record
from igo.models import Insurer, Role, Tenant, User
from igo.tenancy import tenant_scope
from pregnancies.catalogue import catalogue_seed
from pregnancies.models import CareEvent, ClientInsurance, Episode, EventType
from tests.factories import (
    CareEventFactory,
    EpisodeFactory,
    InsurerFactory,
    MemberOrganisationFactory,
    ProfessionalFactory,
    UserFactory,
)
from tests.scenarios.clock import local
from tests.scenarios.people import TenantWorld

D = Decimal
TZ = timezone.get_default_timezone()
TODAY = dt.date(2026, 11, 1)  # the run's "today": after every phase below
# The moment a test of this world is seen from (`pytest.mark.clock(BILLING_NOW)`): every phase of the
# portfolio has ended, its lines are made "now" (so they belong to November's batch), no deadline has passed.
BILLING_NOW = local(2026, 11, 20, 10)
ZK_TARIFFS = {
    "prenatal": ("IGBPRE", D("1200.00")),
    "natal": ("IGBNAT", D("900.00")),
    "postnatal": ("IGBPOS", D("1500.00")),
}
VGZ_TARIFFS = {
    "prenatal": ("IGBPRE", D("1300.00")),
    "natal": ("IGBNAT", D("1000.00")),
    "postnatal": ("IGBPOS", D("1650.00")),
}

# Both contracts of the world bill prenatal care interrupted by a transfer out of the region in full (so the
# transfer in week 30 of the portfolio claims its prenatal tariff; without a rule it would wait for finance).
TRANSFER_PRENATAL_IN_FULL = [{"end_reason": "transferred_out", "phase": "prenatal", "percentage": 100}]


def at(y: int, m: int, d: int, h: int = 12, minute: int = 0) -> dt.datetime:
    """A local (Europe/Amsterdam) moment."""
    return local(y, m, d, h, minute)


@dataclass
class Setup:
    tenant: Tenant
    admin: Any
    midwife: Any
    zk: Insurer
    vgz: Insurer
    practice: Any
    hospital: Any
    kraam: Any
    south: Any
    pros: dict[int, Any]
    types: dict[str, EventType]
    zk_contract: Contract
    vgz_contract: Contract
    rule: SplitRule | None = None


def build(world: TenantWorld, *, split_rule: bool = True) -> Setup:
    tenant = world.tenant
    admin = world.user(Role.IGO_ADMIN)
    catalogue_seed(tenant=tenant)
    zk = InsurerFactory(uzovi_code="3311", name="Zilveren Kruis")
    vgz = InsurerFactory(uzovi_code="7095", name="VGZ")
    practice = MemberOrganisationFactory(tenant=tenant, name="Praktijk", kind="midwifery_practice")
    hospital = MemberOrganisationFactory(tenant=tenant, name="Ziekenhuis", kind="hospital")
    kraam = MemberOrganisationFactory(tenant=tenant, name="Kraamzorg", kind="kraamzorg")
    south = MemberOrganisationFactory(tenant=tenant, name="Praktijk Zuid", kind="midwifery_practice")
    pros = {
        practice.pk: ProfessionalFactory(tenant=tenant, organisation=practice),
        hospital.pk: ProfessionalFactory(tenant=tenant, organisation=hospital, discipline="gynaecologist"),
        kraam.pk: ProfessionalFactory(
            tenant=tenant, organisation=kraam, discipline="maternity_carer", big_number=""
        ),
        south.pk: ProfessionalFactory(tenant=tenant, organisation=south),
    }
    with tenant_scope(tenant):
        zk_contract = services.contract_create(
            tenant=tenant,
            actor=admin,
            insurer=zk,
            name="ZK integraal",
            valid_from=dt.date(2025, 1, 1),
            tariffs=ZK_TARIFFS,
            partial_rules=TRANSFER_PRENATAL_IN_FULL,
        )
        vgz_contract = services.contract_create(
            tenant=tenant,
            actor=admin,
            insurer=vgz,
            name="VGZ integraal",
            valid_from=dt.date(2025, 1, 1),
            tariffs=VGZ_TARIFFS,
            partial_rules=TRANSFER_PRENATAL_IN_FULL,
        )
        types = {t.code: t for t in EventType.objects.all()}
    s = Setup(
        tenant=tenant,
        admin=admin,
        midwife=world.user(Role.MIDWIFE),
        zk=zk,
        vgz=vgz,
        practice=practice,
        hospital=hospital,
        kraam=kraam,
        south=south,
        pros=pros,
        types=types,
        zk_contract=zk_contract,
        vgz_contract=vgz_contract,
    )
    if split_rule:
        s.rule = add_split_rule(s, year=2025)
    return s


def add_split_rule(s: Setup, *, year: int, valid_from: dt.date | None = None) -> SplitRule:
    """The worked split rule (`worked_split_rule`) for the portfolio's IGO."""
    return worked_split_rule(
        tenant=s.tenant,
        actor=s.admin,
        practice=s.practice,
        hospital=s.hospital,
        types=s.types,
        year=year,
        valid_from=valid_from,
    )


def worked_split_rule(
    *,
    tenant: Tenant,
    actor: Any,
    practice: Any,
    hospital: Any,
    types: dict[str, EventType],
    year: int,
    valid_from: dt.date | None = None,
) -> SplitRule:
    """5% IGO overhead and 2% risk reserve off every line; prenatal by care delivered; natal fixed 60/40
    practice/hospital; postnatal by care with a 10% minimum for the practice. Internal rates: check 50,
    anomaly scan 120, kraamzorg hour 35, visit 60."""
    with tenant_scope(tenant):
        return services.split_rule_create(
            tenant=tenant,
            actor=actor,
            year=year,
            valid_from=valid_from,
            overhead_pct=D("5"),
            reserve_pct=D("2"),
            phases={
                "prenatal": {"method": "care"},
                "natal": {"method": "fixed", "shares": {practice.pk: 60, hospital.pk: 40}},
                "postnatal": {"method": "care", "minimums": {practice.pk: 10}},
            },
            rates={
                types["PRE_CHECK"].pk: D("50"),
                types["ECHO_SEO"].pk: D("120"),
                types["KZ_HOURS"].pk: D("35"),
                types["POST_VISIT"].pk: D("60"),
            },
        )


@dataclass
class WorkedExample:
    zk: Insurer
    practice: Any
    hospital: Any
    kraam: Any
    types: dict[str, EventType]
    contract: Contract


def worked_example(
    world: TenantWorld, *, actor: Any, names: tuple[str, str, str] = ("Praktijk", "Ziekenhuis", "Kraamzorg")
) -> WorkedExample:
    """The worked example the roll-up, correction and finance tests log their own care into: Zilveren Kruis
    2026 at 1200/900/1500 with half the prenatal tariff after a miscarriage before week 16, and the worked
    2026 split rule (5% overhead, 2% reserve); `names` are the practice, hospital and kraamzorg."""
    tenant = world.tenant
    catalogue_seed(tenant=tenant)
    zk = InsurerFactory(uzovi_code="3311", name="Zilveren Kruis")
    practice = MemberOrganisationFactory(tenant=tenant, name=names[0], kind="midwifery_practice")
    hospital = MemberOrganisationFactory(tenant=tenant, name=names[1], kind="hospital")
    kraam = MemberOrganisationFactory(tenant=tenant, name=names[2], kind="kraamzorg")
    with tenant_scope(tenant):
        contract = services.contract_create(
            tenant=tenant,
            actor=actor,
            insurer=zk,
            name="ZK 2026",
            valid_from=dt.date(2026, 1, 1),
            tariffs=ZK_TARIFFS,
            partial_rules=[
                {"end_reason": "miscarriage", "phase": "prenatal", "until_week": 16, "percentage": 50}
            ],
        )
        types = {t.code: t for t in EventType.objects.all()}
    worked_split_rule(
        tenant=tenant, actor=actor, practice=practice, hospital=hospital, types=types, year=2026
    )
    return WorkedExample(
        zk=zk, practice=practice, hospital=hospital, kraam=kraam, types=types, contract=contract
    )


def pregnancy(intake: dt.date, ga: int = 84) -> dict[str, Any]:
    """Intake date, gestational age at intake (days) and the due date that follows (40 weeks)."""
    return {
        "intake_date": intake,
        "gestational_age_at_intake": ga,
        "due_date": intake + dt.timedelta(days=280 - ga),
    }


def episode(
    s: Setup,
    *,
    insurer: Insurer | None = None,
    policy: str = "POL-1",
    insured_from: dt.date = dt.date(2024, 1, 1),
    **fields: Any,
) -> Episode:
    ep = EpisodeFactory(tenant=s.tenant, **fields)
    ClientInsurance.unscoped.create(
        tenant=s.tenant,
        client=ep.client,
        insurer=insurer or s.zk,
        policy_number=policy,
        valid_from=insured_from,
    )
    return ep


def log(
    s: Setup, ep: Episode, code: str, org: Any, when: dt.datetime, quantity: Decimal | str = "1"
) -> CareEvent:
    et = s.types[code]
    return CareEventFactory(
        tenant=s.tenant,
        episode=ep,
        event_type=et,
        phase=et.phase,
        professional=s.pros[org.pk],
        organisation=org,
        occurred_at=when,
        quantity=D(quantity),
        created_by=s.midwife,
    )


def run(s: Setup, today: dt.date = TODAY) -> services.RunResult:
    return run_for(s.tenant, today)


def run_for(tenant: Tenant, today: dt.date = TODAY) -> services.RunResult:
    """The billing run of a tenant that was not built as a Setup (the `setup` fixture of tests/billing)."""
    with tenant_scope(tenant):
        return services.billing_run(tenant=tenant, today=today)


def touch(*episodes: Episode) -> None:
    """What pregnancies.services.touch_episodes does after a change."""
    Episode.unscoped.filter(pk__in=[e.pk for e in episodes]).update(changed_at=timezone.now())


def current(ep: Episode) -> dict[str, ClaimLine]:
    return {
        line.phase: line
        for line in ClaimLine.unscoped.filter(episode=ep, is_current=True, sign="debit").select_related(
            "insurer", "contract"
        )
    }


def split_of(line: ClaimLine, *, current_only: bool = True) -> dict[tuple[str, str], Decimal]:
    """A line's (current) allocations as {(kind, organisation name or ""): amount}."""
    qs = Allocation.unscoped.filter(claim_line=line).select_related("organisation")
    qs = qs.filter(is_current=current_only)
    return {(a.kind, a.organisation.name if a.organisation_id else ""): a.amount for a in qs}


def assert_books_balance(tenant: Tenant) -> None:
    """One current debit per (episode, phase); every line that is not withdrawn is allocated to the cent
    (or not at all) with parts of its own sign."""
    duplicates = (
        ClaimLine.unscoped.filter(tenant=tenant, is_current=True, sign="debit")
        .values("episode_id", "phase")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert list(duplicates) == []
    for line in ClaimLine.unscoped.filter(tenant=tenant).exclude(status=LineStatus.WITHDRAWN):
        parts = [a.amount for a in Allocation.unscoped.filter(claim_line=line, is_current=True)]
        if parts:
            assert sum(parts) == line.amount, line.number
            assert all(p >= 0 for p in parts) if line.sign == "debit" else all(p <= 0 for p in parts)


def snapshot(tenant: Tenant) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    lines = sorted(
        ClaimLine.unscoped.filter(tenant=tenant).values_list(
            "pk", "episode_id", "phase", "sign", "amount", "status", "is_current", "number", "corrects_id"
        )
    )
    allocations = sorted(
        Allocation.unscoped.filter(tenant=tenant).values_list(
            "pk", "claim_line_id", "kind", "organisation_id", "amount"
        ),
        key=lambda row: (row[0], row[1], row[2], row[3] or 0),
    )
    return lines, allocations


# --- a mixed set of episodes, used by the reliability tests --------------------------------------------


def ordinary(s: Setup) -> Episode:
    """Intake 2 Feb 2026 at 12 weeks, labour 14 Aug, placenta+2h the same day, care completed 25 Sep."""
    ep = episode(
        s,
        **pregnancy(dt.date(2026, 2, 2)),
        labour_started_at=at(2026, 8, 14, 8),
        placenta_plus_2h_at=at(2026, 8, 14, 15),
        postnatal_ended_on=dt.date(2026, 9, 25),
        status="ended",
        end_date=dt.date(2026, 9, 25),
        end_reason="completed",
    )
    for i in range(10):
        log(s, ep, "PRE_CHECK", s.practice, at(2026, 2, 9) + dt.timedelta(weeks=2 * i))
    log(s, ep, "ECHO_SEO", s.hospital, at(2026, 4, 20))
    log(s, ep, "KZ_HOURS", s.kraam, at(2026, 8, 15), "49")
    log(s, ep, "POST_VISIT", s.practice, at(2026, 8, 16))
    return ep


def transferred_in_week_30(s: Setup, insurer: Insurer | None = None) -> Episode:
    """Intake 2 Feb 2026 at 84 days (12w0d); ended 8 Jun 2026 = intake + 126 days = 210 days = 30w0d."""
    ep = episode(
        s,
        insurer=insurer,
        **pregnancy(dt.date(2026, 2, 2)),
        status="ended",
        end_date=dt.date(2026, 6, 8),
        end_reason="transferred_out",
    )
    for i in range(6):
        log(s, ep, "PRE_CHECK", s.practice, at(2026, 2, 9) + dt.timedelta(weeks=2 * i))
    log(s, ep, "ECHO_SEO", s.hospital, at(2026, 4, 20))
    return ep


def new_insurer_on_1_january(s: Setup) -> Episode:
    """ZK until 31 Dec 2025, VGZ from 1 Jan 2026; intake 16 Jun 2025 (due 29 Dec), labour 3 Jan 2026."""
    ep = EpisodeFactory(
        tenant=s.tenant,
        **pregnancy(dt.date(2025, 6, 16)),
        labour_started_at=at(2026, 1, 3, 8),
        placenta_plus_2h_at=at(2026, 1, 3, 14),
        postnatal_ended_on=dt.date(2026, 2, 13),
        status="ended",
        end_date=dt.date(2026, 2, 13),
        end_reason="completed",
    )
    ClientInsurance.unscoped.create(
        tenant=s.tenant,
        client=ep.client,
        insurer=s.zk,
        policy_number="ZK-1",
        valid_from=dt.date(2024, 1, 1),
        valid_until=dt.date(2025, 12, 31),
    )
    ClientInsurance.unscoped.create(
        tenant=s.tenant,
        client=ep.client,
        insurer=s.vgz,
        policy_number="VGZ-2",
        valid_from=dt.date(2026, 1, 1),
    )
    for i in range(10):
        log(s, ep, "PRE_CHECK", s.practice, at(2025, 6, 23) + dt.timedelta(weeks=2 * i))
    log(s, ep, "KZ_HOURS", s.kraam, at(2026, 1, 4), "49")
    log(s, ep, "POST_VISIT", s.practice, at(2026, 1, 5))
    return ep


def portfolio(s: Setup) -> list[Episode]:
    """Claims 3600.00 + 1200.00 + 3850.00 + 1200.00 + 0 = 9850.00 in 3 + 1 + 3 + 1 + 0 = 8 lines
    (created in this order, so episode ids ascend along the list)."""
    first = [ordinary(s), transferred_in_week_30(s), new_insurer_on_1_january(s)]
    in_labour = episode(s, **pregnancy(dt.date(2026, 3, 2), ga=70), labour_started_at=at(2026, 9, 27, 22))
    for i in range(3):
        log(s, in_labour, "PRE_CHECK", s.practice, at(2026, 3, 9) + dt.timedelta(weeks=4 * i))
    early = episode(s, **pregnancy(dt.date(2026, 10, 5), ga=70))
    log(s, early, "PRE_CHECK", s.practice, at(2026, 10, 5))
    return [*first, in_labour, early]


PORTFOLIO_LINES = 8
PORTFOLIO_TOTAL = D("9850.00")


def zk_november_answered(
    s: Setup, finance: User, answers: dict[ClaimLine, tuple[str, str, Decimal | None]]
) -> ClaimBatch:
    """Make and release Zilveren Kruis's batch of November 2026 (on 20 November) and record the insurer's
    answers through its portal: per line (status, reason code, awarded amount or None); lines not named stay
    unanswered. Call inside tenant_scope."""
    made = batch_create(
        tenant=s.tenant, insurer=s.zk, period=dt.date(2026, 11, 1), actor=finance, today=dt.date(2026, 11, 20)
    )
    assert made.batch is not None
    batch = batch_release(batch=made.batch, actor=finance)
    batch_return_record(
        batch=batch,
        entries=[
            ReturnEntry(line.number, status, code, "antwoord", awarded_amount=awarded)
            for line, (status, code, awarded) in answers.items()
        ],
        user=UserFactory(email="zk@zk.test"),
        source=ReturnSource.PORTAL,
    )
    return batch
