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

from typing import Any

import pytest
from django.test import Client

from igo.models import Role
from pregnancies.models import Episode
from tests.scenarios.billing import (
    Setup,
    build,
    ordinary,
    portfolio,
    run,
    transferred_in_week_30,
    worked_example,
)
from tests.scenarios.finance import Fin
from tests.scenarios.people import TenantWorld


@pytest.fixture
def setup(world_a):
    admin = world_a.user(Role.IGO_ADMIN)
    w = worked_example(world_a, actor=admin)
    return {
        "tenant": world_a.tenant,
        "admin": admin,
        "zk": w.zk,
        "practice": w.practice,
        "hospital": w.hospital,
        "kraam": w.kraam,
        "types": w.types,
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
    finance = world_a.user(Role.IGO_FINANCE)
    w = worked_example(
        world_a, actor=finance, names=("Praktijk De Wieg", "Ziekenhuis Oost", "Kraamzorg Noord")
    )
    return Fin(
        world=world_a,
        finance=finance,
        admin=world_a.user(Role.IGO_ADMIN),
        zk=w.zk,
        practice=w.practice,
        hospital=w.hospital,
        kraam=w.kraam,
        types=w.types,
        contract=w.contract,
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
