"""Partial awards: the insurer awarded less than a line claimed (a KZ302 return with 0 < toegekend bedrag <
declaratiebedrag). The claim itself is never changed; the line is settled at what the insurer awarded.

How the money stays traceable: the line's current allocations are superseded and new ones are made that add
up exactly to the awarded amount, divided as the line was (the split rule's percentages and the members'
weights, `billing.services.split.compute_allocations` with the awarded amount). In the ledger that is a
-entry of every old part and a +entry of every new one, both dated at the answer, so a member's statement
shows the reduction and a payout pays exactly the awarded part (less what was already paid). Later re-splits
of the line (care logged afterwards) divide the awarded amount too. A work item tells finance how much was
not awarded; an objection goes by the usual route, a credit of the line and a new claim. A line that was
already credited and claimed anew when its partial award came in opens no work item (as a rejection of such
a line does not): its credit, not answered yet, is made to take back the awarded parts instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.db.models import Case, DecimalField, F, When
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import (
    Allocation,
    AllocationBasis,
    AllocationKind,
    BatchLine,
    ClaimBatch,
    ClaimLine,
    EpisodeBillingState,
    LineStatus,
    ReturnStatus,
    Sign,
    WorkItem,
    WorkReason,
)
from billing.services.split import AllocationRow, SplitContext, _insert_allocations, compute_allocations
from igo.money import split_largest_remainder


def settled_amount() -> Case:
    """What a line is settled at, as a query expression: its amount, or what the insurer awarded of it when it
    awarded only part, and for the credit of such a line minus that (what the credit takes back). What its
    parts add up to (`billing.reconcile`) and what the insurer keeps of it (`billing.services.quality_claims`)."""
    return Case(
        When(batch_line__answer__status=ReturnStatus.PARTIAL, then=F("batch_line__answer__awarded_amount")),
        When(
            corrects__batch_line__answer__status=ReturnStatus.PARTIAL,
            then=-F("corrects__batch_line__answer__awarded_amount"),
        ),
        default=F("amount"),
        output_field=DecimalField(max_digits=12, decimal_places=2),
    )


def partial_award_settle(*, line: ClaimLine, awarded: Decimal) -> bool:
    """Divide a line's parts anew so that they add up to `awarded`. Returns whether its parts changed (a
    line without parts has none to divide: the work item that says why it has none stays)."""
    current = list(Allocation.unscoped.filter(claim_line=line, is_current=True).order_by("pk"))
    if not current or sum((a.amount for a in current), Decimal(0)) == awarded:
        return False
    rows: list[AllocationRow] | None = None
    if line.sign == Sign.DEBIT and line.episode_id is not None:
        computed = compute_allocations(line, SplitContext([line.episode_id]), amount=awarded)
        if not isinstance(computed, tuple):
            rows = computed
    if rows is None:
        # No split rule or care to divide by any more (or a quality line): the same parts, scaled.
        parts = split_largest_remainder(awarded, [a.amount for a in current])
        rows = [
            AllocationRow(
                a.tenant_id,
                line.pk,
                a.kind,
                a.organisation_id,
                part,
                a.split_rule_id,  # type: ignore[arg-type]  # None for a line divided by hand
                AllocationBasis.from_json(a.basis),
            )
            for a, part in zip(current, parts, strict=True)
            if part or a.kind == AllocationKind.MEMBER
        ]
    Allocation.unscoped.filter(pk__in=[a.pk for a in current]).update(
        is_current=False, superseded_at=timezone.now()
    )
    _insert_allocations(rows)
    _credit_follow(line)
    if line.episode_id is not None:
        # These parts follow the care as it is now, not the care the last run's fingerprints describe: forget
        # them, so that the next run reads the episode's care again and divides anew whatever changed since
        # (a care event voided after this award would otherwise keep its share).
        EpisodeBillingState.unscoped.filter(episode_id=line.episode_id).update(seen_care=None)
    return True


def _credit_follow(line: ClaimLine) -> None:
    """A line credited before its partial award came in (the billing run replaced it first): its credit,
    not answered yet, takes back the line's parts as they are now, as a credit made after the award does
    (`billing.services.claim_lines.retire_line`). The credit still claims back the whole amount; the insurer
    awards it in part by what it awarded the line."""
    credit = ClaimLine.unscoped.filter(corrects=line, status__in=(LineStatus.READY, LineStatus.SENT)).first()
    if credit is None:
        return
    Allocation.unscoped.filter(claim_line=credit, is_current=True).update(
        is_current=False, superseded_at=timezone.now()
    )
    Allocation.unscoped.bulk_create(
        Allocation(
            tenant_id=a.tenant_id,
            claim_line=credit,
            kind=a.kind,
            organisation_id=a.organisation_id,
            amount=-a.amount,
            split_rule_id=a.split_rule_id,
            basis=AllocationBasis(credit_of=line.number).to_json(),
        )
        for a in Allocation.unscoped.filter(claim_line=line, is_current=True).order_by("pk")
    )


def partial_award_items(*, batch: ClaimBatch, awarded: Sequence[tuple[BatchLine, Decimal, str]]) -> None:
    """Open a work item per phase awarded only in part (a quality line's: one for the batch), with the
    amount not awarded and the insurer's reasons. `awarded`: (batch line, awarded amount, reasons)."""
    per_phase: dict[tuple[int, str], tuple[Decimal, str]] = {}
    batch_total = Decimal(0)
    batch_refs: list[str] = []
    for row, amount, reasons in awarded:
        missing = row.amount - amount
        line = row.claim_line
        if not line.is_current or line.sign != Sign.DEBIT:
            # As for a rejection: a line already credited and replaced by the billing run (its credit
            # takes back what was awarded, the new claim asks the whole amount again), or a credit itself
            # (awarded in part only by what its line was), leaves finance nothing to do.
            continue
        if line.episode_id is None:
            batch_total += missing
            batch_refs.append(row.number)
            continue
        message = _(
            "Partly awarded by %(insurer)s in batch %(n)s, line %(ref)s: %(awarded)s of %(claimed)s, "
            "%(missing)s not awarded. %(reasons)s"
        ) % {
            "insurer": batch.insurer.name,
            "n": batch.number,
            "ref": row.number,
            "awarded": amount,
            "claimed": row.amount,
            "missing": missing,
            "reasons": reasons,
        }
        per_phase.setdefault((line.episode_id, line.phase), (missing, message.strip()))
    open_now = set(
        WorkItem.unscoped.filter(
            episode_id__in={k[0] for k in per_phase},
            reason=WorkReason.PARTIAL_AWARD,
            resolved_at__isnull=True,
        ).values_list("episode_id", "phase")
    )
    WorkItem.unscoped.bulk_create(
        WorkItem(
            tenant_id=batch.tenant_id,
            episode_id=episode_id,
            phase=phase,
            reason=WorkReason.PARTIAL_AWARD,
            message=message[:300],
            amount=missing,
        )
        for (episode_id, phase), (missing, message) in per_phase.items()
        if (episode_id, phase) not in open_now
    )
    if (
        batch_refs
        and not WorkItem.unscoped.filter(
            batch=batch, episode__isnull=True, reason=WorkReason.PARTIAL_AWARD, resolved_at__isnull=True
        ).exists()
    ):
        WorkItem.unscoped.create(
            tenant_id=batch.tenant_id,
            batch=batch,
            reason=WorkReason.PARTIAL_AWARD,
            amount=batch_total,
            message=(
                _("Partly awarded by %(insurer)s in batch %(n)s: %(refs)s, %(missing)s not awarded.")
                % {
                    "insurer": batch.insurer.name,
                    "n": batch.number,
                    "refs": ", ".join(batch_refs),
                    "missing": batch_total,
                }
            )[:300],
        )
