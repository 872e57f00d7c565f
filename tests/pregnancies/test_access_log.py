"""The access log (NEN 7513): every view of a client or episode, every search hit and the day list are
logged, BSNs stay masked and out of URLs; administrators view and export a client's history (formulas
neutralised), and no one can change or delete an entry (PostgreSQL refuses it too).
"""

from __future__ import annotations

import re

import pytest
from django.db import DatabaseError, connection, transaction

from igo.models import Role
from pregnancies.models import AccessLogEntry
from tests.factories import CareEventFactory, ClientFactory, EpisodeFactory, UserFactory
from tests.scenarios.care import Care
from tests.scenarios.care_logging import INVALID_BSN, access_entries, ago, log, postnatal
from tests.scenarios.files import csv_download

pytestmark = [pytest.mark.django_db, pytest.mark.dated]
URL_ATTRIBUTE = re.compile(r'(?:href|action|src|hx-get|hx-post|hx-put|hx-delete|formaction)="([^"]*)"')


def urls_in(html: str) -> list[str]:
    return URL_ATTRIBUTE.findall(html)


def test_client_page_view_is_logged_and_shows_only_the_masked_bsn(care, as_role):
    midwife = care.user(Role.MIDWIFE)
    response = as_role(Role.MIDWIFE).get(care.url(f"clients/{care.client.pk}/"))
    assert response.status_code == 200
    html = response.content.decode()
    assert care.client.bsn not in html
    assert care.client.bsn_masked in html
    assert care.client.bsn_masked == f"*****{care.client.bsn[-4:]}"
    [entry] = access_entries(care)
    assert (entry.user, entry.client, entry.action, entry.object_type, entry.object_id) == (
        midwife,
        care.client,
        "view",
        "client",
        str(care.client.pk),
    )


def test_episode_page_view_is_logged_and_has_no_bsn(care, as_role):
    log(care, at=ago(days=2))
    midwife = care.user(Role.MIDWIFE)
    response = as_role(Role.MIDWIFE).get(care.url(f"episodes/{care.episode.pk}/"))
    assert response.status_code == 200
    html = response.content.decode()
    assert care.client.bsn not in html
    assert all(care.client.bsn not in url for url in urls_in(html))
    [entry] = access_entries(care)
    assert (entry.user, entry.client, entry.action, entry.object_type, entry.object_id) == (
        midwife,
        care.client,
        "view",
        "episode",
        str(care.episode.pk),
    )


def test_search_is_a_post_logs_every_hit_and_shows_masked_bsns(care, as_role):
    other = ClientFactory(tenant=care.tenant, family_name="Jansen-de Vries", given_names="Bo")
    ClientFactory(tenant=care.tenant, family_name="Pietersen")
    gyn = care.user(Role.GYNAECOLOGIST)
    browser = as_role(Role.GYNAECOLOGIST)

    response = browser.post(care.url("clients/"), {"q": "jansen"})
    assert response.status_code == 200
    assert {c.pk for c in response.context["results"]} == {care.client.pk, other.pk}
    html = response.content.decode()
    for c in (care.client, other):
        assert c.bsn not in html
        assert c.bsn_masked in html
        assert care.url(f"clients/{c.pk}/") in urls_in(html)
    entries = access_entries(care, action="search")
    assert sorted((e.user, e.client_id, e.object_type, e.object_id) for e in entries) == sorted(
        (gyn, c.pk, "client", str(c.pk)) for c in (care.client, other)
    )


def test_search_by_bsn_keeps_the_bsn_out_of_urls_and_results(care, as_role):
    browser = as_role(Role.MIDWIFE)
    bsn = care.client.bsn

    page = browser.post(care.url("clients/"), {"q": bsn})
    assert [c.pk for c in page.context["results"]] == [care.client.pk]
    assert all(bsn not in url for url in urls_in(page.content.decode()))
    assert 'method="post"' in page.content.decode()

    partial = browser.post(care.url("clients/"), {"q": bsn}, headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert bsn not in partial.content.decode()
    assert care.client.bsn_masked in partial.content.decode()
    assert len(access_entries(care, action="search")) == 2

    # A BSN in a query string is not searched for (and therefore nothing is found or logged).
    get = browser.get(care.url("clients/") + f"?q={bsn}")
    assert get.status_code == 200
    assert get.context["results"] == []
    assert get.context["searched"] is False
    assert len(access_entries(care, action="search")) == 2


def test_search_with_an_invalid_bsn_finds_nothing(care, as_role):
    response = as_role(Role.MIDWIFE).post(care.url("clients/"), {"q": INVALID_BSN})
    assert response.context["results"] == []
    assert access_entries(care) == []


def test_day_list_of_the_maternity_carer_is_logged(care, as_role):
    episode = postnatal(care)
    log(care, "KZ_HOURS", at=ago(days=1), role=Role.MATERNITY_CARER, quantity=6)
    # Another client in pregnancy (no birth yet) is not on the day list.
    other = EpisodeFactory(
        tenant=care.tenant, intake_date=care.episode.intake_date, due_date=care.episode.due_date
    )
    CareEventFactory(
        tenant=care.tenant,
        episode=other,
        event_type=care.type("KZ_INTAKE"),
        occurred_at=ago(days=1),
        professional=care.carer,
        organisation=care.kraamzorg,
        created_by=care.user(Role.MATERNITY_CARER),
    )
    carer = care.user(Role.MATERNITY_CARER)
    response = as_role(Role.MATERNITY_CARER).get(care.url("today/"))
    assert response.status_code == 200
    assert [e.pk for e in response.context["episodes"]] == [episode.pk]
    assert response.context["episodes"][0].kraamzorg_hours == 6
    html = response.content.decode()
    assert care.client.bsn not in html
    entries = access_entries(care)
    assert [(e.user, e.client, e.action, e.detail) for e in entries] == [
        (carer, care.client, "view", "day list")
    ]


def test_access_log_admin_views_and_exports_a_clients_history(care, as_role, client_for):
    midwife = care.user(Role.MIDWIFE)
    admin = care.user(Role.IGO_ADMIN)
    other_client = ClientFactory(tenant=care.tenant)
    as_role(Role.MIDWIFE).get(care.url(f"clients/{care.client.pk}/"))
    as_role(Role.MIDWIFE).get(care.url(f"episodes/{care.episode.pk}/"))
    as_role(Role.MIDWIFE).get(care.url(f"clients/{other_client.pk}/"))
    browser = client_for(admin)

    page = browser.get(care.url(f"access-log/?client={care.client.pk}"))
    assert page.status_code == 200
    shown = list(page.context["page"].object_list)
    assert {e.client_id for e in shown} == {care.client.pk}
    assert sorted(e.object_type for e in shown) == ["client", "episode"]
    assert all(e.user == midwife for e in shown)
    assert care.client.bsn not in page.content.decode()

    export = browser.get(care.url(f"access-log/client/{care.client.pk}.csv"))
    assert export.status_code == 200
    assert export["Content-Type"].startswith("text/csv")
    assert f"access-history-client-{care.client.pk}_nl.csv" in export["Content-Disposition"]
    download = csv_download(export)
    assert download.header[:7] == [
        "at",
        "user",
        "on_behalf_of",
        "action",
        "object_type",
        "object_id",
        "detail",
    ]
    body = [(r["user"], r["action"], r["object_type"], r["object_id"]) for r in download.rows]
    assert (midwife.email, "view", "client", str(care.client.pk)) in body
    assert (midwife.email, "view", "episode", str(care.episode.pk)) in body
    # The administrator's look at the client's history names her, so it is in that history; so is the export.
    assert (admin.email, "view", "client", str(care.client.pk)) in body
    assert (admin.email, "export", "", "") in body
    assert len(body) == 4
    assert care.client.bsn not in export.content.decode()
    [exported] = access_entries(care, action="export")
    assert (exported.user, exported.client) == (admin, care.client)


def test_access_log_is_for_administrators_only(care, as_role):
    assert as_role(Role.MIDWIFE).get(care.url("access-log/")).status_code == 403
    assert as_role(Role.MIDWIFE).get(care.url(f"access-log/client/{care.client.pk}.csv")).status_code == 403
    assert access_entries(care, action="export") == []


def test_access_log_export_neutralises_formulas_in_the_detail(care, client_for):
    AccessLogEntry.unscoped.create(
        tenant=care.tenant,
        user=care.user(Role.MIDWIFE),
        client=care.client,
        action="view",
        detail='=HYPERLINK("http://evil.example","x")',
    )
    export = client_for(care.user(Role.IGO_ADMIN)).get(care.url(f"access-log/client/{care.client.pk}.csv"))
    rows = csv_download(export).rows
    assert '\'=HYPERLINK("http://evil.example","x")' in [r["detail"] for r in rows]
    assert not any(cell.startswith(("=", "+", "@")) for r in rows for cell in r.values())


def test_access_log_export_neutralises_formulas_in_every_column(care, client_for):
    user = UserFactory(email="=cmd|'/c calc'!A1@example.test")
    AccessLogEntry.unscoped.create(tenant=care.tenant, user=user, client=care.client, action="view")
    export = client_for(care.user(Role.IGO_ADMIN)).get(care.url(f"access-log/client/{care.client.pk}.csv"))
    rows = csv_download(export).rows
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r.values())


def _entry(care: Care) -> AccessLogEntry:
    return AccessLogEntry.unscoped.create(
        tenant=care.tenant, user=care.user(Role.MIDWIFE), client=care.client, action="view", detail="original"
    )


def test_access_log_entries_cannot_be_changed_or_deleted_by_the_application(care):
    entry = _entry(care)
    entry.detail = "tampered"
    with pytest.raises(Exception) as changed, transaction.atomic():
        entry.save()
    assert not isinstance(changed.value, DatabaseError)  # refused by the model, not only by a trigger
    with pytest.raises(Exception) as deleted, transaction.atomic():
        entry.delete()
    assert not isinstance(deleted.value, DatabaseError)
    assert AccessLogEntry.unscoped.get(pk=entry.pk).detail == "original"


def test_access_log_trigger_refuses_update_and_delete_on_postgresql(care):
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL only")
    entry = _entry(care)
    with pytest.raises(DatabaseError), transaction.atomic():
        AccessLogEntry.unscoped.filter(pk=entry.pk).update(detail="tampered")
    with pytest.raises(DatabaseError), transaction.atomic():
        AccessLogEntry.unscoped.filter(pk=entry.pk).delete()
    assert AccessLogEntry.unscoped.get(pk=entry.pk).detail == "original"
