"""The billing API: contracts (list, detail, create with errors nested by field, finance writes only) and
claim lines with their allocations, and a schema that validates.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from billing.models import ClaimLine, Contract, ContractTariff
from igo.models import Role
from tests.factories import InsurerFactory
from tests.scenarios.billing import BILLING_NOW
from tests.scenarios.finance import full_trajectory
from tests.scenarios.http import api

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BILLING_NOW)]
API_CONTRACT = {
    "insurer": "7095",
    "name": "VGZ 2026",
    "valid_from": "2026-01-01",
    "answer_days": 45,
    "tariffs": {
        "prenatal": {"prestatie_code": "IGBPRE", "amount": "1195.00"},
        "postnatal": {"prestatie_code": "IGBPOS", "amount": "1465.00"},
    },
    "partial_rules": [
        {"end_reason": "miscarriage", "phase": "prenatal", "until_week": 16, "percentage": "50"},
        {"end_reason": "miscarriage", "phase": "prenatal", "from_week": 16},
    ],
}


def test_api_contracts_list_detail_and_create(fin):
    InsurerFactory(uzovi_code="7095", name="VGZ")
    client = api(fin.finance)
    body = client.get(fin.api("contracts/")).json()
    assert [c["name"] for c in body["results"]] == ["ZK 2026"]
    contract = body["results"][0]
    assert contract["insurer"] == {"uzovi_code": "3311", "name": "Zilveren Kruis"}
    assert {t["phase"]: t["amount"] for t in contract["tariffs"]} == {
        "prenatal": "1200.00",
        "natal": "900.00",
        "postnatal": "1500.00",
    }
    created = client.post(fin.api("contracts/"), API_CONTRACT, format="json")
    assert created.status_code == 201, created.json()
    new = created.json()
    assert [t["phase"] for t in new["tariffs"]] == ["prenatal", "postnatal"]
    assert new["answer_days"] == 45
    assert new["partial_rules"] == [
        {
            "end_reason": "miscarriage",
            "phase": "prenatal",
            "from_week": None,
            "until_week": 16,
            "percentage": "50.00",
        },
        {
            "end_reason": "miscarriage",
            "phase": "prenatal",
            "from_week": 16,
            "until_week": None,
            "percentage": "100.00",
        },
    ]
    # The IGO's own percentages are its business (its split rules), not the contract's.
    assert not {"overhead_pct", "reserve_pct"} & set(new) and not {"overhead_pct", "reserve_pct"} & set(
        contract
    )
    detail = api(fin.admin).get(fin.api(f"contracts/{new['id']}/"))
    assert detail.status_code == 200 and detail.json()["name"] == "VGZ 2026"


def test_api_contract_errors_are_nested_by_field_and_nothing_is_stored(fin):
    InsurerFactory(uzovi_code="7095", name="VGZ")
    before = (Contract.unscoped.count(), ContractTariff.unscoped.count())
    payload = {
        **API_CONTRACT,
        "answer_days": 400,
        "tariffs": {
            "prenatal": {"prestatie_code": "IGBPRE", "amount": "-1.00"},
            "natal": {"prestatie_code": "", "amount": "900.00"},
        },
        "partial_rules": [
            {"end_reason": "miscarriage", "phase": "prenatal", "until_week": 16, "percentage": "150"},
            {"end_reason": "moved_away", "phase": "natal"},
            {"end_reason": "moved_away", "phase": "natal", "from_week": 30, "until_week": 20},
        ],
    }
    response = api(fin.finance).post(fin.api("contracts/"), payload, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "answer_days": ["Vul een aantal dagen van 1 tot en met 365 in."],
        "partial_rules": [
            {"percentage": ["Vul een percentage van 0 tot 100 in."]},
            {},
            {"until_week": ["De band eindigt op of voor zijn begin: vul een tot-week na week 30 in."]},
        ],
        "tariffs": {
            "prenatal": {"amount": ["Een prijs kan niet negatief zijn."]},
            "natal": {"prestatie_code": ["Vul de prestatiecode in."]},
        },
    }
    overlap = api(fin.finance).post(fin.api("contracts/"), {**API_CONTRACT, "insurer": "3311"}, format="json")
    assert overlap.status_code == 400 and list(overlap.json()) == ["valid_from"]
    empty = api(fin.finance).post(fin.api("contracts/"), {**API_CONTRACT, "tariffs": {}}, format="json")
    assert empty.json() == {"tariffs": {"non_field_errors": ["Een contract dekt minstens één fase."]}}
    assert (Contract.unscoped.count(), ContractTariff.unscoped.count()) == before


def test_api_writes_need_finance_and_other_roles_are_refused(fin, world_b):
    InsurerFactory(uzovi_code="7095", name="VGZ")
    assert api(fin.admin).post(fin.api("contracts/"), API_CONTRACT, format="json").status_code == 403
    assert api(fin.world.user(Role.MIDWIFE)).get(fin.api("contracts/")).status_code == 403
    assert api(fin.world.user(Role.MIDWIFE)).get(fin.api("claim-lines/")).status_code == 403
    assert Contract.unscoped.filter(tenant=fin.tenant).count() == 1
    # Another IGO's contract is not found, and another IGO's user does not reach this one.
    finance_b = world_b.user(Role.IGO_FINANCE)
    assert api(finance_b).get(f"/api/t/{world_b.tenant.slug}/contracts/{fin.contract.pk}/").status_code == 404
    assert api(finance_b).get(fin.api("contracts/")).status_code == 404
    assert api(finance_b).post(fin.api("contracts/"), API_CONTRACT, format="json").status_code == 404


def test_api_claim_lines_with_filters_detail_and_allocations(fin, world_b):
    ep = full_trajectory(fin)
    fin.run()
    client = api(fin.finance)
    body = client.get(fin.api("claim-lines/")).json()
    assert body["count"] == 3
    assert {r["phase"]: r["amount"] for r in body["results"]} == {
        "prenatal": "1200.00",
        "natal": "900.00",
        "postnatal": "1500.00",
    }
    assert all(set(r) >= {"number", "episode", "status", "insurer"} for r in body["results"])
    assert not any("client" in key or "bsn" in key or "policy" in key for key in body["results"][0])
    month = timezone.localdate().strftime("%Y-%m")
    assert client.get(fin.api(f"claim-lines/?phase=natal&status=ready&month={month}")).json()["count"] == 1
    assert client.get(fin.api("claim-lines/?status=sent")).json()["count"] == 0
    assert client.get(fin.api("claim-lines/?month=2020-01")).json()["count"] == 0
    bad = client.get(fin.api("claim-lines/?month=2026-13&phase=labour"))
    assert bad.status_code == 400 and set(bad.json()) == {"month", "phase"}

    line = ClaimLine.unscoped.get(episode=ep, phase="postnatal")
    detail = client.get(fin.api(f"claim-lines/{line.pk}/")).json()
    assert detail["tariff_amount"] == "1500.00" and detail["prestatie_code"] == "IGBPOS"
    parts = {(a["kind"], a["organisation"]): a["amount"] for a in detail["allocations"]}
    assert parts == {
        ("overhead", None): "75.00",
        ("reserve", None): "30.00",
        ("member", fin.practice.pk): "139.50",
        ("member", fin.kraam.pk): "1255.50",
    }
    allocations = api(fin.admin).get(fin.api(f"claim-lines/{line.pk}/allocations/")).json()
    kraam = next(a for a in allocations if a["organisation"] == fin.kraam.pk)
    assert kraam["basis"]["method"] == "care" and kraam["basis"]["points"] == "1715.0000"
    assert kraam["organisation_name"] == "Kraamzorg Noord" and len(kraam["basis"]["events"]) == 1

    finance_b = world_b.user(Role.IGO_FINANCE)
    base_b = f"/api/t/{world_b.tenant.slug}/"
    assert api(finance_b).get(f"{base_b}claim-lines/{line.pk}/").status_code == 404
    assert api(finance_b).get(f"{base_b}claim-lines/{line.pk}/allocations/").status_code == 404
    assert api(finance_b).get(f"{base_b}claim-lines/").json()["count"] == 0


def test_api_schema_has_the_finance_endpoints_and_validates(member_client):
    from drf_spectacular.validation import validate_schema

    schema = member_client.get("/api/schema/?format=json").json()
    validate_schema(schema)
    for path in (
        "/api/t/{tenant_slug}/contracts/",
        "/api/t/{tenant_slug}/contracts/{id}/",
        "/api/t/{tenant_slug}/claim-lines/",
        "/api/t/{tenant_slug}/claim-lines/{id}/",
        "/api/t/{tenant_slug}/claim-lines/{id}/allocations/",
    ):
        assert path in schema["paths"], path
    params = {p["name"] for p in schema["paths"]["/api/t/{tenant_slug}/claim-lines/"]["get"]["parameters"]}
    assert {"status", "phase", "month", "page"} <= params
    assert "post" in schema["paths"]["/api/t/{tenant_slug}/contracts/"]
