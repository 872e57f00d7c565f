"""Quality jobs: recompute what changed every few minutes, and everything of the last two years nightly."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import shared_task

from igo.models import Tenant
from igo.tasks import for_each_active_tenant, tenant_task
from quality import services


@tenant_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=1700, time_limit=1800)
def quality_refresh(tenant: Tenant, full: bool = False) -> dict[str, Any]:
    """Idempotent: a refresh replaces the values of the months it computes."""
    return asdict(services.indicators_refresh(tenant=tenant, full=full))


@shared_task
def quality_sweep() -> int:
    return for_each_active_tenant(quality_refresh, full=False)


@shared_task
def quality_nightly() -> int:
    return for_each_active_tenant(quality_refresh, full=True)
