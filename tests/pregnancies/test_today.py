"""The maternity carer's *Vandaag*: every client of her organisation from the birth on (not only after her
organisation logged care), with the day of the maternity period, the address, the hours logged against the
hours indicated (LIP), a warning at the indication and the confirmation before more than 80 hours. A valid
entry answers with a redirect to the day list; a refused one shows the list again (400) with the form on its
card as she filled it in, and a reload of the form's address (GET) goes back to the list, never a 405."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone, translation

from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies import selectors, services
from pregnancies.models import AccessLogEntry, Birth, CareEvent, Episode
from tests.factories import ClientFactory, EpisodeFactory, MemberOrganisationFactory
from tests.scenarios.care import Care
from tests.scenarios.care_logging import ago, deliver, form_dt, log
from tests.scenarios.clock import local

pytestmark = [pytest.mark.django_db, pytest.mark.clock(local(2026, 11, 18, 14))]


def child_born(care: Care, *, hours_ago: float) -> Birth:
    """A birth recorded on *Geboorten* only: no care-path dates yet (issue 17, finding 2)."""
    return Birth.unscoped.create(
        tenant=care.tenant,
        episode=care.episode,
        child_number=1,
        born_at=ago(hours=hours_ago),
        place="home",
        mode="spontaneous",
    )


def other_mother(care: Care, *, kraamzorg: Any = None, days_ago: int = 1) -> Episode:
    """A second client of the IGO who gave birth `days_ago` days ago."""
    today = timezone.localdate()
    episode = EpisodeFactory(
        tenant=care.tenant,
        client=ClientFactory(tenant=care.tenant, family_name="Bakker", given_names="Sanne"),
        intake_date=today - timedelta(days=200),
        due_date=today + timedelta(days=5),
        gestational_age_at_intake=70,
        kraamzorg_organisation=kraamzorg,
    )
    labour = ago(days=days_ago)
    Episode.unscoped.filter(pk=episode.pk).update(
        labour_started_at=labour, placenta_plus_2h_at=labour + timedelta(hours=4)
    )
    return episode


def day_list(care: Care) -> list[Episode]:
    with tenant_scope(care.tenant):
        return selectors.my_clients_today(user=care.user(Role.MATERNITY_CARER), today=timezone.localdate())


def hours_form(care: Care, *, quantity: str, code: str = "KZ_HOURS", **extra: Any) -> dict[str, Any]:
    return {
        "event_type": care.type(code).pk,
        "occurred_at": form_dt(ago(hours=1)),
        "quantity": quantity,
        "note": "",
        "submission_key": str(uuid.uuid4()),
        **extra,
    }


def card(html: str, episode: Episode) -> str:
    match = re.search(rf'<section[^>]*data-testid="today-{episode.pk}".*?</section>', html, re.S)
    assert match, f"no card for episode {episode.pk}"
    return match.group(0)


def test_a_client_of_her_organisation_is_on_the_list_from_the_birth_on(care):
    care.update_episode(kraamzorg_organisation=care.kraamzorg)
    assert day_list(care) == []  # still pregnant
    child_born(care, hours_ago=3)
    # No care logged yet by anyone, no care-path dates: she is on the list because of the birth.
    assert [e.pk for e in day_list(care)] == [care.episode.pk]
    assert day_list(care)[0].maternity_day == 1


def test_another_organisations_client_is_not_on_the_list_unless_hers_cared_for_her(care):
    rival = MemberOrganisationFactory(tenant=care.tenant, kind="kraamzorg", name="Kraamzorg De Wieg")
    theirs = other_mother(care, kraamzorg=rival)
    mine = other_mother(care, kraamzorg=care.kraamzorg, days_ago=2)
    assert [e.pk for e in day_list(care)] == [mine.pk]
    # Her organisation stepped in for a colleague: the client is on her list too.
    care.episode = theirs
    log(care, "KZ_HOURS", at=ago(hours=5), role=Role.MATERNITY_CARER, quantity=3)
    assert [(e.pk, e.maternity_day) for e in day_list(care)] == [(theirs.pk, 2), (mine.pk, 3)]


def test_the_list_ends_with_the_maternity_period(care):
    care.update_episode(kraamzorg_organisation=care.kraamzorg)
    deliver(care, days_ago=6)
    assert [e.maternity_day for e in day_list(care)] == [7]
    care.update_episode(kraamzorg_ended_on=timezone.localdate() - timedelta(days=1))
    assert day_list(care) == []
    # Without a recorded end the list lets her go two weeks after the birth.
    care.update_episode(
        kraamzorg_ended_on=None,
        labour_started_at=ago(days=20),
        placenta_plus_2h_at=ago(days=20) + timedelta(hours=6),
    )
    Birth.unscoped.filter(episode=care.episode).update(born_at=ago(days=20) + timedelta(hours=3))
    assert day_list(care) == []


def test_the_card_shows_day_address_and_hours_against_the_indication(care, as_role):
    care.update_episode(kraamzorg_organisation=care.kraamzorg, kraamzorg_indicated_hours=49)
    care.client.address, care.client.city = "Lindelaan 4", "Arnhem"
    care.client.save()
    deliver(care, days_ago=2)
    for quantity in ("12", "12", "7"):
        log(care, "KZ_HOURS", at=ago(hours=20), role=Role.MATERNITY_CARER, quantity=quantity)
    response = as_role(Role.MATERNITY_CARER).get(care.url("today/"))
    assert response.status_code == 200
    html = card(response.content.decode(), care.episode)
    assert "dag 3" in html
    assert "Lindelaan 4" in html and "Arnhem" in html
    assert "31/49 u" in html
    assert 'data-testid="indication-reached' not in html
    # Her care is read: one entry on the access log, for the list (NEN 7513).
    entries = AccessLogEntry.unscoped.filter(tenant=care.tenant, detail="day list")
    assert [(e.client_id, e.action) for e in entries] == [(care.client.pk, "view")]


def test_the_card_says_twins_and_a_stillborn_child_before_she_rings_the_bell(care, as_role):
    # Twins born two days ago: child 1 alive, child 2 stillborn. Sanne Bakker, on the same list, had one
    # child, who died yesterday. The card says so in a badge each, and nothing more of the birth.
    care.update_episode(kraamzorg_organisation=care.kraamzorg)
    deliver(care, days_ago=2)
    deliver(care, days_ago=2, child=2, outcome="stillborn")
    single = other_mother(care, kraamzorg=care.kraamzorg, days_ago=3)
    Birth.unscoped.create(
        tenant=care.tenant,
        episode=single,
        child_number=1,
        born_at=ago(days=3),
        place="home",
        mode="spontaneous",
        neonatal_death_on=timezone.localdate() - timedelta(days=1),
    )
    html = as_role(Role.MATERNITY_CARER).get(care.url("today/")).content.decode()
    twins = card(html, care.episode)
    assert "tweeling" in twins and "kind doodgeboren" in twins
    assert "overleden" not in twins
    died = card(html, single)
    assert "kind overleden na de geboorte" in died
    assert "tweeling" not in died and "doodgeboren" not in died
    with tenant_scope(care.tenant):
        listed = {e.pk: e for e in day_list(care)}
    assert (listed[care.episode.pk].children, listed[care.episode.pk].stillborn) == (2, 1)
    assert (listed[single.pk].children, listed[single.pk].died) == (1, 1)


def test_one_live_child_has_no_badge(care, as_role):
    care.update_episode(kraamzorg_organisation=care.kraamzorg)
    deliver(care, days_ago=2)
    html = card(as_role(Role.MATERNITY_CARER).get(care.url("today/")).content.decode(), care.episode)
    assert f'data-testid="children-{care.episode.pk}"' not in html


def test_logging_up_to_the_indication_warns_and_the_card_says_so(care, as_role):
    care.update_episode(kraamzorg_organisation=care.kraamzorg, kraamzorg_indicated_hours=49)
    deliver(care, days_ago=5)
    for _ in range(4):
        log(care, "KZ_HOURS", at=ago(days=2), role=Role.MATERNITY_CARER, quantity=11)
    browser = as_role(Role.MATERNITY_CARER)
    response = browser.post(care.url(f"today/{care.episode.pk}/log/"), hours_form(care, quantity="5"))
    assert response.status_code == 302
    assert response["Location"].endswith(f"/today/#today-{care.episode.pk}")
    warnings = [str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "warning"]
    assert warnings == ["Er zijn 49 kraamzorguren vastgelegd: de 49 geïndiceerde uren zijn bereikt."]
    html = card(browser.get(care.url("today/")).content.decode(), care.episode)
    assert "49/49 u" in html
    assert f'data-testid="indication-reached-{care.episode.pk}"' in html


def test_more_than_80_hours_asks_for_confirmation_and_stays_on_the_day_list(care, as_role):
    care.update_episode(kraamzorg_organisation=care.kraamzorg, kraamzorg_indicated_hours=49)
    deliver(care, days_ago=7)
    for _ in range(6):
        log(care, "KZ_HOURS", at=ago(days=3), role=Role.MATERNITY_CARER, quantity=12)
    browser = as_role(Role.MATERNITY_CARER)
    url = care.url(f"today/{care.episode.pk}/log/")
    data = hours_form(care, quantity="8.5")
    response = browser.post(url, data)
    # Refused for now: the day list again with her card asking to confirm, nothing stored.
    assert response.status_code == 400
    assert CareEvent.unscoped.filter(episode=care.episode).count() == 6
    html = card(response.content.decode(), care.episode)
    assert f'data-testid="confirm-over-limit-{care.episode.pk}"' in html
    assert "80,5 uur kraamzorg, meer dan het maximum van 80" in html
    assert "8E+1" not in html
    assert 'value="8.5"' in html  # what she typed is still there
    # The confirmation is shown once: the list opened again shows a fresh form, and the form's address
    # (a reload after the refusal) goes back to the list, never a 405.
    again = card(browser.get(care.url("today/")).content.decode(), care.episode)
    assert "confirm-over-limit" not in again
    reload = browser.get(url)
    assert (reload.status_code, reload["Location"]) == (303, care.url("today/"))

    response = browser.post(url, {**data, "confirm_over_limit": "on"})
    assert response.status_code == 302
    assert CareEvent.unscoped.filter(episode=care.episode).count() == 7
    warnings = [str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "warning"]
    assert any("80,5" in w and "80" in w for w in warnings)
    assert "80,5/49 u" in card(browser.get(care.url("today/")).content.decode(), care.episode)


def test_a_refused_entry_is_shown_on_the_day_list_with_its_reason(care, as_role):
    care.update_episode(kraamzorg_organisation=care.kraamzorg)
    deliver(care, days_ago=2)
    browser = as_role(Role.MATERNITY_CARER)
    response = browser.post(care.url(f"today/{care.episode.pk}/log/"), hours_form(care, quantity="0.3"))
    assert response.status_code == 400
    html = card(response.content.decode(), care.episode)
    assert "kwartieren" in html  # hours are logged in quarters
    assert not CareEvent.unscoped.filter(episode=care.episode).exists()


def test_an_observation_needs_a_note(care, as_role):
    care.update_episode(kraamzorg_organisation=care.kraamzorg)
    deliver(care, days_ago=2)
    browser = as_role(Role.MATERNITY_CARER)
    url = care.url(f"today/{care.episode.pk}/log/")
    refused = browser.post(url, hours_form(care, code="KZ_OBS", quantity="1"))
    assert refused.status_code == 400
    assert not CareEvent.unscoped.filter(episode=care.episode).exists()
    assert "Schrijf op wat u hebt waargenomen." in card(refused.content.decode(), care.episode)

    browser.post(url, hours_form(care, code="KZ_OBS", quantity="1", note="Borstvoeding gaat goed, 37,2 °C"))
    event = CareEvent.unscoped.get(episode=care.episode)
    assert (event.event_type.code, event.note, event.organisation) == (
        "KZ_OBS",
        "Borstvoeding gaat goed, 37,2 °C",
        care.kraamzorg,
    )


def test_the_carer_records_and_changes_the_indication(care, as_role):
    care.update_episode(kraamzorg_organisation=care.kraamzorg)
    deliver(care, days_ago=1)
    browser = as_role(Role.MATERNITY_CARER)
    url = care.url(f"today/{care.episode.pk}/indication/")
    assert "Nog geen indicatie vastgelegd." in browser.get(care.url("today/")).content.decode()
    assert browser.post(url, {"hours": "49"}).status_code == 302
    care.episode.refresh_from_db()
    assert care.episode.kraamzorg_indicated_hours == 49
    assert AccessLogEntry.unscoped.filter(client=care.client, action="update", detail="indication").exists()

    response = browser.post(url, {"hours": "90"})
    assert response.status_code == 400
    html = card(response.content.decode(), care.episode)
    assert "Vul de geïndiceerde uren in, van 1 tot en met 80." in html
    assert 'value="90"' in html
    care.episode.refresh_from_db()
    assert care.episode.kraamzorg_indicated_hours == 49


def test_another_igos_episode_answers_404(care, care_b, client_for):
    browser = client_for(care.user(Role.MATERNITY_CARER))
    assert browser.post(care.url(f"today/{care_b.episode.pk}/log/"), {}).status_code == 404
    assert (
        browser.post(care.url(f"today/{care_b.episode.pk}/indication/"), {"hours": "49"}).status_code == 404
    )
    care_b.episode.refresh_from_db()
    assert care_b.episode.kraamzorg_indicated_hours is None


def test_the_kraamzorg_entry_is_not_labelled_twice_with_its_unit(care, as_role):
    deliver(care, days_ago=2)
    html = as_role(Role.MATERNITY_CARER).get(care.url(f"episodes/{care.episode.pk}/")).content.decode()
    assert "Kraamzorg (uren)<" in html
    assert "(uren) (uur)" not in html


def test_messages_write_numbers_as_the_language_does(care):
    care.update_episode(kraamzorg_indicated_hours=49)
    deliver(care, days_ago=7)
    for _ in range(6):
        log(care, "KZ_HOURS", at=ago(days=3), role=Role.MATERNITY_CARER, quantity=12)
    for language, expected in (("nl", "maximum van 80"), ("en", "maximum of 80")):
        with translation.override(language), tenant_scope(care.tenant), pytest.raises(Exception) as refused:
            services.care_event_log(
                actor=care.user(Role.MATERNITY_CARER),
                episode=care.episode,
                event_type=care.type("KZ_HOURS"),
                occurred_at=ago(hours=1),
                quantity=Decimal("10.00"),
            )
        message = refused.value.message_dict["confirm_over_limit"][0]  # type: ignore[attr-defined]
        assert expected in message and "E+" not in message
    with translation.override("nl"):
        assert services.number(Decimal("80.00")) == "80"
        assert services.number(Decimal("12.50")) == "12,5"
    with translation.override("en"):
        assert services.number(Decimal("12.50")) == "12.5"
