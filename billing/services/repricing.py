"""Retroactive tariff changes: an insurer and the IGO agree a year's tariffs after claims of that year were
already made under the version before (in March, tariffs from 1 January).

The change is a new contract version from a date that lies before claims already made under the current
version (`contract_new_version(retroactive=True)`): the current version ends the day before, the new one
takes over its period (a change from the current version's own first day, for tariffs entered wrong from
the start, replaces it whole: it ends the day before it starts, `Contract.replaced_whole`, and stays with its
tariffs for the claims sent under it), and every current care claim to that insurer whose prestatie starts in the new
version's period is priced again under it, with the same dates, insurer and insured number:

- the new version's tariff for the phase, times the percentage the line was billed at: 100 % for a
  completed phase, finance's decision for an interrupted phase without a rule, and for an interrupted phase
  under a rule for early endings the new version's rule for the same end reason, phase and week (the
  version takes over the current version's rules, so the percentage stays and applies to the new tariff);
- a line whose claim does not change (the same prestatie code, tariff, percentage and amount) is left as it
  is: nothing to credit (the roll-up compares claims the same way, billing.services.rollup);
- a line not sent yet and in no batch is priced again in place and divided again (its parts superseded,
  new parts at the new amount by the split rule, billing.services.split);
- a line not sent yet but in a batch for review is withdrawn and claimed anew (the billing run's own way):
  the batch then refuses to be released until it is rebuilt;
- a sent line, whatever the insurer answered, is never changed: `retire_line` takes it out of use and a new
  debit at the new price follows in the next batch, its parts divided by the split rule. Pending (no answer
  yet) and accepted lines, also those awarded in part, are paid or will be: `retire_line` credits them (their
  parts mirrored, so the members give back what they gave them). A rejected line was booked by nobody: it is
  not credited (the insurer would refuse the credit, 8017), only taken out of use with its parts reversed, and
  the phase is claimed anew with a new line reference, as the billing run and `returns.rejected_line_rebill`
  do.

`contract_reprice_preview` says what `contract_reprice` will do, from the same plan (`_plan`), so the
numbers on the contract page are what the confirmation does; the confirmation is refused when the plan
changed since the preview (`RepriceImpact.fingerprint`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import (
    Allocation,
    BatchLine,
    ClaimLine,
    Contract,
    LineStatus,
    QualityAgreement,
    Sign,
)
from billing.services.claim_lines import care_episode_id, line_number, retire_line
from billing.services.contracts import (
    contract_new_version,
    contract_terms_check,
    contract_version_draft,
)
from billing.services.rollup import PHASES, partial_explanation, partial_rule_for, phase_amount
from billing.services.split import split_lines
from igo.models import User
from igo.services import audit_record
from pregnancies.models import Episode, Phase

ZERO = Decimal("0.00")
STALE = "stale"  # the code of the refusal of a confirmation whose preview is out of date


def is_stale(exc: ValidationError) -> bool:
    """Whether `contract_reprice` refused because the plan changed since the preview."""
    errors = getattr(exc, "error_dict", {}).get(NON_FIELD_ERRORS, [])
    return any(e.code == STALE for e in errors)


def stale_error() -> ValidationError:
    """The refusal of a confirmation whose preview is out of date."""
    return ValidationError(
        {
            NON_FIELD_ERRORS: ValidationError(
                _(
                    "The claims of this period changed since the preview (or the form did). Check the new "
                    "preview and confirm again."
                ),
                code=STALE,
            )
        }
    )


@dataclass(frozen=True)
class RepricedLine:
    """A current claim line under the new version: what it claims now and what it would claim."""

    line_id: int
    number: str
    episode_id: int
    phase: str
    status: str
    in_batch: bool  # not sent, but in a batch for review
    service_end: date
    old_code: str
    old_tariff: Decimal
    old_percentage: Decimal
    old_amount: Decimal
    new_code: str
    new_tariff: Decimal
    new_percentage: Decimal
    new_amount: Decimal
    tariff_id: int  # the new version's tariff (negative in a preview: not stored)
    explanation: dict[str, Any]

    @property
    def changed(self) -> bool:
        return (self.old_code, self.old_tariff, self.old_percentage, self.old_amount) != (
            self.new_code,
            self.new_tariff,
            self.new_percentage,
            self.new_amount,
        )

    @property
    def sent(self) -> bool:
        return self.status != LineStatus.READY


@dataclass
class PhaseImpact:
    """The lines of one phase (or all, `phase` empty) that change: not sent yet, and sent (of which
    rejected), with what they claim now and will claim; and how many stay as they are."""

    phase: str
    unsent: int = 0
    sent: int = 0
    rejected: int = 0
    unchanged: int = 0
    old_amount: Decimal = ZERO
    new_amount: Decimal = ZERO

    @property
    def label(self) -> str:
        return str(Phase(self.phase).label) if self.phase else _("Total")

    @property
    def changed(self) -> int:
        return self.unsent + self.sent

    @property
    def difference(self) -> Decimal:
        return self.new_amount - self.old_amount

    def add(self, line: RepricedLine) -> None:
        if not line.changed:
            self.unchanged += 1
            return
        if line.sent:
            self.sent += 1
            self.rejected += line.status == LineStatus.REJECTED
        else:
            self.unsent += 1
        self.old_amount += line.old_amount
        self.new_amount += line.new_amount

    def as_dict(self) -> dict[str, Any]:
        return {
            "unsent": self.unsent,
            "sent": self.sent,
            "rejected": self.rejected,
            "unchanged": self.unchanged,
            "old": str(self.old_amount),
            "new": str(self.new_amount),
            "difference": str(self.difference),
        }


@dataclass
class RepriceImpact:
    """What a retroactive tariff change does: per phase and in total, and line by line."""

    valid_from: date
    valid_until: date | None
    lines: list[RepricedLine] = field(default_factory=list)
    phases: list[PhaseImpact] = field(default_factory=list)
    total: PhaseImpact = field(default_factory=lambda: PhaseImpact(""))
    # Quality agreements of the insurer already settled for a year whose claims change: their bonus or
    # malus is a percentage of those claims (billing.services.quality_claims).
    quality: list[QualityAgreement] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        """Identifies the plan: the period and, per line that changes, its state and new claim. A
        confirmation whose plan has another fingerprint than its preview is refused."""
        parts = [str(self.valid_from), str(self.valid_until or "")]
        parts += [
            f"{x.line_id}:{x.status}:{x.in_batch}:{x.new_code}:{x.new_tariff}:{x.new_percentage}:{x.new_amount}"
            for x in self.lines
            if x.changed
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _governed_lines(*, insurer_id: int, start: date, end: date | None) -> QuerySet[ClaimLine]:
    """The current care claims to the insurer whose prestatie starts in [start, end] (end None: open): those
    a contract version over that period governs (a phase's contract is the one in force on its start)."""
    lines = ClaimLine.objects.filter(
        insurer_id=insurer_id,
        is_current=True,
        sign=Sign.DEBIT,
        episode__isnull=False,
        service_start__gte=start,
    )
    if end is not None:
        lines = lines.filter(service_start__lte=end)
    return lines


def _plan(contract: Contract, *, start: date, end: date | None) -> tuple[RepriceImpact, dict[str, list[str]]]:
    """Price the governed lines under `contract` (stored, or a draft with its tariffs and rules prefetched):
    the impact, and the errors that stop it (a phase with claims that the version does not cover, an
    interrupted phase without its rule)."""
    impact = RepriceImpact(valid_from=start, valid_until=end)
    by_phase = {p: PhaseImpact(p) for p in PHASES}
    errors: dict[str, list[str]] = {}
    uncovered: dict[str, int] = defaultdict(int)
    in_batch = BatchLine.objects.filter(claim_line=OuterRef("pk"))
    rows = (
        _governed_lines(insurer_id=contract.insurer_id, start=start, end=end)
        .select_related("tariff")
        .annotate(in_batch=Exists(in_batch))
        .order_by("pk")
    )
    tariffs = {t.phase: t for t in contract.tariffs.all()}
    for line in rows:
        tariff = tariffs.get(line.phase)
        if tariff is None:
            uncovered[line.phase] += 1
            continue
        explanation = {k: v for k, v in line.explanation.items() if k not in ("partial", "repriced")}
        percentage = line.percentage
        partial = line.explanation.get("partial")
        if partial:
            week = int(partial["week"])
            rule = partial_rule_for(contract, end_reason=partial["end_reason"], phase=line.phase, week=week)
            if rule is None:
                errors.setdefault(NON_FIELD_ERRORS, []).append(
                    _("Line %(ref)s was billed by a rule for an early ending that the new version lacks.")
                    % {"ref": line.number}
                )
                continue
            percentage = rule.percentage
            explanation |= partial_explanation(rule, end_reason=partial["end_reason"], week=week)
        assert line.tariff is not None  # a care line has its tariff (constraint claim_line_care_or_quality)
        priced = RepricedLine(
            line_id=line.pk,
            number=line.number,
            episode_id=care_episode_id(line),
            phase=line.phase,
            status=line.status,
            in_batch=line.status == LineStatus.READY and line.in_batch,
            service_end=line.service_end,
            old_code=line.prestatie_code,
            old_tariff=line.tariff.amount,
            old_percentage=line.percentage,
            old_amount=line.amount,
            new_code=tariff.prestatie_code,
            new_tariff=tariff.amount,
            new_percentage=percentage,
            new_amount=phase_amount(tariff.amount, percentage),
            tariff_id=tariff.pk,
            explanation=explanation,
        )
        impact.lines.append(priced)
        by_phase[line.phase].add(priced)
        impact.total.add(priced)
    for phase, n in uncovered.items():
        errors.setdefault(f"code_{phase}", []).append(
            _("%(n)s claim(s) of this period bill the %(phase)s phase: the new version must cover it.")
            % {"n": n, "phase": Phase(phase).label.lower()}
        )
    impact.phases = [by_phase[p] for p in PHASES]
    years = {x.service_end.year for x in impact.lines if x.changed}
    impact.quality = list(
        QualityAgreement.objects.filter(
            contract__insurer_id=contract.insurer_id,
            year__in=years,
            claim_lines__is_current=True,
        )
        .distinct()
        .order_by("year", "indicator")
    )
    return impact, errors


def _period_errors(
    contract: Contract, *, valid_from: date, valid_until: date | None
) -> tuple[date | None, dict[str, list[str]]]:
    """The end of the new version (`valid_until`, or where `contract` ends) and the errors of its period."""
    errors: dict[str, list[str]] = {}
    end = valid_until if valid_until is not None else contract.valid_until
    if valid_from < contract.valid_from:
        errors.setdefault("valid_from", []).append(
            _(
                "A retroactive change starts on or after the start of the version it replaces (%(start)s). "
                "For a period before that, add a separate contract with an end date."
            )
            % {"start": contract.valid_from.strftime("%d-%m-%Y")}
        )
    elif contract.valid_until is not None and valid_from > contract.valid_until:
        errors.setdefault("valid_from", []).append(
            _("This version ends on %(end)s: a change of its tariffs starts on or before that day.")
            % {"end": contract.valid_until.strftime("%d-%m-%Y")}
        )
    if errors or (end is not None and end < valid_from):
        return end, errors  # contract_terms_check names an end before the start
    others = Contract.objects.filter(insurer_id=contract.insurer_id).exclude(pk=contract.pk)
    others = others.filter(Q(valid_until__isnull=True) | Q(valid_until__gte=valid_from))
    if end is not None:
        others = others.filter(valid_from__lte=end)
    clash = others.order_by("valid_from").first()
    if clash is not None:
        errors.setdefault("valid_until", []).append(
            _(
                "This period overlaps the contract %(name)s with %(insurer)s (from %(start)s): end the new "
                "version before that day."
            )
            % {
                "name": clash.name,
                "insurer": contract.insurer.name,
                "start": clash.valid_from.strftime("%d-%m-%Y"),
            }
        )
    if valid_until is not None:
        later = (
            ClaimLine.objects.filter(contract=contract, is_current=True, service_start__gt=valid_until)
            .order_by("-service_start")
            .values_list("service_start", flat=True)
            .first()
        )
        if later is not None:
            errors.setdefault("valid_until", []).append(
                _(
                    "Claims use this contract for care that starts as late as %(day)s; the new version "
                    "must cover them: end it on or after that day, or leave the end empty."
                )
                % {"day": later.strftime("%d-%m-%Y")}
            )
    return end, errors


def contract_reprice_preview(
    *,
    contract: Contract,
    valid_from: date,
    tariffs: dict[str, tuple[str, Decimal]],
    valid_until: date | None = None,
) -> RepriceImpact:
    """What `contract_reprice` with these arguments would do, written nowhere. Refused with field errors
    (ValidationError) exactly as it would be refused. `valid_until` None: the new version ends where
    `contract` does."""
    end, errors = _period_errors(contract, valid_from=valid_from, valid_until=valid_until)
    _rules, term_errors = contract_terms_check(
        valid_from=valid_from,
        valid_until=end,
        answer_days=contract.answer_days,
        tariffs=tariffs,
        partial_rules=(),
    )
    for key, messages in term_errors.items():
        errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    draft = contract_version_draft(
        contract=contract, valid_from=valid_from, tariffs=tariffs, retroactive=True
    )[-1]
    draft.valid_until = end
    impact, plan_errors = _plan(draft, start=valid_from, end=end)
    if plan_errors:
        raise ValidationError(plan_errors)
    return impact


@dataclass
class RepriceResult:
    contract: Contract  # the new version
    impact: RepriceImpact
    repriced_in_place: int = 0
    withdrawn: int = 0
    credited: int = 0
    rebilled: int = 0


def contract_reprice(
    *,
    contract: Contract,
    actor: User,
    valid_from: date,
    tariffs: dict[str, tuple[str, Decimal]],
    valid_until: date | None = None,
    name: str | None = None,
    expected: str | None = None,
) -> RepriceResult:
    """Make a new version of `contract` from `valid_from` with `tariffs` (the rest of its terms and its
    rules for early endings as `contract`'s), although claims already use `contract` from that date, and
    price those claims again (see the module). One transaction: refused with field errors and nothing
    stored when the version or a claim cannot be priced, or when `expected` (the preview's fingerprint)
    differs from what would be done now. Call inside tenant_scope."""
    with transaction.atomic():
        locked = Contract.objects.select_for_update().select_related("insurer").get(pk=contract.pk)
        end = valid_until if valid_until is not None else locked.valid_until
        # The episodes whose claims move are locked first, in id order as the billing run takes them, then
        # their lines: a run, an answer or a rebill waits until the change is committed.
        governed = _governed_lines(insurer_id=locked.insurer_id, start=valid_from, end=end)
        list(
            Episode.objects.filter(pk__in=governed.values("episode_id"))
            .order_by("pk")
            .select_for_update(of=("self",))
            .values_list("pk", flat=True)
        )
        list(governed.order_by("pk").select_for_update().values_list("pk", flat=True))
        preview = contract_reprice_preview(
            contract=locked, valid_from=valid_from, tariffs=tariffs, valid_until=valid_until
        )
        if expected is not None and preview.fingerprint != expected:
            raise stale_error()
        new = contract_new_version(
            contract=locked,
            actor=actor,
            valid_from=valid_from,
            valid_until=end,
            name=name,
            tariffs=tariffs,
            retroactive=True,
        )
        new = Contract.objects.prefetch_related("tariffs", "partial_rules").get(pk=new.pk)
        impact, errors = _plan(new, start=valid_from, end=end)
        if errors or impact.fingerprint != preview.fingerprint:  # the same plan, with the stored version
            raise ValidationError(errors or _("The stored version prices the claims otherwise."))
        result = RepriceResult(contract=new, impact=impact)
        _apply(result, new)
        audit_record(
            actor=actor,
            action="contract.reprice",
            tenant=new.tenant,
            obj=new,
            replaces=locked.pk,
            insurer=locked.insurer.uzovi_code,
            valid_from=str(valid_from),
            valid_until=str(end or ""),
            tariffs={p: [c, str(a)] for p, (c, a) in sorted(tariffs.items())},
            repriced_in_place=result.repriced_in_place,
            withdrawn=result.withdrawn,
            credited=result.credited,
            rebilled=result.rebilled,
            phases={p.phase: p.as_dict() for p in impact.phases},
            total=impact.total.as_dict(),
            lines={x.number: [str(x.old_amount), str(x.new_amount)] for x in impact.lines if x.changed},
            quality=[q.pk for q in impact.quality],
        )
    return result


def _apply(result: RepriceResult, contract: Contract) -> None:
    """Write the plan: in place for a line in no batch yet, otherwise `retire_line` and a new debit."""
    changed = [x for x in result.impact.lines if x.changed]
    if not changed:
        return
    stored = ClaimLine.objects.in_bulk([x.line_id for x in changed])
    counts: dict[tuple[int, str], int] = {
        (e, p): n
        for e, p, n in ClaimLine.objects.filter(episode_id__in={x.episode_id for x in changed})
        .values("episode_id", "phase")
        .annotate(n=Count("pk"))
        .values_list("episode_id", "phase", "n")
        .order_by()
    }

    def next_seq(key: tuple[int, str]) -> int:
        counts[key] = counts.get(key, 0) + 1
        return counts[key]

    in_place: list[ClaimLine] = []
    new_lines: list[ClaimLine] = []
    for x in changed:
        line = stored[x.line_id]
        if not x.sent and not x.in_batch:
            line.contract = contract
            line.tariff_id = x.tariff_id
            line.prestatie_code = x.new_code
            line.percentage = x.new_percentage
            line.amount = x.new_amount
            line.explanation = {
                **x.explanation,
                "repriced": {"contract": contract.pk, "was": str(x.old_amount)},
            }
            line.save(
                update_fields=["contract", "tariff", "prestatie_code", "percentage", "amount", "explanation"]
            )
            in_place.append(line)
            continue
        key = (x.episode_id, x.phase)
        credit = retire_line(line, next_seq(key))  # a credit of a sent line; None: withdrawn
        if credit is None:
            result.withdrawn += 1
        else:
            result.credited += 1
        new_lines.append(
            ClaimLine(
                tenant_id=line.tenant_id,
                episode_id=line.episode_id,
                phase=line.phase,
                sign=Sign.DEBIT,
                number=line_number(x.episode_id, x.phase, Sign.DEBIT, next_seq(key)),
                prestatie_code=x.new_code,
                contract=contract,
                tariff_id=x.tariff_id,
                percentage=x.new_percentage,
                insurer_id=line.insurer_id,
                policy_number=line.policy_number,
                service_start=line.service_start,
                service_end=line.service_end,
                amount=x.new_amount,
                explanation={
                    **x.explanation,
                    "repriced": {
                        "contract": contract.pk,
                        "replaces": line.number,
                        "credit": credit.number if credit is not None else "",
                        "was": str(x.old_amount),
                    },
                },
            )
        )
    # A line priced again in place loses its parts as of now (-entries in the ledger; it was never sent, so
    # none was paid) and is divided again with the new lines, by the billing run's own split.
    Allocation.objects.filter(claim_line__in=in_place, is_current=True).update(
        is_current=False, superseded_at=timezone.now()
    )
    created = ClaimLine.objects.bulk_create(new_lines)
    split_lines(lines=[*in_place, *created])
    result.repriced_in_place = len(in_place)
    result.rebilled = len(created)


def impact_rows(impact: RepriceImpact) -> Iterable[PhaseImpact]:
    """The rows of the impact table: the phases with claims in the period, then the total."""
    return [*(p for p in impact.phases if p.changed or p.unchanged), impact.total]


__all__ = [
    "PhaseImpact",
    "RepriceImpact",
    "RepriceResult",
    "RepricedLine",
    "contract_reprice",
    "contract_reprice_preview",
    "impact_rows",
    "stale_error",
]
