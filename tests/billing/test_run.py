"""The billing run is safe to repeat: twice gives the same lines, two at once on PostgreSQL make no
duplicates, an interrupted run is completed by the next; and the Celery tasks on a real worker, which
run at the worker's own clock (their portfolio ended long before any date they may run at).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection, connections
from django.db.models import Sum

from billing import services
from billing import tasks as billing_tasks
from billing.models import Allocation, ClaimLine, Contract, WorkItem
from billing.progress import run_progress
from igo.models import Tenant
from igo.tenancy import tenant_scope
from tests.scenarios.billing import (
    BILLING_NOW,
    PORTFOLIO_LINES,
    PORTFOLIO_TOTAL,
    TODAY,
    assert_books_balance,
    build,
    portfolio,
    run,
    snapshot,
    touch,
)

pytestmark = pytest.mark.clock(BILLING_NOW)


def test_running_twice_gives_identical_lines_and_allocations(s):
    episodes = portfolio(s)
    first = run(s)
    assert (first.episodes, first.lines_created) == (5, PORTFOLIO_LINES)
    lines, allocations = snapshot(s.tenant)
    assert sum(x[4] for x in lines) == PORTFOLIO_TOTAL
    touch(*episodes)  # force a full recompute, not just an empty second run
    second = run(s)
    assert (second.episodes, second.lines_created, second.lines_replaced, second.lines_allocated) == (
        5,
        0,
        0,
        0,
    )
    assert snapshot(s.tenant) == (lines, allocations)
    assert {(e, p, sg, a) for _, e, p, sg, a, *_ in lines} == {
        (line.episode_id, line.phase, line.sign, line.amount) for line in ClaimLine.unscoped.all()
    }
    assert_books_balance(s.tenant)


def _totals(tenant: Tenant) -> tuple[Counter[tuple[Any, ...]], dict[tuple[str, str], Decimal]]:
    lines = Counter(
        ClaimLine.unscoped.filter(tenant=tenant).values_list(
            "phase", "sign", "amount", "status", "is_current"
        )
    )
    by_org = {
        (row["kind"], row["organisation__name"] or ""): row["total"]
        for row in Allocation.unscoped.filter(tenant=tenant)
        .values("kind", "organisation__name")
        .annotate(total=Sum("amount"))
    }
    return lines, by_org


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_the_same_time_on_postgresql(world_a, world_b, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent row locking (select_for_update skip_locked) needs PostgreSQL")
    concurrent, reference = build(world_a), build(world_b)
    copies = 4
    for _ in range(copies):
        portfolio(concurrent)
        portfolio(reference)
    run(reference)  # the single run to compare with
    monkeypatch.setattr(services.run, "BATCH_SIZE", 3)  # many small batches, so the two runs interleave
    barrier = threading.Barrier(2)
    results: list[services.RunResult] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with tenant_scope(concurrent.tenant):
                barrier.wait(timeout=30)
                results.append(services.billing_run(tenant=concurrent.tenant, today=TODAY))
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(results) == 2 and sum(r.lines_created for r in results) == copies * PORTFOLIO_LINES
    assert sum(r.episodes for r in results) >= copies * 5  # every episode checked (at least) once
    assert_books_balance(concurrent.tenant)
    assert ClaimLine.unscoped.filter(tenant=concurrent.tenant).count() == copies * PORTFOLIO_LINES
    assert (
        ClaimLine.unscoped.filter(tenant=concurrent.tenant).aggregate(t=Sum("amount"))["t"]
        == copies * PORTFOLIO_TOTAL
    )
    assert _totals(concurrent.tenant) == _totals(reference.tenant)
    assert not WorkItem.unscoped.filter(tenant=concurrent.tenant).exists()


def test_a_run_interrupted_in_the_middle_is_completed_by_the_next_run(s, monkeypatch):
    episodes = portfolio(s)
    monkeypatch.setattr(services.run, "BATCH_SIZE", 2)
    real_split = services.split_lines
    calls = {"n": 0}

    def failing_split(**kwargs: Any) -> services.SplitResult:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker lost in the second batch")
        return real_split(**kwargs)

    monkeypatch.setattr(services.run, "split_lines", failing_split)
    with pytest.raises(RuntimeError, match="second batch"):
        run(s)
    # The first batch (the two lowest episode ids) is committed, the second rolled back entirely.
    billed = set(ClaimLine.unscoped.values_list("episode_id", flat=True))
    assert billed == {episodes[0].pk, episodes[1].pk}
    assert_books_balance(s.tenant)
    monkeypatch.setattr(services.run, "split_lines", real_split)
    result = run(s)
    assert result.episodes == 3  # the three not yet checked
    assert_books_balance(s.tenant)
    ended = {
        (e.pk, p)
        for e in episodes
        for p in services.PHASES
        if p in {b.phase for b in services.ended_phases(e) if b.end <= TODAY}
    }
    current_debits = list(
        ClaimLine.unscoped.filter(is_current=True, sign="debit").values_list("episode_id", "phase")
    )
    assert sorted(current_debits) == sorted(ended) and len(ended) == PORTFOLIO_LINES
    assert ClaimLine.unscoped.count() == PORTFOLIO_LINES  # nothing withdrawn, credited or duplicated
    assert Allocation.unscoped.aggregate(t=Sum("amount"))["t"] == PORTFOLIO_TOTAL
    assert not ClaimLine.unscoped.filter(allocations__isnull=True).exists()


def _wait_until_runs_finished(tenant_ids: list[int], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [run_progress(tenant_id=t) for t in tenant_ids]
        if all(st_.known and not st_.running for st_ in states):
            return
        time.sleep(0.2)
    pytest.fail(f"billing runs still going after {timeout} s")


def _deadline_out_of_reach(s) -> None:
    """The worker bills at its own clock, which the dated passes move years ahead of the portfolio's
    care: put the submission deadline out of its reach, so that these tests see every phase billed."""
    Contract.unscoped.filter(tenant=s.tenant).update(submission_months=1200)


@pytest.mark.real_worker
@pytest.mark.dated  # the worker bills at its own clock, moved in the dated passes
@pytest.mark.django_db(transaction=True)
def test_worker_billing_run_creates_the_lines(s, needs_worker):
    _deadline_out_of_reach(s)
    portfolio(s)
    portfolio(s)
    result = billing_tasks.billing_run.delay(s.tenant.pk).get(timeout=60)
    assert (result["episodes"], result["lines_created"], result["lines_allocated"]) == (10, 16, 16)
    assert ClaimLine.unscoped.filter(tenant=s.tenant).aggregate(t=Sum("amount"))["t"] == 2 * PORTFOLIO_TOTAL
    assert_books_balance(s.tenant)
    assert cache.get(billing_tasks.progress_key(s.tenant.pk))["running"] is False


@pytest.mark.real_worker
@pytest.mark.dated  # the worker bills at its own clock, moved in the dated passes
@pytest.mark.django_db(transaction=True)
def test_worker_two_runs_at_once_give_no_duplicates(s, needs_worker):
    _deadline_out_of_reach(s)
    for _ in range(3):
        portfolio(s)
    first = billing_tasks.billing_run.delay(s.tenant.pk)
    second = billing_tasks.billing_run.delay(s.tenant.pk)
    results = [first.get(timeout=60), second.get(timeout=60)]
    assert sum(r["lines_created"] for r in results) == 3 * PORTFOLIO_LINES
    assert ClaimLine.unscoped.filter(tenant=s.tenant).count() == 3 * PORTFOLIO_LINES
    assert ClaimLine.unscoped.filter(tenant=s.tenant).aggregate(t=Sum("amount"))["t"] == 3 * PORTFOLIO_TOTAL
    assert_books_balance(s.tenant)


@pytest.mark.real_worker
@pytest.mark.dated  # the worker bills at its own clock, moved in the dated passes
@pytest.mark.django_db(transaction=True)
def test_worker_sweep_starts_a_run_per_active_tenant(s, world_b, needs_worker):
    Tenant.objects.filter(pk=world_b.tenant.pk).update(is_active=False)
    _deadline_out_of_reach(s)
    portfolio(s)
    active = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    assert s.tenant.pk in active and world_b.tenant.pk not in active
    for pk in active:
        cache.delete(billing_tasks.progress_key(pk))
    assert billing_tasks.billing_sweep.delay().get(timeout=60) == len(active)
    _wait_until_runs_finished(active)  # the runs it started, before the test database is emptied
    assert ClaimLine.unscoped.filter(tenant=s.tenant).count() == PORTFOLIO_LINES
    assert cache.get(billing_tasks.progress_key(world_b.tenant.pk)) is None
    assert_books_balance(s.tenant)
