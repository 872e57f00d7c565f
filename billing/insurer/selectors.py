"""Reads for the insurer side: the released claim batches addressed to an insurer, from every IGO.

Cross-tenant on purpose (an insurer deals with many IGOs), hence the `unscoped` managers; every query is
bounded by the insurers the caller may act for and by `status = released`. An insurer sees batch lines
(what a claim needs), never care events or notes; a batch it may not see is a 404, not a 403, so that
the answer does not tell which batches exist.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Count, F, Q, QuerySet
from django.http import Http404

from billing.models import (
    BatchFile,
    BatchFileKind,
    BatchLine,
    BatchStatus,
    ClaimBatch,
    ReturnStatus,
)
from billing.services.return_codes import return_code_choices
from igo.models import Insurer, Tenant

PERIOD_RE = re.compile(r"^((?:19|20)\d{2})-(0[1-9]|1[0-2])$")


def period_parse(value: str) -> dt.date | None:
    """`YYYY-MM` to the first of that month; None for anything else."""
    match = PERIOD_RE.match((value or "").strip())
    return dt.date(int(match[1]), int(match[2]), 1) if match else None


def insurer_batch_queryset(*, insurers: Sequence[Insurer]) -> QuerySet[ClaimBatch]:
    """Released batches for these insurers, across all IGOs, with counts of answered, rejected and
    open lines."""
    return (
        ClaimBatch.unscoped.filter(insurer__in=[i.pk for i in insurers], status=BatchStatus.RELEASED)
        .select_related("tenant", "insurer")
        .annotate(
            answered=Count("lines__answer"),
            rejected=Count("lines__answer", filter=Q(lines__answer__status=ReturnStatus.REJECTED)),
            partly_awarded=Count("lines__answer", filter=Q(lines__answer__status=ReturnStatus.PARTIAL)),
        )
        .annotate(open_lines=F("line_count") - F("answered"))
    )


def insurer_batch_list(
    *, insurers: Sequence[Insurer], period: dt.date | None = None, igo: str = ""
) -> QuerySet[ClaimBatch]:
    qs = insurer_batch_queryset(insurers=insurers)
    if period is not None:
        qs = qs.filter(period=period.replace(day=1))
    if igo:
        qs = qs.filter(tenant__slug=igo)
    return qs.order_by("-period", "tenant__name", "-number", "pk")


def insurer_batch_get(*, insurers: Sequence[Insurer], pk: int) -> ClaimBatch:
    """One released batch of these insurers, or 404 (another insurer's batch, a draft, or none)."""
    batch = insurer_batch_queryset(insurers=insurers).filter(pk=pk).first()
    if batch is None:
        raise Http404
    return batch


def insurer_batch_lines(*, batch: ClaimBatch) -> list[BatchLine]:
    """The lines of a batch in file order, each with its answer (`line.answer`) when there is one."""
    return list(
        BatchLine.unscoped.filter(batch=batch).select_related("answer__batch_return").order_by("line_no")
    )


def insurer_batch_client_ids(*, batch: ClaimBatch, line_ids: Sequence[int] | None = None) -> list[int]:
    """The clients of a batch's lines (of `line_ids` only, when given; a quality line has none), for the
    IGO's access log when an insurer reads them."""
    lines = BatchLine.unscoped.filter(batch=batch, claim_line__episode__isnull=False)
    if line_ids is not None:
        lines = lines.filter(pk__in=line_ids)
    return sorted(set(lines.values_list("claim_line__episode__client_id", flat=True)))


def insurer_igo_choices(*, insurers: Sequence[Insurer]) -> list[Tenant]:
    """The IGOs that sent these insurers at least one batch, for the filter."""
    ids = ClaimBatch.unscoped.filter(
        insurer__in=[i.pk for i in insurers], status=BatchStatus.RELEASED
    ).values("tenant_id")
    return list(Tenant.objects.filter(pk__in=ids).order_by("name"))


def insurer_return_code_choices(*, on: dt.date) -> list[tuple[str, str]]:
    """The reason codes an answer may carry on `on` (the day the batch was released), as (code, "code
    description"): the list the service checks answers against (`return_code_choices`)."""
    return return_code_choices(on=on)


# --- files ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    content: bytes
    content_type: str
    filename: str
    sha256: str


CONTENT_TYPES = {
    BatchFileKind.KZ301: "text/plain; charset=us-ascii",
    BatchFileKind.CSV: "text/csv; charset=utf-8",
    BatchFileKind.PDF: "application/pdf",
}
EXTENSIONS = {BatchFileKind.KZ301: "txt", BatchFileKind.CSV: "csv", BatchFileKind.PDF: "pdf"}


def batch_filename(batch: ClaimBatch, kind: str) -> str:
    """E.g. `KZ301_53000001_3311_2026-10_7.txt`: sender AGB, insurer UZOVI, month and batch number, so
    that files of different IGOs and months never collide in a download folder."""
    stem = {BatchFileKind.KZ301: "KZ301", BatchFileKind.CSV: "batch", BatchFileKind.PDF: "batch"}[
        BatchFileKind(kind)
    ]
    return (
        f"{stem}_{batch.tenant.agb_code}_{batch.insurer.uzovi_code}_{batch.period:%Y-%m}_{batch.number}"
        f".{EXTENSIONS[BatchFileKind(kind)]}"
    )


def insurer_batch_file(*, batch: ClaimBatch, kind: str) -> Download:
    """A stored file of a batch the caller may see (look the batch up with insurer_batch_get first). A
    draft's files are never sent: they are marked CONCEPT and only finance of its IGO downloads them."""
    if kind not in BatchFileKind.values or batch.status != BatchStatus.RELEASED:
        raise Http404
    stored = BatchFile.unscoped.filter(batch=batch, kind=kind).first()
    if stored is None:
        raise Http404
    return Download(
        content=bytes(stored.content),
        content_type=CONTENT_TYPES[BatchFileKind(kind)],
        filename=batch_filename(batch, kind),
        sha256=stored.sha256,
    )
