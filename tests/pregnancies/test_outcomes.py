"""Recording the clinical outcomes the quality indicators need, through the pages: the outcomes of the
delivery (blood loss, kraamzorg hours indicated), the outcome of each child (NICU admission, neonatal
death) next to the birth form, by role and tenant; and the same fields in the care API. Reads of
tenant-owned rows in assertions use `Model.unscoped`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies import services
from pregnancies.models import AccessLogEntry, Birth, Episode
from quality.models import ExperienceResponse
from tests.scenarios.care_logging import (
    ago,
    answers,
    as_user,
    deliver,
    end_maternity,
    form_dt,
    log_entries,
    page,
)
from tests.scenarios.http import api

pytestmark = [pytest.mark.django_db, pytest.mark.dated]


def test_outcomes_are_saved_logged_and_shown(care, client_for):
    deliver(care)
    client = as_user(care, Role.MIDWIFE, client_for)
    url = care.url(f"episodes/{care.episode.pk}/outcomes/")
    response = client.post(url, {"blood_loss_ml": "1200", "kraamzorg_indicated_hours": "49"})
    assert response.status_code == 302
    assert response["Location"].endswith(f"/episodes/{care.episode.pk}/#outcomes")
    stored = Episode.unscoped.get(pk=care.episode.pk)
    assert (stored.blood_loss_ml, stored.kraamzorg_indicated_hours) == (1200, 49)
    # The hours are a dated (re-)indication, logged as such (tests/pregnancies/test_kraamzorg_indications.py).
    assert log_entries(care, action="update") == [
        ("update", "episode", str(care.episode.pk), "indication"),
        ("update", "episode", str(care.episode.pk), "outcomes"),
    ]
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


def test_the_delivery_form_records_a_birth_and_shows_errors_at_the_field(care, client_for):
    labour = ago(hours=12)
    client = as_user(care, Role.MIDWIFE, client_for)
    url = care.url(f"episodes/{care.episode.pk}/delivery/")
    form = {
        "labour_started_at": form_dt(labour),
        "born_at_1": form_dt(labour + timedelta(hours=5)),
        "outcome_1": "live",
        "mode_1": "spontaneous",
        "weight_grams_1": "3400",
        "outcome_2": "live",
        "mode_2": "spontaneous",
        "placenta_at": form_dt(labour + timedelta(hours=6)),
        "place": "home",
        "line": "first",
    }
    refused = client.post(url, {**form, "born_at_1": f"{care.episode.intake_date - timedelta(days=2)}T10:00"})
    assert refused.status_code == 400
    assert set(refused.context["delivery_form"].errors) == {"born_at_1"}
    assert not Birth.unscoped.filter(episode=care.episode).exists()

    response = client.post(url, form)
    assert response.status_code == 302 and response["Location"].endswith("#delivery")
    birth = Birth.unscoped.get(episode=care.episode)
    assert (birth.child_number, birth.weight_grams, birth.nicu_admission, birth.neonatal_death_on) == (
        1,
        3400,
        False,
        None,
    )
    assert ("create", "episode", str(care.episode.pk), "delivery") in log_entries(care, action="create")
    assert page(client, care).count('data-testid="birth-outcome-form"') == 1


def test_birth_outcome_is_saved_logged_and_shown_in_the_births_list(care, client_for):
    twin1, twin2 = deliver(care, days_ago=5), deliver(care, child=2)
    client = as_user(care, Role.GYNAECOLOGIST, client_for)
    died = timezone.localdate() - timedelta(days=1)
    response = client.post(
        care.url(f"births/{twin2.pk}/outcome/"),
        {"nicu_admission": "on", "neonatal_death_on": died.isoformat()},
    )
    assert response.status_code == 302 and response["Location"].endswith("#delivery")
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
            "sex": "",  # not recorded
            "weight_grams": 3300,
            "apgar_1": None,  # not recorded
            "apgar_5": None,
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
