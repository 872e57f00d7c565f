"""Billing jobs: thin tasks that take a tenant id and run the billing service in its scope (igo.tasks)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from billing import services
from billing.models import Contract, PayoutRun
from billing.progress import (
    batch_progress_key,
    payout_progress_key,
    progress_key,
    reprice_job_get,
    reprice_job_update,
)
from billing.services import batches, chunks, payouts, quality_claims, repricing
from igo.models import Tenant, User
from igo.tasks import TenantTask, for_each_active_tenant, tenant_task

# A lost database connection (restart, failover, a terminated backend) gets another try soon instead of
# waiting for the next sweep (or, for batches, for the next month): the tasks are idempotent, and Celery's
# Django fixup closes the broken connection after the task, so the retry opens a new one.
DB_RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "max_retries": 3,
}


@tenant_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=3300, time_limit=3600, **DB_RETRY)
def billing_run(tenant: Tenant) -> dict[str, int]:
    """Roll up and split everything due for one IGO. Safe to repeat, and to run twice at once."""
    key = progress_key(tenant.pk)

    def progress(done: int, total: int) -> None:
        cache.set(key, {"done": done, "total": total, "running": True}, 3600)

    cache.set(key, {"done": 0, "total": 0, "running": True}, 3600)
    try:
        result = services.billing_run(tenant=tenant, progress=progress)
    finally:
        current = cache.get(key) or {}
        cache.set(key, {**current, "running": False}, 3600)
    return asdict(result)


@tenant_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=540, time_limit=600, **DB_RETRY)
def billing_run_spread(tenant: Tenant) -> dict[str, Any]:
    """A run for one IGO spread over the workers: read its candidates once, at one moment, and enqueue a
    `billing_run_chunk` per chunk of them, for any worker process on any host to take. No new run while one
    is still going (its chunks would only find their episodes done). Repeating it is safe: a chunk does
    only what is still due."""
    if chunks.run_in_progress(tenant_id=tenant.pk):
        return {"run": None, "episodes": 0, "chunks": 0}
    plan = chunks.run_plan(tenant=tenant)
    today, now = plan.today.isoformat(), plan.now.isoformat()
    for index, ids in enumerate(plan.chunks):
        billing_run_chunk.delay(tenant.pk, plan.run, index, ids, today, now)
    return {"run": plan.run, "episodes": plan.total, "chunks": len(plan.chunks)}


@tenant_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=540, time_limit=600, **DB_RETRY)
def billing_run_chunk(
    tenant: Tenant, run: str, index: int, episode_ids: list[int], today: str, now: str
) -> dict[str, int]:
    """One chunk of a spread run: bill those of these episodes that are still the run's candidates at its
    `today` and `now` (ISO) and that no other delivery of the chunk holds or did. A redelivered, retried or
    duplicated chunk does no work again. The chunk counts in the IGO's progress once it ends, also when it
    fails for good (the run must end for the page)."""
    try:
        result = chunks.chunk_run(
            tenant=tenant,
            episode_ids=[int(pk) for pk in episode_ids],
            today=date.fromisoformat(today),
            now=datetime.fromisoformat(now),
        )
    except Exception as exc:
        retried = isinstance(exc, (OperationalError, InterfaceError)) and (
            billing_run_chunk.request.retries < DB_RETRY["max_retries"]
        )
        if not retried:
            chunks.chunk_finished(tenant_id=tenant.pk, run=run, index=index, episodes=len(episode_ids))
        raise
    chunks.chunk_finished(tenant_id=tenant.pk, run=run, index=index, episodes=len(episode_ids))
    return asdict(result)


def billing_run_task() -> TenantTask:
    """The task a run of one IGO starts with: spread over chunk tasks (settings.BILLING_SCALE_OUT), else the
    whole run in one task."""
    return billing_run_spread if settings.BILLING_SCALE_OUT else billing_run


@shared_task
def billing_sweep() -> int:
    """Periodic: start a run for every active IGO, so a lost message never loses a claim."""
    return for_each_active_tenant(billing_run_task())


@tenant_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=1700, time_limit=1800, **DB_RETRY)
def batches_create(tenant: Tenant, period: str, user_id: int | None = None) -> list[int]:
    """Make one month's batches for one IGO (one per insurer). Repeating it makes no second batch."""
    actor = User.objects.filter(pk=user_id).first() if user_id else None
    key = batch_progress_key(tenant.pk)
    cache.set(key, {"running": True, "period": period}, 3600)
    report: dict[str, object] | None = None
    try:
        month = date.fromisoformat(period)
        results = batches.batches_create_month(tenant=tenant, period=month, actor=actor)
        report = batches.batches_month_report(period=month, results=results, today=timezone.localdate())
    finally:
        cache.set(key, {"running": False, "period": period, "report": report}, 3600)
    return [r.batch.pk for r in results if r.batch is not None]


@shared_task
def batches_monthly() -> int:
    """Beat, on the 1st: last month's batches for every active IGO, as drafts for finance to release."""
    period = (timezone.localdate().replace(day=1) - timedelta(days=1)).replace(day=1)
    return for_each_active_tenant(batches_create, period=period.isoformat())


@tenant_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=1700, time_limit=1800)
def quality_settle(tenant: Tenant, year: int) -> dict[str, int]:
    """Bonus and malus lines of a year's quality agreements. Safe to repeat."""
    return asdict(quality_claims.quality_settle(tenant=tenant, year=year))


@shared_task
def quality_settle_yearly() -> int:
    """Beat, mid-January: settle last year's quality agreements once the year's births are recorded."""
    return for_each_active_tenant(quality_settle, year=timezone.localdate().year - 1)


# --- payout runs (issue 14: payouts) -------------------------------------------------------------------


@tenant_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=600, time_limit=660, **DB_RETRY)
def payout_run_prepare(
    tenant: Tenant, period: str, user_id: int, today: str, execution_date: str = ""
) -> int | None:
    """Prepare one month's payout run with its SEPA file. `today` is the day the person asked (the ledger's
    states are read as of that day). A refusal (the month has a run, nothing to pay, no IGO account) is
    left in the progress for the page; repeating the task makes no second run."""
    key = payout_progress_key(tenant.pk)
    state: dict[str, Any] = {"running": True, "period": period, "done": 0, "total": payouts.PREPARE_STEPS}

    def progress(done: int, total: int) -> None:
        cache.set(key, {**state, "done": done, "total": total}, 3600)

    cache.set(key, state, 3600)
    actor = User.objects.get(pk=user_id)
    try:
        with translation.override(settings.LANGUAGE_CODE):  # the refusal is shown on a Dutch page
            run = payouts.payout_run_prepare(
                tenant=tenant,
                period=date.fromisoformat(period),
                actor=actor,
                today=date.fromisoformat(today),
                execution_date=date.fromisoformat(execution_date) if execution_date else None,
                progress=progress,
            )
    except ValidationError as exc:
        existing = PayoutRun.objects.filter(period=period).values_list("pk", flat=True).first()
        cache.set(
            key,
            {
                **state,
                "running": False,
                "error": " ".join(exc.messages),
                "run": existing if getattr(exc, "code", None) == "exists" else None,
            },
            3600,
        )
        return None
    except Exception:
        with translation.override(settings.LANGUAGE_CODE):
            error = str(_("Preparing the payout run failed; nothing was stored. Try again."))
        cache.set(key, {**state, "running": False, "error": error}, 3600)
        raise
    cache.set(key, {**state, "running": False, "done": state["total"], "run": run.pk}, 3600)
    return run.pk


# --- retroactive tariff changes (billing.services.repricing) --------------------------------------------


def reprice_arguments(params: dict[str, Any]) -> dict[str, Any]:
    """The service's arguments from the form's values as the job keeps them (strings, JSON)."""
    tariffs: dict[str, tuple[str, Decimal]] = {}
    for phase, (code, amount) in dict(params.get("tariffs") or {}).items():
        tariffs[str(phase)] = (str(code), Decimal(str(amount)))
    until = str(params.get("valid_until") or "")
    return {
        "valid_from": date.fromisoformat(str(params["valid_from"])),
        "valid_until": date.fromisoformat(until) if until else None,
        "name": str(params.get("name") or "") or None,
        "tariffs": tariffs,
        "expected": str(params["expected"]),
    }


@tenant_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=1700, time_limit=1800)
def contract_reprice_job(tenant: Tenant, job: str) -> dict[str, Any] | None:
    """Confirm a retroactive tariff change queued by the page (billing.progress.reprice_job_start): the
    service in one transaction, its result or its refusal (in Dutch: the page shows it) left in the job. A
    job that ended is not done again (a redelivered message), and a refusal stores nothing."""
    found = reprice_job_get(tenant_id=tenant.pk, job=job)
    if found is None or not found.open:
        return None
    reprice_job_update(tenant_id=tenant.pk, job=job, state="running")
    try:
        contract = Contract.objects.get(pk=found.contract_id)
        actor = User.objects.get(pk=found.user_id)
        with translation.override(settings.LANGUAGE_CODE):  # a refusal is shown on a Dutch page
            result = repricing.contract_reprice(
                contract=contract, actor=actor, **reprice_arguments(found.params)
            )
    except ValidationError as exc:
        reprice_job_update(
            tenant_id=tenant.pk,
            job=job,
            state="failed",
            error=" ".join(exc.messages),
            stale=repricing.is_stale(exc),
        )
        return None
    except BaseException:
        with translation.override(settings.LANGUAGE_CODE):
            error = str(_("Confirming the change failed; nothing was stored. Try again."))
        reprice_job_update(tenant_id=tenant.pk, job=job, state="failed", error=error)
        raise
    impact = result.impact
    summary = {
        "contract": result.contract.pk,
        "valid_from": result.contract.valid_from.isoformat(),
        "in_place": result.repriced_in_place,
        "withdrawn": result.withdrawn,
        "credited": result.credited,
        "rebilled": result.rebilled,
        "difference": str(impact.total.difference),
        "rows": [{"phase": p.phase, **p.as_dict()} for p in repricing.impact_rows(impact)],
    }
    reprice_job_update(tenant_id=tenant.pk, job=job, state="done", result=summary)
    return summary
