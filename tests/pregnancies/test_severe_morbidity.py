"""Recording the LEMMoN criteria of severe maternal morbidity on the mother's birth record (the Outcomes
card, `services.episode_set_outcomes`): stored, access-logged and audited; refused at the field with
nothing stored; shown on the card, in the care API and checked for plausibility against the blood loss.
Reads of tenant-owned rows in assertions use `Model.unscoped`."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from igo.models import AuditEntry, Role
from igo.tenancy import tenant_scope
from pregnancies import plausibility, services
from pregnancies.models import ClinicalRevision, Episode
from tests.scenarios.care_logging import as_user, deliver, log_entries, page
from tests.scenarios.http import api

pytestmark = [pytest.mark.django_db, pytest.mark.dated]


def outcomes_url(care) -> str:
    return care.url(f"episodes/{care.episode.pk}/outcomes/")


def test_the_criteria_are_stored_logged_audited_and_shown(care, client_for):
    deliver(care)
    client = as_user(care, Role.GYNAECOLOGIST, client_for)
    response = client.post(
        outcomes_url(care), {"blood_loss_ml": "2500", "severe_morbidity": ["transfusion", "icu"]}
    )
    assert response.status_code == 302
    stored = Episode.unscoped.get(pk=care.episode.pk)
    assert stored.severe_morbidity == ["icu", "transfusion"]  # in the criteria's order
    assert log_entries(care, action="update") == [("update", "episode", str(care.episode.pk), "outcomes")]
    (audit,) = AuditEntry.objects.filter(action="episode.severe_morbidity")
    (revision,) = ClinicalRevision.unscoped.filter(episode=care.episode)
    assert (revision.before, revision.after) == (
        {"severe_morbidity": None},
        {"severe_morbidity": ["icu", "transfusion"]},
    )
    assert audit.details == {"fields": ["severe_morbidity"], "revision": revision.pk}  # no criterion
    assert audit.object_id == str(care.episode.pk)
    html = page(client, care)
    assert 'data-testid="severe-morbidity"' in html and 'data-testid="severe-morbidity-criteria"' in html
    assert "Opname op een intensive care" in html  # the criterion in words, in Dutch
    shown = client.get(care.url(f"episodes/{care.episode.pk}/")).context["outcomes_form"]
    assert shown.initial["severe_morbidity"] == ["icu", "transfusion"]
    # Saving again unchanged is no new audit entry; nothing ticked is "not recorded" again.
    client.post(outcomes_url(care), {"blood_loss_ml": "2500", "severe_morbidity": ["icu", "transfusion"]})
    assert AuditEntry.objects.filter(action="episode.severe_morbidity").count() == 1
    client.post(outcomes_url(care), {"blood_loss_ml": "2500"})
    stored.refresh_from_db()
    assert stored.severe_morbidity is None
    assert AuditEntry.objects.filter(action="episode.severe_morbidity").count() == 2


def test_none_of_the_criteria_is_an_empty_list_and_shown_as_such(care, client_for):
    deliver(care)
    client = as_user(care, Role.MIDWIFE, client_for)
    assert client.post(outcomes_url(care), {"severe_morbidity": ["none"]}).status_code == 302
    assert Episode.unscoped.get(pk=care.episode.pk).severe_morbidity == []
    html = page(client, care)
    assert "geen ernstige maternale morbiditeit" in html
    assert 'data-testid="severe-morbidity-criteria"' not in html


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            {"blood_loss_ml": "300", "severe_morbidity": ["none", "icu"]}, id="none-and-a-criterion"
        ),
        pytest.param({"blood_loss_ml": "300", "severe_morbidity": ["sepsis"]}, id="unknown-code"),
    ],
)
def test_refused_criteria_store_nothing_and_show_the_error_at_the_field(care, client_for, data):
    deliver(care)
    response = as_user(care, Role.MIDWIFE, client_for).post(outcomes_url(care), data)
    assert response.status_code == 400
    assert set(response.context["outcomes_form"].errors) == {"severe_morbidity"}
    stored = Episode.unscoped.get(pk=care.episode.pk)
    assert (stored.blood_loss_ml, stored.severe_morbidity) == (None, None)
    assert log_entries(care, action="update") == []
    assert not AuditEntry.objects.filter(action="episode.severe_morbidity").exists()


def test_the_service_refuses_in_dutch_before_the_delivery_and_beside_none(care):
    actor = care.user(Role.MIDWIFE)
    with tenant_scope(care.tenant):
        with pytest.raises(ValidationError) as before:
            services.episode_set_outcomes(
                episode=care.episode, actor=actor, blood_loss_ml=None, kraamzorg_indicated_hours=None,
                severe_morbidity=["eclampsia"],
            )  # fmt: skip
        assert before.value.message_dict == {"severe_morbidity": ["Leg eerst de bevalling vast."]}
        deliver(care)
        with pytest.raises(ValidationError) as both:
            services.episode_set_outcomes(
                episode=care.episode, actor=actor, blood_loss_ml=None, kraamzorg_indicated_hours=None,
                severe_morbidity=["none", "eclampsia"],
            )  # fmt: skip
        assert list(both.value.message_dict) == ["severe_morbidity"]
        # Left out (an older caller): the criteria stay as they were.
        services.episode_set_outcomes(
            episode=care.episode, actor=actor, blood_loss_ml=None, kraamzorg_indicated_hours=None,
            severe_morbidity=["eclampsia"],
        )  # fmt: skip
        services.episode_set_outcomes(
            episode=care.episode, actor=actor, blood_loss_ml=400, kraamzorg_indicated_hours=None
        )
    assert Episode.unscoped.get(pk=care.episode.pk).severe_morbidity == ["eclampsia"]


def test_the_api_answers_the_criteria(care):
    deliver(care)
    data = api(care.user(Role.MIDWIFE)).get(f"/api/t/{care.tenant.slug}/episodes/{care.episode.pk}/").json()
    assert data["severe_morbidity"] is None  # not recorded
    with tenant_scope(care.tenant):
        services.episode_set_outcomes(
            episode=care.episode, actor=care.user(Role.MIDWIFE), blood_loss_ml=1800,
            kraamzorg_indicated_hours=None, severe_morbidity=["embolisation_hysterectomy"],
        )  # fmt: skip
    data = api(care.user(Role.MIDWIFE)).get(f"/api/t/{care.tenant.slug}/episodes/{care.episode.pk}/").json()
    assert data["severe_morbidity"] == ["embolisation_hysterectomy"]


@pytest.mark.parametrize(
    "criteria,blood_loss,warned",
    [
        (["transfusion"], 999, True),
        (["embolisation_hysterectomy"], 600, True),
        (["transfusion"], 1000, False),  # a severe haemorrhage: consistent
        (["transfusion"], None, False),  # no blood loss recorded: nothing to compare
        (["icu", "eclampsia"], 300, False),  # not a haemorrhage criterion
        ([], 300, False),
    ],
)
def test_a_major_haemorrhage_with_a_small_blood_loss_is_a_warning(care, criteria, blood_loss, warned):
    birth = deliver(care)
    care.update_episode(severe_morbidity=criteria, blood_loss_ml=blood_loss)
    episode = Episode.unscoped.get(pk=care.episode.pk)
    codes = {f.code for f in plausibility.check(episode, [birth], [])}
    assert (plausibility.HAEMORRHAGE_LOW_BLOOD_LOSS in codes) is warned
