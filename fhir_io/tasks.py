"""The FHIR import job: a thin task over fhir_io.jobs (issue 21)."""

from __future__ import annotations

from celery import shared_task

from fhir_io import jobs
from igo.models import Tenant
from igo.tasks import for_each_active_tenant, tenant_task


@tenant_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=jobs.JOB_SOFT_LIMIT_S,
    time_limit=jobs.JOB_TIME_LIMIT_S,
)
def fhir_import_run(tenant: Tenant, job_id: int) -> str:
    """Import a queued job's Bundle, all or nothing; delivered again it does nothing."""
    return jobs.import_job_run(job_id=job_id)


@tenant_task()
def fhir_import_sweep(tenant: Tenant) -> dict[str, int]:
    """Send again the IGO's import jobs whose message was lost; fail those a day old (fhir_io.jobs)."""
    return jobs.import_jobs_sweep()


@shared_task
def fhir_import_sweep_all() -> int:
    return for_each_active_tenant(fhir_import_sweep)
