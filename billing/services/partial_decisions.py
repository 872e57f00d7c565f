"""Finance's decisions on interrupted phases the contract has no rule for: bill in full, a percentage, or
not at all, with the reason. Recorded, audited, and billed at once."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from billing.models import Contract, PartialChoice, PartialDecision
from billing.services.rollup import (
    contract_on,
    decision_percentage,
    gestational_week,
    insurance_on,
    interrupted_phase,
    partial_rule_for,
)
from billing.services.run import billing_run_batch
from igo.models import User
from igo.services import audit_record
from pregnancies.models import ClientInsurance, Episode

REASON_MAX = 500


def _percentage(errors: dict[str, list[str]], choice: str, value: Decimal | str | None) -> Decimal:
    """The percentage a choice bills: 100 in full, 0 not at all, the one given (0 to 100, whole cents of
    a percent) for a percentage."""
    if choice != PartialChoice.PERCENTAGE:
        return decision_percentage(choice, None)
    if value is None or value == "":
        errors.setdefault("percentage", []).append(_("Enter the percentage to bill."))
        return Decimal(0)
    try:
        pct = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        errors.setdefault("percentage", []).append(_("Enter a percentage from 0 to 100."))
        return Decimal(0)
    if not pct.is_finite() or pct < 0 or pct > 100:
        errors.setdefault("percentage", []).append(_("Enter a percentage from 0 to 100."))
    elif pct != pct.quantize(Decimal("0.01")):
        errors.setdefault("percentage", []).append(_("Use at most %(n)s decimals.") % {"n": 2})
    return pct


def partial_decision_record(
    *,
    episode: Episode,
    phase: str,
    choice: str,
    percentage: Decimal | str | None = None,
    reason: str,
    actor: User,
    today: date | None = None,
) -> PartialDecision:
    """Record finance's decision on the phase an early ending interrupted, for which the contract that
    bills it has no rule: it supersedes the current decision (kept), is audited, and the episode is billed
    again at once, so the work item that asked for it resolves. Refused, with nothing stored, without a
    reason, with a percentage outside 0–100, for a phase that is not the interrupted phase of an early
    ending, or when the contract has a rule for the case (the contract decides then). Call inside
    tenant_scope."""
    errors: dict[str, list[str]] = {}
    reason = (reason or "").strip()
    if not reason:
        errors.setdefault("reason", []).append(_("Give the reason for this decision."))
    elif len(reason) > REASON_MAX:
        errors.setdefault("reason", []).append(_("Keep the reason to %(n)s characters.") % {"n": REASON_MAX})
    if choice not in PartialChoice.values:
        errors.setdefault("choice", []).append(_("Choose what is billed."))
        pct = Decimal(0)
    else:
        pct = _percentage(errors, choice, percentage)
    with transaction.atomic():
        # The episode row is locked as the billing run locks it: the run below then takes it (a run in
        # another transaction skips it), and two decisions on one episode follow one another.
        locked = Episode.objects.select_for_update().get(pk=episode.pk)
        interrupted = interrupted_phase(locked)
        if interrupted is None or interrupted.phase != phase:
            errors.setdefault("phase", []).append(
                _(
                    "Only the phase an early ending interrupted is decided on; this phase is billed by its dates."
                )
            )
        else:
            week = gestational_week(locked, interrupted.end)
            contract = _contract_for(locked, interrupted.start)
            rule = (
                partial_rule_for(contract, end_reason=locked.end_reason, phase=phase, week=week)
                if contract is not None
                else None
            )
            if contract is not None and rule is not None:
                errors.setdefault("phase", []).append(
                    _("The contract %(contract)s has a rule for this case (%(pct)s%%); it decides.")
                    % {"contract": contract.name, "pct": rule.percentage}
                )
        if errors:
            raise ValidationError(errors)
        previous = (
            PartialDecision.objects.select_for_update()
            .filter(episode=locked, phase=phase, is_current=True)
            .first()
        )
        if previous is not None:
            previous.is_current = False
            previous.save(update_fields=["is_current"])
        decision = PartialDecision.objects.create(
            tenant_id=locked.tenant_id,
            episode=locked,
            phase=phase,
            end_reason=locked.end_reason,
            choice=choice,
            percentage=pct,
            reason=reason,
            decided_by=actor,
        )
        audit_record(
            actor=actor,
            action="partial_decision.record",
            tenant=locked.tenant,
            obj=decision,
            episode=locked.pk,
            phase=phase,
            choice=choice,
            percentage=str(pct),
            # How the care ended (a miscarriage, a death) and the free-text reason are clinical: they stay
            # on the decision itself (PartialDecision, shown with the episode), not in the audit trail.
            supersedes=previous.pk if previous is not None else None,
        )
        billing_run_batch(tenant=locked.tenant, episode_ids=[locked.pk], today=today)
    return decision


def _contract_for(episode: Episode, day: date) -> Contract | None:
    """The contract that bills a phase starting on `day`: the client's insurer then, its version then."""
    insurances = list(ClientInsurance.objects.filter(client_id=episode.client_id).order_by("valid_from"))
    ins = insurance_on(insurances, day)
    if ins is None:
        return None
    contracts = list(
        Contract.objects.filter(insurer_id=ins.insurer_id)
        .prefetch_related("partial_rules")
        .order_by("valid_from")
    )
    return contract_on(contracts, ins.insurer_id, day)
