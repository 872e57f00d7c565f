"""Split rules (the verdeelmodel): versions that take off the IGO's overhead and risk reserve and divide the
rest of each phase among the members."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from billing.models import (
    InternalRate,
    SplitMethod,
    SplitPhase,
    SplitRule,
    SplitShare,
)
from billing.services.contracts import check_amount, check_percentage
from billing.services.run import episodes_mark_recheck_split
from igo.models import Tenant, User
from igo.services import audit_record
from pregnancies.models import EventType, Phase
from providers.models import MemberOrganisation

HUNDRED = Decimal("100")


def split_rule_check(
    *,
    phases: dict[str, dict[str, Any]],
    rates: dict[int, Decimal] | None = None,
    overhead_pct: Decimal = Decimal("0"),
    reserve_pct: Decimal = Decimal("0"),
    year: int | None = None,
    valid_from: date | None = None,
) -> None:
    """Refuse a verdeelmodel that cannot be stored (ValidationError by field): what `split_rule_create` checks
    before it writes, and what a what-if draft (`split_rule_draft`) must pass before it is simulated. A start
    outside the version's year is refused: the rule that divides a line is chosen by its start date alone, so
    a "2027" version starting in 2025 would divide 2025's lines and have them all divided again."""
    errors: dict[str, list[str]] = {}
    if year is not None and valid_from is not None and valid_from.year != year:
        errors.setdefault("valid_from", []).append(
            _("The start lies in %(other)s, outside the version's year %(year)s.")
            % {"other": valid_from.year, "year": year}
        )
    overhead_pct, reserve_pct = Decimal(overhead_pct), Decimal(reserve_pct)
    check_percentage(errors, "overhead_pct", overhead_pct)
    check_percentage(errors, "reserve_pct", reserve_pct)
    if not errors and overhead_pct + reserve_pct > HUNDRED:
        errors.setdefault("reserve_pct", []).append(_("Overhead and reserve together exceed 100%."))
    rated_phases = _rated_phases(rates or {})
    for phase, spec in phases.items():
        method = spec.get("method")
        shares = {k: Decimal(v) for k, v in (spec.get("shares") or {}).items()}
        minimums = {k: Decimal(v) for k, v in (spec.get("minimums") or {}).items()}
        if phase not in Phase.values or method not in SplitMethod.values:
            errors.setdefault(phase, []).append(_("Choose a phase and a method."))
            continue
        for pct in [*shares.values(), *minimums.values()]:
            check_percentage(errors, phase, pct, places=3)
        if method == SplitMethod.FIXED and sum(shares.values(), Decimal(0)) != HUNDRED:
            errors.setdefault(phase, []).append(
                _("The shares of the %(phase)s phase add up to %(total)s%%, not 100%%.")
                % {
                    "phase": Phase(phase).label.lower(),
                    # In the user's language: 99,999 in Dutch (three thirds of 33,333), 99.999 in English.
                    "total": number_format(sum(shares.values(), Decimal(0)).normalize()),
                }
            )
        if method == SplitMethod.CARE and sum(minimums.values(), Decimal(0)) > HUNDRED:
            errors.setdefault(phase, []).append(_("The guaranteed minimums add up to more than 100%."))
        if method == SplitMethod.CARE and phase not in rated_phases:
            # Without a rate no care counts: every line of the phase would wait in the work queue.
            errors.setdefault(phase, []).append(
                _(
                    "Dividing the %(phase)s phase by care needs an internal rate for at least one active care "
                    "event of that phase: fill in a rate, or divide the phase by fixed shares."
                )
                % {"phase": Phase(phase).label.lower()}
            )
    if not phases:
        errors.setdefault("phases", []).append(_("A split rule divides at least one phase."))
    start = valid_from or (date(year, 1, 1) if year is not None else None)
    if start is not None:
        named = {
            str(o)
            for spec in phases.values()
            for o, pct in [*(spec.get("shares") or {}).items(), *(spec.get("minimums") or {}).items()]
            if Decimal(pct) > 0
        }
        for org in MemberOrganisation.objects.filter(
            pk__in=[int(o) for o in named if str(o).isdecimal()], member_until__lt=start
        ).order_by("name"):
            errors.setdefault("phases", []).append(
                _("%(org)s is no longer a member (its membership ended on %(until)s): it cannot get a share.")
                % {
                    "org": org.name,
                    "until": org.member_until.strftime("%d-%m-%Y") if org.member_until else "",
                }
            )
    for event_type_id, rate in (rates or {}).items():
        check_amount(errors, f"rate_{event_type_id}", Decimal(rate))  # the form's field of that entry
    if errors:
        raise ValidationError(errors)


def _rated_phases(rates: dict[int, Decimal]) -> set[str]:
    """The phases in which some active catalogue entry has a positive internal rate (an entry without a
    phase counts in every phase), in one query in the current tenant."""
    ids = []
    for event_type_id, rate in rates.items():
        try:
            if Decimal(rate) > 0:
                ids.append(int(event_type_id))
        except (ArithmeticError, TypeError, ValueError):
            continue  # check_amount reports it at its field
    phases: set[str] = set()
    for phase in EventType.objects.filter(pk__in=ids, is_active=True).values_list("phase", flat=True):
        phases.update([phase] if phase else Phase.values)
    return phases


@transaction.atomic
def split_rule_create(
    *,
    tenant: Tenant,
    actor: User,
    year: int,
    valid_from: date | None = None,
    phases: dict[str, dict[str, Any]],
    rates: dict[int, Decimal] | None = None,
    overhead_pct: Decimal = Decimal("0"),
    reserve_pct: Decimal = Decimal("0"),
    note: str = "",
) -> SplitRule:
    """A version of the verdeelmodel. `overhead_pct` and `reserve_pct` are the IGO's own part of every claim
    line (the same whatever the insurer), taken off before the members' part is divided; `phases` maps phase
    to {"method": fixed|care, "shares": {org_id: pct}, "minimums": {org_id: pct}}; `rates` maps event-type
    id to its internal rate (method care)."""
    overhead_pct, reserve_pct = Decimal(overhead_pct), Decimal(reserve_pct)
    split_rule_check(
        phases=phases,
        rates=rates,
        overhead_pct=overhead_pct,
        reserve_pct=reserve_pct,
        year=year,
        valid_from=valid_from,
    )
    version = (
        SplitRule.objects.filter(year=year).order_by("-version").values_list("version", flat=True).first()
        or 0
    ) + 1
    rule = SplitRule.objects.create(
        tenant=tenant,
        year=year,
        version=version,
        valid_from=valid_from or date(year, 1, 1),
        overhead_pct=overhead_pct,
        reserve_pct=reserve_pct,
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
    audit_record(
        actor=actor,
        action="split_rule.create",
        tenant=tenant,
        obj=rule,
        year=year,
        version=version,
        overhead_pct=str(overhead_pct),
        reserve_pct=str(reserve_pct),
    )
    # Lines already made from its first day are divided again by the next run, however long ago their
    # episode ended.
    episodes_mark_recheck_split(valid_from=rule.valid_from)
    return rule


def split_rule_draft(
    *,
    tenant: Tenant,
    year: int,
    valid_from: date | None = None,
    phases: dict[str, dict[str, Any]],
    rates: dict[int, Decimal] | None = None,
    overhead_pct: Decimal = Decimal("0"),
    reserve_pct: Decimal = Decimal("0"),
    note: str = "",
) -> SplitRule:
    """The version `split_rule_create` would store with these arguments, built in memory only (nothing is
    written): checked the same way, numbered as the next version of its year, with its phases, shares and
    rates where `billing.services.split.compute_allocations` reads them (as if prefetched). It stands in the
    split rules a `SplitContext` is given, for the what-if simulation (the `whatif` app). Its rows carry
    negative ids: a related manager needs an id, and no stored row has a negative one."""
    overhead_pct, reserve_pct = Decimal(overhead_pct), Decimal(reserve_pct)
    split_rule_check(
        phases=phases,
        rates=rates,
        overhead_pct=overhead_pct,
        reserve_pct=reserve_pct,
        year=year,
        valid_from=valid_from,
    )
    version = (
        SplitRule.objects.filter(year=year).order_by("-version").values_list("version", flat=True).first()
        or 0
    ) + 1
    rule = SplitRule(
        pk=-1,
        tenant=tenant,
        year=year,
        version=version,
        valid_from=valid_from or date(year, 1, 1),
        overhead_pct=overhead_pct,
        reserve_pct=reserve_pct,
        note=note,
    )
    split_phases = []
    for n, (phase, spec) in enumerate(phases.items(), start=1):
        split_phase = SplitPhase(pk=-n, tenant=tenant, rule=rule, phase=phase, method=spec["method"])
        orgs = set(spec.get("shares") or {}) | set(spec.get("minimums") or {})
        split_phase._prefetched_objects_cache = {  # type: ignore[attr-defined]
            "shares": [
                SplitShare(
                    tenant=tenant,
                    split_phase=split_phase,
                    organisation_id=org,
                    share_pct=Decimal((spec.get("shares") or {}).get(org, 0)),
                    minimum_pct=Decimal((spec.get("minimums") or {}).get(org, 0)),
                )
                for org in sorted(orgs)
            ]
        }
        split_phases.append(split_phase)
    rule._prefetched_objects_cache = {  # type: ignore[attr-defined]
        "phases": split_phases,
        "rates": [
            InternalRate(tenant=tenant, rule=rule, event_type_id=et, rate=Decimal(rate))
            for et, rate in (rates or {}).items()
        ],
    }
    return rule
