"""A moment typed on the Amsterdam clock (igo.forms.LocalDateTimeField), as clinicians type when they log
care: the hour that happens twice on the night the clocks go back is read as what was just done, the hour
that is skipped in March is refused with a message that says why."""

from __future__ import annotations

import datetime as dt

import pytest
from django import forms
from django.utils import timezone, translation

from igo.forms import LocalDateTimeField

pytestmark = pytest.mark.dated

UTC = dt.UTC


class MomentForm(forms.Form):
    at = LocalDateTimeField()


def typed(text: str) -> forms.Form:
    form = MomentForm({"at": text})
    form.is_valid()
    return form


@pytest.mark.parametrize(
    ("now", "text", "expected"),
    [
        # 02:58 CET, the second pass through the hour: "now" as the form shows it means now.
        pytest.param(
            dt.datetime(2027, 10, 31, 1, 58, tzinfo=UTC), "2027-10-31T02:58", (1, 58), id="second-pass"
        ),
        # 02:45 CEST, the first pass: 02:30 CET has not happened yet, so 02:30 is the CEST one.
        pytest.param(
            dt.datetime(2027, 10, 31, 0, 45, tzinfo=UTC), "2027-10-31T02:30", (0, 30), id="first-pass"
        ),
        # The morning after both passes: the later one.
        pytest.param(
            dt.datetime(2027, 10, 31, 9, 0, tzinfo=UTC), "2027-10-31T02:30", (1, 30), id="morning-after"
        ),
        # An ordinary time is read as always.
        pytest.param(dt.datetime(2027, 6, 1, 12, 0, tzinfo=UTC), "2027-06-01T10:00", (8, 0), id="summer"),
    ],
)
def test_a_time_in_the_repeated_hour_is_the_moment_just_passed(time_machine, now, text, expected):
    time_machine.move_to(now, tick=False)
    form = typed(text)
    assert form.is_valid(), form.errors
    moment = form.cleaned_data["at"].astimezone(UTC)
    assert (moment.date(), moment.hour, moment.minute) == (dt.date.fromisoformat(text[:10]), *expected)


def test_what_the_form_shows_as_now_reads_back_as_now_in_the_repeated_hour(time_machine):
    time_machine.move_to(dt.datetime(2027, 10, 31, 1, 40, tzinfo=UTC), tick=False)  # 02:40 CET
    shown = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    form = typed(shown)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["at"] == timezone.now()


def test_a_time_the_clocks_skip_is_refused_in_dutch(time_machine):
    time_machine.move_to(dt.datetime(2027, 3, 28, 8, 0, tzinfo=UTC), tick=False)
    with translation.override("nl"):
        form = typed("2027-03-28T02:30")
        assert not form.is_valid()
        assert form.errors["at"] == [
            "28-03-2027 02:30 bestaat niet op de Nederlandse klok: die nacht gaat de klok van 02:00 naar 03:00."
        ]
    # 01:59 and 03:00 exist.
    assert typed("2027-03-28T01:59").is_valid() and typed("2027-03-28T03:00").is_valid()


def test_text_that_is_no_moment_keeps_the_ordinary_message():
    form = typed("gisteren")
    assert not form.is_valid() and "at" in form.errors
