"""The PDF documents of claim batches and member statements, rendered by WeasyPrint from `templates/pdf/`."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from billing.models import LINE_PHASES, AllocationBasis, BatchLine, BatchStatus, ClaimBatch, Sign
from billing.statements import PayoutStatement, Statement
from igo.banking import mask_iban
from igo.dates import month_end
from igo.exports import pdf_bytes

# The lines of the PDF are fixed-width text in a monospaced font: WeasyPrint lays out a 2,000-row table
# in ~25 s and 650 MB, the same lines as text in under 2 s (bench/claim_batches.py).
_PDF_COLUMNS = (  # (heading, width, right-aligned)
    ("#", 5, True), ("reference", 16, False), ("corrects", 16, False), ("D/C", 3, False),
    ("BSN", 9, False), ("insured", 15, False), ("name", 24, False), ("prestatie", 11, False),
    ("from", 10, False), ("until", 10, False), ("tariff", 13, True), ("%", 6, True), ("amount", 13, True),
)  # fmt: skip


def _fit(text: str, width: int, right: bool) -> str:
    text = text if len(text) <= width else text[: width - 1] + "…"
    return text.rjust(width) if right else text.ljust(width)


def _pdf_line(values: Sequence[str]) -> str:
    return " ".join(_fit(v, w, r) for v, (_h, w, r) in zip(values, _PDF_COLUMNS, strict=True))


def _money_text(amount: Decimal) -> str:
    return "€ " + formats.number_format(amount, 2, use_l10n=True, force_grouping=True)


def batch_pdf(batch: ClaimBatch, rows: Sequence[BatchLine]) -> bytes:
    """The printable summary of a batch. A draft's says CONCEPT on every page (it is for review, never to be
    sent); `batch_release` makes the released one."""
    headings = [
        "#", _("Reference"), _("Corrects"), "D/C", _("BSN"), _("Insured number"), _("Name"), _("Prestatie"),
        _("From"), _("Until"), _("Tariff"), "%", _("Amount"),
    ]  # fmt: skip
    lines = [
        (
            _pdf_line(
                [
                    str(r.line_no),
                    r.number,
                    r.corrects_number,
                    "D" if r.sign == Sign.DEBIT else "C",
                    r.bsn,
                    r.policy_number,
                    f"{r.family_name}, {r.initials}" if r.family_name else _("quality bonus or malus"),
                    r.prestatie_code,
                    r.service_start.strftime("%d-%m-%Y"),
                    r.service_end.strftime("%d-%m-%Y"),
                    _money_text(r.tariff),
                    formats.number_format(r.percentage, 2, use_l10n=True),
                    _money_text(r.amount),
                ]
            ),
            r.sign == Sign.CREDIT,
        )
        for r in rows
    ]
    return pdf_bytes(
        "pdf/batch_summary.html",
        {
            "batch": batch,
            "tenant": batch.tenant,
            "insurer": batch.insurer,
            "period_end": month_end(batch.period),
            "heading": _pdf_line([str(h) for h in headings]),
            "lines": lines,
            "debit_count": sum(1 for r in rows if r.sign == Sign.DEBIT),
            "credit_count": sum(1 for r in rows if r.sign == Sign.CREDIT),
            "generated_at": timezone.localtime(batch.created_at),
            "concept": batch.status != BatchStatus.RELEASED,
            "released_at": timezone.localtime(batch.released_at) if batch.released_at else None,
        },
    )


def statement_pdf(statement: Statement) -> bytes:
    return pdf_bytes(
        "pdf/member_statement.html",
        {
            "statement": statement,
            "tenant": statement.tenant,
            "doc_title": _("Member statement %(org)s · %(period)s")
            % {"org": statement.organisation.name, "period": statement.period.strftime("%m-%Y")},
            "generated_at": timezone.localtime(),
        },
    )


# --- payout statements (issue 14: payouts) -------------------------------------------------------------

# Fixed-width lines, as in the batch PDF: a payout can pay thousands of entries.
_PAYOUT_COLUMNS = (  # (heading, width, right-aligned)
    ("date", 10, False), ("entry", 14, False), ("claim line", 18, False), ("phase", 10, False),
    ("episode", 9, False), ("D/C", 3, False), ("basis", 36, False), ("amount", 14, True),
)  # fmt: skip


def _payout_line(values: Sequence[str]) -> str:
    return " ".join(_fit(v, w, r) for v, (_h, w, r) in zip(values, _PAYOUT_COLUMNS, strict=True))


def _basis_text(basis: AllocationBasis) -> str:
    if basis.credit_of:
        return _("credit of %(line)s") % {"line": basis.credit_of}
    share = "" if basis.share is None else formats.number_format(basis.share * 100, 2, use_l10n=True) + "%"
    if basis.method == "care":
        points = formats.number_format(basis.points or 0, 2, use_l10n=True)
        return _("care delivered: %(points)s points, %(share)s") % {"points": points, "share": share}
    if basis.method == "fixed":
        return _("fixed share %(share)s") % {"share": share}
    return basis.method


def payout_statement_pdf(statement: PayoutStatement) -> bytes:
    payout = statement.payout
    headings = [
        _("Date"), _("Entry"), _("Claim line"), _("Phase"), _("Episode"), "D/C", _("Basis"), _("Amount"),
    ]  # fmt: skip
    phases = dict(LINE_PHASES)
    lines = [
        (
            _payout_line(
                [
                    timezone.localtime(r.booked_at).strftime("%d-%m-%Y"),
                    str(_("allocation")) if r.entry == "allocation" else str(_("reversal")),
                    r.line.number,
                    str(phases.get(r.line.phase, r.line.phase)),
                    r.episode_ref,
                    "D" if r.line.sign == Sign.DEBIT else "C",
                    _basis_text(r.basis),
                    _money_text(r.amount),
                ]
            ),
            r.amount < 0,
        )
        for r in statement.rows
    ]
    return pdf_bytes(
        "pdf/payout_statement.html",
        {
            "statement": statement,
            "payout": payout,
            "run": payout.run,
            "tenant": statement.tenant,
            "masked_iban": mask_iban(payout.iban),
            "doc_title": _("Payout statement %(org)s · %(period)s")
            % {"org": payout.organisation.name, "period": payout.run.period.strftime("%m-%Y")},
            "heading": _payout_line([str(h) for h in headings]),
            "lines": lines,
            "generated_at": timezone.localtime(),
        },
    )
