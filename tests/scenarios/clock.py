"""The clock in tests. A test that needs "today" or "now" sets it: the services' own `today=` where they
have one, otherwise time-machine (`time_machine.move_to(local(...))` with the pytest fixture, or `travel`
around a block), which also stamps the rows a test makes (created_at, changed_at) at that moment.

Moments are Europe/Amsterdam, as everywhere in the platform: `local(2027, 1, 1, 0, 30)` is half past
midnight on New Year's Day in the Netherlands, 23:30 UTC the day before.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import time_machine

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def local(y: int, m: int, d: int, h: int = 12, minute: int = 0) -> dt.datetime:
    """A moment on the Amsterdam clock."""
    return dt.datetime(y, m, d, h, minute, tzinfo=AMSTERDAM)


def travel(moment: dt.datetime, *, tick: bool = True) -> time_machine.travel:
    """Move the clock to `moment` for a block (`with travel(local(...)):`); it keeps ticking from there."""
    return time_machine.travel(moment, tick=tick)
