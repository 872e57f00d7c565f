"""Migration 0009: the IGO's overhead and reserve move from the insurer contracts to its split rules, and the
rules for an early ending become rules per interrupted phase and week band, by the mapping stated in the
migration and in docs/billing.md. Data is written in the old shape (billing at 0007), then migrated forward.

The test moves the schema of the test database back and forth, so it runs outside a transaction
(`transaction=True`) and always migrates to the latest state at the end, also when it fails.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import EpisodeFactory, InsurerFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal
BEFORE = [("billing", "0007_work_reason_choices")]


def _migrate(targets: list[tuple[str, str]] | None = None) -> Any:
    """Migrate to `targets` (None: the latest of every app) and return the apps of that state."""
    executor = MigrationExecutor(connection)
    targets = targets or list(executor.loader.graph.leaf_nodes())
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


# The billing rows the test writes in the old shape, in an order that deletes them.
WRITTEN = ["Allocation", "ClaimLine", "ContractTariff", "PartialRule", "SplitRule", "Contract"]


@pytest.fixture
def old_apps() -> Iterator[Any]:
    try:
        yield _migrate(BEFORE)
    finally:
        # Whatever happened, the database ends at the latest state: back to the old one, without the rows that
        # may have made a migration fail, and forward again (the other rows go when the test database is
        # flushed after this test).
        apps = _migrate(BEFORE)
        for name in WRITTEN:
            apps.get_model("billing", name).objects.all().delete()
        _migrate()


def test_overhead_moves_to_the_split_rules_and_partial_rules_become_bands(old_apps):
    Contract = old_apps.get_model("billing", "Contract")
    PartialRule = old_apps.get_model("billing", "PartialRule")
    SplitRule = old_apps.get_model("billing", "SplitRule")
    ContractTariff = old_apps.get_model("billing", "ContractTariff")
    ClaimLine = old_apps.get_model("billing", "ClaimLine")
    Allocation = old_apps.get_model("billing", "Allocation")
    # Rows of the apps that stay at their latest state, made with the factories (typed loosely, as rows).
    tenant: Any = TenantFactory()
    other: Any = TenantFactory()
    user: Any = UserFactory()
    zk: Any = InsurerFactory(uzovi_code="3311")
    vgz: Any = InsurerFactory(uzovi_code="7095")

    def contract(
        t: Any, insurer: Any, start: dt.date, end: dt.date | None, overhead: str, reserve: str
    ) -> Any:
        return Contract.objects.create(
            tenant_id=t.pk,
            insurer_id=insurer.pk,
            name=f"{insurer.uzovi_code} {start.year}",
            valid_from=start,
            valid_until=end,
            overhead_pct=D(overhead),
            reserve_pct=D(reserve),
            created_by_id=user.pk,
        )

    zk_2025 = contract(tenant, zk, dt.date(2025, 1, 1), dt.date(2025, 12, 31), "5", "2")
    vgz_open = contract(tenant, vgz, dt.date(2025, 1, 1), None, "4", "0")
    zk_2026 = contract(tenant, zk, dt.date(2026, 1, 1), None, "6", "1.5")
    contract(other, zk, dt.date(2024, 1, 1), dt.date(2024, 12, 31), "3", "1")
    rules = {
        year: SplitRule.objects.create(
            tenant_id=tenant.pk, year=year, valid_from=dt.date(year, 1, 1), created_by_id=user.pk
        )
        for year in (2025, 2026)
    }
    # The other IGO's rule of 2026: no contract in force that year, so its only contract's percentages.
    other_rule = SplitRule.objects.create(
        tenant_id=other.pk, year=2026, valid_from=dt.date(2026, 1, 1), created_by_id=user.pk
    )
    # 2026: the new ZK version has a claim line and VGZ none, so the ZK version's 6% and 1.5% win. 2025: no
    # lines; the two contracts in force tie and the first made (ZK 2025: 5% and 2%) wins.
    episode: Any = EpisodeFactory(tenant=tenant)
    tariff = ContractTariff.objects.create(
        tenant_id=tenant.pk,
        contract_id=zk_2026.pk,
        phase="prenatal",
        prestatie_code="IGBPRE",
        amount=D("1200"),
    )
    line = ClaimLine.objects.create(
        tenant_id=tenant.pk,
        episode_id=episode.pk,
        phase="prenatal",
        number=f"{episode.pk}-PRE-D1",
        prestatie_code="IGBPRE",
        contract_id=zk_2026.pk,
        tariff_id=tariff.pk,
        insurer_id=zk.pk,
        policy_number="POL-1",
        service_start=dt.date(2026, 6, 1),
        service_end=dt.date(2026, 12, 1),
        amount=D("1200.00"),
    )
    # An allocation made the old way (the contract's 6%): the migration changes no allocation.
    overhead = Allocation.objects.create(
        tenant_id=tenant.pk,
        claim_line_id=line.pk,
        kind="overhead",
        amount=D("72.00"),
        split_rule_id=rules[2026].pk,
        basis={"percentage": "6.00"},
    )

    def old_rule(c: Any, reason: str, before: int | None, phases: list[str], pct: str) -> None:
        PartialRule.objects.create(
            tenant_id=c.tenant_id,
            contract_id=c.pk,
            end_reason=reason,
            before_week=before,
            phases=phases,
            percentage=D(pct),
        )

    # Nested thresholds of one end reason (the old roll-up took the lowest week above the end's week).
    old_rule(zk_2026, "miscarriage", None, ["prenatal", "natal", "postnatal"], "100")
    old_rule(zk_2026, "miscarriage", 24, ["prenatal", "natal"], "75")
    old_rule(zk_2026, "miscarriage", 16, ["prenatal"], "50")
    # A rule that billed nothing: no rule, finance decides.
    old_rule(zk_2026, "moved_away", None, [], "0")
    # Two rules with the same threshold: only the first ever applied.
    old_rule(zk_2026, "transferred_out", 30, ["prenatal"], "50")
    old_rule(zk_2026, "transferred_out", 30, ["prenatal", "natal"], "80")
    # A threshold that billed nothing still starts the next band.
    old_rule(zk_2026, "termination", 16, [], "0")
    old_rule(zk_2026, "termination", None, ["prenatal"], "100")
    # Another contract's rules are mapped on their own.
    old_rule(vgz_open, "death", None, ["postnatal"], "100")
    old_rule(vgz_open, "miscarriage", 20, ["prenatal"], "60")

    new_apps = _migrate()

    SplitRule = new_apps.get_model("billing", "SplitRule")
    percentages = {
        r.pk: (r.overhead_pct, r.reserve_pct)
        for r in SplitRule.objects.filter(pk__in=[rules[2025].pk, rules[2026].pk, other_rule.pk])
    }
    assert percentages == {
        rules[2025].pk: (D("5.00"), D("2.00")),
        rules[2026].pk: (D("6.00"), D("1.50")),
        other_rule.pk: (D("3.00"), D("1.00")),
    }
    Contract = new_apps.get_model("billing", "Contract")
    assert not hasattr(Contract.objects.get(pk=zk_2026.pk), "overhead_pct")
    Allocation = new_apps.get_model("billing", "Allocation")
    stored = Allocation.objects.get(pk=overhead.pk)
    assert (stored.amount, stored.basis, stored.is_current) == (D("72.00"), {"percentage": "6.00"}, True)

    PartialRule = new_apps.get_model("billing", "PartialRule")

    def bands(c: Any) -> set[tuple[str, str, int | None, int | None, Decimal]]:
        return {
            (r.end_reason, r.phase, r.from_week, r.until_week, r.percentage)
            for r in PartialRule.objects.filter(contract_id=c.pk)
        }

    assert bands(zk_2026) == {
        # < 16: prenatal 50%; < 24: prenatal and natal 75%; otherwise all three at 100%.
        ("miscarriage", "prenatal", None, 16, D("50.00")),
        ("miscarriage", "prenatal", 16, 24, D("75.00")),
        ("miscarriage", "natal", 16, 24, D("75.00")),
        ("miscarriage", "prenatal", 24, None, D("100.00")),
        ("miscarriage", "natal", 24, None, D("100.00")),
        ("miscarriage", "postnatal", 24, None, D("100.00")),
        ("transferred_out", "prenatal", None, 30, D("50.00")),
        ("termination", "prenatal", 16, None, D("100.00")),
    }
    assert bands(vgz_open) == {
        ("death", "postnatal", None, None, D("100.00")),
        ("miscarriage", "prenatal", None, 20, D("60.00")),
    }
    assert bands(zk_2025) == set()
