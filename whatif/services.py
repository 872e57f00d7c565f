"""What-if simulations: apply a draft split rule or a draft contract version to the actual care of a period
and compare the result with what was actually billed and allocated; adopt a draft as the new version.

The billing rules live in one place: the simulation calls the billing run's own pure functions with the draft
substituted in memory (`rollup_under` for the lines a contract would bill, `compute_allocations` through a
`SplitContext` given the rules for their division). It never writes a claim line, an allocation or a work
item: only the Simulation row (its progress and results) is written."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import (
    Allocation,
    AllocationKind,
    ClaimLine,
    Contract,
    ReturnLine,
    ReturnStatus,
    Sign,
    SplitRule,
)
from billing.services.contracts import contract_new_version, contract_version_draft
from billing.services.rollup import rollup_under
from billing.services.split import SplitContext, SplitLine, compute_allocations, rule_for
from billing.services.split_rules import split_rule_create, split_rule_draft
from igo.models import Tenant, User
from igo.services import audit_record
from pregnancies.models import Episode
from whatif.models import Simulation, SimulationKind, SimulationStatus

CHUNK = 2000  # episodes read and computed at a time (a progress step)
TOP_EPISODES = 25
ZERO = Decimal("0.00")
OVERHEAD, RESERVE, UNALLOCATED = "overhead", "reserve", "unallocated"

# --- the draft, as JSON and as the arguments of the service that adopts it ---------------------------------


def split_draft_json(args: dict[str, Any]) -> dict[str, Any]:
    """`split_rule_create`'s arguments (as `SplitRuleForm.service_kwargs` gives them) as JSON."""
    valid_from = args.get("valid_from")
    return {
        "year": int(args["year"]),
        "valid_from": valid_from.isoformat() if valid_from else None,
        "overhead_pct": str(args.get("overhead_pct") or 0),
        "reserve_pct": str(args.get("reserve_pct") or 0),
        "note": args.get("note") or "",
        "phases": {
            phase: {
                "method": spec["method"],
                **{
                    key: {str(org): str(pct) for org, pct in (spec.get(key) or {}).items()}
                    for key in ("shares", "minimums")
                    if spec.get(key)
                },
            }
            for phase, spec in args["phases"].items()
        },
        "rates": {str(et): str(rate) for et, rate in (args.get("rates") or {}).items()},
    }


def split_draft_args(draft: dict[str, Any]) -> dict[str, Any]:
    """The stored draft back as `split_rule_create`'s arguments."""
    return {
        "year": draft["year"],
        "valid_from": dt.date.fromisoformat(draft["valid_from"]) if draft.get("valid_from") else None,
        "overhead_pct": Decimal(draft["overhead_pct"]),
        "reserve_pct": Decimal(draft["reserve_pct"]),
        "note": draft.get("note", ""),
        "phases": {
            phase: {
                "method": spec["method"],
                **{
                    key: {int(org): Decimal(pct) for org, pct in spec[key].items()}
                    for key in ("shares", "minimums")
                    if key in spec
                },
            }
            for phase, spec in draft["phases"].items()
        },
        "rates": {int(et): Decimal(rate) for et, rate in draft.get("rates", {}).items()},
    }


def contract_draft_json(
    *,
    contract: Contract,
    valid_from: dt.date,
    tariffs: dict[str, tuple[str, Decimal]],
    partial_rules: Iterable[dict[str, Any]],
) -> dict[str, Any]:
    """`contract_new_version`'s tariffs and partial rules (as the contract version form gives them) as JSON."""
    return {
        "contract": contract.pk,
        "valid_from": valid_from.isoformat(),
        "tariffs": {phase: [code, str(amount)] for phase, (code, amount) in tariffs.items()},
        "partial_rules": [
            {**rule, "percentage": None if rule.get("percentage") is None else str(rule["percentage"])}
            for rule in partial_rules
        ],
    }


def contract_draft_args(draft: dict[str, Any]) -> dict[str, Any]:
    return {
        "valid_from": dt.date.fromisoformat(draft["valid_from"]),
        "tariffs": {phase: (code, Decimal(amount)) for phase, (code, amount) in draft["tariffs"].items()},
        "partial_rules": [
            {**rule, "percentage": None if rule.get("percentage") is None else Decimal(rule["percentage"])}
            for rule in draft["partial_rules"]
        ],
    }


def draft_base(kind: str, draft: dict[str, Any]) -> dict[str, Any]:
    """What the draft stands on: every stored split rule version, or the contract's versions with the
    insurer and how the drafted one ends. Adoption is refused once this changed."""
    if kind == SimulationKind.SPLIT_RULE:
        return {"split_rules": sorted(SplitRule.objects.values_list("pk", flat=True))}
    contract = Contract.objects.get(pk=draft["contract"])
    versions = Contract.objects.filter(insurer_id=contract.insurer_id).order_by("pk")
    return {
        "contracts": [
            [pk, until.isoformat() if until else None]
            for pk, until in versions.values_list("pk", "valid_until")
        ]
    }


@dataclass
class Draft:
    """The draft substituted in memory: the split rules to divide by, and (a contract draft) the contracts
    to bill by."""

    rules: list[SplitRule]
    contracts: list[Contract] | None = None
    draft_rule: SplitRule | None = None


def _draft(simulation: Simulation) -> Draft:
    """The draft of a simulation in memory, checked by the same service functions that would store it."""
    rules = list(SplitRule.objects.prefetch_related("phases__shares", "rates"))
    if simulation.kind == SimulationKind.SPLIT_RULE:
        draft_rule = split_rule_draft(tenant=simulation.tenant, **split_draft_args(simulation.draft))
        return Draft(rules=[*rules, draft_rule], draft_rule=draft_rule)
    contract = Contract.objects.get(pk=simulation.draft["contract"])
    return Draft(
        rules=rules,
        contracts=contract_version_draft(contract=contract, **contract_draft_args(simulation.draft)),
    )


# --- writes ------------------------------------------------------------------------------------------------


@transaction.atomic
def simulation_create(
    *,
    tenant: Tenant,
    actor: User,
    kind: str,
    draft: dict[str, Any],
    period_start: dt.date,
    period_end: dt.date,
) -> Simulation:
    """A what-if of a draft (JSON: `split_draft_json` or `contract_draft_json`) over the care of a period,
    checked as the service that would adopt it checks it, and queued for the worker (`whatif.tasks`)."""
    if period_end < period_start:
        raise ValidationError({"period_end": [_("The end lies before the start.")]})
    simulation = Simulation(
        tenant=tenant,
        kind=kind,
        draft=draft,
        period_start=period_start,
        period_end=period_end,
        created_by=actor,
    )
    _draft(simulation)  # refuses a draft that could not be stored (ValidationError by field)
    simulation.base = draft_base(kind, draft)
    simulation.save()
    audit_record(
        actor=actor,
        action="whatif.create",
        tenant=tenant,
        obj=simulation,
        kind=kind,
        start=period_start.isoformat(),
        end=period_end.isoformat(),
    )
    from whatif import tasks  # the task module imports this one

    tasks.whatif_run.delay_on_commit(tenant.pk, simulation.pk)
    return simulation


@transaction.atomic
def simulation_adopt(*, simulation: Simulation, actor: User) -> SplitRule | Contract:
    """Store the draft of a finished simulation as the new version, through the service the normal form uses
    (its checks and audit entry). Refused when a version the draft stands on changed since it was made."""
    simulation = Simulation.objects.select_for_update().get(pk=simulation.pk)
    if simulation.status != SimulationStatus.DONE:
        raise ValidationError(_("Only a finished simulation can be adopted."))
    if simulation.adopted_at is not None:
        raise ValidationError(_("This draft was adopted already."))
    if draft_base(simulation.kind, simulation.draft) != simulation.base:
        raise ValidationError(
            _("The versions this draft was simulated against have changed since: simulate it again first.")
        )
    adopted: SplitRule | Contract
    if simulation.kind == SimulationKind.SPLIT_RULE:
        adopted = split_rule_create(
            tenant=simulation.tenant, actor=actor, **split_draft_args(simulation.draft)
        )
    else:
        contract = Contract.objects.get(pk=simulation.draft["contract"])
        adopted = contract_new_version(
            contract=contract, actor=actor, **contract_draft_args(simulation.draft)
        )
    simulation.adopted_at, simulation.adopted_by, simulation.adopted_id = timezone.now(), actor, adopted.pk
    simulation.save(update_fields=["adopted_at", "adopted_by", "adopted_id"])
    audit_record(
        actor=actor, action="whatif.adopt", tenant=simulation.tenant, obj=simulation, adopted=adopted.pk
    )
    return adopted


# --- the computation ---------------------------------------------------------------------------------------


def _pair() -> list[Decimal]:
    return [ZERO, ZERO]  # actual, simulated


@dataclass
class _Totals:
    members: dict[str, list[Decimal]] = field(default_factory=lambda: defaultdict(_pair))
    insurers: dict[int, list[Decimal]] = field(default_factory=lambda: defaultdict(_pair))
    phases: dict[str, list[Decimal]] = field(default_factory=lambda: defaultdict(_pair))
    episodes: list[dict[str, Any]] = field(default_factory=list)
    lines: int = 0
    changed_lines: int = 0


def _key(kind: str, organisation_id: int | None) -> str:
    return str(organisation_id) if kind == AllocationKind.MEMBER else kind


def simulation_compute(
    *,
    simulation: Simulation,
    today: dt.date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The results of a simulation (JSON, amounts as strings). Call inside tenant_scope.

    The actual side: the current debit lines of care that started in the period, and their current
    allocations. The simulated side: with a contract draft, the lines `rollup_under` makes with the draft
    among the contracts (a phase that starts in the period); with a split draft, the same lines as actually
    billed. A line is divided again (`compute_allocations`, with the draft among the split rules) when the
    draft touches it: a split draft in force on its start, or an amount the contract draft changed. Every
    other line keeps its actual allocation, so the differences are the draft's alone."""
    today = today or timezone.localdate()
    draft = _draft(simulation)
    lines = list(
        ClaimLine.objects.filter(
            is_current=True,
            sign=Sign.DEBIT,
            episode__isnull=False,
            service_start__gte=simulation.period_start,
            service_start__lte=simulation.period_end,
        )
        .order_by("episode_id", "phase")
        .values_list(
            "pk", "tenant_id", "episode_id", "number", "phase", "amount", "service_start", "insurer_id"
        )
    )
    episode_ids = sorted({row[2] for row in lines})
    if (
        draft.contracts is not None
    ):  # a contract draft may bill phases never billed: every episode of care then
        episode_ids = sorted(
            set(episode_ids)
            | set(
                Episode.objects.filter(
                    intake_date__lte=simulation.period_end,
                )
                .exclude(end_date__lt=simulation.period_start)
                .values_list("pk", flat=True)
            )
        )
    by_episode: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in lines:
        by_episode[row[2]].append(row)
    totals = _Totals()
    total = len(episode_ids)
    if progress:
        progress(0, total)
    for start in range(0, total, CHUNK):
        chunk = episode_ids[start : start + CHUNK]
        _compute_chunk(simulation, draft, chunk, by_episode, totals, today)
        if progress:
            progress(min(total, start + CHUNK), total)
    return _results(totals)


def _touched(draft: Draft, line: SplitLine, was: tuple[Any, ...] | None) -> bool:
    """Whether the draft acts on a line: a split draft in force on its start, or a contract draft that bills
    it (at another amount, or where nothing was billed)."""
    if draft.draft_rule is not None:
        return rule_for(draft.rules, line.service_start) is draft.draft_rule
    return was is None or line.amount != was[5]


def _compute_chunk(
    simulation: Simulation,
    draft: Draft,
    chunk: list[int],
    by_episode: dict[int, list[tuple[Any, ...]]],
    totals: _Totals,
    today: dt.date,
) -> None:
    actual_lines = [row for e in chunk for row in by_episode.get(e, [])]
    stored: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for line_id, kind, org, amount in Allocation.objects.filter(
        claim_line_id__in=[row[0] for row in actual_lines], is_current=True
    ).values_list("claim_line_id", "kind", "organisation_id", "amount"):
        stored[line_id][_key(kind, org)] = amount
    actual = {(row[2], row[4]): row for row in actual_lines}
    # A line the insurer awarded only in part is divided at what it awarded, as the run re-divides it
    # (billing.services.split); the simulation does the same while the draft bills the same amount.
    awarded: dict[int, Decimal] = {
        line_id: amount
        for line_id, amount in ReturnLine.objects.filter(
            batch_line__claim_line_id__in=[row[0] for row in actual_lines], status=ReturnStatus.PARTIAL
        ).values_list("batch_line__claim_line_id", "awarded_amount")
        if amount is not None  # a partial answer always states it (a check constraint)
    }
    # (episode, phase) -> (line as the split reads it, insurer id)
    simulated: dict[tuple[int, str], tuple[SplitLine, int]] = {}
    if draft.contracts is None:
        for row in actual_lines:
            simulated[(row[2], row[4])] = (SplitLine(*row[:7]), row[7])
    else:
        episodes = list(Episode.objects.filter(pk__in=chunk))
        for new in rollup_under(episodes=episodes, contracts=draft.contracts, today=today):
            if not simulation.period_start <= new.service_start <= simulation.period_end:
                continue
            key = (new.episode_id, new.phase)
            pk = actual[key][0] if key in actual else -len(simulated) - 1
            line = SplitLine(
                pk, simulation.tenant_id, new.episode_id, new.number, new.phase, new.amount, new.service_start
            )
            simulated[key] = (line, new.insurer_id)
    keys = sorted(set(actual) | set(simulated))
    # The lines the draft touches are divided again; only their care is read (as the run reads it).
    touched = {
        key for key in keys if key in simulated and _touched(draft, simulated[key][0], actual.get(key))
    }
    ctx = SplitContext(phases=touched, rules=draft.rules)
    moves: dict[int, dict[str, Any]] = {}
    for key in keys:
        episode_id, phase = key
        was = actual.get(key)
        sim = simulated.get(key)
        billed_actual = was[5] if was else ZERO
        billed_sim = sim[0].amount if sim else ZERO
        parts_actual = dict(stored.get(was[0], {})) if was else {}
        if was and not parts_actual and billed_actual:
            parts_actual[UNALLOCATED] = billed_actual
        parts_sim: dict[str, Decimal] = {}
        if sim is not None and key not in touched:
            parts_sim = dict(parts_actual)
        elif sim is not None:
            same_claim = was is not None and sim[0].amount == billed_actual
            computed = compute_allocations(
                sim[0], ctx, amount=awarded.get(was[0]) if was is not None and same_claim else None
            )
            if isinstance(computed, tuple):  # it would wait for finance: not divided
                parts_sim = {UNALLOCATED: sim[0].amount} if sim[0].amount else {}
            else:
                for a in computed:
                    parts_sim[_key(a.kind, a.organisation_id)] = a.amount
        totals.lines += 1
        for k in set(parts_actual) | set(parts_sim):
            totals.members[k][0] += parts_actual.get(k, ZERO)
            totals.members[k][1] += parts_sim.get(k, ZERO)
        if was:
            totals.insurers[was[7]][0] += billed_actual
        if sim:
            totals.insurers[sim[1]][1] += billed_sim
        totals.phases[phase][0] += billed_actual
        totals.phases[phase][1] += billed_sim
        diffs = {
            k: parts_sim.get(k, ZERO) - parts_actual.get(k, ZERO)
            for k in set(parts_actual) | set(parts_sim)
            if parts_sim.get(k, ZERO) != parts_actual.get(k, ZERO)
        }
        if not diffs and billed_actual == billed_sim:
            continue
        totals.changed_lines += 1
        move = moves.setdefault(
            episode_id,
            {"episode": episode_id, "billed": _pair(), "moved": ZERO, "parts": defaultdict(Decimal)},
        )
        move["billed"][0] += billed_actual
        move["billed"][1] += billed_sim
        for k, d in diffs.items():
            move["parts"][k] += d
    for move in moves.values():
        move["moved"] = sum((abs(d) for d in move["parts"].values()), ZERO) + abs(
            move["billed"][1] - move["billed"][0]
        )
    totals.episodes.extend(moves.values())
    totals.episodes.sort(key=lambda m: (-m["moved"], m["episode"]))
    del totals.episodes[TOP_EPISODES:]


def _rows(pairs: dict[Any, list[Decimal]]) -> list[dict[str, str]]:
    return [
        {"key": str(k), "actual": str(a), "simulated": str(s), "difference": str(s - a)}
        for k, (a, s) in sorted(pairs.items(), key=lambda item: str(item[0]))
    ]


def _results(totals: _Totals) -> dict[str, Any]:
    return {
        "members": _rows(totals.members),
        "insurers": _rows(totals.insurers),
        "phases": _rows(totals.phases),
        "episodes": [
            {
                "episode": m["episode"],
                "billed_actual": str(m["billed"][0]),
                "billed_simulated": str(m["billed"][1]),
                "moved": str(m["moved"]),
                "parts": {k: str(d) for k, d in sorted(m["parts"].items())},
            }
            for m in totals.episodes
        ],
        "lines": totals.lines,
        "changed_lines": totals.changed_lines,
    }


def _failed(simulation_id: int, message: str) -> None:
    Simulation.objects.filter(pk=simulation_id).update(
        status=SimulationStatus.FAILED, error=message[:300], finished_at=timezone.now()
    )


def simulation_run(*, simulation_id: int, today: dt.date | None = None) -> Simulation:
    """Compute a queued simulation and store its results on it (its progress as it goes). Call inside
    tenant_scope. A finished one is left as it is (a redelivered task does nothing again)."""
    claimed = Simulation.objects.filter(
        pk=simulation_id, status__in=[SimulationStatus.QUEUED, SimulationStatus.RUNNING]
    ).update(status=SimulationStatus.RUNNING)
    simulation = Simulation.objects.get(pk=simulation_id)
    if not claimed:
        return simulation

    def progress(done: int, total: int) -> None:
        Simulation.objects.filter(pk=simulation_id).update(done=done, total=total)

    try:
        results = simulation_compute(simulation=simulation, today=today, progress=progress)
    except ValidationError as exc:  # a version it reads changed under it
        _failed(simulation_id, " ".join(exc.messages))
    except Exception:  # the page must not wait for ever (a time limit, a lost connection): fail, and log it
        _failed(simulation_id, _("The simulation stopped with an error; try again."))
        raise
    else:
        Simulation.objects.filter(pk=simulation_id).update(
            status=SimulationStatus.DONE, results=results, finished_at=timezone.now()
        )
    simulation.refresh_from_db()
    return simulation
