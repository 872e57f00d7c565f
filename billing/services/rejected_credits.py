"""Credits the insurer refused, and sending them again.

A correction of a sent claim is a credit of the old line plus a new debit. When the insurer rejects the credit
but accepts the new debit, it pays the phase twice: it still holds the money for the old line. Such a credit
opens a work item for finance (`WorkReason.CREDIT_REJECTED`); its parts stay held back in the ledger
(`billing.ledger.rejected_credits_open`), so the members keep what the insurer keeps paying. Once finance has
dealt with what the insurer objected to, `rejected_credit_resend` makes a new credit of the same old line for
the next batch (the refused credit's parts are reversed and carried by the new one) and closes the work item.

The other way round, a credit of a line the insurer rejects (`credits_of_rejected_settle`): the billing run,
a re-pricing or finance credited a sent line and claimed it anew before the insurer's answer came in, and
the answer is a rejection. The insurer booked nothing for the line, so the credit would take back nothing and
come back as 8017 ("no debit known for this credit"). Not sent yet, the credit is withdrawn (its parts and
the rejected line's are reversed as of the answer, so both add up to nothing and are settled together); the
new claim stays. Already sent, it is left as it is and a work item (`WorkReason.CREDIT_OF_REJECTED`) says so
until the insurer refuses it; if the insurer accepts it instead, finance asks it to reverse that and resolves
the item with a note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import ledger
from billing.models import (
    Allocation,
    AllocationBasis,
    ClaimBatch,
    ClaimLine,
    LineStatus,
    Sign,
    WorkItem,
    WorkReason,
)
from billing.services.claim_lines import line_number, quality_line_number
from igo.models import User
from igo.services import audit_record


def rejected_credit_items(*, batch: ClaimBatch, refused: Sequence[tuple[ClaimLine, str]]) -> int:
    """Open a work item for each credit of `batch` the insurer refused (with its reasons as text) while the
    line it takes back stays paid. A care credit's item is its episode's phase; a quality credit's is the
    batch. Returns how many items were opened. Call inside the batch's tenant_scope."""
    opened = 0
    open_ids = set(ClaimLine.objects.filter(ledger.rejected_credits()).values_list("pk", flat=True))
    for line, reasons in refused:
        if line.pk not in open_ids:
            continue  # a credit of a line the insurer rejected: it takes back nothing
        assert line.corrects is not None
        message = _(
            "Credit %(ref)s (%(amount)s, taking back line %(old)s) was refused by %(insurer)s in batch %(n)s: "
            "%(reasons)s. The insurer still holds the money for the old claim; deal with its objection and "
            "send the credit again."
        ) % {
            "ref": line.number,
            "amount": -line.amount,
            "old": line.corrects.number,
            "insurer": batch.insurer.name,
            "n": batch.number,
            "reasons": reasons,
        }
        subject = (
            {"episode_id": line.episode_id, "phase": line.phase}
            if line.episode_id is not None
            else {"batch": batch, "episode": None}
        )
        item = WorkItem.objects.filter(
            **subject, reason=WorkReason.CREDIT_REJECTED, resolved_at__isnull=True
        ).first()
        if item is None:
            WorkItem.objects.create(
                tenant_id=line.tenant_id,
                **subject,
                reason=WorkReason.CREDIT_REJECTED,
                message=message[:300],
                amount=-line.amount,
            )
            opened += 1
        elif item.amount is not None:  # a second refused credit of the same subject: its money adds up
            item.amount -= line.amount
            item.save(update_fields=["amount"])
    return opened


def rejected_credit_resend(*, line: ClaimLine, actor: User) -> ClaimLine:
    """Send a credit the insurer refused again: a new credit of the same old line, for the next batch, with
    the refused credit's parts; the refused credit's parts are reversed as of now (it is settled at nothing)
    and its work item closes once no refused credit of its subject is left. Refused with a ValidationError
    (nothing stored) for any other line. Call inside tenant_scope."""
    with transaction.atomic():
        try:
            locked = ClaimLine.objects.select_for_update().get(pk=line.pk)
        except ClaimLine.DoesNotExist:
            raise ValidationError(_("This line does not exist."), code="missing") from None
        if not ClaimLine.objects.filter(ledger.rejected_credits_open(), pk=locked.pk).exists():
            raise ValidationError(
                _("Only a credit the insurer refused, and that was not sent again, can be sent again."),
                code="state",
            )
        old = locked.corrects
        assert old is not None
        seq = (
            ClaimLine.objects.filter(agreement_id=locked.agreement_id).count()
            if locked.episode_id is None
            else ClaimLine.objects.filter(episode_id=locked.episode_id, phase=locked.phase).count()
        ) + 1
        number = (
            quality_line_number(locked.agreement_id, Sign.CREDIT, seq)
            if locked.agreement_id is not None
            else line_number(locked.episode_id or 0, locked.phase, Sign.CREDIT, seq)
        )
        resent = ClaimLine.objects.create(
            tenant_id=locked.tenant_id,
            episode_id=locked.episode_id,
            agreement_id=locked.agreement_id,
            phase=locked.phase,
            sign=Sign.CREDIT,
            number=number,
            prestatie_code=locked.prestatie_code,
            contract_id=locked.contract_id,
            tariff_id=locked.tariff_id,
            percentage=locked.percentage,
            insurer_id=locked.insurer_id,
            policy_number=locked.policy_number,
            service_start=locked.service_start,
            service_end=locked.service_end,
            amount=locked.amount,
            corrects=old,
            is_current=False,
            explanation={**locked.explanation, "resends": locked.number},
        )
        parts = list(Allocation.objects.filter(claim_line=locked, is_current=True))
        Allocation.objects.bulk_create(
            Allocation(
                tenant_id=a.tenant_id,
                claim_line=resent,
                kind=a.kind,
                organisation_id=a.organisation_id,
                amount=a.amount,
                split_rule_id=a.split_rule_id,
                basis=AllocationBasis(credit_of=old.number).to_json(),
            )
            for a in parts
        )
        # The refused credit's parts are reversed as of now: with them it adds up to nothing, and the new
        # credit takes its place in the members' books.
        Allocation.objects.filter(pk__in=[a.pk for a in parts]).update(
            is_current=False, superseded_at=timezone.now()
        )
        _close_items(locked)
        audit_record(
            actor=actor,
            action="claim_line.credit_resend",
            tenant=locked.tenant,
            obj=locked,
            number=locked.number,
            resent_as=resent.number,
            amount=str(resent.amount),
        )
    return resent


def _close_items(line: ClaimLine) -> None:
    """Close the CREDIT_REJECTED work item of a credit just sent again, unless another refused credit of the
    same subject is still open."""
    still_open = ClaimLine.objects.filter(ledger.rejected_credits_open())
    items = WorkItem.objects.filter(reason=WorkReason.CREDIT_REJECTED, resolved_at__isnull=True)
    if line.episode_id is not None:
        if still_open.filter(episode_id=line.episode_id, phase=line.phase).exists():
            return
        items = items.filter(episode_id=line.episode_id, phase=line.phase)
    else:
        batch_id = getattr(getattr(line, "batch_line", None), "batch_id", None)
        if still_open.filter(episode__isnull=True, batch_line__batch_id=batch_id).exists():
            return
        items = items.filter(episode__isnull=True, batch_id=batch_id)
    items.update(resolved_at=timezone.now())


@dataclass
class CreditsOfRejected:
    """What `credits_of_rejected_settle` did: the credits withdrawn, and those already sent (with an item)."""

    withdrawn: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)


def _batch_id(line: ClaimLine) -> int | None:
    return getattr(getattr(line, "batch_line", None), "batch_id", None)


def _item_subject(line: ClaimLine) -> dict[str, object]:
    """A care line's work item is its episode's phase; a quality line's, the batch it went out in."""
    if line.episode_id is not None:
        return {"episode_id": line.episode_id, "phase": line.phase}
    return {"episode": None, "batch_id": _batch_id(line)}


def credits_of_rejected_settle(*, batch: ClaimBatch, rejected: Sequence[ClaimLine]) -> CreditsOfRejected:
    """The insurer rejected `rejected` (lines of `batch`, marked rejected already). Each opposite line made of
    one of them before this answer came in (a credit; for a quality malus its counter line) is withdrawn when
    it was not sent yet, its parts and the rejected line's reversed as of now; one already sent gets a
    CREDIT_OF_REJECTED work item. A new claim of the phase made with the credit stays. Call inside the batch's
    tenant_scope, in the transaction that records the answer."""
    done = CreditsOfRejected()
    if not rejected:
        return done
    now = timezone.now()
    opposites = (
        ClaimLine.objects.select_for_update(of=("self",))
        .filter(corrects_id__in=[line.pk for line in rejected])
        .exclude(status__in=(LineStatus.WITHDRAWN, LineStatus.REJECTED))
        .select_related("corrects", "batch_line__batch")
        .order_by("pk")
    )
    for opposite in opposites:
        old = opposite.corrects
        assert old is not None
        if opposite.status == LineStatus.READY:
            # Not sent (ready, perhaps in a batch for review, which must then be rebuilt): withdrawn. Its parts
            # mirrored the rejected line's; both are reversed, so each line's entries add up to nothing.
            opposite.status = LineStatus.WITHDRAWN
            opposite.explanation = {**opposite.explanation, "withdrawn": {"rejected": old.number}}
            opposite.save(update_fields=["status", "explanation"])
            Allocation.objects.filter(claim_line__in=[opposite, old], is_current=True).update(
                is_current=False, superseded_at=now
            )
            done.withdrawn.append(opposite.number)
            continue
        sent_in = opposite.batch_line.batch if hasattr(opposite, "batch_line") else None
        message = _(
            "Credit %(ref)s (%(amount)s) takes back line %(old)s, which %(insurer)s rejected in batch "
            "%(n)s; the credit had already gone out in batch %(sent)s. The insurer booked nothing for the line, "
            "so it should refuse the credit (8017): this item then closes. If it accepts the credit, ask it to "
            "reverse that, then resolve this item with a note."
        ) % {
            "ref": opposite.number,
            "amount": -opposite.amount,
            "old": old.number,
            "insurer": batch.insurer.name,
            "n": batch.number,
            "sent": sent_in.number if sent_in is not None else "–",
        }
        subject = _item_subject(opposite)
        if not WorkItem.objects.filter(
            **subject, reason=WorkReason.CREDIT_OF_REJECTED, resolved_at__isnull=True
        ).exists():
            WorkItem.objects.create(
                tenant_id=opposite.tenant_id,
                **subject,
                reason=WorkReason.CREDIT_OF_REJECTED,
                message=message[:300],
                amount=-opposite.amount,
            )
        done.sent.append(opposite.number)
    return done


def credits_of_rejected_answered(*, refused: Sequence[ClaimLine]) -> None:
    """The insurer refused credits (`refused`): those of a line it had rejected are done with, and their
    CREDIT_OF_REJECTED work item closes (unless another such credit of its subject is still unanswered)."""
    for line in refused:
        if line.corrects_id is None or line.corrects is None or line.corrects.status != LineStatus.REJECTED:
            continue
        subject = _item_subject(line)
        waiting = ClaimLine.objects.filter(
            sign=line.sign, corrects__status=LineStatus.REJECTED, status__in=(LineStatus.SENT,)
        ).exclude(pk=line.pk)
        waiting = (
            waiting.filter(episode_id=line.episode_id, phase=line.phase)
            if line.episode_id is not None
            else waiting.filter(episode__isnull=True, batch_line__batch_id=_batch_id(line))
        )
        if waiting.exists():
            continue
        WorkItem.objects.filter(
            **subject, reason=WorkReason.CREDIT_OF_REJECTED, resolved_at__isnull=True
        ).update(resolved_at=timezone.now())
