"""Claim lines once made: their numbers, taking one out of use (credit or withdrawal), sending."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from django.utils import timezone

from billing.models import (
    Allocation,
    AllocationBasis,
    ClaimLine,
    LineStatus,
    Sign,
    WorkItem,
    WorkReason,
)
from pregnancies.models import Episode


class LineRef(Protocol):
    """A claim line, or a lighter row of one, as far as its episode and reference go."""

    @property
    def tenant_id(self) -> int: ...
    @property
    def episode_id(self) -> int | None: ...
    @property
    def number(self) -> str: ...


def care_episode_id(line: LineRef) -> int:
    """The episode of a care claim line (only a quality bonus or malus line has none)."""
    assert line.episode_id is not None, f"{line.number} is not a care line"
    return line.episode_id


def line_number(episode: Episode | int, phase: str, sign: str, seq: int) -> str:
    """A care line's reference: episode, phase, D or C, and its place among the episode's lines of that
    phase (unique per IGO, so numbering stays deterministic)."""
    episode_id = episode if isinstance(episode, int) else episode.pk
    return f"{episode_id}-{phase[:3].upper()}-{sign[0].upper()}{seq}"


def quality_line_number(agreement_id: int, sign: str, seq: int) -> str:
    """A quality bonus or malus line's reference: agreement, D or C, and its place among its lines."""
    return f"Q{agreement_id}-{sign[0].upper()}{seq}"


def retire_line(line: ClaimLine, seq: int) -> ClaimLine | None:
    """Take a current line out of use: an unsent one is withdrawn, a rejected one is only taken out of use
    (the insurer holds nothing of it), a sent or accepted one gets an opposite line that refers to it
    (`corrects`) with its allocations mirrored. `seq` numbers that opposite line. Returns it, or None when
    there is none. Care lines and quality bonus or malus lines alike."""
    if line.status == LineStatus.REJECTED and line.episode_id is not None:
        WorkItem.objects.filter(
            episode_id=line.episode_id, phase=line.phase, reason=WorkReason.REJECTED, resolved_at__isnull=True
        ).update(resolved_at=timezone.now())
    if line.status == LineStatus.ACCEPTED and line.episode_id is not None:
        # A line awarded in part that is credited (finance objects, or the billing run replaces it): the
        # credit and the new claim take the difference up.
        WorkItem.objects.filter(
            episode_id=line.episode_id,
            phase=line.phase,
            reason=WorkReason.PARTIAL_AWARD,
            resolved_at__isnull=True,
        ).update(resolved_at=timezone.now())
    line.is_current = False
    if line.status in (LineStatus.READY, LineStatus.REJECTED):
        # Unsent, it is withdrawn. Rejected, the insurer never booked it: a credit would take back money it
        # never paid and come back as 8017 ("no debit known for this credit"); in Vektis practice the phase is
        # simply claimed again with a new line. Either way no opposite line is made.
        update = ["is_current"]
        if line.status == LineStatus.READY:
            line.status = LineStatus.WITHDRAWN
            update.append("status")
        line.save(update_fields=update)
        # Its parts are reversed as of now, so dated member statements do not count them twice.
        Allocation.objects.filter(claim_line=line, is_current=True).update(
            is_current=False, superseded_at=timezone.now()
        )
        return None
    line.save(update_fields=["is_current"])
    sign = Sign.CREDIT if line.sign == Sign.DEBIT else Sign.DEBIT
    if line.agreement_id is not None:  # a quality line: its explanation says what it reverses
        number = quality_line_number(line.agreement_id, sign, seq)
        explanation = {**line.explanation, "reverses": line.number}
    else:
        number = line_number(care_episode_id(line), line.phase, sign, seq)
        explanation = {}
    opposite = ClaimLine.objects.create(
        tenant_id=line.tenant_id,
        episode_id=line.episode_id,
        agreement_id=line.agreement_id,
        phase=line.phase,
        sign=sign,
        number=number,
        prestatie_code=line.prestatie_code,
        contract_id=line.contract_id,
        tariff_id=line.tariff_id,
        percentage=line.percentage,
        insurer_id=line.insurer_id,
        policy_number=line.policy_number,
        service_start=line.service_start,
        service_end=line.service_end,
        amount=-line.amount,
        corrects=line,
        is_current=False,
        explanation=explanation,
    )
    Allocation.objects.bulk_create(
        Allocation(
            tenant_id=a.tenant_id,
            claim_line=opposite,
            kind=a.kind,
            organisation_id=a.organisation_id,
            amount=-a.amount,
            split_rule_id=a.split_rule_id,
            basis=AllocationBasis(credit_of=line.number).to_json(),
        )
        for a in line.allocations.filter(is_current=True)
    )
    return opposite


def claim_lines_mark_sent(*, lines: Iterable[ClaimLine]) -> int:
    """Mark ready lines as sent. From then on they are never changed, only credited."""
    ids = [line.pk for line in lines]
    return ClaimLine.objects.filter(pk__in=ids, status=LineStatus.READY).update(
        status=LineStatus.SENT, sent_at=timezone.now()
    )
