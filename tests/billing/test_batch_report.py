"""Making a month's batches says what it made and what it left, and why (issue of a new IGO's first try):
a month's batch takes only the lines made before that month ended, so on 7 December the default month
(November) makes nothing while December's lines wait. The report names that month and whether it can be
made now.

The worked portfolio of tests.scenarios.billing, billed on 7 December 2026: 8 lines, 9850.00 in all
(Zilveren Kruis 6 lines 7200.00, VGZ 2 lines 2650.00), all made in 12-2026.
"""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.core.cache import cache

from billing import tasks
from billing.models import ClaimBatch
from igo.models import Role
from tests.scenarios.clock import local
from tests.scenarios.finance import url

EURO = "€\xa09.850,00"
pytestmark = [pytest.mark.django_db, pytest.mark.dated, pytest.mark.clock(local(2026, 12, 7, 10))]


def _report(finance, s) -> str:  # type: ignore[no-untyped-def]
    html = unescape(finance.get(url(s, "batch_list")).content.decode())
    start = html.index('data-testid="batch-progress"')
    panel = html[start : html.index("</div>", html.index('data-testid="batch-report"'))]
    # The text without its tags, runs of white space as one space (an amount's no-break space stays).
    return re.sub(r"[ \t\n]+", " ", re.sub(r"<[^>]+>", "", panel))


def test_the_first_try_for_last_month_says_why_nothing_was_made_and_which_month_to_make(
    billed_portfolio, finance, world_a
):
    s = billed_portfolio
    user = world_a.user(Role.IGO_FINANCE)
    cache.delete(tasks.batch_progress_key(s.tenant.pk))
    # The default month on 7 December: November.
    tasks.batches_create.apply(args=[s.tenant.pk, "2026-11-01", user.pk])
    assert not ClaimBatch.unscoped.filter(tenant=s.tenant).exists()
    report = _report(finance, s)
    assert "Er is geen batch gemaakt voor 11-2026" in report
    assert f"8 klaarstaande regels ({EURO}) zijn gemaakt in 12-2026" in report
    assert "kies 12-2026" in report  # December has begun: it can be made now

    tasks.batches_create.apply(args=[s.tenant.pk, "2026-12-01", user.pk])
    report = _report(finance, s)
    assert f"2 batches gemaakt: 8 regels, {EURO}." in report
    assert "klaarstaande regels" not in report  # nothing left for a later month

    # Asked again: nothing new, and it says so.
    tasks.batches_create.apply(args=[s.tenant.pk, "2026-12-01", user.pk])
    assert "al eerder gemaakt" in _report(finance, s)
    cache.delete(tasks.batch_progress_key(s.tenant.pk))
