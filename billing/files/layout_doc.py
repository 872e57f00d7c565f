"""docs/kz301.md, rendered from the record tables of `billing.files.vektis` and the prose of kz301_doc.md, so
that the document and the writer cannot drift apart (a test compares the committed document with this)."""

from __future__ import annotations

from pathlib import Path

from billing.files.vektis import KZ301, KZ301_LENGTH, KZ302, Field, Record

TEMPLATE = Path(__file__).with_name("kz301_doc.md")
MARKER = "<!-- RECORDS -->"


def _row(f: Field) -> str:
    mark = " **Provisional.**" if f.provisional else ""
    note = f.note.replace(" Voorlopig, tot controle tegen de officiële KZ301 v3.2 BER.", "").replace(
        "|", "\\|"
    )
    return (
        f"| {f.rubriek} | {f.element or '–'} | {f.name} | `{f.key}` | {f.type} | {f.length} | {f.start} | "
        f"{'J' if f.mandatory else '–'} | {note}{mark} |"
    )


_HEAD = (
    "| Rubriek | Element | Naam | Key | Type | Lengte | Start | Verplicht | Toelichting |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def _table(fields: tuple[Field, ...]) -> str:
    return "\n".join([_HEAD, *(_row(f) for f in fields)])


def _record(r: Record) -> str:
    return f"## Record {r.code} — {r.name} ({r.length})\n\n{_table(r.fields)}\n"


def records_markdown() -> str:
    parts = [_record(r) for r in KZ301.values()]
    echoed = [
        f"### KZ302 record {code} — positions {KZ301_LENGTH + 1}–{KZ302[code].length}\n\n"
        f"{_table(tuple(f for f in KZ302[code].fields if f.start > KZ301_LENGTH))}\n"
        for code in ("01", "02", "04", "98")
    ]
    parts.append(
        "## The return file (KZ302 v3.2, 370)\n\n"
        "An insurer that answers with a KZ302 file echoes every record of the declaration in positions "
        f"1–{KZ301_LENGTH} and adds the return block below; record 99 is rebuilt. "
        "The reader (`billing/files/kz302.py`) checks the echo against the batch it is read for: 0108 (UZOVI), "
        "0116 (invoice number) and 0112 (the IGO's AGB code: invoice numbers repeat between IGOs, so a "
        "whole-file rejection of another IGO's batch with the same number is refused on record 1) in the 01 "
        "record, and 0403 (BSN) of every 04 record against the line it answers (0429).\n\n"
        + "\n".join(echoed)
        + f"\n### KZ302 record 99 — {KZ302['99'].name} (rebuilt)\n\n{_table(KZ302['99'].fields)}\n"
    )
    return "\n".join(parts)


def render_doc() -> str:
    template = TEMPLATE.read_text(encoding="utf-8")
    assert template.count(MARKER) == 1
    return template.replace(MARKER, records_markdown().rstrip("\n"))
