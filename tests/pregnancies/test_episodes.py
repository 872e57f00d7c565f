"""The episode: its key dates (labour, placenta, delivery) checked against each other and the logged care,
a birth, the end of the episode, the phase at a moment, a change of insurer (on 1 January, never
overlapping or backdated), and an episode page whose query count does not grow with its events.
"""

from __future__ import annotations

import contextlib
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from igo.models import AuditEntry, Insurer, Role
from igo.tenancy import tenant_scope
from pregnancies import selectors, services
from pregnancies.models import (
    Birth,
    CareEvent,
    ClientInsurance,
    ClinicalRevision,
    Episode,
    LineTransfer,
    Phase,
)
from tests.factories import CareEventFactory, ClientFactory, EpisodeFactory, InsurerFactory
from tests.scenarios.care import Care
from tests.scenarios.care_logging import access_entries, ago, deliver, in_scope, local, log, log_service

pytestmark = [pytest.mark.django_db, pytest.mark.dated]


@pytest.fixture
def other_insurer(db) -> Insurer:
    return InsurerFactory(uzovi_code="7095", name="VGZ")


def set_dates(care: Care, **values: Any) -> Episode:
    return in_scope(
        care, services.episode_set_key_dates, episode=care.episode, actor=care.user(Role.MIDWIFE), **values
    )


def test_key_dates_are_saved_and_logged(care):
    labour = ago(hours=20)
    episode = set_dates(care, labour_started_at=labour, placenta_plus_2h_at=labour + timedelta(hours=8))
    stored = Episode.unscoped.get(pk=care.episode.pk)
    assert (stored.labour_started_at, stored.placenta_plus_2h_at) == (labour, labour + timedelta(hours=8))
    assert episode.labour_started_at == labour
    assert [e.detail for e in access_entries(care, action="update")] == ["key dates"]


def test_key_dates_refuse_placenta_before_labour(care):
    with pytest.raises(ValidationError) as exc:
        set_dates(care, labour_started_at=ago(days=2), placenta_plus_2h_at=ago(days=3))
    assert "placenta_plus_2h_at" in exc.value.message_dict
    care.episode.refresh_from_db()
    assert (care.episode.labour_started_at, care.episode.placenta_plus_2h_at) == (None, None)


def test_key_dates_refuse_placenta_equal_to_labour(care):
    with pytest.raises(ValidationError) as exc:
        set_dates(care, labour_started_at=ago(days=2), placenta_plus_2h_at=ago(days=2))
    assert "placenta_plus_2h_at" in exc.value.message_dict


def test_key_dates_refuse_a_delivery_before_intake(care):
    before_intake = local(care.episode.intake_date - timedelta(days=1), 22, 0)
    with pytest.raises(ValidationError) as exc:
        set_dates(
            care, labour_started_at=before_intake, placenta_plus_2h_at=before_intake + timedelta(hours=6)
        )
    assert "labour_started_at" in exc.value.message_dict
    care.episode.refresh_from_db()
    assert care.episode.labour_started_at is None


def test_key_dates_refuse_moving_logged_prenatal_events_into_the_natal_phase(care):
    check = log(care, at=ago(days=1))
    with pytest.raises(ValidationError) as exc:
        set_dates(care, labour_started_at=ago(days=2))
    assert "__all__" in exc.value.message_dict
    assert check.event_type.name in exc.value.message_dict["__all__"][0]
    care.episode.refresh_from_db()
    assert care.episode.labour_started_at is None
    # A labour start after the last prenatal event is fine.
    labour = ago(hours=12)
    set_dates(care, labour_started_at=labour)
    care.episode.refresh_from_db()
    assert care.episode.labour_started_at == labour


def test_key_dates_ignore_voided_events(care):
    check = log(care, at=ago(days=1))
    in_scope(care, services.care_event_void, event=check, actor=care.user(Role.MIDWIFE), reason="mistake")
    labour = ago(days=2)
    set_dates(care, labour_started_at=labour)
    care.episode.refresh_from_db()
    assert care.episode.labour_started_at == labour


def test_key_dates_keep_the_phase_of_phase_free_events_consistent(care):
    referral, _, _ = log_service(care, "REFERRAL", at=ago(days=1), role=Role.GYNAECOLOGIST)
    assert referral.phase == "prenatal"
    with contextlib.suppress(ValidationError):  # refusing the change is one correct answer
        set_dates(care, labour_started_at=ago(days=2))
    referral.refresh_from_db()
    episode = Episode.unscoped.get(pk=care.episode.pk)
    assert referral.phase == episode.phase_at(referral.occurred_at)


def record_birth(care: Care, born_at: datetime, **extra: Any) -> Birth:
    return in_scope(
        care,
        services.birth_record,
        episode=care.episode,
        actor=care.user(Role.MIDWIFE),
        child_number=1,
        born_at=born_at,
        outcome="live",
        place="home",
        mode="spontaneous",
        weight_grams=3400,
        **extra,
    )


def test_birth_before_intake_is_refused(care):
    with pytest.raises(ValidationError) as exc:
        record_birth(care, local(care.episode.intake_date - timedelta(days=1), 23, 0))
    assert "born_at" in exc.value.message_dict
    assert Birth.unscoped.filter(episode=care.episode).count() == 0


def test_birth_is_recorded_and_logged(care):
    labour = ago(hours=10)
    care.update_episode(labour_started_at=labour, placenta_plus_2h_at=labour + timedelta(hours=8))
    birth = record_birth(care, labour + timedelta(hours=5))
    assert Birth.unscoped.get(episode=care.episode) == birth
    assert [(e.object_type, e.object_id) for e in access_entries(care, action="create")] == [
        ("birth", str(birth.pk))
    ]
    with pytest.raises(ValidationError) as exc:
        record_birth(care, labour + timedelta(hours=5))
    assert "child_number" in exc.value.message_dict


def end_as(care: Care, reason: str, end_date: date | None = None) -> Episode:
    return in_scope(
        care,
        services.episode_end,
        episode=care.episode,
        actor=care.user(Role.MIDWIFE),
        end_date=end_date or timezone.localdate(),
        end_reason=reason,
    )


def test_episode_end_refuses_a_date_before_the_last_event(care):
    log(care, at=ago(days=1))
    with pytest.raises(ValidationError) as exc:
        end_as(care, "completed", timezone.localdate() - timedelta(days=3))
    assert "end_date" in exc.value.message_dict
    care.episode.refresh_from_db()
    assert (care.episode.status, care.episode.end_date) == ("active", None)

    episode = end_as(care, "completed")
    assert (episode.status, episode.end_date, episode.end_reason) == (
        "ended",
        timezone.localdate(),
        "completed",
    )


def test_ending_from_the_page_asks_for_a_confirmation_first(care, as_role):
    # The red button stores nothing: the card asks to confirm the date and reason (a second plain form, no
    # script needed); "Annuleren" goes back to the page, the confirmation ends the pregnancy.
    http = as_role(Role.MIDWIFE)
    url = care.url(f"episodes/{care.episode.pk}/end/")
    day = timezone.localdate() - timedelta(days=1)
    asked = http.post(
        url, {"end_date": day.isoformat(), "end_reason": "moved_away"}, HTTP_ACCEPT_LANGUAGE="nl"
    )
    assert asked.status_code == 200
    html = asked.content.decode()
    box = html[html.index('data-testid="end-confirm"') :]
    box = box[: box.index("</form>")]
    assert f"Deze zwangerschap beëindigen op {day:%d-%m-%Y}?" in box
    assert 'name="confirmed" value="True"' in box and f'value="{day.isoformat()}"' in box
    assert f'href="/t/{care.tenant.slug}/episodes/{care.episode.pk}/#end"' in box  # cancel
    assert Episode.unscoped.get(pk=care.episode.pk).status == "active"

    done = http.post(url, {"end_date": day.isoformat(), "end_reason": "moved_away", "confirmed": "True"})
    assert done.status_code == 302 and done["Location"].endswith("#end")
    ended = Episode.unscoped.get(pk=care.episode.pk)
    assert (ended.status, ended.end_date, ended.end_reason) == ("ended", day, "moved_away")


def test_a_refused_end_shows_its_errors_without_asking_to_confirm(care, as_role):
    http = as_role(Role.MIDWIFE)
    response = http.post(
        care.url(f"episodes/{care.episode.pk}/end/"), {"end_date": "", "end_reason": "moved_away"}
    )
    assert response.status_code == 400
    assert "end_date" in response.context["end_form"].errors
    assert 'data-testid="end-confirm"' not in response.content.decode()


def test_ending_an_ended_pregnancy_again_corrects_it_with_the_old_end_kept(care):
    first = end_as(care, "moved_away", timezone.localdate() - timedelta(days=5))
    corrected = end_as(care, "transferred_out", first.end_date)
    assert (corrected.status, corrected.end_reason) == ("ended", "transferred_out")
    # The old end is kept in the record's history; the audit entry names the field (an end reason such as a
    # miscarriage is clinical, security review).
    (revision,) = ClinicalRevision.unscoped.filter(episode=care.episode, kind="end")
    assert revision.before == {"end_date": str(first.end_date), "end_reason": "moved_away"}
    assert revision.after == {"end_date": str(first.end_date), "end_reason": "transferred_out"}
    (entry,) = AuditEntry.objects.filter(action="episode.end_correct", object_id=str(care.episode.pk))
    assert entry.actor == care.user(Role.MIDWIFE)
    assert entry.details == {"fields": ["end_reason"], "revision": revision.pk}
    assert not AuditEntry.objects.filter(action="episode.end_correct").exclude(pk=entry.pk).exists()


@pytest.mark.parametrize("reason", ["miscarriage", "termination"])
def test_a_pregnancy_with_a_birth_does_not_end_in_a_miscarriage_or_termination(care, reason):
    deliver(care, days_ago=3)
    with pytest.raises(ValidationError) as exc:
        end_as(care, reason)
    assert "geboorte" in exc.value.message_dict["end_reason"][0]
    care.episode.refresh_from_db()
    assert care.episode.status == "active"


def test_a_pregnancy_with_a_birth_ends_as_completed_or_by_death(care):
    deliver(care, days_ago=3)
    assert end_as(care, "death").end_reason == "death"  # a mother may die after the birth


def transfer(care: Care, at: datetime) -> Any:
    return in_scope(
        care,
        services.line_transfer,
        episode=care.episode,
        actor=care.user(Role.MIDWIFE),
        line="second",
        effective_at=at,
        reason="Meconiumhoudend vruchtwater",
    )


def test_a_transfer_is_refused_in_the_future_before_the_intake_or_after_the_end(care):
    with pytest.raises(ValidationError) as future:
        transfer(care, ago(days=-30))
    assert future.value.message_dict["effective_at"] == ["De overdracht ligt in de toekomst."]
    with pytest.raises(ValidationError) as early:
        transfer(care, local(care.episode.intake_date - timedelta(days=100)))
    assert "voor de intake" in early.value.message_dict["effective_at"][0]
    assert transfer(care, ago(hours=2)).line == "second"  # a moment that can be
    end_as(care, "completed")
    care.episode.refresh_from_db()
    with pytest.raises(ValidationError) as ended:
        transfer(care, ago(hours=1))
    assert "beëindigd" in ended.value.messages[0]
    assert LineTransfer.unscoped.filter(episode=care.episode).count() == 1


def test_a_refused_transfer_keeps_what_she_typed_at_its_fields(care, as_role):
    browser = as_role(Role.MIDWIFE)
    url = f"/t/{care.tenant.slug}/episodes/{care.episode.pk}/"
    typed = (timezone.localtime() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    response = browser.post(
        f"{url}line/", {"line": "second", "effective_at": typed, "reason": "Meconiumhoudend vruchtwater"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="line" open' in html  # the card opens on its error
    assert "Meconiumhoudend vruchtwater" in html and f'value="{typed}"' in html  # nothing she typed is lost
    assert response.context["line_form"].errors["effective_at"] == ["De overdracht ligt in de toekomst."]
    assert not LineTransfer.unscoped.filter(episode=care.episode).exists()

    ended = browser.post(f"{url}end/", {"end_date": "", "end_reason": "completed"})
    assert ended.status_code == 400 and 'id="end" open' in ended.content.decode()
    assert ended.context["end_form"].errors["end_date"]


def test_phase_at_follows_the_key_dates():
    labour = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.get_current_timezone())
    placenta = labour + timedelta(hours=9)
    episode = Episode(labour_started_at=None, placenta_plus_2h_at=None)
    assert episode.phase_at(labour + timedelta(days=30)) == Phase.PRENATAL
    episode.labour_started_at = labour
    assert episode.phase_at(labour - timedelta(microseconds=1)) == Phase.PRENATAL
    assert episode.phase_at(labour) == Phase.NATAL
    assert episode.phase_at(labour + timedelta(days=30)) == Phase.NATAL  # no placenta + 2h yet
    episode.placenta_plus_2h_at = placenta
    assert episode.phase_at(placenta - timedelta(minutes=1)) == Phase.NATAL
    assert episode.phase_at(placenta) == Phase.NATAL  # inclusive boundary
    assert episode.phase_at(placenta + timedelta(microseconds=1)) == Phase.POSTNATAL
    assert episode.phase_at(placenta + timedelta(days=40)) == Phase.POSTNATAL


def test_insurance_change_on_1_january(care, other_insurer):
    client = ClientFactory(tenant=care.tenant)
    first = ClientInsurance.unscoped.create(
        tenant=care.tenant,
        client=client,
        insurer=care.insurer,
        policy_number="ZK1",
        valid_from=date(2025, 3, 1),
    )
    midwife = care.user(Role.MIDWIFE)
    new = in_scope(
        care,
        services.insurance_change,
        client=client,
        actor=midwife,
        insurer=other_insurer,
        policy_number=" VGZ9 ",
        valid_from=date(2026, 1, 1),
    )
    first.refresh_from_db()
    assert first.valid_until == date(2025, 12, 31)
    assert (new.insurer, new.policy_number, new.valid_from, new.valid_until) == (
        other_insurer,
        "VGZ9",
        date(2026, 1, 1),
        None,
    )
    with tenant_scope(care.tenant):
        assert selectors.client_insurance_on(client=client, day=date(2025, 2, 28)) is None
        assert selectors.client_insurance_on(client=client, day=date(2025, 12, 31)).insurer == care.insurer
        assert selectors.client_insurance_on(client=client, day=date(2026, 1, 1)).insurer == other_insurer
        assert selectors.client_insurance_on(client=client, day=date(2026, 6, 1)).insurer == other_insurer
    [entry] = access_entries(care, client=client, action="update")
    assert (entry.user, entry.object_type, entry.detail) == (midwife, "clientinsurance", "insurance")
    # In the audit trail too, with the insurer and the date but not the policy number.
    [audit] = AuditEntry.objects.filter(action="client.insurance_change")
    assert (audit.actor, audit.tenant, audit.object_id) == (midwife, care.tenant, str(new.pk))
    assert audit.details["insurer"] == other_insurer.uzovi_code
    assert audit.details["valid_from"] == "2026-01-01"
    assert audit.details["previous"] == [str(first.pk)]
    assert "VGZ9" not in str(audit.details)


@pytest.mark.parametrize("valid_from", [date(2026, 1, 1), date(2025, 6, 1), date(2024, 12, 1)])
def test_overlapping_or_backdated_insurance_change_is_refused(care, other_insurer, valid_from):
    client = ClientFactory(tenant=care.tenant)
    ClientInsurance.unscoped.create(
        tenant=care.tenant,
        client=client,
        insurer=care.insurer,
        policy_number="ZK1",
        valid_from=date(2025, 3, 1),
        valid_until=date(2025, 12, 31),
    )
    ClientInsurance.unscoped.create(
        tenant=care.tenant,
        client=client,
        insurer=other_insurer,
        policy_number="VGZ1",
        valid_from=date(2026, 1, 1),
    )
    before = list(
        ClientInsurance.unscoped.filter(client=client).values_list("pk", "valid_from", "valid_until")
    )
    with pytest.raises(ValidationError) as exc:
        in_scope(
            care,
            services.insurance_change,
            client=client,
            actor=care.user(Role.MIDWIFE),
            insurer=care.insurer,
            policy_number="ZK2",
            valid_from=valid_from,
        )
    assert "valid_from" in exc.value.message_dict
    after = list(
        ClientInsurance.unscoped.filter(client=client).values_list("pk", "valid_from", "valid_until")
    )
    assert after == before


def test_insurance_change_through_the_client_page(care, other_insurer, as_role):
    response = as_role(Role.MIDWIFE).post(
        care.url(f"clients/{care.client.pk}/insurance/"),
        {
            "insurer": other_insurer.pk,
            "policy_number": "VGZ7",
            "valid_from": timezone.localdate().isoformat(),
        },
    )
    assert response.status_code == 302
    assert response["Location"] == care.url(f"clients/{care.client.pk}/")
    with tenant_scope(care.tenant):
        assert (
            selectors.client_insurance_on(client=care.client, day=timezone.localdate()).insurer
            == other_insurer
        )
        yesterday = timezone.localdate() - timedelta(days=1)
        assert selectors.client_insurance_on(client=care.client, day=yesterday).insurer == care.insurer


def _episode_with_events(care: Care, n: int) -> Episode:
    episode = EpisodeFactory(
        tenant=care.tenant, intake_date=care.episode.intake_date, due_date=care.episode.due_date
    )
    first = timezone.now() - timedelta(days=55)
    for i in range(n):
        professional = care.midwife if i % 2 else care.gynaecologist
        CareEventFactory(
            tenant=care.tenant,
            episode=episode,
            event_type=care.type("PRE_CHECK" if i % 3 else "REFERRAL"),
            occurred_at=first + timedelta(hours=20 * i),
            professional=professional,
            organisation=professional.organisation,
            created_by=care.user(Role.MIDWIFE if i % 2 else Role.GYNAECOLOGIST),
            note="RR 120/80" if i % 4 == 0 else "",
        )
    return episode


def test_episode_page_query_count_does_not_grow_with_events(care, as_role):
    small = _episode_with_events(care, 5)
    large = _episode_with_events(care, 60)
    browser = as_role(Role.MIDWIFE)
    browser.get(care.url(f"episodes/{small.pk}/"))  # warm up session and caches
    counted = {}
    for episode in (small, large):
        with CaptureQueriesContext(connection) as queries:
            response = browser.get(care.url(f"episodes/{episode.pk}/"))
        assert response.status_code == 200
        assert (
            len(response.context["timeline"]["prenatal"])
            == CareEvent.unscoped.filter(episode=episode).count()
        )
        counted[episode.pk] = len(queries)
    assert counted[small.pk] == counted[large.pk], counted
