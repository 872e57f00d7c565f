"""Monthly claim batches to insurers: gather, check, freeze with their files, release. The insurer's
answer is `billing.services.returns`; reads for screens live in billing.selectors.

A batch is made in one transaction together with its lines and its three files, so a crash leaves no
half-made batch. Once released it never changes (model code and a PostgreSQL trigger).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from billing.files import kz301
from billing.files.conformance import Problem, conformance_problems
from billing.files.csv import batch_csv
from billing.files.pdf import batch_pdf
from billing.files.vektis import KZ301
from billing.models import (
    PRESEND_REASONS,
    BatchFile,
    BatchFileKind,
    BatchLine,
    BatchStatus,
    ClaimBatch,
    ClaimLine,
    LineStatus,
    PrestatieCode,
    Sign,
    WorkItem,
    WorkReason,
)
from billing.services.claim_lines import care_episode_id
from billing.services.contracts import PRESTATIE_CODE
from billing.services.rollup import submission_deadline
from igo.dates import midnight, month_start, next_month
from igo.models import Insurer, Tenant, User
from igo.services import audit_record
from igo.text import ascii_upper
from igo.validators import bsn_is_valid
from pregnancies.models import mask_bsn

INSURED_NUMBER_LENGTH = KZ301["02"].field("insured_number").length


def initials(given_names: str) -> str:
    return "".join(f"{part[0].upper()}." for part in given_names.split() if part)[:12]


# --- gathering and the pre-send check --------------------------------------------------------


@dataclass
class Snapshot:
    """What the insurer will receive about the person on a line."""

    bsn: str
    policy_number: str
    date_of_birth: date | None
    family_name: str
    initials: str


@dataclass
class Held:
    line: ClaimLine
    reasons: list[tuple[WorkReason, str]] = field(default_factory=list)  # (reason, message)


def _snapshot(line: ClaimLine) -> Snapshot:
    if line.episode is None:  # a quality bonus or malus concerns the IGO, not an insured person
        return Snapshot("", "", None, "", "")
    # A credit repeats what the insurer received with the line it takes back, not today's data.
    original = getattr(line.corrects, "batch_line", None) if line.corrects_id else None
    if original is not None:
        return Snapshot(
            original.bsn,
            original.policy_number,
            original.date_of_birth,
            original.family_name,
            original.initials,
        )
    client = line.episode.client
    return Snapshot(
        client.bsn, line.policy_number, client.date_of_birth, client.family_name, initials(client.given_names)
    )


def _identity(line: ClaimLine, snap: Snapshot) -> tuple[Any, ...]:
    return (
        snap.bsn,
        snap.policy_number,
        line.prestatie_code,
        line.service_start,
        line.service_end,
        abs(line.amount),
    )


def presend_check(
    *, lines: Sequence[ClaimLine], snapshots: dict[int, Snapshot], today: date
) -> dict[int, Held]:
    """Find the lines an insurer would reject. Returns the held lines by id, each with its reasons."""
    held: dict[int, Held] = {}
    codes = list(PrestatieCode.objects.all())

    def hold(line: ClaimLine, reason: WorkReason, message: str) -> None:
        held.setdefault(line.pk, Held(line)).reasons.append((reason, message))

    credits = {_identity(line, snapshots[line.pk]) for line in lines if line.sign == Sign.CREDIT}
    for line in lines:
        snap = snapshots[line.pk]
        if line.agreement_id is not None:
            continue  # a quality line has no insured person and its own prestatie code
        if not bsn_is_valid(snap.bsn):
            hold(
                line, WorkReason.PRESEND_BSN, _("The BSN %(bsn)s is not valid.") % {"bsn": mask_bsn(snap.bsn)}
            )
        if not snap.policy_number.strip():
            hold(line, WorkReason.PRESEND_POLICY, _("The insured number is missing."))
        elif len(ascii_upper(snap.policy_number)) > INSURED_NUMBER_LENGTH:
            hold(
                line,
                WorkReason.PRESEND_POLICY,
                _("The insured number %(number)s is longer than %(n)s positions.")
                % {"number": snap.policy_number, "n": INSURED_NUMBER_LENGTH},
            )
        if not PRESTATIE_CODE.fullmatch(line.prestatie_code):
            # Cut short or changed it would claim another prestatie: the contract's code must be corrected.
            hold(
                line,
                WorkReason.PRESEND_PRESTATIE,
                _("Prestatie code %(code)s does not fit the declaration file (at most 6 capitals or digits).")
                % {"code": line.prestatie_code},
            )
        if line.sign != Sign.DEBIT:
            continue
        deadline = submission_deadline(line.contract, line.service_end)
        if deadline < today:
            hold(
                line,
                WorkReason.PRESEND_DEADLINE,
                _("The submission deadline (%(months)s months after the care) passed on %(d)s.")
                % {"months": line.contract.submission_months, "d": deadline.strftime("%d-%m-%Y")},
            )
        contracted = {t.prestatie_code for t in line.contract.tariffs.all()}
        listed = not codes or any(
            c.code == line.prestatie_code
            and c.valid_from <= line.service_start
            and (c.valid_until is None or line.service_start <= c.valid_until)
            for c in codes
        )
        if line.prestatie_code not in contracted or not listed:
            hold(
                line,
                WorkReason.PRESEND_PRESTATIE,
                _("Prestatie %(code)s is not in the contract %(contract)s or not valid on %(d)s.")
                % {
                    "code": line.prestatie_code,
                    "contract": line.contract.name,
                    "d": line.service_start.strftime("%d-%m-%Y"),
                },
            )
        if _identity(line, snap) in credits:
            # Not an error in the data: the debit waits for the next batch, after its credit went out.
            hold(
                line,
                WorkReason.IDENTICAL_PAIR,
                _("Identical to a credit line in this batch; it goes in the next batch."),
            )
    return held


def _sync_presend_work_items(tenant: Tenant, candidates: Sequence[ClaimLine], held: dict[int, Held]) -> None:
    """Open a work item for each reason a line is held back (except a deferred identical debit), and
    resolve those of earlier checks that no longer apply to the lines checked now. Only the (episode,
    phase) pairs of these candidates are touched: another insurer's check may still hold the same episode."""
    checked = {(line.episode_id, line.phase) for line in candidates if line.episode_id is not None}
    wanted = {
        (care_episode_id(h.line), h.line.phase, reason): message
        for h in held.values()
        for reason, message in h.reasons
        if reason in PRESEND_REASONS
    }
    open_items = {
        (w.episode_id, w.phase, w.reason): w
        for w in WorkItem.objects.filter(
            episode_id__in={e for e, _p in checked}, reason__in=PRESEND_REASONS, resolved_at__isnull=True
        )
        if (w.episode_id, w.phase) in checked
    }
    stale = [w.pk for key, w in open_items.items() if key not in wanted]
    if stale:
        WorkItem.objects.filter(pk__in=stale).update(resolved_at=timezone.now())
    WorkItem.objects.bulk_create(
        WorkItem(tenant=tenant, episode_id=e, phase=p, reason=r, message=m[:300])
        for (e, p, r), m in wanted.items()
        if (e, p, r) not in open_items
    )


# --- making a batch -----------------------------------------------------------------------------


@dataclass
class BatchResult:
    batch: ClaimBatch | None
    created: bool
    held: int = 0


def _sort_key(line: ClaimLine, snap: Snapshot) -> tuple[Any, ...]:
    # Per person, per episode, credits before the debits that replace them.
    # Quality lines (no person) come last.
    return (
        snap.bsn == "",
        snap.bsn,
        snap.policy_number,
        line.episode_id or 0,
        line.phase,
        line.sign != Sign.CREDIT,
        line.number,
    )


def _quality_base(line: ClaimLine) -> Decimal:
    return Decimal(line.explanation.get("base", "0"))


def _file(batch: ClaimBatch, kind: str, content: bytes) -> BatchFile:
    return BatchFile(
        tenant_id=batch.tenant_id,
        batch=batch,
        kind=kind,
        content=content,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
    )


def _make_files(batch: ClaimBatch, rows: Sequence[BatchLine]) -> list[BatchFile]:
    buffer = io.BytesIO()
    with translation.override(settings.LANGUAGE_CODE):  # the insurer gets the documents in Dutch
        totals = kz301.write_batch(batch, rows, buffer.write)
        # The trailer must agree with the batch row, which agrees with the lines: a mismatch aborts it all.
        if (
            totals["debit"] != kz301.cents(batch.debit_total)
            or totals["credit"] != kz301.cents(batch.credit_total)
            or totals["count_04"] != batch.line_count
        ):
            raise RuntimeError(f"batch {batch.number}: file totals do not match the batch")
        return [
            _file(batch, BatchFileKind.KZ301, buffer.getvalue()),
            _file(batch, BatchFileKind.CSV, batch_csv(batch, rows)),
            _file(batch, BatchFileKind.PDF, batch_pdf(batch, rows)),
        ]


def _candidates(*, insurer: Insurer, period: date) -> list[ClaimLine]:
    cutoff = midnight(next_month(period))
    return list(
        ClaimLine.objects.filter(
            insurer=insurer, status=LineStatus.READY, created_at__lt=cutoff, batch_line__isnull=True
        )
        .select_related("episode__client", "tariff", "contract", "corrects__batch_line")
        .prefetch_related("contract__tariffs")
        .order_by("pk")
    )


def batch_period_check(*, period: date, today: date | None = None) -> date:
    """The month a person may have the batches made for (its first day): one that has begun, since the
    care of a later month is not claimable yet. Refused with a ValidationError on `period`."""
    period = month_start(period)
    if period > month_start(today or timezone.localdate()):
        raise ValidationError(
            {"period": ValidationError(_("Batches cannot be made for a future month."), code="future")}
        )
    return period


def batch_create(
    *, tenant: Tenant, insurer: Insurer, period: date, actor: User | None = None, today: date | None = None
) -> BatchResult:
    """Make the batch of one month for one insurer from the ready lines not yet in a batch.

    Idempotent: a second call for the same month returns the existing batch. The tenant row is locked,
    so two workers (or a worker and a person) cannot both number a batch. Call inside tenant_scope.
    """
    period = month_start(period)
    today = today or timezone.localdate()
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        existing = ClaimBatch.objects.filter(insurer=insurer, period=period).first()
        if existing is not None:
            return BatchResult(existing, False)
        lines = _candidates(insurer=insurer, period=period)
        snapshots = {line.pk: _snapshot(line) for line in lines}
        held = presend_check(lines=lines, snapshots=snapshots, today=today)
        _sync_presend_work_items(tenant, lines, held)
        included = sorted(
            (line for line in lines if line.pk not in held), key=lambda ln: _sort_key(ln, snapshots[ln.pk])
        )
        if not included:
            return BatchResult(None, False, held=len(held))
        debit = sum((ln.amount for ln in included if ln.sign == Sign.DEBIT), Decimal("0.00"))
        credit = sum((ln.amount for ln in included if ln.sign == Sign.CREDIT), Decimal("0.00"))
        last = ClaimBatch.objects.aggregate(n=Max("number"))["n"] or 0
        batch = ClaimBatch.objects.create(
            tenant=tenant,
            number=last + 1,
            insurer=insurer,
            period=period,
            line_count=len(included),
            debit_total=debit,
            credit_total=credit,
            total=debit + credit,
            created_by=actor,
            held=[
                {
                    "line": h.line.pk,
                    "number": h.line.number,
                    "episode": h.line.episode_id,
                    "amount": str(h.line.amount),
                    "reasons": [{"reason": r, "message": str(m)} for r, m in h.reasons],
                }
                for h in held.values()
            ],
        )
        rows = []
        for no, line in enumerate(included, start=1):
            snap = snapshots[line.pk]
            rows.append(
                BatchLine(
                    tenant=tenant,
                    batch=batch,
                    line_no=no,
                    claim_line=line,
                    number=line.number,
                    corrects_number=line.corrects.number if line.corrects is not None else "",
                    sign=line.sign,
                    phase=line.phase,
                    prestatie_code=line.prestatie_code,
                    service_start=line.service_start,
                    service_end=line.service_end,
                    tariff=line.tariff.amount if line.tariff is not None else _quality_base(line),
                    percentage=line.percentage,
                    amount=line.amount,
                    episode_ref=str(line.episode_id) if line.episode_id else f"Q{line.agreement_id}",
                    bsn=snap.bsn,
                    policy_number=snap.policy_number,
                    date_of_birth=snap.date_of_birth,
                    family_name=snap.family_name,
                    initials=snap.initials,
                )
            )
        BatchLine.objects.bulk_create(rows, batch_size=1000)
        BatchFile.objects.bulk_create(_make_files(batch, rows))
        audit_record(
            actor=actor,
            action="batch.create",
            tenant=tenant,
            obj=batch,
            number=batch.number,
            insurer=insurer.uzovi_code,
            period=period.isoformat(),
            lines=batch.line_count,
            total=str(batch.total),
            held=len(held),
        )
        return BatchResult(batch, True, held=len(held))


def batches_create_month(
    *, tenant: Tenant, period: date, actor: User | None = None, today: date | None = None
) -> list[BatchResult]:
    """Make the month's batch for every insurer with ready lines (one transaction per insurer)."""
    cutoff = midnight(next_month(period))
    insurer_ids = set(
        ClaimLine.objects.filter(status=LineStatus.READY, created_at__lt=cutoff, batch_line__isnull=True)
        .values_list("insurer_id", flat=True)
        .distinct()
    )
    return [
        batch_create(tenant=tenant, insurer=insurer, period=period, actor=actor, today=today)
        for insurer in Insurer.objects.filter(pk__in=insurer_ids).order_by("uzovi_code")
    ]


def batches_month_report(*, period: date, results: Sequence[BatchResult], today: date) -> dict[str, Any]:
    """What making a month's batches did, for the page that asked (kept as plain data in the cache): the
    batches made (or found made before), the lines the pre-send check held back, and the ready lines that
    were made after the month ended, by the month they belong to. A month's batch takes only the lines made
    before that month ended, so on a new IGO's first try (last month, the lines all made this month) it
    makes nothing: the report names the month those lines wait for and whether it can be made now."""
    from django.db.models import Count, Sum
    from django.db.models.functions import TruncMonth

    made = [r.batch for r in results if r.batch is not None and r.created]
    later = (
        ClaimLine.objects.filter(
            status=LineStatus.READY, batch_line__isnull=True, created_at__gte=midnight(next_month(period))
        )
        .annotate(month=TruncMonth("created_at", tzinfo=timezone.get_current_timezone()))
        .values("month")
        .annotate(n=Count("pk"), total=Sum("amount"))
        .order_by("month")
    )
    this_month = month_start(today)
    return {
        "period": period.isoformat(),
        "made": len(made),
        "made_lines": sum(b.line_count for b in made),
        "made_total": str(sum((b.total for b in made), Decimal("0.00"))),
        # The month's batches made before (an insurer with no new ready line is not in `results`).
        "existing": ClaimBatch.objects.filter(period=month_start(period))
        .exclude(pk__in=[b.pk for b in made])
        .count(),
        "held": sum(r.held for r in results),
        "later": [
            {
                "month": row["month"].date().isoformat(),
                "lines": row["n"],
                "total": str(row["total"] or Decimal("0.00")),
                "can_make_now": row["month"].date() <= this_month,
            }
            for row in later
        ],
    }


def batch_stale_lines(batch: ClaimBatch) -> list[str]:
    """References of lines in a draft that the billing run has since withdrawn or replaced."""
    return list(
        ClaimLine.objects.filter(batch_line__batch=batch)
        .exclude(status=LineStatus.READY)
        .values_list("number", flat=True)
    )


def batch_file_problems(batch: ClaimBatch) -> list[Problem]:
    """What an insurer's Vektis parser would refuse in the batch's KZ301 file (empty when it conforms)."""
    stored = BatchFile.objects.filter(batch=batch, kind=BatchFileKind.KZ301).values_list("content", flat=True)
    content = stored.first()
    return conformance_problems(bytes(content or b""))


def batch_four_eyes_refusal(*, batch: ClaimBatch, user: User, four_eyes: bool | None = None) -> str:
    """Why `user` may not release `batch` under the IGO's four-eyes setting (empty when she may): she made
    or last rebuilt it. A batch the monthly schedule made has no preparer; its releaser is its first check."""
    if four_eyes is None:
        four_eyes = Tenant.objects.filter(pk=batch.tenant_id).values_list("batch_four_eyes", flat=True).get()
    if not four_eyes or batch.created_by_id is None or batch.created_by_id != user.pk:
        return ""
    return _(
        "You made this batch (or rebuilt it last), so another finance user releases it: this IGO works "
        "with four eyes on claim batches."
    )


def batch_release(*, batch: ClaimBatch, actor: User) -> ClaimBatch:
    """Finance releases a reviewed draft: its lines are sent, and the insurer can fetch it. Under the IGO's
    four-eyes setting the one who made or last rebuilt it cannot (the database refuses it too)."""
    with transaction.atomic():
        locked = ClaimBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status != BatchStatus.DRAFT:
            raise ValidationError(_("This batch has already been released."), code="released")
        # Read with a share lock: an administrator switching the setting off waits for this release.
        four_eyes = (
            Tenant.objects.select_for_update(no_key=True)
            .filter(pk=locked.tenant_id)
            .values_list("batch_four_eyes", flat=True)
            .get()
        )
        refusal = batch_four_eyes_refusal(batch=locked, user=actor, four_eyes=four_eyes)
        if refusal:
            raise ValidationError(refusal, code="four_eyes")
        stale = batch_stale_lines(locked)
        if stale:
            raise ValidationError(
                _(
                    "%(n)s line(s) changed after this batch was made (%(refs)s). "
                    "Rebuild the batch before releasing it."
                )
                % {"n": len(stale), "refs": ", ".join(stale[:5])},
                code="stale",
            )
        problems = batch_file_problems(locked)
        if problems:
            raise ValidationError(
                _(
                    "The declaration file of this batch would be refused by the insurer (%(n)s problem(s)): "
                    "%(problems)s. Rebuild the batch after correcting the data."
                )
                % {"n": len(problems), "problems": "; ".join(str(p) for p in problems[:5])},
                code="conformance",
            )
        now = timezone.now()
        ClaimLine.objects.filter(batch_line__batch=locked, status=LineStatus.READY).update(
            status=LineStatus.SENT, sent_at=now
        )
        locked.status = BatchStatus.RELEASED
        locked.released_at = now
        locked.released_by = actor
        locked.four_eyes = four_eyes
        # The draft's summary says CONCEPT: the released one, of the same frozen lines, takes its place (while
        # the batch is still a draft in the database, which lets its file go).
        BatchFile.objects.filter(batch=locked, kind=BatchFileKind.PDF).delete()
        rows = list(BatchLine.objects.filter(batch=locked).order_by("line_no"))
        with translation.override(settings.LANGUAGE_CODE):  # the insurer gets the documents in Dutch
            BatchFile.objects.bulk_create([_file(locked, BatchFileKind.PDF, batch_pdf(locked, rows))])
        locked.save(update_fields=["status", "released_at", "released_by", "four_eyes"])
        audit_record(
            actor=actor,
            action="batch.release",
            tenant=locked.tenant,
            obj=locked,
            number=locked.number,
            four_eyes=four_eyes,
            prepared_by=locked.created_by.email if locked.created_by is not None else "",
        )
    return locked


def batch_discard(*, batch: ClaimBatch, actor: User) -> None:
    """Throw away a draft; its lines go back to waiting for a batch. A released batch cannot be."""
    with transaction.atomic():
        locked = ClaimBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status != BatchStatus.DRAFT:
            raise ValidationError(_("A released batch cannot be discarded."), code="released")
        audit_record(
            actor=actor,
            action="batch.discard",
            tenant=locked.tenant,
            obj=locked,
            number=locked.number,
            period=locked.period.isoformat(),
        )
        BatchFile.objects.filter(batch=locked).delete()
        BatchLine.objects.filter(batch=locked).delete()
        locked.delete()


def batch_rebuild(*, batch: ClaimBatch, actor: User, today: date | None = None) -> BatchResult:
    """Discard a draft and make the month's batch again from the lines as they are now."""
    tenant, insurer, period = batch.tenant, batch.insurer, batch.period
    with transaction.atomic():
        batch_discard(batch=batch, actor=actor)
        return batch_create(tenant=tenant, insurer=insurer, period=period, actor=actor, today=today)
