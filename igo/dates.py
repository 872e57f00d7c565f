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
