"""Quality agreements in insurer contracts, and the bonus or malus they give at the end of their year.

The target is read as on the quality dashboard (quality.indicators.target_decision): met or not met only
when the 95 % confidence interval of the year's value lies wholly on one side of it; otherwise it is not
yet decidable and there is neither bonus nor malus (the agreement page says why).

The bonus or malus is one claim line per agreement and year (a debit for a bonus, a credit for a malus),
priced as a percentage of what was claimed from that insurer in that year. It carries its explanation
(indicator result, target, base amount, percentage) and is divided among the members in proportion to
the parts they received of the claims it was computed on. It goes to the insurer in the next monthly batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import (
    QUALITY_PHASE,
    Allocation,
    AllocationBasis,
    ClaimLine,
    Contract,
    LineStatus,
    QualityAgreement,
    Sign,
)
from billing.services.claim_lines import quality_line_number, retire_line
from billing.services.partial_awards import settled_amount
from igo.models import Tenant, User
from igo.money import split_largest_remainder, to_money
from igo.services import audit_record
from quality import indicators

HUNDRED = Decimal(100)


def agreement_errors(
    *,
    contract: Contract,
    indicator: str | None,
    year: int | None,
    target: Decimal | None,
    bonus_pct: Decimal | None,
    malus_pct: Decimal | None,
) -> dict[str, list[str]]:
    """Every reason to refuse these terms of a quality agreement, by field, all at once. A value that did
    not parse (None) is skipped, so a form shows its own error there and these for the other fields."""
    errors: dict[str, list[str]] = {}
    definition = indicators.BY_CODE.get(indicator) if indicator is not None else None
    if indicator is not None and (definition is None or not definition.better):
        errors.setdefault("indicator", []).append(
            _("Choose an indicator with a direction (higher or lower is better).")
        )
    if year is not None and not (
        contract.valid_from.year <= year
        and (contract.valid_until is None or year <= contract.valid_until.year)
    ):
        errors.setdefault("year", []).append(_("The contract is not in force in this year."))
    if target is not None and (
        target < 0 or (definition is not None and definition.unit == "percent" and target > HUNDRED)
    ):
        errors.setdefault("target", []).append(_("Enter a target the indicator can reach."))
    for name, value in (("bonus_pct", bonus_pct), ("malus_pct", malus_pct)):
        if value is None:
            continue
        if not Decimal(0) <= value <= Decimal(10):
            errors.setdefault(name, []).append(_("Enter a percentage from 0 to 10."))
        elif value != value.quantize(Decimal("0.01")):
            errors.setdefault(name, []).append(_("Use at most two decimals."))
    if (
        indicator is not None
        and year is not None
        and QualityAgreement.objects.filter(
            contract__insurer_id=contract.insurer_id, indicator=indicator, year=year
        ).exists()
    ):
        errors.setdefault("indicator", []).append(
            _("There is already an agreement with this insurer on this indicator for this year.")
        )
    return errors


def agreement_create(
    *,
    contract: Contract,
    actor: User,
    indicator: str,
    year: int,
    target: Decimal,
    bonus_pct: Decimal = Decimal(0),
    malus_pct: Decimal = Decimal(0),
) -> QualityAgreement:
    """Add a quality agreement to a contract version. Refused with field-level reasons."""
    errors = agreement_errors(
        contract=contract,
        indicator=indicator,
        year=year,
        target=target,
        bonus_pct=bonus_pct,
        malus_pct=malus_pct,
    )
    if errors:
        raise ValidationError(errors)
    agreement = QualityAgreement.objects.create(
        tenant_id=contract.tenant_id,
        contract=contract,
        indicator=indicator,
        year=year,
        target=target,
        bonus_pct=bonus_pct,
        malus_pct=malus_pct,
        created_by=actor,
    )
    audit_record(
        actor=actor,
        action="quality_agreement.create",
        tenant=contract.tenant,
        obj=agreement,
        indicator=indicator,
        year=year,
        target=str(target),
        bonus_pct=str(bonus_pct),
        malus_pct=str(malus_pct),
    )
    return agreement


@dataclass
class AgreementResult:
    numerator: Decimal
    denominator: Decimal
    value: Decimal | None
    met: bool | None  # None: nothing to measure, or not yet decidable: neither bonus nor malus
    base: Decimal
    percentage: Decimal
    amount: Decimal  # signed: positive bonus, negative malus, 0 for nothing
    # The dashboard's reading (quality.indicators.target_decision): "met", "not_met", "undecidable" (the
    # 95 % interval contains the target) or None (nothing measured); and the interval in the unit.
    decision: str | None = None
    lower: Decimal | None = None
    upper: Decimal | None = None

    def explanation(self, agreement: QualityAgreement) -> dict[str, Any]:
        definition = indicators.BY_CODE[agreement.indicator]
        return {
            "indicator": agreement.indicator,
            "year": agreement.year,
            "numerator": str(self.numerator),
            "denominator": str(self.denominator),
            "value": None if self.value is None else str(self.value),
            "unit": definition.unit,
            "target": str(agreement.target),
            "better": definition.better,
            "met": self.met,
            "decision": self.decision,
            "ci_lower": None if self.lower is None else str(self.lower),
            "ci_upper": None if self.upper is None else str(self.upper),
            "ci_method": "clopper-pearson-95" if self.lower is not None else None,
            "base": str(self.base),
            "percentage": str(self.percentage),
            "contract": agreement.contract_id,
        }


def _base_lines(agreement: QualityAgreement) -> Any:
    """The care claim lines the percentage applies to: the lines to the contract's insurer (under any
    version of the contract) whose prestatie ended in the agreement's year, debit and credit, that the
    insurer keeps: not withdrawn before sending, not rejected (a rejected debit booked nothing and is
    claimed again by a new line; a refused credit leaves its line with the insurer), and no credit of a
    rejected line (it takes back nothing)."""
    return (
        ClaimLine.objects.filter(
            insurer_id=agreement.contract.insurer_id,
            agreement__isnull=True,
            service_end__year=agreement.year,
        )
        .exclude(status__in=(LineStatus.WITHDRAWN, LineStatus.REJECTED))
        .exclude(sign=Sign.CREDIT, corrects__status=LineStatus.REJECTED)
    )


def agreement_result(
    agreement: QualityAgreement, tallies: dict[Any, indicators.Tally] | None = None
) -> AgreementResult:
    """Measure the agreement's indicator over its year for the whole IGO. Call inside tenant_scope."""
    year = agreement.year
    if tallies is None:
        tallies = indicators.compute(start=date(year, 1, 1), end=date(year + 1, 1, 1))
    num = den = Decimal(0)
    clients: set[int] = set()
    for (code, _month, org), t in tallies.items():
        if code == agreement.indicator and org is None:
            num += t.numerator
            den += t.denominator
            clients |= t.denominator_episodes
    definition = indicators.BY_CODE[agreement.indicator]
    value = definition.value(num, den)
    decision = indicators.target_decision(definition, num, den, len(clients), agreement.target)
    met = {indicators.MET: True, indicators.NOT_MET: False}.get(decision or "")
    bounds = indicators.interval(definition, num, den)
    base = _base_lines(agreement).aggregate(s=Sum(settled_amount()))["s"] or Decimal("0.00")
    pct = agreement.bonus_pct if met else agreement.malus_pct
    amount = Decimal("0.00")
    if met is not None and base > 0:
        amount = to_money(base * pct / HUNDRED) * (1 if met else -1)
    return AgreementResult(
        num,
        den,
        value,
        met,
        base,
        pct if met is not None else Decimal(0),
        amount,
        decision,
        bounds[0] if bounds else None,
        bounds[1] if bounds else None,
    )


def _allocate(line: ClaimLine, agreement: QualityAgreement) -> None:
    """Divide the line like the parts of the claims it was computed on: overhead, reserve and each member
    in proportion to what they received of those claims."""
    parts = (
        Allocation.objects.filter(claim_line__in=_base_lines(agreement), is_current=True)
        .values("kind", "organisation_id")
        .annotate(s=Sum("amount"))
        .order_by("kind", "organisation_id")
    )
    keys = [(p["kind"], p["organisation_id"], p["s"]) for p in parts if p["s"] > 0]
    if not keys:
        return
    total = sum((k[2] for k in keys), Decimal(0))
    amounts = split_largest_remainder(line.amount, [k[2] for k in keys])
    Allocation.objects.bulk_create(
        Allocation(
            tenant_id=line.tenant_id,
            claim_line=line,
            kind=kind,
            organisation_id=org,
            amount=amount,
            basis=AllocationBasis(
                method="quality",
                agreement=agreement.pk,
                share=(received / total).quantize(Decimal("0.000001")),
                share_pct=(received * HUNDRED / total).quantize(Decimal("0.0001")),
                received=received,
            ).to_json(),
        )
        for (kind, org, received), amount in zip(keys, amounts, strict=True)
        if amount
    )


PRESTATIE_CODE_LENGTH = 16


def indicator_claim_code(indicator: str) -> str:
    """The prestatie code of an indicator's bonus/malus line: "Q-" and the indicator's code in 16
    characters. A code that does not fit loses its underscores and then letters from its longest words, one
    at a time, so that versions of one indicator stay apart ("perinatal_mortality_28d" and
    "perinatal_mortality_24w_28d" give Q-PERINMORTAL28D and Q-PERIMORT24W28D)."""
    room = PRESTATIE_CODE_LENGTH - 2
    code = indicator.upper()
    if len(code) <= room:
        return f"Q-{code}"
    words = [w for w in code.split("_") if w]
    while sum(map(len, words)) > room:
        longest = max(range(len(words)), key=lambda i: (len(words[i]), -i))
        words[longest] = words[longest][:-1]
    return "Q-" + "".join(words)


def prestatie_code(agreement: QualityAgreement) -> str:
    return indicator_claim_code(agreement.indicator)


@dataclass
class SettleResult:
    agreements: int = 0
    lines: int = 0
    replaced: int = 0
    unchanged: int = 0


def quality_settle(
    *, tenant: Tenant, year: int, today: date | None = None, actor: User | None = None
) -> SettleResult:
    """Bring the bonus/malus lines of a year's agreements in line with the indicators. Only after the year
    has ended; safe to repeat (an unchanged result changes nothing; a changed one replaces the line, by a
    counter line once it was sent). Call inside tenant_scope."""
    today = today or timezone.localdate()
    if today <= date(year, 12, 31):
        raise ValidationError({"year": _("A year can be settled only after it has ended.")})
    result = SettleResult()
    agreements = list(QualityAgreement.objects.filter(year=year).select_related("contract"))
    if not agreements:
        return result
    tallies = indicators.compute(start=date(year, 1, 1), end=date(year + 1, 1, 1))
    with transaction.atomic():
        for agreement in QualityAgreement.objects.select_for_update().filter(
            pk__in=[a.pk for a in agreements]
        ):
            result.agreements += 1
            outcome = agreement_result(agreement, tallies)
            explanation = outcome.explanation(agreement)
            current = ClaimLine.objects.filter(agreement=agreement, is_current=True).first()
            if current is not None:
                if current.amount == outcome.amount and current.explanation == explanation:
                    result.unchanged += 1
                    continue
                seq = ClaimLine.objects.filter(agreement=agreement).count() + 1
                retire_line(current, seq)
                result.replaced += 1
            if not outcome.amount:
                continue
            sign = Sign.DEBIT if outcome.amount > 0 else Sign.CREDIT
            line = ClaimLine.objects.create(
                tenant=tenant,
                agreement=agreement,
                phase=QUALITY_PHASE,
                sign=sign,
                number=quality_line_number(
                    agreement.pk, sign, ClaimLine.objects.filter(agreement=agreement).count() + 1
                ),
                prestatie_code=prestatie_code(agreement),
                contract=agreement.contract,
                percentage=outcome.percentage,
                insurer_id=agreement.contract.insurer_id,
                policy_number="",
                service_start=date(year, 1, 1),
                service_end=date(year, 12, 31),
                amount=outcome.amount,
                explanation=explanation,
            )
            _allocate(line, agreement)
            result.lines += 1
        audit_record(actor=actor, action="quality.settle", tenant=tenant, year=year, **{
            "agreements": result.agreements, "lines": result.lines, "replaced": result.replaced,
        })  # fmt: skip
    return result


def quality_line_comment(line: ClaimLine) -> str:
    """One line of text for the 98 comment record and the PDF: what the bonus or malus rests on."""
    x = line.explanation
    definition = indicators.BY_CODE.get(x.get("indicator", ""))
    name = str(definition.name) if definition else x.get("indicator", "")
    if x.get("reverses"):
        return _("Reverses quality line %(ref)s.") % {"ref": x["reverses"]}
    return _(
        "%(kind)s %(name)s %(year)s: %(value)s (target %(better)s %(target)s); %(pct)s%% of %(base)s"
    ) % {
        "kind": _("Quality bonus") if x.get("met") else _("Quality malus"),
        "name": name,
        "year": x.get("year"),
        "value": x.get("value"),
        "better": "<=" if x.get("better") == "lower" else ">=",
        "target": x.get("target"),
        "pct": x.get("percentage"),
        "base": x.get("base"),
    }
