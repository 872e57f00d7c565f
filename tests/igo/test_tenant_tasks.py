"""The one mechanism of the tasks that work for one IGO (igo.tasks.tenant_task): the tenant's id in, the job
inside that tenant's scope, the task and the IGO named in the log, and the Celery options each task declares."""

from __future__ import annotations

import logging

import pytest
from django.db import InterfaceError, OperationalError

from billing import tasks as billing_tasks
from igo.tasks import TenantTask
from quality import tasks as quality_tasks

TENANT_TASKS = [
    billing_tasks.billing_run,
    billing_tasks.batches_create,
    billing_tasks.quality_settle,
    quality_tasks.quality_refresh,
]


@pytest.mark.django_db
def test_the_job_runs_in_the_tenants_scope_and_the_log_names_task_and_igo(world_a, caplog):
    with caplog.at_level(logging.INFO, logger="igo.tasks"):
        # The indicator refresh reads tenant-owned rows: outside a scope it would raise TenantScopeError.
        result = quality_tasks.quality_refresh.apply(args=[world_a.tenant.pk]).get()
    assert result["months"] >= 0
    (message,) = [r.getMessage() for r in caplog.records if r.name == "igo.tasks"]
    assert message.startswith("quality.tasks.quality_refresh[")
    assert f"IGO {world_a.tenant.slug} (tenant {world_a.tenant.pk})" in message


def test_the_tasks_keep_their_names_and_options():
    """The fault suite and the deployed beat schedule rely on these (tests/faults, igo/settings.py)."""
    names = [t.name for t in TENANT_TASKS]
    assert names == [
        "billing.tasks.billing_run",
        "billing.tasks.batches_create",
        "billing.tasks.quality_settle",
        "quality.tasks.quality_refresh",
    ]
    for task in TENANT_TASKS:
        assert isinstance(task, TenantTask)
        assert task.acks_late and task.reject_on_worker_lost
    limits = [(t.soft_time_limit, t.time_limit) for t in TENANT_TASKS]
    assert limits == [(3300, 3600), (1700, 1800), (1700, 1800), (1700, 1800)]
    for task in (billing_tasks.billing_run, billing_tasks.batches_create):
        assert task.autoretry_for == (OperationalError, InterfaceError) and task.max_retries == 3


def test_a_message_with_the_wrong_arguments_is_refused_before_it_is_sent():
    with pytest.raises(TypeError):
        billing_tasks.billing_run.delay()
    with pytest.raises(TypeError):
        billing_tasks.quality_settle.delay(1, year=2026, month=1)
