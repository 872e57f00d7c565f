"""Quality jobs: recompute what changed every few minutes, and everything of the last two years nightly."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import shared_task

from igo.models import Tenant
from igo.tenancy import tenant_scope
from quality import services


@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=1700, time_limit=1800)
def quality_refresh(tenant_id: int, full: bool = False) -> dict[str, Any]:
    """Idempotent: a refresh replaces the values of the months it computes."""
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant):
        return asdict(services.indicators_refresh(tenant=tenant, full=full))


def _each_tenant(full: bool) -> int:
    ids = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    for tenant_id in ids:
        quality_refresh.delay(tenant_id, full)
    return len(ids)


@shared_task
def quality_sweep() -> int:
    return _each_tenant(full=False)


@shared_task
def quality_nightly() -> int:
    return _each_tenant(full=True)
