"""Plausibility checks on the birth record (pregnancies.plausibility): each check fires on the record it
is about, and a clean record raises none. Pure functions on unsaved rows: no database.

The reference record: due 10 November 2026, born that day at 05:40 (40+0 weeks), one live-born child of
3,400 g at home, spontaneous, first line since intake."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pregnancies import plausibility
from pregnancies.plausibility import check, weight_band
from tests.scenarios.birth_record import BIRTH, DUE, birth, episode, line
from tests.scenarios.clock import local

INTAKE_LINE = line("first", local(2026, 3, 24, 0))


def codes(findings: list[plausibility.Finding]) -> list[str]:
    return [f.code for f in findings]


def test_a_clean_record_raises_nothing() -> None:
    assert check(episode(), [birth(BIRTH.born)], [INTAKE_LINE]) == []


@pytest.mark.parametrize("mode", ["caesarean", "assisted"])
def test_an_operative_birth_in_first_line_care_without_a_transfer(mode: str) -> None:
    """The demo's finding: a caesarean recorded while the first line stays responsible."""
    findings = check(episode(), [birth(BIRTH.born, mode=mode, place="clinical")], [INTAKE_LINE])
    assert codes(findings) == [plausibility.OPERATIVE_IN_FIRST_LINE]
    assert findings[0].child == 1


def test_an_operative_birth_after_a_transfer_in_labour_is_plausible() -> None:
    transfers = [INTAKE_LINE, line("second", BIRTH.labour + timedelta(hours=2))]
    assert check(episode(), [birth(BIRTH.born, mode="caesarean", place="clinical")], transfers) == []


def test_a_transfer_after_the_birth_does_not_count() -> None:
    transfers = [INTAKE_LINE, line("second", BIRTH.born + timedelta(minutes=1))]
    findings = check(episode(), [birth(BIRTH.born, mode="caesarean", place="clinical")], transfers)
    assert codes(findings) == [plausibility.OPERATIVE_IN_FIRST_LINE]


def test_the_weight_band_is_half_to_1_7_times_the_median() -> None:
    """At 40+0 the table's median is 3,500 g: 1,750 to 5,950 g. At 29+0, halfway between 28 (1,100 g)
    and 30 weeks (1,450 g), the median is 1,275 g: 638 (637.5 rounded to even: 638) to 2,168 g."""
    assert weight_band(280) == (1750, 5950)
    assert weight_band(29 * 7) == (638, 2168)
    assert weight_band(20 * 7) is None  # before the table: no judgement


@pytest.mark.parametrize(("grams", "fires"), [(1749, True), (1750, False), (5950, False), (5951, True)])
def test_a_birth_weight_implausible_for_term(grams: int, fires: bool) -> None:
    findings = check(episode(), [birth(BIRTH.born, weight_grams=grams)], [INTAKE_LINE])
    assert codes(findings) == ([plausibility.WEIGHT_FOR_AGE] if fires else [])


def test_a_term_weight_at_28_weeks_is_flagged() -> None:
    """Due date 12 weeks after the birth: 28+0 weeks, band 550 to 1,870 g; 3,400 g is outside it
    (typically a wrong due date)."""
    findings = check(episode(due_date=DUE + timedelta(weeks=12)), [birth(BIRTH.born)], [INTAKE_LINE])
    assert codes(findings) == [plausibility.WEIGHT_FOR_AGE]
    assert "28" in findings[0].message


@pytest.mark.parametrize(("one", "five", "fires"), [(1, 0, True), (0, 2, True), (0, 0, False)])
def test_a_stillbirth_with_an_apgar(one: int, five: int, fires: bool) -> None:
    findings = check(
        episode(), [birth(BIRTH.born, outcome="stillborn", apgar_1=one, apgar_5=five)], [INTAKE_LINE]
    )
    assert codes(findings) == ([plausibility.STILLBORN_APGAR] if fires else [])


def test_one_apgar_without_the_other() -> None:
    findings = check(episode(), [birth(BIRTH.born, apgar_1=8)], [INTAKE_LINE])
    assert codes(findings) == [plausibility.APGAR_INCOMPLETE]
    assert check(episode(), [birth(BIRTH.born, apgar_1=8, apgar_5=9)], [INTAKE_LINE]) == []


@pytest.mark.parametrize(("ml", "fires"), [(5000, False), (5001, True)])
def test_an_implausible_blood_loss(ml: int, fires: bool) -> None:
    findings = check(episode(blood_loss_ml=ml), [birth(BIRTH.born)], [INTAKE_LINE])
    assert codes(findings) == ([plausibility.BLOOD_LOSS] if fires else [])


def test_a_death_before_the_birth() -> None:
    died = BIRTH.day - timedelta(days=1)
    findings = check(episode(), [birth(BIRTH.born, neonatal_death_on=died)], [INTAKE_LINE])
    assert codes(findings) == [plausibility.DEATH_BEFORE_BIRTH]


def test_a_previous_caesarean_of_a_nullipara() -> None:
    findings = check(episode(parity=0, previous_caesareans=1), [birth(BIRTH.born)], [INTAKE_LINE])
    assert codes(findings) == [plausibility.CAESAREAN_NULLIPAROUS]
    assert check(episode(parity=1, previous_caesareans=1), [birth(BIRTH.born)], [INTAKE_LINE]) == []


def test_a_vaginal_birth_after_no_labour() -> None:
    findings = check(episode(labour_onset="no_labour"), [birth(BIRTH.born)], [INTAKE_LINE])
    assert codes(findings) == [plausibility.NO_LABOUR_VAGINAL]


def test_twins_are_checked_per_child() -> None:
    """Child 2 alone is stillborn with an Apgar: the warning names child 2."""
    births = [
        birth(BIRTH.born),
        birth(BIRTH.born + timedelta(minutes=20), 2, outcome="stillborn", apgar_1=2, apgar_5=1),
    ]
    findings = check(episode(), births, [INTAKE_LINE])
    assert [(f.code, f.child) for f in findings] == [(plausibility.STILLBORN_APGAR, 2)]
    assert "2" in findings[0].message


def test_the_robson_group_of_a_record() -> None:
    """Parity 1 after one caesarean, one cephalic child at 40+0: group 5; before the delivery: none."""
    record = episode(parity=1, previous_caesareans=1, presentation="cephalic", labour_onset="spontaneous")
    assert plausibility.robson_of(record, [birth(BIRTH.born)]) == 5
    assert plausibility.robson_of(record, []) is None
