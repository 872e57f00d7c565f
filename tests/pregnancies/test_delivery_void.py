"""A delivery recorded in error is undone by voiding its event (suspicion 2 of the review): the delivery event,
the births and the phase dates go together, so no birth is billed that the record no longer holds, and a
delivery event can no longer be voided or corrected on its own while its births and dates stay.

The clock stands at 10 November 2026, 16:00 in Amsterdam; the home birth is that morning: labour 01:30, child
born 05:40, placenta 06:00 (postnatal from 08:00).
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from billing.services.rollup import ended_phases
from igo.models import AuditEntry, Role
from pregnancies import delivery, services
from pregnancies.models import Birth, CareEvent, ClinicalRevision, Episode
from tests.scenarios.birth_record import BIRTH
from tests.scenarios.care import Care
from tests.scenarios.care_logging import access_entries, first_line_from_intake, in_scope, log_service
from tests.scenarios.clock import local

pytestmark = [pytest.mark.django_db, pytest.mark.dated, pytest.mark.clock(BIRTH.afternoon)]


@pytest.fixture(autouse=True)
def first_line(care: Care) -> None:
    first_line_from_intake(care)


def record(care: Care) -> delivery.Delivery:
    return in_scope(
        care,
        delivery.delivery_record,
        episode=care.episode,
        actor=care.user(Role.MIDWIFE),
        labour_started_at=BIRTH.labour,
        children=[delivery.Child(born_at=BIRTH.born, outcome="live", mode="spontaneous", weight_grams=3400)],
        placenta_at=BIRTH.placenta,
        place="home",
        line="first",
        now=BIRTH.afternoon,
    )


def void(
    care: Care, event: CareEvent, reason: str = "wrong client: the birth belongs to another woman"
) -> None:
    in_scope(care, services.care_event_void, event=event, actor=care.user(Role.MIDWIFE), reason=reason)


def test_voiding_the_delivery_event_undoes_the_delivery_and_its_phases(care):
    result = record(care)
    episode = Episode.unscoped.get(pk=care.episode.pk)
    assert [p.phase for p in ended_phases(episode)] == ["prenatal", "natal"]  # postnatal care still runs
    void(care, result.event)
    episode = Episode.unscoped.get(pk=care.episode.pk)
    event = CareEvent.unscoped.get(pk=result.event.pk)
    assert (event.status, event.voided_by) == ("voided", care.user(Role.MIDWIFE))
    assert not Birth.unscoped.filter(episode=episode).exists()
    assert (episode.labour_started_at, episode.placenta_at, episode.placenta_plus_2h_at) == (None, None, None)
    # No phase has ended any more: the billing run takes back a prenatal claim (a credit if it was sent).
    assert ended_phases(episode) == []
    # The delivery as it was stays in the record's history; the audit entry names fields, no value.
    (revision,) = ClinicalRevision.unscoped.filter(episode=episode, kind="delivery")
    assert (
        revision.before["children"][0]["born_at"] == BIRTH.born.isoformat()
        and revision.after["children"] == []
    )
    assert revision.reason and "children.1.born_at" in revision.fields
    (audit,) = AuditEntry.objects.filter(action="delivery.void")
    assert audit.details == {"fields": revision.fields, "revision": revision.pk, "event": result.event.pk}
    assert BIRTH.born.isoformat() not in str(audit.details)
    assert ("void", "delivery") in [(e.action, e.detail) for e in access_entries(care)]
    # Recorded anew (now for the right client, say), it is a fresh delivery.
    record(care)
    assert Birth.unscoped.filter(episode=episode).count() == 1


def test_a_delivery_with_postnatal_care_logged_after_it_is_not_undone(care):
    result = record(care)
    log_service(care, "POST_VISIT", at=local(2026, 11, 10, 14))
    with pytest.raises(ValidationError):
        void(care, result.event)
    # Nothing changed: the event, the birth and the dates stay.
    assert CareEvent.unscoped.get(pk=result.event.pk).status == "active"
    assert Birth.unscoped.filter(episode=care.episode).count() == 1
    assert Episode.unscoped.get(pk=care.episode.pk).labour_started_at == BIRTH.labour
    assert not AuditEntry.objects.filter(action="delivery.void").exists()


def test_the_delivery_event_is_not_corrected_on_its_own(care):
    result = record(care)
    with pytest.raises(ValidationError) as exc:
        in_scope(
            care,
            services.care_event_correct,
            event=result.event,
            actor=care.user(Role.MIDWIFE),
            reason="other time",
            occurred_at=local(2026, 11, 10, 5, 0),
        )
    assert "Delivery" in " ".join(exc.value.messages) or "Bevalling" in " ".join(exc.value.messages)
    assert CareEvent.unscoped.get(pk=result.event.pk).status == "active"
