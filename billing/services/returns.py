"""The insurer's return information: per line of a released batch, accepted, rejected with a reason code, or
partly awarded (an amount between nothing and the line's, signed like it, with a reason code); a rejected line
goes to the IGO's work queue, and finance can bill it again; a partly awarded line is settled at what was
awarded (`partial_awards`), so the members' parts and their payouts follow. The portal, the API, the CSV return
file and a KZ302 file (`billing.files.kz302`) all record through `batch_return_record`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.models import (
    RETURN_CODES,  # noqa: F401  (re-exported: the platform's own codes of the CSV route)
    BatchLine,
    BatchReturn,
    BatchStatus,
    ClaimBatch,
    ClaimLine,
    LineStatus,
    ReturnLine,
    ReturnSource,
    ReturnStatus,
    Sign,
    WorkItem,
    WorkReason,
)
from billing.services.claim_lines import retire_line
from billing.services.insurer_payments import insurer_payment_match
from billing.services.partial_awards import partial_award_items, partial_award_settle
from billing.services.rejected_credits import (
    credits_of_rejected_answered,
    credits_of_rejected_settle,
    rejected_credit_items,
)
from billing.services.return_codes import return_code_choices, return_code_labels
from billing.services.run import billing_run_batch
from igo.csv_upload import RowError, RowErrors
from igo.models import User
from igo.money import euro_text
from igo.services import audit_record
from igo.tenancy import tenant_scope


@dataclass
class ReturnEntry:
    reference: str
    status: str
    reason_code: str = ""
    reason_text: str = ""
    # The awarded amount, signed like the line, when the answer states it (a KZ302 file always does; then
    # an accepted line may carry an informational code such as 8001, and `codes` holds all of a line's).
    awarded_amount: Decimal | None = None
    codes: tuple[str, ...] = ()
    # A KZ302 file's codes come from the insurer's system and Vektis' list, which may be newer than ours:
    # kept as they come (`billing.services.return_codes`). A typed answer (portal, JSON, CSV) must use the
    # list the portal offers.
    codes_as_sent: bool = False


# What pages call the fields of return information (also the columns of a return file).
FIELD_LABELS = {
    "file": gettext_lazy("file"),
    "reference": gettext_lazy("reference"),
    "status": gettext_lazy("status"),
    "reason_code": gettext_lazy("reason code"),
    "reason_text": gettext_lazy("explanation"),
    "lines": gettext_lazy("lines"),
    "batch": gettext_lazy("batch"),
    "awarded_amount": gettext_lazy("awarded amount"),
    "uzovi": gettext_lazy("UZOVI number"),
    "invoice": gettext_lazy("invoice number"),
    "agb": gettext_lazy("AGB code"),
    "bsn": gettext_lazy("BSN"),
    "record": gettext_lazy("record"),
    "totals": gettext_lazy("totals"),
}


class ReturnRowError(RowError):
    """A problem with an entry of return information (numbered from 1; 0 for the delivery as a whole),
    or with a row of a return file."""

    labels = FIELD_LABELS


class ReturnError(RowErrors[ReturnRowError]):
    """Return information that cannot be processed; nothing of it was stored."""


def batch_return_record(
    *,
    batch: ClaimBatch,
    entries: Sequence[ReturnEntry],
    user: User,
    source: str = ReturnSource.PORTAL,
    filename: str = "",
) -> BatchReturn:
    """Record the insurer's answer for lines of a released batch. All entries are checked first; one
    bad entry stores nothing. A rejected line goes to the IGO's work queue."""
    errors: list[ReturnRowError] = []
    if not entries:
        raise ReturnError([ReturnRowError(0, "lines", _("The return information holds no lines."))])
    with transaction.atomic():
        locked = ClaimBatch.unscoped.select_for_update().get(pk=batch.pk)
        if locked.status != BatchStatus.RELEASED:
            raise ReturnError([ReturnRowError(0, "batch", _("This batch has not been released."))])
        by_ref = {
            row.number: row
            for row in BatchLine.unscoped.filter(batch=locked).select_related("claim_line", "answer")
        }
        released_on = timezone.localdate(locked.released_at) if locked.released_at else timezone.localdate()
        valid_codes = {code for code, _label in return_code_choices(on=released_on)}
        seen: set[str] = set()
        for i, entry in enumerate(entries, start=1):
            ref = (entry.reference or "").strip()
            row = by_ref.get(ref)
            if row is None:
                errors.append(
                    ReturnRowError(i, "reference", _("Line %(ref)s is not in this batch.") % {"ref": ref})
                )
                continue
            if ref in seen:
                errors.append(ReturnRowError(i, "reference", _("Line %(ref)s appears twice.") % {"ref": ref}))
            seen.add(ref)
            if hasattr(row, "answer"):
                errors.append(
                    ReturnRowError(
                        i, "reference", _("Line %(ref)s has already been answered.") % {"ref": ref}
                    )
                )
            if entry.status not in ReturnStatus.values:
                errors.append(
                    ReturnRowError(i, "status", _("The status must be “accepted”, “partial” or “rejected”."))
                )
            elif entry.status == ReturnStatus.REJECTED and not entry.reason_code:
                errors.append(ReturnRowError(i, "reason_code", _("A rejection needs a reason code.")))
            elif entry.status == ReturnStatus.PARTIAL and not entry.reason_code:
                # The member's statement and the IGO's work item say why less was paid.
                errors.append(ReturnRowError(i, "reason_code", _("A partial award needs a reason code.")))
            elif entry.status == ReturnStatus.ACCEPTED and entry.reason_code and entry.awarded_amount is None:
                errors.append(ReturnRowError(i, "reason_code", _("An accepted line has no reason code.")))
            code_fits = len(entry.reason_code or "") <= REASON_CODE_LENGTH
            if not code_fits:
                errors.append(ReturnRowError(i, "reason_code", _("A reason code is at most 4 characters.")))
            elif (
                entry.reason_code
                and not entry.codes_as_sent
                and entry.status in (ReturnStatus.REJECTED, ReturnStatus.PARTIAL)
                and entry.reason_code not in valid_codes
            ):
                # The codes the portal offers for this batch (also `return-codes/?batch=`).
                errors.append(
                    ReturnRowError(
                        i,
                        "reason_code",
                        _(
                            "“%(code)s” is not a reason code of the list valid on %(day)s (the batch's release)."
                        )
                        % {"code": entry.reason_code, "day": f"{released_on:%d-%m-%Y}"},
                    )
                )
            if code_fits:
                errors.extend(ReturnRowError(i, "awarded_amount", m) for m in _award_problems(entry, row))
            if len(entry.reason_text or "") > 200:
                errors.append(
                    ReturnRowError(i, "reason_text", _("The explanation is longer than 200 characters."))
                )
        if errors:
            raise ReturnError(errors)
        answer = BatchReturn.unscoped.create(
            tenant_id=locked.tenant_id,
            batch=locked,
            source=source,
            filename=filename[:200],
            received_by=user,
            accepted=sum(1 for e in entries if e.status == ReturnStatus.ACCEPTED),
            rejected=sum(1 for e in entries if e.status == ReturnStatus.REJECTED),
            partial=sum(1 for e in entries if e.status == ReturnStatus.PARTIAL),
        )
        ReturnLine.unscoped.bulk_create(
            ReturnLine(
                tenant_id=locked.tenant_id,
                batch_return=answer,
                batch_line=by_ref[e.reference.strip()],
                status=e.status,
                reason_code=e.reason_code
                if e.status != ReturnStatus.ACCEPTED or e.awarded_amount is not None
                else "",
                reason_text=(e.reason_text or "").strip(),
                awarded_amount=e.awarded_amount,
            )
            for e in entries
        )
        status_of = {e.reference.strip(): e.status for e in entries}
        # A partly awarded line is accepted at the awarded amount: its parts are payable once re-divided.
        for status, line_status in (
            (ReturnStatus.ACCEPTED, LineStatus.ACCEPTED),
            (ReturnStatus.PARTIAL, LineStatus.ACCEPTED),
            (ReturnStatus.REJECTED, LineStatus.REJECTED),
        ):
            ids = [by_ref[r].claim_line_id for r, s in status_of.items() if s == status]
            ClaimLine.unscoped.filter(pk__in=ids, status=LineStatus.SENT).update(status=line_status)
        labels = return_code_labels(
            {c for e in entries for c in (e.codes or (e.reason_code,))}, on=released_on
        )
        # The insurer portal and API record returns with no tenant in scope; what follows is the batch's own
        # IGO's business.
        with tenant_scope(locked.tenant), translation.override(settings.LANGUAGE_CODE):
            # Read in the IGO's work queue, not the portal.
            rejected = [e for e in entries if e.status == ReturnStatus.REJECTED]
            # Credits made of a rejected line before this answer came in: withdrawn when not sent yet.
            settled = credits_of_rejected_settle(
                batch=locked, rejected=[by_ref[e.reference.strip()].claim_line for e in rejected]
            )
            _open_rejection_items(locked, rejected, by_ref, labels)
            partial = [e for e in entries if e.status == ReturnStatus.PARTIAL]
            for e in partial:
                assert e.awarded_amount is not None
                partial_award_settle(line=by_ref[e.reference.strip()].claim_line, awarded=e.awarded_amount)
            partial_award_items(
                batch=locked,
                awarded=[
                    (by_ref[e.reference.strip()], e.awarded_amount or Decimal(0), _reasons(e, labels))
                    for e in partial
                ],
            )
            # The accepted total changed: hold the batch's payments against it again.
            insurer_payment_match(batch=locked)
        audit_record(
            actor=user,
            action="batch.return",
            tenant=locked.tenant,
            obj=locked,
            source=source,
            accepted=answer.accepted,
            rejected=answer.rejected,
            partial=answer.partial,
            credits_withdrawn=settled.withdrawn,
            credits_of_rejected_sent=settled.sent,
        )
    return answer


REASON_CODE_LENGTH = 4


def _award_problems(entry: ReturnEntry, row: BatchLine) -> list[str]:
    """What is wrong with an entry's awarded amount for its line (signed like the line)."""
    awarded, claimed = entry.awarded_amount, row.amount
    if awarded is None:
        if entry.status == ReturnStatus.PARTIAL:
            return [_("A partial award needs the awarded amount.")]
        return []
    if entry.status == ReturnStatus.ACCEPTED and awarded != claimed:
        return [_("An accepted line is awarded its amount, %(amount)s.") % {"amount": euro_text(claimed)}]
    if entry.status == ReturnStatus.REJECTED and awarded != 0:
        return [_("A rejected line is awarded nothing.")]
    if entry.status == ReturnStatus.PARTIAL:
        if awarded == 0 or abs(awarded) >= abs(claimed) or (awarded < 0) != (claimed < 0):
            return [
                _("A partial award lies between nothing and the line's amount, %(amount)s.")
                % {"amount": euro_text(claimed)}
            ]
        corrected = row.claim_line.corrects if row.claim_line.corrects_id else None
        # A credit takes back the parts of the line it corrects as they are: it can be awarded in part only
        # as far as that line was (the insurer takes back what it paid).
        if corrected is not None:
            earlier = (
                ReturnLine.unscoped.filter(batch_line__claim_line=corrected, status=ReturnStatus.PARTIAL)
                .values_list("awarded_amount", flat=True)
                .first()
            )
            if earlier is None or awarded != -earlier:
                return [_("A credit can be awarded in part only by what its line was awarded.")]
        elif row.sign == Sign.CREDIT:
            return [_("A credit can be awarded in part only by what its line was awarded.")]
    return []


def _reasons(entry: ReturnEntry, labels: dict[str, str]) -> str:
    codes = entry.codes or ((entry.reason_code,) if entry.reason_code else ())
    return "; ".join(f"{c} {labels.get(c, '')}".strip() for c in codes)


def _open_rejection_items(
    batch: ClaimBatch, rejected: Sequence[ReturnEntry], by_ref: dict[str, BatchLine], labels: dict[str, str]
) -> None:
    keys: dict[tuple[int, str], str] = {}
    refused_credits: list[tuple[ClaimLine, str]] = []
    for e in rejected:
        line = by_ref[e.reference.strip()].claim_line
        if line.sign == Sign.CREDIT:
            # The insurer keeps paying the line this credit takes back: finance sends it again.
            text = (e.reason_text or "").strip()
            refused_credits.append((line, _reasons(e, labels) + (f" ({text})" if text else "")))
            continue
        if not line.is_current or line.episode_id is None:
            # Already replaced by the billing run (credited while it waited for this answer): the correction
            # is on its way, and there is nothing left that finance could bill again.
            continue
        message = _("Rejected by %(insurer)s in batch %(n)s, line %(ref)s: %(code)s %(label)s. %(text)s") % {
            "insurer": batch.insurer.name,
            "n": batch.number,
            "ref": line.number,
            "code": e.reason_code,
            "label": labels.get(e.reason_code, ""),
            "text": e.reason_text,
        }
        keys.setdefault((line.episode_id, line.phase), message.strip())
    existing = set(
        WorkItem.unscoped.filter(
            episode_id__in={k[0] for k in keys}, reason=WorkReason.REJECTED, resolved_at__isnull=True
        ).values_list("episode_id", "phase")
    )
    WorkItem.unscoped.bulk_create(
        WorkItem(
            tenant_id=batch.tenant_id, episode_id=e, phase=p, reason=WorkReason.REJECTED, message=m[:300]
        )
        for (e, p), m in keys.items()
        if (e, p) not in existing
    )
    rejected_credit_items(batch=batch, refused=refused_credits)
    credits_of_rejected_answered(refused=[line for line, _reason in refused_credits])


def rejected_line_rebill(*, line: ClaimLine, actor: User) -> ClaimLine | None:
    """After finance corrected the data behind a rejected line: take it out of use (no credit: the insurer
    never booked it) and bill the phase again from the episode as it is now, with a new line reference. Returns the new debit line (None if the phase is no longer billable).
    Call inside tenant_scope."""
    with transaction.atomic():
        locked = ClaimLine.objects.select_for_update().get(pk=line.pk)
        if not (
            locked.status == LineStatus.REJECTED
            and locked.is_current
            and locked.sign == Sign.DEBIT
            and locked.episode_id is not None
        ):
            raise ValidationError(_("Only a rejected, current debit line can be billed again."), code="state")
        seq = ClaimLine.objects.filter(episode_id=locked.episode_id, phase=locked.phase).count() + 1
        retire_line(locked, seq)
        billing_run_batch(tenant=locked.tenant, episode_ids=[locked.episode_id])
        audit_record(
            actor=actor, action="claim_line.rebill", tenant=locked.tenant, obj=locked, number=locked.number
        )
        return ClaimLine.objects.filter(
            episode_id=locked.episode_id, phase=locked.phase, is_current=True, sign=Sign.DEBIT
        ).first()
