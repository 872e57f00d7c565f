"""Logging care events through the page and through `pregnancies.services`: the phase derived from the key
dates, refusals with their reason on a field and nothing stored, kraamzorg hours (over 80 need
confirmation, in quarters), a double submission stored once.

Reads of tenant-owned rows in assertions use `Model.unscoped`, service calls run inside `tenant_scope`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.utils import timezone

from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies import selectors, services
from pregnancies.models import CareEvent, EventStatus, Phase
from providers.models import MemberOrganisation
from tests.scenarios.care import Care, client_in_care
from tests.scenarios.care_logging import (
    access_entries,
    ago,
    counts,
    form_dt,
    in_scope,
    local,
    log,
    log_service,
    postnatal,
    shown_again,
)

pytestmark = [pytest.mark.django_db, pytest.mark.dated]


def event_form(care: Care, code: str, *, at: datetime, quantity: str = "1", **extra: Any) -> dict[str, Any]:
    return {
        "event_type": care.type(code).pk,
        "occurred_at": form_dt(at),
        "quantity": quantity,
        "location": "Praktijk",
        "note": "",
        "submission_key": str(uuid.uuid4()),
        **extra,
    }


def test_log_event_through_the_page(care, as_role):
    midwife = care.user(Role.MIDWIFE)
    at = ago(hours=2)
    response = as_role(Role.MIDWIFE).post(
        care.url(f"episodes/{care.episode.pk}/events/"),
        event_form(care, "PRE_CHECK", at=at, note=" RR 120/80 "),
    )
    assert response.status_code == 302
    assert response["Location"] == care.url(f"episodes/{care.episode.pk}/")
    event = CareEvent.unscoped.get(episode=care.episode)
    assert event.event_type.code == "PRE_CHECK"
    assert event.occurred_at == at
    assert event.phase == Phase.PRENATAL
    assert event.quantity == Decimal("1")
    assert (event.professional, event.organisation, event.created_by) == (
        care.midwife,
        care.practice,
        midwife,
    )
    assert event.note == "RR 120/80"
    assert event.status == EventStatus.ACTIVE
    [entry] = access_entries(care, action="create")
    assert (entry.user, entry.client, entry.object_type, entry.object_id) == (
        midwife,
        care.client,
        "careevent",
        str(event.pk),
    )


def test_log_event_through_the_service(care):
    event, created, warnings = log_service(care, "PRE_CHECK", at=ago(hours=3), location=" Thuis ")
    assert created is True
    assert warnings == []
    assert event.pk is not None
    assert event.phase == Phase.PRENATAL
    assert event.professional == care.midwife
    assert event.organisation == care.practice
    assert event.location == "Thuis"
    assert [e.action for e in access_entries(care, client=care.client)] == ["create"]


def test_natal_and_postnatal_phases_are_derived_from_the_key_dates(care):
    labour = ago(days=2)
    care.update_episode(labour_started_at=labour, placenta_plus_2h_at=labour + timedelta(hours=6))
    natal, _, _ = log_service(care, "DELIV_HOME", at=labour + timedelta(hours=6))  # exactly placenta + 2h
    postnatal_visit, _, _ = log_service(care, "POST_VISIT", at=labour + timedelta(hours=6, minutes=1))
    referral, _, _ = log_service(care, "REFERRAL", at=labour - timedelta(hours=1), role=Role.GYNAECOLOGIST)
    assert (natal.phase, postnatal_visit.phase, referral.phase) == ("natal", "postnatal", "prenatal")


def _end_episode(care: Care) -> None:
    care.update_episode(
        status="ended", end_date=timezone.localdate() - timedelta(days=10), end_reason="moved_away"
    )


def _labour_two_days_ago(care: Care) -> None:
    care.update_episode(labour_started_at=ago(days=2))


def _membership_ended(care: Care) -> None:
    MemberOrganisation.unscoped.filter(pk=care.practice.pk).update(
        member_until=timezone.localdate() - timedelta(days=30)
    )
    care.practice.refresh_from_db()
    care.midwife.organisation.refresh_from_db()


def _nothing(care: Care) -> None:
    pass


@dataclass
class Refusal:
    code: str
    at: Callable[[Care], datetime]
    field: str
    page_field: str | None = "same"  # None: the page has no such field, the reason is a non-field error
    quantity: str = "1"
    role: str = Role.MIDWIFE
    setup: Callable[[Care], None] = _nothing


EVENT_REFUSALS = {
    "before-intake": Refusal(
        "PRE_CHECK", lambda c: local(c.episode.intake_date - timedelta(days=1), 23, 50), "occurred_at"
    ),
    "in-the-future": Refusal("PRE_CHECK", lambda c: ago(hours=-2), "occurred_at"),
    "after-episode-end": Refusal("PRE_CHECK", lambda c: ago(days=5), "occurred_at", setup=_end_episode),
    "prenatal-type-after-labour": Refusal(
        "PRE_CHECK", lambda c: ago(days=1), "occurred_at", setup=_labour_two_days_ago
    ),
    "natal-type-before-labour": Refusal("DELIV_HOME", lambda c: ago(days=1), "occurred_at"),
    "discipline-may-not-log-type": Refusal(
        "PRE_CHECK", lambda c: ago(days=1), "event_type", role=Role.MATERNITY_CARER
    ),
    "quantity-zero": Refusal("PRE_CHECK", lambda c: ago(days=1), "quantity", quantity="0"),
    "quantity-negative": Refusal("PRE_CHECK", lambda c: ago(days=1), "quantity", quantity="-1"),
    "quantity-above-max": Refusal(
        "KZ_HOURS",
        lambda c: ago(days=1),
        "quantity",
        quantity="13",
        role=Role.MATERNITY_CARER,
        setup=postnatal,  # type: ignore[arg-type]
    ),
    "fractional-visit": Refusal("PRE_CHECK", lambda c: ago(days=1), "quantity", quantity="0.5"),
    "organisation-membership-ended": Refusal(
        "PRE_CHECK", lambda c: ago(days=1), "organisation", page_field=None, setup=_membership_ended
    ),
}


@pytest.mark.parametrize("case", EVENT_REFUSALS.values(), ids=EVENT_REFUSALS.keys())
def test_service_refuses_event_with_field_reason_and_stores_nothing(care, case):
    case.setup(care)
    before = counts(care.tenant)
    with pytest.raises(ValidationError) as exc:
        log_service(care, case.code, at=case.at(care), role=case.role, quantity=Decimal(case.quantity))
    assert case.field in exc.value.message_dict, exc.value.message_dict
    assert counts(care.tenant) == before


@pytest.mark.parametrize("case", EVENT_REFUSALS.values(), ids=EVENT_REFUSALS.keys())
def test_page_refuses_event_with_field_reason_and_stores_nothing(care, as_role, case):
    case.setup(care)
    before = counts(care.tenant)
    response = as_role(case.role).post(
        care.url(f"episodes/{care.episode.pk}/events/"),
        event_form(care, case.code, at=case.at(care), quantity=case.quantity),
    )
    assert response.status_code == 400
    form = response.context["form"]
    if case.page_field is None:
        assert form.non_field_errors(), form.errors
    else:
        assert case.field in form.errors, form.errors
    assert counts(care.tenant) == shown_again(before)


def test_natal_type_refusal_explains_the_phase(care):
    with pytest.raises(ValidationError) as exc:
        log_service(care, "DELIV_HOME", at=ago(days=1))
    [message] = exc.value.message_dict["occurred_at"]
    assert "DELIV" not in message  # the type is named, not coded
    assert care.type("DELIV_HOME").name in message


def test_kraamzorg_hours_over_80_need_confirmation(care):
    episode = postnatal(care)
    start = episode.placenta_plus_2h_at
    for i in range(6):  # 6 x 12 = 72 hours
        log(care, "KZ_HOURS", at=start + timedelta(hours=12 * i + 1), role=Role.MATERNITY_CARER, quantity=12)
    at = ago(hours=5)
    # Exactly 80 is allowed without confirmation.
    _, created, warnings = log_service(
        care, "KZ_HOURS", at=at, role=Role.MATERNITY_CARER, quantity=Decimal(8)
    )
    assert (created, warnings) == (True, [])
    before = counts(care.tenant)
    with pytest.raises(ValidationError) as exc:
        log_service(care, "KZ_HOURS", at=ago(hours=4), role=Role.MATERNITY_CARER, quantity=Decimal(1))
    assert list(exc.value.message_dict) == ["confirm_over_limit"]
    assert "81" in exc.value.message_dict["confirm_over_limit"][0]
    assert counts(care.tenant) == before

    event, created, warnings = log_service(
        care,
        "KZ_HOURS",
        at=ago(hours=4),
        role=Role.MATERNITY_CARER,
        quantity=Decimal(1),
        confirm_over_limit=True,
    )
    assert created is True
    assert event.quantity == 1
    assert len(warnings) == 1 and "81" in warnings[0]
    with tenant_scope(care.tenant):
        assert selectors.kraamzorg_hours_by_episode(episode_ids=[episode.pk]) == {episode.pk: Decimal(81)}


def test_kraamzorg_over_limit_through_the_page(care, as_role):
    episode = postnatal(care)
    for i in range(6):
        log(
            care,
            "KZ_HOURS",
            at=episode.placenta_plus_2h_at + timedelta(hours=12 * i + 1),
            role=Role.MATERNITY_CARER,
            quantity=12,
        )
    browser = as_role(Role.MATERNITY_CARER)
    url = care.url(f"episodes/{episode.pk}/events/")
    data = event_form(care, "KZ_HOURS", at=ago(hours=3), quantity="9")
    before = counts(care.tenant)
    response = browser.post(url, data)
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["confirm_over_limit"]
    assert counts(care.tenant) == shown_again(before)

    response = browser.post(url, {**data, "confirm_over_limit": "on"})
    assert response.status_code == 302
    assert CareEvent.unscoped.filter(episode=episode).count() == 7
    levels = [m.level_tag for m in get_messages(response.wsgi_request)]
    assert "warning" in levels


def test_double_submission_through_the_page_creates_one_event(care, as_role):
    browser = as_role(Role.MIDWIFE)
    url = care.url(f"episodes/{care.episode.pk}/events/")
    data = event_form(care, "PRE_CHECK", at=ago(hours=2))
    first = browser.post(url, data)
    second = browser.post(url, data)
    assert first.status_code == 302
    assert second.status_code == 302  # not an error: the first event is returned
    assert CareEvent.unscoped.filter(episode=care.episode).count() == 1
    assert len(access_entries(care, action="create")) == 1


def test_double_submission_with_htmx_answers_201_then_200(care, as_role):
    browser = as_role(Role.MIDWIFE)
    url = care.url(f"episodes/{care.episode.pk}/events/")
    data = event_form(care, "PRE_CHECK", at=ago(hours=2))
    first = browser.post(url, data, headers={"HX-Request": "true"})
    second = browser.post(url, data, headers={"HX-Request": "true"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert CareEvent.unscoped.filter(episode=care.episode).count() == 1


def test_double_submission_through_the_service_returns_the_first_event(care):
    key = uuid.uuid4()
    first, created_first, _ = log_service(care, "PRE_CHECK", at=ago(hours=2), submission_key=key)
    second, created_second, warnings = log_service(care, "PRE_CHECK", at=ago(hours=1), submission_key=key)
    assert (created_first, created_second, warnings) == (True, False, [])
    assert second.pk == first.pk
    assert CareEvent.unscoped.filter(episode=care.episode).count() == 1


def test_a_form_sent_twice_at_once_is_stored_once(care, monkeypatch):
    """The second request's look-up missed the first's event (not yet committed when it read): its insert
    meets the unique key, its transaction is rolled back whole, and it answers with the first event."""
    key = uuid.uuid4()
    first, _, _ = log_service(care, "PRE_CHECK", at=ago(hours=2), submission_key=key)
    entries = len(access_entries(care))
    monkeypatch.setattr(services, "_same_form_or_window", lambda **kwargs: (None, None))
    second, created, warnings = log_service(care, "PRE_CHECK", at=ago(hours=1), submission_key=key)
    assert (second.pk, created, warnings) == (first.pk, False, [])
    assert CareEvent.unscoped.filter(episode=care.episode).count() == 1
    assert len(access_entries(care)) == entries  # the refused insert's entry went with its transaction


def test_a_form_of_another_pregnancy_is_refused(care, insurer):
    key = uuid.uuid4()
    log_service(care, "PRE_CHECK", at=ago(hours=2), submission_key=key)
    _, other = client_in_care(care.world, insurer)
    with pytest.raises(ValidationError, match="andere zwangerschap"):
        in_scope(
            care,
            services.care_event_log,
            actor=care.user(Role.MIDWIFE),
            episode=other,
            event_type=care.type("PRE_CHECK"),
            occurred_at=ago(hours=1),
            submission_key=key,
        )
    assert not CareEvent.unscoped.filter(episode=other).exists()


def test_kraamzorg_hours_are_accepted_in_quarters(care):
    postnatal(care)
    event, created, _ = log_service(
        care, "KZ_HOURS", at=ago(hours=3), role=Role.MATERNITY_CARER, quantity=Decimal("3.25")
    )
    assert created and event.quantity == Decimal("3.25")


def test_kraamzorg_hours_not_in_quarters_are_refused(care):
    postnatal(care)
    before = counts(care.tenant)
    with pytest.raises(ValidationError) as exc:
        log_service(care, "KZ_HOURS", at=ago(hours=3), role=Role.MATERNITY_CARER, quantity=Decimal("1.10"))
    assert "quantity" in exc.value.message_dict
    assert counts(care.tenant) == before
