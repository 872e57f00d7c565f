"""The billing run spread over workers (issue 18): a run for one IGO reads its candidate episodes once, at
one moment, and cuts them into chunks; each chunk is a task any worker process on any host may take.

No chunk is done twice. A chunk re-selects its episodes through the run's candidates (`_candidates` at the
run's `today` and `now`) and locks them with SKIP LOCKED, so a copy of it running at the same time skips
what the other holds; and it leaves out the episodes this run has already checked (their check is recorded at the run's
moment, `now`) when nothing they depend on changed since. That last rule is what keeps an episode that is
legitimately still a candidate after its check (a line waiting for a split rule, say) from being checked
again by a redelivered, retried or duplicated chunk: it is checked again by the next run, not by this one.

The progress of a spread run lives in the cache: the run's plan under `progress_key` ({"run", "total",
"chunks", "started"}), and two counters of the run that each chunk raises once when it ends, whatever
happened to it (a marker per chunk, set with an atomic add, decides which delivery counts it).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from billing.progress import progress_key, run_counter_keys
from billing.services import run as billing
from billing.services.run import RunResult
from igo.models import Tenant

# How long the plan and the counters of a run stay in the cache.
PROGRESS_TTL = 6 * 3600
# A run still going after this long is taken as lost (a chunk that never ended), and a new one may start.
RUN_STALE_AFTER = 3600


def chunk_size() -> int:
    """Episodes per chunk: the run's batch (one transaction), unless IGO_BILLING_CHUNK_SIZE says otherwise."""
    return int(os.environ.get("IGO_BILLING_CHUNK_SIZE") or billing.BATCH_SIZE)


@dataclass
class Plan:
    run: str
    today: date
    now: datetime
    chunks: list[list[int]]

    @property
    def total(self) -> int:
        return sum(len(c) for c in self.chunks)


def run_in_progress(*, tenant_id: int, now: datetime | None = None) -> bool:
    """Whether a spread run of this IGO is still going (started less than RUN_STALE_AFTER ago)."""
    data = cache.get(progress_key(tenant_id))
    if not isinstance(data, dict) or not data.get("run"):
        return False
    started = datetime.fromisoformat(str(data.get("started")))
    if ((now or timezone.now()) - started).total_seconds() > RUN_STALE_AFTER:
        return False
    _done_key, chunks_key = run_counter_keys(tenant_id, str(data["run"]))
    return int(cache.get(chunks_key) or 0) < int(data.get("chunks") or 0)


def run_plan(*, tenant: Tenant, size: int | None = None) -> Plan:
    """Read the IGO's candidates once, at one moment, cut them into chunks and record the plan as the
    IGO's progress. The caller enqueues one chunk task per chunk."""
    now = timezone.now()
    today = timezone.localdate(now)
    ids = list(billing._candidates(today, now).order_by("pk").values_list("pk", flat=True))
    size = size or chunk_size()
    plan = Plan(
        run=uuid.uuid4().hex,
        today=today,
        now=now,
        chunks=[ids[start : start + size] for start in range(0, len(ids), size)],
    )
    done_key, chunks_key = run_counter_keys(tenant.pk, plan.run)
    cache.set_many({done_key: 0, chunks_key: 0}, PROGRESS_TTL)
    cache.set(
        progress_key(tenant.pk),
        {"run": plan.run, "total": plan.total, "chunks": len(plan.chunks), "started": now.isoformat()},
        PROGRESS_TTL,
    )
    return plan


def _checked_by_this_run(now: datetime, rules: str) -> Q:
    """Episodes whose check was recorded at this run's moment and saw what is there now: their care, the
    split rules and no later mark for a re-check. Checking them again in this run would change nothing."""
    return Q(
        billing_state__checked_at=now,
        billing_state__seen_changed_at=F("changed_at"),
        billing_state__seen_rules=rules,
        billing_state__recheck=False,
    )


def chunk_run(*, tenant: Tenant, episode_ids: list[int], today: date, now: datetime) -> RunResult:
    """Bill one chunk of a run (in the IGO's scope: ids of another IGO's episodes are not seen). Each batch
    of it is one transaction that locks those of its episodes that are still the run's candidates, skipping
    those another worker holds and those this run already checked, and bills them (`billing_run_batch`
    with ids bills the episodes it is given, candidates or not: a re-bill of one episode needs that)."""
    summary = RunResult()
    step = billing.BATCH_SIZE
    for start in range(0, len(episode_ids), step):
        with transaction.atomic():
            rules = billing.split_rules_seen()
            ids = list(
                billing._candidates(today, now)
                .filter(pk__in=episode_ids[start : start + step])
                .exclude(_checked_by_this_run(now, rules))
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            if not ids:
                continue
            batch = billing.billing_run_batch(tenant=tenant, today=today, episode_ids=ids, now=now)
        summary.add(batch)
    return summary


def chunk_finished(*, tenant_id: int, run: str, index: int, episodes: int) -> bool:
    """Count a chunk of the run as ended in the IGO's progress, once whichever delivery ends it. Returns
    whether this call counted it."""
    done_key, chunks_key = run_counter_keys(tenant_id, run)
    if not cache.add(f"{chunks_key}:{index}", 1, PROGRESS_TTL):
        return False
    for key, delta in ((done_key, episodes), (chunks_key, 1)):
        try:
            cache.incr(key, delta)
        except ValueError:  # the counter expired or the cache was cleared: start it again
            cache.add(key, 0, PROGRESS_TTL)
            cache.incr(key, delta)
    return True
