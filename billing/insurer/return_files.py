"""Return files uploaded by insurers (KZ302 in spirit, as a simple CSV): parse them to return entries.

The format, documented for insurers in docs/api.md:

    reference;status;reason_code;reason_text;awarded_amount
    1042-PRE-D1;accepted;;;
    1043-NAT-D1;rejected;0101;BSN onbekend;
    1044-POS-D1;partial;0611;Tarief boven de overeenkomst;1200,00

Separator `;` or `,` (taken from the header line); UTF-8 (with or without byte-order mark) or
Windows-1252, as spreadsheets save it; columns in any order; `reason_code` and `reason_text` may be left
out, and so may `awarded_amount` (needed only for a partial award: the amount awarded, signed like the line,
with a decimal comma or point). Status `accepted`/`partial`/`rejected`, or in Dutch
`geaccepteerd`/`gedeeltelijk`/`afgewezen`, in any case.

Parsing only checks the form of each row; whether a line is in the batch, already answered, or a reason
code is known is `billing.services.returns.batch_return_record`'s to decide. Errors carry the file's row
number (the header is row 1), so the insurer can find them in the file; the service's errors, numbered by
entry, are mapped back to rows with `ParsedReturn.row_errors`.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, replace
from decimal import Decimal

from django.utils.translation import gettext as _

from billing.models import ReturnStatus
from billing.services.returns import ReturnEntry, ReturnError, ReturnRowError
from igo.csv_upload import RowErrors, header_columns
from igo.money import CENT, AmountFormatError, amount_parse

COLUMNS = ("reference", "status", "reason_code", "reason_text", "awarded_amount")
REQUIRED = ("reference", "status")
STATUS_WORDS: dict[str, str] = {
    "accepted": ReturnStatus.ACCEPTED.value,
    "rejected": ReturnStatus.REJECTED.value,
    "partial": ReturnStatus.PARTIAL.value,
    "geaccepteerd": ReturnStatus.ACCEPTED.value,
    "afgewezen": ReturnStatus.REJECTED.value,
    "gedeeltelijk": ReturnStatus.PARTIAL.value,
}
AMOUNT_LIMIT = Decimal(10**8)  # 8 digits before the cents
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
REASON_CODE_LENGTH = 4


class ReturnFileError(RowErrors[ReturnRowError]):
    """A return file that cannot be read; nothing of it was stored."""


@dataclass
class ParsedReturn:
    entries: list[ReturnEntry]
    rows: list[int]  # the file row of each entry

    def row_errors(self, exc: ReturnError) -> list[ReturnRowError]:
        """The service's errors (numbered by entry, from 1; 0 for the whole delivery) by file row."""
        return [
            replace(
                e, row=self.rows[e.row - 1] if 1 <= e.row <= len(self.rows) else 0, message=str(e.message)
            )
            for e in exc.errors
        ]


_DOUBLE_BYTE = re.compile(rb"[\x81-\x9f][\x80-\xfc]")


def _decode(content: bytes) -> str:
    if b"\x00" in content:
        raise ReturnFileError([ReturnRowError(0, "file", _("This is not a text (CSV) file."))])
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # Windows-1252 decodes almost any bytes, so a file in another encoding (Shift-JIS, say) would be read as
    # garbage. In Windows-1252 text a character of 0x80-0x9F (quotes, dashes, Š, Œ, ...) is never followed at
    # once by another non-ASCII byte, while a double-byte encoding's lead byte (0x81-0x9F) usually is.
    if _DOUBLE_BYTE.search(content):
        raise ReturnFileError([ReturnRowError(0, "file", _("The file is not UTF-8 or Windows-1252 text."))])
    try:
        return content.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise ReturnFileError(
            [ReturnRowError(0, "file", _("The file is not UTF-8 or Windows-1252 text."))]
        ) from exc


def _separator(header_line: str) -> str:
    if ";" in header_line:
        return ";"
    if "," in header_line:
        return ","
    return ";"  # a single column: the header check below reports what is missing


def _header(cells: list[str]) -> dict[str, int]:
    positions, problems = header_columns(cells, columns=COLUMNS, required=REQUIRED)
    if problems:
        raise ReturnFileError([ReturnRowError(1, "file", message) for message in problems])
    return positions


def return_file_parse(content: bytes) -> ParsedReturn:
    """Read a return file. Raises ReturnFileError with every row's errors; returns the entries in file
    order otherwise."""
    if len(content) > MAX_BYTES:
        raise ReturnFileError(
            [ReturnRowError(0, "file", _("The file is larger than %(mb)s MB.") % {"mb": MAX_BYTES // 2**20})]
        )
    text = _decode(content)
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first:
        raise ReturnFileError([ReturnRowError(0, "file", _("The file is empty."))])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_separator(first))
    columns: dict[str, int] | None = None
    entries: list[ReturnEntry] = []
    rows: list[int] = []
    errors: list[ReturnRowError] = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            row = reader.line_num
            if columns is None:
                columns = _header(cells)
                continue
            if len(rows) >= MAX_ROWS:
                raise ReturnFileError(
                    [ReturnRowError(row, "file", _("More than %(n)s lines in one file.") % {"n": MAX_ROWS})]
                )
            entry = _entry(cells, columns, row, errors)
            if entry is not None:
                entries.append(entry)
                rows.append(row)
    except csv.Error as exc:
        raise ReturnFileError(
            [ReturnRowError(reader.line_num, "file", _("The file cannot be read as CSV here."))]
        ) from exc
    if errors:
        raise ReturnFileError(errors)
    if not entries:
        raise ReturnFileError([ReturnRowError(0, "file", _("The file holds no lines, only a header."))])
    return ParsedReturn(entries, rows)


def _entry(
    cells: list[str], columns: dict[str, int], row: int, errors: list[ReturnRowError]
) -> ReturnEntry | None:
    if len(cells) > len(columns):
        errors.append(
            ReturnRowError(
                row,
                "file",
                _("This row has %(n)s fields, the header %(m)s (a separator inside a text without quotes?).")
                % {"n": len(cells), "m": len(columns)},
            )
        )
        return None

    def cell(name: str) -> str:
        i = columns.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    ok = True
    reference = cell("reference")
    if not reference:
        errors.append(ReturnRowError(row, "reference", _("The line reference is missing.")))
        ok = False
    word = cell("status").lower()
    status = STATUS_WORDS.get(word)
    if status is None:
        errors.append(
            ReturnRowError(
                row,
                "status",
                _(
                    "Unknown status “%(word)s”: use accepted, partial or rejected (or geaccepteerd, "
                    "gedeeltelijk or afgewezen)."
                )
                % {"word": cell("status")},
            )
        )
        ok = False
    code = cell("reason_code")
    # Spreadsheets drop the leading zeros of a code such as 0101.
    if code.isdigit() and len(code) < REASON_CODE_LENGTH:
        code = code.zfill(REASON_CODE_LENGTH)
    amount_text = cell("awarded_amount").replace(" ", "")
    awarded: Decimal | None = None
    if amount_text and status == ReturnStatus.PARTIAL:
        # As the portal's amount fields read it (1.200,00, 1200,00, 1,200.00; an ambiguous 1.000 is refused).
        try:
            awarded = amount_parse(amount_text)
        except AmountFormatError:
            awarded = None
        if awarded is not None and (abs(awarded) >= AMOUNT_LIMIT or awarded != awarded.quantize(CENT)):
            awarded = None
        if awarded is None:
            errors.append(
                ReturnRowError(
                    row,
                    "awarded_amount",
                    _("“%(text)s” is not an amount: write it as 1200,00.") % {"text": amount_text},
                )
            )
            ok = False
    if not ok or status is None:
        return None
    # The awarded amount belongs to a partial award only (an accepted line is awarded its amount).
    return ReturnEntry(
        reference=reference,
        status=status,
        reason_code=code,
        reason_text=cell("reason_text"),
        awarded_amount=awarded,
    )
