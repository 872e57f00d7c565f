"""A retroactive tariff change in the seeded demo, as finance makes one: Zilveren Kruis's postnatal tariff from
€ 1.480,00 to € 1.500,33 from the day after the contract's start (all of the demo's claims), then this month's draft batch to Zilveren Kruis made again.
The draft then holds credits of the lines already sent (−1480.00 each) and their rebills (1500.33 each): sums
of cent amounts, which SQLite adds as floats (8116.32 + −4440.00 = 3676.3199999999997). The batch's check
`claim_batch_total_adds_up` must take them (billing/migrations/0017).

Run in the demo's own process on SQLite (tests/demo/test_run_sqlite.py, through `manage.py shell`), like the
walk (tests/scenarios/walk.py)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from django.utils import timezone

from billing.models import BatchStatus, ClaimBatch, Contract
from billing.reconcile import books_check
from billing.services.batches import batch_rebuild
from billing.services.repricing import contract_reprice
from igo.models import Membership, Role, Tenant
from igo.tenancy import tenant_scope

ZK = "3311"
NEW_POSTNATAL = Decimal("1500.33")


def demo_reprice_rebuild() -> dict[str, object]:
    """Per IGO: the rebuilt draft's debit, credit and total (as text), and books_check's problems after."""
    result: dict[str, object] = {}
    today = timezone.localdate()
    for tenant in Tenant.objects.order_by("slug"):
        with tenant_scope(tenant):
            contract = (
                Contract.objects.filter(insurer__uzovi_code=ZK, valid_from__lte=today)
                .order_by("-valid_from")
                .first()
            )
            draft = ClaimBatch.objects.filter(insurer__uzovi_code=ZK, status=BatchStatus.DRAFT).first()
            if contract is None or draft is None:
                continue
            finance = (
                Membership.objects.filter(role=Role.IGO_FINANCE, is_active=True)
                .select_related("user")
                .order_by("pk")
                .first()
            )
            assert finance is not None
            tariffs = {t.phase: (t.prestatie_code, t.amount) for t in contract.tariffs.all()}
            tariffs["postnatal"] = (tariffs["postnatal"][0], NEW_POSTNATAL)
            contract_reprice(
                contract=contract,
                actor=finance.user,
                # A change begins after the start of the version it replaces: the demo's claims are all later.
                valid_from=contract.valid_from + dt.timedelta(days=1),
                tariffs=tariffs,
                name=f"{contract.name} (1500,33)",
            )
            rebuilt = batch_rebuild(batch=draft, actor=finance.user, today=today).batch
            assert rebuilt is not None
            report = books_check(tenant=tenant)
            result[tenant.slug] = {
                "debit": str(rebuilt.debit_total),
                "credit": str(rebuilt.credit_total),
                "total": str(rebuilt.total),
                "books": [str(p) for p in report.problems],
            }
    return result


def demo_reprice_rebuild_json() -> str:
    """As one JSON line, for a child process to print."""
    return "REPRICED " + json.dumps(demo_reprice_rebuild())
