"""Insurer contracts: versions with their tariffs per phase and rules for an early ending."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from billing.models import (
    ClaimLine,
    Contract,
    ContractTariff,
    PartialRule,
    PrestatieCode,
)
from igo.models import Insurer, Tenant, User
from igo.services import audit_record
from pregnancies.models import EndReason, Phase

HUNDRED = Decimal("100")


def check_percentage(errors: dict[str, list[str]], field: str, value: Decimal, places: int = 2) -> None:
    if value is None or value < 0 or value > 100:
        errors.setdefault(field, []).append(_("Enter a percentage from 0 to 100."))
    elif value != value.quantize(Decimal(1).scaleb(-places)):
        errors.setdefault(field, []).append(_("Use at most %(n)s decimals.") % {"n": places})


def check_amount(errors: dict[str, list[str]], field: str, value: Decimal) -> None:
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
    check_percentage(errors, "overhead_pct", overhead_pct)
    check_percentage(errors, "reserve_pct", reserve_pct)
    if not errors and overhead_pct + reserve_pct > HUNDRED:
        errors.setdefault("reserve_pct", []).append(_("Overhead and reserve together exceed 100%."))
    if not tariffs:
        errors.setdefault("tariffs", []).append(_("A contract covers at least one phase."))
    for phase, (code, amount) in tariffs.items():
        if phase not in Phase.values:
            errors.setdefault("tariffs", []).append(_("Unknown phase %(phase)s.") % {"phase": phase})
        if not (code or "").strip():
            errors.setdefault(f"code_{phase}", []).append(_("Enter the prestatie code."))
        check_amount(errors, f"amount_{phase}", amount)
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
        check_percentage(pct_errors, "partial_rules", Decimal(rule.get("percentage", HUNDRED)))
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


def contract_new_version(
    *,
    contract: Contract,
    actor: User,
    valid_from: date,
    valid_until: date | None = None,
    name: str | None = None,
    overhead_pct: Decimal | None = None,
    reserve_pct: Decimal | None = None,
    submission_months: int | None = None,
    tariffs: dict[str, tuple[str, Decimal]] | None = None,
    partial_rules: Iterable[dict[str, Any]] | None = None,
) -> Contract:
    """End `contract` the day before `valid_from` and start a new version from then, with the insurer of
    `contract` and, for every argument left None, its value there (the new version is open-ended unless
    `valid_until` is given)."""
    with transaction.atomic():
        contract_end(contract=contract, actor=actor, valid_until=valid_from - timedelta(days=1))
        if tariffs is None:
            tariffs = {t.phase: (t.prestatie_code, t.amount) for t in contract.tariffs.all()}
        if partial_rules is None:
            partial_rules = [
                {
                    "end_reason": r.end_reason,
                    "before_week": r.before_week,
                    "phases": r.phases,
                    "percentage": r.percentage,
                }
                for r in contract.partial_rules.all()
            ]
        return contract_create(
            tenant=contract.tenant,
            actor=actor,
            insurer=contract.insurer,
            name=contract.name if name is None else name,
            valid_from=valid_from,
            valid_until=valid_until,
            overhead_pct=contract.overhead_pct if overhead_pct is None else overhead_pct,
            reserve_pct=contract.reserve_pct if reserve_pct is None else reserve_pct,
            submission_months=contract.submission_months if submission_months is None else submission_months,
            tariffs=tariffs,
            partial_rules=partial_rules,
        )
