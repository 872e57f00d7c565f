"""Contracts and split rules on the finance screens: thin views over the billing services, finance writes
only, field errors on the right fields with nothing stored, a new version ends the old one; the contract's
page shows what each early ending bills per phase; the split rules carry the IGO's overhead and reserve.
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
    "submission_months": "12",
    "answer_days": "45",
    "code_prenatal": "IGBPRE",
    "amount_prenatal": "1195.00",
    "code_natal": "",
    "amount_natal": "",
    "code_postnatal": "IGBPOS",
    "amount_postnatal": "1465.50",
    "rules-TOTAL_FORMS": "3",
    "rules-INITIAL_FORMS": "0",
    "rules-MIN_NUM_FORMS": "0",
    "rules-MAX_NUM_FORMS": "30",
    "rules-0-end_reason": "miscarriage",
    "rules-0-phase": "prenatal",
    "rules-0-from_week": "",
    "rules-0-until_week": "16",
    "rules-0-percentage": "50",
    "rules-1-end_reason": "",
    "rules-1-percentage": "100",
    "rules-2-end_reason": "",
    "rules-2-percentage": "100",
}


def rule_rows(*rows: tuple[str, str, str, str, str], initial: int = 0, extra: int = 2) -> dict[str, str]:
    """The formset of rules for an early ending as a browser posts it: (end reason, phase, from week, until
    week, percentage) per row, then `extra` empty rows; the first `initial` rows were on the page already
    (a new version starts from the current rules)."""
    data = {
        "rules-TOTAL_FORMS": str(len(rows) + extra),
        "rules-INITIAL_FORMS": str(initial),
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "30",
    }
    fields = ("end_reason", "phase", "from_week", "until_week", "percentage")
    for i, values in enumerate([*rows, *[("", "", "", "", "100")] * extra]):
        for field, value in zip(fields, values, strict=True):
            data[f"rules-{i}-{field}"] = value
    return data


def test_contract_list_shows_versions_and_tariffs_per_insurer(fin, client_for):
    html = client_for(fin.finance).get(fin.url("contract_list")).content.decode()
    contract_row = row(html, f"contract-{fin.contract.pk}")
    assert "ZK 2026" in contract_row and "01-01-2026" in contract_row
    assert "IGBPRE € 1.200,00" in contract_row and "IGBPOS € 1.500,00" in contract_row
    assert "12 maanden 30 dagen" in contract_row  # submission deadline and answer term
    assert "%" not in contract_row  # the IGO's overhead and reserve are not on an insurer's contract
    assert "Zilveren Kruis" in row(html, "insurer-3311")
    assert fin.url("contract_detail", pk=fin.contract.pk) in html
    assert 'data-testid="contract-new"' in html
    # An administrator may look but not change.
    admin_html = client_for(fin.admin).get(fin.url("contract_list")).content.decode()
    assert "ZK 2026" in admin_html and 'data-testid="contract-new"' not in admin_html
    assert f'data-testid="new-version-{fin.contract.pk}"' not in admin_html


def test_finance_creates_a_contract_with_a_phase_not_covered(fin, client_for):
    vgz = InsurerFactory(uzovi_code="7095", name="VGZ")
    response = client_for(fin.finance).post(fin.url("contract_create"), {**CONTRACT_POST, "insurer": vgz.pk})
    contract = Contract.unscoped.get(tenant=fin.tenant, insurer=vgz)
    assert response.status_code == 302 and response["Location"] == fin.url("contract_detail", pk=contract.pk)
    assert (contract.answer_days, contract.submission_months, contract.created_by) == (45, 12, fin.finance)
    tariffs = {
        t.phase: (t.prestatie_code, t.amount) for t in ContractTariff.unscoped.filter(contract=contract)
    }
    assert tariffs == {
        "prenatal": ("IGBPRE", Decimal("1195.00")),
        "postnatal": ("IGBPOS", Decimal("1465.50")),
    }
    (rule,) = PartialRule.unscoped.filter(contract=contract)
    assert (rule.end_reason, rule.phase, rule.from_week, rule.until_week, rule.percentage) == (
        "miscarriage",
        "prenatal",
        None,
        16,
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
            "answer_days": "0",
            "amount_prenatal": "-5.00",
            "code_natal": "",
            "amount_natal": "900.00",
            "amount_postnatal": "1465.555",
        },
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"answer_days", "amount_prenatal", "code_natal", "amount_postnatal"}
    assert errors["answer_days"] == ["Vul een aantal dagen van 1 tot en met 365 in."]
    assert errors["amount_prenatal"] == ["Een prijs kan niet negatief zijn."]
    assert errors["code_natal"] == ["Vul de prestatiecode in."]
    html = response.content.decode()
    assert "Een prijs kan niet negatief zijn." in html and "Vul de prestatiecode in." in html
    assert (
        Contract.unscoped.count(),
        ContractTariff.unscoped.count(),
        PartialRule.unscoped.count(),
    ) == before


def test_overlapping_period_is_refused(fin, client_for):
    client = client_for(fin.finance)
    response = client.post(
        fin.url("contract_create"), {**CONTRACT_POST, "insurer": fin.zk.pk, "valid_from": "2026-06-01"}
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "ZK 2026" in errors["valid_from"][0] and "01-01-2026" in errors["valid_from"][0]
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
    assert page.status_code == 200 and 'value="1200,00"' in page.content.decode()
    response = client.post(
        fin.url("contract_new_version", pk=fin.contract.pk),
        {
            "valid_from": "2026-07-01",
            "name": "ZK 2026 (juli)",
            "submission_months": "12",
            "answer_days": "60",
            "code_prenatal": "IGBPRE",
            "amount_prenatal": "1250.00",
            "code_natal": "IGBNAT",
            "amount_natal": "900.00",
            "code_postnatal": "IGBPOS",
            "amount_postnatal": "1500.00",
            **rule_rows(
                ("miscarriage", "prenatal", "", "16", "50"),  # carried over as the form showed it
                ("transferred_out", "postnatal", "", "", "75"),  # added
                initial=1,
            ),
        },
    )
    assert response.status_code == 302
    fin.contract.refresh_from_db()
    assert fin.contract.valid_until == dt.date(2026, 6, 30)
    new = Contract.unscoped.get(tenant=fin.tenant, valid_from=dt.date(2026, 7, 1))
    assert (new.name, new.valid_until, new.answer_days) == ("ZK 2026 (juli)", None, 60)
    tariffs = {t.phase: t.amount for t in ContractTariff.unscoped.filter(contract=new)}
    assert tariffs == {
        "prenatal": Decimal("1250.00"),
        "natal": Decimal("900.00"),
        "postnatal": Decimal("1500.00"),
    }
    assert sorted(
        (r.end_reason, r.phase, r.from_week, r.until_week, r.percentage)
        for r in PartialRule.unscoped.filter(contract=new)
    ) == [
        ("miscarriage", "prenatal", None, 16, Decimal("50.00")),
        ("transferred_out", "postnatal", None, None, Decimal("75.00")),
    ]


def test_new_version_before_the_start_is_refused_on_its_date_field(fin, client_for):
    response = client_for(fin.finance).post(
        fin.url("contract_new_version", pk=fin.contract.pk),
        {
            "valid_from": "2026-01-01",
            "name": "ZK",
            "submission_months": "12",
            "answer_days": "30",
            "code_prenatal": "IGBPRE",
            "amount_prenatal": "1,0055",
            **rule_rows(("miscarriage", "prenatal", "", "16", "50"), initial=1),
        },
    )
    assert response.status_code == 400
    # A version from the current one's own start would end that one before it began: refused on the start
    # date with the reason (issue 19), not as the end date the form does not have.
    assert response.context["form"].errors["valid_from"] == [
        "Een nieuwe versie begint na het begin van de versie die ze opvolgt (01-01-2026). "
        "Voeg voor een periode daarvoor een apart contract met een einddatum toe."
    ]
    assert "31-12-2025" not in response.content.decode()
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


def test_a_split_rule_starts_in_its_own_year(fin, client_for):
    before = SplitRule.unscoped.count()
    response = client_for(fin.finance).post(
        fin.url("split_rule_create"), _split_post(fin, year="2027", valid_from="2025-03-01")
    )
    assert response.status_code == 400
    assert response.context["form"].errors["valid_from"] == [
        "De startdatum ligt in 2025, buiten het jaar van de versie (2027)."
    ]
    assert SplitRule.unscoped.count() == before  # no version that would divide 2025's lines


def test_a_negative_internal_rate_is_refused_at_its_field(fin, client_for):
    field = f"rate_{fin.types['PRE_CHECK'].pk}"
    response = client_for(fin.finance).post(fin.url("split_rule_create"), _split_post(fin, **{field: "-5"}))
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors[field] and not form.non_field_errors()


def test_contract_page_shows_what_each_early_ending_bills_per_phase(fin, client_for):
    vgz = InsurerFactory(uzovi_code="7095", name="VGZ")
    rows = rule_rows(
        ("moved_away", "prenatal", "", "16", "0"),
        ("moved_away", "prenatal", "16", "", "50"),
        ("transferred_out", "natal", "", "", "100"),
        ("transferred_out", "postnatal", "", "", "75.5"),
        ("miscarriage", "prenatal", "", "16", "50"),
    )
    client = client_for(fin.finance)
    response = client.post(fin.url("contract_create"), {**CONTRACT_POST, **rows, "insurer": vgz.pk})
    assert response.status_code == 302
    contract = Contract.unscoped.get(tenant=fin.tenant, insurer=vgz)
    html = client.get(response["Location"]).content.decode()
    assert row(html, "contract-answer-days") == "45 dagen na vrijgeven van de batch"
    assert row(html, "contract-deadline") == "12 maanden na de zorg"
    assert "%" not in row(html, "contract-terms")  # no overhead or reserve on an insurer's contract
    cells = {  # (the row's text has a space where a tag was: "50% ;")
        (reason, phase): row(html, f"early-{reason}-{phase}").replace(" ;", ";")
        for reason in ("miscarriage", "termination", "moved_away", "transferred_out", "death")
        for phase in ("prenatal", "natal", "postnatal")
    }
    assert cells == {
        ("miscarriage", "prenatal"): "weken 0–16: 50%; vanaf week 16: financiën beslist",
        ("miscarriage", "natal"): "financiën beslist",
        ("miscarriage", "postnatal"): "financiën beslist",
        ("termination", "prenatal"): "financiën beslist",
        ("termination", "natal"): "financiën beslist",
        ("termination", "postnatal"): "financiën beslist",
        ("moved_away", "prenatal"): "weken 0–16: 0%; vanaf week 16: 50%",
        ("moved_away", "natal"): "financiën beslist",
        ("moved_away", "postnatal"): "financiën beslist",
        ("transferred_out", "prenatal"): "financiën beslist",
        ("transferred_out", "natal"): "100%",
        ("transferred_out", "postnatal"): "75,50%",
        ("death", "prenatal"): "financiën beslist",
        ("death", "natal"): "financiën beslist",
        ("death", "postnatal"): "financiën beslist",
    }
    assert row(html, "early-death").startswith("Overlijden ")
    legend = row(html, "early-endings-legend")
    assert "volledig gedeclareerd (100%)" in legend and "nooit gedeclareerd" in legend
    # At 390 px the table scrolls in its own container rather than widening the page.
    assert '<div class="scroll-x">\n  <table class="compact" data-testid="early-endings">' in html
    # An administrator may look, without the buttons that change it.
    admin_html = client_for(fin.admin).get(fin.url("contract_detail", pk=contract.pk)).content.decode()
    assert row(admin_html, "early-moved_away-prenatal").startswith("weken 0–16: 0%")
    assert f"new-version-{contract.pk}" not in admin_html


def test_rule_errors_are_on_their_rows_and_nothing_is_stored(fin, client_for):
    vgz = InsurerFactory(uzovi_code="7095", name="VGZ")
    before = (Contract.unscoped.count(), ContractTariff.unscoped.count(), PartialRule.unscoped.count())
    rows = rule_rows(
        ("moved_away", "prenatal", "", "20", "50"),
        ("moved_away", "", "", "", "50"),  # no phase
        ("death", "postnatal", "", "", "120"),
        ("moved_away", "prenatal", "16", "24", "75"),  # overlaps the first row's weeks 0–20
        ("transferred_out", "natal", "30", "20", "75"),
        ("", "prenatal", "", "", "100"),  # a phase without an end reason
    )
    # A row left empty between them (row 6, after the formset's own empty rows) is ignored.
    response = client_for(fin.finance).post(
        fin.url("contract_create"), {**CONTRACT_POST, **rows, "insurer": vgz.pk}
    )
    assert response.status_code == 400
    forms = response.context["formset"].forms
    assert [f.errors for f in forms] == [
        {},
        {"phase": ["Kies de fase die door het einde werd onderbroken."]},
        {"percentage": ["Vul een percentage van 0 tot 100 in."]},
        {},
        {"until_week": ["De band eindigt op of voor zijn begin: vul een tot-week na week 30 in."]},
        {"end_reason": ["Kies de reden waarom het traject vroegtijdig eindigde."]},
        {},
        {},
    ]
    # Once the rows are complete, the overlap is reported on the later row and names both bands.
    fixed = rule_rows(
        ("moved_away", "prenatal", "", "20", "50"),
        ("death", "postnatal", "", "", "100"),
        ("moved_away", "prenatal", "16", "24", "75"),
    )
    response = client_for(fin.finance).post(
        fin.url("contract_create"), {**CONTRACT_POST, **fixed, "insurer": vgz.pk}
    )
    assert response.status_code == 400
    message = (
        "De band weken 16–24 overlapt de band weken 0–20 van een andere regel voor verhuisd, onderbroken fase "
        "prenataal: een week valt in hooguit één band."
    )
    assert response.context["formset"].forms[2].errors == {"from_week": [message]}
    assert message in row(response.content.decode(), "partial-rule-2")
    assert (
        Contract.unscoped.count(),
        ContractTariff.unscoped.count(),
        PartialRule.unscoped.count(),
    ) == before


def test_new_version_form_starts_from_the_rules_and_can_remove_one(fin, client_for):
    client = client_for(fin.finance)
    form = client.get(fin.url("contract_new_version", pk=fin.contract.pk)).context["formset"]
    assert [f.initial for f in form.forms if f.initial] == [
        {
            "end_reason": "miscarriage",
            "phase": "prenatal",
            "from_week": None,
            "until_week": 16,
            "percentage": Decimal("50.00"),
        }
    ]
    assert form.total_form_count() == 4  # the rule and three empty rows
    data = {
        "valid_from": "2026-07-01",
        "name": "ZK 2026 (juli)",
        "submission_months": "12",
        "answer_days": "30",
        "code_prenatal": "IGBPRE",
        "amount_prenatal": "1200.00",
        **rule_rows(("", "", "", "", "50"), initial=1),  # the end reason emptied: the rule goes
    }
    assert client.post(fin.url("contract_new_version", pk=fin.contract.pk), data).status_code == 302
    new = Contract.unscoped.get(tenant=fin.tenant, valid_from=dt.date(2026, 7, 1))
    assert not PartialRule.unscoped.filter(contract=new).exists()
    assert PartialRule.unscoped.filter(contract=fin.contract).count() == 1  # the old version keeps its rule


def test_split_rule_carries_overhead_and_reserve(fin, client_for):
    client = client_for(fin.finance)
    html = client.get(fin.url("split_rule_list")).content.decode()
    (first,) = SplitRule.unscoped.filter(tenant=fin.tenant)
    assert row(html, f"split-rule-head-{first.pk}") == (
        "IGO-overhead 5,00% · Risicoreserve 2,00% · Ledendeel 93,00%"
    )
    form = client.get(fin.url("split_rule_create")).context["form"]
    assert (form.initial["overhead_pct"], form.initial["reserve_pct"]) == ("5", "2")
    response = client.post(
        fin.url("split_rule_create"), _split_post(fin, overhead_pct="4.5", reserve_pct="1.5")
    )
    assert response.status_code == 302
    rule = SplitRule.unscoped.get(tenant=fin.tenant, year=2026, version=2)
    assert (rule.overhead_pct, rule.reserve_pct) == (Decimal("4.50"), Decimal("1.50"))
    # Empty: none.
    response = client.post(fin.url("split_rule_create"), _split_post(fin, overhead_pct="", reserve_pct=""))
    assert response.status_code == 302
    rule = SplitRule.unscoped.get(tenant=fin.tenant, year=2026, version=3)
    assert (rule.overhead_pct, rule.reserve_pct) == (Decimal("0.00"), Decimal("0.00"))


@pytest.mark.parametrize(
    ("overhead", "reserve", "errors"),
    [
        ("60", "40.5", {"reserve_pct": ["Overhead en reserve samen zijn meer dan 100%."]}),
        ("101", "2", {"overhead_pct": ["Vul een percentage van 0 tot 100 in."]}),
        ("5", "-1", {"reserve_pct": ["Vul een percentage van 0 tot 100 in."]}),
    ],
)
def test_split_rule_overhead_and_reserve_errors_are_on_their_fields(
    fin, client_for, overhead, reserve, errors
):
    before = SplitRule.unscoped.count()
    response = client_for(fin.finance).post(
        fin.url("split_rule_create"), _split_post(fin, overhead_pct=overhead, reserve_pct=reserve)
    )
    assert response.status_code == 400
    assert response.context["form"].errors == errors
    assert next(iter(errors.values()))[0] in response.content.decode()
    assert SplitRule.unscoped.count() == before
