"""Names and identifiers as the Vektis declaration format carries them: upper-case printable ASCII.

One function, used alike by the KZ301 file, the batch CSV and the insurer API, so that an insurer sees the same
name in all three. Diacritics are stripped (NFKD: "Çelik-Ünal" -> "CELIK-UNAL"), a few letters without a
decomposition are spelled out ("ß" -> "SS"), whitespace becomes one space, other control characters are dropped
and any other character becomes "?".
"""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

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


INSURED_NUMBER_LENGTH = 15  # Vektis NUM003 "Verzekerdennummer", AN 15
_INSURED_NUMBER = re.compile(r"[A-Za-z0-9]+")


def insured_number_check(value: str) -> str:
    """An insured number as entered: letters and digits only (ASCII), at most 15, spaces around it dropped.
    Refused with a ValidationError otherwise; it is never altered afterwards, so the KZ301 file, the CSV and
    the API carry exactly what was entered (upper case in the file, as the format carries it)."""
    text = (value or "").strip()
    if not text:
        raise ValidationError(_("Enter the insured number."), code="required")
    if not _INSURED_NUMBER.fullmatch(text):
        raise ValidationError(
            _(
                "The insured number may contain only letters and digits, without spaces, hyphens or other "
                "characters; copy it from the insurance card."
            ),
            code="characters",
        )
    if len(text) > INSURED_NUMBER_LENGTH:
        raise ValidationError(
            _("The insured number is longer than %(n)s characters.") % {"n": INSURED_NUMBER_LENGTH},
            code="length",
        )
    return text


def name_check(value: str) -> str:
    """A name that the claim file can carry: every letter must be transliterable to ASCII (Latin script with
    or without diacritics; see `ascii_text`). A name in another script (Cyrillic, Arabic, Chinese, ...) is
    refused at entry with a clear error instead of reaching the insurer as question marks."""
    text = (value or "").strip()
    if ascii_text(text).count("?") > text.count("?"):
        raise ValidationError(
            _(
                "This name contains characters the insurer's claim file cannot carry. Enter it in Latin "
                "letters (as on the passport or identity card); accents are fine."
            ),
            code="script",
        )
    return text
