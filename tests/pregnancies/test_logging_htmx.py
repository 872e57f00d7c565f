"""The logging POST the episode page sends with htmx: the answer is a fresh form plus, out of band, the new
timeline row at its place in time, the phase's count and the messages; not the whole timeline again.
A refusal answers the form alone with its errors; without htmx the form still works (Post/Redirect/Get)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from igo.models import Role
from pregnancies.models import CareEvent, EventStatus
from tests.scenarios.care import Care
from tests.scenarios.care_logging import access_entries, ago, form_dt, log

HTMX = {"HX-Request": "true"}


def event_form(care: Care, *, at: datetime, note: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "event_type": care.type("PRE_CHECK").pk,
        "occurred_at": form_dt(at),
        "quantity": "1",
        "location": "Praktijk",
        "note": note,
        "submission_key": str(uuid.uuid4()),
        **extra,
    }


def url_of(care: Care) -> str:
    return care.url(f"episodes/{care.episode.pk}/events/")


def oob_targets(html: str) -> list[str]:
    return re.findall(r'hx-swap-oob="([^"]+)"', html)


def submission_key(html: str) -> str:
    found = re.search(r'name="submission_key" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def test_a_logged_event_answers_its_row_and_a_fresh_form(care, as_role):
    browser = as_role(Role.MIDWIFE)
    data = event_form(care, at=ago(hours=2), note="Bloeddruk 120/80")
    response = browser.post(url_of(care), data, headers=HTMX)
    assert response.status_code == 201
    html = response.content.decode()
    event = CareEvent.unscoped.get(episode=care.episode)
    # The answer's own content replaces the form: a fresh one, with a new submission key.
    assert html.count('data-testid="event-form"') == 1
    assert submission_key(html) != data["submission_key"]
    # Out of band: the messages, the row at the end of its phase (the latest), the count, no "nothing logged".
    assert oob_targets(html) == ["true", f"beforeend:#phase-{event.phase}", "true", "true"]
    assert html.count('data-testid="event-row"') == 1
    assert f'id="event-{event.pk}"' in html and "Bloeddruk 120/80" in html
    assert f'id="phase-{event.phase}-count" hx-swap-oob="true">(1)<' in html
    assert re.search(rf'<p class="muted" id="phase-{event.phase}-empty" hidden hx-swap-oob="true">', html)
    assert 'class="msg success"' in html
    # Not the timeline again: no other phase is in the answer.
    assert 'data-testid="timeline"' not in html and "phase-natal" not in html
    # The event was logged once, with its access-log entry (NEN 7513).
    assert [e.object_id for e in access_entries(care, action="create")] == [str(event.pk)]


def test_the_row_goes_before_the_next_event_of_its_phase(care, as_role):
    early, late = log(care, at=ago(days=14)), log(care, at=ago(days=1))
    response = as_role(Role.MIDWIFE).post(url_of(care), event_form(care, at=ago(days=7)), headers=HTMX)
    assert response.status_code == 201
    html = response.content.decode()
    new = CareEvent.unscoped.exclude(pk__in=[early.pk, late.pk]).get(episode=care.episode)
    assert f"beforebegin:#event-{late.pk}" in oob_targets(html)
    assert f'id="phase-{new.phase}-count" hx-swap-oob="true">(3)<' in html
    # The full page puts the three in time order, each row with its own id for the next insert.
    page = as_role(Role.MIDWIFE).get(care.url(f"episodes/{care.episode.pk}/")).content.decode()
    ids = [int(pk) for pk in re.findall(r'<tbody id="event-(\d+)">', page)]
    assert ids == [early.pk, new.pk, late.pk]


def test_a_refused_entry_answers_the_form_alone_with_its_errors(care, as_role):
    log(care, at=ago(days=3))
    data = event_form(care, at=ago(hours=2), occurred_at="")
    response = as_role(Role.MIDWIFE).post(url_of(care), data, headers=HTMX)
    assert response.status_code == 400
    html = response.content.decode()
    assert html.count('data-testid="event-form"') == 1 and 'class="errorlist' in html
    assert oob_targets(html) == [] and 'data-testid="event-row"' not in html
    assert submission_key(html) == data["submission_key"]  # the same entry, sent again once corrected
    assert CareEvent.unscoped.filter(episode=care.episode).count() == 1
    assert not access_entries(care, action="create")


def test_a_repeated_submission_adds_no_second_row(care, as_role):
    browser = as_role(Role.MIDWIFE)
    data = event_form(care, at=ago(hours=2))
    first = browser.post(url_of(care), data, headers=HTMX)
    again = browser.post(url_of(care), data, headers=HTMX)
    assert (first.status_code, again.status_code) == (201, 200)
    assert 'data-testid="event-row"' not in again.content.decode()
    assert CareEvent.unscoped.filter(episode=care.episode).count() == 1


def test_without_htmx_the_form_posts_redirects_and_gets(care, as_role):
    browser = as_role(Role.MIDWIFE)
    episode_page = care.url(f"episodes/{care.episode.pk}/")
    logged = browser.post(url_of(care), event_form(care, at=ago(hours=2)))
    assert (logged.status_code, logged["Location"]) == (302, episode_page)
    refused = browser.post(url_of(care), event_form(care, at=ago(hours=2), occurred_at=""))
    assert refused.status_code == 400
    html = refused.content.decode()
    assert 'data-testid="timeline"' in html and 'class="errorlist' in html
    # A reload of the refused form's address goes to the page, not a 405.
    reload = browser.get(url_of(care))
    assert (reload.status_code, reload["Location"]) == (303, episode_page)
    assert CareEvent.unscoped.filter(episode=care.episode, status=EventStatus.ACTIVE).count() == 1


def count_queries(browser: Any, care: Care) -> int:
    with CaptureQueriesContext(connection) as queries:
        # The same check again within its repeat window: confirmed, as the form's checkbox does.
        form = event_form(care, at=ago(minutes=30), confirm_duplicate="on")
        response = browser.post(url_of(care), form, headers=HTMX)
    assert response.status_code == 201
    return len(queries)


def test_the_answer_reads_the_same_few_rows_however_long_the_timeline(care, as_role):
    browser = as_role(Role.MIDWIFE)
    # The session's first request notes the IGO in it and fills the access cache (issue 18): not counted.
    browser.get(care.url(f"episodes/{care.episode.pk}/"))
    for days in (20, 10):
        log(care, at=ago(days=days))
    short = count_queries(browser, care)
    for days in range(1, 40):
        log(care, at=ago(days=days, hours=1))
    long = count_queries(browser, care)
    assert long == short
    # What the queries are: the session and user (the tenant and roles come from the access cache, issue
    # 18), the episode, the professional and catalogue, the submission-key check, the locked episode, the
    # event, its access-log entry, and the two of the answer (the next row, the count); the repeat-window
    # check and her use of the care list (the form's order) add one each; BEGIN/SAVEPOINT around the write.
    # The form offers and checks the catalogue entries the view read: no query of its own (issue 18).
    assert short <= 20
