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
import re
from decimal import Decimal

import pytest
from django.utils import translation

from billing import services, statements
from billing.files.pdf import statement_pdf
from billing.models import ClaimLine, Contract, SplitRule
from igo.tenancy import tenant_scope
from pregnancies.models import AccessLogEntry, CareEvent
from tests.factories import CareEventFactory, ProfessionalFactory
from tests.scenarios.billing import BILLING_NOW, at
from tests.scenarios.files import pdf_text
from tests.scenarios.finance import Fin, full_trajectory
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


# --- fixed shares of a third ------------------------------------------------------------------------


def _thirds(fin: Fin) -> SplitRule:
    """A second 2026 version, from the same 01-01-2026 (the higher version wins): natal by fixed shares of
    33.334 / 33.333 / 33.333 % (practice, hospital, kraamzorg), which sum to exactly 100; the rest as in the
    worked rule (5 % overhead, 2 % reserve)."""
    with tenant_scope(fin.tenant):
        return services.split_rule_create(
            tenant=fin.tenant,
            actor=fin.finance,
            year=2026,
            valid_from=dt.date(2026, 1, 1),
            overhead_pct=Decimal("5"),
            reserve_pct=Decimal("2"),
            phases={
                "prenatal": {"method": "care"},
                "natal": {
                    "method": "fixed",
                    "shares": {
                        fin.practice.pk: Decimal("33.334"),
                        fin.hospital.pk: Decimal("33.333"),
                        fin.kraam.pk: Decimal("33.333"),
                    },
                },
                "postnatal": {"method": "care", "minimums": {fin.practice.pk: 10}},
            },
            rates={fin.types["PRE_CHECK"].pk: Decimal("50"), fin.types["KZ_HOURS"].pk: Decimal("35")},
        )


def _two_decimals_of_a_third(text: str) -> list[str]:
    """Every "33,33%" / "33.33%" not followed by a third decimal: a third shown as if it were 33.33."""
    return re.findall(r"33[,.]33%", text)


@pytest.mark.parametrize(
    ("language", "shares", "total"),
    [
        ("nl", ["33,334%", "33,333%", "33,333%"], "100,00%"),
        ("en", ["33.334%", "33.333%", "33.333%"], "100.00%"),
    ],
)
def test_split_rule_list_shows_thirds_as_stored_and_their_true_total(
    fin, client_for, language, shares, total
):
    rule = _thirds(fin)
    client = client_for(fin.finance)
    client.cookies["django_language"] = language
    html = client.get(fin.url("split_rule_list")).content.decode()
    natal = row(html, f"split-phase-{rule.pk}-natal")
    found = re.findall(r"\d+[,.]\d+%", natal)
    assert sorted(found[:-1]) == sorted(shares) and found[-1] == total  # three shares, then "Together"
    assert _two_decimals_of_a_third(natal) == []
    # The worked rule's 60/40 keeps its two decimals, and its total is 100 as well.
    worked = SplitRule.unscoped.get(tenant=fin.tenant, version=1)
    assert re.findall(r"\d+[,.]\d+%", row(html, f"split-phase-{worked.pk}-natal")) == (
        ["60,00%", "40,00%", "100,00%"] if language == "nl" else ["60.00%", "40.00%", "100.00%"]
    )


def _natal_thirds(fin: Fin) -> tuple[ClaimLine, CareEvent]:
    """The full trajectory plus a polyclinic delivery by the practice on 30-08-2026, billed under the thirds.

    Natal: tariff € 900.00; overhead 5 % = € 45.00, reserve 2 % = € 18.00, the members € 837.00.
    837 × 0.33334 = 279.00558, 837 × 0.33333 = 278.99721 (twice): in cents 27900, 27899, 27899 make 83698,
    and the 2 cents left go to the largest remainders, .721 and .721: € 279.00 each."""
    _thirds(fin)
    ep = full_trajectory(fin)
    delivery = CareEventFactory(
        tenant=fin.tenant,
        episode=ep,
        event_type=fin.types["DELIV_POLI"],
        professional=ProfessionalFactory(tenant=fin.tenant, organisation=fin.practice),
        phase="natal",
        occurred_at=at(2026, 8, 30, 12),
    )
    fin.run()
    return ClaimLine.unscoped.get(episode=ep, phase="natal"), delivery


def test_explain_shows_fixed_thirds_as_stored(fin, client_for):
    line, _delivery = _natal_thirds(fin)
    html = client_for(fin.finance).get(fin.url("claim_line_explain", pk=line.pk)).content.decode()
    assert row(html, f"alloc-member-{fin.practice.pk}") == "Praktijk De Wieg vast aandeel 33,334% € 279,00"
    assert row(html, f"alloc-member-{fin.hospital.pk}") == "Ziekenhuis Oost vast aandeel 33,333% € 279,00"
    assert row(html, f"alloc-member-{fin.kraam.pk}") == "Kraamzorg Noord vast aandeel 33,333% € 279,00"
    assert row(html, "alloc-members-shares") == "aandelen samen 100,00%"
    assert _two_decimals_of_a_third(row(html, "explain-allocations")) == []


def test_member_statement_pdf_shows_the_fixed_third_as_stored(fin, tmp_path):
    line, _delivery = _natal_thirds(fin)
    with tenant_scope(fin.tenant), translation.override("nl"):
        statement = statements.member_statement(
            tenant=fin.tenant,
            organisation=fin.hospital,
            period=dt.date(2026, 11, 1),
            today=dt.date(2026, 11, 20),
        )
        assert [r.line.pk for r in statement.rows] == [line.pk]
        text, _pages = pdf_text(statement_pdf(statement), tmp_path)
    assert "vast aandeel 33,333%" in " ".join(text.split())
    assert _two_decimals_of_a_third(text) == []


@pytest.mark.parametrize(("language", "total"), [("nl", "99,999"), ("en", "99.999")])
def test_three_thirds_of_33_333_are_refused_with_their_sum_in_the_users_language(
    fin, client_for, language, total
):
    """33.333 × 3 = 99.999, not 100: refused on the phase, with the sum written as the language writes it."""
    before = SplitRule.unscoped.count()
    client = client_for(fin.finance)
    client.cookies["django_language"] = language
    response = client.post(
        fin.url("split_rule_create"),
        {
            "year": "2026",
            "valid_from": "2026-07-01",
            "method_prenatal": "care",
            "method_natal": "fixed",
            f"pct_natal_{fin.practice.pk}": "33.333",
            f"pct_natal_{fin.hospital.pk}": "33.333",
            f"pct_natal_{fin.kraam.pk}": "33.333",
            "method_postnatal": "care",
            f"rate_{fin.types['PRE_CHECK'].pk}": "45",
        },
    )
    assert response.status_code == 400
    assert response.context["form"].errors["method_natal"] == [
        f"De aandelen voor fase nataal tellen op tot {total}%, niet tot 100%."
        if language == "nl"
        else f"The shares of the natal phase add up to {total}%, not 100%."
    ]
    assert SplitRule.unscoped.count() == before


# --- explain: the care behind a fixed split -------------------------------------------------------------


def test_explain_a_fixed_split_lists_the_care_events_behind_the_line_and_logs_the_read(fin, client_for):
    """The natal line of the worked rule (60/40 fixed) with a polyclinic delivery by the practice and a
    natal event voided afterwards: the active natal care is listed (date, type, quantity, organisation),
    the voided event is not, other phases' care is not, and the read is in the access log."""
    ep = full_trajectory(fin)
    mw = ProfessionalFactory(tenant=fin.tenant, organisation=fin.practice)
    delivery = CareEventFactory(
        tenant=fin.tenant,
        episode=ep,
        event_type=fin.types["DELIV_POLI"],
        professional=mw,
        phase="natal",
        occurred_at=at(2026, 8, 30, 12),
    )
    voided = CareEventFactory(
        tenant=fin.tenant,
        episode=ep,
        event_type=fin.types["DELIV_HOME"],
        professional=mw,
        phase="natal",
        occurred_at=at(2026, 8, 30, 11),
        status="voided",
    )
    fin.run()
    line = ClaimLine.unscoped.get(episode=ep, phase="natal")
    before = AccessLogEntry.unscoped.filter(user=fin.finance, client=ep.client).count()
    html = client_for(fin.finance).get(fin.url("claim_line_explain", pk=line.pk)).content.decode()
    assert "vaste verdeling" in row(html, "explain-fixed")
    assert row(html, f"explain-event-{delivery.pk}") == (
        "30-08-2026 12:00 DELIV_POLI Poliklinische bevalling 1 stuk Praktijk De Wieg"
    )
    assert f"explain-event-{voided.pk}" not in html
    prenatal = CareEvent.unscoped.filter(episode=ep, phase="prenatal").first()
    assert prenatal is not None and f"explain-event-{prenatal.pk}" not in html
    assert (
        AccessLogEntry.unscoped.filter(
            user=fin.finance, client=ep.client, object_type="claimline", object_id=str(line.pk)
        ).count()
        == before + 1
    )
