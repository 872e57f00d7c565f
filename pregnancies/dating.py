"""Pregnancy dating: gestational age from the due date, due dates from the last period or an ultrasound.

Pure functions on dates (no "today" of their own: callers pass the day they mean, so that pages, lists and
tests agree on it). A pregnancy lasts 280 days from the first day of the last menstrual period (Naegele);
an ultrasound gives the gestational age on the day it was made, and the due date follows from that.
"""

from __future__ import annotations

from datetime import date, timedelta

TERM_DAYS = 280


def gestational_age_days(*, due_date: date, on: date) -> int:
    """Days of pregnancy on `on` for a pregnancy due on `due_date` (negative before the pregnancy began)."""
    return TERM_DAYS - (due_date - on).days


def gestational_age_label(days: int | None) -> str:
    """ "24+3" (completed weeks + days), the way Dutch care writes a gestational age; "" when unknown."""
    if days is None or days < 0:
        return ""
    weeks, rest = divmod(days, 7)
    return f"{weeks}+{rest}"


def gestational_age_on(*, due_date: date | None, on: date) -> str:
    """The gestational-age label on a day, "" when there is no due date or the pregnancy had not begun."""
    if due_date is None:
        return ""
    return gestational_age_label(gestational_age_days(due_date=due_date, on=on))


def due_date_from_lmp(lmp: date) -> date:
    """Naegele's rule: 280 days after the first day of the last menstrual period."""
    return lmp + timedelta(days=TERM_DAYS)


def due_date_from_ultrasound(*, scanned_on: date, gestational_days: int) -> date:
    """The due date from an ultrasound that measured `gestational_days` of pregnancy on `scanned_on`."""
    return scanned_on + timedelta(days=TERM_DAYS - gestational_days)


# Parity counts the births from 24+0 weeks on (live or stillborn); an earlier ending counts for gravida only.
PARITY_FROM_DAYS = 24 * 7


def counts_for_parity(*, due_date: date, born_on: date) -> bool:
    """Whether a birth on `born_on`, in a pregnancy due on `due_date`, was at 24+0 weeks or later."""
    return gestational_age_days(due_date=due_date, on=born_on) >= PARITY_FROM_DAYS
