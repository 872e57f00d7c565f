"""care_events_log_many: many care events at once (the FHIR import's store), with care_event_log's rules.

The world: Anna Jansen 60 days into her pregnancy (tests.scenarios.care), the midwife of De Linde and the
maternity carer of Het Nest. A prenatal check (PRE_CHECK) has a repeat window of 12 hours.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from igo.models import Role
from pregnancies import services
from pregnancies.models import AccessLogEntry, CareEvent, Episode
from tests.scenarios.care import Care
from tests.scenarios.care_logging import ago, counts, in_scope, postnatal
from tests.scenarios.clock import local

pytestmark = [pytest.mark.django_db, pytest.mark.clock(local(2026, 11, 18, 14))]


def item(care: Care, code: str, at, *, role: str = Role.MIDWIFE, hours: str = "1") -> services.NewCareEvent:
    return services.NewCareEvent(
        episode=care.episode,
        event_type=care.type(code),
        occurred_at=at,
        professional=care.professional_of(role),
        quantity=Decimal(hours),
    )


def log_many(care: Care, *items: services.NewCareEvent, **flags: bool):
    return in_scope(
        care, services.care_events_log_many, actor=care.user(Role.MIDWIFE), items=list(items), **flags
    )


def test_events_are_stored_with_their_phase_access_log_and_the_episode_marked_changed(care: Care) -> None:
    before = Episode.unscoped.get(pk=care.episode.pk).changed_at
    logged = log_many(care, item(care, "INTAKE", ago(days=50)), item(care, "PRE_CHECK", ago(days=20)))
    assert [(e.event_type.code, e.phase, w) for e, w in logged] == [
        ("INTAKE", "prenatal", []),
        ("PRE_CHECK", "prenatal", []),
    ]
    assert CareEvent.unscoped.filter(episode=care.episode).count() == 2
    # One access-log entry per event, as care_event_log writes it.
    entries = AccessLogEntry.unscoped.filter(client=care.client, action="create").order_by("pk")
    assert [(a.object_type, a.object_id, a.detail) for a in entries] == [
        ("careevent", str(e.pk), e.event_type.code) for e, _w in logged
    ]
    assert Episode.unscoped.get(pk=care.episode.pk).changed_at != before


def test_one_refused_item_refuses_all_and_names_each_by_its_place(care: Care) -> None:
    """A six-week check (postnatal) and a maternity carer's intake check by the midwife's discipline rules:
    items 1 and 2 are refused for the reasons care_event_log gives; item 0 is not stored either."""
    before = counts(care.tenant)
    with pytest.raises(services.CareEventsRefused) as refused:
        log_many(
            care,
            item(care, "PRE_CHECK", ago(days=20)),
            item(care, "CHECK_6W", ago(days=10)),
            item(care, "PRE_CHECK", ago(days=200)),
        )
    assert set(refused.value.errors) == {1, 2}
    assert "occurred_at" in refused.value.errors[1].message_dict
    assert "intake" in " ".join(refused.value.errors[2].message_dict["occurred_at"])
    assert counts(care.tenant) == before


def test_the_repeat_window_sees_stored_events_and_earlier_items(care: Care) -> None:
    first = log_many(care, item(care, "PRE_CHECK", ago(days=20)))[0][0]
    with pytest.raises(services.CareEventsRefused) as refused:
        log_many(
            care,
            item(care, "PRE_CHECK", ago(days=20) + timedelta(hours=2)),  # 2 h after the stored one
            item(care, "PRE_CHECK", ago(days=10)),
            item(care, "PRE_CHECK", ago(days=10) + timedelta(hours=1)),  # 1 h after item 1
        )
    assert set(refused.value.errors) == {0, 2}
    assert refused.value.errors[0].error_dict["confirm_duplicate"][0].code == services.DUPLICATE_CODE
    # Confirmed, all three are stored.
    assert (
        len(
            log_many(care, item(care, "PRE_CHECK", ago(days=20) + timedelta(hours=2)), confirm_duplicate=True)
        )
        == 1
    )
    assert CareEvent.unscoped.filter(episode=care.episode).exclude(pk=first.pk).count() == 1


def test_kraamzorg_hours_count_the_items_before_them(care: Care) -> None:
    """The 80-hour maximum (at most 12 hours an entry): 6 x 12 = 72 hours in one call, then 4 + 6 in
    another; the second passes 80 (72 + 4 + 6 = 82) and is refused unless confirmed, then stored with the
    warning, as consecutive care_event_log calls would."""
    postnatal(care)
    carer = Role.MATERNITY_CARER
    log_many(care, *[item(care, "KZ_HOURS", ago(days=5, hours=-i), role=carer, hours="12") for i in range(6)])
    more = [
        item(care, "KZ_HOURS", ago(days=2), role=carer, hours="4"),
        item(care, "KZ_HOURS", ago(days=1), role=carer, hours="6"),
    ]
    with pytest.raises(services.CareEventsRefused) as refused:
        log_many(care, *more)
    assert set(refused.value.errors) == {1}
    logged = log_many(care, *more, confirm_over_limit=True)
    assert logged[0][1] == [] and "82" in logged[1][1][0]
