"""The billing run: set-based batches of candidate episodes, safe to repeat and to run concurrently."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from billing.models import (
    ROLLUP_REASONS,
    ClaimLine,
    EpisodeBillingState,
    Sign,
    SplitRule,
    WorkItem,
    WorkReason,
)
from billing.services.claim_lines import care_episode_id
from billing.services.rollup import rollup_episodes
from billing.services.split import SplitContext, resplit_changed, split_lines
from igo.models import Insurer, Tenant
from pregnancies.models import ClientInsurance, Episode, EpisodeStatus

BATCH_SIZE = int(os.environ.get("IGO_BILLING_BATCH_SIZE", "500"))


@dataclass
class RunResult:
    episodes: int = 0
    lines_created: int = 0
    lines_replaced: int = 0
    lines_allocated: int = 0
    work_items: int = 0
    batches: int = 0


def split_rules_seen() -> str:
    """What identifies the split rules visible now: how many there are and the highest id. Rules are never
    edited, only added as versions, so any new one changes this, also one whose transaction commits after
    a run read the rules although its id (and created_at) is older than rules that run saw."""
    seen = SplitRule.objects.aggregate(n=Count("pk"), top=Max("pk"))
    return f"{seen['n']}:{seen['top'] or 0}"


def _split_inputs_changed(episode: Episode, seen: tuple[datetime | None, str] | None, rules: str) -> bool:
    """Whether an episode's allocations must be recomputed: new to billing, its care changed since the last
    check (logging, corrections and voids touch `changed_at`), or the split rules did. A change is a
    difference from what the last check saw, not a later moment: a clock that stepped back, or a change
    stamped before a check but committed after it, stamps `changed_at` earlier than that check."""
    if seen is None:
        return True
    seen_changed_at, seen_rules = seen
    return seen_changed_at != episode.changed_at or seen_rules != rules


# The roll-up work items whose episode is looked at again every day while they are open: a phase waiting for
# an insurance, a contract, a tariff or finance's decision is billed, or found past its deadline, on the
# first run after the fact arrives, also when it arrived on a path that marks no episode. An item saying the
# deadline passed waits for nothing (a later fact marks or touches the episode).
_WAITING_REASONS = [r for r in ROLLUP_REASONS if r != WorkReason.DEADLINE_PASSED]


def _candidates(today: date, now: datetime | None = None) -> Any:
    """The episodes a run checks: new to billing, changed since the last check (what it saw differs),
    marked for a re-check by a service that recorded a fact the roll-up reads (a contract, a contract's
    end), with a current line not divided yet; and, once a day, those whose claims can change by the
    passing of time alone or arrive unmarked: active episodes (a phase ends), ended ones waiting in a roll-up
    work item, and ended ones whose end was not yet behind them at their last check. There is no
    time window: an episode ended long ago is checked again when a fact about it is recorded."""
    midnight = timezone.make_aware(datetime.combine(today, time.min))
    # Not checked today: before today's midnight, or at a moment this clock has not reached yet (it
    # stepped back since): such a check says nothing about today.
    not_today = Q(billing_state__checked_at__lt=midnight) | Q(
        billing_state__checked_at__gt=now or timezone.now()
    )
    waiting = WorkItem.objects.filter(
        episode=OuterRef("pk"), resolved_at__isnull=True, reason__in=_WAITING_REASONS
    )
    checked_on = TruncDate("billing_state__checked_at", tzinfo=timezone.get_default_timezone())
    daily = Q(status=EpisodeStatus.ACTIVE) | Q(end_date__gte=checked_on) | Exists(waiting)
    unallocated = ClaimLine.objects.filter(episode=OuterRef("pk"), is_current=True, sign=Sign.DEBIT).exclude(
        allocations__is_current=True
    )
    seen = F("billing_state__seen_changed_at")
    return Episode.objects.filter(
        Q(billing_state__isnull=True)
        | Q(billing_state__seen_changed_at__isnull=True)
        | Q(changed_at__gt=seen)
        | Q(changed_at__lt=seen)  # changed, whatever the clock said when it did
        | Q(billing_state__recheck=True)
        | (not_today & daily)
        | Exists(unallocated)
    )


def episodes_mark_recheck(*, insurer: Insurer, start: date, end: date | None) -> int:
    """Mark for the next billing run every episode a fact about `insurer` over [start, end] (end None:
    open) may change: its client was insured there for part of that period and one of its phases may
    start in it (a phase's insurer and contract are those of its start). However long ago it ended: the
    roll-up, not a time window, decides whether its submission deadline passed. Episodes never checked
    are candidates anyway. Returns how many were marked.

    The episode rows are locked first (in id order, as the run takes them): a run that holds one read the
    contracts before this fact was committed, so the mark waits for that run to record its check and is
    set after it, instead of being cleared by it."""
    insured = ClientInsurance.objects.filter(client=OuterRef("client_id"), insurer=insurer).filter(
        Q(valid_until__isnull=True) | Q(valid_until__gte=start)
    )
    overlaps = Q(end_date__isnull=True) | Q(end_date__gte=start)
    if end is not None:
        insured = insured.filter(valid_from__lte=end)
        overlaps &= Q(intake_date__lte=end)
    episodes = Episode.objects.filter(Exists(insured), overlaps)
    with transaction.atomic():
        ids = list(episodes.order_by("pk").select_for_update(of=("self",)).values_list("pk", flat=True))
        return EpisodeBillingState.objects.filter(episode_id__in=ids, recheck=False).update(recheck=True)


def billing_run_batch(
    *,
    tenant: Tenant,
    today: date | None = None,
    episode_ids: list[int] | None = None,
    now: datetime | None = None,
) -> RunResult:
    """One batch: lock up to BATCH_SIZE candidate episodes (skipping those another worker holds), roll
    them up, split new lines, replace lines whose split changed, and record the check. Atomic.

    `now` is the moment the run read the clock (its `today` is that moment's local date): the check is
    recorded at it, so that the re-check of the next day follows the day this batch billed by, even when
    the batch itself runs after midnight."""
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    result = RunResult()
    with transaction.atomic():
        qs = _candidates(today, now) if episode_ids is None else Episode.objects.filter(pk__in=episode_ids)
        locked = list(qs.select_for_update(skip_locked=True, of=("self",)).order_by("pk")[:BATCH_SIZE])
        if not locked:
            return result
        # Whose split may have changed: episodes with care logged, corrected or voided since the last
        # check, or every episode when the split rules changed since. The others are only rolled up (a
        # phase can end by the passing of time); their allocations depend on nothing that changed.
        # `changed_at` of the locked rows is what this check sees (a later change waits for the lock), and
        # the rules are read before the split reads them, so what is recorded below was seen.
        seen = {
            episode_id: (changed_at, rules)
            for episode_id, changed_at, rules in EpisodeBillingState.objects.filter(
                episode__in=locked
            ).values_list("episode_id", "seen_changed_at", "seen_rules")
        }
        rules = split_rules_seen()
        stale = [e for e in locked if _split_inputs_changed(e, seen.get(e.pk), rules)]
        rolled = rollup_episodes(tenant=tenant, episodes=locked, today=today)
        unallocated = list(
            ClaimLine.objects.select_related("contract")
            .filter(episode__in=locked, is_current=True, sign=Sign.DEBIT)
            .exclude(allocations__is_current=True)
        )
        ctx = SplitContext({e.pk for e in stale} | {care_episode_id(line) for line in unallocated})
        result.lines_replaced = rolled.replaced + resplit_changed(episodes=stale, ctx=ctx)
        split = split_lines(lines=unallocated, ctx=ctx)
        EpisodeBillingState.objects.bulk_create(
            [
                EpisodeBillingState(
                    tenant=tenant,
                    episode=e,
                    checked_at=now,
                    seen_changed_at=e.changed_at,
                    seen_rules=rules,
                    recheck=False,
                )
                for e in locked
            ],
            update_conflicts=True,
            unique_fields=["episode"],
            # A mark for a re-check set before these rows were locked is done now; one set later waited
            # for this transaction (episodes_mark_recheck) and stays.
            update_fields=["checked_at", "seen_changed_at", "seen_rules", "recheck"],
        )
        result.episodes = len(locked)
        result.lines_created = rolled.created
        result.lines_allocated = split.allocated
        result.work_items = rolled.work_items + split.work_items
        result.batches = 1
    return result


def billing_run(*, tenant: Tenant, today: date | None = None, progress: Any = None) -> RunResult:
    """Process every candidate once, in batches. `progress(done, total)` is called after each batch.

    The candidates are read once at the start, so a run always ends; episodes another worker holds are
    skipped here and done by that worker (or the next run). So is the clock: a run that passes midnight
    bills by the day it started on and records its checks at that moment, and the next day's sweeps
    re-check what it did.
    """
    now = timezone.now()
    today = today or timezone.localdate(now)
    ids = list(_candidates(today, now).order_by("pk").values_list("pk", flat=True))
    summary = RunResult()
    for start in range(0, len(ids), BATCH_SIZE):
        batch = billing_run_batch(
            tenant=tenant, today=today, episode_ids=ids[start : start + BATCH_SIZE], now=now
        )
        for field in (
            "episodes",
            "lines_created",
            "lines_replaced",
            "lines_allocated",
            "work_items",
            "batches",
        ):
            setattr(summary, field, getattr(summary, field) + getattr(batch, field))
        if progress is not None:
            progress(min(start + BATCH_SIZE, len(ids)), len(ids))
    return summary
