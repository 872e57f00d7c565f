"""Issue 19, found in finance: what the finance screens say must be what is true.

- A new contract version dated on or before the current version's start is refused on its own start date
  with what is wrong, not with "the end lies before the start" of an end date nobody entered.
- Fixed shares stored with three decimals (33.334/33.333/33.333) are shown as stored, and their total as
  the true sum, 100 %, not three times 33,33 % (which reads as 99,99 %).
- "Explain this amount" of a phase split by fixed shares lists the care events behind the line too.

The world is the worked example of IGO finance (`fin`, tests/billing/conftest.py): Zilveren Kruis 2026
from 01-01-2026, natal split 60/40 by fixed shares.
"""

from __future__ import annotations

import datetime as dt

import pytest

from billing.models import ClaimLine, Contract
from tests.scenarios.billing import BILLING_NOW
from tests.scenarios.finance import full_trajectory
from tests.scenarios.http import row

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BILLING_NOW)]


def _version_post(valid_from: str) -> dict[str, str]:
    return {
        "valid_from": valid_from,
        "name": "ZK 2026 (eerder)",
        "submission_months": "12",
        "answer_days": "30",
        "code_prenatal": "IGBPRE",
        "amount_prenatal": "1200.00",
        "rules-TOTAL_FORMS": "0",
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "30",
    }


@pytest.mark.parametrize("valid_from", ["2025-12-01", "2026-01-01"])
def test_a_version_on_or_before_the_current_start_is_refused_on_its_start_with_the_reason(
    fin, client_for, valid_from
):
    """The current version starts 01-01-2026 and is open-ended; no end date was entered. A version from
    01-12-2025 (before) or 01-01-2026 (the same day) would end the current one on 30-11-2025 or 31-12-2025,
    before its own start: the error names the real cause, on the start date the user typed."""
    response = client_for(fin.finance).post(
        fin.url("contract_new_version", pk=fin.contract.pk), _version_post(valid_from)
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == ["valid_from"]
    assert errors["valid_from"] == [
        "Een nieuwe versie begint na het begin van de versie die ze opvolgt (01-01-2026). "
        "Voeg voor een periode daarvoor een apart contract met een einddatum toe."
    ]
    html = response.content.decode()
    assert "Het einde ligt voor het begin." not in html
    fin.contract.refresh_from_db()
    assert fin.contract.valid_until is None  # nothing stored
    assert Contract.unscoped.filter(tenant=fin.tenant).count() == 1


def test_the_same_refusal_in_english(fin, client_for):
    client = client_for(fin.finance)
    client.cookies["django_language"] = "en"
    response = client.post(fin.url("contract_new_version", pk=fin.contract.pk), _version_post("2025-12-01"))
    assert response.context["form"].errors["valid_from"] == [
        "A new version starts after the start of the version it follows (01-01-2026). For a period before "
        "that, add a separate contract with an end date."
    ]


def test_a_version_from_before_care_already_claimed_names_the_first_free_day(fin, client_for):
    """The full trajectory bills the postnatal phase from 30-08-2026 under the current version; a new
    version from 01-08-2026 would take that claim away: refused on its start, naming 31-08-2026."""
    full_trajectory(fin)
    fin.run()
    last = max(ClaimLine.unscoped.filter(contract=fin.contract).values_list("service_start", flat=True))
    assert last == dt.date(2026, 8, 30)
    response = client_for(fin.finance).post(
        fin.url("contract_new_version", pk=fin.contract.pk), _version_post("2026-08-01")
    )
    assert response.status_code == 400
    assert response.context["form"].errors["valid_from"] == [
        "Declaraties gebruiken deze versie al voor zorg vanaf 30-08-2026: een nieuwe versie kan beginnen "
        "vanaf 31-08-2026."
    ]
    fin.contract.refresh_from_db()
    assert fin.contract.valid_until is None
