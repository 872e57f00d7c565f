#!/usr/bin/env python3
"""The moved clocks of the test command: moments at which billing is most easily wrong, each in the future of
`today` so that the suite's own data (care logged "now", history in earlier months) stays in the past.

    python3 scripts/clocks.py [--today 2026-12-04]      one line a clock: "<label> <UTC instant>"
    python3 scripts/clocks.py --offset 2028-02-29T12:00 seconds from now to that Amsterdam moment

A moment is given in Amsterdam time; the nights the clocks change are given just before the change (01:58
CET in March, 02:58 CEST in October), so the run itself crosses it.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import sys
from zoneinfo import ZoneInfo

AMS = ZoneInfo("Europe/Amsterdam")
UTC = dt.UTC


def local(day: dt.date, hour: int, minute: int) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=AMS)


def last_sunday(year: int, month: int) -> dt.date:
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    return last - dt.timedelta(days=(last.weekday() - 6) % 7)


def next_leap_day(today: dt.date) -> dt.date:
    year = today.year
    while not (calendar.isleap(year) and dt.date(year, 2, 29) > today):
        year += 1
    return dt.date(year, 2, 29)


def next_date(today: dt.date, month: int, day: int) -> dt.date:
    """The first (month, day) after today."""
    candidate = dt.date(today.year, month, day)
    return candidate if candidate > today else dt.date(today.year + 1, month, day)


def next_sunday(today: dt.date, month: int) -> dt.date:
    candidate = last_sunday(today.year, month)
    return candidate if candidate > today else last_sunday(today.year + 1, month)


def clocks(today: dt.date) -> list[tuple[str, dt.datetime]]:
    # An ordinary month end, not the year's: the end of next month, or of January when next month is December.
    month = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    if month.month == 12:
        month = dt.date(month.year + 1, 1, 1)
    month_last = month.replace(day=calendar.monthrange(month.year, month.month)[1])
    new_year = next_date(today, 1, 1)
    three_years = today.replace(year=today.year + 3) if (today.month, today.day) != (2, 29) else today
    return [
        ("month-last-2330", local(month_last, 23, 30)),
        ("month-first-0030", local(month_last + dt.timedelta(days=1), 0, 30)),
        ("dec31-2330", local(new_year - dt.timedelta(days=1), 23, 30)),
        ("jan1-0030", local(new_year, 0, 30)),
        ("feb29", local(next_leap_day(today), 12, 0)),
        ("dst-march", local(next_sunday(today, 3), 1, 58)),
        ("dst-october", dt.datetime.combine(next_sunday(today, 10), dt.time(0, 58), tzinfo=UTC)),
        ("three-years", local(three_years, 10, 0)),
    ]


def parse_moment(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=AMS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--today", type=dt.date.fromisoformat)
    parser.add_argument("--offset", help="an ISO moment (Amsterdam time unless it has an offset)")
    args = parser.parse_args()
    if args.offset:
        seconds = (parse_moment(args.offset) - dt.datetime.now(UTC)).total_seconds()
        print(f"{round(seconds):+d}")
        return 0
    today = args.today or dt.datetime.now(AMS).date()
    for label, moment in clocks(today):
        print(label, moment.astimezone(UTC).isoformat(timespec="minutes"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
