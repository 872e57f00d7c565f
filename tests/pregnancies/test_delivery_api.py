"""The delivery over the API (`api/t/<igo>/episodes/<pk>/delivery/`, issue 17): read it (access-logged),
record it (POST), correct it with a reason (PUT, PATCH, or POST with `correct`), with the same rules as the
page: only a linked midwife, clinical midwife or gynaecologist records (403 with the reason), another IGO's
episode is not found (404), refusals are field by field (a child's under `children` at its position).

The clock stands at 10 November 2026, 16:00 in Amsterdam; labour began at 01:30, the child was born at
05:40 and the placenta at 06:00."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from igo.models import AuditEntry, Role
from pregnancies.models import AccessLogEntry, Birth, CareEvent, ClinicalRevision, Episode, EventStatus
from tests.scenarios.birth_record import BIRTH
from tests.scenarios.care import Care
from tests.scenarios.care_logging import first_line_from_intake
from tests.scenarios.http import api

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BIRTH.afternoon)]


@pytest.fixture(autouse=True)
def first_line(care: Care) -> None:
    first_line_from_intake(care)


def url(care: Care, episode: Episode | None = None) -> str:
    return f"/api/t/{care.tenant.slug}/episodes/{(episode or care.episode).pk}/delivery/"


def body(**changes: Any) -> dict[str, Any]:
    return {
        "labour_started_at": BIRTH.labour.isoformat(),
        "children": [{"born_at": BIRTH.born.isoformat(), "weight_grams": 3400}],
        "placenta_at": BIRTH.placenta.isoformat(),
        "place": "home",
        "line": "first",
        **changes,
    }


def births(care: Care) -> list[tuple[int, Any]]:
    return [(b.child_number, b.born_at) for b in Birth.unscoped.filter(episode=care.episode)]


def test_a_midwife_records_the_delivery_and_reads_it_back(care):
    midwife = api(care.user(Role.MIDWIFE))
    before = midwife.get(url(care))
    assert before.status_code == 200 and before.json()["recorded"] is False
    response = midwife.post(url(care), body(), format="json")
    assert response.status_code == 201, response.json()
    answer = response.json()
    assert answer["recorded"] is True and (answer["place"], answer["line"]) == ("home", "first")
    assert [c["weight_grams"] for c in answer["children"]] == [3400]
    assert answer["event"]["event_type"]["code"] == "DELIV_HOME"
    episode = Episode.unscoped.get(pk=care.episode.pk)
    assert (episode.labour_started_at, episode.placenta_plus_2h_at) == (
        BIRTH.labour,
        BIRTH.placenta + timedelta(hours=2),
    )
    assert births(care) == [(1, BIRTH.born)]
    # Every read is in the access log, with what was read.
    reads = AccessLogEntry.unscoped.filter(client=care.client, action="view", detail="delivery")
    assert reads.count() == 1
    assert midwife.get(url(care)).json()["children"][0]["born_at"] is not None
    assert reads.count() == 2


def test_a_second_record_is_refused_the_correction_needs_its_reason(care):
    midwife = api(care.user(Role.MIDWIFE))
    assert midwife.post(url(care), body(), format="json").status_code == 201
    again = midwife.post(url(care), body(), format="json")
    assert again.status_code == 400 and "non_field_errors" in again.json()
    later = BIRTH.placenta + timedelta(minutes=10)
    no_reason = midwife.put(url(care), body(placenta_at=later.isoformat()), format="json")
    assert no_reason.status_code == 400 and set(no_reason.json()) == {"reason"}
    done = midwife.post(
        url(care), body(placenta_at=later.isoformat(), correct=True, reason="placenta 06:10"), format="json"
    )
    assert done.status_code == 200, done.json()
    assert Episode.unscoped.get(pk=care.episode.pk).placenta_at == later
    # The history stays: the first delivery event superseded, the record's history with before, after and the
    # reason; the audit entry names the fields and that revision, no value.
    statuses = sorted(CareEvent.unscoped.filter(episode=care.episode).values_list("status", flat=True))
    assert statuses == sorted([EventStatus.ACTIVE, EventStatus.SUPERSEDED])
    revision = ClinicalRevision.unscoped.get(episode=care.episode, kind="delivery")
    assert revision.reason == "placenta 06:10"
    assert revision.before["placenta_at"] != revision.after["placenta_at"]
    entry = AuditEntry.objects.get(action="delivery.correct")
    assert "placenta_at" in entry.details["fields"] and entry.details["revision"] == revision.pk
    assert "reason" not in entry.details and "06:10" not in str(entry.details)


def test_patch_corrects_what_it_names_and_keeps_the_rest(care):
    midwife = api(care.user(Role.MIDWIFE))
    midwife.post(url(care), body(), format="json")
    second = BIRTH.born + timedelta(minutes=12)
    children = [{"born_at": BIRTH.born.isoformat()}, {"born_at": second.isoformat(), "mode": "assisted"}]
    response = midwife.patch(url(care), {"children": children, "reason": "twins"}, format="json")
    assert response.status_code == 200, response.json()
    assert births(care) == [(1, BIRTH.born), (2, second)]
    episode = Episode.unscoped.get(pk=care.episode.pk)
    assert (episode.labour_started_at, episode.placenta_at) == (BIRTH.labour, BIRTH.placenta)


def test_errors_are_given_per_field_and_per_child_and_nothing_is_stored(care):
    midwife = api(care.user(Role.MIDWIFE))
    early = BIRTH.labour - timedelta(hours=1)
    children = [{"born_at": BIRTH.born.isoformat()}, {"born_at": early.isoformat()}]
    response = midwife.post(url(care), body(children=children), format="json", HTTP_ACCEPT_LANGUAGE="nl")
    assert response.status_code == 400
    detail = response.json()
    assert detail["children"][0] == {}
    assert "vóór het begin van de actieve baring" in detail["children"][1]["born_at"][0]
    five = [{"born_at": BIRTH.born.isoformat()}] * 5
    assert set(midwife.post(url(care), body(children=five), format="json").json()) == {"children"}
    wrong_line = midwife.post(url(care), body(place="clinical"), format="json")
    assert wrong_line.status_code == 400 and set(wrong_line.json()) == {"line"}
    assert births(care) == []
    assert not CareEvent.unscoped.filter(episode=care.episode).exists()


def test_a_maternity_carer_reads_it_but_may_not_record_it(care):
    carer = api(care.user(Role.MATERNITY_CARER))
    assert carer.get(url(care)).status_code == 200
    for method in ("post", "put", "patch"):
        refused = getattr(carer, method)(url(care), body(reason="x"), format="json")
        assert refused.status_code == 403
        assert "Alleen een verloskundige of gynaecoloog" in refused.json()["detail"]
    assert births(care) == []


def test_a_midwife_not_linked_to_a_professional_is_told_why(care):
    care.midwife.user = None
    care.midwife.save(update_fields=["user"])
    refused = api(care.user(Role.MIDWIFE)).post(url(care), body(), format="json")
    assert refused.status_code == 403 and "niet gekoppeld" in refused.json()["detail"]
    assert births(care) == []


def test_another_igos_episode_is_not_found(care, care_b):
    midwife = api(care.user(Role.MIDWIFE))
    other = url(care, care_b.episode)
    assert midwife.get(other).status_code == 404
    assert midwife.post(other, body(), format="json").status_code == 404
    assert midwife.put(other, body(reason="x"), format="json").status_code == 404
    assert not Birth.unscoped.filter(episode=care_b.episode).exists()
    assert not AccessLogEntry.unscoped.filter(client=care_b.client).exists()


def test_finance_and_administrators_are_refused(care):
    for role in (Role.IGO_ADMIN, Role.IGO_FINANCE):
        assert api(care.user(role)).get(url(care)).status_code == 403
