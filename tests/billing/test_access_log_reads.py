"""Finance and insurers read client data too, and the access log (NEN 7513) records it: the claims list, the
work queue and member statements for IGO finance; the batch page, a line's row, the files and the API answer
for an insurer employee, in the log of the IGO that sent the batch (the data controller). Every answer writes
one entry per client shown, in one INSERT, however many clients it shows.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from billing.models import BatchLine, ClaimBatch
from igo.models import InsurerApiToken, Role, User
from igo.services import insurer_token_create
from pregnancies.models import AccessLogEntry, Episode
from tests.scenarios.access import FAMILY_NAME, Seen, make_seen
from tests.scenarios.batches import Batches, lines_of, make_batches
from tests.scenarios.billing import BILLING_NOW
from tests.scenarios.people import TenantWorld, sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BILLING_NOW)]


@pytest.fixture
def seen(world_a: TenantWorld) -> Seen:
    return make_seen(world_a)


@pytest.fixture
def bx(world_a: TenantWorld, world_b: TenantWorld) -> Batches:
    return make_batches(world_a, world_b)


def signed_in(user: User) -> HttpClient:
    return sign_in(HttpClient(), user)


def entries(user: User, **filters: object) -> list[AccessLogEntry]:
    return list(AccessLogEntry.unscoped.filter(user=user, **filters).order_by("pk"))


def log_inserts(queries: CaptureQueriesContext) -> int:
    table = AccessLogEntry._meta.db_table
    return sum(1 for q in queries.captured_queries if q["sql"].startswith(f'INSERT INTO "{table}"'))


def batch_client_ids(batch: ClaimBatch) -> set[int]:
    episodes = [
        line.claim_line.episode_id
        for line in BatchLine.unscoped.filter(batch=batch).select_related("claim_line")
    ]
    return set(Episode.unscoped.filter(pk__in=episodes).values_list("client_id", flat=True))


# --- IGO finance -----------------------------------------------------------------------------------


def test_claims_list_logs_every_client_it_names_in_one_insert(bx):
    finance = bx.finance_a
    with CaptureQueriesContext(connection) as queries:
        page = signed_in(finance).get(reverse("claim_list", kwargs={"tenant_slug": bx.a.tenant.slug}))
    assert page.status_code == 200
    shown = {ep.client.pk for ep in page.context["page"].object_list}
    assert len(shown) > 1  # the portfolio: several clients, each named on the page
    logged = entries(finance, detail="claims")
    assert sorted(e.client_id for e in logged) == sorted(shown)  # one entry per client, none twice
    assert {(e.action, e.tenant_id) for e in logged} == {("view", bx.a.tenant.pk)}
    assert log_inserts(queries) == 1


def test_work_queue_logs_the_clients_of_its_episode_items(seen):
    finance = seen.world.user(Role.IGO_FINANCE)
    page = signed_in(finance).get(reverse("work_queue", kwargs={"tenant_slug": seen.world.tenant.slug}))
    assert page.status_code == 200 and FAMILY_NAME in page.content.decode()
    [entry] = entries(finance, detail="work queue")
    assert (entry.client, entry.action) == (seen.client, "view")


@pytest.mark.parametrize("fmt", ["csv", "pdf"])
def test_member_statement_download_is_logged_as_an_export(seen, fmt):
    finance = seen.world.user(Role.IGO_FINANCE)
    [kwargs] = [kw for kw in seen.kwargs["statement_download"] if kw["fmt"] == fmt]
    url = reverse("statement_download", kwargs={"tenant_slug": seen.world.tenant.slug, **kwargs})
    assert signed_in(finance).get(url).status_code == 200
    [entry] = entries(finance, action="export")
    assert entry.client == seen.client
    assert entry.detail.startswith("member statement") and entry.detail.endswith(fmt)


def test_batch_file_download_logs_every_client_of_the_batch_in_one_insert(bx):
    finance = bx.finance_a
    url = reverse("batch_file", kwargs={"tenant_slug": bx.a.tenant.slug, "pk": bx.zk_a.pk, "kind": "kz301"})
    with CaptureQueriesContext(connection) as queries:
        assert signed_in(finance).get(url).status_code == 200
    assert {e.client_id for e in entries(finance, action="export")} == batch_client_ids(bx.zk_a)
    assert log_inserts(queries) == 1


# --- insurers: portal and API -----------------------------------------------------------------------


def test_insurer_batch_page_is_logged_in_the_sending_igos_log(bx):
    with CaptureQueriesContext(connection) as queries:
        page = signed_in(bx.zk_user).get(reverse("insurer_batch_detail", kwargs={"pk": bx.zk_a.pk}))
    assert page.status_code == 200
    logged = entries(bx.zk_user)
    clients = batch_client_ids(bx.zk_a)
    assert len(clients) > 1
    assert sorted(e.client_id for e in logged) == sorted(clients)
    # The IGO that sent the batch keeps the entries; they name the insurer and the channel.
    assert {e.tenant_id for e in logged} == {bx.a.tenant.pk}
    assert {(e.action, e.detail) for e in logged} == {
        ("view", f"insurer {bx.a.zk.uzovi_code} portal: claim batch {bx.zk_a.number}")
    }
    assert log_inserts(queries) == 1
    # Another IGO's batch to the same insurer goes to that IGO's log.
    signed_in(bx.zk_user).get(reverse("insurer_batch_detail", kwargs={"pk": bx.zk_b.pk}))
    assert {e.tenant_id for e in entries(bx.zk_user)} == {bx.a.tenant.pk, bx.b.tenant.pk}


def test_insurer_refused_answer_row_logs_its_client(bx):
    line = lines_of(bx.zk_a)[0]
    url = reverse("insurer_line_answer", kwargs={"pk": bx.zk_a.pk, "line_pk": line.pk})
    response = signed_in(bx.zk_user).post(url, {"status": "rejected"}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and line.bsn in response.content.decode()
    [entry] = entries(bx.zk_user)
    assert entry.client_id == Episode.unscoped.get(pk=line.claim_line.episode_id).client_id


def test_insurer_api_batch_lines_are_logged_with_a_key_and_a_session(bx):
    _token, key = insurer_token_create(user=bx.zk_user, insurer=bx.a.zk, name="ERP")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    url = reverse("api_insurer_batch_detail", kwargs={"pk": bx.zk_a.pk})
    with CaptureQueriesContext(connection) as queries:
        body = api.get(url).json()
    assert {row["bsn"] for row in body["lines"]} == {line.bsn for line in lines_of(bx.zk_a)}
    logged = entries(bx.zk_user)
    assert sorted(e.client_id for e in logged) == sorted(batch_client_ids(bx.zk_a))
    assert {(e.tenant_id, e.action) for e in logged} == {(bx.a.tenant.pk, "view")}
    # Which of the insurer's keys read them: its prefix, as the portal lists the keys.
    prefix = InsurerApiToken.objects.get().prefix
    assert all(e.detail.startswith(f"insurer {bx.a.zk.uzovi_code} api (key igo_{prefix}):") for e in logged)
    assert log_inserts(queries) == 1
    # The list of batches names no client and writes nothing.
    api.get(reverse("api_insurer_batch_list"))
    assert len(entries(bx.zk_user)) == len(logged)


@pytest.mark.parametrize("via", ["portal", "api"])
def test_insurer_file_download_is_logged_as_an_export(bx, via):
    name = "insurer_batch_file" if via == "portal" else "api_insurer_batch_file"
    url = reverse(name, kwargs={"pk": bx.zk_a.pk, "kind": "csv"})
    assert signed_in(bx.zk_user).get(url).status_code == 200
    logged = entries(bx.zk_user)
    assert {e.client_id for e in logged} == batch_client_ids(bx.zk_a)
    assert {(e.action, e.tenant_id) for e in logged} == {("export", bx.a.tenant.pk)}
    assert all(e.detail.endswith(f"claim batch {bx.zk_a.number} csv") and via in e.detail for e in logged)
