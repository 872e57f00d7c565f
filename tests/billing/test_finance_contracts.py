"""Contracts and split rules on the finance screens: thin views over the billing services, finance writes
only, field errors on the right fields with nothing stored, a new version ends the old one.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

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
from tests.factories import InsurerFactory
from tests.scenarios.billing import BILLING_NOW
from tests.scenarios.finance import Fin
from tests.scenarios.http import row

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BILLING_NOW)]
CONTRACT_POST = {
    "insurer": "",
    "name": "VGZ 2026",
    "valid_from": "2026-01-01",
    "valid_until": "",
    "overhead_pct": "4.5",
    "reserve_pct": "1.5",
    "submission_months": "12",
    "code_prenatal": "IGB-PRE",
    "amount_prenatal": "1195.00",
    "code_natal": "",
    "amount_natal": "",
    "code_postnatal": "IGB-POST",
    "amount_postnatal": "1465.50",
    "rules-TOTAL_FORMS": "3",
    "rules-INITIAL_FORMS": "0",
    "rules-MIN_NUM_FORMS": "0",
    "rules-MAX_NUM_FORMS": "10",
    "rules-0-end_reason": "miscarriage",
    "rules-0-before_week": "16",
    "rules-0-phases": ["prenatal"],
    "rules-0-percentage": "50",
    "rules-1-end_reason": "",
    "rules-2-end_reason": "",
}


def test_contract_list_shows_versions_and_tariffs_per_insurer(fin, client_for):
    html = client_for(fin.finance).get(fin.url("contract_list")).content.decode()
    contract_row = row(html, f"contract-{fin.contract.pk}")
    assert "ZK 2026" in contract_row and "01-01-2026" in contract_row
    assert "IGB-PRE € 1.200,00" in contract_row and "IGB-POST € 1.500,00" in contract_row
    assert "5,00%" in contract_row and "2,00%" in contract_row
    assert "Zilveren Kruis" in row(html, "insurer-3311")
    assert "Miskraam" in html and "week 16" in html  # the rule for an early ending, in Dutch
    assert 'data-testid="contract-new"' in html
    # An administrator may look but not change.
    admin_html = client_for(fin.admin).get(fin.url("contract_list")).content.decode()
    assert "ZK 2026" in admin_html and 'data-testid="contract-new"' not in admin_html
    assert f'data-testid="new-version-{fin.contract.pk}"' not in admin_html


def test_finance_creates_a_contract_with_a_phase_not_covered(fin, client_for):
    vgz = InsurerFactory(uzovi_code="7095", name="VGZ")
    response = client_for(fin.finance).post(fin.url("contract_create"), {**CONTRACT_POST, "insurer": vgz.pk})
    assert response.status_code == 302 and response["Location"] == fin.url("contract_list")
    contract = Contract.unscoped.get(tenant=fin.tenant, insurer=vgz)
    assert (contract.overhead_pct, contract.reserve_pct, contract.created_by) == (
        Decimal("4.50"),
        Decimal("1.50"),
        fin.finance,
    )
    tariffs = {
        t.phase: (t.prestatie_code, t.amount) for t in ContractTariff.unscoped.filter(contract=contract)
    }
    assert tariffs == {
        "prenatal": ("IGB-PRE", Decimal("1195.00")),
        "postnatal": ("IGB-POST", Decimal("1465.50")),
    }
    (rule,) = PartialRule.unscoped.filter(contract=contract)
    assert (rule.end_reason, rule.before_week, rule.phases, rule.percentage) == (
        "miscarriage",
        16,
        ["prenatal"],
        Decimal("50.00"),
    )
    assert AuditEntry.objects.filter(action="contract.create", actor=fin.finance).count() == 2
    html = client_for(fin.finance).get(fin.url("contract_list")).content.decode()
    assert "niet gedekt" in row(html, f"contract-{contract.pk}")  # natal: not covered


def test_contract_field_errors_are_on_their_fields_and_nothing_is_stored(fin, client_for):
    vgz = InsurerFactory(uzovi_code="7095", name="VGZ")
    before = (Contract.unscoped.count(), ContractTariff.unscoped.count(), PartialRule.unscoped.count())
    response = client_for(fin.finance).post(
        fin.url("contract_create"),
        {
            **CONTRACT_POST,
            "insurer": vgz.pk,
            "overhead_pct": "150",
            "amount_prenatal": "-5.00",
            "code_natal": "",
            "amount_natal": "900.00",
            "amount_postnatal": "1465.555",
        },
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"overhead_pct", "amount_prenatal", "code_natal", "amount_postnatal"}
    assert errors["amount_prenatal"] == ["Een prijs kan niet negatief zijn."]
    assert errors["code_natal"] == ["Vul de prestatiecode in."]
    html = response.content.decode()
    assert "Een prijs kan niet negatief zijn." in html and "Vul de prestatiecode in." in html
    assert (
        Contract.unscoped.count(),
        ContractTariff.unscoped.count(),
        PartialRule.unscoped.count(),
    ) == before


def test_overlapping_period_and_too_much_overhead_are_refused(fin, client_for):
    client = client_for(fin.finance)
    response = client.post(
        fin.url("contract_create"),
        {
            **CONTRACT_POST,
            "insurer": fin.zk.pk,
            "valid_from": "2026-06-01",
            "overhead_pct": "60",
            "reserve_pct": "50",
        },
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "ZK 2026" in errors["valid_from"][0] and "01-01-2026" in errors["valid_from"][0]
    assert errors["reserve_pct"] == ["Overhead en reserve samen zijn meer dan 100%."]
    # No tariff at all: the service says a contract covers at least one phase.
    empty = {k: "" for k in CONTRACT_POST if k.startswith(("code_", "amount_"))}
    vgz = InsurerFactory(uzovi_code="7095", name="VGZ")
    response = client.post(fin.url("contract_create"), {**CONTRACT_POST, **empty, "insurer": vgz.pk})
    assert response.status_code == 400
    assert response.context["form"].non_field_errors() == ["Een contract dekt minstens één fase."]
    assert Contract.unscoped.filter(tenant=fin.tenant).count() == 1


def test_new_version_ends_the_old_one_and_changes_tariffs(fin, client_for):
    client = client_for(fin.finance)
    page = client.get(fin.url("contract_new_version", pk=fin.contract.pk))
    assert page.status_code == 200 and 'value="1200.00"' in page.content.decode()
    response = client.post(
        fin.url("contract_new_version", pk=fin.contract.pk),
        {
            "valid_from": "2026-07-01",
            "name": "ZK 2026 (juli)",
            "overhead_pct": "5",
            "reserve_pct": "2",
            "submission_months": "12",
            "code_prenatal": "IGB-PRE",
            "amount_prenatal": "1250.00",
            "code_natal": "IGB-NAT",
            "amount_natal": "900.00",
            "code_postnatal": "IGB-POST",
            "amount_postnatal": "1500.00",
        },
    )
    assert response.status_code == 302
    fin.contract.refresh_from_db()
    assert fin.contract.valid_until == dt.date(2026, 6, 30)
    new = Contract.unscoped.get(tenant=fin.tenant, valid_from=dt.date(2026, 7, 1))
    assert new.name == "ZK 2026 (juli)" and new.valid_until is None
    tariffs = {t.phase: t.amount for t in ContractTariff.unscoped.filter(contract=new)}
    assert tariffs == {
        "prenatal": Decimal("1250.00"),
        "natal": Decimal("900.00"),
        "postnatal": Decimal("1500.00"),
    }
    assert PartialRule.unscoped.filter(contract=new).count() == 1  # carried over


def test_new_version_before_the_start_is_refused_on_its_date_field(fin, client_for):
    response = client_for(fin.finance).post(
        fin.url("contract_new_version", pk=fin.contract.pk),
        {
            "valid_from": "2026-01-01",
            "name": "ZK",
            "overhead_pct": "5",
            "reserve_pct": "2",
            "submission_months": "12",
            "code_prenatal": "IGB-PRE",
            "amount_prenatal": "1.005",
        },
    )
    assert response.status_code == 400
    # Ending the old version on 31-12-2025 is refused as `valid_until`; the form shows it on its start date.
    assert response.context["form"].errors["valid_from"] == ["Het einde ligt voor het begin."]
    assert "Einde" not in response.content.decode() or "31-12-2025" not in response.content.decode()
    fin.contract.refresh_from_db()
    assert fin.contract.valid_until is None
    assert Contract.unscoped.filter(tenant=fin.tenant).count() == 1


def test_a_price_with_a_code_needs_an_amount(fin, client_for):
    response = client_for(fin.finance).post(
        fin.url("contract_create"),
        {**CONTRACT_POST, "insurer": fin.zk.pk, "valid_from": "2027-01-01", "amount_postnatal": ""},
    )
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["amount_postnatal"]
    assert Contract.unscoped.filter(tenant=fin.tenant).count() == 1


def test_administrator_may_not_change_contracts_split_rules_or_start_a_run(fin, client_for):
    client = client_for(fin.admin)
    assert client.post(fin.url("contract_create"), {**CONTRACT_POST, "insurer": fin.zk.pk}).status_code == 403
    assert client.post(fin.url("contract_new_version", pk=fin.contract.pk), {}).status_code == 403
    assert client.post(fin.url("split_rule_create"), {"year": "2027"}).status_code == 403
    assert client.post(fin.url("billing_run_start")).status_code == 403
    assert Contract.unscoped.filter(tenant=fin.tenant).count() == 1
    assert SplitRule.unscoped.filter(tenant=fin.tenant).count() == 1


def _split_post(fin: Fin, **overrides: str) -> dict[str, str]:
    data = {
        "year": "2026",
        "valid_from": "2026-07-01",
        "note": "Nieuwe afspraak",
        "method_prenatal": "care",
        "method_natal": "fixed",
        f"pct_natal_{fin.practice.pk}": "55",
        f"pct_natal_{fin.hospital.pk}": "45",
        "method_postnatal": "care",
        f"pct_postnatal_{fin.practice.pk}": "15",
        f"rate_{fin.types['PRE_CHECK'].pk}": "45",
        f"rate_{fin.types['KZ_HOURS'].pk}": "38",
    }
    return {**data, **overrides}


def test_split_rule_list_and_new_version(fin, client_for):
    client = client_for(fin.finance)
    html = client.get(fin.url("split_rule_list")).content.decode()
    assert "Vaste verdeling" in html and "Praktijk De Wieg" in html and "60,00%" in html
    form = client.get(fin.url("split_rule_create")).content.decode()
    # The form starts from the latest version.
    assert f'name="pct_natal_{fin.practice.pk}"' in form and 'value="60"' in form
    response = client.post(fin.url("split_rule_create"), _split_post(fin))
    assert response.status_code == 302
    rule = SplitRule.unscoped.get(tenant=fin.tenant, year=2026, version=2)
    assert rule.valid_from == dt.date(2026, 7, 1) and rule.created_by == fin.finance
    phases = {p.phase: p for p in SplitPhase.unscoped.filter(rule=rule)}
    assert {p: sp.method for p, sp in phases.items()} == {
        "prenatal": "care",
        "natal": "fixed",
        "postnatal": "care",
    }
    natal = {s.organisation_id: s.share_pct for s in SplitShare.unscoped.filter(split_phase=phases["natal"])}
    assert natal == {fin.practice.pk: Decimal("55.000"), fin.hospital.pk: Decimal("45.000")}
    post = {
        s.organisation_id: s.minimum_pct for s in SplitShare.unscoped.filter(split_phase=phases["postnatal"])
    }
    assert post == {fin.practice.pk: Decimal("15.000")}
    assert {r.event_type_id: r.rate for r in InternalRate.unscoped.filter(rule=rule)} == {
        fin.types["PRE_CHECK"].pk: Decimal("45.00"),
        fin.types["KZ_HOURS"].pk: Decimal("38.00"),
    }


def test_shares_that_do_not_sum_to_100_are_shown_on_the_phase(fin, client_for):
    before = SplitRule.unscoped.count()
    response = client_for(fin.finance).post(
        fin.url("split_rule_create"), _split_post(fin, **{f"pct_natal_{fin.hospital.pk}": "40"})
    )
    assert response.status_code == 400
    message = "De aandelen voor fase nataal tellen op tot 95%, niet tot 100%."
    assert response.context["form"].errors["method_natal"] == [message]
    assert message in row(response.content.decode(), "split-phase-natal")
    assert SplitRule.unscoped.count() == before
