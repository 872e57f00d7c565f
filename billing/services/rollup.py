"""The roll-up: from an episode's care path to its claim lines, one current debit per ended phase."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple, Protocol, TypeVar

from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import (
    ROLLUP_REASONS,
    ClaimLine,
    Contract,
    PartialRule,
    Sign,
    WorkItem,
    WorkReason,
)
from billing.services.claim_lines import line_number, retire_line
from billing.services.work_items import work_items_resolve
from igo.models import Tenant
from igo.money import to_money
from pregnancies.models import ClientInsurance, EndReason, Episode, EpisodeStatus, Phase

HUNDRED = Decimal("100")
PHASES: list[str] = [Phase.PRENATAL, Phase.NATAL, Phase.POSTNATAL]


@dataclass(frozen=True)
class BillablePhase:
    phase: str
    start: date
    end: date
    percentage: Decimal


def gestational_week(episode: Episode, day: date) -> int:
    return (episode.gestational_age_at_intake + (day - episode.intake_date).days) // 7


def _local(moment: datetime) -> date:
    return timezone.localdate(moment)


def ended_phases(episode: Episode) -> list[BillablePhase]:
    """The phases that have ended, with their dates (before any partial-trajectory rule)."""
    ended = episode.status == EpisodeStatus.ENDED
    result = []
    if episode.labour_started_at:
        result.append(
            BillablePhase(Phase.PRENATAL, episode.intake_date, _local(episode.labour_started_at), HUNDRED)
        )
    elif ended and episode.end_date:
        result.append(BillablePhase(Phase.PRENATAL, episode.intake_date, episode.end_date, HUNDRED))
    if episode.labour_started_at and episode.placenta_plus_2h_at:
        result.append(
            BillablePhase(
                Phase.NATAL, _local(episode.labour_started_at), _local(episode.placenta_plus_2h_at), HUNDRED
            )
        )
        post_end = episode.postnatal_ended_on or (episode.end_date if ended else None)
        if post_end:
            result.append(
                BillablePhase(Phase.POSTNATAL, _local(episode.placenta_plus_2h_at), post_end, HUNDRED)
            )
    return result


def billable_phases(episode: Episode, rules: list[PartialRule]) -> list[BillablePhase]:
    """Apply the contract's rules for an early ending (anything but 'care completed')."""
    phases = ended_phases(episode)
    if (
        episode.status != EpisodeStatus.ENDED
        or episode.end_reason == EndReason.COMPLETED
        or episode.end_date is None
    ):
        return phases
    end_date: date = episode.end_date
    week = gestational_week(episode, end_date)
    matching = [
        r
        for r in rules
        if r.end_reason == episode.end_reason and (r.before_week is None or week < r.before_week)
    ]
    if not matching:
        return phases
    # The most specific rule wins: the lowest week threshold, then the one without threshold.
    rule = min(matching, key=lambda r: (r.before_week is None, r.before_week or 0, r.pk))
    reached = {p.phase: p for p in phases}
    return [
        BillablePhase(p.phase, p.start, p.end, rule.percentage) for p in phases if p.phase in rule.phases
    ] + [
        # "Since 2023 an early ending is billed under the prenatal prestatie": a rule may bill a phase that
        # was not reached; it then covers the whole episode.
        BillablePhase(ph, episode.intake_date, end_date, rule.percentage)
        for ph in rule.phases
        if ph not in reached
    ]


def phase_due(phase: BillablePhase, today: date, claimed_end: date | None) -> bool:
    """Whether a phase is claimed on `today`: it ended by then, or the current claim already has this very
    end. A clock that stepped back (an NTP correction, a day) must not take back a claim made while it read
    later, which would send the insurer a credit and the same debit again: only a change of the phase's
    own end does that."""
    return phase.end <= today or phase.end == claimed_end


@dataclass
class RollupResult:
    created: int = 0
    replaced: int = 0
    unchanged: int = 0
    work_items: int = 0


class _Validity(Protocol):
    @property
    def valid_from(self) -> date: ...
    @property
    def valid_until(self) -> date | None: ...


_V = TypeVar("_V", bound=_Validity)


class _Insurance(NamedTuple):
    """What the roll-up reads of a client's insurance (tuples: a run reads one per episode it checks)."""

    client_id: int
    insurer_id: int
    policy_number: str
    valid_from: date
    valid_until: date | None


class _CurrentLine(NamedTuple):
    """What the roll-up compares of a current debit line; the model instance is read only to retire it."""

    pk: int
    episode_id: int
    phase: str
    tariff_id: int | None
    insurer_id: int
    policy_number: str
    amount: Decimal
    service_start: date
    service_end: date


def insurance_on(insurances: Sequence[_V], day: date) -> _V | None:
    for ins in insurances:
        if ins.valid_from <= day and (ins.valid_until is None or day <= ins.valid_until):
            return ins
    return None


def contract_on(contracts: list[Contract], insurer_id: int, day: date) -> Contract | None:
    for c in contracts:
        if (
            c.insurer_id == insurer_id
            and c.valid_from <= day
            and (c.valid_until is None or day <= c.valid_until)
        ):
            return c
    return None


class _NewLine(NamedTuple):
    """A debit line the roll-up decided to make."""

    episode_id: int
    phase: str
    number: str
    prestatie_code: str
    contract_id: int
    tariff_id: int
    percentage: Decimal
    insurer_id: int
    policy_number: str
    service_start: date
    service_end: date
    amount: Decimal


class _Retire(NamedTuple):
    """A current debit to take out of use, and the sequence number of its credit."""

    line_id: int
    seq: int


class _Work(NamedTuple):
    episode_id: int
    phase: str
    reason: WorkReason
    message: str


@dataclass(frozen=True)
class RollupInputs:
    """What the roll-up of a set of episodes reads, in a fixed number of queries whatever their number."""

    insurances: dict[int, list[_Insurance]]  # by client id, oldest first
    contracts: list[Contract]  # oldest first, with their tariffs and partial rules
    current: dict[tuple[int, str], _CurrentLine]  # the current debit by (episode id, phase)
    counts: dict[tuple[int, str], int]  # how many lines (episode id, phase) has had: the next number
    open_items: set[tuple[int, str, str]]  # open work items: (episode id, phase, reason)


@dataclass
class RollupDecisions:
    """What the roll-up will write: lines to retire (in this order) and to make, work items to open, and
    the (episode id, phase) pairs whose roll-up work items no longer apply."""

    retire: list[_Retire] = field(default_factory=list)
    create: list[_NewLine] = field(default_factory=list)
    work: list[_Work] = field(default_factory=list)
    resolve: set[tuple[int, str]] = field(default_factory=set)
    unchanged: int = 0


def _rollup_load(episodes: list[Episode]) -> RollupInputs:
    ids = [e.pk for e in episodes]
    insurances: dict[int, list[_Insurance]] = defaultdict(list)
    for row in (
        ClientInsurance.objects.filter(client_id__in={e.client_id for e in episodes})
        .order_by("valid_from")
        .values_list(*_Insurance._fields)
    ):
        ins_row = _Insurance(*row)
        insurances[ins_row.client_id].append(ins_row)
    contracts = list(Contract.objects.prefetch_related("tariffs", "partial_rules").order_by("valid_from"))
    current: dict[tuple[int, str], _CurrentLine] = {}
    for row in ClaimLine.objects.filter(episode_id__in=ids, is_current=True, sign=Sign.DEBIT).values_list(
        *_CurrentLine._fields
    ):
        line_row = _CurrentLine(*row)
        current[(line_row.episode_id, line_row.phase)] = line_row
    counts: dict[tuple[int, str], int] = {}
    for episode_id, phase, n in (
        ClaimLine.objects.filter(episode_id__in=ids)
        .values("episode_id", "phase")
        .annotate(n=Count("pk"))
        .values_list("episode_id", "phase", "n")
        .order_by()
    ):
        counts[(episode_id, phase)] = n
    open_items = set(
        WorkItem.objects.filter(episode_id__in=ids, resolved_at__isnull=True).values_list(
            "episode_id", "phase", "reason"
        )
    )
    return RollupInputs(dict(insurances), contracts, current, counts, open_items)


def rollup_decide(*, episodes: list[Episode], inputs: RollupInputs, today: date) -> RollupDecisions:
    """Which claim lines these episodes should have on `today`, compared with what they have: no query,
    no write (it reads only `inputs` and the episodes' own fields)."""
    decisions = RollupDecisions()
    counts = dict(inputs.counts)
    opened = set(inputs.open_items)
    resolve: set[tuple[int, str]] = set()

    def next_seq(key: tuple[int, str]) -> int:
        counts[key] = counts.get(key, 0) + 1
        return counts[key]

    def work(key: tuple[int, str], reason: WorkReason, message: str) -> None:
        if (*key, reason) not in opened:
            opened.add((*key, reason))
            decisions.work.append(_Work(*key, reason, message))

    for episode in episodes:
        ins_list = inputs.insurances.get(episode.client_id, [])
        # Partial rules come from the contract in force at the start of the episode's first phase.
        first_ins = insurance_on(ins_list, episode.intake_date)
        first_contract = (
            contract_on(inputs.contracts, first_ins.insurer_id, episode.intake_date) if first_ins else None
        )
        rules = list(first_contract.partial_rules.all()) if first_contract else []
        wanted: dict[str, BillablePhase] = {}
        for p in billable_phases(episode, rules):
            claimed = inputs.current.get((episode.pk, p.phase))
            if phase_due(p, today, claimed.service_end if claimed else None):
                wanted[p.phase] = p
        for phase in PHASES:
            key = (episode.pk, phase)
            existing = inputs.current.get(key)
            bp = wanted.get(phase)
            if bp is None:
                if existing is not None:  # no longer billable (e.g. dates corrected): take it back
                    decisions.retire.append(_Retire(existing.pk, next_seq(key)))
                continue
            ins = insurance_on(ins_list, bp.start)
            if ins is None:
                work(
                    key, WorkReason.NO_INSURANCE, _("No insurance on file on %(d)s.") % {"d": _day(bp.start)}
                )
                continue
            contract = contract_on(inputs.contracts, ins.insurer_id, bp.start)
            if contract is None:
                work(
                    key,
                    WorkReason.NO_CONTRACT,
                    _("No contract with this insurer on %(d)s.") % {"d": _day(bp.start)},
                )
                continue
            tariff = next((t for t in contract.tariffs.all() if t.phase == phase), None)
            if tariff is None:
                work(
                    key,
                    WorkReason.NOT_COVERED,
                    _("The contract %(c)s does not cover this phase.") % {"c": contract.name},
                )
                continue
            amount = to_money(tariff.amount * bp.percentage / HUNDRED)
            resolve.add(key)
            if existing is not None and (
                existing.tariff_id,
                existing.insurer_id,
                existing.policy_number,
                existing.amount,
                existing.service_start,
                existing.service_end,
            ) == (tariff.pk, ins.insurer_id, ins.policy_number, amount, bp.start, bp.end):
                decisions.unchanged += 1
                continue
            if existing is not None:
                decisions.retire.append(_Retire(existing.pk, next_seq(key)))
            decisions.create.append(
                _NewLine(
                    episode_id=episode.pk,
                    phase=phase,
                    number=line_number(episode, phase, Sign.DEBIT, next_seq(key)),
                    prestatie_code=tariff.prestatie_code,
                    contract_id=contract.pk,
                    tariff_id=tariff.pk,
                    percentage=bp.percentage,
                    insurer_id=ins.insurer_id,
                    policy_number=ins.policy_number,
                    service_start=bp.start,
                    service_end=bp.end,
                    amount=amount,
                )
            )
    decisions.resolve = {(e, p) for e, p, r in inputs.open_items if r in ROLLUP_REASONS and (e, p) in resolve}
    return decisions


def _day(day: date) -> str:
    return day.strftime("%d-%m-%Y")


def _rollup_apply(tenant: Tenant, decisions: RollupDecisions) -> None:
    if decisions.retire:
        lines = ClaimLine.objects.in_bulk([r.line_id for r in decisions.retire])
        for r in decisions.retire:
            retire_line(lines[r.line_id], r.seq)
    WorkItem.objects.bulk_create(WorkItem(tenant=tenant, **w._asdict()) for w in decisions.work)
    ClaimLine.objects.bulk_create(
        ClaimLine(tenant=tenant, sign=Sign.DEBIT, **line._asdict()) for line in decisions.create
    )
    work_items_resolve(phases=decisions.resolve, reasons=ROLLUP_REASONS)


def rollup_episodes(*, tenant: Tenant, episodes: list[Episode], today: date | None = None) -> RollupResult:
    """Bring the claim lines of these episodes in line with their care path: load what they have, decide
    what they should have, write the difference. Call inside tenant_scope, with the episode rows locked by
    the caller (billing.services.run)."""
    decisions = rollup_decide(
        episodes=episodes, inputs=_rollup_load(episodes), today=today or timezone.localdate()
    )
    _rollup_apply(tenant, decisions)
    return RollupResult(
        created=len(decisions.create),
        replaced=len(decisions.retire),
        unchanged=decisions.unchanged,
        work_items=len(decisions.work),
    )
