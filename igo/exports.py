"""Safe exports: CSV text that a spreadsheet will not execute, and PDF documents made with WeasyPrint."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.template.loader import render_to_string

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|", "%")


def csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas in exported text. Numbers (Decimal, int) are left as numbers."""
    if isinstance(value, (Decimal, int)) and not isinstance(value, bool):
        return value
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in _FORMULA_START else text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """A semicolon-separated CSV in UTF-8 with a byte-order mark, as Dutch spreadsheet users expect."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_safe(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def pdf_bytes(template: str, context: dict[str, Any]) -> bytes:
    """Render a template under templates/pdf/ to PDF. Fonts and styles are local: no network access."""
    from weasyprint import HTML  # imported here: loading Pango costs ~0.3 s and most processes never need it

    html = render_to_string(template, context)
    return HTML(string=html, base_url=None).write_pdf()
