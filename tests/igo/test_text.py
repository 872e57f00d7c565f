"""Names and identifiers as the Vektis format carries them: upper-case printable ASCII."""

from __future__ import annotations

import pytest

from igo.text import ascii_text, ascii_upper


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Çelik-Ünal", "CELIK-UNAL"),
        ("Øster", "OSTER"),
        ("Straße", "STRASSE"),
        ("van der  Berg\r\n", "VAN DER BERG"),
        ("Ayşe", "AYSE"),
        ("李", "?"),
        ("zk-1\x00", "ZK-1"),
        (None, ""),
    ],
)
def test_ascii_upper(value, expected):
    assert ascii_upper(value) == expected


def test_a_name_is_cut_to_its_field_and_free_text_keeps_its_case():
    assert ascii_upper("van Oudshoorn-Vermeulen-Hendriksen", 25) == "VAN OUDSHOORN-VERMEULEN-H"
    assert ascii_upper("de Vries ", 3) == "DE"
    assert ascii_text("Creditering van regel 12 – Ünal") == "Creditering van regel 12 - Unal"
