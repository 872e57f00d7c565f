"""Calendar months: where a month starts and ends, the next one, and moving by whole months.

Months are dates (the first of the month stands for it); their moments are local midnights in the time
zone in use (Europe/Amsterdam), which is where a month's batch, statement or indicator begins and ends.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time

from django.utils import timezone


def month_start(day: date) -> date:
    """The first day of the month of `day`."""
    return day.replace(day=1)


def month_end(day: date) -> date:
    """The last day of the month of `day`."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def next_month(day: date) -> date:
    """The first day of the month after the month of `day`."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def add_months(day: date, months: int) -> date:
    """The same day `months` months on (or back), or the last day of that month if it is shorter."""
    year, month0 = divmod(day.month - 1 + months, 12)
    year += day.year
    return date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


def midnight(day: date) -> datetime:
    """The moment `day` begins, local time."""
    return timezone.make_aware(datetime.combine(day, time.min))


def month_bounds(day: date) -> tuple[datetime, datetime]:
    """The moments the month of `day` begins and the next month begins, local time."""
    return midnight(month_start(day)), midnight(next_month(day))


# --- bank working days ---------------------------------------------------------------------------------


def easter_sunday(year: int) -> date:
    """Easter Sunday of the Gregorian calendar (the anonymous Gregorian computus, Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return date(year, month, day + 1)


def is_bank_working_day(day: date) -> bool:
    """A day on which SEPA credit transfers are executed: not a weekend day nor a TARGET closing day (the
    ECB's payment calendar: New Year's Day, Good Friday, Easter Monday, 1 May, 25 and 26 December). Dutch
    public holidays that TARGET keeps open (King's Day, Ascension Day, Whit Monday) are working days for it."""
    if day.weekday() >= 5:
        return False
    if (day.month, day.day) in {(1, 1), (5, 1), (12, 25), (12, 26)}:
        return False
    easter = easter_sunday(day.year)
    return (day - easter).days not in (-2, 1)


def next_bank_working_day(day: date) -> date:
    """The first bank working day after `day`."""
    day = date.fromordinal(day.toordinal() + 1)
    while not is_bank_working_day(day):
        day = date.fromordinal(day.toordinal() + 1)
    return day
