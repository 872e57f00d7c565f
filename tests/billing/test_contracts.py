"""Contracts and split rules: bad input is refused on the right key and nothing is stored."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db.models import F
from django.utils import translation

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
MISCARRIAGE_16 = {"end_reason": "miscarriage", "phase": "prenatal", "until_week": 16, "percentage": D("50")}


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
            {"tariffs": {**ZK_TARIFFS, "natal": ("IGBNAT", D("-0.01"))}}, "amount_natal", id="negative"
        ),
        pytest.param(
            {"tariffs": {**ZK_TARIFFS, "prenatal": ("IGBPRE", D("1200.005"))}},
            "amount_prenatal",
            id="three-decimals",
        ),
        # The declaration file has 6 positions for the prestatie code (KZ301 rubriek 0416, AN 6).
        pytest.param(
            {"tariffs": {**ZK_TARIFFS, "natal": ("IGB-NAT", D("900"))}}, "code_natal", id="code-with-hyphen"
        ),
        pytest.param(
            {"tariffs": {**ZK_TARIFFS, "natal": ("IGBNATAL", D("900"))}}, "code_natal", id="code-too-long"
        ),
        pytest.param(
            {"tariffs": {**ZK_TARIFFS, "natal": ("igbnat", D("900"))}}, "code_natal", id="code-lower-case"
        ),
        pytest.param({"answer_days": 0}, "answer_days", id="answer-term-0"),
        pytest.param({"answer_days": 366}, "answer_days", id="answer-term-366"),
        pytest.param(
            {"partial_rules": [{"end_reason": "emigrated", "phase": "prenatal"}]},
            "partial_rules-0-end_reason",
            id="unknown-reason",
        ),
        pytest.param(
            {"partial_rules": [{"end_reason": "completed", "phase": "prenatal"}]},
            "partial_rules-0-end_reason",
            id="completed-is-no-early-ending",
        ),
        pytest.param(
            {"partial_rules": [{"end_reason": "death", "phase": "labour"}]},
            "partial_rules-0-phase",
            id="unknown-phase",
        ),
        pytest.param(
            {"partial_rules": [{**MISCARRIAGE_16, "percentage": D("100.01")}]},
            "partial_rules-0-percentage",
            id="percentage-over-100",
        ),
        pytest.param(
            {"partial_rules": [{**MISCARRIAGE_16, "percentage": D("-1")}]},
            "partial_rules-0-percentage",
            id="percentage-negative",
        ),
        pytest.param(
            {"partial_rules": [{**MISCARRIAGE_16, "until_week": 46}]},
            "partial_rules-0-until_week",
            id="week-46",
        ),
        pytest.param(
            {"partial_rules": [{**MISCARRIAGE_16, "from_week": 16}]},
            "partial_rules-0-until_week",
            id="empty-band",
        ),
        # A valid rule first: the contract, its tariffs and that rule would be written before the second.
        pytest.param(
            {"partial_rules": [MISCARRIAGE_16, {**MISCARRIAGE_16, "from_week": 12, "until_week": 20}]},
            "partial_rules-1-from_week",
            id="overlapping-bands",
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


def test_overlapping_bands_are_named_in_the_message(s):
    rules = [
        {"end_reason": "moved_away", "phase": "prenatal", "until_week": 16, "percentage": D("0")},
        {"end_reason": "moved_away", "phase": "prenatal", "from_week": 16, "percentage": D("50")},
        # Another phase and another end reason may use the same weeks.
        {"end_reason": "moved_away", "phase": "natal", "percentage": D("100")},
        {"end_reason": "death", "phase": "prenatal", "percentage": D("100")},
        {"end_reason": "moved_away", "phase": "prenatal", "from_week": 20, "until_week": 24},
    ]
    with pytest.raises(ValidationError) as exc:
        _contract(s, partial_rules=rules)
    assert exc.value.message_dict == {
        "partial_rules-4-from_week": [
            "De band weken 20–24 overlapt de band vanaf week 16 van een andere regel voor verhuisd, "
            "onderbroken fase prenataal: een week valt in hooguit één band."
        ]
    }
    assert not Contract.unscoped.filter(name="ONVZ integraal").exists()


def test_contract_with_consecutive_bands_and_answer_term_is_stored_as_given(s):
    rules = [
        {"end_reason": "moved_away", "phase": "prenatal", "until_week": 16, "percentage": D("0")},
        {"end_reason": "moved_away", "phase": "prenatal", "from_week": 16, "percentage": D("50")},
        {"end_reason": "transferred_out", "phase": "postnatal", "percentage": "75.5"},
    ]
    contract = _contract(s, partial_rules=rules, answer_days=45)
    assert contract.answer_days == 45
    by_band = ("end_reason", "phase", F("from_week").asc(nulls_first=True))
    stored = PartialRule.unscoped.filter(contract=contract).order_by(*by_band)
    assert [(r.end_reason, r.phase, r.from_week, r.until_week, r.percentage) for r in stored] == [
        ("moved_away", "prenatal", None, 16, D("0.00")),
        ("moved_away", "prenatal", 16, None, D("50.00")),
        ("transferred_out", "postnatal", None, None, D("75.50")),
    ]
    # A new version carries the terms and the rules over unless given.
    with tenant_scope(s.tenant):
        new = services.contract_new_version(contract=contract, actor=s.admin, valid_from=dt.date(2027, 1, 1))
    assert new.answer_days == 45
    assert [
        (r.end_reason, r.phase, r.from_week, r.until_week, r.percentage)
        for r in PartialRule.unscoped.filter(contract=new).order_by(*by_band)
    ] == [(r.end_reason, r.phase, r.from_week, r.until_week, r.percentage) for r in stored]


def test_contract_periods_that_do_not_overlap_are_accepted(s):
    """The control for the overlap cases: the day after an ended version, and another insurer."""
    with tenant_scope(s.tenant):
        services.contract_end(contract=s.zk_contract, actor=s.admin, valid_until=dt.date(2025, 12, 31))
    _contract(s, insurer=s.zk, valid_from=dt.date(2026, 1, 1))
    _contract(s, valid_from=dt.date(2025, 1, 1))
    assert Contract.unscoped.filter(tenant=s.tenant).count() == 4


def test_a_new_version_of_a_dated_contract_ends_where_the_old_one_did(s):
    onvz = InsurerFactory(uzovi_code="3343", name="ONVZ")
    year = _contract(s, insurer=onvz, valid_until=dt.date(2026, 12, 31))
    _contract(
        s, insurer=onvz, name="ONVZ 2027", valid_from=dt.date(2027, 1, 1)
    )  # next year's, signed already
    with tenant_scope(s.tenant):
        july = services.contract_new_version(contract=year, actor=s.admin, valid_from=dt.date(2026, 7, 1))
    year.refresh_from_db()
    assert (year.valid_from, year.valid_until) == (dt.date(2026, 1, 1), dt.date(2026, 6, 30))
    # Not open-ended into 2027 (where it would overlap next year's contract, or price 2027 by 2026's tariffs).
    assert (july.valid_from, july.valid_until) == (dt.date(2026, 7, 1), dt.date(2026, 12, 31))


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


@pytest.mark.parametrize(
    ("percentages", "errors"),
    [
        pytest.param(
            {"overhead_pct": D("60"), "reserve_pct": D("40.01")},
            {"reserve_pct": ["Overhead en reserve samen zijn meer dan 100%."]},
            id="together-over-100",
        ),
        pytest.param(
            {"overhead_pct": D("100.01")},
            {"overhead_pct": ["Vul een percentage van 0 tot 100 in."]},
            id="overhead-over-100",
        ),
        pytest.param(
            {"reserve_pct": D("-0.01")},
            {"reserve_pct": ["Vul een percentage van 0 tot 100 in."]},
            id="reserve-negative",
        ),
        pytest.param(
            {"overhead_pct": D("4.125")},
            {"overhead_pct": ["Gebruik hoogstens 2 decimalen."]},
            id="three-decimals",
        ),
    ],
)
def test_split_rule_overhead_and_reserve_are_checked(s, percentages, errors):
    before = _counts()
    with tenant_scope(s.tenant), pytest.raises(ValidationError) as exc:
        services.split_rule_create(
            tenant=s.tenant,
            actor=s.admin,
            year=2026,
            phases={"prenatal": {"method": "care"}},
            rates={s.types["PRE_CHECK"].pk: D("50")},
            **percentages,
        )
    assert exc.value.message_dict == errors
    assert _counts() == before


def test_split_rule_keeps_its_overhead_and_reserve(s):
    with tenant_scope(s.tenant):
        rule = services.split_rule_create(
            tenant=s.tenant,
            actor=s.admin,
            year=2026,
            phases={"prenatal": {"method": "care"}},
            rates={s.types["PRE_CHECK"].pk: D("50")},
            overhead_pct=D("60"),
            reserve_pct=D("40"),  # together exactly 100: allowed, nothing left for the members
        )
    rule.refresh_from_db()
    assert (rule.overhead_pct, rule.reserve_pct) == (D("60.00"), D("40.00"))
    entry = AuditEntry.objects.get(action="split_rule.create", object_id=str(rule.pk))
    assert (entry.details["overhead_pct"], entry.details["reserve_pct"]) == ("60", "40")


def test_a_prestatie_code_that_does_not_fit_is_refused_in_dutch(s):
    InsurerFactory(uzovi_code="3343", name="ONVZ")
    with translation.override("nl"), pytest.raises(ValidationError) as exc:
        _contract(s, tariffs={**ZK_TARIFFS, "natal": ("IGB-NATAL", D("900"))})
    assert exc.value.message_dict["code_natal"] == [
        "Een prestatiecode heeft hoogstens 6 posities, hoofdletters of cijfers (bijvoorbeeld 014037)."
    ]
