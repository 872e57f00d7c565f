"""The billing run: set-based batches of candidate episodes, safe to repeat and to run concurrently."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from datetime import date, datetime, time
from typing import Any, NamedTuple

from django.db import connection, transaction
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
from billing.services.rollup import rollup_episodes
from billing.services.split import (
    SplitContext,
    SplitLine,
    care_fingerprints,
    current_debits,
    resplit_lines,
    split_lines,
)
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

    def add(self, other: RunResult) -> None:
        """Count another batch's (or chunk's) work in this summary."""
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


def split_rules_seen() -> str:
    """What identifies the split rules visible now: how many there are and the highest id. Rules are never
    edited, only added as versions, so any new one changes this, also one whose transaction commits after
    a run read the rules although its id (and created_at) is older than rules that run saw."""
    seen = SplitRule.objects.aggregate(n=Count("pk"), top=Max("pk"))
    return f"{seen['n']}:{seen['top'] or 0}"


class _Seen(NamedTuple):
    """What the last check of an episode saw (EpisodeBillingState)."""

    changed_at: datetime | None
    rules: str
    care: dict[str, str] | None


# The episode's fields the roll-up reads (rollup.ended_phases, gestational_week, the line numbers) and the
# run records; the others are not loaded.
ROLLUP_FIELDS = (
    "id", "tenant", "client", "status", "end_reason", "end_date", "intake_date", "gestational_age_at_intake",
    "labour_started_at", "placenta_plus_2h_at", "postnatal_ended_on", "changed_at",
)  # fmt: skip


def _split_inputs_changed(episode: Episode, seen: _Seen | None, rules: str) -> bool:
    """Whether an episode's allocations must be recomputed: new to billing, its care changed since the last
    check (logging, corrections and voids touch `changed_at`), or the split rules did. A change is a
    difference from what the last check saw, not a later moment: a clock that stepped back, or a change
    stamped before a check but committed after it, stamps `changed_at` earlier than that check."""
    if seen is None:
        return True
    return seen.changed_at != episode.changed_at or seen.rules != rules


# The roll-up work items whose episode is looked at again every day while they are open: a phase waiting for
# an insurance, a contract, a tariff or finance's decision is billed, or found past its deadline, on the
# first run after the fact arrives, also when it arrived on a path that marks no episode. An item saying the
# deadline passed waits for nothing (a later fact marks or touches the episode).
_WAITING_REASONS = [r for r in ROLLUP_REASONS if r != WorkReason.DEADLINE_PASSED]


def phase_end_expressions() -> dict[str, Any]:
    """The days a phase of an episode can end on (rollup.phase_end_days), as expressions over its fields."""
    tz = timezone.get_default_timezone()
    return {
        "labour_on": TruncDate("labour_started_at", tzinfo=tz),
        "placenta_on": TruncDate("placenta_plus_2h_at", tzinfo=tz),
        "postnatal_ended_on": F("postnatal_ended_on"),
        "end_date": F("end_date"),
    }


def _candidates(today: date, now: datetime | None = None) -> Any:
    """The episodes a run checks: new to billing, changed since the last check (what it saw differs),
    marked for a re-check by a service that recorded a fact the roll-up reads (a contract, a contract's
    end), with a current line not divided yet; and, once a day, those whose claims can change by the
    passing of time alone or arrive unmarked. There is no time window: an episode ended long ago is
    checked again when a fact about it is recorded.

    The passing of time: the roll-up reads the day only to tell whether a phase has ended by it
    (rollup.phase_due) and whether a phase never claimed is past its submission deadline. An episode whose
    inputs did not change gets other claims on `today` than on the day its last check billed by only when
    a phase ends between the two, on one of its key dates (rollup.phase_end_days). A deadline passes
    unnoticed only for a phase that was due but neither claimed nor put in a work item, which the roll-up
    never leaves; a phase waiting in a roll-up work item is looked at every day. So when the day of the
    last check is known, an episode is checked again by the day only when one of its key dates falls on
    or after it (on it: as the rule before, an end not yet behind the check) and on or before `today`, or
    while it waits in a work item. An active episode none of whose key dates falls there is not rolled up:
    none of its phases can have ended. A check without that day (made before it was recorded), or with a
    later one (the clock stepped back), falls back to the rule without it: every active episode, every
    ended one whose end was not yet behind it at that check."""
    now = now or timezone.now()
    midnight = timezone.make_aware(datetime.combine(today, time.min))
    # Not checked today: before today's midnight, or at a moment this clock has not reached yet (it
    # stepped back since): such a check says nothing about today.
    not_today = Q(billing_state__checked_at__lt=midnight) | Q(billing_state__checked_at__gt=now)
    waiting = WorkItem.objects.filter(
        episode=OuterRef("pk"), resolved_at__isnull=True, reason__in=_WAITING_REASONS
    )
    checked_for = F("billing_state__checked_for")
    ends_since = Q()
    for name in phase_end_expressions():
        ends_since |= Q(**{f"{name}__gte": checked_for, f"{name}__lte": today})
    by_day = Q(billing_state__checked_for__lt=today) & ends_since
    checked_on = TruncDate("billing_state__checked_at", tzinfo=timezone.get_default_timezone())
    day_unknown = Q(billing_state__checked_for__isnull=True) | Q(billing_state__checked_for__gt=today)
    by_day_unknown = day_unknown & not_today & (Q(status=EpisodeStatus.ACTIVE) | Q(end_date__gte=checked_on))
    unallocated = ClaimLine.objects.filter(episode=OuterRef("pk"), is_current=True, sign=Sign.DEBIT).exclude(
        allocations__is_current=True
    )
    seen = F("billing_state__seen_changed_at")
    ends = {k: v for k, v in phase_end_expressions().items() if k not in ("postnatal_ended_on", "end_date")}
    return Episode.objects.alias(**ends).filter(
        Q(billing_state__isnull=True)
        | Q(billing_state__seen_changed_at__isnull=True)
        | Q(changed_at__gt=seen)
        | Q(changed_at__lt=seen)  # changed, whatever the clock said when it did
        | Q(billing_state__recheck=True)
        | by_day
        | by_day_unknown
        | (not_today & Exists(waiting))
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


def episodes_mark_recheck_split(*, valid_from: date) -> int:
    """Mark for the next billing run every episode with a current claim line a new split-rule version
    from `valid_from` may divide differently (a line is split by the rule in force on its start), however
    long ago it ended. Locks the episode rows first, for the reason episodes_mark_recheck gives."""
    lines = ClaimLine.objects.filter(
        episode=OuterRef("pk"), is_current=True, sign=Sign.DEBIT, service_start__gte=valid_from
    )
    with transaction.atomic():
        ids = list(
            Episode.objects.filter(Exists(lines))
            .order_by("pk")
            .select_for_update(of=("self",))
            .values_list("pk", flat=True)
        )
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
        locked = list(
            qs.select_for_update(skip_locked=True, of=("self",))
            .only(*ROLLUP_FIELDS)
            .order_by("pk")[:BATCH_SIZE]
        )
        if not locked:
            return result
        ids = [e.pk for e in locked]
        # Whose split may have changed: episodes with care logged, corrected or voided since the last
        # check, or every episode when the split rules changed since. The others are only rolled up (a
        # phase can end by the passing of time); their allocations depend on nothing that changed.
        # `changed_at` of the locked rows is what this check sees (a later change waits for the lock), and
        # the rules are read before the split reads them, so what is recorded below was seen.
        seen = {
            row[0]: _Seen(*row[1:])
            for row in EpisodeBillingState.objects.filter(episode_id__in=ids).values_list(
                "episode_id", "seen_changed_at", "seen_rules", "seen_care"
            )
        }
        rules = split_rules_seen()
        stale = {e.pk for e in locked if _split_inputs_changed(e, seen.get(e.pk), rules)}
        rolled = rollup_episodes(tenant=tenant, episodes=locked, today=today)
        lines = current_debits(ids)
        unallocated = [line for line in lines if not line.allocated]
        # The divided lines of the changed episodes: divided again only when their phase's care (or the
        # split rules) changed since the split was last computed or confirmed.
        check = [line for line in lines if line.allocated and line.episode_id in stale]
        phases = {(line.episode_id, line.phase) for line in (*check, *unallocated)}
        care = care_fingerprints(phases)

        def unchanged(line: SplitLine) -> bool:
            known = seen.get(line.episode_id)
            return (
                known is not None
                and known.rules == rules
                and (known.care or {}).get(line.phase) == care.get((line.episode_id, line.phase), "")
            )

        resplit = [line for line in check if not unchanged(line)]
        ctx = SplitContext(phases={(line.episode_id, line.phase) for line in (*resplit, *unallocated)})
        result.lines_replaced = rolled.replaced + resplit_lines(lines=resplit, ctx=ctx)
        split = split_lines(lines=unallocated, ctx=ctx)
        seen_care: dict[int, dict[str, str]] = {}
        for episode_id, phase in phases:
            if episode_id not in seen_care:
                known = seen.get(episode_id)
                seen_care[episode_id] = dict(known.care or {}) if known is not None else {}
            seen_care[episode_id][phase] = care.get((episode_id, phase), "")
        _record_checks(tenant=tenant, episodes=locked, now=now, today=today, rules=rules, seen_care=seen_care)
        result.episodes = len(locked)
        result.lines_created = rolled.created
        result.lines_allocated = split.allocated
        result.work_items = rolled.work_items + split.work_items
        result.batches = 1
    return result


def _record_checks(
    *,
    tenant: Tenant,
    episodes: list[Episode],
    now: datetime,
    today: date,
    rules: str,
    seen_care: dict[int, dict[str, str]],
) -> None:
    """Record the check of these (locked) episodes in one statement: when, by which day, what it saw. A
    mark for a re-check set before these rows were locked is done now; one set later waited for this
    transaction (episodes_mark_recheck) and stays. The care fingerprints of phases not looked at stay."""
    if connection.vendor != "postgresql":  # the demo's SQLite: no arrays; the same, row by row
        for e in episodes:
            fields: dict[str, Any] = {
                "tenant_id": tenant.pk,
                "checked_at": now,
                "checked_for": today,
                "seen_changed_at": e.changed_at,
                "seen_rules": rules,
                "recheck": False,
            }
            if e.pk in seen_care:
                fields["seen_care"] = seen_care[e.pk]
            EpisodeBillingState.objects.update_or_create(episode_id=e.pk, defaults=fields)
        return
    table = EpisodeBillingState._meta.db_table
    care = [json.dumps(seen_care[e.pk]) if e.pk in seen_care else None for e in episodes]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (tenant_id, episode_id, checked_at, checked_for, seen_changed_at, seen_rules,
                                 recheck, seen_care)
            SELECT %s, t.episode_id, %s, %s, t.changed_at, %s, false, t.care::jsonb
            FROM unnest(%s::bigint[], %s::timestamptz[], %s::text[]) AS t(episode_id, changed_at, care)
            ON CONFLICT (episode_id) DO UPDATE SET
                checked_at = EXCLUDED.checked_at, checked_for = EXCLUDED.checked_for,
                seen_changed_at = EXCLUDED.seen_changed_at, seen_rules = EXCLUDED.seen_rules, recheck = false,
                seen_care = COALESCE(EXCLUDED.seen_care, {table}.seen_care)
            """,  # noqa: S608 - the table name is the model's
            [tenant.pk, now, today, rules, [e.pk for e in episodes], [e.changed_at for e in episodes], care],
        )


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
        summary.add(batch)
        if progress is not None:
            progress(min(start + BATCH_SIZE, len(ids)), len(ids))
    return summary
