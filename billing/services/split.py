"""The split: from a claim line to its allocations among overhead, reserve and the members."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import (
    SPLIT_REASONS,
    Allocation,
    AllocationBasis,
    AllocationKind,
    ClaimLine,
    Sign,
    SplitMethod,
    SplitRule,
    SplitShare,
    WorkItem,
    WorkReason,
)
from billing.services.claim_lines import care_episode_id
from billing.services.work_items import work_item_open, work_items_resolve
from igo.money import split_largest_remainder
from pregnancies.models import CareEvent, Episode, EventStatus

HUNDRED = Decimal("100")


def rule_for(rules: list[SplitRule], day: date) -> SplitRule | None:
    """The split rule in force on a day: the latest valid_from on or before it, then the highest version."""
    candidates = [r for r in rules if r.valid_from <= day]
    return max(candidates, key=lambda r: (r.valid_from, r.version)) if candidates else None


def member_weights(
    *, method: str, shares: list[SplitShare], points: dict[int, Decimal]
) -> dict[int, Decimal]:
    """Exact (unrounded) share per organisation of the members' part, as weights summing to 1.

    Fixed: the configured percentages. Care: in proportion to the points each member earned; members
    with a guaranteed minimum get at least that share, the rest is shared by points among the others.
    """
    if method == SplitMethod.FIXED:
        return {s.organisation_id: s.share_pct / HUNDRED for s in shares if s.share_pct > 0}
    minimum = {s.organisation_id: s.minimum_pct / HUNDRED for s in shares if s.minimum_pct > 0}
    orgs = set(points) | set(minimum)
    total_points = sum(points.values(), Decimal(0))
    if total_points == 0:  # no care logged with a rate: nothing to divide by (a work item, not a guess)
        return {}
    fixed: dict[int, Decimal] = {}
    while True:
        free = Decimal(1) - sum(fixed.values(), Decimal(0))
        rest = {o: points.get(o, Decimal(0)) for o in orgs if o not in fixed}
        rest_points = sum(rest.values(), Decimal(0))
        shares_now = {o: (free * p / rest_points if rest_points else Decimal(0)) for o, p in rest.items()}
        below = {o for o, s in shares_now.items() if s < minimum.get(o, Decimal(0))}
        if not below:
            break
        for o in below:
            fixed[o] = minimum[o]
    weights = {**shares_now, **fixed}
    return {o: w for o, w in weights.items() if w > 0}


@dataclass
class SplitResult:
    allocated: int = 0
    work_items: int = 0


class _Event(NamedTuple):
    pk: int
    episode_id: int
    phase: str
    event_type_id: int
    quantity: Decimal
    organisation_id: int


class SplitContext:
    """What splitting a set of claim lines needs, read once: rules, and the active events per phase."""

    def __init__(self, episode_ids: Iterable[int]):
        self.rules = list(SplitRule.objects.prefetch_related("phases__shares", "rates"))
        self.events: dict[tuple[int, str], list[_Event]] = defaultdict(list)
        for row in (
            CareEvent.objects.filter(episode_id__in=list(episode_ids), status=EventStatus.ACTIVE)
            .order_by("id")
            .values_list("id", "episode_id", "phase", "event_type_id", "quantity", "organisation_id")
        ):
            ev = _Event(*row)
            self.events[(ev.episode_id, ev.phase)].append(ev)


class AllocationRow(NamedTuple):
    """An allocation to be stored (lighter than a model instance: a run computes hundreds of thousands)."""

    tenant_id: int
    claim_line_id: int
    kind: str
    organisation_id: int | None
    amount: Decimal
    split_rule_id: int
    basis: AllocationBasis


def compute_allocations(line: ClaimLine, ctx: SplitContext) -> list[AllocationRow] | tuple[WorkReason, str]:
    """The allocations of a debit line, or (reason, message) when it cannot be split yet."""
    rule = rule_for(ctx.rules, line.service_start)
    split_phase = next((p for p in rule.phases.all() if p.phase == line.phase), None) if rule else None
    if rule is None or split_phase is None:
        return WorkReason.NO_SPLIT_RULE, _("No split rule covers this phase on %(d)s.") % {
            "d": line.service_start.strftime("%d-%m-%Y")
        }
    rates = {r.event_type_id: r.rate for r in rule.rates.all()}
    points: dict[int, Decimal] = defaultdict(Decimal)
    traced: dict[int, list[int]] = defaultdict(list)
    for ev in ctx.events.get((care_episode_id(line), line.phase), []):
        rate = rates.get(ev.event_type_id, Decimal(0))
        if rate:
            points[ev.organisation_id] += ev.quantity * rate
            traced[ev.organisation_id].append(ev.pk)
    weights = member_weights(method=split_phase.method, shares=list(split_phase.shares.all()), points=points)
    if not weights:
        return WorkReason.NO_CARE_BASIS, _("No logged care with an internal rate to divide this phase by.")
    contract = line.contract
    member_pct = HUNDRED - contract.overhead_pct - contract.reserve_pct
    head = split_largest_remainder(line.amount, [contract.overhead_pct, contract.reserve_pct, member_pct])
    orgs = sorted(weights)
    parts = split_largest_remainder(head[2], [weights[o] for o in orgs])
    result = [
        AllocationRow(line.tenant_id, line.pk, kind, None, amount, rule.pk, AllocationBasis(percentage=pct))
        for kind, amount, pct in (
            (AllocationKind.OVERHEAD, head[0], contract.overhead_pct),
            (AllocationKind.RESERVE, head[1], contract.reserve_pct),
        )
        if amount
    ]
    for org, amount in zip(orgs, parts, strict=True):
        if split_phase.method == SplitMethod.CARE:
            basis = AllocationBasis(
                method=split_phase.method,
                share=weights[org],
                points=points.get(org, Decimal(0)),
                events=tuple(traced.get(org, [])),
            )
        else:
            basis = AllocationBasis(method=split_phase.method, share=weights[org])
        result.append(
            AllocationRow(line.tenant_id, line.pk, AllocationKind.MEMBER, org, amount, rule.pk, basis)
        )
    return result


def split_lines(*, lines: list[ClaimLine], ctx: SplitContext | None = None) -> SplitResult:
    """Allocate debit lines that have no allocations yet. Call inside tenant_scope."""
    result = SplitResult()
    if not lines:
        return result
    ctx = ctx or SplitContext({care_episode_id(line) for line in lines})
    open_items = set(
        WorkItem.objects.filter(
            episode_id__in={care_episode_id(line) for line in lines}, resolved_at__isnull=True
        ).values_list("episode_id", "phase", "reason")
    )
    new: list[AllocationRow] = []
    done: list[tuple[int, str]] = []
    for line in lines:
        computed = compute_allocations(line, ctx)
        if isinstance(computed, tuple):
            result.work_items += work_item_open(line, line.phase, computed[0], computed[1], open_items)
            continue
        new.extend(computed)
        result.allocated += 1
        if any((line.episode_id, line.phase, r) in open_items for r in SPLIT_REASONS):
            done.append((care_episode_id(line), line.phase))
    _insert_allocations(new)
    work_items_resolve(phases=done, reasons=SPLIT_REASONS)
    return result


_ALLOCATION_COLUMNS = (
    "tenant_id", "claim_line_id", "kind", "organisation_id", "amount", "split_rule_id", "basis",
    "created_at", "is_current",
)  # fmt: skip


def _insert_allocations(allocations: list[AllocationRow]) -> None:
    """Insert allocations with COPY (PostgreSQL): the per-object work of bulk_create dominated the run."""
    if connection.vendor != "postgresql" or not allocations:
        Allocation.objects.bulk_create(
            Allocation(**{**a._asdict(), "basis": a.basis.to_json()}) for a in allocations
        )
        return
    now = timezone.now()
    sql = f"COPY {Allocation._meta.db_table} ({', '.join(_ALLOCATION_COLUMNS)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for a in allocations:
            copy.write_row(
                (
                    a.tenant_id,
                    a.claim_line_id,
                    a.kind,
                    a.organisation_id,
                    a.amount,
                    a.split_rule_id,
                    json.dumps(a.basis.to_json()),
                    now,
                    True,
                )
            )


def _signature(allocations: Iterable[Any]) -> dict[tuple[str, int | None], Decimal]:
    return {(a.kind, a.organisation_id): a.amount for a in allocations}


def resplit_changed(*, episodes: list[Episode], ctx: SplitContext) -> int:
    """Re-split current lines whose split no longer matches the logged care (an event logged, corrected or
    voided later). The claim to the insurer does not change, so the line stays as it is, sent or not; its
    allocations are superseded (kept, marked not current) by new ones. Returns how many lines were re-split."""
    stored: dict[int, list[Any]] = defaultdict(list)
    for row in Allocation.objects.filter(
        claim_line__episode__in=episodes,
        claim_line__is_current=True,
        claim_line__sign=Sign.DEBIT,
        is_current=True,
    ).values_list("claim_line_id", "pk", "kind", "organisation_id", "amount", named=True):
        stored[row.claim_line_id].append(row)
    if not stored:
        return 0
    lines = list(ClaimLine.objects.select_related("contract").filter(pk__in=list(stored)))
    now = timezone.now()
    resplit = 0
    for line in lines:
        computed = compute_allocations(line, ctx)
        if isinstance(computed, tuple) or _signature(computed) == _signature(stored[line.pk]):
            continue
        Allocation.objects.filter(pk__in=[a.pk for a in stored[line.pk]]).update(
            is_current=False, superseded_at=now
        )
        _insert_allocations(computed)
        resplit += 1
    return resplit
