"""Reading the files the platform writes, as a person opening them would."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from igo.exports import USER_CONVENTIONS, CsvConvention, parse_csv_decimal


def pdf_text(pdf: bytes, tmp_path: Path, name: str = "doc") -> tuple[str, int]:
    """The text of a PDF (pdftotext -layout) and its page count (pdfinfo), both from poppler-utils."""
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)

    def poppler(tool: str, *args: str) -> str:
        exe = shutil.which(tool)
        assert exe, f"{tool} (poppler-utils) is not installed"
        # Fixed arguments and a file this test wrote: no untrusted input reaches the command line.
        done = subprocess.run([exe, *args], capture_output=True, check=True)  # noqa: S603
        return done.stdout.decode()

    text = poppler("pdftotext", "-layout", str(path), "-")
    match = re.search(r"^Pages:\s+(\d+)", poppler("pdfinfo", str(path)), re.MULTILINE)
    assert match
    return text.replace("\xa0", " "), int(match.group(1))


@dataclass
class CsvFile:
    """A user-facing CSV download as a spreadsheet reads it: in the convention its file name states."""

    filename: str
    convention: CsvConvention
    header: list[str]
    rows: list[dict[str, str]]

    def number(self, text: str) -> Decimal:
        return parse_csv_decimal(text, self.convention)


def csv_download(response: Any) -> CsvFile:
    """Read a CSV download (`…_nl.csv` or `…_intl.csv`): UTF-8 with a byte-order mark, split on the
    convention's separator."""
    match = re.search(r'filename="?([^";]+_(nl|intl)\.csv)', response["Content-Disposition"])
    assert match, response["Content-Disposition"]
    convention = USER_CONVENTIONS[match.group(2)]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    reader = csv.reader(io.StringIO(text[1:], newline=""), delimiter=convention.delimiter)
    header, *body = list(reader)
    return CsvFile(match.group(1), convention, header, [dict(zip(header, r, strict=True)) for r in body])
