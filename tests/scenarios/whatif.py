"""The what-if world: the billing world (tests.scenarios.billing) with two episodes of 2026 billed under the
worked split rule of 2025 (natal fixed 60/40 practice/hospital, 5% overhead, 2% reserve), and drafts of a
2026 split rule and a Zilveren Kruis contract version to simulate over 2026. A test that bills sets the
clock (`pytest.mark.clock(BILLING_NOW)`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies.models import Episode
from tests.scenarios.billing import (
    TRANSFER_PRENATAL_IN_FULL,
    ZK_TARIFFS,
    Setup,
    build,
    new_insurer_on_1_january,
    ordinary,
    run,
)
from tests.scenarios.people import TenantWorld
from whatif import services
from whatif.models import Simulation, SimulationKind, SimulationStatus

D = Decimal
YEAR_START, YEAR_END = dt.date(2026, 1, 1), dt.date(2026, 12, 31)
TODAY = dt.date(2026, 11, 1)


@dataclass
class WhatIf:
    s: Setup
    ordinary: Episode  # Zilveren Kruis: 1200 / 900 / 1500, all in 2026
    switched: Episode  # VGZ natal 1000 (3 Jan 2026) and postnatal 1650; prenatal (2025) outside 2026
    finance: Any


def billed_2026(world: TenantWorld) -> WhatIf:
    s = build(world)
    ep, switched = ordinary(s), new_insurer_on_1_january(s)
    run(s, TODAY)
    return WhatIf(s=s, ordinary=ep, switched=switched, finance=world.user(Role.IGO_FINANCE))


def split_draft(w: WhatIf, *, natal: tuple[int, int] = (50, 50), year: int = 2026) -> dict[str, Any]:
    """The worked split rule as a 2026 draft with another natal split (practice, hospital)."""
    s = w.s
    return services.split_draft_json(
        {
            "year": year,
            "valid_from": None,
            "overhead_pct": D("5"),
            "reserve_pct": D("2"),
            "note": "",
            "phases": {
                "prenatal": {"method": "care"},
                "natal": {"method": "fixed", "shares": {s.practice.pk: natal[0], s.hospital.pk: natal[1]}},
                "postnatal": {"method": "care", "minimums": {s.practice.pk: 10}},
            },
            "rates": {
                s.types["PRE_CHECK"].pk: D("50"),
                s.types["ECHO_SEO"].pk: D("120"),
                s.types["KZ_HOURS"].pk: D("35"),
                s.types["POST_VISIT"].pk: D("60"),
            },
        }
    )


def contract_draft(w: WhatIf, *, valid_from: dt.date, natal: Decimal) -> dict[str, Any]:
    """The Zilveren Kruis contract from `valid_from` with another natal tariff."""
    tariffs = {**ZK_TARIFFS, "natal": (ZK_TARIFFS["natal"][0], natal)}
    return services.contract_draft_json(
        contract=w.s.zk_contract,
        valid_from=valid_from,
        tariffs=tariffs,
        partial_rules=TRANSFER_PRENATAL_IN_FULL,
    )


def simulate(w: WhatIf, kind: str, draft: dict[str, Any]) -> Simulation:
    """Create the simulation as finance does and compute it here (the worker would, after the commit)."""
    with tenant_scope(w.s.tenant):
        simulation = services.simulation_create(
            tenant=w.s.tenant,
            actor=w.finance,
            kind=kind,
            draft=draft,
            period_start=YEAR_START,
            period_end=YEAR_END,
        )
        return services.simulation_run(simulation_id=simulation.pk, today=TODAY)


def simulation_objects(world: TenantWorld, *, episode: Episode, contract_id: int) -> Simulation:
    """A finished simulation whose results name `episode` among those that move most (for the isolation and
    access-log walks), stored as it is, without a computation."""
    return Simulation.unscoped.create(
        tenant=world.tenant,
        kind=SimulationKind.CONTRACT,
        draft={"contract": contract_id, "valid_from": "2099-01-01", "tariffs": {}, "partial_rules": []},
        base={"contracts": []},
        period_start=YEAR_START,
        period_end=YEAR_END,
        status=SimulationStatus.DONE,
        results={
            "members": [],
            "insurers": [],
            "phases": [],
            "episodes": [
                {
                    "episode": episode.pk,
                    "billed_actual": "1000.00",
                    "billed_simulated": "1100.00",
                    "moved": "200.00",
                    "parts": {},
                }
            ],
            "lines": 1,
            "changed_lines": 1,
        },
        created_by=world.user(Role.IGO_FINANCE),
        finished_at=timezone.now(),
    )
