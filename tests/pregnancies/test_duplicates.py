"""The repeat guard per catalogue entry: the same entry for the same episode within the entry's window asks
for confirmation (naming the earlier event) in the service, so the page and the API share it; confirmed, it
is stored. The double-click guard (one event per submission key) still answers first."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from igo.models import Role
from pregnancies import services
from pregnancies.models import CareEvent, EventStatus
from tests.scenarios.care import Care
from tests.scenarios.care_api import event_body
from tests.scenarios.care_logging import ago, counts, deliver, form_dt, log, log_service, shown_again
from tests.scenarios.clock import local
from tests.scenarios.http import api

pytestmark = [pytest.mark.django_db, pytest.mark.clock(local(2026, 11, 18, 14))]


def page_form(care: Care, code: str, *, at: Any, **extra: Any) -> dict[str, Any]:
    return {
        "event_type": care.type(code).pk,
        "occurred_at": form_dt(at),
        "quantity": "1",
        "location": "",
        "note": "",
        "submission_key": str(uuid.uuid4()),
        **extra,
    }


def active(care: Care, code: str) -> int:
    return CareEvent.unscoped.filter(
        episode=care.episode, event_type__code=code, status=EventStatus.ACTIVE
    ).count()


def test_the_same_check_within_its_window_asks_and_names_the_earlier_one(care):
    earlier = log(care, "PRE_CHECK", at=ago(hours=5))
    before = counts(care.tenant)
    with pytest.raises(ValidationError) as refused:
        log_service(care, "PRE_CHECK", at=ago(hours=1))
    assert list(refused.value.error_dict) == ["confirm_duplicate"]
    error = refused.value.error_dict["confirm_duplicate"][0]
    assert error.code == services.DUPLICATE_CODE
    message = refused.value.message_dict["confirm_duplicate"][0]
    assert earlier.professional.full_name in message
    assert services._fmt(earlier.occurred_at) in message
    assert counts(care.tenant) == before  # nothing stored, not even an access-log entry

    event, created, _ = log_service(care, "PRE_CHECK", at=ago(hours=1), confirm_duplicate=True)
    assert created and event.event_type.code == "PRE_CHECK"
    assert active(care, "PRE_CHECK") == 2


def test_a_home_delivery_five_minutes_after_another_asks(care):
    care.update_episode(labour_started_at=ago(hours=6))  # in labour
    log(care, "DELIV_HOME", at=ago(hours=1))
    with pytest.raises(ValidationError) as refused:
        log_service(care, "DELIV_HOME", at=ago(minutes=55))
    assert "confirm_duplicate" in refused.value.message_dict


def test_outside_the_window_voided_or_without_a_window_nothing_is_asked(care):
    # A prenatal check 13 hours later: outside its 12-hour window.
    log(care, "PRE_CHECK", at=ago(hours=14))
    assert log_service(care, "PRE_CHECK", at=ago(hours=1))[1] is True
    # A voided earlier event does not count.
    CareEvent.unscoped.filter(episode=care.episode).update(status=EventStatus.VOIDED)
    assert log_service(care, "PRE_CHECK", at=ago(minutes=30))[1] is True
    # Hours of kraamzorg add up: the entry has no window.
    deliver(care, days_ago=3)
    log(care, "KZ_HOURS", at=ago(hours=3), role=Role.MATERNITY_CARER, quantity=4)
    assert log_service(care, "KZ_HOURS", at=ago(hours=2), role=Role.MATERNITY_CARER, quantity=Decimal(4))[1]


def test_a_refused_entry_of_other_kinds_is_not_asked_about_first(care):
    """Field errors come first: nothing to confirm about an entry that is refused anyway."""
    log(care, "PRE_CHECK", at=ago(hours=2))
    with pytest.raises(ValidationError) as refused:
        log_service(care, "PRE_CHECK", at=ago(hours=1), quantity=Decimal(2))
    assert list(refused.value.error_dict) == ["quantity"]


def test_the_page_shows_the_earlier_event_and_a_log_anyway_box(care, as_role):
    log(care, "PRE_CHECK", at=ago(hours=3))
    browser = as_role(Role.MIDWIFE)
    url = care.url(f"episodes/{care.episode.pk}/events/")
    data = page_form(care, "PRE_CHECK", at=ago(hours=1))
    before = counts(care.tenant)
    response = browser.post(url, data)
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["confirm_duplicate"]
    html = response.content.decode()
    assert "Prenatale controle is voor deze cliënt al vastgelegd op" in html
    assert re.search(r'<input type="checkbox" name="confirm_duplicate"[^>]*>\s*Toch vastleggen', html)
    assert counts(care.tenant) == shown_again(before)

    response = browser.post(url, {**data, "confirm_duplicate": "on"})
    assert response.status_code == 302
    assert active(care, "PRE_CHECK") == 2


def test_a_double_click_still_stores_one_event_without_asking(care, as_role):
    browser = as_role(Role.MIDWIFE)
    url = care.url(f"episodes/{care.episode.pk}/events/")
    data = page_form(care, "PRE_CHECK", at=ago(hours=1))
    assert browser.post(url, data).status_code == 302
    assert browser.post(url, data).status_code == 302  # the same submission key: the first event
    assert active(care, "PRE_CHECK") == 1


def test_the_api_answers_400_with_a_code_unless_confirmed(care):
    client = api(care.user(Role.MIDWIFE))
    url = f"/api/t/{care.tenant.slug}/episodes/{care.episode.pk}/events/"
    assert client.post(url, event_body(), format="json").status_code == 201
    response = client.post(url, event_body(), format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "duplicate_event"
    assert list(set(body) - {"code"}) == ["confirm_duplicate"]
    assert active(care, "PRE_CHECK") == 1

    response = client.post(url, event_body(confirm_duplicate=True), format="json")
    assert response.status_code == 201
    assert active(care, "PRE_CHECK") == 2
