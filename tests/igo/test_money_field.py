"""Amounts typed as people type them: the Dutch form the pages show (1.500,00), the clerk's 1500,00, the
international 1,500.00; read one way only, an ambiguous 1.000 refused with how to write it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django import forms
from django.utils import translation

from igo.forms import MoneyField
from igo.money import AmountFormatError, amount_parse

D = Decimal


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1.500,00", D("1500.00")),
        ("1500,00", D("1500.00")),
        ("1500", D("1500")),
        ("1500,5", D("1500.5")),
        ("1.234.567,89", D("1234567.89")),
        ("1.234.567", D("1234567")),
        ("1,500.00", D("1500.00")),
        ("1,234,567.89", D("1234567.89")),
        ("1500.00", D("1500.00")),
        ("0,50", D("0.50")),
        ("€ 1.500,00", D("1500.00")),
        ("€1.500,00", D("1500.00")),
        ("1.500,00 EUR", D("1500.00")),
        ("-1.500,00", D("-1500.00")),
        ("€ -250,00", D("-250.00")),
        ("\u2212250,00", D("-250.00")),
        ("  1500,00\u00a0", D("1500.00")),
    ],
)
def test_an_amount_is_read_one_way(text, amount):
    assert amount_parse(text) == amount


@pytest.mark.parametrize("text", ["1.000", "1,000", "12.345", "-1.000"])
def test_one_separator_before_three_digits_is_ambiguous(text):
    with pytest.raises(AmountFormatError) as exc:
        amount_parse(text)
    assert exc.value.ambiguous


@pytest.mark.parametrize(
    "text",
    [
        "",
        "twaalf",
        "1.00,00",
        "1,000,00.5",
        "1.500.00",
        "1,50,00",
        "1.5000,00",
        ",50",
        "1 500,00",
        "12,",
        "1e3",
    ],
)
def test_what_cannot_be_read_is_refused(text):
    with pytest.raises(AmountFormatError) as exc:
        amount_parse(text)
    assert not exc.value.ambiguous


class AmountForm(forms.Form):
    amount = MoneyField(label="Bedrag", min_value=D("0"))


def test_the_field_takes_both_forms_and_shows_amounts_in_dutch():
    for typed in ("1.500,00", "1,500.00", "1500"):
        form = AmountForm({"amount": typed})
        assert form.is_valid(), form.errors
        assert form.cleaned_data["amount"] == D("1500.00")
    with translation.override("nl"):
        html = str(AmountForm(initial={"amount": D("1500.00")})["amount"])
    assert 'value="1500,00"' in html and 'inputmode="decimal"' in html and 'type="text"' in html


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (
            "1.000",
            "„1.000” is op twee manieren te lezen: schrijf de centen na een komma, zoals 1.500,00 of 1500,00.",
        ),
        ("twaalf", "Voer een bedrag in euro in, zoals 1.500,00 of 1500,00."),
        ("1.500,001", "Zorg dat er niet meer dan 2 cijfers achter de komma staan."),
        ("-5,00", "Zorg ervoor dat deze waarde minstens 0 is."),
    ],
)
def test_a_wrong_amount_gets_a_dutch_error_that_says_how_to_write_it(typed, message):
    with translation.override("nl"):
        form = AmountForm({"amount": typed})
        assert not form.is_valid()
        assert form.errors["amount"] == [message]
