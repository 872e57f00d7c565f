"""Pregnancy dating (pregnancies.dating), pure: due dates from the last period and from an ultrasound, the
gestational age on a day and its "24+3" label, and which births count for parity (from 24+0 weeks)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from pregnancies.dating import (
    counts_for_parity,
    due_date_from_lmp,
    due_date_from_ultrasound,
    gestational_age_days,
    gestational_age_label,
    gestational_age_on,
)

days_of_pregnancy = st.integers(min_value=0, max_value=44 * 7)
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


def test_naegele_due_date_is_280_days_after_the_last_period():
    # 13 January 2027 + 280 days: 20 October 2027 (over a year end: 1 March 2027 -> 6 December 2027).
    assert due_date_from_lmp(date(2027, 1, 13)) == date(2027, 10, 20)
    assert due_date_from_lmp(date(2027, 3, 1)) == date(2027, 12, 6)


def test_an_ultrasound_of_9_plus_3_weeks_dates_the_pregnancy_214_days_ahead():
    assert due_date_from_ultrasound(scanned_on=date(2027, 3, 1), gestational_days=66) == date(2027, 10, 1)


@given(lmp=dates, days=days_of_pregnancy)
def test_the_age_counted_from_the_last_period_is_the_days_since_it(lmp, days):
    assert gestational_age_days(due_date=due_date_from_lmp(lmp), on=lmp + timedelta(days=days)) == days


@given(scanned_on=dates, measured=st.integers(min_value=42, max_value=24 * 7))
def test_an_ultrasound_date_gives_back_the_age_it_measured_on_its_day(scanned_on, measured):
    due = due_date_from_ultrasound(scanned_on=scanned_on, gestational_days=measured)
    assert gestational_age_days(due_date=due, on=scanned_on) == measured
    assert gestational_age_days(due_date=due, on=due) == 280


@given(days=days_of_pregnancy)
def test_the_label_is_completed_weeks_plus_days(days):
    weeks, rest = gestational_age_label(days).split("+")
    assert int(weeks) * 7 + int(rest) == days and 0 <= int(rest) <= 6


def test_labels_and_the_empty_cases():
    assert gestational_age_label(171) == "24+3"
    assert gestational_age_label(None) == gestational_age_label(-1) == ""
    assert gestational_age_on(due_date=None, on=date(2027, 3, 10)) == ""
    # Due 24 July 2027: on 10 March she is 20+4; a day before her last period nothing is shown.
    assert gestational_age_on(due_date=date(2027, 7, 24), on=date(2027, 3, 10)) == "20+4"
    assert gestational_age_on(due_date=date(2027, 7, 24), on=date(2026, 10, 16)) == ""


def test_parity_counts_births_from_24_plus_0_weeks():
    due = date(2027, 7, 24)
    at_24 = due - timedelta(days=280 - 168)
    assert counts_for_parity(due_date=due, born_on=at_24)
    assert not counts_for_parity(due_date=due, born_on=at_24 - timedelta(days=1))
    assert counts_for_parity(due_date=due, born_on=due + timedelta(days=14))
