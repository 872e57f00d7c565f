"""Intake through the page: a client, her insurance, an episode and its first line in one step; bad input
(BSN, dates, gestational age) refused on its field with nothing stored; a BSN once per tenant.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.utils import timezone

from igo.models import Insurer, Role
from pregnancies.models import Client, ClientInsurance, Episode, LineTransfer
from tests.factories import ClientFactory
from tests.scenarios.care_logging import INVALID_BSN, access_entries, counts, local

pytestmark = [pytest.mark.django_db, pytest.mark.dated]
VALID_BSN = "111222333"  # passes the eleven-test


def intake_data(insurer: Insurer, **extra: Any) -> dict[str, Any]:
    intake = timezone.localdate() - timedelta(days=3)
    return {
        "given_names": "Fatima",
        "family_name": "El Amrani",
        "date_of_birth": "1995-03-02",
        "bsn": VALID_BSN,
        "postcode": "3511 ab",
        "insurer": insurer.pk,
        "policy_number": "ZK123456",
        "intake_date": intake.isoformat(),
        "due_date": (intake + timedelta(days=280 - 70)).isoformat(),
        "gestational_age_weeks": "",
        "gestational_age_days": "",
        "parity": "1",
        "line": "first",
        **extra,
    }


def test_intake_creates_client_insurance_episode_and_first_line(care, as_role):
    before = counts(care.tenant)
    midwife = care.user(Role.MIDWIFE)
    data = intake_data(care.insurer)
    response = as_role(Role.MIDWIFE).post(care.url("clients/new/"), data)

    assert response.status_code == 302
    client = Client.unscoped.get(tenant=care.tenant, bsn=VALID_BSN)
    episode = Episode.unscoped.get(client=client)
    assert response["Location"] == care.url(f"episodes/{episode.pk}/")
    assert VALID_BSN not in response["Location"]
    after = counts(care.tenant)
    for model in ("Client", "ClientInsurance", "Episode", "LineTransfer"):
        assert after[model] == before[model] + 1, model

    assert (client.family_name, client.given_names, client.postcode) == ("El Amrani", "Fatima", "3511AB")
    assert client.date_of_birth == date(1995, 3, 2)
    insurance = ClientInsurance.unscoped.get(client=client)
    intake = date.fromisoformat(data["intake_date"])
    assert (insurance.insurer, insurance.policy_number) == (care.insurer, "ZK123456")
    assert (insurance.valid_from, insurance.valid_until) == (intake, None)
    assert episode.tenant == care.tenant
    assert (episode.intake_date, episode.due_date) == (intake, date.fromisoformat(data["due_date"]))
    assert episode.gestational_age_at_intake == 70  # derived: 280 - (due - intake)
    assert episode.parity == 1
    assert episode.status == "active"
    assert episode.coordinating_professional == care.midwife
    transfer = LineTransfer.unscoped.get(episode=episode)
    assert transfer.line == "first"
    assert transfer.effective_at == local(intake, 0, 0)
    assert transfer.created_by == midwife
    created = access_entries(care, client=client, action="create")
    # ... and the intake's own care event, logged by the intake for the midwife (issue 17).
    assert [(e.user, e.object_type) for e in created] == [
        (midwife, "client"),
        (midwife, "episode"),
        (midwife, "careevent"),
    ]


def test_intake_stores_an_entered_gestational_age_within_14_days_of_the_due_date(care, as_role):
    # Derived 70 days; 12 weeks = 84 days is 14 days off, the largest difference accepted.
    data = intake_data(care.insurer, gestational_age_weeks="12", gestational_age_days="0")
    response = as_role(Role.MIDWIFE).post(care.url("clients/new/"), data)
    assert response.status_code == 302
    assert Episode.unscoped.get(client__bsn=VALID_BSN, tenant=care.tenant).gestational_age_at_intake == 84


INTAKE_REFUSALS = [  # an int is a day offset from today, resolved when the test runs
    pytest.param({"bsn": INVALID_BSN}, "bsn", id="bsn-fails-eleven-test"),
    pytest.param({"bsn": "11122233"}, "bsn", id="bsn-8-digits"),
    pytest.param({"due_date": -3}, "due_date", id="due-equals-intake"),
    pytest.param({"due_date": -10}, "due_date", id="due-before-intake"),
    pytest.param({"due_date": -3 + 281}, "due_date", id="due-more-than-280-days-after-intake"),
    pytest.param({"intake_date": 1, "due_date": 200}, "intake_date", id="intake-in-future"),
    pytest.param({"date_of_birth": 1}, "date_of_birth", id="date-of-birth-in-future"),
    # The insured number as on the card: letters and digits only, never altered afterwards (issue 16).
    pytest.param(
        {"policy_number": "MZ\u200b12\u20113456"}, "policy_number", id="insured-number-invisible-chars"
    ),
    pytest.param({"policy_number": "ZK-123456"}, "policy_number", id="insured-number-hyphen"),
    pytest.param({"policy_number": "1234567890123456"}, "policy_number", id="insured-number-16-long"),
    # A name the claim file cannot carry is refused at entry, not sent as question marks.
    pytest.param({"family_name": "Иванова"}, "family_name", id="family-name-cyrillic"),
    pytest.param({"given_names": "美玲"}, "given_names", id="given-names-chinese"),
]


@pytest.mark.parametrize(("changes", "field"), INTAKE_REFUSALS)
def test_intake_refuses_bad_input_with_field_error_and_stores_nothing(care, as_role, changes, field):
    today = timezone.localdate()
    changes = {
        k: (today + timedelta(days=v)).isoformat() if isinstance(v, int) else v for k, v in changes.items()
    }
    before = counts(care.tenant)
    response = as_role(Role.MIDWIFE).post(care.url("clients/new/"), intake_data(care.insurer, **changes))
    assert response.status_code == 400
    form = response.context["form"]
    assert field in form.errors, form.errors
    assert counts(care.tenant) == before


def test_intake_keeps_names_in_latin_script_with_any_diacritics_as_entered(care, as_role):
    data = intake_data(care.insurer, family_name="Yıldız-Łukaszewska", given_names="Nguyễn Thị Ánh")
    response = as_role(Role.MIDWIFE).post(care.url("clients/new/"), data)
    assert response.status_code == 302
    client = Client.unscoped.get(tenant=care.tenant, bsn=VALID_BSN)
    assert (client.family_name, client.given_names) == ("Yıldız-Łukaszewska", "Nguyễn Thị Ánh")
    assert ClientInsurance.unscoped.get(client=client).policy_number == "ZK123456"


def test_intake_refuses_a_bsn_already_registered_in_the_tenant(care, as_role):
    known = ClientFactory(tenant=care.tenant, bsn=VALID_BSN)
    before = counts(care.tenant)
    response = as_role(Role.MIDWIFE).post(care.url("clients/new/"), intake_data(care.insurer))
    assert response.status_code == 400
    assert "bsn" in response.context["form"].errors
    # Nothing stored but the access-log entry of learning that she is a client here, with a link to her
    # page (issue 17; tests/pregnancies/test_lifecycle.py).
    after = counts(care.tenant)
    assert after.pop("AccessLogEntry") == before.pop("AccessLogEntry") + 1
    assert after == before
    assert response.context["known_client"] == known


def test_intake_accepts_a_bsn_registered_in_another_tenant(care, world_b, as_role):
    ClientFactory(tenant=world_b.tenant, bsn=VALID_BSN)
    response = as_role(Role.MIDWIFE).post(care.url("clients/new/"), intake_data(care.insurer))
    assert response.status_code == 302
    assert Client.unscoped.filter(bsn=VALID_BSN).count() == 2
    assert Client.unscoped.filter(bsn=VALID_BSN, tenant=care.tenant).count() == 1


def test_intake_refuses_a_gestational_age_that_does_not_match_the_due_date(care, as_role):
    # Derived 70 days; 13 weeks = 91 days is 21 days off.
    before = counts(care.tenant)
    data = intake_data(care.insurer, gestational_age_weeks="13", gestational_age_days="0")
    response = as_role(Role.MIDWIFE).post(care.url("clients/new/"), data)
    assert response.status_code == 400
    all_errors = " ".join(str(e) for errors in response.context["form"].errors.values() for e in errors)
    assert "91" in all_errors and "70" in all_errors
    assert counts(care.tenant) == before


def test_intake_gestational_age_mismatch_is_reported_on_the_gestational_age_field(care, as_role):
    data = intake_data(care.insurer, gestational_age_weeks="13", gestational_age_days="0")
    response = as_role(Role.MIDWIFE).post(care.url("clients/new/"), data)
    assert response.status_code == 400
    assert "gestational_age_weeks" in response.context["form"].errors
