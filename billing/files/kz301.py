"""The declaration file in the Vektis generic EI declaration format, KZ301 v3.2 (kraamzorg and integrated birth
care): 310-position ASCII records ended by CR LF. The layout is data in `billing.files.vektis`; this module only
decides which value goes in which field. `write_batch` writes a claim batch's frozen lines as such a file.

Quality bonus and malus lines concern the IGO, not an insured person: they are written after all persons as 04
records without a 02 record, with BSN 000000000, spaces as insured number and prestatie code `QUALITY_CODE`; a 98
comment explains them (see docs/kz301.md; provisional, to be agreed with the insurer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from billing.files import vektis
from billing.files.vektis import KZ301, RecordError, cents_text, encode
from billing.models import QUALITY_PHASE, BatchLine, ClaimBatch, Sign
from billing.services.quality_claims import quality_line_comment
from igo.dates import month_end
from igo.text import FAMILY_NAME_LENGTH, INITIALS_LENGTH, ascii_text, ascii_upper

__all__ = ["Header", "Line", "RecordError", "batch_lines", "invoice_number", "write", "write_batch"]

RECORD_LENGTH = vektis.KZ301_LENGTH
ENCODING = vektis.ENCODING
NO_BSN = "000000000"  # a quality bonus or malus line has no insured person
QUALITY_CODE = "KWALIT"  # 0416 of a quality line: list 069 has no code for it [provisional]
COMMENT_LENGTH = KZ301["98"].field("text").length


def cents(amount: Decimal) -> int:
    return int((abs(amount) * 100).to_integral_value())


def invoice_number(period: date, number: int) -> str:
    """0116 Factuurnummer declarant: the batch's month and number (`JJJJMM` + 6 digits), unique per IGO."""
    return f"{period:%Y%m}{number:06d}"


def batch_number_of(invoice: str) -> int | None:
    """The batch number in a factuurnummer made by `invoice_number`, or None if it is not one."""
    text = invoice.strip()
    return int(text[6:]) if len(text) == 12 and text.isdecimal() else None


@dataclass
class Header:
    agb: str
    receiver_uzovi: str
    invoice_number: str
    invoice_date: date
    period_start: date
    period_end: date


@dataclass
class Line:
    bsn: str  # empty for a quality bonus or malus line: no 02 record, BSN zeros in the 04
    uzovi: str
    insured_number: str
    date_of_birth: date | None
    family_name: str
    initials: str
    line_reference: str
    corrects_reference: str
    debit: bool
    prestatie_code: str
    service_start: date
    service_end: date
    tariff: Decimal
    amount: Decimal  # signed: negative for a credit
    comments: tuple[str, ...] = ()


def comment_lines(texts: Iterable[str]) -> list[str]:
    """Free text as 98 record texts of at most 140 positions, broken between words where possible."""
    out: list[str] = []
    for text in texts:
        rest = ascii_text(text)
        while rest:
            if len(rest) <= COMMENT_LENGTH:
                out.append(rest)
                break
            cut = rest.rfind(" ", 0, COMMENT_LENGTH + 1)
            cut = cut if cut > 0 else COMMENT_LENGTH
            out.append(rest[:cut].rstrip())
            rest = rest[cut:].lstrip()
    return out


def write(header: Header, lines: Iterable[Line], emit: Callable[[bytes], Any]) -> dict[str, int]:
    """Write a whole file through `emit`, lines grouped per insured person in the order given.

    Returns the counts and totals (cents), so that the caller can check them against the database.
    """
    detail = 0
    counts = {"02": 0, "04": 0, "98": 0}
    debit = credit = 0

    def put(code: str, values: dict[str, Any]) -> None:
        nonlocal detail
        if code in counts:
            counts[code] += 1
            detail += 1
            values = {"detail_id": detail, **values}
        emit((encode(KZ301[code], values) + vektis.RECORD_END).encode(ENCODING))

    put(
        "01",
        {
            "message_code": vektis.MESSAGE_CODE,
            "version": vektis.VERSION,
            "subversion": vektis.SUBVERSION,
            "message_kind": vektis.MESSAGE_KIND,
            "uzovi": header.receiver_uzovi,
            "institution_agb": header.agb,
            "payee": vektis.PAYEE,
            "period_start": header.period_start,
            "period_end": header.period_end,
            "invoice_number": header.invoice_number,
            "invoice_date": header.invoice_date,
            "currency": "EUR",
        },
    )
    person: tuple[str, str] | None = None
    for line in lines:
        insured = ascii_upper(line.insured_number)
        if line.bsn and (line.bsn, insured) != person:
            person = (line.bsn, insured)
            put(
                "02",
                {
                    "bsn": line.bsn,
                    "uzovi": line.uzovi,
                    "insured_number": insured,
                    "date_of_birth": line.date_of_birth,
                    "sex": vektis.SEX_FEMALE,
                    "name_code": vektis.NAME_USE_OWN,
                    "family_name": ascii_upper(line.family_name, FAMILY_NAME_LENGTH),
                    "initials": ascii_upper(line.initials, INITIALS_LENGTH),
                    "deceased": vektis.NOT_DECEASED,
                },
            )
        elif not line.bsn:
            person = None
        amount = cents(line.amount)
        if line.debit:
            debit += amount
        else:
            credit += amount
        dc = "D" if line.debit else "C"
        put(
            "04",
            {
                "bsn": line.bsn or NO_BSN,
                "uzovi": line.uzovi,
                "insured_number": insured,
                "forwarding_allowed": vektis.FORWARDING_ALLOWED,
                "service_start": line.service_start,
                "service_end": line.service_end,
                "code_list": vektis.CODE_LIST,
                "prestatie_code": line.prestatie_code,
                "provider_agb": header.agb,
                "quantity": vektis.QUANTITY,
                "tariff": cents_text(line.tariff),
                "calculated_amount": cents_text(amount),
                "calculated_dc": dc,
                "amount": cents_text(amount),
                "amount_dc": dc,
                "reference": line.line_reference,
                "previous_reference": line.corrects_reference,
            },
        )
        for no, text in enumerate(comment_lines(line.comments), start=1):
            put("98", {"line_number": no, "text": text})
    net = debit - credit
    put(
        "99",
        {
            "count_02": counts["02"],
            "count_03": 0,
            "count_04": counts["04"],
            "count_98": counts["98"],
            "count_detail": detail,
            "total": cents_text(abs(net), KZ301["99"].field("total").length),
            "total_dc": "D" if net >= 0 else "C",
        },
    )
    return {**{f"count_{k}": v for k, v in counts.items()}, "debit": debit, "credit": credit, "net": net}


# --- a claim batch as a KZ301 file ---------------------------------------------------------------


def _comments(row: BatchLine) -> tuple[str, ...]:
    if row.phase == QUALITY_PHASE:
        return (quality_line_comment(row.claim_line),)
    out = []
    if row.corrects_number:
        out.append(_("Credit of line %(ref)s.") % {"ref": row.corrects_number})
    if row.percentage != 100:
        # The format has no percentage field: the share of the tariff claimed is said in a comment.
        out.append(
            _("Percentage: %(pct)s %% of the tariff.") % {"pct": f"{row.percentage:.2f}".replace(".", ",")}
        )
    return tuple(out)


def batch_lines(batch: ClaimBatch, rows: Iterable[BatchLine]) -> Iterable[Line]:
    for row in rows:
        quality = row.phase == QUALITY_PHASE
        yield Line(
            bsn=row.bsn,
            uzovi=batch.insurer.uzovi_code,
            insured_number=row.policy_number,
            date_of_birth=row.date_of_birth,
            family_name=row.family_name,
            initials=row.initials,
            line_reference=row.number,
            corrects_reference=row.corrects_number,
            debit=row.sign == Sign.DEBIT,
            prestatie_code=QUALITY_CODE if quality else row.prestatie_code,
            service_start=row.service_start,
            service_end=row.service_end,
            # A quality line's tariff is the year's base amount, which need not fit in 8 positions.
            tariff=abs(row.amount) if quality else row.tariff,
            amount=row.amount,
            comments=_comments(row),
        )


def write_batch(batch: ClaimBatch, rows: Iterable[BatchLine], emit: Callable[[bytes], Any]) -> dict[str, int]:
    """Write a batch's lines (in file order) as a KZ301 file; returns the counts and totals, like `write`."""
    header = Header(
        agb=batch.tenant.agb_code,
        receiver_uzovi=batch.insurer.uzovi_code,
        invoice_number=invoice_number(batch.period, batch.number),
        invoice_date=timezone.localtime(batch.created_at).date(),
        period_start=batch.period,
        period_end=month_end(batch.period),
    )
    return write(header, batch_lines(batch, rows), emit)
