"""The end of kraamzorg closes the maternity carer's hours: no hours after that day, through any path (the
episode page, the day list, the care API, a bulk import, a correction), and the end cannot be set before
hours already logged. Both refusals stand at the field and name the day.

The clock stands at Wednesday 18 November 2026, 14:00 in Amsterdam. The child was born twelve days ago
(6 November, 19:00); the carer logged hours on 13 and 14 November.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError

from igo.models import Role
from pregnancies import services
from pregnancies.models import CareEvent, Episode, EventStatus
from tests.scenarios.care import Care
from tests.scenarios.care_logging import deliver, form_dt, in_scope, log
from tests.scenarios.clock import local
from tests.scenarios.http import api

pytestmark = [pytest.mark.django_db, pytest.mark.clock(local(2026, 11, 18, 14))]

ENDED = date(2026, 11, 14)


@pytest.fixture
def maternity(care: Care) -> Care:
    care.update_episode(kraamzorg_organisation=care.kraamzorg)
    deliver(care, days_ago=12)
    log(care, "KZ_HOURS", at=local(2026, 11, 13, 9), role=Role.MATERNITY_CARER, quantity=Decimal("6"))
    log(care, "KZ_HOURS", at=local(2026, 11, 14, 9), role=Role.MATERNITY_CARER, quantity=Decimal("4"))
    return care


def set_end(care: Care, day: date | None) -> Episode:
    return in_scope(
        care,
        services.episode_set_key_dates,
        episode=care.episode,
        actor=care.user(Role.MATERNITY_CARER),
        kraamzorg_ended_on=day,
    )


def log_hours(care: Care, at, **extra):
    return in_scope(
        care,
        services.care_event_log,
        actor=care.user(Role.MATERNITY_CARER),
        episode=care.episode,
        event_type=care.type("KZ_HOURS"),
        occurred_at=at,
        quantity=Decimal("3"),
        **extra,
    )


# --- the end of kraamzorg -------------------------------------------------------------------------


def test_the_end_cannot_lie_before_hours_already_logged(maternity):
    with pytest.raises(ValidationError) as exc:
        set_end(maternity, date(2026, 11, 13))
    message = " ".join(exc.value.message_dict["kraamzorg_ended_on"])
    assert "14-11-2026 09:00" in message  # the latest hours logged, named
    assert Episode.unscoped.get(pk=maternity.episode.pk).kraamzorg_ended_on is None
    # On the day of the last hours it is accepted.
    assert set_end(maternity, ENDED).kraamzorg_ended_on == ENDED


def test_voided_hours_do_not_hold_the_end_back(maternity):
    CareEvent.unscoped.filter(episode=maternity.episode, occurred_at=local(2026, 11, 14, 9)).update(
        status=EventStatus.VOIDED
    )
    assert set_end(maternity, date(2026, 11, 13)).kraamzorg_ended_on == date(2026, 11, 13)


def test_the_key_dates_form_shows_the_refusal_at_the_field_and_keeps_the_input(maternity, as_role):
    browser = as_role(Role.MATERNITY_CARER)
    response = browser.post(
        maternity.url(f"episodes/{maternity.episode.pk}/dates/"), {"kraamzorg_ended_on": "2026-11-12"}
    )
    assert response.status_code == 400
    form = response.context["key_dates_form"]
    assert "14-11-2026 09:00" in " ".join(form.errors["kraamzorg_ended_on"])
    assert 'value="2026-11-12"' in response.content.decode()
    assert Episode.unscoped.get(pk=maternity.episode.pk).kraamzorg_ended_on is None


# --- hours after the end ----------------------------------------------------------------------------


def test_hours_after_the_end_are_refused_at_the_moment(maternity):
    set_end(maternity, ENDED)
    with pytest.raises(ValidationError) as exc:
        log_hours(maternity, local(2026, 11, 15, 10))
    assert "14-11-2026" in " ".join(exc.value.message_dict["occurred_at"])
    # Hours on the last day itself are still care of the maternity period.
    event, created, _warnings = log_hours(maternity, local(2026, 11, 14, 15))
    assert created and event.quantity == Decimal("3")


def test_a_correction_cannot_move_hours_past_the_end(maternity):
    set_end(maternity, ENDED)
    hours = CareEvent.unscoped.get(episode=maternity.episode, occurred_at=local(2026, 11, 13, 9))
    with pytest.raises(ValidationError) as exc:
        in_scope(
            maternity,
            services.care_event_correct,
            event=hours,
            actor=maternity.user(Role.MATERNITY_CARER),
            reason="tijd verkeerd",
            occurred_at=local(2026, 11, 16, 9),
            quantity=hours.quantity,
            note="",
        )
    assert "occurred_at" in exc.value.message_dict


def test_a_bulk_import_after_the_end_stores_nothing(maternity):
    set_end(maternity, ENDED)
    item = services.NewCareEvent(
        episode=maternity.episode,
        event_type=maternity.type("KZ_HOURS"),
        occurred_at=local(2026, 11, 16, 9),
        professional=maternity.carer,
        quantity=Decimal("2"),
    )
    before = CareEvent.unscoped.count()
    with pytest.raises(services.CareEventsRefused) as exc:
        in_scope(
            maternity, services.care_events_log_many, actor=maternity.user(Role.MATERNITY_CARER), items=[item]
        )
    assert "occurred_at" in exc.value.errors[0].message_dict
    assert CareEvent.unscoped.count() == before


def test_the_day_list_refuses_hours_after_the_end_with_the_reason(maternity, as_role):
    set_end(maternity, ENDED)
    browser = as_role(Role.MATERNITY_CARER)
    response = browser.post(
        maternity.url(f"today/{maternity.episode.pk}/log/"),
        {
            "event_type": maternity.type("KZ_HOURS").pk,
            "occurred_at": form_dt(local(2026, 11, 17, 10)),
            "quantity": "3",
            "note": "",
            "submission_key": str(uuid.uuid4()),
        },
        HTTP_HX_REQUEST="true",
    )
    # Her kraamzorg has ended, so the client is no longer on the list: the refusal comes as a message that
    # names her and the reason, and nothing is stored.
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("Anna Jansen" in m and "14-11-2026" in m for m in said), said
    assert not CareEvent.unscoped.filter(
        episode=maternity.episode, occurred_at=local(2026, 11, 17, 10)
    ).exists()


def test_the_care_api_refuses_hours_after_the_end_at_the_field(maternity):
    set_end(maternity, ENDED)
    response = api(maternity.user(Role.MATERNITY_CARER)).post(
        f"/api/t/{maternity.tenant.slug}/episodes/{maternity.episode.pk}/events/",
        {
            "event_type": "KZ_HOURS",
            "occurred_at": local(2026, 11, 16, 9).isoformat(),
            "quantity": "3",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "occurred_at" in str(response.json())
    assert not CareEvent.unscoped.filter(
        episode=maternity.episode, occurred_at=local(2026, 11, 16, 9)
    ).exists()
