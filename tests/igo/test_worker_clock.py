"""The worker bills by its own clock: it must be the clock of the web process (and of the test). In the
moved-clock passes (scripts/dated.sh) both run under libfaketime; this test proves the preload reached the
worker."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from igo.tasks import worker_info

pytestmark = [pytest.mark.real_worker, pytest.mark.dated, pytest.mark.django_db(transaction=True)]


def test_the_worker_sees_the_clock_of_the_test(needs_worker):
    before = timezone.now()
    info = worker_info.delay().get(timeout=30)
    after = timezone.now()
    worker_now = dt.datetime.fromisoformat(info["now"])
    # Within the round trip, with a second's slack for the two processes' readings.
    assert before - dt.timedelta(seconds=1) <= worker_now <= after + dt.timedelta(seconds=1)
