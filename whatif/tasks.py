"""The what-if job: a thin task that computes one simulation in its IGO's scope (whatif.services)."""

from __future__ import annotations

from igo.models import Tenant
from igo.tasks import tenant_task
from whatif import services


@tenant_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=540, time_limit=600)
def whatif_run(tenant: Tenant, simulation_id: int) -> str:
    """Compute a queued simulation; it writes only the simulation's own row. Safe to repeat."""
    return services.simulation_run(simulation_id=simulation_id).status
