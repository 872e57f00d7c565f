"""Contracts and split rules: bad input is refused on the right key and nothing is stored."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from billing import services
from billing.models import (
    Contract,
    ContractTariff,
    InternalRate,
    PartialRule,
    SplitPhase,
    SplitRule,
    SplitShare,
)
from igo.models import AuditEntry
from igo.tenancy import tenant_scope
from tests.factories import InsurerFactory
from tests.scenarios.billing import BILLING_NOW, ZK_TARIFFS, D, Setup

pytestmark = pytest.mark.clock(BILLING_NOW)


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
