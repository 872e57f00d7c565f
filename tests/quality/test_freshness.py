"""How fresh the quality figures are: the pages say when they were computed, promise the periodic refresh
only where periodic jobs run (settings.PERIODIC_JOBS, the beat schedule), and let an administrator
recompute now (the worker does it) from the dashboard and from an indicator's page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from igo.models import Role
from quality import selectors
from quality import tasks as quality_tasks
from quality.models import QualityState
from tests.scenarios.clock import local, travel
from tests.scenarios.people import TenantWorld
from tests.scenarios.quality import YEAR, Q, build

pytestmark = [pytest.mark.django_db, pytest.mark.dated]


@pytest.fixture
def q(world_a: TenantWorld) -> Q:
    return build(world_a)


def note(html: str) -> str:
    match = re.search(r'<p[^>]*data-testid="computed-at"[^>]*>(.*?)</p>', html, re.S)
    assert match, "no computed-at note"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def test_without_periodic_jobs_the_page_promises_no_schedule_and_offers_a_recompute(
    q: Q, client_for, settings
):
    settings.PERIODIC_JOBS = False
    assert selectors.sweep_minutes() is None
    html = (
        client_for(q.world.user(Role.IGO_ADMIN)).get(q.url("quality_dashboard", year=YEAR)).content.decode()
    )
    text = note(html)
    assert "minuten" not in text and "elke nacht" not in text
    assert "niet automatisch herberekend" in text
    assert re.search(r'data-testid="recompute"[^>]*>\s*Nu herberekenen', html)


def test_with_periodic_jobs_the_page_names_the_schedule_of_the_beat(q: Q, client_for, settings):
    settings.PERIODIC_JOBS = True
    settings.CELERY_BEAT_SCHEDULE = {
        **settings.CELERY_BEAT_SCHEDULE,
        "quality-sweep": {"task": "quality.tasks.quality_sweep", "schedule": timedelta(minutes=10)},
    }
    assert selectors.sweep_minutes() == 10
    html = (
        client_for(q.world.user(Role.IGO_ADMIN)).get(q.url("quality_dashboard", year=YEAR)).content.decode()
    )
    assert "Gewijzigde episodes worden elke 10 minuten herberekend" in note(html)


def test_the_time_shown_is_that_of_the_last_computation(q: Q, client_for, settings):
    settings.PERIODIC_JOBS = False
    admin = client_for(q.world.user(Role.IGO_ADMIN))
    with travel(local(2026, 11, 18, 16, 30)):
        quality_tasks.quality_refresh.apply(args=[q.tenant.pk, True]).get()
    assert QualityState.unscoped.get(tenant=q.tenant).full_at is not None
    text = note(admin.get(q.url("quality_dashboard", year=YEAR)).content.decode())
    assert "Laatst berekend op 18-11-2026 16:30." in text


def test_an_indicator_page_also_offers_the_recompute_to_administrators_only(q: Q, client_for, settings):
    settings.PERIODIC_JOBS = False
    url = q.url("quality_indicator", "caesarean", year=YEAR)
    assert 'data-testid="recompute"' in client_for(q.world.user(Role.IGO_ADMIN)).get(url).content.decode()
    finance = client_for(q.world.user(Role.IGO_FINANCE)).get(url).content.decode()
    assert 'data-testid="recompute"' not in finance
    assert "niet automatisch herberekend" in note(finance)
