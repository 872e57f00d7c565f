"""The birth record's Kernset fields (issue 20): presentation, onset of labour, previous caesareans and
perineal damage with the delivery, Apgar at 1 and 5 minutes per child, breastfeeding at the end of
kraamzorg. All optional (empty: not recorded), validated with field-level errors, shown with the Robson
group derived from them and with plausibility warnings that never refuse.

The clock stands at 10 November 2026, 16:00 in Amsterdam; the woman is due that day (40+0 weeks) and gives
birth at 05:40 after labour from 01:30, placenta 06:00."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from igo.models import Role
from pregnancies import delivery, plausibility, services
from pregnancies.models import AccessLogEntry, Birth, Episode
from tests.scenarios.birth_record import BIRTH, at_term
from tests.scenarios.care import Care
from tests.scenarios.care_logging import form_dt, in_scope
from tests.scenarios.clock import local
from tests.scenarios.http import api

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BIRTH.afternoon)]


@pytest.fixture(autouse=True)
def due_on_the_birth_day(care: Care) -> None:
    at_term(care)


def record(care: Care, **changes: Any) -> delivery.Delivery:
    values: dict[str, Any] = {
        "labour_started_at": BIRTH.labour,
        "children": [delivery.Child(born_at=BIRTH.born, weight_grams=3400, apgar_1=8, apgar_5=9)],
        "placenta_at": BIRTH.placenta,
        "place": "home",
        "line": "first",
        "clinical": delivery.Clinical(
            presentation="cephalic", labour_onset="spontaneous", previous_caesareans=0, perineum="second"
        ),
        "now": BIRTH.afternoon,
        **changes,
    }
    return in_scope(
        care, delivery.delivery_record, episode=care.episode, actor=care.user(Role.MIDWIFE), **values
    )


def test_the_fields_are_stored_with_the_delivery(care):
    record(care)
    episode = Episode.unscoped.get(pk=care.episode.pk)
    assert (episode.presentation, episode.labour_onset, episode.previous_caesareans, episode.perineum) == (
        "cephalic",
        "spontaneous",
        0,
        "second",
    )
    assert [(b.apgar_1, b.apgar_5) for b in Birth.unscoped.filter(episode=episode)] == [(8, 9)]
    # Parity 1, no previous caesarean, one cephalic child at 40+0, spontaneous labour: Robson group 3.
    assert plausibility.robson_of(episode, list(Birth.unscoped.filter(episode=episode))) == 3


def test_not_recorded_stays_empty(care):
    record(care, clinical=delivery.Clinical(), children=[delivery.Child(born_at=BIRTH.born)])
    episode = Episode.unscoped.get(pk=care.episode.pk)
    assert (episode.presentation, episode.labour_onset, episode.previous_caesareans, episode.perineum) == (
        "",
        "",
        None,
        "",
    )
    assert plausibility.robson_of(episode, list(Birth.unscoped.filter(episode=episode))) is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"children": [delivery.Child(born_at=BIRTH.born, apgar_1=11, apgar_5=9)]}, "apgar_1_1"),
        ({"children": [delivery.Child(born_at=BIRTH.born, apgar_1=8, apgar_5=-1)]}, "apgar_5_1"),
        ({"clinical": delivery.Clinical(previous_caesareans=11)}, "previous_caesareans"),
        ({"clinical": delivery.Clinical(presentation="face")}, "presentation"),
        ({"clinical": delivery.Clinical(labour_onset="later")}, "labour_onset"),
        ({"clinical": delivery.Clinical(perineum="fifth")}, "perineum"),
    ],
)
def test_a_value_out_of_range_is_refused_at_its_field_and_nothing_is_stored(care, changes, field):
    with pytest.raises(ValidationError) as exc:
        record(care, **changes)
    assert set(exc.value.message_dict) == {field}
    assert not Birth.unscoped.filter(episode=care.episode).exists()
    assert Episode.unscoped.get(pk=care.episode.pk).labour_started_at is None


def test_a_correction_without_the_fields_keeps_them(care):
    record(care)
    in_scope(
        care,
        delivery.delivery_correct,
        episode=care.episode,
        actor=care.user(Role.MIDWIFE),
        reason="placenta later",
        labour_started_at=BIRTH.labour,
        children=[delivery.Child(born_at=BIRTH.born, apgar_1=7, apgar_5=9)],
        placenta_at=local(2026, 11, 10, 6, 10),
        place="home",
        line="first",
        now=BIRTH.afternoon,
    )
    episode = Episode.unscoped.get(pk=care.episode.pk)
    assert (episode.presentation, episode.perineum) == ("cephalic", "second")
    assert Birth.unscoped.get(episode=episode).apgar_1 == 7


def test_breastfeeding_at_the_end_of_kraamzorg(care):
    record(care)
    actor = care.user(Role.MIDWIFE)
    args = {"episode": care.episode, "actor": actor, "blood_loss_ml": 300, "kraamzorg_indicated_hours": 49}
    in_scope(care, services.episode_set_outcomes, breastfeeding_at_kraamzorg_end="partial", **args)
    assert Episode.unscoped.get(pk=care.episode.pk).breastfeeding_at_kraamzorg_end == "partial"
    with pytest.raises(ValidationError) as exc:
        in_scope(care, services.episode_set_outcomes, breastfeeding_at_kraamzorg_end="bottle", **args)
    assert set(exc.value.message_dict) == {"breastfeeding_at_kraamzorg_end"}
    # Left out (None): kept.
    in_scope(care, services.episode_set_outcomes, **args)
    assert Episode.unscoped.get(pk=care.episode.pk).breastfeeding_at_kraamzorg_end == "partial"


# --- the page --------------------------------------------------------------------------------------


def form_data(**changes: Any) -> dict[str, Any]:
    return {
        "labour_started_at": form_dt(BIRTH.labour),
        "born_at_1": form_dt(BIRTH.born),
        "outcome_1": "live",
        "mode_1": "spontaneous",
        "weight_grams_1": "3400",
        "apgar_1_1": "8",
        "apgar_5_1": "9",
        "placenta_at": form_dt(BIRTH.placenta),
        "place": "home",
        "line": "first",
        "presentation": "cephalic",
        "labour_onset": "induced",
        "previous_caesareans": "1",
        "perineum": "intact",
        **changes,
    }


def test_the_form_records_the_fields_and_the_page_shows_the_robson_group(care, as_role):
    http = as_role(Role.MIDWIFE)
    response = http.post(care.url(f"episodes/{care.episode.pk}/delivery/"), form_data())
    assert response.status_code == 302
    page = http.get(care.url(f"episodes/{care.episode.pk}/"))
    # Parity 1 after a caesarean, one cephalic child at term: group 5 (the onset does not matter).
    assert page.context["robson_group"] == 5
    assert 'data-testid="robson-group">5<' in page.content.decode()
    # The correction form is filled with what was recorded.
    form = page.context["delivery_form"]
    assert (form["apgar_1_1"].value(), form["perineum"].value()) == (8, "intact")


def test_the_form_refuses_an_apgar_of_eleven_in_dutch(care, as_role):
    http = as_role(Role.MIDWIFE)
    response = http.post(
        care.url(f"episodes/{care.episode.pk}/delivery/"),
        form_data(apgar_5_1="11"),
        HTTP_ACCEPT_LANGUAGE="nl",
    )
    assert response.status_code == 400
    errors = response.context["delivery_form"].errors
    assert set(errors) == {"apgar_5_1"}
    assert "tussen 0 en 10" in errors["apgar_5_1"][0]
    assert not Birth.unscoped.filter(episode=care.episode).exists()


def test_a_caesarean_in_first_line_care_is_saved_with_a_warning(care, as_role):
    """The demo's finding: a caesarean at the polyclinic while the first line stays responsible. It is
    saved (the record may be right, the line wrong), and the clinician is warned on the page."""
    http = as_role(Role.MIDWIFE)
    response = http.post(
        care.url(f"episodes/{care.episode.pk}/delivery/"),
        form_data(mode_1="caesarean", place="polyclinic"),
        HTTP_ACCEPT_LANGUAGE="nl",
        follow=True,
    )
    assert response.status_code == 200
    assert Birth.unscoped.get(episode=care.episode).mode == "caesarean"
    warnings = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    assert len(warnings) == 1 and "eerste lijn" in warnings[0]
    assert f'data-code="{plausibility.OPERATIVE_IN_FIRST_LINE}"' in response.content.decode()


# --- the API --------------------------------------------------------------------------------------


def body(**changes: Any) -> dict[str, Any]:
    return {
        "labour_started_at": BIRTH.labour.isoformat(),
        "children": [{"born_at": BIRTH.born.isoformat(), "weight_grams": 3400, "apgar_1": 8, "apgar_5": 9}],
        "placenta_at": BIRTH.placenta.isoformat(),
        "place": "home",
        "line": "first",
        "presentation": "breech",
        "labour_onset": "spontaneous",
        "previous_caesareans": 0,
        "perineum": "first",
        **changes,
    }


def url(care: Care) -> str:
    return f"/api/t/{care.tenant.slug}/episodes/{care.episode.pk}/delivery/"


def test_the_api_records_the_fields_and_answers_the_robson_group_and_warnings(care):
    midwife = api(care.user(Role.MIDWIFE))
    response = midwife.post(url(care), body(), format="json")
    assert response.status_code == 201, response.json()
    answer = response.json()
    # Parity 1, breech: group 7. The record is plausible: no warnings.
    assert (answer["presentation"], answer["perineum"], answer["robson_group"]) == ("breech", "first", 7)
    assert answer["warnings"] == []
    assert (answer["children"][0]["apgar_1"], answer["children"][0]["apgar_5"]) == (8, 9)
    # A correction that makes the child stillborn with those Apgar scores: saved, with the warning.
    child = {"born_at": BIRTH.born.isoformat(), "outcome": "stillborn", "apgar_1": 8, "apgar_5": 9}
    patched = midwife.patch(url(care), {"children": [child], "reason": "outcome"}, format="json")
    assert patched.status_code == 200, patched.json()
    assert [w["code"] for w in patched.json()["warnings"]] == [plausibility.STILLBORN_APGAR]
    assert patched.json()["presentation"] == "breech"  # left out of the PATCH: kept
    assert AccessLogEntry.unscoped.filter(client=care.client).exists()


def test_the_api_reports_an_apgar_error_under_its_child(care):
    children = [{"born_at": BIRTH.born.isoformat(), "apgar_1": 12, "apgar_5": 9}]
    response = api(care.user(Role.MIDWIFE)).post(url(care), body(children=children), format="json")
    assert response.status_code == 400
    assert set(response.json()["children"][0]) == {"apgar_1"}
    assert not Birth.unscoped.filter(episode=care.episode).exists()
