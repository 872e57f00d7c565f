"""An independent reader of KZ301 v3.2 files in the Vektis generic EI declaration format.

The positions below are typed in from the research document ../shared/VEKTIS-KZ301.md (§2.2–2.6, and for the
middle of record 04 the team's decision: VK301 v2.2 with the prestatiecode as AN 6, so everything after it +2).
It deliberately does not import billing.files.vektis or billing.files.kz301: a test that reads our files with it
checks the writer against the standard as documented, not against the writer's own tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

RECORD_LENGTH = 310


class ReadError(ValueError):
    """A file does not follow the layout."""


@dataclass(frozen=True)
class F:
    name: str
    start: int
    length: int
    kind: (
        str  # "N" (int), "AN" (text, right-stripped), "D" (date, EEJJMMDD; zeros -> None), "RAW" (N as text)
    )


# fmt: off
LAYOUT: dict[str, list[F]] = {
    "01": [
        F("record", 1, 2, "N"), F("message_code", 3, 3, "N"), F("version", 6, 2, "N"),
        F("subversion", 8, 2, "N"), F("message_kind", 10, 1, "AN"), F("software_code", 11, 6, "N"),
        F("software_version", 17, 10, "AN"), F("uzovi", 27, 4, "RAW"), F("service_bureau", 31, 8, "N"),
        F("zorgverlenerscode", 39, 8, "N"), F("praktijkcode", 47, 8, "N"), F("instellingscode", 55, 8, "RAW"),
        F("payee", 63, 2, "N"), F("period_start", 65, 8, "D"), F("period_end", 73, 8, "D"),
        F("invoice_number", 81, 12, "AN"), F("invoice_date", 93, 8, "D"), F("vat_number", 101, 14, "AN"),
        F("currency", 115, 3, "AN"), F("reserve", 118, 193, "AN"),
    ],
    "02": [
        F("record", 1, 2, "N"), F("detail_id", 3, 12, "N"), F("bsn", 15, 9, "RAW"), F("uzovi", 24, 4, "RAW"),
        F("insured_number", 28, 15, "AN"), F("patient_number", 43, 11, "AN"), F("date_of_birth", 54, 8, "D"),
        F("sex", 62, 1, "N"), F("name_code_1", 63, 1, "N"), F("family_name", 64, 25, "AN"),
        F("prefix", 89, 10, "AN"), F("name_code_2", 99, 1, "N"), F("family_name_2", 100, 25, "AN"),
        F("prefix_2", 125, 10, "AN"), F("initials", 135, 6, "AN"), F("name_code_3", 141, 1, "N"),
        F("postcode", 142, 6, "AN"), F("postcode_abroad", 148, 9, "AN"), F("house_number", 157, 5, "N"),
        F("house_number_suffix", 162, 6, "AN"), F("country", 168, 2, "AN"), F("debtor", 170, 11, "AN"),
        F("deceased", 181, 1, "N"), F("reserve", 182, 129, "AN"),
    ],
    "04": [
        F("record", 1, 2, "N"), F("detail_id", 3, 12, "N"), F("bsn", 15, 9, "RAW"), F("uzovi", 24, 4, "RAW"),
        F("insured_number", 28, 15, "AN"), F("authorisation", 43, 15, "AN"), F("forwarding", 58, 1, "N"),
        F("medium_risk", 59, 1, "N"), F("takeover", 60, 1, "AN"), F("previous_provider", 61, 8, "N"),
        F("previous_specification", 69, 4, "N"), F("service_start", 73, 8, "D"), F("service_end", 81, 8, "D"),
        F("partus", 89, 8, "D"), F("code_list", 97, 3, "N"), F("prestatie_code", 100, 6, "AN"),
        F("behandelaar", 106, 8, "RAW"), F("behandelaar_specialism", 114, 4, "N"), F("verwijzer", 118, 8, "N"),
        F("verwijzer_specialism", 126, 4, "N"), F("quantity", 130, 4, "N"), F("time_unit", 134, 2, "N"),
        F("tariff", 136, 8, "N"), F("calculated", 144, 8, "N"), F("dc_1", 152, 1, "AN"),
        F("vat", 153, 4, "N"), F("amount", 157, 8, "N"), F("dc_2", 165, 1, "AN"),
        F("reference", 166, 20, "AN"), F("previous_reference", 186, 20, "AN"), F("reserve", 206, 105, "AN"),
    ],
    "98": [
        F("record", 1, 2, "N"), F("detail_id", 3, 12, "N"), F("line_number", 15, 4, "N"),
        F("text", 19, 140, "AN"), F("reserve", 159, 152, "AN"),
    ],
    "99": [
        F("record", 1, 2, "N"), F("count_02", 3, 6, "N"), F("count_03", 9, 6, "N"), F("count_04", 15, 6, "N"),
        F("count_98", 21, 6, "N"), F("count_detail", 27, 7, "N"), F("total", 34, 11, "N"),
        F("total_dc", 45, 1, "AN"), F("reserve", 46, 265, "AN"),
    ],
}
# fmt: on


def _check_layout() -> None:
    for code, fields in LAYOUT.items():
        position = 1
        for f in fields:
            assert f.start == position, (code, f.name)
            position += f.length
        assert position == RECORD_LENGTH + 1, code


_check_layout()


class Record(dict[str, Any]):
    """One parsed record: field name -> value."""

    def __init__(self, code: str, number: int, raw: str, values: dict[str, Any]):
        super().__init__(values)
        self.code = code
        self.number = number  # line number in the file, from 1
        self.raw = raw


def _value(f: F, text: str, where: str) -> Any:
    if f.kind in ("N", "RAW", "D"):
        if not (text.isascii() and text.isdigit()):
            raise ReadError(f"{where}: {f.name} is numeric but holds {text!r}")
        if f.kind == "RAW":
            return text
        if f.kind == "D":
            if text == "00000000":
                return None
            try:
                return date(int(text[:4]), int(text[4:6]), int(text[6:]))
            except ValueError:
                raise ReadError(f"{where}: {f.name} is not a valid date: {text!r}") from None
        return int(text)
    return text.rstrip(" ")


def parse(data: bytes) -> list[Record]:
    """Split a file into records (CR LF, 310 ASCII characters each) and each record into its fields."""
    if not data.endswith(b"\r\n"):
        raise ReadError("the file does not end with CR LF")
    records: list[Record] = []
    for number, chunk in enumerate(data[:-2].split(b"\r\n"), start=1):
        if b"\n" in chunk or b"\r" in chunk:
            raise ReadError(f"record {number}: a lone CR or LF inside the record")
        try:
            raw = chunk.decode("ascii")
        except UnicodeDecodeError:
            raise ReadError(f"record {number}: not ASCII") from None
        if len(raw) != RECORD_LENGTH:
            raise ReadError(f"record {number}: {len(raw)} characters, not {RECORD_LENGTH}")
        code = raw[:2]
        if code not in LAYOUT:
            raise ReadError(f"record {number}: unknown record code {code!r}")
        where = f"record {number} ({code})"
        values = {f.name: _value(f, raw[f.start - 1 : f.start - 1 + f.length], where) for f in LAYOUT[code]}
        records.append(Record(code, number, raw, values))
    return records


def cents_of(record: Record) -> int:
    """The signed amount of a 04 record in cents (credit lines negative)."""
    amount: int = record["amount"]
    return -amount if record["dc_2"] == "C" else amount
