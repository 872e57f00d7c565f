"""The worlds of the finance screens. `Fin`: IGO finance's worked example (the `fin` fixture of
tests/billing/conftest.py) and `full_trajectory`, an episode to bill in it. For the batch screens: the
month, amounts as the Dutch screens show them, a POST that follows its redirect, and the month's
batches made through the service.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.messages import constants as message_level
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing import services
from billing.models import BatchLine, ClaimBatch, ClaimLine, Contract, ReturnStatus
from billing.services import batches as batch_services
from billing.services import returns
from igo.models import Insurer, User
from igo.tenancy import tenant_scope
from pregnancies.models import ClientInsurance, Episode, EventType
from providers.models import MemberOrganisation
from tests.factories import CareEventFactory, EpisodeFactory, ProfessionalFactory
from tests.scenarios.billing import Setup, at
from tests.scenarios.people import TenantWorld

NOTE = "Vertrouwelijke notitie: bloeddruk 150/95"


@dataclass
class Fin:
    world: TenantWorld
    finance: User
    admin: User
    zk: Insurer
    practice: MemberOrganisation
    hospital: MemberOrganisation
    kraam: MemberOrganisation
    types: dict[str, EventType]
    contract: Contract

    @property
    def tenant(self) -> Any:
        return self.world.tenant

    def url(self, name: str, **kwargs: Any) -> str:
        return reverse(name, kwargs={"tenant_slug": self.tenant.slug, **kwargs})

    def api(self, path: str = "") -> str:
        return f"/api/t/{self.tenant.slug}/{path}"

    def run(self, today: dt.date = dt.date(2026, 11, 1)) -> services.RunResult:
        with tenant_scope(self.tenant):
            return services.billing_run(tenant=self.tenant, today=today)

    def insure(self, episode: Episode, insurer: Insurer | None = None) -> None:
        ClientInsurance.unscoped.create(
            tenant=self.tenant,
            client=episode.client,
            insurer=insurer or self.zk,
            policy_number="123456",
            valid_from=dt.date(2025, 1, 1),
        )


def full_trajectory(fin: Fin) -> Episode:
    """Ten prenatal checks by the practice, 49 kraamzorg hours and one postnatal visit (as in
    tests/billing/test_rollup.py, test_full_trajectory_to_the_cent)."""
    ep = EpisodeFactory(
        tenant=fin.tenant,
        intake_date=dt.date(2026, 2, 1),
        due_date=dt.date(2026, 9, 1),
        gestational_age_at_intake=70,
        labour_started_at=at(2026, 8, 30, 8),
        placenta_plus_2h_at=at(2026, 8, 30, 16),
        postnatal_ended_on=dt.date(2026, 10, 10),
    )
    fin.insure(ep)
    mw = ProfessionalFactory(tenant=fin.tenant, organisation=fin.practice)
    kz = ProfessionalFactory(
        tenant=fin.tenant, organisation=fin.kraam, discipline="maternity_carer", big_number=""
    )
    for i in range(10):
        CareEventFactory(
            tenant=fin.tenant,
            episode=ep,
            event_type=fin.types["PRE_CHECK"],
            professional=mw,
            occurred_at=at(2026, 3, 1) + dt.timedelta(weeks=i),
            note=NOTE,
        )
    CareEventFactory(
        tenant=fin.tenant,
        episode=ep,
        event_type=fin.types["KZ_HOURS"],
        professional=kz,
        phase="postnatal",
        occurred_at=at(2026, 8, 31),
        quantity=Decimal("49"),
        note=NOTE,
    )
    CareEventFactory(
        tenant=fin.tenant,
        episode=ep,
        event_type=fin.types["POST_VISIT"],
        professional=mw,
        phase="postnatal",
        occurred_at=at(2026, 9, 1),
        note=NOTE,
    )
    return ep


def this_month() -> dt.date:
    return timezone.localdate().replace(day=1)


def euro(amount: Decimal) -> str:
    """An amount as the Dutch screens show it (tags and non-breaking spaces stripped by `row`)."""
    text = f"{amount:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return f"€ {text}"


def url(s: Setup, name: str, **kwargs: Any) -> str:
    return reverse(name, kwargs={"tenant_slug": s.tenant.slug, **kwargs})


def act(client: Client, path: str, data: dict[str, str] | None = None) -> tuple[str, list[int]]:
    """POST, follow the redirect, and return where it led and the levels of the messages shown there
    (showing them uses them up, so the next action starts clean)."""
    response = client.post(path, data or {}, follow=True)
    assert response.status_code == 200 and len(response.redirect_chain) == 1, response.redirect_chain
    return response.redirect_chain[0][0], [m.level for m in response.context["messages"]]


OK, ERROR = [message_level.SUCCESS], [message_level.ERROR]


def make_batches(s: Setup) -> dict[str, ClaimBatch]:
    """This month's batches through the service, by UZOVI code."""
    with tenant_scope(s.tenant):
        results = batch_services.batches_create_month(tenant=s.tenant, period=this_month(), actor=s.admin)
    assert all(r.created for r in results)
    return {r.batch.insurer.uzovi_code: r.batch for r in results if r.batch is not None}


def reject_first_line(s: Setup, batch: ClaimBatch, user: Any) -> ClaimLine:
    """Release the batch and record the insurer's answer: line 1 rejected (BSN unknown), others accepted."""
    with tenant_scope(s.tenant):
        batch_services.batch_release(batch=batch, actor=user)
    rows = list(BatchLine.unscoped.filter(batch=batch).order_by("line_no"))
    entries = [
        returns.ReturnEntry(rows[0].number, ReturnStatus.REJECTED, "0101", "BSN onbekend"),
        *[returns.ReturnEntry(r.number, ReturnStatus.ACCEPTED) for r in rows[1:]],
    ]
    returns.batch_return_record(batch=batch, entries=entries, user=user)
    return ClaimLine.unscoped.get(pk=rows[0].claim_line_id)
