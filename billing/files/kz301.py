"""The fixed-width declaration file, laid out after the Vektis KZ301 standard (kraamzorg and integrated
birth care). docs/kz301.md documents the same record specification for the insurer's side; a test reads
our files back with a reader built from that document, not from this module. `write_batch` writes a
claim batch's frozen lines as such a file.

Every record is 370 characters, ISO-8859-1, ended by CR LF. Numeric fields (N) are right-aligned and
zero-filled, text (AN) is left-aligned and space-filled, dates (D) are YYYYMMDD. Amounts are whole cents
without a sign; the sign of a claim line is in its debit/credit field ("D" or "C").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import QUALITY_PHASE, BatchLine, ClaimBatch, Sign
from billing.services.quality_claims import quality_line_comment
from igo.dates import month_end

RECORD_LENGTH = 370
ENCODING = "iso-8859-1"
MESSAGE_CODE = "KZ301"
MESSAGE_VERSION = 1
CODE_LIST = 69  # the integrated birth-care prestatie code list


@dataclass(frozen=True)
class Field:
    name: str
    start: int  # 1-based, as in the printed specification
    length: int
    kind: str  # "N", "AN" or "D"

    @property
    def end(self) -> int:
        return self.start + self.length - 1


def _fields(*spec: tuple[str, int, str]) -> tuple[Field, ...]:
    """Lay fields out one after another from position 1, then fill the record to its full length."""
    out: list[Field] = []
    pos = 1
    for name, length, kind in spec:
        out.append(Field(name, pos, length, kind))
        pos += length
    if pos <= RECORD_LENGTH:
        out.append(Field("filler", pos, RECORD_LENGTH - pos + 1, "AN"))
    assert out[-1].end == RECORD_LENGTH, "record longer than 370"
    return tuple(out)


_LEAD = (("record_code", 2, "N"), ("record_seq", 12, "N"))

RECORDS: dict[str, tuple[Field, ...]] = {
    # 01 header: who sends what to whom, for which period.
    "01": _fields(
        *_LEAD,
        ("message_code", 6, "AN"),
        ("message_version", 2, "N"),
        ("sender_agb", 8, "N"),
        ("receiver_uzovi", 4, "N"),
        ("invoice_number", 12, "N"),
        ("invoice_date", 8, "D"),
        ("period_start", 8, "D"),
        ("period_end", 8, "D"),
        ("currency", 3, "AN"),
        ("sender_name", 40, "AN"),
    ),
    # 02 insured person: one per person, followed by that person's claim lines.
    "02": _fields(
        *_LEAD,
        ("bsn", 9, "N"),
        ("uzovi", 4, "N"),
        ("insured_number", 20, "AN"),
        ("date_of_birth", 8, "D"),
        ("family_name", 25, "AN"),
        ("initials", 6, "AN"),
    ),
    # 04 claim line (prestatie record).
    "04": _fields(
        *_LEAD,
        ("bsn", 9, "N"),
        ("uzovi", 4, "N"),
        ("insured_number", 20, "AN"),
        ("line_reference", 32, "AN"),
        ("corrects_reference", 32, "AN"),
        ("debit_credit", 1, "AN"),
        ("code_list", 3, "N"),
        ("prestatie_code", 16, "AN"),
        ("service_start", 8, "D"),
        ("service_end", 8, "D"),
        ("tariff_cents", 11, "N"),
        ("percentage_hundredths", 5, "N"),
        ("amount_cents", 11, "N"),
        ("provider_agb", 8, "N"),
        ("episode_reference", 20, "AN"),
    ),
    # 98 comment, attached to the record before it.
    "98": _fields(
        *_LEAD,
        ("refers_to_seq", 12, "N"),
        ("comment_line", 4, "N"),
        ("comment", 140, "AN"),
    ),
    # 99 trailer: counts and totals, for the receiver's completeness check.
    "99": _fields(
        *_LEAD,
        ("count_02", 7, "N"),
        ("count_04", 7, "N"),
        ("count_98", 7, "N"),
        ("count_records", 7, "N"),
        ("debit_total_cents", 13, "N"),
        ("credit_total_cents", 13, "N"),
        ("total_sign", 1, "AN"),
        ("total_cents", 13, "N"),
    ),
}


class RecordError(ValueError):
    pass


# Only names and free text may be shortened to fit; a code, number or reference cut short would claim
# something else, so it is refused instead (the model fields are never longer than these).
MAY_SHORTEN = frozenset({"sender_name", "family_name", "initials", "comment"})


def _text(value: Any) -> str:
    text = "" if value is None else str(value)
    # Keep only what ISO-8859-1 can carry; a character outside it becomes "?" rather than failing.
    return text.encode(ENCODING, "replace").decode(ENCODING).replace("\r", " ").replace("\n", " ")


def format_field(f: Field, value: Any) -> str:
    if f.kind == "N":
        number = 0 if value in (None, "") else int(value)
        if number < 0:
            raise RecordError(f"{f.name}: negative numbers are carried by a sign field")
        text = str(number)
        if len(text) > f.length:
            raise RecordError(f"{f.name}: {text} does not fit in {f.length} positions")
        return text.rjust(f.length, "0")
    if f.kind == "D":
        if value is None:
            return "0" * 8
        if not isinstance(value, date):
            raise RecordError(f"{f.name}: not a date")
        return value.strftime("%Y%m%d")
    text = _text(value)
    if len(text) > f.length:
        if f.name not in MAY_SHORTEN:
            raise RecordError(f"{f.name}: {text!r} is longer than {f.length} positions")
        text = text[: f.length]
    return text.ljust(f.length)


def render(code: str, seq: int, values: Mapping[str, Any]) -> str:
    fields = RECORDS[code]
    unknown = set(values) - {f.name for f in fields}
    if unknown:
        raise RecordError(f"record {code}: unknown fields {sorted(unknown)}")
    record = "".join(
        format_field(f, {"record_code": int(code), "record_seq": seq}.get(f.name, values.get(f.name)))
        for f in fields
    )
    assert len(record) == RECORD_LENGTH
    return record


def cents(amount: Decimal) -> int:
    return int((abs(amount) * 100).to_integral_value())


@dataclass
class Header:
    sender_agb: str
    sender_name: str
    receiver_uzovi: str
    invoice_number: int
    invoice_date: date
    period_start: date
    period_end: date


@dataclass
class Line:
    bsn: str  # empty for a line without an insured person (a quality bonus or malus): no 02 record
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
    percentage: Decimal
    amount: Decimal  # signed: negative for a credit
    episode_reference: str
    comment: str = ""


def write(header: Header, lines: Iterable[Line], emit: Callable[[bytes], Any]) -> dict[str, int]:
    """Write a whole file through `emit`, lines grouped per insured person in the order given.

    Returns the trailer counts and totals, so that the caller can check them against the database.
    """
    seq = 0
    counts = {"02": 0, "04": 0, "98": 0}
    debit = credit = 0

    def put(code: str, values: Mapping[str, Any]) -> int:
        nonlocal seq
        seq += 1
        if code in counts:
            counts[code] += 1
        emit((render(code, seq, values) + "\r\n").encode(ENCODING))
        return seq

    put(
        "01",
        {
            "message_code": MESSAGE_CODE,
            "message_version": MESSAGE_VERSION,
            "sender_agb": header.sender_agb,
            "receiver_uzovi": header.receiver_uzovi,
            "invoice_number": header.invoice_number,
            "invoice_date": header.invoice_date,
            "period_start": header.period_start,
            "period_end": header.period_end,
            "currency": "EUR",
            "sender_name": header.sender_name,
        },
    )
    person: tuple[str, str] | None = None
    for line in lines:
        if line.bsn and (line.bsn, line.insured_number) != person:
            person = (line.bsn, line.insured_number)
            put(
                "02",
                {
                    "bsn": line.bsn,
                    "uzovi": line.uzovi,
                    "insured_number": line.insured_number,
                    "date_of_birth": line.date_of_birth,
                    "family_name": line.family_name,
                    "initials": line.initials,
                },
            )
        amount = cents(line.amount)
        if line.debit:
            debit += amount
        else:
            credit += amount
        at = put(
            "04",
            {
                "bsn": line.bsn,
                "uzovi": line.uzovi,
                "insured_number": line.insured_number,
                "line_reference": line.line_reference,
                "corrects_reference": line.corrects_reference,
                "debit_credit": "D" if line.debit else "C",
                "code_list": CODE_LIST,
                "prestatie_code": line.prestatie_code,
                "service_start": line.service_start,
                "service_end": line.service_end,
                "tariff_cents": cents(line.tariff),
                "percentage_hundredths": cents(line.percentage),
                "amount_cents": amount,
                "provider_agb": header.sender_agb,
                "episode_reference": line.episode_reference,
            },
        )
        if line.comment:
            put("98", {"refers_to_seq": at, "comment_line": 1, "comment": line.comment})
    net = debit - credit
    put(
        "99",
        {
            "count_02": counts["02"],
            "count_04": counts["04"],
            "count_98": counts["98"],
            "count_records": seq + 1,
            "debit_total_cents": debit,
            "credit_total_cents": credit,
            "total_sign": "D" if net >= 0 else "C",
            "total_cents": abs(net),
        },
    )
    return {**{f"count_{k}": v for k, v in counts.items()}, "debit": debit, "credit": credit, "net": net}


# --- a claim batch as a KZ301 file ---------------------------------------------------------------


def _comment(row: BatchLine) -> str:
    if row.phase == QUALITY_PHASE:
        return quality_line_comment(row.claim_line)
    return _("Credit of line %(ref)s.") % {"ref": row.corrects_number} if row.corrects_number else ""


def batch_lines(batch: ClaimBatch, rows: Iterable[BatchLine]) -> Iterable[Line]:
    for row in rows:
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
            prestatie_code=row.prestatie_code,
            service_start=row.service_start,
            service_end=row.service_end,
            tariff=row.tariff,
            percentage=row.percentage,
            amount=row.amount,
            episode_reference=row.episode_ref,
            comment=_comment(row),
        )


def write_batch(batch: ClaimBatch, rows: Iterable[BatchLine], emit: Callable[[bytes], Any]) -> dict[str, int]:
    """Write a batch's lines (in file order) as a KZ301 file; returns the trailer's totals, like `write`."""
    header = Header(
        sender_agb=batch.tenant.agb_code,
        sender_name=batch.tenant.name,
        receiver_uzovi=batch.insurer.uzovi_code,
        invoice_number=batch.number,
        invoice_date=timezone.localtime(batch.created_at).date(),
        period_start=batch.period,
        period_end=month_end(batch.period),
    )
    return write(header, batch_lines(batch, rows), emit)
