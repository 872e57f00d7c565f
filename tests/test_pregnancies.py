"""The care-logging pages and services: intake, care events, corrections, key dates, insurance, NEN 7513.

Writes are exercised through the pages (`/t/<slug>/...`) and through `pregnancies.services`; reads of
tenant-owned rows in assertions use `Model.unscoped`, service calls run inside `tenant_scope`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from igo.models import Insurer, Role, Tenant
from igo.tenancy import tenant_scope
from pregnancies import selectors, services
from pregnancies.models import (
    AccessLogEntry,
    Birth,
    CareEvent,
    Client,
    ClientInsurance,
    Episode,
    EventStatus,
    EventType,
    LineTransfer,
    Phase,
)
from providers.models import MemberOrganisation
from tests.factories import (
    CareEventFactory,
    ClientFactory,
    EpisodeFactory,
    InsurerFactory,
    UserFactory,
)
from tests.scenarios.care import Care, make_care

pytestmark = [pytest.mark.django_db, pytest.mark.dated]

VALID_BSN = "111222333"  # passes the eleven-test
INVALID_BSN = "123456789"  # fails the eleven-test


# --- helpers and fixtures ------------------------------------------------------------------------


def local(day: date, hour: int = 12, minute: int = 0) -> datetime:
    """An aware moment on a local (Europe/Amsterdam) day."""
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def whole_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def form_dt(moment: datetime) -> str:
    """How a datetime-local input submits a moment."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def ago(**delta: float) -> datetime:
    return whole_minute(timezone.now() - timedelta(**delta))


@pytest.fixture
def other_insurer(db) -> Insurer:
    return InsurerFactory(uzovi_code="7095", name="VGZ")


@pytest.fixture
def care(world_a, insurer) -> Care:
    return make_care(world_a, insurer)


@pytest.fixture
def as_role(care, client_for) -> Callable[[str], HttpClient]:
    return lambda role: client_for(care.user(role))


def log(
    care: Care, code: str = "PRE_CHECK", *, at: datetime, role: str = Role.MIDWIFE, **extra: Any
) -> CareEvent:
    """An event stored directly (test data, not under test), with the phase the episode derives."""
    professional = care.professional_of(role)
    fields: dict[str, Any] = {
        "tenant": care.tenant,
        "episode": care.episode,
        "event_type": care.type(code),
        "occurred_at": at,
        "phase": care.episode.phase_at(at),
        "professional": professional,
        "organisation": professional.organisation,
        "created_by": care.user(role),
    }
    return CareEventFactory(**{**fields, **extra})


def in_scope(care: Care, fn: Callable[..., Any], **kwargs: Any) -> Any:
    with tenant_scope(care.tenant):
        return fn(**kwargs)


def log_service(care: Care, code: str, *, at: datetime, role: str = Role.MIDWIFE, **extra: Any) -> Any:
    return in_scope(
        care,
        services.care_event_log,
        actor=care.user(role),
        episode=care.episode,
        event_type=care.type(code),
        occurred_at=at,
        **extra,
    )


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


def postnatal(care: Care) -> Episode:
    """Labour six days ago, placenta + 2 hours eight hours later: the episode is in its postnatal phase."""
    labour = ago(days=6)
    return care.update_episode(labour_started_at=labour, placenta_plus_2h_at=labour + timedelta(hours=8))


def counts(tenant: Tenant) -> dict[str, int]:
    return {
        model.__name__: model.unscoped.filter(tenant=tenant).count()  # type: ignore[attr-defined]
        for model in (Client, ClientInsurance, Episode, LineTransfer, CareEvent, AccessLogEntry, Birth)
    }


def access_entries(care: Care, **filters: Any) -> list[AccessLogEntry]:
    return list(AccessLogEntry.unscoped.filter(tenant=care.tenant, **filters).order_by("pk"))


URL_ATTRIBUTE = re.compile(r'(?:href|action|src|hx-get|hx-post|hx-put|hx-delete|formaction)="([^"]*)"')


def urls_in(html: str) -> list[str]:
    return URL_ATTRIBUTE.findall(html)


# --- 1. intake through the page ------------------------------------------------------------------


def intake_data(insurer: Insurer, **extra: Any) -> dict[str, Any]:
    intake = timezone.localdate() - timedelta(days=3)
    return {
        "given_names": "Fatima",
        "family_name": "El Amrani",
        "date_of_birth": "1995-03-02",
        "bsn": VALID_BSN,
        "postcode": "3511 ab",
        "insurer": insurer.pk,
        "policy_number": "ZK-123456",
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
    assert (insurance.insurer, insurance.policy_number) == (care.insurer, "ZK-123456")
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
    assert [(e.user, e.object_type) for e in created] == [(midwife, "client"), (midwife, "episode")]


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


def test_intake_refuses_a_bsn_already_registered_in_the_tenant(care, as_role):
    ClientFactory(tenant=care.tenant, bsn=VALID_BSN)
    before = counts(care.tenant)
    response = as_role(Role.MIDWIFE).post(care.url("clients/new/"), intake_data(care.insurer))
    assert response.status_code == 400
    assert "bsn" in response.context["form"].errors
    assert counts(care.tenant) == before


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


# --- 2. care event logging -------------------------------------------------------------------


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
    assert counts(care.tenant) == before


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
    assert counts(care.tenant) == before

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


# --- 3. corrections and voids ----------------------------------------------------------------


def test_correct_keeps_the_original_and_links_the_replacement(care):
    midwife = care.user(Role.MIDWIFE)
    original = log(care, at=ago(days=3))
    new_time = ago(days=2)
    new, warnings = in_scope(
        care,
        services.care_event_correct,
        event=original,
        actor=midwife,
        reason=" wrong day ",
        occurred_at=new_time,
    )
    original.refresh_from_db()
    assert original.status == EventStatus.SUPERSEDED == "superseded"
    assert original.change_reason == "wrong day"
    assert warnings == []
    assert new.status == EventStatus.ACTIVE
    assert new.supersedes == original
    assert new.occurred_at == new_time
    assert (new.event_type, new.quantity, new.professional) == (
        original.event_type,
        original.quantity,
        original.professional,
    )
    assert new.created_by == midwife
    assert CareEvent.unscoped.filter(episode=care.episode).count() == 2
    [entry] = access_entries(care, action="update")
    assert (entry.user, entry.object_id) == (midwife, str(new.pk))
    with tenant_scope(care.tenant):
        timeline = selectors.episode_timeline(episode=care.episode)
    assert [e.pk for e in timeline["prenatal"]] == [new.pk]


def test_only_the_creator_may_correct_or_void(care):
    original = log(care, at=ago(days=3))
    other = care.user(Role.GYNAECOLOGIST)
    with pytest.raises(ValidationError):
        in_scope(
            care, services.care_event_correct, event=original, actor=other, reason="x", quantity=Decimal(1)
        )
    with pytest.raises(ValidationError):
        in_scope(care, services.care_event_void, event=original, actor=other, reason="x")
    original.refresh_from_db()
    assert original.status == EventStatus.ACTIVE
    assert CareEvent.unscoped.filter(episode=care.episode).count() == 1


def test_correcting_or_voiding_twice_is_refused(care):
    midwife = care.user(Role.MIDWIFE)
    corrected = log(care, at=ago(days=3))
    in_scope(
        care,
        services.care_event_correct,
        event=corrected,
        actor=midwife,
        reason="time",
        occurred_at=ago(days=2),
    )
    with pytest.raises(ValidationError):
        in_scope(
            care,
            services.care_event_correct,
            event=corrected,
            actor=midwife,
            reason="again",
            occurred_at=ago(days=1),
        )
    with pytest.raises(ValidationError):
        in_scope(care, services.care_event_void, event=corrected, actor=midwife, reason="again")

    voided = log(care, at=ago(days=4))
    in_scope(care, services.care_event_void, event=voided, actor=midwife, reason="double entry")
    with pytest.raises(ValidationError):
        in_scope(care, services.care_event_void, event=voided, actor=midwife, reason="again")
    with pytest.raises(ValidationError):
        in_scope(
            care,
            services.care_event_correct,
            event=voided,
            actor=midwife,
            reason="again",
            quantity=Decimal(1),
        )
    assert CareEvent.unscoped.filter(episode=care.episode).count() == 3
    corrected.refresh_from_db()
    voided.refresh_from_db()
    assert (corrected.status, corrected.change_reason) == ("superseded", "time")
    assert (voided.status, voided.change_reason) == ("voided", "double entry")


def test_void_requires_a_reason(care):
    event = log(care, at=ago(days=3))
    with pytest.raises(ValidationError) as exc:
        in_scope(care, services.care_event_void, event=event, actor=care.user(Role.MIDWIFE), reason="  ")
    assert "change_reason" in exc.value.message_dict
    event.refresh_from_db()
    assert (event.status, event.voided_at, event.voided_by) == ("active", None, None)


def test_correction_is_validated_like_a_new_event(care):
    event = log(care, at=ago(days=3))
    with pytest.raises(ValidationError) as exc:
        in_scope(
            care,
            services.care_event_correct,
            event=event,
            actor=care.user(Role.MIDWIFE),
            reason="time",
            occurred_at=ago(hours=-3),
        )
    assert "occurred_at" in exc.value.message_dict
    event.refresh_from_db()
    assert event.status == "active"
    assert CareEvent.unscoped.filter(episode=care.episode).count() == 1


def test_correcting_kraamzorg_hours_does_not_count_the_original_twice(care):
    episode = postnatal(care)
    for i in range(6):
        log(
            care,
            "KZ_HOURS",
            at=episode.placenta_plus_2h_at + timedelta(hours=12 * i + 1),
            role=Role.MATERNITY_CARER,
            quantity=12,
        )
    last = log(care, "KZ_HOURS", at=ago(hours=5), role=Role.MATERNITY_CARER, quantity=8)  # 80 in total
    new, warnings = in_scope(
        care,
        services.care_event_correct,
        event=last,
        actor=care.user(Role.MATERNITY_CARER),
        reason="time",
        occurred_at=ago(hours=6),
    )
    assert warnings == []
    assert new.quantity == 8


def test_voided_event_leaves_the_timeline_but_stays_in_the_history(care, as_role):
    midwife = care.user(Role.MIDWIFE)
    kept = log(care, at=ago(days=4))
    voided = log(care, at=ago(days=3))
    in_scope(care, services.care_event_void, event=voided, actor=midwife, reason="Dubbel ingevoerd")
    voided.refresh_from_db()
    assert (voided.status, voided.voided_by) == ("voided", midwife)
    assert voided.voided_at is not None
    assert [e.action for e in access_entries(care, action="void")] == ["void"]
    with tenant_scope(care.tenant):
        timeline = selectors.episode_timeline(episode=care.episode)
        full = selectors.episode_timeline(episode=care.episode, include_history=True)
    assert [e.pk for e in timeline["prenatal"]] == [kept.pk]
    assert [e.pk for e in full["prenatal"]] == [kept.pk, voided.pk]

    response = as_role(Role.MIDWIFE).get(care.url(f"episodes/{care.episode.pk}/history/"))
    assert response.status_code == 200
    assert [e.pk for e in response.context["events"]] == [voided.pk]
    assert "Dubbel ingevoerd" in response.content.decode()
    history_views = access_entries(care, action="view", detail="history")
    assert [(e.user, e.object_type) for e in history_views] == [(midwife, "episode")]


def test_correction_page_get_and_post(care, as_role):
    event = log(care, at=ago(days=3))
    browser = as_role(Role.MIDWIFE)
    url = care.url(f"events/{event.pk}/")
    page = browser.get(url)
    assert page.status_code == 200
    assert page.context["mine"] is True
    assert page.context["form"].initial["event_type"] == event.event_type_id
    assert 'data-testid="correct-form"' in page.content.decode()

    new_time = ago(days=2)
    response = browser.post(
        url,
        {
            "event_type": event.event_type_id,
            "occurred_at": form_dt(new_time),
            "quantity": "1",
            "change_reason": "Verkeerde dag",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == care.url(f"episodes/{care.episode.pk}/")
    event.refresh_from_db()
    assert (event.status, event.change_reason) == ("superseded", "Verkeerde dag")
    replacement = CareEvent.unscoped.get(supersedes=event)
    assert (replacement.status, replacement.occurred_at) == ("active", new_time)


def test_correction_page_refuses_another_user(care, as_role):
    event = log(care, at=ago(days=3))
    browser = as_role(Role.GYNAECOLOGIST)
    url = care.url(f"events/{event.pk}/")
    page = browser.get(url)
    assert page.status_code == 200
    assert page.context["mine"] is False
    assert 'data-testid="correct-form"' not in page.content.decode()
    response = browser.post(
        url,
        {
            "event_type": care.type("PRE_CHECK").pk,
            "occurred_at": form_dt(ago(days=2)),
            "quantity": "1",
            "change_reason": "x",
        },
    )
    assert response.status_code == 400
    assert response.context["form"].non_field_errors()
    void = browser.post(care.url(f"events/{event.pk}/void/"), {"change_reason": "x"})
    assert void.status_code == 302
    assert void["Location"] == url
    event.refresh_from_db()
    assert event.status == "active"
    assert CareEvent.unscoped.filter(episode=care.episode).count() == 1


def test_void_through_the_page(care, as_role):
    event = log(care, at=ago(days=3))
    browser = as_role(Role.MIDWIFE)
    url = care.url(f"events/{event.pk}/void/")

    without_reason = browser.post(url, {"change_reason": ""})
    assert without_reason.status_code == 302
    assert without_reason["Location"] == care.url(f"events/{event.pk}/")
    event.refresh_from_db()
    assert event.status == "active"

    assert browser.get(url).status_code == 405  # POST only

    response = browser.post(url, {"change_reason": "Verkeerde cliënt"})
    assert response.status_code == 302
    assert response["Location"] == care.url(f"episodes/{care.episode.pk}/")
    event.refresh_from_db()
    assert (event.status, event.change_reason, event.voided_by) == (
        "voided",
        "Verkeerde cliënt",
        care.user(Role.MIDWIFE),
    )
    episode_page = browser.get(care.url(f"episodes/{care.episode.pk}/"))
    assert all(not events for events in episode_page.context["timeline"].values())


def test_event_pages_of_another_tenant_answer_404(care, world_b, client_for):
    event = log(care, at=ago(days=3))
    browser = client_for(world_b.user(Role.MIDWIFE))
    assert browser.get(f"/t/{world_b.tenant.slug}/events/{event.pk}/").status_code == 404
    assert (
        browser.post(f"/t/{world_b.tenant.slug}/events/{event.pk}/void/", {"change_reason": "x"}).status_code
        == 404
    )
    event.refresh_from_db()
    assert event.status == "active"


def test_opening_the_correction_page_is_logged(care, as_role):
    event = log(care, at=ago(days=3))
    response = as_role(Role.MIDWIFE).get(care.url(f"events/{event.pk}/"))
    assert response.status_code == 200
    assert access_entries(care, client=care.client, user=care.user(Role.MIDWIFE))


# --- 4. key dates, birth, end ------------------------------------------------------------------


def set_dates(care: Care, **values: Any) -> Episode:
    return in_scope(
        care, services.episode_set_key_dates, episode=care.episode, actor=care.user(Role.MIDWIFE), **values
    )


def test_key_dates_are_saved_and_logged(care):
    labour = ago(hours=20)
    episode = set_dates(care, labour_started_at=labour, placenta_plus_2h_at=labour + timedelta(hours=8))
    stored = Episode.unscoped.get(pk=care.episode.pk)
    assert (stored.labour_started_at, stored.placenta_plus_2h_at) == (labour, labour + timedelta(hours=8))
    assert episode.labour_started_at == labour
    assert [e.detail for e in access_entries(care, action="update")] == ["key dates"]


def test_key_dates_refuse_placenta_before_labour(care):
    with pytest.raises(ValidationError) as exc:
        set_dates(care, labour_started_at=ago(days=2), placenta_plus_2h_at=ago(days=3))
    assert "placenta_plus_2h_at" in exc.value.message_dict
    care.episode.refresh_from_db()
    assert (care.episode.labour_started_at, care.episode.placenta_plus_2h_at) == (None, None)


def test_key_dates_refuse_placenta_equal_to_labour(care):
    with pytest.raises(ValidationError) as exc:
        set_dates(care, labour_started_at=ago(days=2), placenta_plus_2h_at=ago(days=2))
    assert "placenta_plus_2h_at" in exc.value.message_dict


def test_key_dates_refuse_a_delivery_before_intake(care):
    before_intake = local(care.episode.intake_date - timedelta(days=1), 22, 0)
    with pytest.raises(ValidationError) as exc:
        set_dates(
            care, labour_started_at=before_intake, placenta_plus_2h_at=before_intake + timedelta(hours=6)
        )
    assert "labour_started_at" in exc.value.message_dict
    care.episode.refresh_from_db()
    assert care.episode.labour_started_at is None


def test_key_dates_refuse_moving_logged_prenatal_events_into_the_natal_phase(care):
    check = log(care, at=ago(days=1))
    with pytest.raises(ValidationError) as exc:
        set_dates(care, labour_started_at=ago(days=2))
    assert "__all__" in exc.value.message_dict
    assert check.event_type.name in exc.value.message_dict["__all__"][0]
    care.episode.refresh_from_db()
    assert care.episode.labour_started_at is None
    # A labour start after the last prenatal event is fine.
    labour = ago(hours=12)
    set_dates(care, labour_started_at=labour)
    care.episode.refresh_from_db()
    assert care.episode.labour_started_at == labour


def test_key_dates_ignore_voided_events(care):
    check = log(care, at=ago(days=1))
    in_scope(care, services.care_event_void, event=check, actor=care.user(Role.MIDWIFE), reason="mistake")
    labour = ago(days=2)
    set_dates(care, labour_started_at=labour)
    care.episode.refresh_from_db()
    assert care.episode.labour_started_at == labour


def test_key_dates_keep_the_phase_of_phase_free_events_consistent(care):
    referral, _, _ = log_service(care, "REFERRAL", at=ago(days=1), role=Role.GYNAECOLOGIST)
    assert referral.phase == "prenatal"
    with contextlib.suppress(ValidationError):  # refusing the change is one correct answer
        set_dates(care, labour_started_at=ago(days=2))
    referral.refresh_from_db()
    episode = Episode.unscoped.get(pk=care.episode.pk)
    assert referral.phase == episode.phase_at(referral.occurred_at)


def record_birth(care: Care, born_at: datetime, **extra: Any) -> Birth:
    return in_scope(
        care,
        services.birth_record,
        episode=care.episode,
        actor=care.user(Role.MIDWIFE),
        child_number=1,
        born_at=born_at,
        outcome="live",
        place="home",
        mode="spontaneous",
        weight_grams=3400,
        **extra,
    )


def test_birth_before_intake_is_refused(care):
    with pytest.raises(ValidationError) as exc:
        record_birth(care, local(care.episode.intake_date - timedelta(days=1), 23, 0))
    assert "born_at" in exc.value.message_dict
    assert Birth.unscoped.filter(episode=care.episode).count() == 0


def test_birth_is_recorded_and_logged(care):
    labour = ago(hours=10)
    care.update_episode(labour_started_at=labour, placenta_plus_2h_at=labour + timedelta(hours=8))
    birth = record_birth(care, labour + timedelta(hours=5))
    assert Birth.unscoped.get(episode=care.episode) == birth
    assert [(e.object_type, e.object_id) for e in access_entries(care, action="create")] == [
        ("birth", str(birth.pk))
    ]
    with pytest.raises(ValidationError) as exc:
        record_birth(care, labour + timedelta(hours=5))
    assert "child_number" in exc.value.message_dict


def end(care: Care, end_date: date) -> Episode:
    return in_scope(
        care,
        services.episode_end,
        episode=care.episode,
        actor=care.user(Role.MIDWIFE),
        end_date=end_date,
        end_reason="completed",
    )


def test_episode_end_refuses_a_date_before_the_last_event(care):
    log(care, at=ago(days=1))
    with pytest.raises(ValidationError) as exc:
        end(care, timezone.localdate() - timedelta(days=3))
    assert "end_date" in exc.value.message_dict
    care.episode.refresh_from_db()
    assert (care.episode.status, care.episode.end_date) == ("active", None)

    episode = end(care, timezone.localdate())
    assert (episode.status, episode.end_date, episode.end_reason) == (
        "ended",
        timezone.localdate(),
        "completed",
    )


def test_phase_at_follows_the_key_dates():
    labour = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.get_current_timezone())
    placenta = labour + timedelta(hours=9)
    episode = Episode(labour_started_at=None, placenta_plus_2h_at=None)
    assert episode.phase_at(labour + timedelta(days=30)) == Phase.PRENATAL
    episode.labour_started_at = labour
    assert episode.phase_at(labour - timedelta(microseconds=1)) == Phase.PRENATAL
    assert episode.phase_at(labour) == Phase.NATAL
    assert episode.phase_at(labour + timedelta(days=30)) == Phase.NATAL  # no placenta + 2h yet
    episode.placenta_plus_2h_at = placenta
    assert episode.phase_at(placenta - timedelta(minutes=1)) == Phase.NATAL
    assert episode.phase_at(placenta) == Phase.NATAL  # inclusive boundary
    assert episode.phase_at(placenta + timedelta(microseconds=1)) == Phase.POSTNATAL
    assert episode.phase_at(placenta + timedelta(days=40)) == Phase.POSTNATAL


# --- 5. insurance change ---------------------------------------------------------------------


def test_insurance_change_on_1_january(care, other_insurer):
    client = ClientFactory(tenant=care.tenant)
    first = ClientInsurance.unscoped.create(
        tenant=care.tenant,
        client=client,
        insurer=care.insurer,
        policy_number="ZK-1",
        valid_from=date(2025, 3, 1),
    )
    midwife = care.user(Role.MIDWIFE)
    new = in_scope(
        care,
        services.insurance_change,
        client=client,
        actor=midwife,
        insurer=other_insurer,
        policy_number=" VGZ-9 ",
        valid_from=date(2026, 1, 1),
    )
    first.refresh_from_db()
    assert first.valid_until == date(2025, 12, 31)
    assert (new.insurer, new.policy_number, new.valid_from, new.valid_until) == (
        other_insurer,
        "VGZ-9",
        date(2026, 1, 1),
        None,
    )
    with tenant_scope(care.tenant):
        assert selectors.client_insurance_on(client=client, day=date(2025, 2, 28)) is None
        assert selectors.client_insurance_on(client=client, day=date(2025, 12, 31)).insurer == care.insurer
        assert selectors.client_insurance_on(client=client, day=date(2026, 1, 1)).insurer == other_insurer
        assert selectors.client_insurance_on(client=client, day=date(2026, 6, 1)).insurer == other_insurer
    [entry] = access_entries(care, client=client, action="update")
    assert (entry.user, entry.object_type, entry.detail) == (midwife, "clientinsurance", "insurance")


@pytest.mark.parametrize("valid_from", [date(2026, 1, 1), date(2025, 6, 1), date(2024, 12, 1)])
def test_overlapping_or_backdated_insurance_change_is_refused(care, other_insurer, valid_from):
    client = ClientFactory(tenant=care.tenant)
    ClientInsurance.unscoped.create(
        tenant=care.tenant,
        client=client,
        insurer=care.insurer,
        policy_number="ZK-1",
        valid_from=date(2025, 3, 1),
        valid_until=date(2025, 12, 31),
    )
    ClientInsurance.unscoped.create(
        tenant=care.tenant,
        client=client,
        insurer=other_insurer,
        policy_number="VGZ-1",
        valid_from=date(2026, 1, 1),
    )
    before = list(
        ClientInsurance.unscoped.filter(client=client).values_list("pk", "valid_from", "valid_until")
    )
    with pytest.raises(ValidationError) as exc:
        in_scope(
            care,
            services.insurance_change,
            client=client,
            actor=care.user(Role.MIDWIFE),
            insurer=care.insurer,
            policy_number="ZK-2",
            valid_from=valid_from,
        )
    assert "valid_from" in exc.value.message_dict
    after = list(
        ClientInsurance.unscoped.filter(client=client).values_list("pk", "valid_from", "valid_until")
    )
    assert after == before


def test_insurance_change_through_the_client_page(care, other_insurer, as_role):
    response = as_role(Role.MIDWIFE).post(
        care.url(f"clients/{care.client.pk}/insurance/"),
        {
            "insurer": other_insurer.pk,
            "policy_number": "VGZ-7",
            "valid_from": timezone.localdate().isoformat(),
        },
    )
    assert response.status_code == 302
    assert response["Location"] == care.url(f"clients/{care.client.pk}/")
    with tenant_scope(care.tenant):
        assert (
            selectors.client_insurance_on(client=care.client, day=timezone.localdate()).insurer
            == other_insurer
        )
        yesterday = timezone.localdate() - timedelta(days=1)
        assert selectors.client_insurance_on(client=care.client, day=yesterday).insurer == care.insurer


# --- 6. access log (NEN 7513) ----------------------------------------------------------------


def test_client_page_view_is_logged_and_shows_only_the_masked_bsn(care, as_role):
    midwife = care.user(Role.MIDWIFE)
    response = as_role(Role.MIDWIFE).get(care.url(f"clients/{care.client.pk}/"))
    assert response.status_code == 200
    html = response.content.decode()
    assert care.client.bsn not in html
    assert care.client.bsn_masked in html
    assert care.client.bsn_masked == f"*****{care.client.bsn[-4:]}"
    [entry] = access_entries(care)
    assert (entry.user, entry.client, entry.action, entry.object_type, entry.object_id) == (
        midwife,
        care.client,
        "view",
        "client",
        str(care.client.pk),
    )


def test_episode_page_view_is_logged_and_has_no_bsn(care, as_role):
    log(care, at=ago(days=2))
    midwife = care.user(Role.MIDWIFE)
    response = as_role(Role.MIDWIFE).get(care.url(f"episodes/{care.episode.pk}/"))
    assert response.status_code == 200
    html = response.content.decode()
    assert care.client.bsn not in html
    assert all(care.client.bsn not in url for url in urls_in(html))
    [entry] = access_entries(care)
    assert (entry.user, entry.client, entry.action, entry.object_type, entry.object_id) == (
        midwife,
        care.client,
        "view",
        "episode",
        str(care.episode.pk),
    )


def test_search_is_a_post_logs_every_hit_and_shows_masked_bsns(care, as_role):
    other = ClientFactory(tenant=care.tenant, family_name="Jansen-de Vries", given_names="Bo")
    ClientFactory(tenant=care.tenant, family_name="Pietersen")
    gyn = care.user(Role.GYNAECOLOGIST)
    browser = as_role(Role.GYNAECOLOGIST)

    response = browser.post(care.url("clients/"), {"q": "jansen"})
    assert response.status_code == 200
    assert {c.pk for c in response.context["results"]} == {care.client.pk, other.pk}
    html = response.content.decode()
    for c in (care.client, other):
        assert c.bsn not in html
        assert c.bsn_masked in html
        assert care.url(f"clients/{c.pk}/") in urls_in(html)
    entries = access_entries(care, action="search")
    assert sorted((e.user, e.client_id, e.object_type, e.object_id) for e in entries) == sorted(
        (gyn, c.pk, "client", str(c.pk)) for c in (care.client, other)
    )


def test_search_by_bsn_keeps_the_bsn_out_of_urls_and_results(care, as_role):
    browser = as_role(Role.MIDWIFE)
    bsn = care.client.bsn

    page = browser.post(care.url("clients/"), {"q": bsn})
    assert [c.pk for c in page.context["results"]] == [care.client.pk]
    assert all(bsn not in url for url in urls_in(page.content.decode()))
    assert 'method="post"' in page.content.decode()

    partial = browser.post(care.url("clients/"), {"q": bsn}, headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert bsn not in partial.content.decode()
    assert care.client.bsn_masked in partial.content.decode()
    assert len(access_entries(care, action="search")) == 2

    # A BSN in a query string is not searched for (and therefore nothing is found or logged).
    get = browser.get(care.url("clients/") + f"?q={bsn}")
    assert get.status_code == 200
    assert get.context["results"] == []
    assert get.context["searched"] is False
    assert len(access_entries(care, action="search")) == 2


def test_search_with_an_invalid_bsn_finds_nothing(care, as_role):
    response = as_role(Role.MIDWIFE).post(care.url("clients/"), {"q": INVALID_BSN})
    assert response.context["results"] == []
    assert access_entries(care) == []


def test_day_list_of_the_maternity_carer_is_logged(care, as_role):
    episode = postnatal(care)
    log(care, "KZ_HOURS", at=ago(days=1), role=Role.MATERNITY_CARER, quantity=6)
    # Another client in pregnancy (no birth yet) is not on the day list.
    other = EpisodeFactory(
        tenant=care.tenant, intake_date=care.episode.intake_date, due_date=care.episode.due_date
    )
    CareEventFactory(
        tenant=care.tenant,
        episode=other,
        event_type=care.type("KZ_INTAKE"),
        occurred_at=ago(days=1),
        professional=care.carer,
        organisation=care.kraamzorg,
        created_by=care.user(Role.MATERNITY_CARER),
    )
    carer = care.user(Role.MATERNITY_CARER)
    response = as_role(Role.MATERNITY_CARER).get(care.url("today/"))
    assert response.status_code == 200
    assert [e.pk for e in response.context["episodes"]] == [episode.pk]
    assert response.context["episodes"][0].kraamzorg_hours == 6
    html = response.content.decode()
    assert care.client.bsn not in html
    entries = access_entries(care)
    assert [(e.user, e.client, e.action, e.detail) for e in entries] == [
        (carer, care.client, "view", "day list")
    ]


def test_access_log_admin_views_and_exports_a_clients_history(care, as_role, client_for):
    midwife = care.user(Role.MIDWIFE)
    admin = care.user(Role.IGO_ADMIN)
    other_client = ClientFactory(tenant=care.tenant)
    as_role(Role.MIDWIFE).get(care.url(f"clients/{care.client.pk}/"))
    as_role(Role.MIDWIFE).get(care.url(f"episodes/{care.episode.pk}/"))
    as_role(Role.MIDWIFE).get(care.url(f"clients/{other_client.pk}/"))
    browser = client_for(admin)

    page = browser.get(care.url(f"access-log/?client={care.client.pk}"))
    assert page.status_code == 200
    shown = list(page.context["page"].object_list)
    assert {e.client_id for e in shown} == {care.client.pk}
    assert sorted(e.object_type for e in shown) == ["client", "episode"]
    assert all(e.user == midwife for e in shown)
    assert care.client.bsn not in page.content.decode()

    export = browser.get(care.url(f"access-log/client/{care.client.pk}.csv"))
    assert export.status_code == 200
    assert export["Content-Type"].startswith("text/csv")
    assert f"access-history-client-{care.client.pk}.csv" in export["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert rows[0] == ["at", "user", "on_behalf_of", "action", "object_type", "object_id", "detail"]
    body = [(r[1], r[3], r[4], r[5]) for r in rows[1:]]
    assert (midwife.email, "view", "client", str(care.client.pk)) in body
    assert (midwife.email, "view", "episode", str(care.episode.pk)) in body
    assert (admin.email, "export", "", "") in body  # the export itself is in the history it exports
    assert len(body) == 3
    assert care.client.bsn not in export.content.decode()
    [exported] = access_entries(care, action="export")
    assert (exported.user, exported.client) == (admin, care.client)


def test_access_log_is_for_administrators_only(care, as_role):
    assert as_role(Role.MIDWIFE).get(care.url("access-log/")).status_code == 403
    assert as_role(Role.MIDWIFE).get(care.url(f"access-log/client/{care.client.pk}.csv")).status_code == 403
    assert access_entries(care, action="export") == []


def test_access_log_export_neutralises_formulas_in_the_detail(care, client_for):
    AccessLogEntry.unscoped.create(
        tenant=care.tenant,
        user=care.user(Role.MIDWIFE),
        client=care.client,
        action="view",
        detail='=HYPERLINK("http://evil.example","x")',
    )
    export = client_for(care.user(Role.IGO_ADMIN)).get(care.url(f"access-log/client/{care.client.pk}.csv"))
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert '\'=HYPERLINK("http://evil.example","x")' in [r[6] for r in rows]
    assert not any(cell.startswith(("=", "+", "@")) for r in rows[1:] for cell in r)


def test_access_log_export_neutralises_formulas_in_every_column(care, client_for):
    user = UserFactory(email="=cmd|'/c calc'!A1@example.test")
    AccessLogEntry.unscoped.create(tenant=care.tenant, user=user, client=care.client, action="view")
    export = client_for(care.user(Role.IGO_ADMIN)).get(care.url(f"access-log/client/{care.client.pk}.csv"))
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows[1:] for cell in r)


def _entry(care: Care) -> AccessLogEntry:
    return AccessLogEntry.unscoped.create(
        tenant=care.tenant, user=care.user(Role.MIDWIFE), client=care.client, action="view", detail="original"
    )


def test_access_log_entries_cannot_be_changed_or_deleted_by_the_application(care):
    entry = _entry(care)
    entry.detail = "tampered"
    with pytest.raises(Exception) as changed, transaction.atomic():
        entry.save()
    assert not isinstance(changed.value, DatabaseError)  # refused by the model, not only by a trigger
    with pytest.raises(Exception) as deleted, transaction.atomic():
        entry.delete()
    assert not isinstance(deleted.value, DatabaseError)
    assert AccessLogEntry.unscoped.get(pk=entry.pk).detail == "original"


def test_access_log_trigger_refuses_update_and_delete_on_postgresql(care):
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL only")
    entry = _entry(care)
    with pytest.raises(DatabaseError), transaction.atomic():
        AccessLogEntry.unscoped.filter(pk=entry.pk).update(detail="tampered")
    with pytest.raises(DatabaseError), transaction.atomic():
        AccessLogEntry.unscoped.filter(pk=entry.pk).delete()
    assert AccessLogEntry.unscoped.get(pk=entry.pk).detail == "original"


# --- 7. query counts -------------------------------------------------------------------------


def _episode_with_events(care: Care, n: int) -> Episode:
    episode = EpisodeFactory(
        tenant=care.tenant, intake_date=care.episode.intake_date, due_date=care.episode.due_date
    )
    first = timezone.now() - timedelta(days=55)
    for i in range(n):
        professional = care.midwife if i % 2 else care.gynaecologist
        CareEventFactory(
            tenant=care.tenant,
            episode=episode,
            event_type=care.type("PRE_CHECK" if i % 3 else "REFERRAL"),
            occurred_at=first + timedelta(hours=20 * i),
            professional=professional,
            organisation=professional.organisation,
            created_by=care.user(Role.MIDWIFE if i % 2 else Role.GYNAECOLOGIST),
            note="RR 120/80" if i % 4 == 0 else "",
        )
    return episode


def test_episode_page_query_count_does_not_grow_with_events(care, as_role):
    small = _episode_with_events(care, 5)
    large = _episode_with_events(care, 60)
    browser = as_role(Role.MIDWIFE)
    browser.get(care.url(f"episodes/{small.pk}/"))  # warm up session and caches
    counted = {}
    for episode in (small, large):
        with CaptureQueriesContext(connection) as queries:
            response = browser.get(care.url(f"episodes/{episode.pk}/"))
        assert response.status_code == 200
        assert (
            len(response.context["timeline"]["prenatal"])
            == CareEvent.unscoped.filter(episode=episode).count()
        )
        counted[episode.pk] = len(queries)
    assert counted[small.pk] == counted[large.pk], counted


# --- catalogue -------------------------------------------------------------------------------


def test_admin_adds_and_retires_catalogue_entries(care, as_role):
    admin = as_role(Role.IGO_ADMIN)
    url = care.url("catalogue/")
    body = {
        "code": "ECHO_EXTRA",
        "name_nl": "Extra echo",
        "name_en": "Extra ultrasound",
        "phase": "prenatal",
        "unit": "item",
        "disciplines": ["midwife", "gynaecologist"],
        "max_quantity": "1",
    }
    assert admin.post(url, body).status_code == 302
    added = EventType.unscoped.get(tenant=care.tenant, code="ECHO_EXTRA")
    assert added.disciplines == ["midwife", "gynaecologist"]
    for bad, field in (
        ({"code": "ECHO_EXTRA"}, "code"),
        ({"code": "echo x"}, "code"),
        ({"disciplines": []}, "disciplines"),
    ):
        response = admin.post(url, {**body, **bad})
        assert response.status_code == 400 and response.context["form"].errors[field]
    assert EventType.unscoped.filter(tenant=care.tenant, code="ECHO_EXTRA").count() == 1
    assert as_role(Role.MIDWIFE).post(url, {**body, "code": "OTHER"}).status_code == 403
    assert admin.post(care.url(f"catalogue/{added.pk}/toggle/")).status_code == 302
    added.refresh_from_db()
    assert not added.is_active
    with pytest.raises(ValidationError) as exc:
        log_service(care, "ECHO_EXTRA", at=ago(days=1))
    assert "event_type" in exc.value.message_dict
