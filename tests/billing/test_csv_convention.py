"""The spreadsheet convention of CSV downloads (issue 19): Dutch (`;`, decimal comma) in the Dutch interface,
international (`,`, decimal point) in English, stated in the file name; the insurer's batch CSV keeps its
agreed layout whatever the language."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.utils import translation

from igo.exports import (
    BATCH_FILE,
    DUTCH,
    INTERNATIONAL,
    csv_bytes,
    csv_convention,
    csv_filename,
    parse_csv_decimal,
)
from tests.scenarios.billing import BILLING_NOW
from tests.scenarios.month_batches import file_of, make_batch

D = Decimal
AMOUNTS = [D("1234.50"), D("-0.05"), D("1E+3"), D("0.333333333333"), D("0.00")]


def _read(data: bytes, delimiter: str) -> list[list[str]]:
    text = data.decode("utf-8")
    assert text.startswith("\ufeff")  # so that Excel reads UTF-8 (accents in names)
    return list(csv.reader(io.StringIO(text[1:], newline=""), delimiter=delimiter))


@pytest.mark.parametrize("convention", [DUTCH, INTERNATIONAL])
def test_amounts_read_back_the_same_in_either_convention(convention):
    rows = [('Zoë; de "Wit", Jansen', a, 3) for a in AMOUNTS]
    header, *body = _read(
        csv_bytes(("name", "amount", "count"), rows, convention=convention), convention.delimiter
    )
    assert header == ["name", "amount", "count"]
    assert [parse_csv_decimal(r[1], convention) for r in body] == AMOUNTS
    assert {r[0] for r in body} == {'Zoë; de "Wit", Jansen'}  # a separator inside text stays in its cell
    assert {r[2] for r in body} == {"3"}


def test_the_dutch_file_writes_decimal_commas_and_no_exponent():
    _header, *body = _read(csv_bytes(("amount",), [(a,) for a in AMOUNTS], convention=DUTCH), ";")
    assert [r[0] for r in body] == ["1234,50", "-0,05", "1000", "0,333333333333", "0,00"]


def test_formulas_stay_text_and_negative_numbers_stay_numbers():
    _header, *body = _read(csv_bytes(("a", "b"), [("=SUM(A1:A9)", D("-12.50"))], convention=DUTCH), ";")
    assert body == [["'=SUM(A1:A9)", "-12,50"]]


def test_the_language_chooses_the_convention_and_a_choice_overrides_it():
    with translation.override("nl"):
        assert csv_convention() == DUTCH and csv_convention("intl") == INTERNATIONAL
    with translation.override("en"):
        assert csv_convention() == INTERNATIONAL and csv_convention("nl") == DUTCH
        assert csv_convention("bogus") == INTERNATIONAL
    assert csv_filename("Claims_2026", DUTCH) == "Claims_2026_nl.csv"
    assert csv_filename("Claims_2026", INTERNATIONAL) == "Claims_2026_intl.csv"


@pytest.mark.django_db
@pytest.mark.clock(BILLING_NOW)
def test_the_batch_csv_for_the_insurer_keeps_its_layout_in_english(billed):
    s, _ep, _other = billed
    with translation.override("en"):
        batch = make_batch(s)
    header, *body = _read(file_of(batch, "csv"), BATCH_FILE.delimiter)
    assert header[:3] == ["batch", "line", "reference"] and len(body) == 4
    # 1200 + 900 + 1500 + 1200 (the ordinary pregnancy and the transfer), with a decimal point.
    amounts = [r[header.index("amount")] for r in body]
    assert sorted(amounts) == ["1200.00", "1200.00", "1500.00", "900.00"]
