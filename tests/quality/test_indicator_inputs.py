"""The services that record the indicators' inputs refuse bad input and log each change: the outcomes of
a delivery (`episode_set_outcomes`), of a child (`birth_set_outcome`), and a client's experience
(`experience_record`).

The world is the hand-made IGO of tests.scenarios.indicators (the `d` fixture of tests/quality/conftest.py):
fourteen episodes E1..E14 with births in March and April 2026, and the table EXPECTED that gives, for
every indicator, month and organisation, the numerator, the denominator and the episodes behind each.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from igo.tenancy import tenant_scope
from pregnancies.models import AccessAction, AccessLogEntry, Birth, Episode
from pregnancies.services import birth_set_outcome, episode_set_outcomes
from quality.models import ExperienceResponse
from quality.services import experience_record as _experience_record
from tests.scenarios.indicators import HOME, SPONT, Data

pytestmark = pytest.mark.dated


def _log_count(d: Data) -> int:
    return AccessLogEntry.unscoped.filter(tenant=d.s.tenant).count()


def _refused(call: Any) -> set[str]:
    with pytest.raises(ValidationError) as exc:
        call()
    return set(exc.value.message_dict)


def test_episode_set_outcomes_validation_and_log(d: Data) -> None:
    actor = d.s.midwife
    pregnant, e4 = d.ep["E14"], d.ep["E4"]
    with tenant_scope(d.s.tenant):
        logs, changed = _log_count(d), Episode.unscoped.get(pk=e4.pk).changed_at
        cases = [
            # No labour and no birth yet: a blood loss cannot be known.
            (pregnant, 300, None, {"blood_loss_ml"}),
            (e4, -1, None, {"blood_loss_ml"}),
            (e4, 20001, None, {"blood_loss_ml"}),
            (e4, None, 81, {"kraamzorg_indicated_hours"}),
            (e4, None, -1, {"kraamzorg_indicated_hours"}),
            (e4, 20001, 81, {"blood_loss_ml", "kraamzorg_indicated_hours"}),
        ]
        for ep, blood, hours, keys in cases:
            assert (
                _refused(
                    lambda ep=ep, blood=blood, hours=hours: episode_set_outcomes(
                        episode=ep, actor=actor, blood_loss_ml=blood, kraamzorg_indicated_hours=hours
                    )
                )
                == keys
            ), (blood, hours)
        fresh = Episode.unscoped.get(pk=e4.pk)
        assert (fresh.blood_loss_ml, fresh.kraamzorg_indicated_hours, fresh.changed_at) == (
            None,
            None,
            changed,
        )
        assert Episode.unscoped.get(pk=pregnant.pk).blood_loss_ml is None
        assert _log_count(d) == logs

        # The limits themselves are accepted; the change touches the episode and is logged.
        episode_set_outcomes(episode=e4, actor=actor, blood_loss_ml=20000, kraamzorg_indicated_hours=80)
        episode_set_outcomes(episode=e4, actor=actor, blood_loss_ml=0, kraamzorg_indicated_hours=0)
        # Hours may be indicated before the birth; a blood loss may be cleared.
        episode_set_outcomes(episode=pregnant, actor=actor, blood_loss_ml=None, kraamzorg_indicated_hours=49)
    fresh = Episode.unscoped.get(pk=e4.pk)
    assert (fresh.blood_loss_ml, fresh.kraamzorg_indicated_hours) == (0, 0)
    assert fresh.changed_at > changed
    assert Episode.unscoped.get(pk=pregnant.pk).kraamzorg_indicated_hours == 49
    entries = AccessLogEntry.unscoped.filter(tenant=d.s.tenant).order_by("pk")[logs:]
    assert [(e.action, e.object_type, e.object_id, e.detail, e.client_id, e.user_id) for e in entries] == [
        # Each change of the hours is a dated (re-)indication, logged as such before the outcomes.
        (AccessAction.UPDATE, "episode", str(e4.pk), "indication", e4.client_id, actor.pk),
        (AccessAction.UPDATE, "episode", str(e4.pk), "outcomes", e4.client_id, actor.pk),
        (AccessAction.UPDATE, "episode", str(e4.pk), "indication", e4.client_id, actor.pk),
        (AccessAction.UPDATE, "episode", str(e4.pk), "outcomes", e4.client_id, actor.pk),
        (AccessAction.UPDATE, "episode", str(pregnant.pk), "indication", pregnant.client_id, actor.pk),
        (AccessAction.UPDATE, "episode", str(pregnant.pk), "outcomes", pregnant.client_id, actor.pk),
    ]


def test_birth_set_outcome_validation_and_log(d: Data) -> None:
    actor = d.s.midwife
    still, live = d.birth["E7"], d.birth["E1"]  # E1 born 3 March 2026
    now = timezone.now()
    recent = Birth.unscoped.create(
        tenant=d.s.tenant, episode=d.ep["E14"], born_at=now - dt.timedelta(days=1), place=HOME, mode=SPONT
    )
    today = timezone.localdate()
    with tenant_scope(d.s.tenant):
        logs = _log_count(d)
        changed = Episode.unscoped.get(pk=still.episode_id).changed_at
        cases = [
            (still, False, dt.date(2026, 3, 22), {"neonatal_death_on"}),  # stillborn cannot die after birth
            (still, True, None, {"nicu_admission"}),  # nor be admitted
            (still, True, dt.date(2026, 3, 22), {"neonatal_death_on", "nicu_admission"}),
            (live, False, dt.date(2026, 3, 2), {"neonatal_death_on"}),  # before the birth
            (live, False, dt.date(2026, 4, 1), {"neonatal_death_on"}),  # day 29: after the neonatal period
            (recent, False, today + dt.timedelta(days=1), {"neonatal_death_on"}),  # in the future
        ]
        for birth, nicu, death, keys in cases:
            assert (
                _refused(
                    lambda birth=birth, nicu=nicu, death=death: birth_set_outcome(
                        birth=birth, actor=actor, nicu_admission=nicu, neonatal_death_on=death
                    )
                )
                == keys
            ), (birth.pk, nicu, death)
        assert Birth.unscoped.filter(nicu_admission=True, pk__in=[still.pk, live.pk, recent.pk]).count() == 0
        assert (
            Birth.unscoped.filter(
                neonatal_death_on__isnull=False, pk__in=[still.pk, live.pk, recent.pk]
            ).count()
            == 0
        )
        assert Episode.unscoped.get(pk=still.episode_id).changed_at == changed
        assert _log_count(d) == logs

        # Day 27 (the last day of the neonatal period) and today are accepted.
        birth_set_outcome(
            birth=live, actor=actor, nicu_admission=True, neonatal_death_on=dt.date(2026, 3, 30)
        )
        birth_set_outcome(birth=recent, actor=actor, nicu_admission=False, neonatal_death_on=today)
        birth_set_outcome(
            birth=still, actor=actor, nicu_admission=False, neonatal_death_on=None
        )  # no-op is fine
    live.refresh_from_db()
    assert (live.nicu_admission, live.neonatal_death_on) == (True, dt.date(2026, 3, 30))
    assert Episode.unscoped.get(pk=live.episode_id).changed_at > changed
    entries = AccessLogEntry.unscoped.filter(tenant=d.s.tenant).order_by("pk")[logs:]
    assert [(e.action, e.object_type, e.object_id, e.detail, e.client_id) for e in entries] == [
        (AccessAction.UPDATE, "birth", str(live.pk), "outcome", d.ep["E1"].client_id),
        (AccessAction.UPDATE, "birth", str(recent.pk), "outcome", d.ep["E14"].client_id),
        (AccessAction.UPDATE, "birth", str(still.pk), "outcome", d.ep["E7"].client_id),
    ]


def test_experience_record_validation_and_log(d: Data) -> None:
    actor = d.s.midwife
    e9, e12, e1 = d.ep["E9"], d.ep["E12"], d.ep["E1"]  # E9: no end recorded; E12 kraamzorg ended 2 April
    good = {"overall": 8, "informed": 4, "same_team": 3, "recommend": 9}
    today = timezone.localdate()

    def record(ep: Episode, answered_on: dt.date, **answers: int) -> ExperienceResponse:
        a = {**good, **answers}
        return _experience_record(
            episode=ep,
            actor=actor,
            answered_on=answered_on,
            overall=a["overall"],
            informed=a["informed"],
            same_team=a["same_team"],
            recommend=a["recommend"],
        )

    with tenant_scope(d.s.tenant):
        logs, responses = _log_count(d), ExperienceResponse.unscoped.count()
        cases = [
            (e1, dt.date(2026, 5, 1), {}, {"episode"}),  # already answered
            (e9, dt.date(2026, 5, 1), {}, {"answered_on"}),  # maternity period not ended
            (e12, dt.date(2026, 4, 1), {}, {"answered_on"}),  # before the end of kraamzorg
            (e12, today + dt.timedelta(days=1), {}, {"answered_on"}),  # in the future
            (e12, dt.date(2026, 4, 2), {"overall": 0}, {"overall"}),
            (e12, dt.date(2026, 4, 2), {"overall": 11}, {"overall"}),
            (e12, dt.date(2026, 4, 2), {"informed": 6}, {"informed"}),
            (e12, dt.date(2026, 4, 2), {"same_team": 0}, {"same_team"}),
            (e12, dt.date(2026, 4, 2), {"recommend": 11}, {"recommend"}),
            (e12, dt.date(2026, 4, 2), {"recommend": -1}, {"recommend"}),
            (e9, dt.date(2026, 5, 1), {"overall": 0, "informed": 0}, {"answered_on", "overall", "informed"}),
        ]
        for ep, on, answers, keys in cases:
            assert _refused(lambda ep=ep, on=on, answers=answers: record(ep, on, **answers)) == keys, (
                on,
                answers,
            )
        assert ExperienceResponse.unscoped.count() == responses
        assert _log_count(d) == logs

        # On the day kraamzorg ended, with the extremes of every scale.
        response = record(e12, dt.date(2026, 4, 2), overall=1, informed=5, same_team=1, recommend=0)
    assert (response.tenant_id, response.episode_id, response.entered_by_id) == (
        d.s.tenant.pk,
        e12.pk,
        actor.pk,
    )
    entries = list(AccessLogEntry.unscoped.filter(tenant=d.s.tenant).order_by("pk")[logs:])
    assert [(e.action, e.object_type, e.object_id, e.detail, e.client_id) for e in entries] == [
        (AccessAction.CREATE, "experienceresponse", str(response.pk), "experience", e12.client_id)
    ]
