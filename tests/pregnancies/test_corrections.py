"""Correcting and voiding a care event: the original stays and links its replacement, only its creator may
change it and only once, a void needs a reason, a correction is validated like a new event; through the
service and the pages, and never for another tenant's event.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies import selectors, services
from pregnancies.models import CareEvent, EventStatus
from tests.scenarios.care_logging import access_entries, ago, form_dt, in_scope, log, postnatal

pytestmark = [pytest.mark.django_db, pytest.mark.dated]


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
    assert void.status_code == 400
    assert void.context["void_form"].non_field_errors()
    event.refresh_from_db()
    assert event.status == "active"
    assert CareEvent.unscoped.filter(episode=care.episode).count() == 1


def test_void_through_the_page(care, as_role):
    event = log(care, at=ago(days=3))
    browser = as_role(Role.MIDWIFE)
    url = care.url(f"events/{event.pk}/void/")

    without_reason = browser.post(url, {"change_reason": ""})
    assert without_reason.status_code == 400
    assert without_reason.context["void_form"].errors == {
        "change_reason": ["Geef de reden op om deze registratie ongeldig te maken."]
    }
    event.refresh_from_db()
    assert event.status == "active"

    # POST only: a GET (a reload of the refused form's address) goes back to the page with the form.
    reload = browser.get(url)
    assert (reload.status_code, reload["Location"]) == (303, care.url(f"events/{event.pk}/"))

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
