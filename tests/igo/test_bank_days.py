"""Bank working days for SEPA execution dates (igo.dates): Easter by the Gregorian computus, and the TARGET
closing days besides weekends."""

from __future__ import annotations

import datetime as dt

import pytest

from igo.dates import easter_sunday, is_bank_working_day, next_bank_working_day

# Easter Sunday as published (e.g. the church calendars), including the earliest and latest possible dates.
EASTER = {
    2024: dt.date(2024, 3, 31),
    2025: dt.date(2025, 4, 20),
    2026: dt.date(2026, 4, 5),
    2027: dt.date(2027, 3, 28),
    2028: dt.date(2028, 4, 16),
    2038: dt.date(2038, 4, 25),  # as late as it comes
    2285: dt.date(2285, 3, 22),  # as early as it comes
}


@pytest.mark.parametrize(("year", "sunday"), EASTER.items())
def test_easter_sunday(year: int, sunday: dt.date) -> None:
    assert easter_sunday(year) == sunday


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (dt.date(2027, 1, 1), False),  # New Year's Day, a Friday
        (dt.date(2027, 3, 26), False),  # Good Friday
        (dt.date(2027, 3, 29), False),  # Easter Monday
        (dt.date(2027, 4, 27), True),  # King's Day: a Dutch holiday TARGET keeps open
        (dt.date(2027, 5, 6), True),  # Ascension Day, likewise
        (dt.date(2028, 5, 1), False),  # Labour Day, a Monday
        (dt.date(2026, 12, 25), False),
        (dt.date(2026, 12, 26), False),  # a Saturday anyway
        (dt.date(2027, 12, 27), True),  # the Monday after Christmas: open
        (dt.date(2026, 12, 5), False),  # a Saturday
        (dt.date(2026, 12, 7), True),
    ],
)
def test_bank_working_days(day: dt.date, working: bool) -> None:
    assert is_bank_working_day(day) is working


@pytest.mark.parametrize(
    ("after", "next_day"),
    [
        (dt.date(2026, 12, 24), dt.date(2026, 12, 28)),  # Christmas, Boxing Day, the weekend
        (dt.date(2026, 12, 31), dt.date(2027, 1, 4)),  # New Year's Day on a Friday
        (dt.date(2027, 3, 25), dt.date(2027, 3, 30)),  # Good Friday to Easter Monday
        (dt.date(2026, 12, 3), dt.date(2026, 12, 4)),
    ],
)
def test_next_bank_working_day(after: dt.date, next_day: dt.date) -> None:
    assert next_bank_working_day(after) == next_day
