"""Recording the clinical outcomes the quality indicators need, and the client experience questionnaire.

Through the pages: the outcomes of the delivery (blood loss, kraamzorg hours indicated), the outcome of each
child (NICU admission, neonatal death), the birth form next to them, the questionnaire after the maternity
period (clinicians on the episode page, IGO administrators on a page of its own), the import of a file of
answers by IGO administrators; and the same fields in the care API. Reads of tenant-owned rows in
assertions use `Model.unscoped`.
"""

from __future__ import annotations

import re
import threading
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.test import Client as HttpClient
from django.utils import timezone, translation

from igo.models import AuditEntry, Role
from igo.tenancy import tenant_scope
from pregnancies import services
from pregnancies.models import AccessLogEntry, Birth, Episode
from quality.experience import (
    ExperienceImportError,
    experience_due,
    experience_file_parse,
    score_range,
)
from quality.models import ExperienceResponse
from quality.services import experience_record
from tests.factories import ClientFactory, EpisodeFactory, InsurerFactory
from tests.scenarios.care import Care, make_care
from tests.scenarios.concurrency import wait_for_a_lock_wait
from tests.scenarios.http import api
from tests.scenarios.people import TenantWorld

pytestmark = [pytest.mark.django_db, pytest.mark.dated]

HEADER = "episode;answered_on;overall;informed;same_team;recommend"


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def care(world_a: TenantWorld) -> Care:
    return make_care(world_a, InsurerFactory(uzovi_code="3311", name="Zilveren Kruis"))


@pytest.fixture
def care_b(world_b: TenantWorld) -> Care:
    return make_care(world_b, InsurerFactory(uzovi_code="7095", name="VGZ"))


def ago(**delta: float) -> datetime:
    return (timezone.now() - timedelta(**delta)).replace(second=0, microsecond=0)


def deliver(care: Care, *, days_ago: int = 10, outcome: str = "live", child: int = 1) -> Birth:
    """Labour `days_ago` days ago, placenta + 2 hours eight hours later, and a child born in between."""
    labour = ago(days=days_ago)
    if care.episode.labour_started_at is None:
        care.update_episode(labour_started_at=labour, placenta_plus_2h_at=labour + timedelta(hours=8))
    return Birth.unscoped.create(
        tenant=care.tenant,
        episode=care.episode,
        child_number=child,
        born_at=care.episode.labour_started_at + timedelta(hours=5),
        outcome=outcome,
        place="home",
        mode="spontaneous",
        weight_grams=3300,
    )


def end_maternity(care: Care, *, days_ago: int = 2) -> Episode:
    deliver(care, days_ago=days_ago + 8)
    return care.update_episode(kraamzorg_ended_on=timezone.localdate() - timedelta(days=days_ago))


def as_user(care: Care, role: str, client_for: Any) -> HttpClient:
    return client_for(care.user(role))


def page(client: HttpClient, care: Care) -> str:
    response = client.get(care.url(f"episodes/{care.episode.pk}/"))
    assert response.status_code == 200
    return response.content.decode()


def answers(**extra: Any) -> dict[str, Any]:
    return {
        "answered_on": timezone.localdate().isoformat(),
        "overall": "9",
        "informed": "4",
        "same_team": "5",
        "recommend": "10",
        **extra,
    }


def log_entries(care: Care, **filters: Any) -> list[tuple[str, str, str, str]]:
    return [
        (e.action, e.object_type, e.object_id, e.detail)
        for e in AccessLogEntry.unscoped.filter(tenant=care.tenant, **filters).order_by("pk")
    ]


def upload(client: HttpClient, care: Care, text: str, *, name: str = "answers.csv", bom: bool = False) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    content = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    return client.post(
        care.url("quality/experience/import/"), {"file": SimpleUploadedFile(name, content, "text/csv")}
    )


def ended_episode(care: Care, *, days_ago: int = 3) -> Episode:
    """Another client of the IGO whose maternity period ended `days_ago` days ago."""
    intake = timezone.localdate() - timedelta(days=250)
    return EpisodeFactory(
        tenant=care.tenant,
        client=ClientFactory(tenant=care.tenant),
        intake_date=intake,
        due_date=intake + timedelta(days=196),
        kraamzorg_ended_on=timezone.localdate() - timedelta(days=days_ago),
    )


# --- 1. outcomes of the delivery -----------------------------------------------------------------


def test_outcomes_are_saved_logged_and_shown(care, client_for):
    deliver(care)
    client = as_user(care, Role.MIDWIFE, client_for)
    url = care.url(f"episodes/{care.episode.pk}/outcomes/")
    response = client.post(url, {"blood_loss_ml": "1200", "kraamzorg_indicated_hours": "49"})
    assert response.status_code == 302
    assert response["Location"].endswith(f"/episodes/{care.episode.pk}/#outcomes")
    stored = Episode.unscoped.get(pk=care.episode.pk)
    assert (stored.blood_loss_ml, stored.kraamzorg_indicated_hours) == (1200, 49)
    assert log_entries(care, action="update") == [("update", "episode", str(care.episode.pk), "outcomes")]
    html = page(client, care)
    assert (
        'name="blood_loss_ml" value="1200"' in html and 'name="kraamzorg_indicated_hours" value="49"' in html
    )
    # An empty field clears a value that was entered by mistake.
    client.post(url, {"blood_loss_ml": "", "kraamzorg_indicated_hours": "49"})
    stored.refresh_from_db()
    assert (stored.blood_loss_ml, stored.kraamzorg_indicated_hours) == (None, 49)


@pytest.mark.parametrize(
    "data,field",
    [
        pytest.param({"blood_loss_ml": "abc", "kraamzorg_indicated_hours": "49"}, "blood_loss_ml", id="not-a-number"),
        pytest.param({"blood_loss_ml": "-5", "kraamzorg_indicated_hours": "49"}, "blood_loss_ml", id="negative"),
        pytest.param({"blood_loss_ml": "800", "kraamzorg_indicated_hours": "81"}, "kraamzorg_indicated_hours", id="over-lip-max"),
    ],
)  # fmt: skip
def test_refused_outcomes_store_nothing_and_show_the_error_at_the_field(care, client_for, data, field):
    deliver(care)
    client = as_user(care, Role.MIDWIFE, client_for)
    response = client.post(care.url(f"episodes/{care.episode.pk}/outcomes/"), data)
    assert response.status_code == 400
    form = response.context["outcomes_form"]
    assert set(form.errors) == {field}
    # The valid other field of the same form is not stored either.
    stored = Episode.unscoped.get(pk=care.episode.pk)
    assert (stored.blood_loss_ml, stored.kraamzorg_indicated_hours) == (None, None)
    assert log_entries(care, action="update") == []
    html = response.content.decode()
    assert 'id="outcomes" open' in html and form.errors[field][0] in html


def test_outcome_errors_are_dutch_by_default(care, client_for):
    deliver(care)
    response = as_user(care, Role.MIDWIFE, client_for).post(
        care.url(f"episodes/{care.episode.pk}/outcomes/"), {"blood_loss_ml": "veel"}
    )
    assert response.status_code == 400
    assert response.context["outcomes_form"].errors["blood_loss_ml"] == ["Voer een geheel getal in."]
    assert '<html lang="nl">' in response.content.decode()


def test_blood_loss_before_the_delivery_is_refused(care, client_for):
    response = as_user(care, Role.MIDWIFE, client_for).post(
        care.url(f"episodes/{care.episode.pk}/outcomes/"), {"blood_loss_ml": "300"}
    )
    assert response.status_code == 400
    assert "blood_loss_ml" in response.context["outcomes_form"].errors
    assert Episode.unscoped.get(pk=care.episode.pk).blood_loss_ml is None


# --- 2. the births: recording, and the outcome of each child ---------------------------------------


def test_birth_form_still_records_a_birth_and_shows_errors_at_the_field(care, client_for):
    labour = ago(hours=12)
    care.update_episode(labour_started_at=labour, placenta_plus_2h_at=labour + timedelta(hours=8))
    client = as_user(care, Role.MIDWIFE, client_for)
    url = care.url(f"episodes/{care.episode.pk}/births/")
    form = {
        "child_number": "1",
        "born_at": timezone.localtime(labour + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M"),
        "outcome": "live",
        "place": "home",
        "mode": "spontaneous",
        "weight_grams": "3400",
    }
    refused = client.post(url, {**form, "born_at": f"{care.episode.intake_date - timedelta(days=2)}T10:00"})
    assert refused.status_code == 400
    assert set(refused.context["birth_form"].errors) == {"born_at"}
    assert not Birth.unscoped.filter(episode=care.episode).exists()

    response = client.post(url, form)
    assert response.status_code == 302 and response["Location"].endswith("#births")
    birth = Birth.unscoped.get(episode=care.episode)
    assert (birth.child_number, birth.weight_grams, birth.nicu_admission, birth.neonatal_death_on) == (
        1,
        3400,
        False,
        None,
    )
    assert log_entries(care, action="create") == [("create", "birth", str(birth.pk), "")]
    assert page(client, care).count('data-testid="birth-outcome-form"') == 1


def test_birth_outcome_is_saved_logged_and_shown_in_the_births_list(care, client_for):
    twin1, twin2 = deliver(care, days_ago=5), deliver(care, child=2)
    client = as_user(care, Role.GYNAECOLOGIST, client_for)
    died = timezone.localdate() - timedelta(days=1)
    response = client.post(
        care.url(f"births/{twin2.pk}/outcome/"),
        {"nicu_admission": "on", "neonatal_death_on": died.isoformat()},
    )
    assert response.status_code == 302 and response["Location"].endswith("#births")
    twin1.refresh_from_db()
    twin2.refresh_from_db()
    assert (twin2.nicu_admission, twin2.neonatal_death_on) == (True, died)
    assert (twin1.nicu_admission, twin1.neonatal_death_on) == (False, None)
    assert log_entries(care, action="update") == [("update", "birth", str(twin2.pk), "outcome")]
    html = page(client, care)
    rows = html.split('data-testid="birth-row"')[1:]
    assert len(rows) == 2
    assert 'data-testid="nicu"' not in rows[0] and 'data-testid="nicu"' in rows[1]
    assert died.strftime("%d-%m-%Y") in rows[1]
    # Each child's form has its own ids, and shows what is stored.
    assert f'id="id_birth{twin1.pk}_nicu_admission"' in html
    assert f'id="id_birth{twin2.pk}_nicu_admission" checked' in html


def test_a_refused_birth_outcome_stores_nothing(care, client_for):
    birth = deliver(care, days_ago=40)
    client = as_user(care, Role.MIDWIFE, client_for)
    before_birth = (timezone.localdate(birth.born_at) - timedelta(days=1)).isoformat()
    response = client.post(
        care.url(f"births/{birth.pk}/outcome/"), {"nicu_admission": "on", "neonatal_death_on": before_birth}
    )
    assert response.status_code == 400
    form = response.context["birth_rows"][0][1]
    assert set(form.errors) == {"neonatal_death_on"}
    assert form.errors["neonatal_death_on"][0] in response.content.decode()
    birth.refresh_from_db()
    assert (birth.nicu_admission, birth.neonatal_death_on) == (False, None)  # the NICU box neither
    assert log_entries(care, action="update") == []
    bad = client.post(care.url(f"births/{birth.pk}/outcome/"), {"neonatal_death_on": "31-02-2026"})
    assert bad.status_code == 400
    assert bad.context["birth_rows"][0][1].errors["neonatal_death_on"] == ["Voer een geldige datum in."]


def test_a_stillborn_child_has_no_outcome_form_and_cannot_be_admitted(care, client_for):
    birth = deliver(care, outcome="stillborn")
    client = as_user(care, Role.MIDWIFE, client_for)
    assert 'data-testid="birth-outcome-form"' not in page(client, care)
    response = client.post(care.url(f"births/{birth.pk}/outcome/"), {"nicu_admission": "on"})
    assert response.status_code == 400
    assert "nicu_admission" in response.context["birth_rows"][0][1].errors
    assert not Birth.unscoped.get(pk=birth.pk).nicu_admission


def test_a_death_on_day_28_is_after_the_neonatal_period(care, client_for):
    """The neonatal period is the first 28 completed days (days 0-27)."""
    birth = deliver(care, days_ago=40)
    client = as_user(care, Role.MIDWIFE, client_for)
    born_on = timezone.localdate(birth.born_at)
    url = care.url(f"births/{birth.pk}/outcome/")
    day_28 = client.post(url, {"neonatal_death_on": (born_on + timedelta(days=28)).isoformat()})
    assert day_28.status_code == 400
    assert "neonatal_death_on" in day_28.context["birth_rows"][0][1].errors
    assert (
        client.post(url, {"neonatal_death_on": (born_on + timedelta(days=27)).isoformat()}).status_code == 302
    )
    assert Birth.unscoped.get(pk=birth.pk).neonatal_death_on == born_on + timedelta(days=27)


# --- 3. who may record outcomes --------------------------------------------------------------------


@pytest.mark.parametrize(
    "role,allowed",
    [
        (Role.MIDWIFE, True),
        (Role.GYNAECOLOGIST, True),
        (Role.MATERNITY_CARER, True),  # rules.can_log_care: every clinical role
        (Role.IGO_FINANCE, False),
        (Role.IGO_ADMIN, False),
    ],
)
def test_outcomes_by_role(care, client_for, role, allowed):
    birth = deliver(care)
    client = as_user(care, role, client_for)
    outcomes = client.post(
        care.url(f"episodes/{care.episode.pk}/outcomes/"),
        {"blood_loss_ml": "500", "kraamzorg_indicated_hours": "45"},
    )
    child = client.post(care.url(f"births/{birth.pk}/outcome/"), {"nicu_admission": "on"})
    assert (outcomes.status_code, child.status_code) == ((302, 302) if allowed else (403, 403))
    episode = Episode.unscoped.get(pk=care.episode.pk)
    birth.refresh_from_db()
    expected = (500, 45, True) if allowed else (None, None, False)
    assert (episode.blood_loss_ml, episode.kraamzorg_indicated_hours, birth.nicu_admission) == expected


def test_another_tenants_episode_and_birth_are_not_found(care, care_b, client_for):
    end_maternity(care_b)
    birth_b = Birth.unscoped.get(episode=care_b.episode)
    client = as_user(care, Role.MIDWIFE, client_for)
    posts = {
        care.url(f"episodes/{care_b.episode.pk}/outcomes/"): {"blood_loss_ml": "900"},
        care.url(f"births/{birth_b.pk}/outcome/"): {"nicu_admission": "on"},
        care.url(f"episodes/{care_b.episode.pk}/experience/"): answers(),
        care_b.url(f"episodes/{care_b.episode.pk}/outcomes/"): {"blood_loss_ml": "900"},
    }
    for url, data in posts.items():
        assert client.post(url, data).status_code == 404, url
    assert client.get(care.url(f"episodes/{care_b.episode.pk}/experience/")).status_code == 404
    assert Episode.unscoped.get(pk=care_b.episode.pk).blood_loss_ml is None
    assert not Birth.unscoped.get(pk=birth_b.pk).nicu_admission
    assert not ExperienceResponse.unscoped.exists()
    assert not AccessLogEntry.unscoped.filter(tenant=care_b.tenant).exists()


# --- 4. the questionnaire on the episode page --------------------------------------------------------


def test_questionnaire_is_not_offered_before_the_maternity_period_ended(care, client_for):
    deliver(care, days_ago=3)
    client = as_user(care, Role.MIDWIFE, client_for)
    assert 'id="experience"' not in page(client, care)
    response = client.post(care.url(f"episodes/{care.episode.pk}/experience/"), answers())
    assert response.status_code == 400
    assert "answered_on" in response.context["experience_form"].errors
    assert not ExperienceResponse.unscoped.exists()
    # A planned end of kraamzorg that still lies ahead does not open it either.
    care.update_episode(kraamzorg_ended_on=timezone.localdate() + timedelta(days=5))
    assert not experience_due(care.episode)
    assert 'id="experience"' not in page(client, care)


def test_questionnaire_after_the_maternity_period_is_saved_once(care, client_for):
    end_maternity(care)
    client = as_user(care, Role.MATERNITY_CARER, client_for)
    html = page(client, care)
    assert 'data-testid="experience-form"' in html
    # The episode number, to write on a paper questionnaire or to put in a file of answers.
    assert f'data-testid="episode-number">{care.episode.pk}<' in html
    url = care.url(f"episodes/{care.episode.pk}/experience/")
    response = client.post(url, answers())
    assert response.status_code == 302 and response["Location"].endswith("#experience")
    stored = ExperienceResponse.unscoped.get(episode=care.episode)
    assert (stored.overall, stored.informed, stored.same_team, stored.recommend) == (9, 4, 5, 10)
    assert (stored.source, stored.entered_by, stored.tenant_id) == (
        "entered",
        care.user(Role.MATERNITY_CARER),
        care.tenant.pk,
    )
    assert log_entries(care, action="create") == [
        ("create", "experienceresponse", str(stored.pk), "experience")
    ]
    html = page(client, care)
    assert 'data-testid="experience-answers"' in html and 'data-testid="experience-form"' not in html
    again = client.post(url, answers(overall="3"))
    assert again.status_code == 400
    assert again.context["experience_form"].non_field_errors()
    assert ExperienceResponse.unscoped.get(episode=care.episode).overall == 9


@pytest.mark.parametrize(
    "extra,field",
    [
        ({"overall": "11"}, "overall"),
        ({"informed": "0"}, "informed"),
        ({"same_team": "6"}, "same_team"),
        ({"recommend": "-1"}, "recommend"),
        ({"recommend": "7.5"}, "recommend"),
        ({"answered_on": ""}, "answered_on"),
    ],
)
def test_refused_questionnaire_stores_nothing(care, client_for, extra, field):
    end_maternity(care)
    response = as_user(care, Role.MIDWIFE, client_for).post(
        care.url(f"episodes/{care.episode.pk}/experience/"), answers(**extra)
    )
    assert response.status_code == 400
    errors = response.context["experience_form"].errors
    assert set(errors) == {field}
    assert errors[field][0] in response.content.decode()
    assert not ExperienceResponse.unscoped.exists()
    assert log_entries(care, action="create") == []


def test_questionnaire_before_the_end_of_the_maternity_period_is_refused(care, client_for):
    end_maternity(care, days_ago=2)
    response = as_user(care, Role.MIDWIFE, client_for).post(
        care.url(f"episodes/{care.episode.pk}/experience/"),
        answers(answered_on=(timezone.localdate() - timedelta(days=3)).isoformat()),
    )
    assert response.status_code == 400
    assert "answered_on" in response.context["experience_form"].errors
    assert not ExperienceResponse.unscoped.exists()


@pytest.mark.parametrize(
    "role,allowed",
    [
        (Role.MIDWIFE, True),
        (Role.GYNAECOLOGIST, True),
        (Role.MATERNITY_CARER, True),
        (Role.IGO_ADMIN, True),
        (Role.IGO_FINANCE, False),
    ],
)
def test_questionnaire_by_role(care, client_for, role, allowed):
    end_maternity(care)
    response = as_user(care, role, client_for).post(
        care.url(f"episodes/{care.episode.pk}/experience/"), answers()
    )
    assert response.status_code == (302 if allowed else 403)
    assert ExperienceResponse.unscoped.filter(episode=care.episode).exists() == allowed


# --- 5. the questionnaire for IGO administrators: by episode number, and by file ---------------------


def test_administrator_enters_a_questionnaire_by_episode_number(care, care_b, client_for):
    end_maternity(care)
    admin = as_user(care, Role.IGO_ADMIN, client_for)
    lookup = admin.get(care.url("quality/experience/import/"), {"episode": care.episode.pk})
    assert lookup.status_code == 302
    assert lookup["Location"] == care.url(f"episodes/{care.episode.pk}/experience/")
    # Another IGO's number is not found, like a number that does not exist.
    other = admin.get(care.url("quality/experience/import/"), {"episode": care_b.episode.pk})
    assert other.status_code == 200 and "episode" in other.context["lookup"].errors

    form_page = admin.get(lookup["Location"])
    assert form_page.status_code == 200
    html = form_page.content.decode()
    assert 'data-testid="experience-form"' in html and str(care.client.family_name) in html
    assert f'href="{care.url(f"episodes/{care.episode.pk}/")}"' not in html  # no way into the care record
    assert log_entries(care, action="view") == [("view", "episode", str(care.episode.pk), "experience")]

    refused = admin.post(lookup["Location"], answers(overall="0"))
    assert refused.status_code == 400 and "overall" in refused.context["form"].errors
    response = admin.post(lookup["Location"], answers())
    assert response.status_code == 302 and response["Location"] == care.url("quality/experience/import/")
    stored = ExperienceResponse.unscoped.get(episode=care.episode)
    assert stored.entered_by == care.user(Role.IGO_ADMIN)
    shown = admin.get(lookup["Location"]).content.decode()
    assert 'data-testid="experience-answers"' in shown and 'data-testid="experience-form"' not in shown


@pytest.mark.parametrize("separator,bom", [(";", True), (",", False)], ids=["semicolon-bom", "comma"])
def test_import_stores_every_answer_and_is_audited(care, client_for, separator, bom):
    first, second = ended_episode(care, days_ago=10), ended_episode(care, days_ago=5)
    day1 = timezone.localdate() - timedelta(days=4)
    day2 = timezone.localdate() - timedelta(days=1)
    text = "\r\n".join(
        [
            HEADER.replace(";", separator),
            separator.join([str(first.pk), day1.isoformat(), "8", "4", "3", "9"]),
            "",
            separator.join([str(second.pk), day2.strftime("%d-%m-%Y"), "10", "5", "5", "10"]),
        ]
    )
    admin = as_user(care, Role.IGO_ADMIN, client_for)
    response = upload(admin, care, text, bom=bom)
    assert response.status_code == 302
    stored = {r.episode_id: r for r in ExperienceResponse.unscoped.filter(tenant=care.tenant)}
    assert set(stored) == {first.pk, second.pk}
    assert (stored[first.pk].answered_on, stored[first.pk].overall, stored[first.pk].recommend) == (
        day1,
        8,
        9,
    )
    assert (stored[second.pk].answered_on, stored[second.pk].same_team) == (day2, 5)
    assert {r.source for r in stored.values()} == {"imported"}
    assert {r.entered_by_id for r in stored.values()} == {care.user(Role.IGO_ADMIN).pk}
    audit = AuditEntry.objects.get(tenant=care.tenant, action="experience.import")
    assert audit.actor == care.user(Role.IGO_ADMIN)
    assert audit.details == {
        "filename": "answers.csv",
        "answers": 2,
        "episodes": sorted([first.pk, second.pk]),
    }
    assert sorted(log_entries(care, action="create")) == sorted(
        ("create", "experienceresponse", str(r.pk), "experience") for r in stored.values()
    )
    followed = admin.get(response["Location"])
    assert "answers.csv" in followed.content.decode()


def test_a_bad_file_stores_nothing_and_lists_every_error_by_row(care, care_b, client_for):
    good, other_good = ended_episode(care), ended_episode(care)
    not_ended = care.episode  # still pregnant
    answered = ended_episode(care)
    with tenant_scope(care.tenant):
        experience_record(
            episode=answered,
            actor=care.user(Role.MIDWIFE),
            answered_on=timezone.localdate(),
            overall=7,
            informed=4,
            same_team=4,
            recommend=8,
        )
    foreign = ended_episode(care_b)
    today = timezone.localdate().isoformat()
    text = "\n".join(
        [
            HEADER,
            f"{good.pk};{today};8;4;3;9",  # row 2: fine
            f"{other_good.pk};{today};11;4;3;9",  # row 3: overall out of range
            f"{foreign.pk};{today};8;4;3;9",  # row 4: another IGO's episode
            f"{not_ended.pk};{today};8;4;3;9",  # row 5: maternity period not ended
            f"{good.pk};{today};6;3;3;5",  # row 6: the same episode again
            f"{answered.pk};{today};8;4;3;9",  # row 7: answered before
            "x12;31-02-2026;8;;3;9",  # row 8: episode, date and informed unreadable
            f"{foreign.pk};{today};0;4;3;9",  # row 9: another IGO's episode, and overall out of range
        ]
    )
    admin = as_user(care, Role.IGO_ADMIN, client_for)
    response = upload(admin, care, text)
    assert response.status_code == 400
    found = {(e.row, e.field) for e in response.context["errors"]}
    assert found == {
        (3, "overall"),
        (4, "episode"),
        (5, "answered_on"),
        (6, "episode"),
        (7, "episode"),
        (8, "episode"),
        (8, "answered_on"),
        (8, "informed"),
        (9, "episode"),
        (9, "overall"),
    }
    errors = {(e.row, e.field): e.message for e in response.context["errors"]}
    assert str(foreign.pk) in errors[(4, "episode")]
    assert re.search(r"\b2\b", errors[(6, "episode")])  # the row where the episode came first
    # Nothing of the file was stored, in either IGO; the answer stored before stays the only one.
    assert list(ExperienceResponse.unscoped.values_list("episode_id", flat=True)) == [answered.pk]
    assert not AuditEntry.objects.filter(action="experience.import").exists()
    refused = AuditEntry.objects.get(tenant=care.tenant, action="experience.import_refused")
    assert refused.details == {"filename": "answers.csv", "errors": 10}
    assert not AccessLogEntry.unscoped.filter(tenant=care_b.tenant).exists()
    html = response.content.decode()
    assert html.count('data-testid="import-error"') == 10
    assert '<td class="num">4</td>' in html


@pytest.mark.parametrize(
    "content,message_part",
    [
        (b"", "empty"),
        (HEADER.encode(), "only a header"),
        (b"episode;answered_on;overall;informed;same_team\n1;2026-01-01;8;4;3", "recommend"),
        (b"episode;answered_on;overall;informed;same_team;recommend;bsn\n", "bsn"),
        ("episode;answered_on;overall;informed;same_team;recommend\n1;2026-01-01;8;4;3;9".encode("utf-16"), "text"),
        (b"\xff\xfe\xfa;x\n", "UTF-8"),
    ],
    ids=["empty", "header-only", "missing-column", "unknown-column", "utf-16", "not-utf8"],
)  # fmt: skip
def test_unreadable_files_are_refused_as_a_whole(content, message_part):
    with translation.override("en"), pytest.raises(ExperienceImportError) as exc:
        experience_file_parse(content)
    assert exc.value.errors[0].field == "file"
    assert any(message_part in e.message for e in exc.value.errors), exc.value.errors


def test_parse_reads_columns_in_any_order_and_skips_blank_lines():
    text = "\ufeffRecommend,Overall,episode,answered_on,informed,same_team\r\n\r\n10,9,7,14-09-2026,5,4\r\n"
    parsed = experience_file_parse(text.encode())
    assert parsed.errors == []
    row = parsed.rows[0]
    assert (row.row, row.episode_id, row.answered_on, row.overall, row.recommend, row.informed) == (
        3,
        7,
        date(2026, 9, 14),
        9,
        10,
        5,
    )


def test_score_ranges_come_from_the_model():
    assert [score_range(n) for n in ("overall", "informed", "same_team", "recommend")] == [
        (1, 10),
        (1, 5),
        (1, 5),
        (0, 10),
    ]


@pytest.mark.parametrize("role", [Role.MIDWIFE, Role.MATERNITY_CARER, Role.IGO_FINANCE])
def test_only_administrators_import(care, client_for, role):
    target = ended_episode(care)
    client = as_user(care, role, client_for)
    assert client.get(care.url("quality/experience/import/")).status_code == 403
    response = upload(client, care, f"{HEADER}\n{target.pk};{timezone.localdate().isoformat()};8;4;3;9")
    assert response.status_code == 403
    assert not ExperienceResponse.unscoped.exists()


def test_import_page_explains_the_format(care, client_for):
    response = as_user(care, Role.IGO_ADMIN, client_for).get(care.url("quality/experience/import/"))
    assert response.status_code == 200
    assert HEADER in response.content.decode()


# --- 6. the API --------------------------------------------------------------------------------------


def test_api_episode_carries_the_outcomes_and_the_births(care):
    birth = deliver(care, days_ago=20)
    died = timezone.localdate(birth.born_at) + timedelta(days=3)
    with tenant_scope(care.tenant):
        services.episode_set_outcomes(
            episode=care.episode,
            actor=care.user(Role.MIDWIFE),
            blood_loss_ml=1100,
            kraamzorg_indicated_hours=49,
        )
        services.birth_set_outcome(
            birth=birth, actor=care.user(Role.MIDWIFE), nicu_admission=True, neonatal_death_on=died
        )
    response = api(care.user(Role.MIDWIFE)).get(f"/api/t/{care.tenant.slug}/episodes/{care.episode.pk}/")
    assert response.status_code == 200
    data = response.json()
    assert (data["blood_loss_ml"], data["kraamzorg_indicated_hours"]) == (1100, 49)
    assert data["births"] == [
        {
            "id": birth.pk,
            "child_number": 1,
            "born_at": timezone.localtime(birth.born_at).isoformat(),
            "outcome": "live",
            "place": "home",
            "mode": "spontaneous",
            "weight_grams": 3300,
            "nicu_admission": True,
            "neonatal_death_on": died.isoformat(),
        }
    ]


def test_api_episode_without_births_or_outcomes(care):
    data = (
        api(care.user(Role.MATERNITY_CARER))
        .get(f"/api/t/{care.tenant.slug}/episodes/{care.episode.pk}/")
        .json()
    )
    assert (data["blood_loss_ml"], data["kraamzorg_indicated_hours"], data["births"]) == (None, None, [])


# --- 7. a questionnaire submitted twice at once ----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_questionnaire_submitted_twice_at_once(world_a: TenantWorld):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    care = make_care(world_a, InsurerFactory(uzovi_code="3311"))
    episode = ended_episode(care)
    inside, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def record() -> None:
        experience_record(
            episode=episode,
            actor=care.user(Role.MIDWIFE),
            answered_on=timezone.localdate(),
            overall=8,
            informed=4,
            same_team=4,
            recommend=9,
        )

    def first() -> None:
        try:
            with tenant_scope(care.tenant), transaction.atomic():
                record()
                inside.set()
                release.wait(timeout=30)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
        finally:
            inside.set()
            connections.close_all()

    def second() -> None:
        try:
            inside.wait(timeout=30)
            with tenant_scope(care.tenant):
                record()
        except ValidationError:
            pass  # the right answer: "already recorded"
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    try:
        wait_for_a_lock_wait()  # let the first commit only once the second waits on its lock
    finally:
        release.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    assert ExperienceResponse.unscoped.filter(episode=episode).count() == 1


def test_a_file_over_the_limit_is_refused_unread(care, client_for):
    from quality.experience import MAX_BYTES

    target = ended_episode(care)
    row = f"\n{target.pk};{timezone.localdate().isoformat()};8;4;3;9"
    padding = "\n" * (MAX_BYTES - len(HEADER) - len(row) + 1)
    response = upload(as_user(care, Role.IGO_ADMIN, client_for), care, HEADER + padding + row)
    assert response.status_code == 400
    assert [(e.row, e.field) for e in response.context["errors"]] == [(0, "file")]
    assert not ExperienceResponse.unscoped.exists()
    assert AuditEntry.objects.get(action="experience.import_refused").details["errors"] == 1
