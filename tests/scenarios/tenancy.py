"""The tenant URLs and the billing objects their parameters name, as the isolation and role tests use them.

The objects are of the factories' episode (intake 1 June 2026, care on 1 July 2026): a test that makes a
batch of them sets the clock to BILLING_NOW (`pytest.mark.clock`): after 28 November 2027 the claim line's
submission deadline (12 months after its care, which ends 180 days after the intake) has passed, and the batch
would hold the line back.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from billing.models import Allocation, ClaimBatch, ClaimLine, ContractTariff
from billing.services import contract_create
from billing.services.batches import batch_create
from igo.dates import month_start
from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies.models import Episode
from providers.models import MemberOrganisation
from tests.factories import InsurerFactory
from tests.scenarios.people import TenantWorld


def tenant_url_patterns() -> list[tuple[str, list[str]]]:
    """Every named URL whose route takes a tenant slug, with its other parameters."""
    found: list[tuple[str, list[str]]] = []

    def walk(patterns: list[URLPattern | URLResolver], prefix_params: list[str]) -> None:
        for p in patterns:
            params = prefix_params + list(p.pattern.converters.keys())
            if isinstance(p, URLResolver):
                walk(p.url_patterns, params)
            elif isinstance(p, URLPattern) and p.name and "tenant_slug" in params:
                found.append((p.name, [x for x in params if x != "tenant_slug"]))

    walk(get_resolver().url_patterns, [])
    return found


TENANT_URLS = tenant_url_patterns()


def billing_objects(world: TenantWorld, *, episode: Episode, organisation: MemberOrganisation) -> ClaimLine:
    """A contract (through the service) and one claim line of `episode` with one allocation, booked now."""
    insurer = InsurerFactory(uzovi_code="3311", name="Zilveren Kruis")
    with tenant_scope(world.tenant):
        contract = contract_create(
            tenant=world.tenant,
            actor=world.user(Role.IGO_FINANCE),
            insurer=insurer,
            name=f"Contract {world.tenant.slug}",
            valid_from=dt.date(2026, 1, 1),
            tariffs={"prenatal": ("IGBPRE", Decimal("1000.00"))},
        )
        tariff = ContractTariff.objects.get(contract=contract)
    line = ClaimLine.unscoped.create(
        tenant=world.tenant,
        episode=episode,
        phase="prenatal",
        number=f"{episode.pk}-PRE-D1",
        prestatie_code="IGBPRE",
        contract=contract,
        tariff=tariff,
        insurer=insurer,
        policy_number="1",
        service_start=episode.intake_date,
        service_end=episode.intake_date + dt.timedelta(days=180),
        amount=Decimal("1000.00"),
    )
    Allocation.unscoped.create(
        tenant=world.tenant, claim_line=line, kind="member", organisation=organisation, amount=line.amount
    )
    return line


def booked_in(line: ClaimLine) -> dt.date:
    """The month (its first day, on the Amsterdam calendar) the line was booked in."""
    return month_start(timezone.localtime(line.created_at).date())


def batch_objects(world: TenantWorld, *, line: ClaimLine) -> ClaimBatch:
    """A draft batch (through the service) holding `line`, for the month the line was booked in, made today
    (the clock's date: BILLING_NOW for the factories' episode, see the module's docstring)."""
    with tenant_scope(world.tenant):
        result = batch_create(
            tenant=world.tenant,
            insurer=line.insurer,
            period=booked_in(line),
            actor=world.user(Role.IGO_FINANCE),
        )
    assert result.batch is not None and result.batch.line_count == 1, (result, timezone.localdate())
    return result.batch
