"""Issue 18: a billing run spread over chunk tasks. The same books as one run in one process; a chunk
delivered twice (one after the other, or at once on two connections) does no work again, also for an
episode that stays a candidate after its check; the progress adds up the chunks; a chunk sees only its
IGO's episodes. The chunk tasks run on the real worker (scripts/worker.sh), at its own clock."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

import pytest
from django.db import connections, transaction

from billing import tasks as billing_tasks
from billing.models import Allocation, ClaimLine, Contract, WorkItem
from billing.progress import run_progress
from billing.services import chunks
from igo.celery import app as celery_app
from igo.models import Tenant
from igo.tenancy import tenant_scope
from pregnancies.models import Episode
from tests.scenarios.billing import PORTFOLIO_LINES, PORTFOLIO_TOTAL, assert_books_balance, build, portfolio

pytestmark = [pytest.mark.django_db(transaction=True)]


def _deadline_out_of_reach(tenant: Tenant) -> None:
    """These tests bill at today's clock, long after the portfolio's care: keep every phase billable."""
    Contract.unscoped.filter(tenant=tenant).update(submission_months=1200)


def books(tenant: Tenant, episodes: list[Episode]) -> list[dict[str, Any]]:
    """Per episode (in the portfolio's order): its claim lines and their current allocations, and its open
    work items, without ids, so that the books of two IGOs built alike compare."""
    out = []
    for ep in episodes:
        lines = sorted(
            ClaimLine.unscoped.filter(tenant=tenant, episode=ep).values_list(
                "phase", "sign", "amount", "status", "is_current", "service_start", "service_end"
            )
        )
        allocations = sorted(
            Allocation.unscoped.filter(tenant=tenant, claim_line__episode=ep, is_current=True).values_list(
                "claim_line__phase", "claim_line__sign", "kind", "organisation__name", "amount"
            ),
            key=str,
        )
        work = sorted(
            WorkItem.unscoped.filter(episode=ep, resolved_at__isnull=True).values_list("reason", flat=True)
        )
        out.append({"lines": lines, "allocations": allocations, "work": work})
    return out


def plan(tenant: Tenant, size: int) -> chunks.Plan:
    with tenant_scope(tenant):
        return chunks.run_plan(tenant=tenant, size=size)


def chunk_args(tenant: Tenant, p: chunks.Plan, index: int, ids: list[int] | None = None) -> list[Any]:
    ids = p.chunks[index] if ids is None else ids
    return [tenant.pk, p.run, index, ids, p.today.isoformat(), p.now.isoformat()]


def run_chunks_on_worker(tenant: Tenant, p: chunks.Plan) -> list[dict[str, int]]:
    sent = [billing_tasks.billing_run_chunk.delay(*chunk_args(tenant, p, i)) for i in range(len(p.chunks))]
    return [r.get(timeout=90) for r in sent]


@pytest.mark.real_worker
@pytest.mark.dated  # the worker bills at its own clock, moved in the dated passes
def test_chunks_on_the_worker_give_the_books_of_one_run_in_process(world_a, world_b, needs_worker):
    one, spread = build(world_a), build(world_b)
    for setup in (one, spread):
        _deadline_out_of_reach(setup.tenant)
    episodes_one = [ep for _ in range(3) for ep in portfolio(one)]
    episodes_spread = [ep for _ in range(3) for ep in portfolio(spread)]
    with tenant_scope(one.tenant):
        whole = billing_tasks.services.billing_run(tenant=one.tenant)
    p = plan(spread.tenant, size=4)
    assert len(p.chunks) == 4 and p.total == whole.episodes == 15
    results = run_chunks_on_worker(spread.tenant, p)
    assert sum(r["episodes"] for r in results) == 15
    assert sum(r["lines_created"] for r in results) == whole.lines_created == 3 * PORTFOLIO_LINES
    assert books(spread.tenant, episodes_spread) == books(one.tenant, episodes_one)
    total = ClaimLine.unscoped.filter(tenant=spread.tenant).values_list("amount", flat=True)
    assert sum(total, Decimal(0)) == 3 * PORTFOLIO_TOTAL
    assert_books_balance(spread.tenant)
    progress = run_progress(tenant_id=spread.tenant.pk)
    assert (progress.running, progress.done, progress.total, progress.percent) == (False, 15, 15, 100)


@pytest.mark.real_worker
@pytest.mark.dated
def test_a_chunk_delivered_twice_does_nothing_the_second_time(world_a, needs_worker):
    # No split rule: every line stays unallocated, so its episode is still a candidate after its check.
    s = build(world_a, split_rule=False)
    _deadline_out_of_reach(s.tenant)
    portfolio(s)
    p = plan(s.tenant, size=10)
    args = chunk_args(s.tenant, p, 0)
    first = billing_tasks.billing_run_chunk.delay(*args).get(timeout=90)
    lines = ClaimLine.unscoped.filter(tenant=s.tenant).count()
    assert (first["episodes"], first["lines_created"], first["lines_allocated"]) == (5, PORTFOLIO_LINES, 0)
    second = billing_tasks.billing_run_chunk.delay(*args).get(timeout=90)
    assert second["episodes"] == 0 and second["lines_created"] == 0
    assert ClaimLine.unscoped.filter(tenant=s.tenant).count() == lines
    progress = run_progress(tenant_id=s.tenant.pk)
    assert (progress.running, progress.done, progress.total) == (False, 5, 5)  # counted once
    # The four with a line waiting for a split rule are candidates still: the next run checks them again.
    again = run_chunks_on_worker(s.tenant, plan(s.tenant, size=10))
    assert [r["episodes"] for r in again] == [4]
    assert ClaimLine.unscoped.filter(tenant=s.tenant).count() == lines


def test_the_same_chunk_at_once_on_two_connections(world_a):
    s = build(world_a)
    _deadline_out_of_reach(s.tenant)
    portfolio(s)
    p = plan(s.tenant, size=10)
    holding, release = threading.Event(), threading.Event()
    results: list[Any] = []
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with tenant_scope(s.tenant), transaction.atomic():  # keeps its episodes locked until released
                results.append(
                    chunks.chunk_run(tenant=s.tenant, episode_ids=p.chunks[0], today=p.today, now=p.now)
                )
                holding.set()
                assert release.wait(timeout=60)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
            holding.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=first)
    thread.start()
    assert holding.wait(timeout=60)
    with tenant_scope(s.tenant):
        meanwhile = chunks.chunk_run(tenant=s.tenant, episode_ids=p.chunks[0], today=p.today, now=p.now)
    release.set()
    thread.join(timeout=60)
    assert not errors, errors
    assert results[0].episodes == 5 and results[0].lines_created == PORTFOLIO_LINES
    assert (meanwhile.episodes, meanwhile.lines_created) == (0, 0)  # skipped what the other held
    with tenant_scope(s.tenant):
        after = chunks.chunk_run(tenant=s.tenant, episode_ids=p.chunks[0], today=p.today, now=p.now)
    assert after.episodes == 0  # and once it committed, found it done
    assert ClaimLine.unscoped.filter(tenant=s.tenant).count() == PORTFOLIO_LINES
    assert Allocation.unscoped.filter(tenant=s.tenant, is_current=True).values(
        "claim_line"
    ).distinct().count() == (PORTFOLIO_LINES)
    assert_books_balance(s.tenant)


@pytest.mark.real_worker
@pytest.mark.dated
def test_a_chunk_of_another_igos_episodes_is_ignored(world_a, world_b, needs_worker):
    a, b = build(world_a), build(world_b)
    for setup in (a, b):
        _deadline_out_of_reach(setup.tenant)
    portfolio(b)
    p = plan(b.tenant, size=10)
    foreign = billing_tasks.billing_run_chunk.delay(*chunk_args(a.tenant, p, 0)).get(timeout=90)
    assert foreign["episodes"] == 0
    assert not ClaimLine.unscoped.filter(tenant=b.tenant).exists()
    assert not ClaimLine.unscoped.filter(tenant=a.tenant).exists()
    own = billing_tasks.billing_run_chunk.delay(*chunk_args(b.tenant, p, 0)).get(timeout=90)
    assert own["episodes"] == 5 and ClaimLine.unscoped.filter(tenant=b.tenant).count() == PORTFOLIO_LINES


@pytest.mark.real_worker
@pytest.mark.dated
def test_the_spread_run_on_the_worker_reaches_its_total(world_a, needs_worker):
    s = build(world_a)
    _deadline_out_of_reach(s.tenant)
    portfolio(s)
    portfolio(s)
    planned = billing_tasks.billing_run_spread.delay(s.tenant.pk).get(timeout=90)
    assert (planned["episodes"], planned["chunks"]) == (10, 1)
    deadline = time.monotonic() + 90
    while run_progress(tenant_id=s.tenant.pk).running and time.monotonic() < deadline:
        time.sleep(0.2)
    progress = run_progress(tenant_id=s.tenant.pk)
    assert (progress.running, progress.done, progress.total) == (False, 10, 10)
    assert ClaimLine.unscoped.filter(tenant=s.tenant).count() == 2 * PORTFOLIO_LINES
    assert_books_balance(s.tenant)


def test_the_spread_run_in_process_when_tasks_are_eager(world_a, monkeypatch):
    """The embedded demo runs tasks where they are enqueued: the chunks run inside the planning task."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        _spread_in_process(world_a, monkeypatch)
    finally:
        celery_app.conf.task_always_eager = eager


def _spread_in_process(world_a: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IGO_BILLING_CHUNK_SIZE", "2")
    s = build(world_a)
    _deadline_out_of_reach(s.tenant)
    portfolio(s)
    planned = billing_tasks.billing_run_spread.delay(s.tenant.pk).get()
    assert (planned["episodes"], planned["chunks"]) == (5, 3)
    progress = run_progress(tenant_id=s.tenant.pk)
    assert (progress.running, progress.done, progress.total) == (False, 5, 5)
    assert ClaimLine.unscoped.filter(tenant=s.tenant).count() == PORTFOLIO_LINES
    assert_books_balance(s.tenant)
    # A second run finds nothing due (everything was checked at its moment today).
    assert billing_tasks.billing_run_spread.delay(s.tenant.pk).get()["episodes"] == 0


def test_no_second_run_is_planned_while_one_goes(world_a):
    s = build(world_a)
    _deadline_out_of_reach(s.tenant)
    portfolio(s)
    going = plan(s.tenant, size=2)  # planned, no chunk ended yet
    assert run_progress(tenant_id=s.tenant.pk).running
    assert billing_tasks.billing_run_spread.apply(args=[s.tenant.pk]).get() == {
        "run": None,
        "episodes": 0,
        "chunks": 0,
    }
    for index in range(len(going.chunks)):  # its chunks end (here without billing): the run has ended
        chunks.chunk_finished(
            tenant_id=s.tenant.pk, run=going.run, index=index, episodes=len(going.chunks[index])
        )
    chunks.chunk_finished(tenant_id=s.tenant.pk, run=going.run, index=0, episodes=2)  # a repeat counts once
    progress = run_progress(tenant_id=s.tenant.pk)
    assert (progress.running, progress.done, progress.total) == (False, 5, 5)
    assert not chunks.run_in_progress(tenant_id=s.tenant.pk)
