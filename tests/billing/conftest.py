"""Fixtures of the billing tests (the billing world itself is `s`, in tests/conftest.py).

`setup`: the worked example that the roll-up and correction tests log their own care into, as a dict.
Zilveren Kruis 2026 at 1200/900/1500 with 5% overhead, 2% reserve and half the prenatal tariff after a
miscarriage before week 16; a 2026 split rule: prenatal by care, natal 60/40 practice/hospital, postnatal by
care with at least 10% for the practice.

`billed`: the billing world `s` after a run, with four ready Zilveren Kruis lines, for the batch tests.

`fin`: the worked example of `setup` as IGO finance sets it up, for the finance screens
(tests.scenarios.finance). `billed_portfolio`: the worked portfolio of tests.scenarios.billing, billed, for
the batch screens; `finance` is a client signed in as its IGO finance user.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from billing import services
from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies.catalogue import catalogue_seed
from pregnancies.models import Episode, EventType
from tests.factories import InsurerFactory, MemberOrganisationFactory
from tests.scenarios.billing import Setup, build, ordinary, portfolio, run, transferred_in_week_30
from tests.scenarios.finance import Fin
from tests.scenarios.people import TenantWorld


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


@pytest.fixture
def billed(s: Setup) -> tuple[Setup, Episode, Episode]:
    """Four ready ZK lines: an ordinary pregnancy (three phases) and a transfer in week 30 (prenatal)."""
    ep, other = ordinary(s), transferred_in_week_30(s)
    run(s)
    return s, ep, other


@pytest.fixture
def fin(world_a: TenantWorld) -> Fin:
    """The worked example of `setup` above, set up by IGO finance (named organisations, a `Fin`)."""
    tenant = world_a.tenant
    finance = world_a.user(Role.IGO_FINANCE)
    catalogue_seed(tenant=tenant)
    zk = InsurerFactory(uzovi_code="3311", name="Zilveren Kruis")
    practice = MemberOrganisationFactory(tenant=tenant, name="Praktijk De Wieg", kind="midwifery_practice")
    hospital = MemberOrganisationFactory(tenant=tenant, name="Ziekenhuis Oost", kind="hospital")
    kraam = MemberOrganisationFactory(tenant=tenant, name="Kraamzorg Noord", kind="kraamzorg")
    with tenant_scope(tenant):
        contract = services.contract_create(
            tenant=tenant,
            actor=finance,
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
            actor=finance,
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
    return Fin(
        world=world_a,
        finance=finance,
        admin=world_a.user(Role.IGO_ADMIN),
        zk=zk,
        practice=practice,
        hospital=hospital,
        kraam=kraam,
        types=types,
        contract=contract,
    )


@pytest.fixture
def billed_portfolio(world_a: TenantWorld) -> Setup:
    """The worked portfolio, billed (8 ready lines, none in a batch yet)."""
    setup = build(world_a)
    portfolio(setup)
    run(setup)
    return setup


@pytest.fixture
def finance(billed_portfolio: Setup, world_a: TenantWorld, client_for: Any) -> Client:
    return client_for(world_a.user(Role.IGO_FINANCE))
