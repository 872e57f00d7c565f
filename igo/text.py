"""Names and identifiers as the Vektis declaration format carries them: upper-case printable ASCII.

One function, used alike by the KZ301 file, the batch CSV and the insurer API, so that an insurer sees the same
name in all three. Diacritics are stripped (NFKD: "Çelik-Ünal" -> "CELIK-UNAL"), a few letters without a
decomposition are spelled out ("ß" -> "SS"), whitespace becomes one space, other control characters are dropped
and any other character becomes "?".
"""

from __future__ import annotations

import unicodedata

FAMILY_NAME_LENGTH = 25  # Vektis NAM193 "Naam verzekerde (01)"
INITIALS_LENGTH = 6  # Vektis NAM025 "Voorletters verzekerde"

# Letters that NFKD does not split into a base letter and a mark.
_SPELLED = str.maketrans(
    {
        "ß": "SS",
        "ẞ": "SS",
        "Ø": "O",
        "ø": "O",
        "Æ": "AE",
        "æ": "AE",
        "Œ": "OE",
        "œ": "OE",
        "Ł": "L",
        "ł": "L",
        "Đ": "D",
        "đ": "D",
        "Þ": "TH",
        "þ": "TH",
        "ı": "I",
        "’": "'",
        "‘": "'",
        "–": "-",
        "—": "-",
    }
)


def ascii_text(value: object) -> str:
    """Printable ASCII, case kept: for free text such as a comment."""
    text = unicodedata.normalize("NFKD", ("" if value is None else str(value)).translate(_SPELLED))
    out: list[str] = []
    for ch in text:
        if unicodedata.combining(ch):
            continue
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
            continue
        if unicodedata.category(ch).startswith("C"):
            continue  # control and format characters carry nothing
        out.append(ch if " " <= ch <= "~" else "?")
    return "".join(out).strip()


def ascii_upper(value: object, length: int | None = None) -> str:
    """Upper-case printable ASCII, cut to `length` when given (names only: never cut an identifier)."""
    text = ascii_text(value).upper()
    return text if length is None else text[:length].rstrip()
