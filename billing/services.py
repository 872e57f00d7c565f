"""The billing pipeline: contracts, split rules, the roll-up of episodes into claim lines, and the split
of each claim line among the IGO's members. Everything here is deterministic and idempotent: running
it twice, or concurrently, gives the same lines and allocations (database constraints back that up)."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, Protocol, TypeVar

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import (
    Allocation,
    AllocationKind,
    ClaimLine,
    Contract,
    ContractTariff,
    EpisodeBillingState,
    InternalRate,
    LineStatus,
    PartialRule,
    PrestatieCode,
    Sign,
    SplitMethod,
    SplitPhase,
    SplitRule,
    SplitShare,
    WorkItem,
)
from igo.models import Insurer, Tenant, User
from igo.money import split_largest_remainder, to_money
from igo.services import audit_record
from pregnancies.models import CareEvent, ClientInsurance, EndReason, Episode, EventStatus, Phase

HUNDRED = Decimal("100")
ROLLUP_REASONS = ("no_insurance", "no_contract", "not_covered")
SPLIT_REASONS = ("no_split_rule", "no_care_basis")
PHASES: list[str] = [Phase.PRENATAL, Phase.NATAL, Phase.POSTNATAL]


# --- contracts -------------------------------------------------------------------------------


def _check_percentage(errors: dict[str, list[str]], field: str, value: Decimal, places: int = 2) -> None:
    if value is None or value < 0 or value > 100:
        errors.setdefault(field, []).append(_("Enter a percentage from 0 to 100."))
    elif value != value.quantize(Decimal(1).scaleb(-places)):
        errors.setdefault(field, []).append(_("Use at most %(n)s decimals.") % {"n": places})


def _check_amount(errors: dict[str, list[str]], field: str, value: Decimal) -> None:
    if value is None or value < 0:
        errors.setdefault(field, []).append(_("A price cannot be negative."))
    elif value != value.quantize(Decimal("0.01")):
        errors.setdefault(field, []).append(_("A price has at most two decimals (whole cents)."))


@transaction.atomic
def contract_create(
    *,
    tenant: Tenant,
    actor: User,
    insurer: Insurer,
    name: str,
    valid_from: date,
    valid_until: date | None = None,
    overhead_pct: Decimal = Decimal("0"),
    reserve_pct: Decimal = Decimal("0"),
    submission_months: int = 12,
    tariffs: dict[str, tuple[str, Decimal]],
    partial_rules: Iterable[dict[str, Any]] = (),
) -> Contract:
    """A contract version. `tariffs` maps phase to (prestatie code, price); phases left out are not covered.

    A period that overlaps another version for the same insurer is refused: a new version starts after
    the previous one, whose end may be set with `contract_end`.
    """
    errors: dict[str, list[str]] = {}
    if valid_until is not None and valid_until < valid_from:
        errors.setdefault("valid_until", []).append(_("The end lies before the start."))
    _check_percentage(errors, "overhead_pct", overhead_pct)
    _check_percentage(errors, "reserve_pct", reserve_pct)
    if not errors and overhead_pct + reserve_pct > HUNDRED:
        errors.setdefault("reserve_pct", []).append(_("Overhead and reserve together exceed 100%."))
    if not tariffs:
        errors.setdefault("tariffs", []).append(_("A contract covers at least one phase."))
    for phase, (code, amount) in tariffs.items():
        if phase not in Phase.values:
            errors.setdefault("tariffs", []).append(_("Unknown phase %(phase)s.") % {"phase": phase})
        if not (code or "").strip():
            errors.setdefault(f"code_{phase}", []).append(_("Enter the prestatie code."))
        _check_amount(errors, f"amount_{phase}", amount)
    # When the operator keeps the code list (Vektis 069) in the reference table, a contract may only use
    # codes valid on its start date for the right phase; with an empty table, codes are taken as given.
    listed = PrestatieCode.objects.filter(valid_from__lte=valid_from).filter(
        Q(valid_until__isnull=True) | Q(valid_until__gte=valid_from)
    )
    if PrestatieCode.objects.exists():
        known = set(listed.values_list("code", "phase"))
        for phase, (code, _amount) in tariffs.items():
            if (code or "").strip() and (code.strip(), phase) not in known:
                errors.setdefault(f"code_{phase}", []).append(
                    _("%(code)s is not a %(phase)s prestatie code valid on %(date)s.")
                    % {
                        "code": code,
                        "phase": Phase(phase).label.lower(),
                        "date": valid_from.strftime("%d-%m-%Y"),
                    }
                )
    overlapping = Contract.objects.filter(insurer=insurer).filter(
        Q(valid_until__isnull=True) | Q(valid_until__gte=valid_from)
    )
    if valid_until is not None:
        overlapping = overlapping.filter(valid_from__lte=valid_until)
    clash = overlapping.order_by("valid_from").first()
    if clash is not None:
        errors.setdefault("valid_from", []).append(
            _(
                "This period overlaps the contract %(name)s with %(insurer)s (from %(start)s). "
                "End that version first or choose a later start."
            )
            % {"name": clash.name, "insurer": insurer.name, "start": clash.valid_from.strftime("%d-%m-%Y")}
        )
    if errors:
        raise ValidationError(errors)
    contract = Contract.objects.create(
        tenant=tenant,
        insurer=insurer,
        name=name.strip(),
        valid_from=valid_from,
        valid_until=valid_until,
        overhead_pct=overhead_pct,
        reserve_pct=reserve_pct,
        submission_months=submission_months,
        created_by=actor,
    )
    ContractTariff.objects.bulk_create(
        ContractTariff(
            tenant=tenant, contract=contract, phase=phase, prestatie_code=code.strip(), amount=amount
        )
        for phase, (code, amount) in tariffs.items()
    )
    for rule in partial_rules:
        pct_errors: dict[str, list[str]] = {}
        _check_percentage(pct_errors, "partial_rules", Decimal(rule.get("percentage", HUNDRED)))
        if pct_errors:
            raise ValidationError(pct_errors)
        phases = list(rule.get("phases", []))
        if rule.get("end_reason") not in EndReason.values or not set(phases) <= set(Phase.values):
            raise ValidationError(
                {"partial_rules": _("A rule for an early ending names an unknown reason or phase.")}
            )
        PartialRule.objects.create(
            tenant=tenant,
            contract=contract,
            end_reason=rule["end_reason"],
            before_week=rule.get("before_week"),
            phases=phases,
            percentage=Decimal(rule.get("percentage", HUNDRED)),
        )
    audit_record(
        actor=actor, action="contract.create", tenant=tenant, obj=contract, insurer=insurer.uzovi_code
    )
    return contract


@transaction.atomic
def contract_end(*, contract: Contract, actor: User, valid_until: date) -> Contract:
    if valid_until < contract.valid_from:
        raise ValidationError({"valid_until": _("The end lies before the start.")})
    if ClaimLine.objects.filter(contract=contract, service_start__gt=valid_until).exists():
        raise ValidationError({"valid_until": _("Claims already use this contract after that date.")})
    contract.valid_until = valid_until
    contract.save(update_fields=["valid_until"])
    audit_record(
        actor=actor, action="contract.end", tenant=contract.tenant, obj=contract, until=str(valid_until)
    )
    return contract


def contract_new_version(*, contract: Contract, actor: User, valid_from: date, **changes: Any) -> Contract:
    """End `contract` the day before `valid_from` and start a new version with the changes applied."""
    with transaction.atomic():
        contract_end(contract=contract, actor=actor, valid_until=valid_from - timedelta(days=1))
        tariffs = changes.pop("tariffs", None)
        if tariffs is None:
            tariffs = {t.phase: (t.prestatie_code, t.amount) for t in contract.tariffs.all()}
        rules = changes.pop("partial_rules", None)
        if rules is None:
            rules = [
                {
                    "end_reason": r.end_reason,
                    "before_week": r.before_week,
                    "phases": r.phases,
                    "percentage": r.percentage,
                }
                for r in contract.partial_rules.all()
            ]
        fields = {
            "insurer": contract.insurer,
            "name": contract.name,
            "valid_until": None,
            "overhead_pct": contract.overhead_pct,
            "reserve_pct": contract.reserve_pct,
            "submission_months": contract.submission_months,
            **changes,
        }
        return contract_create(
            tenant=contract.tenant,
            actor=actor,
            valid_from=valid_from,
            tariffs=tariffs,
            partial_rules=rules,
            **fields,
        )


# --- split rules -----------------------------------------------------------------------------


@transaction.atomic
def split_rule_create(
    *,
    tenant: Tenant,
    actor: User,
    year: int,
    valid_from: date | None = None,
    phases: dict[str, dict[str, Any]],
    rates: dict[int, Decimal] | None = None,
    note: str = "",
) -> SplitRule:
    """A version of the verdeelmodel. `phases` maps phase to {"method": fixed|care, "shares": {org_id: pct},
    "minimums": {org_id: pct}}; `rates` maps event-type id to its internal rate (method care)."""
    errors: dict[str, list[str]] = {}
    for phase, spec in phases.items():
        method = spec.get("method")
        shares = {k: Decimal(v) for k, v in (spec.get("shares") or {}).items()}
        minimums = {k: Decimal(v) for k, v in (spec.get("minimums") or {}).items()}
        if phase not in Phase.values or method not in SplitMethod.values:
            errors.setdefault(phase, []).append(_("Choose a phase and a method."))
            continue
        for pct in [*shares.values(), *minimums.values()]:
            _check_percentage(errors, phase, pct, places=3)
        if method == SplitMethod.FIXED and sum(shares.values(), Decimal(0)) != HUNDRED:
            errors.setdefault(phase, []).append(
                _("The shares of the %(phase)s phase add up to %(total)s%%, not 100%%.")
                % {
                    "phase": Phase(phase).label.lower(),
                    "total": format(sum(shares.values(), Decimal(0)).normalize(), "f"),
                }
            )
        if method == SplitMethod.CARE and sum(minimums.values(), Decimal(0)) > HUNDRED:
            errors.setdefault(phase, []).append(_("The guaranteed minimums add up to more than 100%."))
    if not phases:
        errors.setdefault("phases", []).append(_("A split rule divides at least one phase."))
    for rate in (rates or {}).values():
        _check_amount(errors, "rates", Decimal(rate))
    if errors:
        raise ValidationError(errors)
    version = (
        SplitRule.objects.filter(year=year).order_by("-version").values_list("version", flat=True).first()
        or 0
    ) + 1
    rule = SplitRule.objects.create(
        tenant=tenant,
        year=year,
        version=version,
        valid_from=valid_from or date(year, 1, 1),
        note=note,
        created_by=actor,
    )
    for phase, spec in phases.items():
        split_phase = SplitPhase.objects.create(tenant=tenant, rule=rule, phase=phase, method=spec["method"])
        orgs = set(spec.get("shares") or {}) | set(spec.get("minimums") or {})
        SplitShare.objects.bulk_create(
            SplitShare(
                tenant=tenant,
                split_phase=split_phase,
                organisation_id=org,
                share_pct=Decimal((spec.get("shares") or {}).get(org, 0)),
                minimum_pct=Decimal((spec.get("minimums") or {}).get(org, 0)),
            )
            for org in sorted(orgs)
        )
    InternalRate.objects.bulk_create(
        InternalRate(tenant=tenant, rule=rule, event_type_id=et, rate=Decimal(rate))
        for et, rate in (rates or {}).items()
    )
    audit_record(actor=actor, action="split_rule.create", tenant=tenant, obj=rule, year=year, version=version)
    return rule


# --- roll-up: from an episode to its claim lines ---------------------------------------------


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
    ended = episode.status == "ended"
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
    if episode.status != "ended" or episode.end_reason == EndReason.COMPLETED or episode.end_date is None:
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


def _insurance_on(insurances: Sequence[_V], day: date) -> _V | None:
    for ins in insurances:
        if ins.valid_from <= day and (ins.valid_until is None or day <= ins.valid_until):
            return ins
    return None


def _contract_on(contracts: list[Contract], insurer_id: int, day: date) -> Contract | None:
    for c in contracts:
        if (
            c.insurer_id == insurer_id
            and c.valid_from <= day
            and (c.valid_until is None or day <= c.valid_until)
        ):
            return c
    return None


def _work(
    episode: Episode | ClaimLine,
    phase: str,
    reason: str,
    message: str,
    open_items: set[tuple[int, str, str]],
) -> int:
    """Open a work item for an episode's phase (given the episode or one of its claim lines)."""
    episode_id = care_episode_id(episode) if isinstance(episode, ClaimLine) else episode.pk
    if (episode_id, phase, reason) in open_items:
        return 0
    WorkItem.objects.create(
        tenant_id=episode.tenant_id, episode_id=episode_id, phase=phase, reason=reason, message=message
    )
    open_items.add((episode_id, phase, reason))
    return 1


def care_episode_id(line: ClaimLine) -> int:
    """The episode of a care claim line (only a quality bonus or malus line has none)."""
    assert line.episode_id is not None, f"{line.number} is not a care line"
    return line.episode_id


def _line_number(episode: Episode | int, phase: str, sign: str, seq: int) -> str:
    episode_id = episode if isinstance(episode, int) else episode.pk
    return f"{episode_id}-{phase[:3].upper()}-{sign[0].upper()}{seq}"


def retire_line(line: ClaimLine, seq: int) -> ClaimLine | None:
    """Take a current debit out of use: a sent line gets a credit line, an unsent one is withdrawn."""
    if line.status == LineStatus.REJECTED:
        WorkItem.objects.filter(
            episode_id=care_episode_id(line), phase=line.phase, reason="rejected", resolved_at__isnull=True
        ).update(resolved_at=timezone.now())
    line.is_current = False
    if line.status == LineStatus.READY:
        line.status = LineStatus.WITHDRAWN
        line.save(update_fields=["is_current", "status"])
        # Its parts are reversed as of now, so dated member statements do not count them twice.
        Allocation.objects.filter(claim_line=line, is_current=True).update(
            is_current=False, superseded_at=timezone.now()
        )
        return None
    line.save(update_fields=["is_current"])
    credit = ClaimLine.objects.create(
        tenant_id=line.tenant_id,
        episode_id=line.episode_id,
        phase=line.phase,
        sign=Sign.CREDIT,
        number=_line_number(care_episode_id(line), line.phase, Sign.CREDIT, seq),
        prestatie_code=line.prestatie_code,
        contract=line.contract,
        tariff=line.tariff,
        percentage=line.percentage,
        insurer=line.insurer,
        policy_number=line.policy_number,
        service_start=line.service_start,
        service_end=line.service_end,
        amount=-line.amount,
        corrects=line,
        is_current=False,
    )
    _mirror_allocations(credit, line)
    return credit


def rollup_episodes(*, tenant: Tenant, episodes: list[Episode], today: date | None = None) -> RollupResult:
    """Bring the claim lines of these episodes in line with their care path. Call inside tenant_scope,
    with the episode rows locked by the caller (billing.tasks)."""
    today = today or timezone.localdate()
    result = RollupResult()
    ids = [e.pk for e in episodes]
    client_ids = {e.client_id for e in episodes}
    insurances: dict[int, list[_Insurance]] = defaultdict(list)
    for row in (
        ClientInsurance.objects.filter(client_id__in=client_ids)
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
    counts: dict[tuple[int, str], int] = defaultdict(int)
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
    resolve: list[tuple[int, str]] = []
    new_lines: list[ClaimLine] = []
    for episode in episodes:
        ins_list = insurances.get(episode.client_id, [])
        # Partial rules come from the contract in force at the start of the episode's first phase.
        first_ins = _insurance_on(ins_list, episode.intake_date)
        first_contract = (
            _contract_on(contracts, first_ins.insurer_id, episode.intake_date) if first_ins else None
        )
        rules = list(first_contract.partial_rules.all()) if first_contract else []
        wanted: dict[str, BillablePhase] = {}
        for p in billable_phases(episode, rules):
            claimed = current.get((episode.pk, p.phase))
            if phase_due(p, today, claimed.service_end if claimed else None):
                wanted[p.phase] = p
        for phase in PHASES:
            key = (episode.pk, phase)
            existing = current.get(key)
            bp = wanted.get(phase)
            if bp is None:
                if existing is not None:  # no longer billable (e.g. dates corrected): take it back
                    counts[key] += 1
                    retire_line(ClaimLine.objects.get(pk=existing.pk), counts[key])
                    result.replaced += 1
                continue
            ins = _insurance_on(ins_list, bp.start)
            if ins is None:
                result.work_items += _work(
                    episode,
                    phase,
                    "no_insurance",
                    _("No insurance on file on %(d)s.") % {"d": bp.start.strftime("%d-%m-%Y")},
                    open_items,
                )
                continue
            contract = _contract_on(contracts, ins.insurer_id, bp.start)
            if contract is None:
                result.work_items += _work(
                    episode,
                    phase,
                    "no_contract",
                    _("No contract with this insurer on %(d)s.") % {"d": bp.start.strftime("%d-%m-%Y")},
                    open_items,
                )
                continue
            tariff = next((t for t in contract.tariffs.all() if t.phase == phase), None)
            if tariff is None:
                result.work_items += _work(
                    episode,
                    phase,
                    "not_covered",
                    _("The contract %(c)s does not cover this phase.") % {"c": contract.name},
                    open_items,
                )
                continue
            amount = to_money(tariff.amount * bp.percentage / HUNDRED)
            resolve.append(key)
            if existing is not None and (
                existing.tariff_id,
                existing.insurer_id,
                existing.policy_number,
                existing.amount,
                existing.service_start,
                existing.service_end,
            ) == (tariff.pk, ins.insurer_id, ins.policy_number, amount, bp.start, bp.end):
                result.unchanged += 1
                continue
            if existing is not None:
                counts[key] += 1
                retire_line(ClaimLine.objects.get(pk=existing.pk), counts[key])
                result.replaced += 1
            counts[key] += 1
            new_lines.append(
                ClaimLine(
                    tenant=tenant,
                    episode=episode,
                    phase=phase,
                    sign=Sign.DEBIT,
                    number=_line_number(episode, phase, Sign.DEBIT, counts[key]),
                    prestatie_code=tariff.prestatie_code,
                    contract=contract,
                    tariff=tariff,
                    percentage=bp.percentage,
                    insurer_id=ins.insurer_id,
                    policy_number=ins.policy_number,
                    service_start=bp.start,
                    service_end=bp.end,
                    amount=amount,
                )
            )
    ClaimLine.objects.bulk_create(new_lines)
    result.created = len(new_lines)
    wanted_keys = set(resolve)
    open_keys = {(e, p) for e, p, r in open_items if r in ROLLUP_REASONS and (e, p) in wanted_keys}
    if open_keys:
        q = Q()
        for episode_id, phase in open_keys:
            q |= Q(episode_id=episode_id, phase=phase)
        WorkItem.objects.filter(q, resolved_at__isnull=True, reason__in=ROLLUP_REASONS).update(
            resolved_at=timezone.now()
        )
    return result


# --- split: from a claim line to allocations ---------------------------------------------------


def _mirror_allocations(credit: ClaimLine, original: ClaimLine) -> None:
    Allocation.objects.bulk_create(
        Allocation(
            tenant_id=a.tenant_id,
            claim_line=credit,
            kind=a.kind,
            organisation_id=a.organisation_id,
            amount=-a.amount,
            split_rule_id=a.split_rule_id,
            basis={"credit_of": original.number},
        )
        for a in original.allocations.filter(is_current=True)
    )


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
    basis: dict[str, Any]


def compute_allocations(line: ClaimLine, ctx: SplitContext) -> list[AllocationRow] | tuple[str, str]:
    """The allocations of a debit line, or (reason, message) when it cannot be split yet."""
    rule = rule_for(ctx.rules, line.service_start)
    split_phase = next((p for p in rule.phases.all() if p.phase == line.phase), None) if rule else None
    if rule is None or split_phase is None:
        return "no_split_rule", _("No split rule covers this phase on %(d)s.") % {
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
        return "no_care_basis", _("No logged care with an internal rate to divide this phase by.")
    contract = line.contract
    member_pct = HUNDRED - contract.overhead_pct - contract.reserve_pct
    head = split_largest_remainder(line.amount, [contract.overhead_pct, contract.reserve_pct, member_pct])
    orgs = sorted(weights)
    parts = split_largest_remainder(head[2], [weights[o] for o in orgs])
    result = [
        AllocationRow(line.tenant_id, line.pk, kind, None, amount, rule.pk, {"percentage": str(pct)})
        for kind, amount, pct in (
            (AllocationKind.OVERHEAD, head[0], contract.overhead_pct),
            (AllocationKind.RESERVE, head[1], contract.reserve_pct),
        )
        if amount
    ]
    for org, amount in zip(orgs, parts, strict=True):
        basis: dict[str, Any] = {"method": split_phase.method, "share": str(weights[org])}
        if split_phase.method == SplitMethod.CARE:
            basis |= {"points": str(points.get(org, Decimal(0))), "events": traced.get(org, [])}
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
    done: list[Q] = []
    for line in lines:
        computed = compute_allocations(line, ctx)
        if isinstance(computed, tuple):
            result.work_items += _work(line, line.phase, computed[0], computed[1], open_items)
            continue
        new.extend(computed)
        result.allocated += 1
        if any((line.episode_id, line.phase, r) in open_items for r in SPLIT_REASONS):
            done.append(Q(episode_id=line.episode_id, phase=line.phase))
    _insert_allocations(new)
    if done:
        q = Q()
        for cond in done:
            q |= cond
        WorkItem.objects.filter(q, resolved_at__isnull=True, reason__in=SPLIT_REASONS).update(
            resolved_at=timezone.now()
        )
    return result


_ALLOCATION_COLUMNS = (
    "tenant_id", "claim_line_id", "kind", "organisation_id", "amount", "split_rule_id", "basis",
    "created_at", "is_current",
)  # fmt: skip


def _insert_allocations(allocations: list[AllocationRow]) -> None:
    """Insert allocations with COPY (PostgreSQL): the per-object work of bulk_create dominated the run."""
    if connection.vendor != "postgresql" or not allocations:
        Allocation.objects.bulk_create(Allocation(**a._asdict()) for a in allocations)
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
                    json.dumps(a.basis),
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


# --- correction after sending, used by batches (issue 5) and tests ----------------------------


def claim_lines_mark_sent(*, lines: Iterable[ClaimLine]) -> int:
    """Mark ready lines as sent. From then on they are never changed, only credited."""
    ids = [line.pk for line in lines]
    return ClaimLine.objects.filter(pk__in=ids, status=LineStatus.READY).update(
        status=LineStatus.SENT, sent_at=timezone.now()
    )


# --- the run: set-based batches, safe to repeat and to run concurrently ------------------------

# Episodes per transaction. Configurable for the fault-injection tests (many small batches in one run).
BATCH_SIZE = int(os.environ.get("IGO_BILLING_BATCH_SIZE", "500"))
RECHECK_DAYS = 120  # ended episodes are re-checked daily this long (late corrections, deadlines)


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


def _candidates(today: date, now: datetime | None = None) -> Any:
    midnight = timezone.make_aware(datetime.combine(today, time.min))
    # Not checked today: before today's midnight, or at a moment this clock has not reached yet (it
    # stepped back since): such a check says nothing about today.
    not_today = Q(billing_state__checked_at__lt=midnight) | Q(
        billing_state__checked_at__gt=now or timezone.now()
    )
    recent = Q(status="active") | Q(end_date__gte=today - timedelta(days=RECHECK_DAYS))
    unallocated = ClaimLine.objects.filter(episode=OuterRef("pk"), is_current=True, sign=Sign.DEBIT).exclude(
        allocations__is_current=True
    )
    seen = F("billing_state__seen_changed_at")
    return Episode.objects.filter(
        Q(billing_state__isnull=True)
        | Q(billing_state__seen_changed_at__isnull=True)
        | Q(changed_at__gt=seen)
        | Q(changed_at__lt=seen)  # changed, whatever the clock said when it did
        | (not_today & recent)
        | Exists(unallocated)
    )


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
                    tenant=tenant, episode=e, checked_at=now, seen_changed_at=e.changed_at, seen_rules=rules
                )
                for e in locked
            ],
            update_conflicts=True,
            unique_fields=["episode"],
            update_fields=["checked_at", "seen_changed_at", "seen_rules"],
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
