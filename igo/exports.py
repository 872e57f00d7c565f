"""Safe exports: CSV text that a spreadsheet will not execute, in the user's spreadsheet convention, and PDF
documents made with WeasyPrint."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|", "%")


def csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas in exported text. Numbers (Decimal, int) are left as numbers."""
    if isinstance(value, (Decimal, int)) and not isinstance(value, bool):
        return value
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in _FORMULA_START else text


@dataclass(frozen=True)
class CsvConvention:
    """How a spreadsheet program reads a CSV file: the field separator and the decimal mark. Excel in a
    Dutch locale splits on semicolons and reads "12,50" as a number; in an English locale it wants commas
    and "12.50". The code names the convention in the file name (`Statement_…_nl.csv`)."""

    code: str
    delimiter: str
    decimal: str


DUTCH = CsvConvention("nl", ";", ",")
INTERNATIONAL = CsvConvention("intl", ",", ".")
# The claim batch's CSV is a file agreed with insurers (billing.files.csv.batch_csv): its layout is the same
# whatever the language of the person who downloads it, so it is no user convention.
BATCH_FILE = CsvConvention("file", ";", ".")
USER_CONVENTIONS = {c.code: c for c in (DUTCH, INTERNATIONAL)}


def csv_convention(choice: str | None = None) -> CsvConvention:
    """The convention asked for (`nl` or `intl`, e.g. from a `?convention=` parameter), else the one of the
    active language: Dutch in the Dutch interface, international in English."""
    if choice in USER_CONVENTIONS:
        return USER_CONVENTIONS[choice]
    language = translation.get_language() or settings.LANGUAGE_CODE
    return DUTCH if language.split("-")[0] == "nl" else INTERNATIONAL


def csv_filename(stem: str, convention: CsvConvention) -> str:
    """`Statement_12345678_2026-05` → `Statement_12345678_2026-05_nl.csv`: the name says how to open it."""
    return f"{stem}_{convention.code}.csv"


def _cell(value: Any, convention: CsvConvention) -> Any:
    value = csv_safe(value)
    if isinstance(value, Decimal) and convention.decimal != ".":
        # Fixed notation (never 1E+2), the decimal mark of the convention; no thousands separator, which a
        # spreadsheet could read as a decimal mark.
        return format(value, "f").replace(".", convention.decimal)
    return value


def csv_bytes(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, convention: CsvConvention | None = None
) -> bytes:
    """A CSV in UTF-8 with a byte-order mark (so that Excel reads the accents), formula-safe, in
    `convention` (default: the active language's, `csv_convention`). Decimals are written with its
    decimal mark; a number already turned into text is written as it is."""
    convention = convention or csv_convention()
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=convention.delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v, convention) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def parse_csv_decimal(text: str, convention: CsvConvention) -> Decimal:
    """Read back a number written by `csv_bytes` in `convention` (tests, imports of our own files)."""
    return Decimal(text.replace(convention.decimal, ".") if convention.decimal != "." else text)


def pdf_bytes(template: str, context: dict[str, Any]) -> bytes:
    """Render a template under templates/pdf/ to PDF. Fonts and styles are local: no network access."""
    from weasyprint import HTML  # imported here: loading Pango costs ~0.3 s and most processes never need it

    html = render_to_string(template, context)
    return HTML(string=html, base_url=None).write_pdf()
