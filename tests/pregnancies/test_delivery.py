"""One coherent delivery (issue 17, finding 2): the start of active labour, each child, the placenta, the
place and the line recorded once, in one transaction. It sets the care-path dates, logs the delivery event
for the midwife and opens the phases: a postnatal visit later that day is accepted. A correction keeps the
history and re-derives the phases.

The clock stands at 10 November 2026, 16:00 in Amsterdam; the home birth is that morning:
labour 01:30, child born 05:40, placenta 06:00, so the postnatal phase begins at 08:00.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from igo.models import AuditEntry, Role
from pregnancies import delivery, services
from pregnancies.models import Birth, CareEvent, ClinicalRevision, Episode, LineTransfer
from tests.scenarios.birth_record import BIRTH
from tests.scenarios.care import Care
from tests.scenarios.care_logging import (
    access_entries,
    first_line_from_intake,
    form_dt,
    in_scope,
    log_service,
)
from tests.scenarios.clock import local, travel

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BIRTH.afternoon)]


@pytest.fixture(autouse=True)
def first_line(care: Care) -> None:
    first_line_from_intake(care)


def record(care: Care, role: str = Role.MIDWIFE, **changes: Any) -> delivery.Delivery:
    values: dict[str, Any] = {
        "labour_started_at": BIRTH.labour,
        "children": [
            delivery.Child(born_at=BIRTH.born, outcome="live", mode="spontaneous", weight_grams=3400)
        ],
        "placenta_at": BIRTH.placenta,
        "place": "home",
        "line": "first",
        "now": BIRTH.afternoon,
        **changes,
    }
    return in_scope(care, delivery.delivery_record, episode=care.episode, actor=care.user(role), **values)


def correct(care: Care, reason: str = "time of labour misread", **changes: Any) -> delivery.Delivery:
    values: dict[str, Any] = {
        "labour_started_at": BIRTH.labour,
        "children": [
            delivery.Child(born_at=BIRTH.born, outcome="live", mode="spontaneous", weight_grams=3400)
        ],
        "placenta_at": BIRTH.placenta,
        "place": "home",
        "line": "first",
        "now": BIRTH.afternoon,
        **changes,
    }
    return in_scope(
        care,
        delivery.delivery_correct,
        episode=care.episode,
        actor=care.user(Role.MIDWIFE),
        reason=reason,
        **values,
    )


def nothing_stored(care: Care) -> None:
    episode = Episode.unscoped.get(pk=care.episode.pk)
    assert (episode.labour_started_at, episode.placenta_at, episode.placenta_plus_2h_at) == (None, None, None)
    assert not Birth.unscoped.filter(episode=episode).exists()
    assert not CareEvent.unscoped.filter(episode=episode).exists()
    assert not AuditEntry.objects.filter(action__startswith="delivery.").exists()


# --- the service ---------------------------------------------------------------------------------


def test_a_home_birth_recorded_once_sets_the_dates_the_birth_and_the_delivery_event(care):
    result = record(care)
    episode = Episode.unscoped.get(pk=care.episode.pk)
    assert (episode.labour_started_at, episode.placenta_at) == (BIRTH.labour, BIRTH.placenta)
    assert episode.placenta_plus_2h_at == local(2026, 11, 10, 8, 0)  # 06:00 + 2 hours
    (birth,) = Birth.unscoped.filter(episode=episode)
    assert (birth.born_at, birth.place, birth.mode, birth.weight_grams) == (
        BIRTH.born,
        "home",
        "spontaneous",
        3400,
    )
    # The delivery is logged once, at the birth, for the midwife who recorded it, in the natal phase.
    (event,) = CareEvent.unscoped.filter(episode=episode)
    assert event == result.event
    assert (event.event_type.code, event.occurred_at, event.phase) == ("DELIV_HOME", BIRTH.born, "natal")
    assert (event.professional, event.organisation) == (care.midwife, care.practice)
    # She was first line from the intake: no transfer is added.
    assert list(LineTransfer.unscoped.filter(episode=episode).values_list("line", flat=True)) == ["first"]
    # The audit trail names what was recorded, not the values (those are the record: access-logged).
    (audit,) = AuditEntry.objects.filter(action="delivery.record")
    assert {"labour_started_at", "children.1.born_at", "children.1.weight_grams"} <= set(
        audit.details["fields"]
    )
    assert audit.details["event"] == event.pk
    assert (
        BIRTH.born.isoformat() not in json.dumps(audit.details)
        and "children.1.outcome" in audit.details["fields"]
    )
    assert ("create", "delivery") in [(e.action, e.detail) for e in access_entries(care)]


def test_the_delivery_is_recorded_right_after_the_placenta(care):
    # At 06:05 placenta + 2 hours (08:00) still lies ahead; the delivery is recorded all the same.
    with travel(local(2026, 11, 10, 6, 5), tick=False):
        record(care, now=local(2026, 11, 10, 6, 5))
    assert Episode.unscoped.get(pk=care.episode.pk).placenta_plus_2h_at == local(2026, 11, 10, 8)


def test_after_the_delivery_a_postnatal_visit_that_afternoon_is_accepted(care):
    record(care)
    event, created, _warnings = log_service(care, "POST_VISIT", at=local(2026, 11, 10, 14))
    assert created and event.phase == "postnatal"
    # 07:00 still lies in the natal phase (placenta + 2 hours is 08:00).
    with pytest.raises(ValidationError) as exc:
        log_service(care, "POST_VISIT", at=local(2026, 11, 10, 7))
    assert "occurred_at" in exc.value.message_dict


def test_before_the_delivery_the_phase_error_says_where_to_record_it(care):
    with pytest.raises(ValidationError) as exc:
        log_service(care, "POST_VISIT", at=local(2026, 11, 10, 14))
    (message,) = exc.value.message_dict["occurred_at"]
    # In Dutch, the default: the reason, and where the delivery is recorded.
    assert "er is nog geen bevalling vastgelegd" in message
    assert "onder “Bevalling” op de zwangerschapspagina" in message


def test_twins_are_two_births_of_one_episode_with_one_delivery_event(care):
    second = BIRTH.born + timedelta(minutes=14)
    record(
        care,
        children=[
            delivery.Child(born_at=BIRTH.born, outcome="live", mode="spontaneous"),
            delivery.Child(born_at=second, outcome="live", mode="assisted", weight_grams=2300),
        ],
        place="polyclinic",
    )
    births = Birth.unscoped.filter(episode=care.episode).order_by("child_number")
    assert [(b.child_number, b.born_at, b.mode, b.place) for b in births] == [
        (1, BIRTH.born, "spontaneous", "polyclinic"),
        (2, second, "assisted", "polyclinic"),
    ]
    (event,) = CareEvent.unscoped.filter(episode=care.episode)
    assert (event.event_type.code, event.occurred_at) == ("DELIV_POLI", BIRTH.born)


def test_a_clinical_birth_under_the_gynaecologist_moves_the_line_at_the_start_of_labour(care):
    record(care, role=Role.GYNAECOLOGIST, place="clinical", line="second")
    transfers = LineTransfer.unscoped.filter(episode=care.episode).order_by("effective_at")
    assert [(t.line, t.effective_at) for t in transfers][-1] == ("second", BIRTH.labour)
    (event,) = CareEvent.unscoped.filter(episode=care.episode)
    assert (event.event_type.code, event.professional) == ("DELIV_CLIN", care.gynaecologist)


def test_a_transfer_during_labour_recorded_before_the_delivery_keeps_its_moment(care):
    """Labour began under the midwife; two hours in she transferred to the hospital (issue 20: transfer
    during labour). The clinical delivery adds no second transfer at the start of labour."""
    in_scope(
        care, services.line_transfer, episode=care.episode, actor=care.user(Role.MIDWIFE), line="second",
        effective_at=BIRTH.labour + timedelta(hours=2), reason="no progress",
    )  # fmt: skip
    record(care, role=Role.GYNAECOLOGIST, place="clinical", line="second")
    transfers = LineTransfer.unscoped.filter(episode=care.episode).order_by("effective_at", "pk")
    assert [(t.line, t.effective_at) for t in transfers][-2:] == [
        ("first", transfers[0].effective_at),
        ("second", BIRTH.labour + timedelta(hours=2)),
    ]
    assert transfers.count() == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"children": [delivery.Child(born_at=BIRTH.labour - timedelta(hours=1))]}, "born_at_1"),
        ({"placenta_at": BIRTH.born - timedelta(minutes=5)}, "born_at_1"),  # the child after the placenta
        ({"placenta_at": BIRTH.labour - timedelta(minutes=5)}, "placenta_at"),
        ({"labour_started_at": BIRTH.afternoon + timedelta(hours=2)}, "labour_started_at"),
        ({"labour_started_at": None}, "labour_started_at"),
        ({"children": [delivery.Child(born_at=BIRTH.born, weight_grams=90)]}, "weight_grams_1"),
        ({"children": [delivery.Child(born_at=BIRTH.born, mode="teleport")]}, "mode_1"),
        ({"place": "clinical", "line": "first"}, "line"),
        ({"place": "home", "line": "second"}, "line"),
    ],
)
def test_bad_input_is_refused_at_its_field_and_nothing_is_stored(care, changes, field):
    with pytest.raises(ValidationError) as exc:
        record(care, **changes)
    assert field in exc.value.message_dict
    nothing_stored(care)


def test_a_midwife_cannot_log_a_clinical_delivery_and_nothing_is_stored(care):
    # A clinical birth is the gynaecologist's entry (DELIV_CLIN): the midwife's discipline may not log it.
    with pytest.raises(ValidationError) as exc:
        record(care, place="clinical", line="second")
    assert "place" in exc.value.message_dict
    nothing_stored(care)
    assert list(LineTransfer.unscoped.filter(episode=care.episode).values_list("line", flat=True)) == [
        "first"
    ]


def test_a_delivery_is_recorded_once_then_corrected(care):
    record(care)
    with pytest.raises(ValidationError) as exc:
        record(care)
    assert "__all__" in exc.value.message_dict
    assert Birth.unscoped.filter(episode=care.episode).count() == 1


def test_a_correction_keeps_the_history_and_re_derives_the_phases(care):
    first = record(care)
    visit, _created, _w = log_service(care, "POST_VISIT", at=local(2026, 11, 10, 14))
    Episode.unscoped.filter(pk=care.episode.pk).update(changed_at=local(2026, 11, 10, 9))
    # Labour began the evening before; the placenta came at 06:30.
    labour = local(2026, 11, 9, 22, 15)
    corrected = correct(care, labour_started_at=labour, placenta_at=local(2026, 11, 10, 6, 30))
    episode = Episode.unscoped.get(pk=care.episode.pk)
    assert (episode.labour_started_at, episode.placenta_plus_2h_at) == (labour, local(2026, 11, 10, 8, 30))
    assert episode.changed_at > local(2026, 11, 10, 9)  # the billing sweep picks the episode up
    # The delivery event was superseded, not edited: the original stays with the reason.
    old = CareEvent.unscoped.get(pk=first.event.pk)
    assert (old.status, old.change_reason) == ("superseded", "time of labour misread")
    assert corrected.event.supersedes_id == old.pk and corrected.event.status == "active"
    assert corrected.event.phase == "natal"
    # The birth keeps its row; the record's history keeps the delivery before and after with the reason,
    # the audit entry names the fields that changed and that revision, no value and no reason.
    assert [b.pk for b in corrected.births] == [b.pk for b in first.births]
    (revision,) = ClinicalRevision.unscoped.filter(episode=episode, kind="delivery")
    assert revision.before["labour_started_at"] == BIRTH.labour.isoformat()
    assert revision.after["labour_started_at"] == labour.isoformat()
    fields = ["labour_started_at", "placenta_at", "placenta_plus_2h_at"]
    assert revision.reason == "time of labour misread" and revision.fields == fields
    (audit,) = AuditEntry.objects.filter(action="delivery.correct")
    assert audit.details == {
        "fields": fields,
        "revision": revision.pk,
        "event": corrected.event.pk,
        "supersedes": old.pk,
    }
    visit.refresh_from_db()
    assert visit.status == "active" and episode.phase_at(visit.occurred_at) == "postnatal"


def test_a_correction_that_would_move_logged_care_into_another_phase_is_refused(care):
    record(care)
    log_service(care, "POST_VISIT", at=local(2026, 11, 10, 9))
    with pytest.raises(ValidationError) as exc:
        correct(care, placenta_at=local(2026, 11, 10, 8))  # postnatal only from 10:00: the 09:00 visit
    assert "__all__" in exc.value.message_dict
    episode = Episode.unscoped.get(pk=care.episode.pk)
    assert episode.placenta_at == BIRTH.placenta
    assert CareEvent.unscoped.filter(episode=episode, status="active").count() == 2


def test_a_correction_needs_a_reason_and_a_recorded_delivery(care):
    with pytest.raises(ValidationError) as exc:
        correct(care)
    assert "__all__" in exc.value.message_dict
    record(care)
    with pytest.raises(ValidationError) as exc:
        correct(care, reason=" ")
    assert "change_reason" in exc.value.message_dict


def test_a_correction_to_twins_adds_the_second_child(care):
    record(care)
    second = BIRTH.born + timedelta(minutes=20)
    correct(
        care,
        children=[delivery.Child(born_at=BIRTH.born), delivery.Child(born_at=second, mode="caesarean")],
        reason="second child",
    )
    assert [(b.child_number, b.born_at) for b in Birth.unscoped.filter(episode=care.episode)] == [
        (1, BIRTH.born),
        (2, second),
    ]


def test_a_second_child_born_before_the_first_is_refused_at_its_time(care):
    # Twins: child 1 at 05:40, child 2 typed as 05:30. The numbers are the birth order (Perined's), so the
    # second child's time is refused at its field and nothing is stored.
    with pytest.raises(ValidationError) as exc:
        record(
            care,
            children=[
                delivery.Child(born_at=BIRTH.born, outcome="live", mode="spontaneous"),
                delivery.Child(
                    born_at=BIRTH.born - timedelta(minutes=10), outcome="live", mode="spontaneous"
                ),
            ],
        )
    assert set(exc.value.message_dict) == {"born_at_2"}
    assert "10-11-2026 05:40" in exc.value.message_dict["born_at_2"][0]
    nothing_stored(care)
    # The same minute is possible (two children born within the minute the form records).
    record(care, children=[delivery.Child(born_at=BIRTH.born), delivery.Child(born_at=BIRTH.born)])
    assert Birth.unscoped.filter(episode=care.episode).count() == 2


def test_a_correction_cannot_put_a_child_before_the_one_numbered_before_it(care):
    record(care)
    with pytest.raises(ValidationError) as exc:
        correct(
            care,
            children=[
                delivery.Child(born_at=BIRTH.born),
                delivery.Child(born_at=BIRTH.born + timedelta(minutes=5)),
                delivery.Child(born_at=BIRTH.born + timedelta(minutes=2)),
            ],
            reason="drieling",
        )
    assert set(exc.value.message_dict) == {"born_at_3"}
    assert [b.child_number for b in Birth.unscoped.filter(episode=care.episode)] == [1]


# --- the page ------------------------------------------------------------------------------------


def form_data(**changes: Any) -> dict[str, Any]:
    return {
        "labour_started_at": form_dt(BIRTH.labour),
        "born_at_1": form_dt(BIRTH.born),
        "outcome_1": "live",
        "mode_1": "spontaneous",
        "weight_grams_1": "3400",
        "born_at_2": "",
        "outcome_2": "live",
        "mode_2": "spontaneous",
        "weight_grams_2": "",
        "placenta_at": form_dt(BIRTH.placenta),
        "place": "home",
        "line": "first",
        **changes,
    }


def test_the_delivery_form_records_it_and_then_offers_its_correction(care, as_role):
    http = as_role(Role.MIDWIFE)
    url = care.url(f"episodes/{care.episode.pk}/delivery/")
    response = http.post(url, form_data())
    assert response.status_code == 302 and response["Location"].endswith("#delivery")
    assert Birth.unscoped.filter(episode=care.episode).count() == 1
    page = http.get(care.url(f"episodes/{care.episode.pk}/"))
    form = page.context["delivery_form"]
    assert form.correcting and "change_reason" in form.fields
    assert 'data-testid="delivery-form"' in page.content.decode()
    # A correction without its reason is refused at the field; with it, stored.
    refused = http.post(url, form_data(placenta_at=form_dt(local(2026, 11, 10, 6, 10))))
    assert refused.status_code == 400 and "change_reason" in refused.context["delivery_form"].errors
    done = http.post(
        url, form_data(placenta_at=form_dt(local(2026, 11, 10, 6, 10)), change_reason="placenta 06:10")
    )
    assert done.status_code == 302
    assert Episode.unscoped.get(pk=care.episode.pk).placenta_at == local(2026, 11, 10, 6, 10)


def test_a_refused_delivery_shows_the_form_with_errors_in_dutch_and_stores_nothing(care, as_role):
    http = as_role(Role.MIDWIFE)
    response = http.post(
        care.url(f"episodes/{care.episode.pk}/delivery/"),
        form_data(born_at_1=form_dt(BIRTH.labour - timedelta(hours=1))),
        HTTP_ACCEPT_LANGUAGE="nl",
    )
    assert response.status_code == 400
    errors = response.context["delivery_form"].errors
    assert set(errors) == {"born_at_1"}
    assert "vóór het begin van de actieve baring" in errors["born_at_1"][0]
    nothing_stored(care)


def test_another_igos_episode_answers_404(care, care_b, client_for):
    http = client_for(care.user(Role.MIDWIFE))
    response = http.post(care.url(f"episodes/{care_b.episode.pk}/delivery/"), form_data())
    assert response.status_code == 404
    assert not Birth.unscoped.filter(episode=care_b.episode).exists()


def test_the_page_has_one_delivery_card_and_keeps_the_other_dates(care, as_role):
    page = as_role(Role.MIDWIFE).get(care.url(f"episodes/{care.episode.pk}/"))
    assert set(page.context["key_dates_form"].fields) == set(services.KEY_DATE_FIELDS) - {
        "labour_started_at",
        "placenta_plus_2h_at",
    }
    html = page.content.decode()
    assert html.count('data-testid="delivery-form"') == 1
    assert "birth-form" not in html


def test_the_refusal_of_a_child_out_of_order_is_in_dutch_at_its_field(care, as_role):
    response = as_role(Role.MIDWIFE).post(
        care.url(f"episodes/{care.episode.pk}/delivery/"),
        form_data(born_at_2=form_dt(BIRTH.born - timedelta(minutes=10))),
        HTTP_ACCEPT_LANGUAGE="nl",
    )
    assert response.status_code == 400
    errors = response.context["delivery_form"].errors
    assert set(errors) == {"born_at_2"}
    assert "Kind 2 kan niet vóór kind 1 geboren zijn (10-11-2026 05:40)" in errors["born_at_2"][0]
    nothing_stored(care)


def test_the_summary_names_the_earliest_birth(care, as_role):
    # A record from before the order check: child 2 born ten minutes before child 1. The summary's "first
    # born" is the earlier time, not child 1's.
    for number, born in ((1, BIRTH.born), (2, BIRTH.born - timedelta(minutes=10))):
        Birth.unscoped.create(
            tenant=care.tenant,
            episode=care.episode,
            child_number=number,
            born_at=born,
            place="home",
            mode="spontaneous",
        )
    html = as_role(Role.MIDWIFE).get(care.url(f"episodes/{care.episode.pk}/"), HTTP_ACCEPT_LANGUAGE="nl")
    summary = html.content.decode()
    summary = summary[summary.index('data-testid="delivery-card"') :]
    summary = summary[: summary.index("</summary>")]
    assert "eerste geboren 10-11-2026 05:30" in summary


# --- more than two children on the page ----------------------------------------------------------


def test_the_form_offers_four_children_the_last_two_folded_away(care, as_role):
    page = as_role(Role.MIDWIFE).get(care.url(f"episodes/{care.episode.pk}/"), HTTP_ACCEPT_LANGUAGE="nl")
    html = page.content.decode()
    assert delivery.MAX_CHILDREN == 4
    for n in range(1, 5):
        assert f'name="born_at_{n}"' in html and f'data-testid="child-{n}"' in html
    folded = html[html.index('data-testid="more-children"') :]
    folded = folded[: folded.index("</details>")]
    assert "Nog een kind (drieling, vierling)" in folded
    assert 'name="born_at_3"' in folded and 'name="born_at_4"' in folded and 'name="born_at_2"' not in folded
    assert not page.context["delivery_form"].folded_in_use()
    assert "Kind 3 geboren om" in html


def test_triplets_are_recorded_from_the_page(care, as_role):
    http = as_role(Role.MIDWIFE)
    times = [BIRTH.born, BIRTH.born + timedelta(minutes=4), BIRTH.born + timedelta(minutes=9)]
    response = http.post(
        care.url(f"episodes/{care.episode.pk}/delivery/"),
        form_data(
            born_at_2=form_dt(times[1]),
            born_at_3=form_dt(times[2]),
            outcome_3="live",
            mode_3="spontaneous",
            weight_grams_3="1900",
        ),
    )
    assert response.status_code == 302, response.context and response.context["delivery_form"].errors
    births = list(Birth.unscoped.filter(episode=care.episode).order_by("child_number"))
    assert [(b.child_number, b.born_at) for b in births] == [(1, times[0]), (2, times[1]), (3, times[2])]
    assert (births[2].outcome, births[2].weight_grams) == ("live", 1900)
    # The correction form holds all three, the third slot shown open.
    form = http.get(care.url(f"episodes/{care.episode.pk}/")).context["delivery_form"]
    assert form.correcting and form.folded_in_use()
    assert form.initial["born_at_3"] == times[2]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        # A third child without a second: the gap is named at the second.
        ({"born_at_3": "2026-11-10T05:50"}, "born_at_2", "Vul kind 2 in vóór kind 3."),
        # A weight without a time of birth: the slot is not half used.
        ({"weight_grams_4": "2100"}, "born_at_4", "Geef het geboortetijdstip van kind 4"),
    ],
)
def test_a_child_slot_used_out_of_order_is_refused_at_its_field(care, as_role, changes, field, message):
    response = as_role(Role.MIDWIFE).post(
        care.url(f"episodes/{care.episode.pk}/delivery/"), form_data(**changes), HTTP_ACCEPT_LANGUAGE="nl"
    )
    assert response.status_code == 400
    form = response.context["delivery_form"]
    assert message in form.errors[field][0]
    assert form.folded_in_use()  # the third or fourth slot holds something: shown open
    nothing_stored(care)


def test_the_audit_trail_shows_no_clinical_value_and_the_record_keeps_the_correction(care, client_for):
    """Security review: a delivery's values (weight, outcome, the reason of a correction) were in the audit
    entries, which the IGO's administrators and the operator read without an access log entry."""
    from tests.factories import UserFactory, second_factor

    record(care)
    correct(
        care,
        reason="Gewicht verkeerd overgenomen",
        children=[
            delivery.Child(born_at=BIRTH.born, outcome="stillborn", mode="spontaneous", weight_grams=2875)
        ],
    )
    admin_page = client_for(care.user(Role.IGO_ADMIN)).get(care.url("audit/")).content.decode()
    assert "Bevalling gecorrigeerd" in admin_page and "children.1.weight_grams" in admin_page
    operator = UserFactory(email="operator@platform.test", is_staff=True, is_superuser=True)
    second_factor(operator)
    op = client_for(operator)
    entry = AuditEntry.objects.get(action="delivery.correct")
    op_pages = (
        op.get("/admin/igo/auditentry/").content.decode()
        + op.get(f"/admin/igo/auditentry/{entry.pk}/change/").content.decode()
    )
    for value in (
        "3400",
        "2875",
        "stillborn",
        "Doodgeboren",
        "Gewicht verkeerd",
        BIRTH.born.isoformat()[:16],
    ):
        assert value not in admin_page and value not in op_pages, value
        assert value not in json.dumps([e.details for e in AuditEntry.objects.all()]), value
    assert "fields" in op_pages  # the names of the details only
    # The correction is traceable in the record itself: its history page, which is access-logged.
    midwife = client_for(care.user(Role.MIDWIFE))
    history = midwife.get(care.url(f"episodes/{care.episode.pk}/history/")).content.decode()
    assert "Gewicht verkeerd overgenomen" in history
    assert (
        "children.1.weight_grams: 3400 → 2875" in history
        and "children.1.outcome: live → stillborn" in history
    )
    assert ("view", "history") in [(e.action, e.detail) for e in access_entries(care)]
