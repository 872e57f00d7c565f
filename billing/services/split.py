"""The split: from a claim line to its allocations among the IGO's overhead, its reserve (both set by the split
rule, the IGO's verdeelmodel, not by the insurer's contract) and the members."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Any, NamedTuple, Protocol

from django.contrib.postgres.aggregates import StringAgg
from django.db import connection
from django.db.models import Exists, OuterRef, Q, TextField, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import MD5, Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import (
    SPLIT_REASONS,
    Allocation,
    AllocationBasis,
    AllocationKind,
    ClaimLine,
    ReturnLine,
    ReturnStatus,
    Sign,
    SplitMethod,
    SplitRule,
    SplitShare,
    WorkItem,
    WorkReason,
)
from billing.services.claim_lines import LineRef, care_episode_id
from billing.services.work_items import work_item_open, work_items_resolve
from igo.money import split_largest_remainder
from pregnancies.models import CareEvent, Episode, EventStatus
from providers.models import MemberOrganisation

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


class SplitLine(NamedTuple):
    """A current debit line as the split reads it (a run divides tens of thousands: no model instances).
    `allocated`: it has current allocations."""

    pk: int
    tenant_id: int
    episode_id: int  # a care line's
    number: str
    phase: str
    amount: Decimal
    service_start: date
    allocated: bool = False


class Divisible(LineRef, Protocol):
    """What the split reads of a claim line: a ClaimLine or a SplitLine."""

    @property
    def pk(self) -> Any: ...
    @property
    def phase(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def service_start(self) -> date: ...


def current_debits(episode_ids: list[int]) -> list[SplitLine]:
    """The current debit lines of these episodes, with whether they are divided."""
    divided = Allocation.objects.filter(claim_line=OuterRef("pk"), is_current=True)
    return [
        SplitLine(*row)
        for row in ClaimLine.objects.filter(episode_id__in=episode_ids, is_current=True, sign=Sign.DEBIT)
        .annotate(allocated=Exists(divided))
        .values_list(*SplitLine._fields)
    ]


def _phases_filter(phases: Iterable[tuple[int, str]]) -> Q:
    """The care events of these (episode, phase) pairs (one IN list per phase)."""
    by_phase: dict[str, list[int]] = defaultdict(list)
    for episode_id, phase in phases:
        by_phase[phase].append(episode_id)
    where = Q()
    for phase, ids in sorted(by_phase.items()):
        where |= Q(phase=phase, episode_id__in=ids)
    return where


def care_fingerprints(phases: Iterable[tuple[int, str]]) -> dict[tuple[int, str], str]:
    """Per (episode, phase) pair, a fingerprint of its active care: everything of it the split reads (each
    event's id, type, quantity and organisation), in one string, hashed. A phase without active care has none
    here ("" stands for it). The billing run keeps the fingerprint a line's split was computed or confirmed on
    (EpisodeBillingState.seen_care): the same fingerprint, the same split."""
    where = _phases_filter(phases)
    if not where:
        return {}
    active = CareEvent.objects.filter(where, status=EventStatus.ACTIVE).order_by()
    if connection.vendor != "postgresql":  # the demo's SQLite: no ordered string aggregate; hashed here
        return _care_fingerprints_here(active)
    text = Concat(
        Cast("pk", TextField()),
        Value(","),
        Cast("event_type_id", TextField()),
        Value(","),
        Cast("quantity", TextField()),
        Value(","),
        Cast("organisation_id", TextField()),
        output_field=TextField(),
    )
    rows = (
        active.values("episode_id", "phase")
        .annotate(fingerprint=MD5(StringAgg(text, ";", order_by="pk")))
        .values_list("episode_id", "phase", "fingerprint")
    )
    return {(episode_id, phase): fingerprint for episode_id, phase, fingerprint in rows}


def _care_fingerprints_here(active: Any) -> dict[tuple[int, str], str]:
    """care_fingerprints without PostgreSQL's string_agg: the same fields in the same order, joined and hashed
    in Python. The text differs from PostgreSQL's (numbers are written by Python), which does not matter: a
    fingerprint is only ever compared with one made by the same database."""
    texts: dict[tuple[int, str], list[str]] = defaultdict(list)
    fields = ("episode_id", "phase", "pk", "event_type_id", "quantity", "organisation_id")
    for episode_id, phase, pk, type_id, quantity, organisation_id in active.order_by("pk").values_list(
        *fields
    ):
        texts[(episode_id, phase)].append(f"{pk},{type_id},{quantity},{organisation_id}")
    return {
        pair: hashlib.md5(";".join(parts).encode(), usedforsecurity=False).hexdigest()
        for pair, parts in texts.items()
    }


class SplitContext:
    """What splitting a set of claim lines needs, read once: rules, and the active events per phase. The
    events of these episodes (all their phases), or of these (episode, phase) pairs only. `rules`: the split
    rules to divide by instead of the stored ones (the what-if simulation passes the stored ones with a draft
    among them, `billing.services.split_rules.split_rule_draft`)."""

    def __init__(
        self,
        episode_ids: Iterable[int] = (),
        *,
        phases: Iterable[tuple[int, str]] | None = None,
        rules: list[SplitRule] | None = None,
    ):
        self.events: dict[tuple[int, str], list[_Event]] = defaultdict(list)
        self._rates: dict[int, dict[int, Decimal]] = {}
        if rules is not None:
            self.__dict__["rules"] = rules  # the cached_property's slot
        if phases is None:
            where = Q(episode_id__in=list(episode_ids))
        else:
            where = _phases_filter(phases)
            if not where:
                return
        for row in (
            CareEvent.objects.filter(where, status=EventStatus.ACTIVE)
            .order_by("id")
            .values_list("id", "episode_id", "phase", "event_type_id", "quantity", "organisation_id")
        ):
            ev = _Event(*row)
            self.events[(ev.episode_id, ev.phase)].append(ev)

    @cached_property
    def rules(self) -> list[SplitRule]:
        return list(SplitRule.objects.prefetch_related("phases__shares", "rates"))

    @cached_property
    def memberships(self) -> dict[int, tuple[str, date | None]]:
        """Per member organisation: its name and the last day of its membership (None: still a member)."""
        return {
            pk: (name, until)
            for pk, name, until in MemberOrganisation.objects.values_list("pk", "name", "member_until")
        }

    def rates(self, rule: SplitRule) -> dict[int, Decimal]:
        """The rule's internal rate per event type."""
        if rule.pk not in self._rates:
            self._rates[rule.pk] = {r.event_type_id: r.rate for r in rule.rates.all()}
        return self._rates[rule.pk]


class AllocationRow(NamedTuple):
    """An allocation to be stored (lighter than a model instance: a run computes hundreds of thousands)."""

    tenant_id: int
    claim_line_id: int
    kind: str
    organisation_id: int | None
    amount: Decimal
    split_rule_id: int
    basis: AllocationBasis


class KeptHead(NamedTuple):
    """The IGO's part of a line as it was allocated: kept when a re-split under the same split rule version
    divides the line again, so that no euro already allocated to the overhead or the reserve moves (a kind
    without an allocation had 0.00, and keeps it)."""

    split_rule_id: int
    overhead: AllocationRow | None
    reserve: AllocationRow | None


def compute_allocations(
    line: Divisible, ctx: SplitContext, *, kept: KeptHead | None = None, amount: Decimal | None = None
) -> list[AllocationRow] | tuple[WorkReason, str]:
    """The allocations of a debit line, or (reason, message) when it cannot be split yet.

    Overhead and reserve are the split rule's percentages of the line; with `kept` from the same split
    rule version, the line's stored overhead and reserve stay as they are and only the members' part (the
    rest) is divided again. `amount`: what the line is settled at when it is not its claimed amount (the
    insurer awarded part of it, `billing.services.partial_awards`)."""
    total = line.amount if amount is None else amount
    rule = rule_for(ctx.rules, line.service_start)
    split_phase = next((p for p in rule.phases.all() if p.phase == line.phase), None) if rule else None
    if rule is None or split_phase is None:
        return WorkReason.NO_SPLIT_RULE, _("No split rule covers this phase on %(d)s.") % {
            "d": line.service_start.strftime("%d-%m-%Y")
        }
    rates = ctx.rates(rule)
    points: dict[int, Decimal] = defaultdict(Decimal)
    traced: dict[int, list[int]] = defaultdict(list)
    for ev in ctx.events.get((care_episode_id(line), line.phase), []):
        rate = rates.get(ev.event_type_id, Decimal(0))
        if rate:
            points[ev.organisation_id] += ev.quantity * rate
            traced[ev.organisation_id].append(ev.pk)
    weights = member_weights(method=split_phase.method, shares=list(split_phase.shares.all()), points=points)
    if not weights:
        return WorkReason.NO_CARE_BASIS, _(
            "No logged care with an internal rate to divide this phase by. Add internal rates for this "
            "phase's care in a new version of the split rule, or divide the phase by fixed shares."
        )
    # A share (fixed, or a guaranteed minimum) for an organisation whose membership ended before the phase began
    # would pay a non-member: finance corrects the split rule (a new version) rather than the money going out.
    former = [
        ctx.memberships[o]
        for o in sorted(weights)
        if o in ctx.memberships
        and ctx.memberships[o][1] is not None
        and ctx.memberships[o][1] < line.service_start  # type: ignore[operator]
    ]
    if former:
        name, until = former[0]
        return WorkReason.NO_SPLIT_RULE, _(
            "The split rule gives a share of this phase to %(org)s, whose membership ended on %(until)s, before "
            "the phase began on %(d)s: correct the split rule."
        ) % {"org": name, "until": until.strftime("%d-%m-%Y"), "d": line.service_start.strftime("%d-%m-%Y")}  # type: ignore[union-attr]
    if kept is not None and kept.split_rule_id == rule.pk:
        result = [
            AllocationRow(line.tenant_id, line.pk, a.kind, None, a.amount, rule.pk, a.basis)
            for a in (kept.overhead, kept.reserve)
            if a is not None and a.amount
        ]
        members = total - sum((a.amount for a in result), Decimal(0))
    else:
        member_pct = HUNDRED - rule.overhead_pct - rule.reserve_pct
        head = split_largest_remainder(total, [rule.overhead_pct, rule.reserve_pct, member_pct])
        result = [
            AllocationRow(
                line.tenant_id, line.pk, kind, None, amount, rule.pk, AllocationBasis(percentage=pct)
            )
            for kind, amount, pct in (
                (AllocationKind.OVERHEAD, head[0], rule.overhead_pct),
                (AllocationKind.RESERVE, head[1], rule.reserve_pct),
            )
            if amount
        ]
        members = head[2]
    orgs = sorted(weights)
    parts = split_largest_remainder(members, [weights[o] for o in orgs])
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


def split_lines(*, lines: Sequence[Divisible], ctx: SplitContext | None = None) -> SplitResult:
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


def _kept_head(stored: list[Any]) -> KeptHead | None:
    """The overhead and reserve of a line's current allocations, when they were all made under one split
    rule version (they always are; a line allocated by hand otherwise is divided afresh)."""
    rules = {a.split_rule_id for a in stored}
    if len(rules) != 1 or None in rules:
        return None
    (rule_id,) = rules
    head = {
        a.kind: AllocationRow(
            a.tenant_id,
            a.claim_line_id,
            a.kind,
            None,
            a.amount,
            rule_id,
            AllocationBasis(percentage=None if a.percentage is None else Decimal(a.percentage)),
        )
        for a in stored
        if a.kind in (AllocationKind.OVERHEAD, AllocationKind.RESERVE)
    }
    return KeptHead(rule_id, head.get(AllocationKind.OVERHEAD), head.get(AllocationKind.RESERVE))


def resplit_changed(*, episodes: list[Episode], ctx: SplitContext) -> int:
    """Re-split the divided current lines of these episodes whose split no longer matches the logged care
    (resplit_lines). Returns how many lines were re-split."""
    lines = [line for line in current_debits([e.pk for e in episodes]) if line.allocated]
    return resplit_lines(lines=lines, ctx=ctx)


def resplit_lines(*, lines: Sequence[Divisible], ctx: SplitContext) -> int:
    """Re-split current lines whose split no longer matches the logged care (an event logged, corrected or
    voided later). The claim to the insurer does not change, so the line stays as it is, sent or not; its
    allocations are superseded (kept, marked not current) by new ones. Under the split rule version the line
    was divided by, its overhead and reserve stay as they were (`KeptHead`): only the members' part moves;
    a newer version in force on the line's start divides it wholly by its own percentages. Returns how many
    lines were re-split."""
    if not lines:
        return 0
    stored: dict[int, list[Any]] = defaultdict(list)
    # The basis of an overhead or reserve part is its percentage; a member's (with its events) is not read.
    for row in (
        Allocation.objects.filter(claim_line_id__in=[line.pk for line in lines], is_current=True)
        .annotate(percentage=KeyTextTransform("percentage", "basis"))
        .values_list(
            "claim_line_id",
            "pk",
            "tenant_id",
            "kind",
            "organisation_id",
            "amount",
            "split_rule_id",
            "percentage",
            named=True,
        )
    ):
        stored[row.claim_line_id].append(row)
    if not stored:
        return 0
    # A line the insurer awarded only in part is divided at what it awarded.
    awarded = dict(
        ReturnLine.objects.filter(
            batch_line__claim_line__in=list(stored), status=ReturnStatus.PARTIAL
        ).values_list("batch_line__claim_line_id", "awarded_amount")
    )
    superseded: list[int] = []
    new: list[AllocationRow] = []
    resplit = 0
    for line in lines:
        if line.pk not in stored:
            continue
        computed = compute_allocations(
            line, ctx, kept=_kept_head(stored[line.pk]), amount=awarded.get(line.pk)
        )
        if isinstance(computed, tuple) or _signature(computed) == _signature(stored[line.pk]):
            continue
        superseded.extend(a.pk for a in stored[line.pk])
        new.extend(computed)
        resplit += 1
    if superseded:
        Allocation.objects.filter(pk__in=superseded).update(is_current=False, superseded_at=timezone.now())
        _insert_allocations(new)
    return resplit
