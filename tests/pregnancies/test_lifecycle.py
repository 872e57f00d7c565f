"""The whole pregnancy lifecycle (issue 17): a second pregnancy for a client the IGO knows (service, page and
API), gravida and parity from her earlier episodes, refused while one is active; an intake with a known BSN
linking to her; an intake dated by the last period or an ultrasound, with contact details and the intake's
care event; the due date and the weeks of pregnancy today in the search results and on the episode page.

The clock stands on Wednesday 10 March 2027, 10:00 in Amsterdam: Anna Jansen (the `care` world) was taken in
60 days before, on 9 January 2027, at 12+0 weeks.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies import services
from pregnancies.models import AccessLogEntry, Birth, CareEvent, Client, Episode
from tests.factories import ClientFactory
from tests.scenarios.care import Care
from tests.scenarios.care_logging import counts
from tests.scenarios.clock import local
from tests.scenarios.http import api

NOW = local(2027, 3, 10, 10, 0)
TODAY = date(2027, 3, 10)
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]
KNOWN_BSN = "111222333"  # passes the eleven-test


def end_with_birth(care: Care, *, weeks: int, days: int = 0) -> Episode:
    """Anna's episode ended after a birth at weeks+days of its pregnancy."""
    episode = care.episode
    born = episode.due_date - timedelta(days=280 - (weeks * 7 + days))
    labour = local(born.year, born.month, born.day, 3, 0)
    Birth.unscoped.create(
        tenant=care.tenant,
        episode=episode,
        born_at=labour + timedelta(hours=2),
        place="home",
        mode="spontaneous",
    )
    return care.update_episode(
        labour_started_at=labour,
        placenta_plus_2h_at=labour + timedelta(hours=5),
        status="ended",
        end_date=born + timedelta(days=42),
        end_reason="completed",
    )


def start(care: Care, **extra: Any) -> Episode:
    fields: dict[str, Any] = {
        "client": care.client,
        "actor": care.user(Role.MIDWIFE),
        "today": TODAY,
        "now": NOW,
        "intake_date": TODAY,
        "dating_method": "lmp",
        "lmp_date": TODAY - timedelta(weeks=8),
        **extra,
    }
    with tenant_scope(care.tenant):
        return services.pregnancy_start(**fields)


# --- the service ----------------------------------------------------------------------------------


def test_a_second_pregnancy_after_a_term_birth_counts_one_more_pregnancy_and_one_more_birth(care):
    # Anna's first pregnancy, moved into the past: due 2025-11-01, ended after a birth at 39+2 weeks.
    care.update_episode(gravida=1, parity=0, intake_date=date(2025, 3, 1), due_date=date(2025, 11, 1))
    end_with_birth(care, weeks=39, days=2)

    episode = start(care)

    # Last period 8 weeks ago (2027-01-13): due 280 days later, 2027-10-20; 8+0 weeks at intake.
    assert episode.due_date == date(2027, 10, 20)
    assert episode.gestational_age_at_intake == 56
    assert (episode.gravida, episode.parity) == (2, 1)
    assert (episode.dating_method, episode.lmp_date) == ("lmp", date(2027, 1, 13))
    assert episode.coordinating_professional == care.midwife
    assert Episode.unscoped.filter(client=care.client).count() == 2
    # The intake's care event, for the midwife, at the moment she entered it, and the creations logged.
    event = CareEvent.unscoped.get(episode=episode)
    assert (event.event_type.code, event.professional, event.occurred_at) == ("INTAKE", care.midwife, NOW)
    logged = AccessLogEntry.unscoped.filter(client=care.client, action="create").order_by("pk")
    assert [e.object_type for e in logged] == ["episode", "careevent"]


@pytest.mark.parametrize(
    ("weeks", "days", "parity"),
    [
        pytest.param(24, 0, 1, id="birth-at-24+0-counts"),
        pytest.param(23, 6, 0, id="birth-at-23+6-does-not"),
        pytest.param(41, 3, 1, id="birth-at-41+3-counts"),
    ],
)
def test_parity_counts_an_earlier_birth_from_24_weeks_on(care, weeks, days, parity):
    care.update_episode(intake_date=date(2025, 3, 1), due_date=date(2025, 11, 1), gravida=1, parity=0)
    end_with_birth(care, weeks=weeks, days=days)
    episode = start(care)
    assert (episode.gravida, episode.parity) == (2, parity)


def test_a_pregnancy_that_ended_without_a_birth_counts_for_gravida_only(care):
    care.update_episode(gravida=3, parity=1)
    care.update_episode(status="ended", end_date=date(2027, 2, 1), end_reason="miscarriage")
    episode = start(care)
    assert (episode.gravida, episode.parity) == (4, 1)


def test_gravida_and_parity_given_replace_the_derived_ones(care):
    # She had a pregnancy elsewhere in between: the midwife corrects the numbers.
    care.update_episode(status="ended", end_date=date(2027, 2, 1), end_reason="miscarriage")
    episode = start(care, gravida=3, parity=1)
    assert (episode.gravida, episode.parity) == (3, 1)


def test_parity_must_be_lower_than_gravida(care):
    care.update_episode(status="ended", end_date=date(2027, 2, 1), end_reason="miscarriage")
    before = counts(care.tenant)
    with pytest.raises(ValidationError) as refused:
        start(care, gravida=2, parity=2)
    assert set(refused.value.message_dict) == {"parity"}
    assert counts(care.tenant) == before


def test_a_new_pregnancy_is_refused_while_one_is_active(care):
    before = counts(care.tenant)
    with pytest.raises(ValidationError) as refused:
        start(care)
    (error,) = refused.value.error_dict["__all__"]
    assert error.code == "active_episode" and error.params["episode"] == care.episode.pk
    assert "09-01-2027" in refused.value.messages[0]
    assert counts(care.tenant) == before


# --- dating ---------------------------------------------------------------------------------------


def test_an_ultrasound_dates_the_pregnancy_from_the_age_it_measured(care):
    care.update_episode(status="ended", end_date=date(2027, 2, 1), end_reason="miscarriage")
    # 9+3 weeks (66 days) measured on 1 March: due 214 days later, 2027-10-01.
    episode = start(
        care, dating_method="ultrasound", ultrasound_on=date(2027, 3, 1), ultrasound_gestational_days=66
    )
    assert episode.due_date == date(2027, 10, 1)
    assert (episode.ultrasound_on, episode.ultrasound_gestational_days, episode.lmp_date) == (
        date(2027, 3, 1),
        66,
        None,
    )
    assert episode.gestational_age_at_intake == 75  # 10+5 on 10 March


DATING_REFUSALS = [
    pytest.param({"dating_method": "lmp", "lmp_date": None}, "lmp_date", id="lmp-missing"),
    pytest.param({"dating_method": "lmp", "lmp_date": TODAY + timedelta(days=1)}, "lmp_date", id="lmp-after"),
    pytest.param({"dating_method": "lmp", "lmp_date": TODAY - timedelta(weeks=45)}, "lmp_date", id="lmp-45w"),
    pytest.param(
        {"dating_method": "ultrasound", "ultrasound_on": TODAY, "ultrasound_gestational_days": None},
        "ultrasound_gestational_days",
        id="ultrasound-age-missing",
    ),
    pytest.param(
        {"dating_method": "ultrasound", "ultrasound_on": TODAY, "ultrasound_gestational_days": 30 * 7},
        "ultrasound_gestational_days",
        id="ultrasound-at-30-weeks",
    ),
    pytest.param(
        {
            "dating_method": "ultrasound",
            "ultrasound_on": TODAY + timedelta(days=2),
            "ultrasound_gestational_days": 70,
        },
        "ultrasound_on",
        id="ultrasound-in-future",
    ),
    pytest.param({"dating_method": "due_date", "due_date": None}, "due_date", id="due-date-missing"),
]


@pytest.mark.parametrize(("changes", "field"), DATING_REFUSALS)
def test_dating_refusals_name_the_field_and_store_nothing(care, changes, field):
    care.update_episode(status="ended", end_date=date(2027, 2, 1), end_reason="miscarriage")
    before = counts(care.tenant)
    with pytest.raises(ValidationError) as refused:
        start(care, **{"lmp_date": None, **changes})
    assert set(refused.value.message_dict) == {field}
    assert counts(care.tenant) == before


# --- the pages ------------------------------------------------------------------------------------


def test_the_client_page_offers_a_new_pregnancy_only_when_none_is_active(care, as_role):
    midwife = as_role(Role.MIDWIFE)
    page = midwife.get(care.url(f"clients/{care.client.pk}/")).content.decode()
    assert care.url(f"clients/{care.client.pk}/episodes/new/") not in page
    assert care.url(f"episodes/{care.episode.pk}/") in page
    care.update_episode(status="ended", end_date=date(2027, 2, 1), end_reason="miscarriage")
    page = midwife.get(care.url(f"clients/{care.client.pk}/")).content.decode()
    assert care.url(f"clients/{care.client.pk}/episodes/new/") in page


def pregnancy_form(**extra: Any) -> dict[str, Any]:
    return {
        "intake_date": TODAY.isoformat(),
        "dating_method": "lmp",
        "lmp_date": (TODAY - timedelta(weeks=8)).isoformat(),
        "gravida": "2",
        "parity": "1",
        "line": "first",
        **extra,
    }


def test_the_new_pregnancy_page_proposes_gravida_and_parity_and_starts_it(care, as_role):
    care.update_episode(gravida=1, parity=0, intake_date=date(2025, 3, 1), due_date=date(2025, 11, 1))
    end_with_birth(care, weeks=40)
    midwife = as_role(Role.MIDWIFE)
    url = care.url(f"clients/{care.client.pk}/episodes/new/")
    form = midwife.get(url).context["form"]
    assert (form.initial["gravida"], form.initial["parity"]) == (2, 1)
    assert AccessLogEntry.unscoped.filter(client=care.client, action="view").count() == 1

    response = midwife.post(url, pregnancy_form(kraamzorg_organisation=care.kraamzorg.pk))
    new = Episode.unscoped.get(client=care.client, status="active")
    assert response.status_code == 302 and response["Location"] == care.url(f"episodes/{new.pk}/")
    assert (new.gravida, new.parity, new.due_date) == (2, 1, date(2027, 10, 20))
    assert new.kraamzorg_organisation == care.kraamzorg


def test_the_new_pregnancy_page_refuses_with_a_link_to_the_active_one(care, as_role):
    before = counts(care.tenant)
    response = as_role(Role.MIDWIFE).post(
        care.url(f"clients/{care.client.pk}/episodes/new/"), pregnancy_form()
    )
    assert response.status_code == 400
    assert response.context["form"].non_field_errors()
    assert f'href="{care.url(f"episodes/{care.episode.pk}/")}"' in response.content.decode()
    assert counts(care.tenant)["Episode"] == before["Episode"]


def test_the_new_pregnancy_page_puts_dating_errors_on_their_fields(care, as_role):
    care.update_episode(status="ended", end_date=date(2027, 2, 1), end_reason="miscarriage")
    data = pregnancy_form(dating_method="ultrasound", lmp_date="", ultrasound_on=TODAY.isoformat())
    response = as_role(Role.MIDWIFE).post(care.url(f"clients/{care.client.pk}/episodes/new/"), data)
    assert response.status_code == 400
    assert "ultrasound_weeks" in response.context["form"].errors


def test_another_igos_client_has_no_new_pregnancy_page(care, care_b, as_role):
    response = as_role(Role.MIDWIFE).get(care.url(f"clients/{care_b.client.pk}/episodes/new/"))
    assert response.status_code == 404


def intake(care: Care, **extra: Any) -> dict[str, Any]:
    return {
        "given_names": "Fatima",
        "family_name": "El Amrani",
        "date_of_birth": "1995-03-02",
        "bsn": KNOWN_BSN,
        "address": "Oudegracht 12",
        "postcode": "3511 ab",
        "city": "Utrecht",
        "phone": "06-12345678",
        "gp_name": "Huisartsenpraktijk Lombok",
        "insurer": care.insurer.pk,
        "policy_number": "ZK123456",
        "intake_date": TODAY.isoformat(),
        "dating_method": "ultrasound",
        "ultrasound_on": (TODAY - timedelta(days=3)).isoformat(),
        "ultrasound_weeks": "9",
        "ultrasound_days": "3",
        "gravida": "2",
        "parity": "0",
        "line": "first",
        "kraamzorg_organisation": care.kraamzorg.pk,
        **extra,
    }


def test_the_intake_takes_dating_contact_details_gp_and_maternity_care_and_logs_its_event(care, as_role):
    response = as_role(Role.MIDWIFE).post(care.url("clients/new/"), intake(care))
    assert response.status_code == 302
    client = Client.unscoped.get(tenant=care.tenant, bsn=KNOWN_BSN)
    assert (client.address, client.postcode, client.city, client.phone, client.gp_name) == (
        "Oudegracht 12",
        "3511AB",
        "Utrecht",
        "06-12345678",
        "Huisartsenpraktijk Lombok",
    )
    episode = Episode.unscoped.get(client=client)
    # 9+3 (66 days) on 7 March: due 214 days later, 2027-10-07; 9+6 at intake on 10 March.
    assert (episode.due_date, episode.gestational_age_at_intake) == (date(2027, 10, 7), 69)
    assert (episode.gravida, episode.parity, episode.kraamzorg_organisation) == (2, 0, care.kraamzorg)
    event = CareEvent.unscoped.get(episode=episode)
    assert (event.event_type.code, event.professional, event.created_by) == (
        "INTAKE",
        care.midwife,
        care.user(Role.MIDWIFE),
    )


def test_an_intake_entered_afterwards_logs_its_event_at_the_start_of_its_day(care, as_role):
    data = intake(care, intake_date=(TODAY - timedelta(days=2)).isoformat())
    assert as_role(Role.MIDWIFE).post(care.url("clients/new/"), data).status_code == 302
    event = CareEvent.unscoped.get(episode__client__bsn=KNOWN_BSN, episode__tenant=care.tenant)
    assert event.occurred_at == local(2027, 3, 8, 0, 0)


INTAKE_REFUSALS = [
    pytest.param({"dating_method": "lmp", "lmp_date": ""}, "lmp_date", id="lmp-missing"),
    pytest.param({"ultrasound_weeks": "30"}, "ultrasound_weeks", id="ultrasound-at-30-weeks"),
    pytest.param({"phone": "bel me maar"}, "phone", id="phone-not-a-number"),
    pytest.param({"gravida": "1", "parity": "1"}, "parity", id="parity-not-below-gravida"),
    pytest.param({"dating_method": "due_date"}, "due_date", id="due-date-missing"),
]


@pytest.mark.parametrize(("changes", "field"), INTAKE_REFUSALS)
def test_the_intake_refuses_bad_dating_and_details_on_their_field(care, as_role, changes, field):
    before = counts(care.tenant)
    response = as_role(Role.MIDWIFE).post(care.url("clients/new/"), intake(care, **changes))
    assert response.status_code == 400
    assert field in response.context["form"].errors, response.context["form"].errors
    assert counts(care.tenant) == before


def test_an_intake_with_a_known_bsn_links_to_her_page_and_logs_that_she_was_found(care, as_role):
    known = ClientFactory(tenant=care.tenant, bsn=KNOWN_BSN)
    response = as_role(Role.MIDWIFE).post(care.url("clients/new/"), intake(care))
    assert response.status_code == 400
    assert f'href="{care.url(f"clients/{known.pk}/")}"' in response.content.decode()
    (entry,) = AccessLogEntry.unscoped.filter(client=known)
    assert (entry.user, entry.action) == (care.user(Role.MIDWIFE), "search")


def test_an_intake_with_the_bsn_of_another_igos_client_reveals_nothing_and_registers_her(
    care, care_b, as_role
):
    elsewhere = ClientFactory(tenant=care_b.tenant, bsn=KNOWN_BSN)
    response = as_role(Role.MIDWIFE).post(care.url("clients/new/"), intake(care))
    assert response.status_code == 302
    assert not AccessLogEntry.unscoped.filter(client=elsewhere).exists()


def test_an_intake_by_a_maternity_carer_logs_no_intake_event(care, as_role):
    # The catalogue lets only obstetric disciplines log an intake; the registration itself stands.
    response = as_role(Role.MATERNITY_CARER).post(care.url("clients/new/"), intake(care))
    assert response.status_code == 302
    assert not CareEvent.unscoped.filter(episode__client__bsn=KNOWN_BSN, tenant=care.tenant).exists()


# --- what the clinician sees ----------------------------------------------------------------------


def test_search_results_show_date_of_birth_due_date_and_weeks_today(care, as_role):
    # Anna: due 2027-07-24, so on 10 March 2027 she is 20+4 (144 days).
    response = as_role(Role.MIDWIFE).post(care.url("clients/"), {"q": "Jansen"})
    page = response.content.decode()
    assert "24-07-2027" in page and "20+4" in page
    assert care.client.date_of_birth.strftime("%d-%m-%Y") in page


def test_the_episode_page_shows_the_weeks_today_and_the_due_date(care, as_role):
    page = as_role(Role.MIDWIFE).get(care.url(f"episodes/{care.episode.pk}/")).content.decode()
    assert "20+4" in page and "24-07-2027" in page


# --- the API --------------------------------------------------------------------------------------


def test_the_api_starts_a_second_pregnancy_with_derived_numbers(care):
    care.update_episode(gravida=1, parity=0, intake_date=date(2025, 3, 1), due_date=date(2025, 11, 1))
    end_with_birth(care, weeks=38)
    body = {"intake_date": TODAY.isoformat(), "dating_method": "lmp", "lmp_date": "2027-01-13"}
    response = api(care.user(Role.MIDWIFE)).post(
        f"/api/t/{care.tenant.slug}/clients/{care.client.pk}/episodes/", body, format="json"
    )
    assert response.status_code == 201, response.json()
    answer = response.json()
    assert (answer["gravida"], answer["parity"], answer["due_date"]) == (2, 1, "2027-10-20")
    episode = Episode.unscoped.get(pk=answer["id"], client=care.client)
    assert CareEvent.unscoped.get(episode=episode).event_type.code == "INTAKE"
    assert AccessLogEntry.unscoped.filter(client=care.client, action="create", object_type="episode").exists()


def test_the_api_refuses_a_second_active_pregnancy_and_hides_another_igos_client(care, care_b):
    midwife = api(care.user(Role.MIDWIFE))
    body = {"intake_date": TODAY.isoformat(), "dating_method": "lmp", "lmp_date": "2027-01-13"}
    own = midwife.post(f"/api/t/{care.tenant.slug}/clients/{care.client.pk}/episodes/", body, format="json")
    assert own.status_code == 400 and set(own.json()) == {"non_field_errors"}
    other = midwife.post(
        f"/api/t/{care.tenant.slug}/clients/{care_b.client.pk}/episodes/", body, format="json"
    )
    assert other.status_code == 404
    assert Episode.unscoped.filter(client=care_b.client).count() == 1


def test_the_api_intake_accepts_the_dating_and_contact_fields(care):
    body = {
        "given_names": "Fatima",
        "family_name": "El Amrani",
        "date_of_birth": "1995-03-02",
        "bsn": KNOWN_BSN,
        "insurer": care.insurer.uzovi_code,
        "policy_number": "ZK123456",
        "intake_date": TODAY.isoformat(),
        "dating_method": "ultrasound",
        "ultrasound_on": "2027-03-07",
        "ultrasound_gestational_days": 66,
        "phone": "+31 6 1234 5678",
        "gp_name": "Huisartsenpraktijk Lombok",
        "kraamzorg_organisation": care.kraamzorg.agb_code,
    }
    response = api(care.user(Role.MIDWIFE)).post(f"/api/t/{care.tenant.slug}/clients/", body, format="json")
    assert response.status_code == 201, response.json()
    episode = Episode.unscoped.get(pk=response.json()["episode_id"])
    assert (episode.due_date, episode.kraamzorg_organisation) == (date(2027, 10, 7), care.kraamzorg)
    assert episode.client.phone == "+31 6 1234 5678"
    body["bsn"] = "100000009"
    body["ultrasound_gestational_days"] = 20
    refused = api(care.user(Role.MIDWIFE)).post(f"/api/t/{care.tenant.slug}/clients/", body, format="json")
    assert refused.status_code == 400 and set(refused.json()) == {"ultrasound_gestational_days"}
