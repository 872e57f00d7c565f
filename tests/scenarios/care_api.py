"""The smaller world of the care API's tests: a tenant with its catalogue, a practice, the midwife's and
maternity carer's professionals and one client in care (parts of tests.scenarios.care), request bodies
and the access log entries of a user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from igo.models import Insurer, Role
from pregnancies.catalogue import catalogue_seed
from pregnancies.models import CareEvent, Client, Episode, EventType
from providers.models import Professional
from tests.factories import CareEventFactory, MemberOrganisationFactory, valid_bsn
from tests.scenarios.care import client_in_care, midwife_and_carer
from tests.scenarios.people import TenantWorld


def base(world: TenantWorld) -> str:
    return f"/api/t/{world.tenant.slug}/"


@dataclass
class Care:
    """A tenant ready for care logging: catalogue, a practice, linked professionals and one episode."""

    world: TenantWorld
    midwife: Professional
    carer: Professional
    insurer: Insurer
    client: Client
    episode: Episode

    @property
    def url(self) -> str:
        return base(self.world)

    def event_type(self, code: str) -> EventType:
        return EventType.unscoped.get(tenant=self.world.tenant, code=code)


def make_care(world: TenantWorld, insurer: Insurer) -> Care:
    tenant = world.tenant
    catalogue_seed(tenant=tenant)
    practice = MemberOrganisationFactory(tenant=tenant)
    kraamzorg = MemberOrganisationFactory(tenant=tenant, kind="kraamzorg")
    midwife, carer = midwife_and_carer(world, practice=practice, kraamzorg=kraamzorg)
    client, episode = client_in_care(world, insurer)
    return Care(world, midwife, carer, insurer, client, episode)


def log_event(care: Care, code: str = "PRE_CHECK", **extra: Any) -> CareEvent:
    """An event logged by the midwife, directly in the database (fixtures, not under test)."""
    defaults: dict[str, Any] = {
        "tenant": care.world.tenant,
        "episode": care.episode,
        "event_type": care.event_type(code),
        "occurred_at": timezone.now() - timedelta(days=2),
        "phase": "prenatal",
        "professional": care.midwife,
        "organisation": care.midwife.organisation,
        "created_by": care.world.user(Role.MIDWIFE),
    }
    return CareEventFactory(**{**defaults, **extra})


def event_body(**extra: Any) -> dict[str, Any]:
    return {
        "event_type": "PRE_CHECK",
        "occurred_at": (timezone.now() - timedelta(hours=3)).isoformat(),
        "quantity": "1",
        "location": "Praktijk",
        "note": "RR 120/80, groei conform.",
        **extra,
    }


def intake_body(insurer: Insurer, **extra: Any) -> dict[str, Any]:
    intake = timezone.localdate() - timedelta(days=3)
    return {
        "given_names": "Fatima",
        "family_name": "El Amrani",
        "date_of_birth": "1995-03-02",
        "bsn": valid_bsn(9001),
        "postcode": "3511 ab",
        "insurer": insurer.uzovi_code,
        "policy_number": "123456789",
        "intake_date": intake.isoformat(),
        "due_date": (intake + timedelta(days=280 - 70)).isoformat(),
        "parity": 1,
        **extra,
    }
