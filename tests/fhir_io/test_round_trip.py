"""Round trip (issue 21): an episode exported from IGO Alpha as a hand-over document is sent by a member
system of IGO Beta to Beta's FHIR endpoint, changed only where it must be (Beta's client by BSN, Beta's
midwife by AGB, Beta's pregnancy, Beta's code mapping of the platform's catalogue codes); Beta then has the
same care, births and outcomes. Sending it again changes nothing; a changed birth weight is a correction of
the delivery with its history.

The world: tests.scenarios.fhir_export (Alpha's delivered pregnancy; Beta's client with the same dates).
"""

from __future__ import annotations

import copy

import pytest

from fhir_io import export
from fhir_io.models import FhirOutcomeLink, FhirResourceLink
from igo.models import AuditEntry, Role
from igo.tenancy import tenant_scope
from pregnancies import services
from pregnancies.models import AccessLogEntry, Birth, CareEvent, ClinicalRevision, EventStatus
from tests.scenarios.care import Care
from tests.scenarios.fhir import sender_for
from tests.scenarios.fhir_export import (
    NOW,
    as_transaction,
    birth_summary,
    care_summary,
    delivered,
    outcome_summary,
    pregnancy_of_nov_2026,
    receiving_side,
)

pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture
def sent(care: Care, care_b: Care) -> dict:
    """Alpha's episode as Beta's practice system sends it."""
    episode = delivered(care)
    pregnancy_of_nov_2026(care_b)
    receiving_side(care_b)
    with tenant_scope(care.tenant):
        document = export.episode_document(
            tenant=care.tenant, episode=episode, actor=care.user(Role.MIDWIFE), receiver="hospital", now=NOW
        )
    return as_transaction(document, receiver=care_b, agb={care.midwife.agb_code: care_b.midwife.agb_code})


def test_beta_has_the_same_care_births_and_outcomes(care: Care, care_b: Care, sent: dict) -> None:
    answer = sender_for(care_b).post(sent)
    assert answer.status_code == 200, answer.content
    assert care_summary(care_b.episode) == care_summary(care.episode)
    assert [c for c, *_ in care_summary(care_b.episode)] == [
        "INTAKE",
        "PRE_CHECK",
        "DELIV_HOME",
        "POST_VISIT",
    ]
    assert birth_summary(care_b.episode) == birth_summary(care.episode)
    assert outcome_summary(care_b.episode) == outcome_summary(care.episode)
    # Written by Beta's practice system, for Beta's midwife, in Beta's access log.
    events = CareEvent.unscoped.filter(episode=care_b.episode)
    assert {e.professional_id for e in events} == {care_b.midwife.pk}
    assert {e.tenant_id for e in events} == {care_b.tenant.pk}
    system_user = events.first().created_by
    assert AccessLogEntry.unscoped.filter(
        tenant=care_b.tenant, client=care_b.client, user=system_user
    ).exists()
    assert AuditEntry.objects.filter(action="delivery.record", actor=system_user).count() == 1
    # The delivery entry answers with Beta's pregnancy.
    statuses = [e["response"] for e in answer.json()["entry"]]
    assert {"status": "201 Created", "location": f"EpisodeOfCare/{care_b.episode.pk}"} in statuses


def test_sending_it_again_changes_nothing(care: Care, care_b: Care, sent: dict) -> None:
    sender = sender_for(care_b)
    assert sender.post(sent).status_code == 200
    before = (
        list(CareEvent.unscoped.filter(episode=care_b.episode).values_list("pk", "status", "occurred_at")),
        list(Birth.unscoped.filter(episode=care_b.episode).values()),
        outcome_summary(care_b.episode),
        AuditEntry.objects.count(),
    )
    again = sender.post(sent)
    assert again.status_code == 200, again.content
    assert "201 Created" not in {e["response"]["status"] for e in again.json()["entry"]}
    after = (
        list(CareEvent.unscoped.filter(episode=care_b.episode).values_list("pk", "status", "occurred_at")),
        list(Birth.unscoped.filter(episode=care_b.episode).values()),
        outcome_summary(care_b.episode),
        AuditEntry.objects.count(),
    )
    assert after == before
    assert FhirOutcomeLink.unscoped.count() == 1 and FhirResourceLink.unscoped.count() == 3


def test_a_changed_birth_is_a_correction_with_history(care: Care, care_b: Care, sent: dict) -> None:
    sender = sender_for(care_b)
    assert sender.post(sent).status_code == 200
    changed = copy.deepcopy(sent)
    for entry in changed["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Observation" and resource["code"]["coding"][0]["code"] == "child":
            for component in resource["component"]:
                if component["code"]["coding"][0]["code"] == "birth-weight":
                    component["valueQuantity"]["value"] = 3520
                if component["code"]["coding"][0]["code"] == "nicu":
                    component["valueBoolean"] = True
    answer = sender.post(changed)
    assert answer.status_code == 200, answer.content
    birth = Birth.unscoped.get(episode=care_b.episode)
    assert (birth.weight_grams, birth.nicu_admission) == (3520, True)
    audit = AuditEntry.objects.get(action="delivery.correct")
    assert audit.details["fields"] == ["children.1.weight_grams"]
    revision = ClinicalRevision.unscoped.get(pk=audit.details["revision"])
    assert revision.before["children"][0]["weight_grams"] == 3450 and "FHIR" in revision.reason
    # The delivery event was superseded by a corrected one; the care sent unchanged is untouched.
    deliveries = CareEvent.unscoped.filter(episode=care_b.episode, event_type__code="DELIV_HOME")
    assert sorted(deliveries.values_list("status", flat=True)) == [EventStatus.ACTIVE, EventStatus.SUPERSEDED]
    # Unchanged again: nothing more.
    assert sender.post(changed).status_code == 200
    assert AuditEntry.objects.filter(action="delivery.correct").count() == 1


def test_a_correction_and_a_void_in_alpha_follow_on_the_next_send(
    care: Care, care_b: Care, sent: dict
) -> None:
    """Alpha corrects the intake's time and voids the postnatal visit, then exports again: Beta's member
    system sends the new export and Beta corrects and voids the same events, keeping their history."""
    sender = sender_for(care_b)
    assert sender.post(sent).status_code == 200
    midwife = care.user(Role.MIDWIFE)
    with tenant_scope(care.tenant):
        events = CareEvent.objects.filter(episode=care.episode, status=EventStatus.ACTIVE)
        intake = events.get(event_type__code="INTAKE")
        services.care_event_correct(
            event=intake, actor=midwife, reason="time", occurred_at=intake.occurred_at.replace(hour=11)
        )
        services.care_event_void(
            event=events.get(event_type__code="POST_VISIT"), actor=midwife, reason="twice"
        )
        document = export.episode_document(
            tenant=care.tenant, episode=care.episode, actor=midwife, receiver="hospital", now=NOW
        )
    again = as_transaction(document, receiver=care_b, agb={care.midwife.agb_code: care_b.midwife.agb_code})
    answer = sender.post(again)
    assert answer.status_code == 200, answer.content
    assert care_summary(care_b.episode) == care_summary(care.episode)
    assert [c for c, *_ in care_summary(care_b.episode)] == ["INTAKE", "PRE_CHECK", "DELIV_HOME"]
    history = dict(
        CareEvent.unscoped.filter(episode=care_b.episode)
        .exclude(status=EventStatus.ACTIVE)
        .values_list("event_type__code", "status")
    )
    assert history == {"INTAKE": EventStatus.SUPERSEDED, "POST_VISIT": EventStatus.VOIDED}
