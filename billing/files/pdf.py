"""The PDF documents of claim batches and member statements, rendered by WeasyPrint from `templates/pdf/`."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from billing.models import BatchLine, ClaimBatch, Sign
from billing.statements import Statement
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
