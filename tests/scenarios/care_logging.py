"""Helpers of the care-logging tests on the `care` world (tests.scenarios.care, the `care` fixture of
tests/conftest.py): moments as the forms take them, care events stored directly (test data, not under
test) or through the service, a delivery and the end of the maternity period, and the access log.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from django.test import Client as HttpClient
from django.utils import timezone

from igo.models import Role, Tenant
from igo.tenancy import tenant_scope
from pregnancies import services
from pregnancies.models import (
    AccessLogEntry,
    Birth,
    CareEvent,
    Client,
    ClientInsurance,
    Episode,
    LineTransfer,
)
from tests.factories import CareEventFactory
from tests.scenarios.care import Care

INVALID_BSN = "123456789"  # fails the eleven-test


def local(day: date, hour: int = 12, minute: int = 0) -> datetime:
    """An aware moment on a local (Europe/Amsterdam) day."""
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def whole_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def form_dt(moment: datetime) -> str:
    """How a datetime-local input submits a moment."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def ago(**delta: float) -> datetime:
    return whole_minute(timezone.now() - timedelta(**delta))


def log(
    care: Care, code: str = "PRE_CHECK", *, at: datetime, role: str = Role.MIDWIFE, **extra: Any
) -> CareEvent:
    """An event stored directly (test data, not under test), with the phase the episode derives."""
    professional = care.professional_of(role)
    fields: dict[str, Any] = {
        "tenant": care.tenant,
        "episode": care.episode,
        "event_type": care.type(code),
        "occurred_at": at,
        "phase": care.episode.phase_at(at),
        "professional": professional,
        "organisation": professional.organisation,
        "created_by": care.user(role),
    }
    return CareEventFactory(**{**fields, **extra})


def in_scope(care: Care, fn: Callable[..., Any], **kwargs: Any) -> Any:
    with tenant_scope(care.tenant):
        return fn(**kwargs)


def log_service(care: Care, code: str, *, at: datetime, role: str = Role.MIDWIFE, **extra: Any) -> Any:
    return in_scope(
        care,
        services.care_event_log,
        actor=care.user(role),
        episode=care.episode,
        event_type=care.type(code),
        occurred_at=at,
        **extra,
    )


def postnatal(care: Care) -> Episode:
    """Labour six days ago, placenta + 2 hours eight hours later: the episode is in its postnatal phase."""
    labour = ago(days=6)
    return care.update_episode(labour_started_at=labour, placenta_plus_2h_at=labour + timedelta(hours=8))


def counts(tenant: Tenant) -> dict[str, int]:
    return {
        model.__name__: model.unscoped.filter(tenant=tenant).count()  # type: ignore[attr-defined]
        for model in (Client, ClientInsurance, Episode, LineTransfer, CareEvent, AccessLogEntry, Birth)
    }


def shown_again(before: dict[str, int]) -> dict[str, int]:
    """The counts after a refused form re-rendered the episode page: nothing stored but the access-log entry
    of that page (it shows the client again, NEN 7513)."""
    return {**before, "AccessLogEntry": before["AccessLogEntry"] + 1}


def access_entries(care: Care, **filters: Any) -> list[AccessLogEntry]:
    return list(AccessLogEntry.unscoped.filter(tenant=care.tenant, **filters).order_by("pk"))


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


def first_line_from_intake(care: Care) -> LineTransfer:
    """As episode_create leaves an episode: first line from the intake (the factory's episode has no
    transfer), so that a delivery knows the line in effect before labour."""
    return LineTransfer.unscoped.create(
        tenant=care.tenant,
        episode=care.episode,
        line="first",
        effective_at=local(care.episode.intake_date, 0),
        reason="At intake",
        created_by=care.user(Role.MIDWIFE),
    )
