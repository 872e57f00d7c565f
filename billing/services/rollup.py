"""The roll-up: from an episode's care path to its claim lines, one current debit per ended phase.

Partial trajectories by phase reached: after an early ending the phases completed are billed in full, the
interrupted phase at the contract's rule for that end reason, phase and week (or finance's decision when
there is none), and a phase not reached never."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol, TypeVar

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone, translation
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from billing.models import (
    ROLLUP_REASONS,
    ClaimLine,
    Contract,
    PartialChoice,
    PartialDecision,
    PartialRule,
    Sign,
    WorkItem,
    WorkReason,
)
from billing.services.claim_lines import line_number, retire_line
from igo.dates import add_months
from igo.models import Tenant
from igo.money import to_money
from pregnancies.models import ClientInsurance, EndReason, Episode, EpisodeStatus, Phase

HUNDRED = Decimal("100")
PHASES: list[str] = [Phase.PRENATAL, Phase.NATAL, Phase.POSTNATAL]


@dataclass(frozen=True)
class BillablePhase:
    """A phase that has ended, with its dates. `interrupted`: the phase an early ending (anything but
    "care completed") cut short; the contract's partial rule or finance's decision says what it bills."""

    phase: str
    start: date
    end: date
    interrupted: bool = False


def gestational_week(episode: Episode, day: date) -> int:
    return (episode.gestational_age_at_intake + (day - episode.intake_date).days) // 7


def _local(moment: datetime) -> date:
    return timezone.localdate(moment)


def is_early_ending(episode: Episode) -> bool:
    return episode.status == EpisodeStatus.ENDED and episode.end_reason != EndReason.COMPLETED


def ended_phases(episode: Episode) -> list[BillablePhase]:
    """The phases an episode reached that have ended, in care order, from its own fields.

    Prenatal care starts at the intake and completes at the start of active labour; natal care is reached
    then and completes at placenta + 2 hours; postnatal care is reached then and completes at the end of
    postnatal care (or when the episode ended with its care completed). A completed phase ends on its own
    date. When the episode ended, the first phase it reached but did not complete ends on the end date: in
    full after "care completed", otherwise it is the interrupted phase. A phase not reached never ends,
    so it is never billed (a birth that did not happen is not claimed)."""
    ended = episode.status == EpisodeStatus.ENDED and episode.end_date is not None
    early = ended and episode.end_reason != EndReason.COMPLETED
    labour = _local(episode.labour_started_at) if episode.labour_started_at else None
    placenta = _local(episode.placenta_plus_2h_at) if episode.placenta_plus_2h_at else None
    post_end = episode.postnatal_ended_on or (episode.end_date if ended and not early else None)
    reached: list[tuple[str, date, date | None]] = [(Phase.PRENATAL, episode.intake_date, labour)]
    if labour is not None:
        reached.append((Phase.NATAL, labour, placenta))
    if placenta is not None:
        reached.append((Phase.POSTNATAL, placenta, post_end))
    result = []
    for phase, start, end in reached:
        if end is not None:
            result.append(BillablePhase(phase, start, end))
            continue
        if ended and episode.end_date is not None:
            result.append(BillablePhase(phase, start, episode.end_date, interrupted=early))
        break
    return result


def phase_end_days(episode: Episode) -> set[date]:
    """Every day a phase of this episode can end on (`ended_phases`): the local days of the start of labour
    and of placenta + 2 hours, the end of postnatal care and the end date. The billing run's candidates
    (billing.services.run.phase_end_expressions) are the same four in SQL; a test holds them together."""
    return {
        d
        for d in (
            _local(episode.labour_started_at) if episode.labour_started_at else None,
            _local(episode.placenta_plus_2h_at) if episode.placenta_plus_2h_at else None,
            episode.postnatal_ended_on,
            episode.end_date,
        )
        if d is not None
    }


def interrupted_phase(episode: Episode) -> BillablePhase | None:
    """The phase an early ending cut short (None when the episode did not end early, or ended after
    every phase it reached had completed)."""
    return next((p for p in ended_phases(episode) if p.interrupted), None)


def partial_rule_for(contract: Contract, *, end_reason: str, phase: str, week: int) -> PartialRule | None:
    """The contract's rule for a phase interrupted by `end_reason` at gestational week `week` (bands of one
    end reason and phase do not overlap; should two, the lowest band counts). Reads the prefetched rules."""
    matching = [
        r
        for r in contract.partial_rules.all()
        if r.end_reason == end_reason and r.phase == phase and r.covers_week(week)
    ]
    return min(matching, key=lambda r: (r.from_week or 0, r.pk)) if matching else None


def phase_amount(tariff: Decimal, percentage: Decimal) -> Decimal:
    """What a phase claims: its tariff times the percentage it is billed at, in whole cents (the books check's
    `mispriced` rule computes the same in SQL)."""
    return to_money(tariff * percentage / HUNDRED)


def submission_deadline(contract: Contract, service_end: date) -> date:
    """The last day a phase can be claimed: the contract's submission term after the end of the care. The
    pre-send check holds back a line past it; the roll-up makes no new line past it."""
    return add_months(service_end, contract.submission_months)


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
    prestatie_code: str
    tariff_amount: Decimal | None
    percentage: Decimal
    insurer_id: int
    policy_number: str
    amount: Decimal
    service_start: date
    service_end: date


# The columns of a _CurrentLine, in its order (the tariff's price is read through the line's tariff).
_CURRENT_COLUMNS = tuple("tariff__amount" if f == "tariff_amount" else f for f in _CurrentLine._fields)


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
    explanation: dict[str, Any]


class _Retire(NamedTuple):
    """A current debit to take out of use, and the sequence number of its credit."""

    line_id: int
    seq: int


class _Work(NamedTuple):
    episode_id: int
    phase: str
    reason: WorkReason
    message: str
    amount: Decimal | None = None


@dataclass(frozen=True)
class RollupInputs:
    """What the roll-up of a set of episodes reads, in a fixed number of queries whatever their number."""

    insurances: dict[int, list[_Insurance]]  # by client id, oldest first
    contracts: list[Contract]  # oldest first, with their tariffs and partial rules
    current: dict[tuple[int, str], _CurrentLine]  # the current debit by (episode id, phase)
    counts: dict[tuple[int, str], int]  # how many lines (episode id, phase) has had: the next number
    open_items: set[tuple[int, str, str]]  # open work items: (episode id, phase, reason)
    # Finance's current decisions on interrupted phases without a contract rule, by (episode id, phase).
    decisions: dict[tuple[int, str], PartialDecision] = field(default_factory=dict)


@dataclass
class RollupDecisions:
    """What the roll-up will write: lines to retire (in this order) and to make, work items to open, and
    the open roll-up work items (episode id, phase, reason) that no longer apply."""

    retire: list[_Retire] = field(default_factory=list)
    create: list[_NewLine] = field(default_factory=list)
    work: list[_Work] = field(default_factory=list)
    resolve: set[tuple[int, str, str]] = field(default_factory=set)
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
        *_CURRENT_COLUMNS
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
    decisions = {
        (d.episode_id, d.phase): d
        for d in PartialDecision.objects.filter(episode_id__in=ids, is_current=True).select_related(
            "decided_by"
        )
    }
    return RollupInputs(dict(insurances), contracts, current, counts, open_items, decisions)


class _Price(NamedTuple):
    """The percentage a phase is billed at and how it was reached (ClaimLine.explanation)."""

    percentage: Decimal
    explanation: dict[str, Any]


def partial_explanation(rule: PartialRule, *, end_reason: str, week: int) -> dict[str, Any]:
    return {
        "partial": {
            "end_reason": end_reason,
            "week": week,
            "rule": rule.pk,
            "from_week": rule.from_week,
            "until_week": rule.until_week,
            "percentage": str(rule.percentage),
        }
    }


def decision_percentage(choice: str, percentage: Decimal | None) -> Decimal:
    """What a decision bills of the tariff: all of it, the percentage given, or nothing."""
    if choice == PartialChoice.FULL:
        return HUNDRED
    if choice == PartialChoice.NONE:
        return Decimal(0)
    return Decimal(percentage if percentage is not None else 0)


def _decision_explanation(decision: PartialDecision) -> dict[str, Any]:
    return {
        "decision": {
            "id": decision.pk,
            "choice": decision.choice,
            "percentage": str(decision.percentage),
            "reason": decision.reason,
            "by": str(decision.decided_by),
            "at": decision.decided_at.isoformat(),
        }
    }


def rollup_decide(*, episodes: list[Episode], inputs: RollupInputs, today: date) -> RollupDecisions:
    """Which claim lines these episodes should have on `today`, compared with what they have: no query,
    no write (it reads only `inputs` and the episodes' own fields).

    Per phase, the first thing missing stops it, as a work item: insurance, contract, tariff, and for the
    phase an early ending interrupted a partial rule or finance's decision. A phase never claimed whose
    submission deadline passed gets no line but a work item with the amount lost. Each phase has at most
    one open roll-up work item: the others of that phase resolve."""
    decisions = RollupDecisions()
    counts = dict(inputs.counts)
    opened = set(inputs.open_items)

    def next_seq(key: tuple[int, str]) -> int:
        counts[key] = counts.get(key, 0) + 1
        return counts[key]

    def settle(key: tuple[int, str], reason: WorkReason | None = None) -> None:
        """The roll-up work item of this phase is now `reason` (None: none); the others resolve."""
        decisions.resolve |= {
            (e, p, r)
            for e, p, r in inputs.open_items
            if (e, p) == key and r in ROLLUP_REASONS and r != reason
        }

    def work(key: tuple[int, str], reason: WorkReason, message: str, amount: Decimal | None = None) -> None:
        settle(key, reason)
        if (*key, reason) not in opened:
            opened.add((*key, reason))
            decisions.work.append(_Work(*key, reason, message[:300], amount))

    for episode in episodes:
        ins_list = inputs.insurances.get(episode.client_id, [])
        early = is_early_ending(episode)
        wanted: dict[str, BillablePhase] = {}
        for p in ended_phases(episode):
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
                settle(key)
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
            price = _price(episode, bp, contract, inputs.decisions.get(key), early=early)
            if isinstance(price, str):  # no rule and no decision: finance decides, nothing is guessed
                if existing is not None:
                    decisions.retire.append(_Retire(existing.pk, next_seq(key)))
                work(key, WorkReason.NO_PARTIAL_RULE, price)
                continue
            if price is None:  # finance decided not to bill it
                if existing is not None:
                    decisions.retire.append(_Retire(existing.pk, next_seq(key)))
                settle(key)
                continue
            amount = phase_amount(tariff.amount, price.percentage)
            # Compared as the insurer receives the claim (prestatie, tariff, percentage, amount), not by the
            # tariff row: a version that starts under claims already made (a retroactive tariff change,
            # billing.services.repricing) leaves a line whose price it did not change on the older version's
            # row, and crediting it only to claim the very same again would be refused by the insurer.
            if existing is not None and (
                existing.prestatie_code,
                existing.tariff_amount,
                existing.percentage,
                existing.insurer_id,
                existing.policy_number,
                existing.amount,
                existing.service_start,
                existing.service_end,
            ) == (
                tariff.prestatie_code,
                tariff.amount,
                price.percentage,
                ins.insurer_id,
                ins.policy_number,
                amount,
                bp.start,
                bp.end,
            ):
                decisions.unchanged += 1
                settle(key)
                continue
            deadline = submission_deadline(contract, bp.end)
            if existing is None and counts.get(key, 0) == 0 and deadline < today:
                # Never claimed, and too late to: say so, with what is lost.
                work(
                    key,
                    WorkReason.DEADLINE_PASSED,
                    _("Submission deadline passed on %(d)s: %(amount)s can no longer be claimed.")
                    % {"d": _day(deadline), "amount": _euro(amount)},
                    amount,
                )
                continue
            settle(key)
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
                    percentage=price.percentage,
                    insurer_id=ins.insurer_id,
                    policy_number=ins.policy_number,
                    service_start=bp.start,
                    service_end=bp.end,
                    amount=amount,
                    explanation=price.explanation,
                )
            )
    return decisions


def _price(
    episode: Episode,
    bp: BillablePhase,
    contract: Contract,
    decision: PartialDecision | None,
    *,
    early: bool,
) -> _Price | str | None:
    """The percentage of the tariff a phase is billed at, with how it was reached; None when finance
    decided not to bill it; or, for an interrupted phase without a rule or decision, the message of the
    work item that asks finance to decide."""
    if not bp.interrupted:
        return _Price(HUNDRED, {"completed": True} if early else {})
    end_reason = episode.end_reason
    week = gestational_week(episode, bp.end)
    rule = partial_rule_for(contract, end_reason=end_reason, phase=bp.phase, week=week)
    if rule is not None:
        return _Price(rule.percentage, partial_explanation(rule, end_reason=end_reason, week=week))
    if decision is not None and decision.end_reason == end_reason:
        if decision.choice == PartialChoice.NONE:
            return None
        return _Price(
            decision_percentage(decision.choice, decision.percentage), _decision_explanation(decision)
        )
    return _(
        "Contract %(contract)s has no rule for the %(phase)s phase interrupted by “%(reason)s” at week "
        "%(week)s: finance decides what is billed."
    ) % {
        "contract": contract.name,
        "phase": Phase(bp.phase).label.lower(),
        "reason": EndReason(end_reason).label,
        "week": week,
    }


def _day(day: date) -> str:
    return day.strftime("%d-%m-%Y")


def _euro(amount: Decimal) -> str:
    return "€ " + number_format(amount, 2, use_l10n=True, force_grouping=True)


def _rollup_apply(tenant: Tenant, decisions: RollupDecisions) -> None:
    if decisions.retire:
        # Locked and read again, in one order: an insurer's answer recorded since the decision (a rejection:
        # the line is only taken out of use, no credit) is seen, and one recorded after waits for this
        # transaction and then finds the credit unsent (`rejected_credits.credits_of_rejected_settle`).
        lines = {
            line.pk: line
            for line in ClaimLine.objects.select_for_update()
            .filter(pk__in=[r.line_id for r in decisions.retire])
            .order_by("pk")
        }
        for r in decisions.retire:
            retire_line(lines[r.line_id], r.seq)
    if decisions.resolve:
        q = Q()
        for episode_id, phase, reason in decisions.resolve:
            q |= Q(episode_id=episode_id, phase=phase, reason=reason)
        WorkItem.objects.filter(q, resolved_at__isnull=True).update(resolved_at=timezone.now())
    WorkItem.objects.bulk_create(WorkItem(tenant=tenant, **w._asdict()) for w in decisions.work)
    ClaimLine.objects.bulk_create(
        ClaimLine(tenant=tenant, sign=Sign.DEBIT, **line._asdict()) for line in decisions.create
    )


def rollup_episodes(*, tenant: Tenant, episodes: list[Episode], today: date | None = None) -> RollupResult:
    """Bring the claim lines of these episodes in line with their care path: load what they have, decide
    what they should have, write the difference. Call inside tenant_scope, with the episode rows locked by
    the caller (billing.services.run). Work items are written in the IGO's language (read in its work
    queue), whoever started the run."""
    with translation.override(settings.LANGUAGE_CODE):
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


def rollup_under(*, episodes: list[Episode], contracts: list[Contract], today: date) -> list[_NewLine]:
    """The debit lines these episodes would have on `today` were the contracts `contracts` (e.g. with a
    draft version among them, `billing.services.contracts.contract_version_draft`), decided by `rollup_decide` as if none of their phases had a current line: nothing is written.
    For the what-if simulation; a phase a work item stops has no line here."""
    inputs = _rollup_load(episodes)
    inputs = RollupInputs(
        inputs.insurances, contracts, {}, inputs.counts, inputs.open_items, inputs.decisions
    )
    with translation.override(settings.LANGUAGE_CODE):
        decisions = rollup_decide(episodes=episodes, inputs=inputs, today=today)
    return decisions.create
