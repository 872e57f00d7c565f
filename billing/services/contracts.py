"""Insurer contracts: versions with their tariffs per phase, their terms (submission deadline, answer term)
and rules for an early ending. What the IGO keeps for itself (overhead, risk reserve) is no part of a
contract: it belongs to the split rules (billing.services.split_rules)."""

from __future__ import annotations

import re
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
from billing.services.run import episodes_mark_recheck
from igo.models import Insurer, Tenant, User
from igo.services import audit_record
from pregnancies.models import EndReason, Phase

HUNDRED = Decimal("100")
# A prestatie code as the declaration file carries it (KZ301 rubriek 0416, AN 6): kraamzorg codes have 6 positions.
PRESTATIE_CODE = re.compile(r"[A-Z0-9]{1,6}")


def check_percentage(errors: dict[str, list[str]], field: str, value: Decimal, places: int = 2) -> None:
    if value is None or value < 0 or value > 100:
        errors.setdefault(field, []).append(_("Enter a percentage from 0 to 100."))
    elif value != value.quantize(Decimal(1).scaleb(-places)):
        errors.setdefault(field, []).append(_("Use at most %(n)s decimals.") % {"n": places})


def check_days(errors: dict[str, list[str]], field: str, value: int | None, *, low: int, high: int) -> None:
    if value is None or not low <= value <= high:
        errors.setdefault(field, []).append(
            _("Enter a number of days from %(low)s to %(high)s.") % {"low": low, "high": high}
        )


def check_amount(errors: dict[str, list[str]], field: str, value: Decimal) -> None:
    if value is None or value < 0:
        errors.setdefault(field, []).append(_("A price cannot be negative."))
    elif value != value.quantize(Decimal("0.01")):
        errors.setdefault(field, []).append(_("A price has at most two decimals (whole cents)."))


# Gestational weeks a band of a rule for an early ending may name.
WEEK_MIN, WEEK_MAX = 0, 45
ANSWER_DAYS_MAX = 365
PARTIAL_RULE_KEY = re.compile(r"^partial_rules-(\d+)-(\w+)$")


def partial_rule_key(index: int, field: str) -> str:
    """The error key of a field of the `index`-th rule for an early ending (in the order given)."""
    return f"partial_rules-{index}-{field}"


def partial_rule_key_parse(key: str) -> tuple[int, str] | None:
    """(index, field) of an error key made by `partial_rule_key`; None for another key."""
    match = PARTIAL_RULE_KEY.match(key)
    return (int(match[1]), match[2]) if match else None


def band_label(from_week: int | None, until_week: int | None) -> str:
    """A band of gestational weeks as finance reads it: "weeks 0–16", "from week 16", "every week"."""
    if until_week is None:
        if not from_week:
            return _("every week")
        return _("from week %(from)s") % {"from": from_week}
    return _("weeks %(from)s–%(until)s") % {"from": from_week or 0, "until": until_week}


def _week(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


def partial_rules_clean(rules: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Check the rules for an early ending and return them in the shape stored, with the field errors found
    (keys by `partial_rule_key`). A rule names an end reason other than "care completed", the phase the
    ending interrupted, optionally a band of gestational weeks at the end date [from_week, until_week) within
    0–45, and a percentage from 0 to 100; the bands of one end reason and phase may not overlap."""
    errors: dict[str, list[str]] = {}
    cleaned: list[dict[str, Any]] = []
    for i, rule in enumerate(rules):
        end_reason, phase = rule.get("end_reason"), rule.get("phase")
        if end_reason not in EndReason.values or end_reason == EndReason.COMPLETED:
            errors.setdefault(partial_rule_key(i, "end_reason"), []).append(
                _("Choose the reason the episode ended early.")
            )
        if phase not in Phase.values:
            errors.setdefault(partial_rule_key(i, "phase"), []).append(
                _("Choose the phase the ending interrupted.")
            )
        try:
            from_week, until_week = _week(rule.get("from_week")), _week(rule.get("until_week"))
        except (TypeError, ValueError):
            errors.setdefault(partial_rule_key(i, "from_week"), []).append(_("Enter whole weeks."))
            continue
        for field, week in (("from_week", from_week), ("until_week", until_week)):
            if week is not None and not WEEK_MIN <= week <= WEEK_MAX:
                errors.setdefault(partial_rule_key(i, field), []).append(
                    _("Enter a gestational week from %(low)s to %(high)s.")
                    % {"low": WEEK_MIN, "high": WEEK_MAX}
                )
        if from_week is not None and until_week is not None and from_week >= until_week:
            errors.setdefault(partial_rule_key(i, "until_week"), []).append(
                _("The band ends at or before its start: enter an until-week after week %(from)s.")
                % {"from": from_week}
            )
        raw_pct = rule.get("percentage")
        try:
            percentage = HUNDRED if raw_pct is None or raw_pct == "" else Decimal(str(raw_pct))
        except ArithmeticError:
            errors.setdefault(partial_rule_key(i, "percentage"), []).append(
                _("Enter a percentage from 0 to 100.")
            )
            continue
        check_percentage(errors, partial_rule_key(i, "percentage"), percentage)
        cleaned.append(
            {
                "index": i,
                "end_reason": end_reason,
                "phase": phase,
                "from_week": from_week,
                "until_week": until_week,
                "percentage": percentage,
            }
        )
    if errors:
        return cleaned, errors
    # Overlapping bands of one end reason and phase would leave it open which percentage applies.
    for j, later in enumerate(cleaned):
        for earlier in cleaned[:j]:
            if (earlier["end_reason"], earlier["phase"]) != (later["end_reason"], later["phase"]):
                continue
            low = max(earlier["from_week"] or 0, later["from_week"] or 0)
            high = min(
                earlier["until_week"] if earlier["until_week"] is not None else WEEK_MAX + 1,
                later["until_week"] if later["until_week"] is not None else WEEK_MAX + 1,
            )
            if low < high:
                errors.setdefault(partial_rule_key(later["index"], "from_week"), []).append(
                    _(
                        "The band %(this)s overlaps the band %(other)s of another rule for %(reason)s, "
                        "interrupted phase %(phase)s: a week may fall in one band only."
                    )
                    % {
                        "this": band_label(later["from_week"], later["until_week"]),
                        "other": band_label(earlier["from_week"], earlier["until_week"]),
                        "reason": EndReason(later["end_reason"]).label.lower(),
                        "phase": Phase(later["phase"]).label.lower(),
                    }
                )
                break
    return [{k: v for k, v in rule.items() if k != "index"} for rule in cleaned], errors


def contract_terms_check(
    *,
    valid_from: date,
    valid_until: date | None,
    answer_days: int,
    tariffs: dict[str, tuple[str, Decimal]],
    partial_rules: Iterable[dict[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The terms of a contract version checked as `contract_create` checks them before it writes (all but
    the overlap with another version): the cleaned partial rules and the errors by field."""
    errors: dict[str, list[str]] = {}
    if valid_until is not None and valid_until < valid_from:
        errors.setdefault("valid_until", []).append(_("The end lies before the start."))
    check_days(errors, "answer_days", answer_days, low=1, high=ANSWER_DAYS_MAX)
    rules, rule_errors = partial_rules_clean(partial_rules)
    errors.update(rule_errors)
    if not tariffs:
        errors.setdefault("tariffs", []).append(_("A contract covers at least one phase."))
    for phase, (code, amount) in tariffs.items():
        if phase not in Phase.values:
            errors.setdefault("tariffs", []).append(_("Unknown phase %(phase)s.") % {"phase": phase})
        if not (code or "").strip():
            errors.setdefault(f"code_{phase}", []).append(_("Enter the prestatie code."))
        elif not PRESTATIE_CODE.fullmatch(code.strip()):
            errors.setdefault(f"code_{phase}", []).append(
                _("A prestatie code has at most 6 positions, capital letters or digits (e.g. 014037).")
            )
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
    return rules, errors


@transaction.atomic
def contract_create(
    *,
    tenant: Tenant,
    actor: User,
    insurer: Insurer,
    name: str,
    valid_from: date,
    valid_until: date | None = None,
    submission_months: int = 12,
    answer_days: int = 30,
    tariffs: dict[str, tuple[str, Decimal]],
    partial_rules: Iterable[dict[str, Any]] = (),
) -> Contract:
    """A contract version. `tariffs` maps phase to (prestatie code, price); phases left out are not covered.
    `answer_days`: how long the insurer has to answer a sent line (days after the batch's release).
    `partial_rules`: what is billed of the phase an early ending interrupted, as dicts with `end_reason`,
    `phase`, `from_week`, `until_week` (a band [from, until) of gestational weeks at the end date; None =
    open) and `percentage` of the tariff (`partial_rules_clean`).

    A period that overlaps another version for the same insurer is refused: a new version starts after
    the previous one, whose end may be set with `contract_end`.
    """
    rules, errors = contract_terms_check(
        valid_from=valid_from,
        valid_until=valid_until,
        answer_days=answer_days,
        tariffs=tariffs,
        partial_rules=partial_rules,
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
        submission_months=submission_months,
        answer_days=answer_days,
        created_by=actor,
    )
    ContractTariff.objects.bulk_create(
        ContractTariff(
            tenant=tenant, contract=contract, phase=phase, prestatie_code=code.strip(), amount=amount
        )
        for phase, (code, amount) in tariffs.items()
    )
    PartialRule.objects.bulk_create(PartialRule(tenant=tenant, contract=contract, **rule) for rule in rules)
    audit_record(
        actor=actor, action="contract.create", tenant=tenant, obj=contract, insurer=insurer.uzovi_code
    )
    episodes_mark_recheck(insurer=insurer, start=valid_from, end=valid_until)
    return contract


@transaction.atomic
def contract_end(
    *, contract: Contract, actor: User, valid_until: date, retroactive: bool = False
) -> Contract:
    """End a contract version on `valid_until`. Refused when claims already use it for care after that
    date, unless `retroactive`: a retroactive tariff change (billing.services.repricing) re-prices those
    claims under the version that follows in the same transaction."""
    # A retroactive change from the version's first day ends it the day before it starts: replaced whole.
    if valid_until < contract.valid_from - timedelta(days=1 if retroactive else 0):
        raise ValidationError({"valid_until": _("The end lies before the start.")})
    if (
        not retroactive
        and ClaimLine.objects.filter(contract=contract, service_start__gt=valid_until).exists()
    ):
        raise ValidationError({"valid_until": _("Claims already use this contract after that date.")})
    contract.valid_until = valid_until
    contract.save(update_fields=["valid_until"])
    audit_record(
        actor=actor, action="contract.end", tenant=contract.tenant, obj=contract, until=str(valid_until)
    )
    episodes_mark_recheck(insurer=contract.insurer, start=valid_until + timedelta(days=1), end=None)
    return contract


def contract_new_version(
    *,
    contract: Contract,
    actor: User,
    valid_from: date,
    valid_until: date | None = None,
    name: str | None = None,
    submission_months: int | None = None,
    answer_days: int | None = None,
    tariffs: dict[str, tuple[str, Decimal]] | None = None,
    partial_rules: Iterable[dict[str, Any]] | None = None,
    retroactive: bool = False,
) -> Contract:
    """End `contract` the day before `valid_from` and start a new version from then, with the insurer of
    `contract` and, for every argument left None, its value there: the new version ends when the old one
    would have (a 2026 contract's version from July still ends on 31 December, not open-ended into the years
    after), unless `valid_until` is given.

    A new version follows the one it replaces: it starts after that version's start (a period before it is
    a contract of its own, with its own end date), and after the last claim that already uses it. Both are
    refused on `valid_from`, the one date the caller gave, and not as the derived end of the old version.
    `retroactive` lifts the second rule for `billing.services.repricing.contract_reprice`, which re-prices
    those claims in the same transaction (call it only from there), and lets the new version start on the
    old one's first day: the old one then ends the day before it starts (`Contract.replaced_whole`)."""
    if valid_from < contract.valid_from or (valid_from == contract.valid_from and not retroactive):
        raise ValidationError(
            {
                "valid_from": _(
                    "A new version starts after the start of the version it follows (%(start)s). For a "
                    "period before that, add a separate contract with an end date."
                )
                % {"start": contract.valid_from.strftime("%d-%m-%Y")}
            }
        )
    last_claimed = (
        ClaimLine.objects.filter(contract=contract, service_start__gte=valid_from)
        .order_by("-service_start")
        .values_list("service_start", flat=True)
        .first()
    )
    if last_claimed is not None and not retroactive:
        raise ValidationError(
            {
                "valid_from": _(
                    "Claims already use this version for care from %(day)s: a new version can start "
                    "from %(next)s."
                )
                % {
                    "day": last_claimed.strftime("%d-%m-%Y"),
                    "next": (last_claimed + timedelta(days=1)).strftime("%d-%m-%Y"),
                }
            }
        )
    if valid_until is None:
        valid_until = contract.valid_until  # read before contract_end moves it
    with transaction.atomic():
        contract_end(
            contract=contract,
            actor=actor,
            valid_until=valid_from - timedelta(days=1),
            retroactive=retroactive,
        )
        if tariffs is None:
            tariffs = {t.phase: (t.prestatie_code, t.amount) for t in contract.tariffs.all()}
        if partial_rules is None:
            partial_rules = [
                {
                    "end_reason": r.end_reason,
                    "phase": r.phase,
                    "from_week": r.from_week,
                    "until_week": r.until_week,
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
            submission_months=contract.submission_months if submission_months is None else submission_months,
            answer_days=contract.answer_days if answer_days is None else answer_days,
            tariffs=tariffs,
            partial_rules=partial_rules,
        )


def contract_version_draft(
    *,
    contract: Contract,
    valid_from: date,
    tariffs: dict[str, tuple[str, Decimal]] | None = None,
    partial_rules: Iterable[dict[str, Any]] | None = None,
    retroactive: bool = False,
) -> list[Contract]:
    """The contracts the roll-up would read after `contract_new_version(contract=..., valid_from=...)` with
    these tariffs and partial rules, built in memory only (nothing is written): the stored versions with
    their tariffs and partial rules, `contract` ending the day before `valid_from`, and the draft version
    from then (checked as `contract_create` checks it; an id of -1). The what-if simulation (the `whatif`
    app) gives them to `billing.services.rollup.rollup_decide`. `retroactive`: as for
    `contract_new_version`, the draft may start on `contract`'s first day (a re-pricing preview)."""
    contract = Contract.objects.prefetch_related("tariffs", "partial_rules").get(pk=contract.pk)
    if tariffs is None:
        tariffs = {t.phase: (t.prestatie_code, t.amount) for t in contract.tariffs.all()}
    if partial_rules is None:
        partial_rules = [
            {k: getattr(r, k) for k in ("end_reason", "phase", "from_week", "until_week", "percentage")}
            for r in contract.partial_rules.all()
        ]
    rules, errors = contract_terms_check(
        valid_from=valid_from,
        valid_until=contract.valid_until,  # as contract_new_version: the new version ends where the old one did
        answer_days=contract.answer_days,
        tariffs=tariffs,
        partial_rules=partial_rules,
    )
    if valid_from < contract.valid_from or (valid_from == contract.valid_from and not retroactive):
        errors.setdefault("valid_from", []).append(_("The new version must start after the current one."))
    if errors:
        raise ValidationError(errors)
    draft = Contract(
        pk=-1,
        tenant_id=contract.tenant_id,
        insurer_id=contract.insurer_id,
        name=contract.name,
        valid_from=valid_from,
        valid_until=contract.valid_until,
        submission_months=contract.submission_months,
        answer_days=contract.answer_days,
    )
    draft._prefetched_objects_cache = {  # type: ignore[attr-defined]
        "tariffs": [
            ContractTariff(
                pk=-n,
                tenant_id=contract.tenant_id,
                contract=draft,
                phase=phase,
                prestatie_code=code.strip(),
                amount=Decimal(amount),
            )
            for n, (phase, (code, amount)) in enumerate(sorted(tariffs.items()), start=1)
        ],
        "partial_rules": [
            PartialRule(pk=-n, tenant_id=contract.tenant_id, contract=draft, **rule)
            for n, rule in enumerate(rules, start=1)
        ],
    }
    contracts = []
    for stored in Contract.objects.prefetch_related("tariffs", "partial_rules").order_by("valid_from"):
        if stored.pk == contract.pk:
            stored.valid_until = valid_from - timedelta(days=1)
        contracts.append(stored)
    return [*contracts, draft]
