"""The access log (NEN 7513) without holes or noise: typing in the search previews only how many clients
match (nothing read, nothing logged) and the submitted search logs each client shown once; a refused form
that shows the episode or correction page again logs that view; the administrator's access-log page logs the
clients it names; and logging many clients is one INSERT.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies.models import AccessLogEntry, Client
from pregnancies.services import access_log_many
from tests.factories import ClientFactory
from tests.scenarios.care_logging import access_entries, ago, log

pytestmark = [pytest.mark.django_db, pytest.mark.dated]
HTMX = {"HX-Request": "true"}


def inserts(queries: CaptureQueriesContext) -> int:
    table = AccessLogEntry._meta.db_table
    return sum(1 for q in queries.captured_queries if q["sql"].startswith(f'INSERT INTO "{table}"'))


# --- type-ahead search ------------------------------------------------------------------------------


def test_typing_previews_a_count_without_names_and_logs_nothing(care, as_role):
    other = ClientFactory(tenant=care.tenant, family_name=f"{care.client.family_name}-Bakker")
    browser = as_role(Role.MIDWIFE)
    name = care.client.family_name
    # Each pause while typing asks for a preview: "J", "Ja", … up to the whole name.
    for typed in (name[:1], name[:3], name):
        preview = browser.post(care.url("clients/"), {"q": typed, "preview": "1"}, headers=HTMX)
        assert preview.status_code == 200
        html = preview.content.decode()
        assert 'data-testid="search-preview"' in html
        for c in (care.client, other):
            assert c.family_name not in html and c.bsn_masked not in html and c.given_names not in html
    assert preview.context["preview"] == 2
    assert access_entries(care) == []

    # The search itself (Enter or the button) shows the names and logs each client shown once.
    midwife = care.user(Role.MIDWIFE)
    results = browser.post(care.url("clients/"), {"q": name}, headers=HTMX)
    assert {c.pk for c in results.context["results"]} == {care.client.pk, other.pk}
    assert escape(care.client.family_name) in results.content.decode()
    found = access_entries(care, action="search")
    assert sorted((e.user, e.client_id) for e in found) == sorted(
        (midwife, c.pk) for c in (care.client, other)
    )


def test_a_whole_bsn_is_not_previewed(care, as_role):
    preview = as_role(Role.MIDWIFE).post(
        care.url("clients/"), {"q": care.client.bsn, "preview": "1"}, headers=HTMX
    )
    assert preview.context["preview"] == -1  # "press Search": not even whether she is a client here
    assert care.client.family_name not in preview.content.decode()
    assert access_entries(care) == []


def test_a_name_with_a_date_of_birth_is_not_previewed(care, as_role):
    """Security review: a full name and a date of birth answered "1 client" without an access-log entry,
    which tells whether that person is a client of this IGO."""
    client = care.client
    preview = as_role(Role.MIDWIFE).post(
        care.url("clients/"),
        {
            "q": client.family_name,
            "date_of_birth": client.date_of_birth.isoformat(),
            "preview": "1",
        },
        headers=HTMX,
    )
    assert preview.status_code == 200 and preview.context["preview"] == -1
    assert "Druk op Zoeken" in preview.content.decode()
    assert access_entries(care) == []


def test_the_search_page_previews_while_typing_and_searches_on_submit(care, as_role):
    html = as_role(Role.MIDWIFE).get(care.url("clients/")).content.decode()
    assert 'hx-trigger="submit"' in html  # the form: names on submit only
    assert 'hx-vals=\'{"preview": "1"}\'' in html  # the field: a count while typing
    assert 'hx-target="#search-preview"' in html  # a late preview never replaces the results


# --- pages shown again after a refused form --------------------------------------------------------


def test_refused_event_shows_the_episode_page_again_and_logs_it(care, as_role):
    midwife = care.user(Role.MIDWIFE)
    response = as_role(Role.MIDWIFE).post(care.url(f"episodes/{care.episode.pk}/events/"), {})
    assert response.status_code == 400
    assert escape(care.client.family_name) in response.content.decode()
    [entry] = access_entries(care)
    assert (entry.user, entry.client, entry.action, entry.object_type, entry.detail) == (
        midwife,
        care.client,
        "view",
        "episode",
        "form refused",
    )


def test_refused_delivery_and_outcomes_forms_log_the_page(care, as_role):
    browser = as_role(Role.MIDWIFE)
    assert browser.post(care.url(f"episodes/{care.episode.pk}/delivery/"), {}).status_code == 400
    assert [e.detail for e in access_entries(care)] == ["form refused"]


def test_refused_correction_shows_the_event_again_and_logs_it(care, as_role):
    event = log(care, at=ago(days=1))
    browser = as_role(Role.MIDWIFE)
    assert browser.get(care.url(f"events/{event.pk}/")).status_code == 200
    response = browser.post(care.url(f"events/{event.pk}/"), {"quantity": "1"})  # no reason given
    assert response.status_code == 400
    details = [(e.object_type, e.detail) for e in access_entries(care, action="view")]
    assert details == [("careevent", ""), ("careevent", "form refused")]


# --- the administrator's access-log page ------------------------------------------------------------


def test_access_log_page_logs_the_clients_it_names(care, as_role):
    other = ClientFactory(tenant=care.tenant)
    midwife_browser = as_role(Role.MIDWIFE)
    midwife_browser.get(care.url(f"clients/{care.client.pk}/"))
    midwife_browser.get(care.url(f"clients/{other.pk}/"))
    admin = care.user(Role.IGO_ADMIN)
    browser = as_role(Role.IGO_ADMIN)

    page = browser.get(care.url("access-log/"))
    assert page.status_code == 200
    assert {e.client_id for e in page.context["page"].object_list} == {care.client.pk, other.pk}
    mine = access_entries(care, user=admin)
    assert sorted(e.client_id for e in mine) == sorted([care.client.pk, other.pk])  # once each
    assert {(e.action, e.detail) for e in mine} == {("view", "access log")}

    filtered = browser.get(care.url(f"access-log/?client={other.pk}"))
    newest = access_entries(care, user=admin)[-1]
    assert (newest.client_id, newest.detail) == (other.pk, "access log")
    # The page's rows were read before its own entry was written: that entry is not on it.
    rows = list(filtered.context["page"].object_list)
    assert newest.pk not in {e.pk for e in rows} and len(rows) == 2  # the midwife's view, the first page


# --- one INSERT for many clients ------------------------------------------------------------------------


def test_logging_many_clients_is_one_insert_with_one_entry_each(care):
    many = [ClientFactory(tenant=care.tenant) for _ in range(30)]
    user = care.user(Role.IGO_FINANCE)
    with tenant_scope(care.tenant), CaptureQueriesContext(connection) as queries:
        # The same client twice on a page (two lines of one episode) is one entry.
        written = access_log_many(user=user, clients=[*many, many[0], many[1].pk], action="view", detail="x")
    assert written == 30
    assert inserts(queries) == 1 and len(queries.captured_queries) == 1
    assert sorted(e.client_id for e in access_entries(care, user=user)) == sorted(c.pk for c in many)


def test_logging_by_id_without_a_tenant_refuses_instead_of_guessing(care):
    with pytest.raises(ValueError):
        access_log_many(user=care.user(Role.MIDWIFE), clients=[care.client.pk], action="view")
    # Client rows carry their tenant; outside any scope they are logged in their own IGO.
    access_log_many(
        user=care.user(Role.MIDWIFE), clients=[Client.unscoped.get(pk=care.client.pk)], action="view"
    )
    assert [e.tenant_id for e in access_entries(care)] == [care.tenant.pk]
