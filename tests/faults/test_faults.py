"""Fault injection with real processes: Celery workers killed with SIGKILL in the middle of a roll-up and of
a batch, the broker restarted with tasks queued, the database backend of a running job terminated, the same
task delivered twice. After each, the sweep completes the work and the books reconcile (billing.reconcile):
every ended phase claimed exactly once, allocations sum to claims, batches total to their lines.

Each test starts its own worker(s) on the test database with the broker, results and cache on a private
redis-server, and stops a worker at a known point inside its transaction by holding a lock it needs from a
second session (tests/faults/harness.py). Run: `scripts/test.sh -m faults` (docs/operations.md).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from billing import reconcile, services
from billing.models import BatchFile, BatchLine, ClaimBatch, ClaimLine, EpisodeBillingState
from igo.models import Tenant
from igo.tenancy import tenant_scope
from pregnancies.models import CareEvent, Client, ClientInsurance, Episode
from tests.factories import valid_bsn
from tests.faults.harness import (
    LockHolder,
    PrivateRedis,
    Worker,
    backends,
    client_app,
    wait_until,
    waiting_backends,
)
from tests.scenarios.billing import Setup, at, build
from tests.scenarios.clock import travel
from tests.scenarios.people import make_world

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

EPISODES = 200  # with IGO_BILLING_BATCH_SIZE=20 in the workers: a run of 10 transactions
LINES_PER_EPISODE = 3
D = Decimal


def bill_at_one_moment(s: Setup) -> dt.date:
    """Bill in the test process with the clock held still, so that every line is made at one moment and
    belongs to one month's batch (a run across midnight at the end of a month would split them between two);
    returns that month, which the worker's batch task is then asked for."""
    moment = timezone.now()
    with travel(moment, tick=False), tenant_scope(s.tenant):
        services.billing_run(tenant=s.tenant)
    return timezone.localtime(moment).date().replace(day=1)


@pytest.fixture(scope="module", autouse=True)
def _needs_services() -> None:
    missing = [] if shutil.which("redis-server") else ["redis-server"]
    if connection.vendor != "postgresql":
        missing.append("PostgreSQL")
    if missing:
        if os.environ.get("IGO_REQUIRE_REAL_SERVICES") == "1":
            pytest.fail(f"the fault-injection tests need {', '.join(missing)}")
        pytest.skip(f"the fault-injection tests need {', '.join(missing)}")


@pytest.fixture(scope="module")
def broker() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start(fresh=True)
    yield server
    server.stop()


@pytest.fixture
def redis_server(broker: PrivateRedis) -> Iterator[PrivateRedis]:
    if broker.proc is None or broker.appendonly:
        broker.stop()
        broker.start(fresh=True)
    broker.client().flushall()
    yield broker
    if broker.proc is None:  # a test stopped it and failed before starting it again
        broker.start(fresh=True)


@pytest.fixture
def workers(redis_server: PrivateRedis) -> Iterator[Any]:
    """Start workers with `workers(name, ...)`; every one is stopped (SIGKILL if need be) after the test,
    before pytest-django empties the database."""
    started: list[Worker] = []

    def start(name: str, **kwargs: Any) -> Worker:
        worker = Worker(f"faults-{name}", redis_server, **kwargs)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def locks() -> Iterator[LockHolder]:
    holder = LockHolder()
    yield holder
    holder.close()


@pytest.fixture
def celery_client(redis_server: PrivateRedis) -> Iterator[Any]:
    app = client_app(redis_server)
    yield app
    app.close()


# --- data: a sample of ordinary trajectories, made with bulk inserts ------------------------------------


def sample(s: Setup, n: int = EPISODES) -> list[int]:
    """`n` completed pregnancies with three claimable phases each, insured with ZK, with VGZ, or with ZK
    until 31 December 2025 and VGZ after (prenatal to ZK, natal and postnatal to VGZ). Returns the episode
    ids in ascending order (the order in which a run takes them)."""
    tenant, midwife = s.tenant, s.midwife
    clients = Client.unscoped.bulk_create(
        Client(
            tenant=tenant,
            family_name=f"Faultsma {i}",
            given_names="Anna Maria",
            date_of_birth=dt.date(1992, 3, 1),
            bsn=valid_bsn(tenant.pk * 10_000 + i),
        )
        for i in range(n)
    )
    episodes, insurances, plans = [], [], []
    for i, client in enumerate(clients):
        kind = i % 3
        intake = dt.date(2025, 6, 16) if kind == 2 else dt.date(2026, 2, 2) + dt.timedelta(days=i % 28)
        labour = at(2026, 1, 3, 8) if kind == 2 else at(*(intake + dt.timedelta(days=190)).timetuple()[:3], 8)
        postnatal_end = (labour + dt.timedelta(days=42)).date()
        episodes.append(
            Episode(
                tenant=tenant,
                client=client,
                intake_date=intake,
                due_date=intake + dt.timedelta(days=196),
                gestational_age_at_intake=84,
                status="ended",
                end_date=postnatal_end,
                end_reason="completed",
                labour_started_at=labour,
                placenta_plus_2h_at=labour + dt.timedelta(hours=7),
                postnatal_ended_on=postnatal_end,
            )
        )
        if kind == 2:
            insurances.append((client, s.zk, dt.date(2024, 1, 1), dt.date(2025, 12, 31)))
            insurances.append((client, s.vgz, dt.date(2026, 1, 1), None))
        else:
            insurances.append((client, s.zk if kind == 0 else s.vgz, dt.date(2024, 1, 1), None))
        plans.append((intake, labour))
    episodes = Episode.unscoped.bulk_create(episodes)
    ClientInsurance.unscoped.bulk_create(
        ClientInsurance(
            tenant=tenant, client=c, insurer=ins, policy_number=f"P{c.pk}", valid_from=start, valid_until=end
        )
        for c, ins, start, end in insurances
    )
    events = []
    for ep, (intake, labour) in zip(episodes, plans, strict=True):
        first = at(*intake.timetuple()[:3], 10)
        for code, org, moment, quantity in (
            ("PRE_CHECK", s.practice, first + dt.timedelta(days=7), "1"),
            ("PRE_CHECK", s.practice, first + dt.timedelta(days=35), "1"),
            ("ECHO_SEO", s.hospital, first + dt.timedelta(days=60), "1"),
            ("KZ_HOURS", s.kraam, labour + dt.timedelta(days=1), "49"),
            ("POST_VISIT", s.practice, labour + dt.timedelta(days=2), "1"),
        ):
            et = s.types[code]
            events.append(
                CareEvent(
                    tenant=tenant,
                    episode=ep,
                    event_type=et,
                    phase=et.phase,
                    professional=s.pros[org.pk],
                    organisation=org,
                    occurred_at=moment,
                    quantity=D(quantity),
                    created_by=midwife,
                )
            )
    CareEvent.unscoped.bulk_create(events)
    return sorted(e.pk for e in episodes)


def igo(name: str, n: int = EPISODES) -> tuple[Setup, list[int]]:
    s = build(make_world(name))
    return s, sample(s, n)


def plant_stop(episode_id: int, tenant: Tenant) -> EpisodeBillingState:
    """A billing state older than the episode's last change: the episode stays a candidate, and the run
    updates this row at the end of the transaction that holds the episode. A lock held on it stops that
    transaction there, after the earlier ones committed."""
    return EpisodeBillingState.unscoped.create(
        tenant=tenant, episode_id=episode_id, checked_at=timezone.now() - dt.timedelta(days=400)
    )


def committed(tenant: Tenant, since: dt.datetime) -> int:
    """Episodes whose roll-up transaction committed since `since`."""
    return EpisodeBillingState.unscoped.filter(tenant=tenant, checked_at__gte=since).count()


def books_ok(*tenants: Tenant, episodes: int = EPISODES) -> reconcile.BooksReport:
    """The books of each IGO reconcile, with every episode checked and every ended phase claimed once."""
    report = reconcile.BooksReport()
    for tenant in tenants:
        report = reconcile.books_check(tenant=tenant)
        assert report.ok, reconcile.problem_lines(report)
        assert report.pending_episodes == 0
        assert report.ended_phases == report.claimed_phases == episodes * LINES_PER_EPISODE
        assert report.allocated_lines == report.lines
        current = ClaimLine.unscoped.filter(tenant=tenant, is_current=True, sign="debit")
        assert current.count() == episodes * LINES_PER_EPISODE
    return report


def sweep(client: Any, worker: Worker, tenants: int) -> None:
    """What beat does every 15 minutes: billing_sweep, which starts a run per active IGO, spread over chunk
    tasks (issue 18): wait for each run's plan, then for every chunk the plans enqueued."""
    plans = r"billing_run_spread\[[^\]]+\] succeeded in [^:]+: \{[^}]*'chunks': (\d+)"
    runs = len(re.findall(plans, worker.log()))
    chunks_done = worker.count(r"billing_run_chunk\[[^\]]+\] succeeded")
    client.send_task("billing.tasks.billing_sweep").get(timeout=60)
    worker.wait_for(r"billing_run_spread\[[^\]]+\] succeeded", runs + tenants)
    planned = sum(int(n) for n in re.findall(plans, worker.log())[runs:])
    worker.wait_for(r"billing_run_chunk\[[^\]]+\] succeeded", chunks_done + planned)


def report_line(**figures: Any) -> None:
    """Figures for the record (pytest -s, or -rP): what the scenario saw."""
    print("FAULTS", " ".join(f"{k}={v}" for k, v in figures.items()))


# --- a. SIGKILL in the middle of a roll-up ----------------------------------------------------------------


@pytest.mark.parametrize("victim", ["pool_process", "whole_worker"])
def test_sigkill_in_the_middle_of_a_rollup(victim, workers, locks, celery_client, redis_server):
    s, ids = igo("Kill")
    stop = plant_stop(ids[105], s.tenant)  # in the 6th transaction of 10
    locks.lock_row("billing_episodebillingstate", stop.pk)
    worker = workers("a", concurrency=1)
    started = timezone.now()
    task_id = str(uuid.uuid4())
    celery_client.send_task("billing.tasks.billing_run", args=[s.tenant.pk], task_id=task_id)
    waiting_backends("faults-a")
    done_before = committed(s.tenant, started)
    lines_before = ClaimLine.unscoped.filter(tenant=s.tenant).count()
    assert done_before == 100 and lines_before == 100 * LINES_PER_EPISODE  # five transactions committed
    if victim == "pool_process":
        worker.kill_children()
    else:
        worker.kill()
    killed_at = time.monotonic()
    locks.release()  # the dead worker's backend gets the lock, finds its client gone and rolls back
    if victim == "pool_process":
        # acks_late + reject_on_worker_lost: the message goes back to the queue and the new pool process
        # runs it again at once; it does what is left.
        worker.wait_for(rf"billing_run\[{task_id}\] received", 2)
        result = celery_client.AsyncResult(task_id).get(timeout=90)
        redelivered = True
    else:
        # Nobody acknowledged the message and nobody rejected it: Redis keeps it as unacknowledged until the
        # visibility timeout (2 h in production, when the sweep has long done the work). Here a new worker
        # with a timeout of 5 s shows that it does come back.
        assert redis_server.unacked() == 1 and redis_server.queued() == 0
        # kombu restores expired messages when a worker starts polling and after that only every ~100 s
        # (unacked_restore_interval x throttle): start the new worker once the message is older than 5 s.
        time.sleep(max(0.0, 6.0 - (time.monotonic() - killed_at)))
        worker = workers("a2", concurrency=1, env={"CELERY_VISIBILITY_TIMEOUT": "5"})
        worker.wait_for(rf"billing_run\[{task_id}\] received", 1)
        result = celery_client.AsyncResult(task_id).get(timeout=90)
        redelivered = True
    done_after_kill = committed(s.tenant, started)
    sweep(celery_client, worker, tenants=Tenant.objects.filter(is_active=True).count())
    report = books_ok(s.tenant)
    report_line(
        scenario=f"a/{victim}",
        committed_before_kill=done_before,
        lines_before=lines_before,
        redelivered=redelivered,
        rerun_result=result,
        committed_before_sweep=done_after_kill,
        lines_after=report.lines,
        unacked_left=redis_server.unacked(),
    )
    assert report.lines == EPISODES * LINES_PER_EPISODE  # nothing withdrawn, credited or doubled


# --- b. SIGKILL in the middle of making a batch ----------------------------------------------------------


def test_sigkill_in_the_middle_of_a_batch(workers, locks, celery_client):
    s, _ids = igo("Batch")
    period = bill_at_one_moment(s)
    lines = ClaimLine.unscoped.filter(tenant=s.tenant).count()
    # The worker writes the batch row, its lines and its PDF, then meets this lock writing the files.
    locks.lock_table("billing_batchfile", "SHARE")
    worker = workers("b", concurrency=1)
    task_id = str(uuid.uuid4())
    celery_client.send_task(
        "billing.tasks.batches_create", args=[s.tenant.pk, period.isoformat()], task_id=task_id
    )
    (inside,) = waiting_backends("faults-b")
    assert "billing_batchfile" in inside["query"]
    assert not ClaimBatch.unscoped.exists() and not BatchLine.unscoped.exists()  # not committed: not there
    worker.kill_children()
    # Redelivered at once; the new attempt waits for the tenant row the dead one still holds (or the files).
    worker.wait_for(rf"batches_create\[{task_id}\] received", 2)
    wait_until(
        "the dead attempt's backend and the new one both wait", lambda: len(waiting_backends("faults-b", 2))
    )
    assert (
        not ClaimBatch.unscoped.exists()
        and not BatchFile.unscoped.exists()
        and not BatchLine.unscoped.exists()
    )
    locks.release()
    batch_ids = celery_client.AsyncResult(task_id).get(timeout=90)
    assert len(batch_ids) == 2
    again = celery_client.send_task("billing.tasks.batches_create", args=[s.tenant.pk, period.isoformat()])
    assert again.get(timeout=60) == []  # asked again (beat and a person): nothing left, no second batch
    made = ClaimBatch.unscoped.filter(tenant=s.tenant)
    assert made.count() == 2 and sorted(made.values_list("insurer__uzovi_code", flat=True)) == [
        "3311",
        "7095",
    ]
    assert BatchLine.unscoped.filter(batch__in=made).count() == lines  # each line in exactly one batch
    assert BatchFile.unscoped.filter(batch__in=made).count() == 6
    report = books_ok(s.tenant)
    assert report.batch_lines == lines
    report_line(
        scenario="b",
        lines=lines,
        batches=sorted(made.values_list("number", "line_count", "total")),
        redelivered=True,
    )


# --- c. Redis restarted while tasks are queued -------------------------------------------------------------


@pytest.mark.parametrize("appendonly", [False, True], ids=["no_persistence", "appendonly"])
def test_redis_restart_with_tasks_queued(appendonly, workers, locks, celery_client, redis_server):
    if appendonly:
        redis_server.stop()
        redis_server.start(appendonly=True, fresh=True)
    igos = [igo(f"Redis{i}", 40) for i in range(3)]
    busy, queued = igos[0], igos[1:]
    stop = plant_stop(busy[1][5], busy[0].tenant)
    locks.lock_row("billing_episodebillingstate", stop.pk)
    worker = workers("c", concurrency=1)
    for setup, _ids in igos:  # the first keeps the worker busy; prefetch 1 leaves the others in Redis
        celery_client.send_task("billing.tasks.billing_run", args=[setup.tenant.pk])
    waiting_backends("faults-c")
    wait_until("two runs wait in the queue", lambda: redis_server.queued() == 2)
    redis_server.restart()
    kept = redis_server.queued()
    assert kept == (2 if appendonly else 0)
    locks.release()
    worker.wait_for(r"Connected to redis://", 2)  # the worker reconnected (broker_connection_retry)
    worker.wait_for(r"billing_run\[[^\]]+\] succeeded", 1 + kept)
    billed = [ClaimLine.unscoped.filter(tenant=st.tenant).count() for st, _ids in queued]
    assert billed == ([40 * LINES_PER_EPISODE] * 2 if appendonly else [0, 0])  # lost without persistence
    sweep(celery_client, worker, tenants=Tenant.objects.filter(is_active=True).count())
    for setup, _ids in igos:
        books_ok(setup.tenant, episodes=40)
    report_line(
        scenario=f"c/{'appendonly' if appendonly else 'no_persistence'}",
        queued_kept=kept,
        lines_before_sweep=billed,
    )


# --- d. the PostgreSQL backend of a running job terminated ------------------------------------------------


def test_backend_terminated_in_the_middle_of_a_rollup(workers, locks, celery_client):
    s, ids = igo("Terminate")
    stop = plant_stop(ids[105], s.tenant)
    locks.lock_row("billing_episodebillingstate", stop.pk)
    worker = workers("d", concurrency=1)
    (child,) = worker.children()
    started = timezone.now()
    task_id = str(uuid.uuid4())
    celery_client.send_task("billing.tasks.billing_run", args=[s.tenant.pk], task_id=task_id)
    (victim,) = waiting_backends("faults-d")
    done_before = committed(s.tenant, started)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [victim["pid"]])
        assert cursor.fetchone()[0] is True
    locks.release()
    # autoretry_for OperationalError: the same pool process tries again on a new connection and finishes.
    worker.wait_for(rf"billing_run\[{task_id}\] retry", 1)
    result = celery_client.AsyncResult(task_id).get(timeout=90)
    assert worker.children() == [child]  # no process was replaced
    info = celery_client.send_task("igo.tasks.worker_info").get(timeout=60)
    assert (info["db"], info["pid"]) == (connection.settings_dict["NAME"], child)
    assert victim["pid"] not in [b["pid"] for b in backends("faults-d")]
    sweep(celery_client, worker, tenants=Tenant.objects.filter(is_active=True).count())
    report = books_ok(s.tenant)
    report_line(
        scenario="d",
        committed_before=done_before,
        retried=True,
        retry_result=result,
        lines_after=report.lines,
    )


# --- e. the same task delivered twice ----------------------------------------------------------------------


def test_the_same_billing_run_delivered_twice_at_once(workers, locks, celery_client):
    s, ids = igo("Twice")
    stop = plant_stop(ids[5], s.tenant)  # the first transaction of one delivery waits here
    locks.lock_row("billing_episodebillingstate", stop.pk)
    worker = workers("e", concurrency=2)
    task_id = str(uuid.uuid4())
    for _ in range(2):
        celery_client.send_task("billing.tasks.billing_run", args=[s.tenant.pk], task_id=task_id)
    worker.wait_for(rf"billing_run\[{task_id}\] received", 2)
    # One delivery holds the first 20 episodes and waits; the other skips them (SKIP LOCKED) and does the rest.
    worker.wait_for(rf"billing_run\[{task_id}\] succeeded", 1)
    assert (
        len(waiting_backends("faults-e")) == 1
    )  # the first is still inside its transaction: both ran at once
    first = ClaimLine.unscoped.filter(tenant=s.tenant).count()
    locks.release()
    worker.wait_for(rf"billing_run\[{task_id}\] succeeded", 2)
    report = books_ok(s.tenant)
    assert report.lines == EPISODES * LINES_PER_EPISODE
    report_line(scenario="e/billing_run", lines_after_first=first, lines_after_both=report.lines)


def test_the_same_batch_task_delivered_twice_at_once(workers, locks, celery_client):
    s, _ids = igo("TwiceBatch")
    period = bill_at_one_moment(s)
    lines = ClaimLine.unscoped.filter(tenant=s.tenant).count()
    locks.lock_table("billing_batchfile", "SHARE")
    worker = workers("e2", concurrency=2)
    task_id = str(uuid.uuid4())
    for _ in range(2):
        celery_client.send_task(
            "billing.tasks.batches_create", args=[s.tenant.pk, period.isoformat()], task_id=task_id
        )
    # Both inside a transaction at once: one writes the first batch, the other waits for the tenant row.
    waiting_backends("faults-e2", 2)
    locks.release()
    worker.wait_for(rf"batches_create\[{task_id}\] succeeded", 2)
    made = ClaimBatch.unscoped.filter(tenant=s.tenant)
    assert made.count() == 2  # one per insurer and month
    assert BatchLine.unscoped.filter(batch__in=made).count() == lines
    report = books_ok(s.tenant)
    report_line(scenario="e/batches_create", batches=report.batches, batch_lines=report.batch_lines)
