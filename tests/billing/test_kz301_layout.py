"""docs/kz301.md is the rendering of the layout tables: correcting a field is a change of one table."""

from __future__ import annotations

import importlib
from pathlib import Path

from django.core.management import call_command

from billing.files.layout_doc import render_doc
from billing.files.vektis import KZ301

DOC = Path(__file__).resolve().parents[2] / "docs" / "kz301.md"


def test_the_committed_document_is_the_rendered_layout():
    assert DOC.read_text(encoding="utf-8") == render_doc(), (
        "run: manage.py vektis_layout --write docs/kz301.md"
    )


def test_every_field_and_provisional_choice_is_in_the_document(tmp_path):
    out = tmp_path / "kz301.md"
    call_command("vektis_layout", write=str(out))
    text = out.read_text(encoding="utf-8")
    for record in KZ301.values():
        for f in record.fields:
            row = f"| {f.rubriek} | {f.element or '–'} | {f.name} | `{f.key}` | {f.type} | {f.length} | {f.start} |"
            assert row in text
            assert (row in text and "**Provisional.**" in text.split(row)[1].split("\n")[0]) == f.provisional
    # The middle of 04 and the uncertain value choices are marked provisional.
    provisional = {f.rubriek for r in KZ301.values() for f in r.fields if f.provisional}
    assert {f"04{n:02d}" for n in range(8, 23)} <= provisional
    assert {"0102", "0105", "0110", "0112", "0113", "0208", "0223"} <= provisional


def test_the_migration_maps_codes_that_do_not_fit_deterministically():
    fitted = importlib.import_module("billing.migrations.0012_kz301_prestatie_codes").fitted
    assert [fitted(c) for c in ("IGB-PRE", "DEMO-POST", "014037", "igb-nat", "---")] == [
        "IGBPRE",
        "DEMOPO",
        "014037",
        "IGBNAT",
        "---",
    ]
