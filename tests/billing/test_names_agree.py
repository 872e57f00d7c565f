"""One character policy for the claim file (issue 16): a batch's KZ301 file, its CSV and the insurer API carry
the same names and insured numbers, transliterated alike to upper-case ASCII (Turkish, Polish and Vietnamese
names here); nothing is silently turned into question marks.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from billing.models import ClaimBatch
from igo import services as igo_services
from pregnancies.models import Client, ClientInsurance, Episode
from tests.scenarios.billing import BILLING_NOW, Setup, run, transferred_in_week_30
from tests.scenarios.month_batches import csv_rows, file_of, insurer_user, make_batch, records, release

pytestmark = pytest.mark.clock(BILLING_NOW)

NAMES = [  # (family name, given names, insured number) as entered; what every delivery must carry
    ("Yıldız", "Şükrü Ayşe", "TR1", "YILDIZ", "S.A."),
    ("Łukaszewska-Żółć", "Małgorzata", "PL2", "LUKASZEWSKA-ZOLC", "M."),
    ("Nguyễn", "Thị Ánh Đào", "VN3", "NGUYEN", "T.A.D."),
]


def _named(s: Setup, family: str, given: str, policy: str) -> Episode:
    ep = transferred_in_week_30(s)
    Client.unscoped.filter(pk=ep.client_id).update(family_name=family, given_names=given)
    ClientInsurance.unscoped.filter(client_id=ep.client_id).update(policy_number=policy)
    return ep


def test_the_file_the_csv_and_the_api_carry_the_same_transliterated_names(s: Setup):
    for family, given, policy, _f, _i in NAMES:
        _named(s, family, given, policy)
    run(s)
    batch: ClaimBatch = release(s, make_batch(s))
    expected = {policy: (name, initials) for _fam, _giv, policy, name, initials in NAMES}

    data = file_of(batch, "kz301")
    assert data.isascii() and b"?" not in data
    persons = {
        r["insured_number"]: (r["family_name"], r["initials"]) for r in records(batch) if r.code == "02"
    }
    assert persons == expected

    _header, rows = csv_rows(file_of(batch, "csv"))
    assert {r["insured_number"]: (r["family_name"], r["initials"]) for r in rows} == expected

    user = insurer_user(s)
    _token, key = igo_services.insurer_token_create(user=user, insurer=s.zk, name="ERP")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = api.get(f"/api/insurer/batches/{batch.pk}/")
    assert response.status_code == 200, response.content
    lines = response.json()["lines"]
    assert {x["insured_number"]: (x["family_name"], x["initials"]) for x in lines} == expected
