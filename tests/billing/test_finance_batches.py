"""The finance screens of the monthly claim batches: thin views over billing.services.batches; waiting lines,
the list and detail (masked BSN, access logged), making them through a task with a progress panel,
release, discard, a stale draft, downloads, held-back lines, and the batch API without personal data.

The worked portfolio of tests.scenarios.billing, billed: 8 lines, 9850.00 in all: Zilveren Kruis (3311)
6 lines 7200.00 (3600.00 + 1200.00 + 1200.00 + 1200.00), VGZ (7095) 2 lines 2650.00 (1000.00 + 1650.00).
The billing run books them now, so their batches are those of the current month.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from html import unescape

import pytest
from django.core.cache import cache

from billing import tasks
from billing.models import BatchFile, BatchLine, ClaimBatch, ClaimLine, LineStatus, WorkItem
from igo.models import Role
from pregnancies.models import AccessAction, AccessLogEntry, ClientInsurance, Episode
from pregnancies.models import Client as CareClient
from tests.scenarios.billing import BILLING_NOW, PORTFOLIO_LINES, PORTFOLIO_TOTAL, Setup, run, touch
from tests.scenarios.finance import ERROR, OK, act, euro, make_batches, reject_first_line, this_month, url
from tests.scenarios.http import api, row

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BILLING_NOW)]
D = Decimal


@pytest.fixture
def s(billed_portfolio: Setup) -> Setup:
    """Here `s` is the worked portfolio, billed (tests/billing/conftest.py)."""
    return billed_portfolio


def next_month() -> dt.date:
    return (this_month() + dt.timedelta(days=32)).replace(day=1)


def lines_of(batch: ClaimBatch) -> list[ClaimLine]:
    return list(ClaimLine.unscoped.filter(batch_line__batch=batch).order_by("pk"))


def test_waiting_lines_per_insurer_before_any_batch(s, finance):
    html = finance.get(url(s, "batch_list")).content.decode()
    assert row(html, "waiting-3311") == f"Zilveren Kruis (3311) 6 {euro(D('7200.00'))}"
    assert row(html, "waiting-7095") == f"VGZ (7095) 2 {euro(D('2650.00'))}"
    assert 'data-testid="batches-empty"' in html
    # The month picker starts at the previous month and offers no future month.
    previous = (this_month() - dt.timedelta(days=1)).replace(day=1)
    assert f'value="{previous:%Y-%m}"' in html and f'max="{this_month():%Y-%m}"' in html


def test_batch_list_shows_each_batch_with_its_totals(s, finance):
    made = make_batches(s)
    zk, vgz = made["3311"], made["7095"]
    assert (zk.line_count, zk.total, vgz.line_count, vgz.total) == (6, D("7200.00"), 2, D("2650.00"))
    assert zk.total + vgz.total == PORTFOLIO_TOTAL and zk.line_count + vgz.line_count == PORTFOLIO_LINES
    html = finance.get(url(s, "batch_list")).content.decode()
    period = f"{this_month():%m-%Y}"
    zero = euro(D("0.00"))
    assert row(html, f"batch-{zk.pk}") == (
        f"{zk.number} Zilveren Kruis (3311) {period} 6 {euro(D('7200.00'))} {zero} {euro(D('7200.00'))} "
        f"{zk.get_status_display()} –"
    )
    assert row(html, f"batch-{vgz.pk}").startswith(f"{vgz.number} VGZ (7095) {period} 2 ")
    # Nothing waits any more, and the newest batch number comes first within the month.
    assert 'data-testid="waiting-none"' in html
    assert html.index(f'data-testid="batch-{vgz.pk}"') < html.index(f'data-testid="batch-{zk.pk}"')
    # Filters: by insurer, by status, by month.
    only_vgz = finance.get(url(s, "batch_list"), {"insurer": s.vgz.pk}).content.decode()
    assert f"batch-{vgz.pk}" in only_vgz and f"batch-{zk.pk}" not in only_vgz
    released = finance.get(url(s, "batch_list"), {"status": "released"}).content.decode()
    assert 'data-testid="batches-empty"' in released
    other_month = finance.get(url(s, "batch_list"), {"month": "2020-01"}).content.decode()
    assert 'data-testid="batches-empty"' in other_month
    same_month = finance.get(url(s, "batch_list"), {"month": f"{this_month():%Y-%m}"}).content.decode()
    assert f"batch-{zk.pk}" in same_month and f"batch-{vgz.pk}" in same_month
    # A bad filter value is ignored rather than refusing the page.
    assert finance.get(url(s, "batch_list"), {"insurer": "x", "month": "nope"}).status_code == 200


def test_batch_detail_shows_header_totals_and_lines_with_masked_bsn_and_logs_access(s, finance, world_a):
    zk = make_batches(s)["3311"]
    response = finance.get(url(s, "batch_detail", pk=zk.pk))
    html = response.content.decode()
    assert row(html, "batch-lines") == "6"
    assert row(html, "batch-debit") == euro(D("7200.00"))
    assert row(html, "batch-credit") == euro(D("0.00"))
    assert row(html, "batch-total") == euro(D("7200.00"))
    assert 'data-testid="batch-stale"' not in html and 'data-testid="batch-held"' not in html
    batch_lines = list(BatchLine.unscoped.filter(batch=zk).select_related("claim_line__episode__client"))
    assert len(batch_lines) == 6
    for bl in batch_lines:
        text = unescape(row(html, f"batch-line-{bl.line_no}"))  # names may hold an apostrophe
        assert bl.number in text and bl.family_name in text and bl.prestatie_code in text
        assert f"*****{bl.bsn[-4:]}" in text and euro(bl.amount) in text
        assert bl.bsn not in html  # never the full BSN
        assert url(s, "episode_claims", pk=bl.claim_line.episode_id) in html
    # NEN 7513: every client on the page is logged once, as viewed by finance.
    clients = {bl.claim_line.episode.client_id for bl in batch_lines}
    logged = AccessLogEntry.unscoped.filter(
        user=world_a.user(Role.IGO_FINANCE), action=AccessAction.VIEW, detail=f"claim batch {zk.number}"
    )
    assert sorted(logged.values_list("client_id", flat=True)) == sorted(clients)
    # Finance sees the actions of a draft and the three downloads.
    for testid in ("batch-release", "batch-rebuild", "batch-discard", "file-kz301", "file-csv", "file-pdf"):
        assert f'data-testid="{testid}"' in html


def test_administrator_may_look_but_not_act(s, client_for, world_a):
    zk = make_batches(s)["3311"]
    admin = client_for(world_a.user(Role.IGO_ADMIN))
    html = admin.get(url(s, "batch_detail", pk=zk.pk)).content.decode()
    assert 'data-testid="batch-total"' in html and 'data-testid="batch-release"' not in html
    assert 'data-testid="make-batches"' not in admin.get(url(s, "batch_list")).content.decode()
    for name in ("batch_release", "batch_rebuild", "batch_discard"):
        assert admin.post(url(s, name, pk=zk.pk)).status_code == 403
    assert admin.post(url(s, "batch_create"), {"month": f"{this_month():%Y-%m}"}).status_code == 403
    assert ClaimBatch.unscoped.get(pk=zk.pk).status == "draft"
    midwife = client_for(world_a.user(Role.MIDWIFE))
    assert midwife.get(url(s, "batch_list")).status_code == 403
    assert midwife.get(url(s, "batch_detail", pk=zk.pk)).status_code == 403
    assert midwife.get(url(s, "statement_list")).status_code == 403


def test_navigation_and_subnavigation_lead_to_batches_and_statements(s, finance):
    html = finance.get(url(s, "claim_list")).content.decode()
    assert f'href="{url(s, "batch_list")}"' in html and f'href="{url(s, "statement_list")}"' in html
    assert 'data-nav="batches"' in html


def test_make_batches_form_enqueues_the_task_after_commit_and_it_creates_the_batches(
    s, finance, world_a, django_capture_on_commit_callbacks
):
    cache.delete(tasks.batch_progress_key(s.tenant.pk))
    month = this_month()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert act(finance, url(s, "batch_create"), {"month": f"{month:%Y-%m}"}) == (url(s, "batch_list"), OK)
    # Enqueued once the request commits, with ids only; here the worker's part runs in-process.
    assert len(callbacks) == 1
    assert callbacks[0].func == tasks.batches_create.delay
    assert callbacks[0].args == (s.tenant.pk, month.isoformat(), world_a.user(Role.IGO_FINANCE).pk)
    assert not ClaimBatch.unscoped.filter(tenant=s.tenant).exists()
    tasks.batches_create.apply(args=callbacks[0].args)
    made = ClaimBatch.unscoped.filter(tenant=s.tenant, period=month)
    assert sorted(made.values_list("insurer__uzovi_code", "line_count", "total")) == [
        ("3311", 6, D("7200.00")),
        ("7095", 2, D("2650.00")),
    ]
    assert set(made.values_list("created_by", flat=True)) == {world_a.user(Role.IGO_FINANCE).pk}
    html = finance.get(url(s, "batch_list")).content.decode()
    assert all(f"batch-{b.pk}" in html for b in made)
    assert "every 2s" not in row_html(html, "batch-progress")
    # Asking again for the same month makes nothing new (the service is idempotent).
    tasks.batches_create.apply(args=callbacks[0].args)
    assert ClaimBatch.unscoped.filter(tenant=s.tenant).count() == 2
    cache.delete(tasks.batch_progress_key(s.tenant.pk))


def test_progress_panel_polls_while_batches_are_made_and_reloads_when_done(
    s, finance, django_capture_on_commit_callbacks
):
    key = tasks.batch_progress_key(s.tenant.pk)
    month = this_month()
    cache.delete(key)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        queued = finance.post(url(s, "batch_create"), {"month": f"{month:%Y-%m}"}, HTTP_HX_REQUEST="true")
    assert len(callbacks) == 1
    html = queued.content.decode()
    assert queued.status_code == 200 and 'hx-trigger="every 2s"' in html
    assert f"period={month.isoformat()}" in html and "HX-Refresh" not in queued
    # While the worker is busy the list page polls.
    cache.set(key, {"running": True, "period": month.isoformat()}, 60)
    busy = finance.get(url(s, "batch_list")).content.decode()
    assert 'hx-trigger="every 2s"' in row_html(busy, "batch-progress")
    # Once the month asked for is done, the poll tells htmx to reload the page.
    tasks.batches_create.apply(args=callbacks[0].args)
    done = finance.get(
        url(s, "batch_list"),
        {"part": "progress", "period": month.isoformat(), "n": "3"},
        HTTP_HX_REQUEST="true",
    )
    assert done["HX-Refresh"] == "true" and "every 2s" not in done.content.decode()
    # A worker that never picks the message up: the panel stops polling after a few tries.
    cache.delete(key)
    gave_up = finance.get(
        url(s, "batch_list"),
        {"part": "progress", "period": month.isoformat(), "n": "5"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "every 2s" not in gave_up
    cache.delete(key)


def row_html(html: str, testid: str) -> str:
    """The opening tag of the element with this data-testid (its attributes)."""
    start = html.index(f'data-testid="{testid}"')
    return html[html.rindex("<", 0, start) : html.index(">", start) + 1]


def test_a_future_month_is_refused_on_the_month_field_and_nothing_is_enqueued(
    s, finance, django_capture_on_commit_callbacks
):
    future = next_month()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = finance.post(url(s, "batch_create"), {"month": f"{future:%Y-%m}"})
        garbage = finance.post(url(s, "batch_create"), {"month": "2026-13"})
        htmx = finance.post(url(s, "batch_create"), {"month": f"{future:%Y-%m}"}, HTTP_HX_REQUEST="true")
    assert callbacks == []
    assert response.status_code == 400
    form = response.context["create_form"]
    assert list(form.errors) == ["month"] and form.errors.as_data()["month"][0].code == "future"
    assert 'aria-invalid="true"' in response.content.decode()
    assert garbage.status_code == 400 and list(garbage.context["create_form"].errors) == ["month"]
    # With htmx the form itself is swapped in with its error.
    assert htmx["HX-Retarget"] == "#batch-create" and 'aria-invalid="true"' in htmx.content.decode()
    assert not ClaimBatch.unscoped.filter(tenant=s.tenant).exists()
    # The current month is allowed (its lines are ready now).
    with django_capture_on_commit_callbacks(execute=False) as ok:
        assert finance.post(url(s, "batch_create"), {"month": f"{this_month():%Y-%m}"}).status_code == 302
    assert len(ok) == 1


def test_release_marks_the_lines_sent_and_a_second_release_shows_an_error(s, finance, world_a):
    zk = make_batches(s)["3311"]
    detail = url(s, "batch_detail", pk=zk.pk)
    assert act(finance, url(s, "batch_release", pk=zk.pk)) == (detail, OK)
    zk.refresh_from_db()
    assert zk.status == "released" and zk.released_by == world_a.user(Role.IGO_FINANCE)
    assert {(ln.status, ln.sent_at is not None) for ln in lines_of(zk)} == {(LineStatus.SENT, True)}
    # The other insurer's batch is untouched.
    vgz = ClaimBatch.unscoped.get(tenant=s.tenant, insurer=s.vgz)
    assert vgz.status == "draft" and {ln.status for ln in lines_of(vgz)} == {LineStatus.READY}
    again = finance.post(url(s, "batch_release", pk=zk.pk), follow=True)
    assert again.redirect_chain == [(detail, 302)]
    assert [m.level for m in again.context["messages"]] == ERROR
    html = again.content.decode()
    assert 'data-testid="batch-release"' not in html and 'class="msg error"' in html
    # Released: discard and rebuild are refused with a message, and nothing changes.
    for name in ("batch_discard", "batch_rebuild"):
        assert act(finance, url(s, name, pk=zk.pk)) == (detail, ERROR)
    assert ClaimBatch.unscoped.get(pk=zk.pk).status == "released"
    assert BatchLine.unscoped.filter(batch=zk).count() == 6
    # Release is POST only: a GET releases nothing and goes back to the batch.
    reload = finance.get(url(s, "batch_release", pk=zk.pk))
    assert (reload.status_code, reload["Location"]) == (303, detail)


def test_discard_sends_the_lines_back_to_waiting(s, finance):
    vgz = make_batches(s)["7095"]
    lines = lines_of(vgz)
    assert act(finance, url(s, "batch_discard", pk=vgz.pk)) == (url(s, "batch_list"), OK)
    assert not ClaimBatch.unscoped.filter(pk=vgz.pk).exists()
    assert not BatchFile.unscoped.filter(batch_id=vgz.pk).exists()
    assert all(
        ln.status == LineStatus.READY and not BatchLine.unscoped.filter(claim_line=ln).exists()
        for ln in ClaimLine.unscoped.filter(pk__in=[x.pk for x in lines])
    )
    html = finance.get(url(s, "batch_list")).content.decode()
    assert row(html, "waiting-7095") == f"VGZ (7095) 2 {euro(D('2650.00'))}"
    assert finance.get(url(s, "batch_detail", pk=vgz.pk)).status_code == 404


def test_a_stale_draft_warns_refuses_release_and_rebuild_takes_the_new_line(s, finance):
    zk = make_batches(s)["3311"]
    # The insured number of one client changes after the batch was made: the run withdraws the
    # unsent line and bills the phase again (a new ready line, not in the batch).
    transferred = Episode.unscoped.filter(tenant=s.tenant, end_reason="transferred_out").get()
    ClientInsurance.unscoped.filter(client=transferred.client).update(policy_number="POL-NEW")
    touch(transferred)
    run(s)
    old = ClaimLine.unscoped.get(episode=transferred, batch_line__batch=zk)
    new = ClaimLine.unscoped.get(episode=transferred, is_current=True)
    assert (old.status, new.status, new.amount) == (LineStatus.WITHDRAWN, LineStatus.READY, D("1200.00"))
    html = finance.get(url(s, "batch_detail", pk=zk.pk)).content.decode()
    assert old.number in row(html, "batch-stale")
    assert act(finance, url(s, "batch_release", pk=zk.pk)) == (url(s, "batch_detail", pk=zk.pk), ERROR)
    assert ClaimBatch.unscoped.get(pk=zk.pk).status == "draft"
    rebuilt = act(finance, url(s, "batch_rebuild", pk=zk.pk))
    batch = ClaimBatch.unscoped.get(tenant=s.tenant, insurer=s.zk)
    assert rebuilt == (url(s, "batch_detail", pk=batch.pk), OK)
    refs = set(BatchLine.unscoped.filter(batch=batch).values_list("number", flat=True))
    assert new.number in refs and old.number not in refs
    assert (batch.line_count, batch.total) == (6, D("7200.00"))
    detail = finance.get(url(s, "batch_detail", pk=batch.pk)).content.decode()
    assert 'data-testid="batch-stale"' not in detail
    assert act(finance, url(s, "batch_release", pk=batch.pk)) == (url(s, "batch_detail", pk=batch.pk), OK)


@pytest.mark.parametrize(
    ("kind", "content_type", "suffix"),
    [
        ("kz301", "text/plain; charset=us-ascii", "txt"),
        ("csv", "text/csv; charset=utf-8", "csv"),
        ("pdf", "application/pdf", "pdf"),
    ],
)
def test_downloads_are_the_stored_bytes(s, finance, world_a, kind, content_type, suffix):
    zk = make_batches(s)["3311"]
    stored = BatchFile.unscoped.get(batch=zk, kind=kind)
    response = finance.get(url(s, "batch_file", pk=zk.pk, kind=kind))
    assert response.status_code == 200
    assert response.content == bytes(stored.content) and len(response.content) == stored.size
    assert response["Content-Type"] == content_type
    # A draft's files are named CONCEPT: they are for review, never to be sent.
    assert not zk.is_released
    filename = f"CONCEPT_KZ301_{s.tenant.agb_code}_3311_{zk.number}.{suffix}"
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    assert "no-store" in response["Cache-Control"]
    # NEN 7513: the file holds every client of the batch; the download is logged for each.
    clients = set(
        BatchLine.unscoped.filter(batch=zk).values_list("claim_line__episode__client_id", flat=True)
    )
    logged = AccessLogEntry.unscoped.filter(
        user=world_a.user(Role.IGO_FINANCE),
        action=AccessAction.EXPORT,
        detail=f"claim batch {zk.number} {kind}",
    )
    assert set(logged.values_list("client_id", flat=True)) == clients and logged.count() == len(clients)


def test_unknown_file_kind_is_404(s, finance):
    zk = make_batches(s)["3311"]
    assert finance.get(url(s, "batch_file", pk=zk.pk, kind="xml")).status_code == 404


def test_held_back_lines_show_in_the_batch_and_the_work_queue(s, finance):
    ordinary = Episode.unscoped.filter(tenant=s.tenant, end_reason="completed").order_by("pk").first()
    CareClient.unscoped.filter(pk=ordinary.client_id).update(bsn="123456789")  # fails the eleven-test
    zk = make_batches(s)["3311"]
    held_lines = ClaimLine.unscoped.filter(episode=ordinary)
    assert (zk.line_count, zk.total) == (3, D("3600.00"))
    html = finance.get(url(s, "batch_detail", pk=zk.pk)).content.decode()
    for line in held_lines:
        text = row(html, f"held-{line.pk}")
        assert line.number in text and f"#{ordinary.pk}" in text and euro(line.amount) in text
    assert url(s, "episode_claims", pk=ordinary.pk) in row_block(html, "batch-held")
    items = WorkItem.unscoped.filter(episode=ordinary, reason="presend_bsn", resolved_at__isnull=True)
    assert items.count() == 3
    queue = finance.get(url(s, "work_queue")).content.decode()
    for item in items:
        assert item.message in row(queue, f"work-item-{item.pk}")
    assert 'data-testid="rebill-' not in queue  # held lines are not billed again; they wait


def row_block(html: str, testid: str) -> str:
    """The raw HTML of the element with this data-testid (to look for links)."""
    start = html.rindex("<", 0, html.index(f'data-testid="{testid}"'))
    tag = html[start + 1 : html.index(" ", start)]
    return html[start : html.index(f"</{tag}>", start)]


def test_batch_pages_do_not_grow_queries_with_lines(s, finance, django_assert_max_num_queries):
    made = make_batches(s)
    with django_assert_max_num_queries(25):
        finance.get(url(s, "batch_list"))
    with django_assert_max_num_queries(25):
        finance.get(url(s, "batch_detail", pk=made["3311"].pk))


def test_presend_messages_do_not_carry_the_full_bsn(s):
    ordinary = Episode.unscoped.filter(tenant=s.tenant, end_reason="completed").order_by("pk").first()
    CareClient.unscoped.filter(pk=ordinary.client_id).update(bsn="123456789")
    zk = make_batches(s)["3311"]
    messages = list(WorkItem.unscoped.filter(episode=ordinary).values_list("message", flat=True))
    assert messages and not any("123456789" in m for m in messages)
    assert "123456789" not in str(ClaimBatch.unscoped.get(pk=zk.pk).held)


def test_api_lists_and_shows_batches_without_personal_data(s, world_a, world_b):
    vgz_batch = make_batches(s)["7095"]
    zk_batch = ClaimBatch.unscoped.get(tenant=s.tenant, insurer=s.zk)
    reject_first_line(s, vgz_batch, world_a.user(Role.IGO_FINANCE))
    client = api(world_a.user(Role.IGO_FINANCE))
    base = f"/api/t/{s.tenant.slug}/batches/"
    listed = client.get(base).json()
    assert [b["id"] for b in listed["results"]] == [vgz_batch.pk, zk_batch.pk]
    first = listed["results"][0]
    assert (first["insurer"]["uzovi_code"], first["line_count"], first["total"], first["status"]) == (
        "7095",
        2,
        "2650.00",
        "released",
    )
    assert (first["accepted"], first["rejected"], first["open_lines"]) == (1, 1, 0)
    assert {f["kind"] for f in first["files"]} == {"kz301", "csv", "pdf"}
    assert [b["id"] for b in client.get(base, {"insurer": "3311"}).json()["results"]] == [zk_batch.pk]
    assert [b["id"] for b in client.get(base, {"status": "draft"}).json()["results"]] == [zk_batch.pk]
    assert client.get(base, {"month": "2020-01"}).json()["results"] == []
    assert client.get(base, {"month": "2026-13"}).status_code == 400
    detail = client.get(f"{base}{vgz_batch.pk}/")
    body = detail.json()
    assert [ln["line_no"] for ln in body["lines"]] == [1, 2]
    assert body["lines"][0]["answer"] == {
        "status": "rejected",
        "reason_code": "0101",
        "reason_text": "BSN onbekend",
    }
    assert body["lines"][1]["answer"]["status"] == "accepted"
    assert sum(D(ln["amount"]) for ln in body["lines"]) == D(body["total"]) == D("2650.00")
    bsns = set(BatchLine.unscoped.filter(batch=vgz_batch).values_list("bsn", flat=True))
    assert not any(bsn in detail.content.decode() for bsn in bsns)
    # Other roles and other tenants.
    assert api(world_a.user(Role.MIDWIFE)).get(base).status_code == 403
    assert api(world_b.user(Role.IGO_FINANCE)).get(base).status_code == 404
    other = f"/api/t/{world_b.tenant.slug}/batches/"
    assert api(world_b.user(Role.IGO_FINANCE)).get(other).json()["results"] == []
    assert api(world_b.user(Role.IGO_FINANCE)).get(f"{other}{vgz_batch.pk}/").status_code == 404
