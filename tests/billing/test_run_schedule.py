"""The claims page says when the billing run starts by itself from the real beat schedule (every 15
minutes), and that it does not where no periodic jobs run (settings.PERIODIC_JOBS off)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse

from billing.progress import progress_key
from igo.models import Role

pytestmark = pytest.mark.django_db


def _schedule(world, client_for) -> str:  # type: ignore[no-untyped-def]
    cache.delete(progress_key(world.tenant.pk))  # no run known yet: the page tells the schedule
    html = client_for(world.user(Role.IGO_FINANCE)).get(reverse("claim_list", args=[world.tenant.slug]))
    text = html.content.decode()
    start = text.index('data-testid="run-schedule"')
    return text[text.index(">", start) + 1 : text.index("</span>", start)]


def test_the_claims_page_tells_the_real_schedule(world_a, client_for, settings):
    settings.PERIODIC_JOBS = True
    assert _schedule(world_a, client_for) == "De facturatierun start ook elke 15 minuten vanzelf."
    settings.CELERY_BEAT_SCHEDULE = {
        **settings.CELERY_BEAT_SCHEDULE,
        "billing-sweep": {"task": "billing.tasks.billing_sweep", "schedule": timedelta(hours=1)},
    }
    assert _schedule(world_a, client_for) == "De facturatierun start ook elke 60 minuten vanzelf."


def test_without_periodic_jobs_it_says_to_start_the_run(world_a, client_for, settings):
    settings.PERIODIC_JOBS = False
    assert "niet vanzelf" in _schedule(world_a, client_for)
