"""An independent reader of our KZ301 files, built from the tables in docs/kz301.md.

It deliberately does not import billing.files.kz301: it reads the record layout the way an insurer's developer
would, from the published document, so a test that parses our files with it checks the writer against the
specification rather than against itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "kz301.md"
RECORD_LENGTH = 370
ENCODING = "iso-8859-1"
TYPES = ("N", "AN", "D")

_HEADING = re.compile(r"^#{2,3}\s+Record\s+(\d{2})\b")
_TABLE_HEADER = ["Field", "Start", "Length", "Type", "Content"]


class SpecError(ValueError):
    """The document's tables do not describe a consistent record layout."""


class ReadError(ValueError):
    """A file does not follow the specification."""


@dataclass(frozen=True)
class FieldSpec:
    name: str
    start: int
    length: int
    kind: str

    @property
    def end(self) -> int:
        return self.start + self.length - 1


class Record(dict[str, Any]):
    """One parsed record: field name -> value (N as int, D as date, AN with the padding removed)."""

    def __init__(self, code: str, number: int, raw: str, values: dict[str, Any]):
        super().__init__(values)
        self.code = code
        self.number = number  # line number in the file, from 1
        self.raw = raw


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def load_spec(path: Path = SPEC_PATH) -> dict[str, list[FieldSpec]]:
    """Read the field table under each "## Record NN" heading and check that it covers 370 positions."""
    spec: dict[str, list[FieldSpec]] = {}
    code: str | None = None
    in_table = False
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        heading = _HEADING.match(line)
        if heading:
            code = heading.group(1)
            if code in spec:
                raise SpecError(f"line {lineno}: record {code} described twice")
            spec[code] = []
            in_table = False
            continue
        if line.startswith("#"):
            code, in_table = None, False
            continue
        if code is None or not line.lstrip().startswith("|"):
            if in_table:  # the table ended
                code, in_table = None, False
            continue
        cells = _cells(line)
        if cells[:5] == _TABLE_HEADER:
            in_table = True
            continue
        if not in_table or set("".join(cells)) <= {"-", ":"}:
            continue
        name, start, length, kind = cells[0].strip("`"), cells[1], cells[2], cells[3]
        if not (start.isdigit() and length.isdigit()) or kind not in TYPES:
            raise SpecError(f"line {lineno}: cannot read the field row {line!r}")
        spec[code].append(FieldSpec(name, int(start), int(length), kind))
    if not spec:
        raise SpecError(f"{path}: no record tables found")
    for code, fields in spec.items():
        position = 1
        for f in fields:
            if f.start != position:
                raise SpecError(f"record {code}: {f.name} starts at {f.start}, expected {position}")
            position += f.length
        if position != RECORD_LENGTH + 1:
            raise SpecError(f"record {code}: the fields cover {position - 1} positions, not {RECORD_LENGTH}")
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            raise SpecError(f"record {code}: a field name is used twice")
        if names[:2] != ["record_code", "record_seq"]:
            raise SpecError(f"record {code}: records start with record_code and record_seq")
    return spec


def _value(f: FieldSpec, text: str, where: str) -> Any:
    if f.kind == "N":
        if not (text.isascii() and text.isdigit()):
            raise ReadError(f"{where}: {f.name} is N but holds {text!r}")
        return int(text)
    if f.kind == "D":
        try:
            if not text.isdigit():
                raise ValueError(text)
            return datetime.strptime(text, "%Y%m%d").date()
        except ValueError:
            raise ReadError(f"{where}: {f.name} is not a valid date: {text!r}") from None
    if any(ord(ch) < 32 for ch in text):
        raise ReadError(f"{where}: {f.name} holds a control character")
    return text.rstrip(" ")


def parse(data: bytes, spec: dict[str, list[FieldSpec]] | None = None) -> list[Record]:
    """Split a file into records (CR LF, 370 characters each) and each record into its fields."""
    spec = spec if spec is not None else load_spec()
    if not data.endswith(b"\r\n"):
        raise ReadError("the file does not end with CR LF")
    chunks = data[:-2].split(b"\r\n")
    records: list[Record] = []
    for number, chunk in enumerate(chunks, start=1):
        if b"\n" in chunk or b"\r" in chunk:
            raise ReadError(f"record {number}: a lone CR or LF inside the record")
        raw = chunk.decode(ENCODING)
        if len(raw) != RECORD_LENGTH:
            raise ReadError(f"record {number}: {len(raw)} characters, not {RECORD_LENGTH}")
        code = raw[:2]
        if code not in spec:
            raise ReadError(f"record {number}: unknown record code {code!r}")
        values = {
            f.name: _value(f, raw[f.start - 1 : f.end], f"record {number} ({code})") for f in spec[code]
        }
        records.append(Record(code, number, raw, values))
    return records


def cents_of(record: Record) -> int:
    """The signed amount of a 04 record in cents (credit lines negative)."""
    amount: int = record["amount_cents"]
    return -amount if record["debit_credit"] == "C" else amount
