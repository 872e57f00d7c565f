"""Every demo user can open every page she reaches from her first page, on any day: the demo seeded at a
moment (the process clock, which the moved-clock passes move to their moments, and the last half hour of
a year) and walked as she would, two links deep (tests/scenarios/walk.py); the midwife logs care over
htmx; the books still close."""

from __future__ import annotations

import datetime as dt
import io
import os

import pytest
from django.core.management import call_command

from tests.scenarios.clock import local
from tests.scenarios.walk import demo_walk

pytestmark = [pytest.mark.django_db, pytest.mark.dated]

MOMENTS = [
    pytest.param(None, id="process-clock"),
    pytest.param(
        local(2027, 3, 1, 0, 30), marks=pytest.mark.clock(local(2027, 3, 1, 0, 30)), id="1-march-0030"
    ),
    pytest.param(
        local(2027, 12, 31, 23, 30),
        marks=pytest.mark.clock(local(2027, 12, 31, 23, 30)),
        id="31-december-2330",
    ),
]


@pytest.mark.parametrize("moment", MOMENTS)
def test_every_demo_user_opens_every_page_she_reaches(moment: dt.datetime | None) -> None:
    if moment is not None and os.environ.get("IGO_TEST_CLOCK"):
        pytest.skip("a fixed moment, walked in the first pass; a moved-clock pass walks its own moment")
    call_command("seed_demo", stdout=io.StringIO())

    walk = demo_walk()

    assert walk.failures == []
    assert walk.users >= 16 and walk.pages >= 300, walk  # every demo user walked her pages
    assert walk.logged == (201, 1)  # the htmx answer carries the one new row
    assert walk.books and all(problems == [] for problems in walk.books.values()), walk.books
