"""The child's sex on the birth record (issue 20, for small for gestational age): girl, boy or undetermined
(the Kernset's and Perined's *onbepaald*), empty when not recorded; through the delivery services, the form
on the delivery card, the care API and the correction.

The clock stands at 10 November 2026, 16:00 in Amsterdam; the woman is due that day and gives birth at
05:40 after labour from 01:30, placenta 06:00 (tests.scenarios.birth_record.BIRTH)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from igo.models import Role
from pregnancies import delivery
from pregnancies.models import AccessLogEntry, Birth
from tests.scenarios.birth_record import BIRTH, at_term
from tests.scenarios.care import Care
from tests.scenarios.care_logging import form_dt, in_scope
from tests.scenarios.http import api

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BIRTH.afternoon)]


@pytest.fixture(autouse=True)
def due_on_the_birth_day(care: Care) -> None:
    at_term(care)


def record(care: Care, children: list[delivery.Child], *, correct: bool = False) -> delivery.Delivery:
    service = delivery.delivery_correct if correct else delivery.delivery_record
    extra = {"reason": "sex corrected"} if correct else {}
    return in_scope(
        care, service, episode=care.episode, actor=care.user(Role.MIDWIFE), labour_started_at=BIRTH.labour,
        children=children, placenta_at=BIRTH.placenta, place="home", line="first", now=BIRTH.afternoon, **extra,
    )  # fmt: skip


def sexes(care: Care) -> list[str]:
    return [b.sex for b in Birth.unscoped.filter(episode=care.episode).order_by("child_number")]


def test_twins_are_stored_with_their_sex_and_not_recorded_is_empty(care):
    record(care, [delivery.Child(born_at=BIRTH.born, sex="female"), delivery.Child(born_at=BIRTH.born)])
    assert sexes(care) == ["female", ""]
    # Corrected: the second twin's sex becomes undetermined; the audit keeps both.
    record(
        care,
        [
            delivery.Child(born_at=BIRTH.born, sex="female"),
            delivery.Child(born_at=BIRTH.born, sex="undetermined"),
        ],
        correct=True,
    )
    assert sexes(care) == ["female", "undetermined"]


def test_a_sex_outside_the_list_is_refused_at_its_field_and_nothing_is_stored(care):
    with pytest.raises(ValidationError) as exc:
        record(care, [delivery.Child(born_at=BIRTH.born, sex="F")])
    assert set(exc.value.message_dict) == {"sex_1"}
    assert not Birth.unscoped.filter(episode=care.episode).exists()


def form_data(**changes: Any) -> dict[str, Any]:
    return {
        "labour_started_at": form_dt(BIRTH.labour),
        "born_at_1": form_dt(BIRTH.born),
        "outcome_1": "live",
        "mode_1": "spontaneous",
        "sex_1": "male",
        "weight_grams_1": "3400",
        "placenta_at": form_dt(BIRTH.placenta),
        "place": "home",
        "line": "first",
        **changes,
    }


def test_the_form_records_the_sex_and_the_card_shows_it_in_dutch(care, as_role):
    http = as_role(Role.MIDWIFE)
    response = http.post(care.url(f"episodes/{care.episode.pk}/delivery/"), form_data())
    assert response.status_code == 302
    assert sexes(care) == ["male"]
    page = http.get(care.url(f"episodes/{care.episode.pk}/"), HTTP_ACCEPT_LANGUAGE="nl")
    assert 'data-testid="sex">Jongen<' in page.content.decode()
    assert page.context["delivery_form"]["sex_1"].value() == "male"  # the correction form is filled


def test_the_form_refuses_an_unknown_sex_in_dutch_and_a_sex_without_a_child(care, as_role):
    http = as_role(Role.MIDWIFE)
    url = care.url(f"episodes/{care.episode.pk}/delivery/")
    response = http.post(url, form_data(sex_1="x"), HTTP_ACCEPT_LANGUAGE="nl")
    assert response.status_code == 400
    assert set(response.context["delivery_form"].errors) == {"sex_1"}
    response = http.post(url, form_data(sex_2="female"), HTTP_ACCEPT_LANGUAGE="nl")
    assert response.status_code == 400
    assert set(response.context["delivery_form"].errors) == {"born_at_2"}
    assert not Birth.unscoped.filter(episode=care.episode).exists()


def url(care: Care) -> str:
    return f"/api/t/{care.tenant.slug}/episodes/{care.episode.pk}/delivery/"


def body(children: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "labour_started_at": BIRTH.labour.isoformat(),
        "children": children,
        "placenta_at": BIRTH.placenta.isoformat(),
        "place": "home",
        "line": "first",
    }


def test_the_api_records_and_answers_the_sex(care):
    midwife = api(care.user(Role.MIDWIFE))
    children = [
        {"born_at": BIRTH.born.isoformat(), "sex": "undetermined"},
        {"born_at": BIRTH.born.isoformat()},
    ]
    response = midwife.post(url(care), body(children), format="json")
    assert response.status_code == 201, response.json()
    assert [c["sex"] for c in response.json()["children"]] == ["undetermined", ""]
    read = midwife.get(url(care))
    assert [c["sex"] for c in read.json()["children"]] == ["undetermined", ""]
    assert AccessLogEntry.unscoped.filter(client=care.client, detail="delivery").exists()


def test_the_api_reports_a_bad_sex_under_its_child(care):
    children = [{"born_at": BIRTH.born.isoformat()}, {"born_at": BIRTH.born.isoformat(), "sex": "girl"}]
    response = api(care.user(Role.MIDWIFE)).post(url(care), body(children), format="json")
    assert response.status_code == 400
    # Refused by the API's own check of the choice, under the child's position.
    assert set(response.json()["children"]["1"]) == {"sex"}
    assert not Birth.unscoped.filter(episode=care.episode).exists()
