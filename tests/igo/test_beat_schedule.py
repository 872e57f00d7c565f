"""The periodic jobs (Celery beat, Europe/Amsterdam): none at an hour the clock change skips or repeats."""

from __future__ import annotations

import datetime as dt

import pytest
from celery.schedules import crontab
from django.conf import settings

from tests.scenarios.clock import AMSTERDAM


def _odd_hours(year: int) -> set[int]:
    """Local hours in which some wall-clock time does not exist or happens twice in Amsterdam in `year`,
    found from the time zone (zoneinfo gives such a time two offsets, one for each `fold`)."""
    odd = set()
    day = dt.date(year, 1, 1)
    while day.year == year:
        for hour in range(24):
            moment = dt.datetime.combine(day, dt.time(hour, 30), tzinfo=AMSTERDAM)
            if moment.replace(fold=0).utcoffset() != moment.replace(fold=1).utcoffset():
                odd.add(hour)
        day += dt.timedelta(days=1)
    return odd


def test_the_odd_hour_is_found_from_the_zone():
    assert _odd_hours(2027) == {2}  # 02:00-03:00: skipped on 28 March, twice on 31 October


@pytest.mark.parametrize("name", sorted(settings.CELERY_BEAT_SCHEDULE))
def test_no_daily_job_runs_in_an_hour_the_clock_change_skips_or_repeats(name):
    schedule = settings.CELERY_BEAT_SCHEDULE[name]["schedule"]
    if not isinstance(schedule, crontab):
        assert isinstance(schedule, dt.timedelta)  # intervals do not depend on the wall clock
        return
    assert settings.CELERY_TIMEZONE == "Europe/Amsterdam"
    assert not (schedule.hour & _odd_hours(2027)), (name, sorted(schedule.hour))
