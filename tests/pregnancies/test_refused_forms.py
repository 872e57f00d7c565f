"""Refused input keeps what she typed: the change of insurer on the client's page and the day list's two
forms (hours or an observation, the hours indicated) answer a refusal with the same page (400), the form
as it was filled in, the error at its field in Dutch and its card open; for htmx only the card. Nothing is
stored and nothing enters the audit trail; the page shown is access-logged like any other view of it. A
valid entry still redirects (Post/Redirect/Get), or for htmx answers the fresh card with its messages."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from django.utils import timezone

from igo.models import AuditEntry, Role
from pregnancies.models import AccessLogEntry, CareEvent, ClientInsurance, Episode, KraamzorgIndication
from tests.factories import ClientFactory, EpisodeFactory, InsurerFactory
from tests.scenarios.care import Care
from tests.scenarios.care_logging import ago, deliver, form_dt
from tests.scenarios.clock import local

pytestmark = [pytest.mark.django_db, pytest.mark.dated, pytest.mark.clock(local(2026, 11, 18, 14))]

HTMX = {"HX-Request": "true"}


def trail(care: Care) -> tuple[int, list[tuple[int | None, str, str]]]:
    """What a refusal must leave alone: the audit trail, and the access log's entries other than views."""
    audit = AuditEntry.objects.filter(tenant=care.tenant).count()
    access = list(
        AccessLogEntry.unscoped.filter(tenant=care.tenant)
        .exclude(action="view")
        .values_list("client_id", "action", "detail")
    )
    return audit, access


def views_since(care: Care, before: int) -> list[tuple[int | None, str]]:
    return [
        (e.client_id, e.detail)
        for e in AccessLogEntry.unscoped.filter(tenant=care.tenant, action="view", pk__gt=before).order_by(
            "pk"
        )
    ]


def last_entry() -> int:
    return AccessLogEntry.unscoped.order_by("-pk").values_list("pk", flat=True).first() or 0


def section(html: str, testid: str, tag: str = "section") -> str:
    match = re.search(rf'<{tag}[^>]*data-testid="{testid}".*?</{tag}>', html, re.S)
    assert match, f"no {tag} {testid}"
    return match.group(0)


# --- the change of insurer ----------------------------------------------------------------------------------


@pytest.fixture
def vgz(db) -> Any:
    return InsurerFactory(uzovi_code="7095", name="VGZ")


def insurances(care: Care) -> list[tuple[str, Any, Any]]:
    return list(
        ClientInsurance.unscoped.filter(client=care.client)
        .order_by("valid_from")
        .values_list("policy_number", "valid_from", "valid_until")
    )


def test_a_refused_change_of_insurer_shows_the_client_page_with_the_card_open(care, vgz, as_role):
    before, stored, entry = trail(care), insurances(care), last_entry()
    earlier = ClientInsurance.unscoped.get(client=care.client).valid_from - timedelta(days=1)
    response = as_role(Role.MIDWIFE).post(
        care.url(f"clients/{care.client.pk}/insurance/"),
        {"insurer": vgz.pk, "policy_number": "VGZ7", "valid_from": earlier.isoformat()},
    )
    assert response.status_code == 400
    html = response.content.decode()
    card = section(html, "insurance-change", "details")
    assert "open" in card.split(">")[0]  # the card is open
    field = card.split('name="valid_from"')[1].split("</div>")[0]
    assert "De cliënt heeft al een verzekering vanaf deze datum of later." in field
    assert 'value="VGZ7"' in card and f'value="{earlier.isoformat()}"' in card
    assert f'<option value="{vgz.pk}" selected>' in card
    assert "<h1>" in html  # the whole page: her name and pregnancies too
    assert insurances(care) == stored and trail(care) == before
    # The page names her: one view, marked as the refused form's.
    assert views_since(care, entry) == [(care.client.pk, "form refused")]


def test_a_missing_insured_number_is_refused_at_its_field_and_htmx_gets_the_card(care, vgz, as_role):
    before, stored = trail(care), insurances(care)
    response = as_role(Role.MIDWIFE).post(
        care.url(f"clients/{care.client.pk}/insurance/"),
        {"insurer": vgz.pk, "policy_number": "", "valid_from": "2026-12-01"},
        headers=HTMX,
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "<html" not in html and "<h1>" not in html  # only the card the form swaps
    card = section(html, "insurance-change", "details")
    assert "open" in card.split(">")[0]
    field = card.split('name="policy_number"')[1].split("</div>")[0]
    assert "Dit veld is vereist." in field
    assert 'value="2026-12-01"' in card
    # The field to mend has the focus: on a phone the browser brings it into view.
    assert re.search(r'<input[^>]*name="policy_number"[^>]*autofocus', card)
    assert insurances(care) == stored and trail(care) == before


def test_a_valid_change_of_insurer_still_redirects(care, vgz, as_role):
    url = care.url(f"clients/{care.client.pk}/insurance/")
    data = {"insurer": vgz.pk, "policy_number": "VGZ7", "valid_from": "2026-12-01"}
    first = insurances(care)[0]
    response = as_role(Role.MIDWIFE).post(url, data)
    assert (response.status_code, response["Location"]) == (302, care.url(f"clients/{care.client.pk}/"))
    # The first insurance ends the day before the new one.
    assert insurances(care) == [
        (first[0], first[1], date(2026, 11, 30)),
        ("VGZ7", date(2026, 12, 1), None),
    ]
    # By htmx: the whole page again (the list of insurances changed), by a client-side redirect.
    again = as_role(Role.MIDWIFE).post(
        url, {**data, "policy_number": "VGZ8", "valid_from": "2027-01-01"}, headers=HTMX
    )
    assert (again.status_code, again["HX-Redirect"]) == (200, care.url(f"clients/{care.client.pk}/"))
    assert [p for p, *_ in insurances(care)][-1] == "VGZ8"


# --- the day list -------------------------------------------------------------------------------------------


def on_the_day_list(care: Care) -> Care:
    care.update_episode(kraamzorg_organisation=care.kraamzorg, kraamzorg_indicated_hours=49)
    deliver(care, days_ago=2)
    return care


def second_mother(care: Care) -> Episode:
    """Another client of the carer's organisation, born yesterday: the list has two cards."""
    today = timezone.localdate()
    episode = EpisodeFactory(
        tenant=care.tenant,
        client=ClientFactory(tenant=care.tenant, family_name="Bakker", given_names="Sanne"),
        intake_date=today - timedelta(days=200),
        due_date=today + timedelta(days=5),
        gestational_age_at_intake=70,
        kraamzorg_organisation=care.kraamzorg,
    )
    labour = ago(days=1)
    Episode.unscoped.filter(pk=episode.pk).update(
        labour_started_at=labour, placenta_plus_2h_at=labour + timedelta(hours=4)
    )
    return episode


def indications(care: Care) -> list[tuple[Any, int | None]]:
    return list(
        KraamzorgIndication.unscoped.filter(episode=care.episode)
        .order_by("pk")
        .values_list("indicated_on", "hours")
    )


def test_a_refused_re_indication_shows_the_day_list_with_the_card_open(care, as_role):
    on_the_day_list(care)
    other = second_mother(care)
    before, stored, entry = trail(care), indications(care), last_entry()
    response = as_role(Role.MATERNITY_CARER).post(
        care.url(f"today/{care.episode.pk}/indication/"), {"hours": "90", "indicated_on": "2026-11-17"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    card = section(html, f"today-{care.episode.pk}")
    details = section(card, f"indication-card-{care.episode.pk}", "details")
    assert "open" in details.split(">")[0]  # open although an indication is on record
    hours = details.split('name="hours"')[1].split("</label>")[0]
    assert "Vul de geïndiceerde uren in, van 1 tot en met 80." in hours
    assert 'value="90"' in details and 'value="2026-11-17"' in details
    # The other card is there as always, closed and untouched.
    other_card = section(html, f"today-{other.pk}")
    assert "van 1 tot en met 80" not in other_card
    assert indications(care) == stored and trail(care) == before
    assert Episode.unscoped.get(pk=care.episode.pk).kraamzorg_indicated_hours == 49
    # The list names both clients, as when she opens it.
    assert sorted(views_since(care, entry)) == sorted(
        [(care.client.pk, "day list"), (other.client.pk, "day list")]
    )


def test_a_refused_re_indication_by_htmx_answers_only_its_card(care, as_role):
    on_the_day_list(care)
    other = second_mother(care)
    before, entry = trail(care), last_entry()
    response = as_role(Role.MATERNITY_CARER).post(
        care.url(f"today/{care.episode.pk}/indication/"),
        {"hours": "0", "indicated_on": "2026-11-17"},
        headers=HTMX,
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "<html" not in html and f'data-testid="today-{other.pk}"' not in html
    details = section(
        section(html, f"today-{care.episode.pk}"), f"indication-card-{care.episode.pk}", "details"
    )
    assert "open" in details.split(">")[0] and 'value="0"' in details
    assert "Vul de geïndiceerde uren in, van 1 tot en met 80." in details
    assert trail(care) == before
    assert views_since(care, entry) == [(care.client.pk, "day list")]  # only her card is shown


def test_a_valid_re_indication_still_redirects_and_by_htmx_answers_the_fresh_card(care, as_role):
    on_the_day_list(care)
    carer = as_role(Role.MATERNITY_CARER)
    url = care.url(f"today/{care.episode.pk}/indication/")
    response = carer.post(url, {"hours": "60", "indicated_on": "2026-11-17"})
    assert response.status_code == 302
    assert response["Location"].endswith(f"/today/#today-{care.episode.pk}")
    fresh = carer.post(url, {"hours": "64", "indicated_on": "2026-11-18"}, headers=HTMX)
    assert fresh.status_code == 200
    card = section(fresh.content.decode(), f"today-{care.episode.pk}")
    assert "De geïndiceerde uren voor Anna Jansen zijn opgeslagen." in card
    assert "/64 u" in card and 'name="hours"' in card
    assert [h for _, h in indications(care)][-2:] == [60, 64]


def hours_form(care: Care, *, quantity: str, code: str = "KZ_HOURS", note: str = "") -> dict[str, Any]:
    return {
        "event_type": care.type(code).pk,
        "occurred_at": form_dt(ago(hours=1)),
        "quantity": quantity,
        "note": note,
        "submission_key": str(uuid.uuid4()),
    }


def test_a_refused_entry_of_hours_by_htmx_answers_its_card_with_the_typed_values(care, as_role):
    on_the_day_list(care)
    before, entry = trail(care), last_entry()
    data = hours_form(care, quantity="0.3", note="Nachtdienst")
    response = as_role(Role.MATERNITY_CARER).post(
        care.url(f"today/{care.episode.pk}/log/"), data, headers=HTMX
    )
    assert response.status_code == 400
    card = section(response.content.decode(), f"today-{care.episode.pk}")
    quantity = card.split('name="quantity"')[1].split("</label>")[0]
    assert "kwartieren" in quantity  # at the field: hours are logged in quarters
    assert 'value="0.3"' in card and 'value="Nachtdienst"' in card
    assert f'value="{data["submission_key"]}"' in card  # the same entry when she sends it again
    assert not CareEvent.unscoped.filter(episode=care.episode).exists()
    assert trail(care) == before
    assert views_since(care, entry) == [(care.client.pk, "day list")]


def test_a_valid_entry_of_hours_by_htmx_answers_the_fresh_card_with_the_message(care, as_role):
    on_the_day_list(care)
    response = as_role(Role.MATERNITY_CARER).post(
        care.url(f"today/{care.episode.pk}/log/"), hours_form(care, quantity="4"), headers=HTMX
    )
    assert response.status_code == 200
    card = section(response.content.decode(), f"today-{care.episode.pk}")
    assert "4/49 u" in card and "vastgelegd voor Anna Jansen" in card
    assert 'value="4"' in card  # the fresh form proposes four hours again
    assert CareEvent.unscoped.filter(episode=care.episode).count() == 1
