"""The books check (billing.reconcile): a clean IGO reconciles, and each kind of problem planted in real
data with SQL (as a bug, a crash or a hand-made fix in the database would leave it) is found."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction

from billing import reconcile
from billing.models import Allocation, BatchFile, BatchLine, ClaimBatch, ClaimLine
from billing.services import batches
from igo.tenancy import tenant_scope
from pregnancies.models import Episode
from tests.scenarios.billing import PORTFOLIO_LINES, Setup, at, build, portfolio, run, touch
from tests.scenarios.clock import travel
from tests.scenarios.people import make_world

pytestmark = [pytest.mark.django_db, pytest.mark.dated]

NOV, DEC = dt.date(2026, 11, 1), dt.date(2026, 12, 1)


@dataclass
class Books:
    s: Setup
    episodes: list[Episode]
    november: list[ClaimBatch]  # released, with the first lines
    december: list[ClaimBatch]  # released, with the credits and rebilled lines of the ordinary episode


def sql(statement: str, params: list[object] | None = None) -> None:
    """Change rows behind the application's back; the batch triggers are off until the test's transaction
    is rolled back (the test role owns the tables; it need not be a superuser)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending foreign-key checks may wait on ALTER
        for table in ("billing_claimbatch", "billing_batchline", "billing_batchfile"):
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute(statement, params or [])


def make_batches(s: Setup, period: dt.date) -> list[ClaimBatch]:
    """The month's batches, made and released as finance would on the 1st of the next month."""
    with tenant_scope(s.tenant):
        made = [r.batch for r in batches.batches_create_month(tenant=s.tenant, period=period)]
        return [batches.batch_release(batch=b, actor=s.admin) for b in made if b is not None]


@pytest.fixture(scope="module")
def books_once(django_db_setup, django_db_blocker):
    """Made once for the module inside a transaction that is rolled back at the end; each test runs in a
    savepoint of it (pytest-django), so what a test plants is gone before the next one. The clock is set for
    each step: the lines are made in November 2026 and sent on 1 December, the corrections are made in
    December and sent on 1 January 2027."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            with travel(at(2026, 11, 20, 10)):
                s = build(make_world("Books"))
                episodes = portfolio(s)
                run(s, today=dt.date(2026, 11, 20))
            with travel(at(2026, 12, 1, 0, 30)):
                november = make_batches(s, NOV)
            # The start of labour of the ordinary episode is corrected after sending: credit + rebill of
            # the prenatal and natal lines, sent in December.
            with travel(at(2026, 12, 10, 9)):
                Episode.unscoped.filter(pk=episodes[0].pk).update(labour_started_at=at(2026, 8, 13, 22))
                touch(episodes[0])
                run(s, today=dt.date(2026, 12, 10))
            with travel(at(2027, 1, 1, 0, 30)):
                december = make_batches(s, DEC)
            yield Books(s, episodes, november, december)
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def books(books_once, db, time_machine) -> Books:
    """The tests look at the books in January 2027, after both months were sent."""
    time_machine.move_to(at(2027, 1, 6, 10))
    return books_once


def check(books: Books) -> reconcile.BooksReport:
    return reconcile.books_check(tenant=books.s.tenant)


def test_a_clean_igo_reconciles(books, world_b):
    report = check(books)
    assert report.ok, report.problems
    assert (report.episodes, report.pending_episodes) == (5, 0)
    assert (report.ended_phases, report.claimed_phases, report.waiting_phases) == (PORTFOLIO_LINES,) * 2 + (
        0,
    )
    # 8 first lines + 2 credits + 2 rebilled debits, all allocated; November: ZK and VGZ, December: ZK
    assert (report.lines, report.credits, report.allocated_lines) == (12, 2, 12)
    assert (report.batches, report.released_batches, report.batch_lines) == (3, 3, 12)
    assert reconcile.books_check().ok  # all IGOs (the other one is empty)
    month = reconcile.books_check(tenant=books.s.tenant, period=dt.date(2026, 8, 1))
    assert month.ok and month.batches == 0
    # prenatal (13 Aug after the correction) and natal of the ordinary episode end in August
    assert month.ended_phases == 2


def test_a_change_the_run_has_not_seen_yet_is_pending_not_a_problem(books):
    Episode.unscoped.filter(pk=books.episodes[3].pk).update(labour_started_at=None)
    touch(books.episodes[3])
    report = check(books)
    assert report.ok and report.pending_episodes == 1


def _line(books: Books, episode: int, phase: str) -> ClaimLine:
    return ClaimLine.unscoped.get(episode=books.episodes[episode], phase=phase, is_current=True, sign="debit")


def _credit(books: Books, phase: str = "prenatal") -> ClaimLine:
    return ClaimLine.unscoped.get(episode=books.episodes[0], phase=phase, sign="credit")


def _parts(line: ClaimLine) -> list[Allocation]:
    return list(Allocation.unscoped.filter(claim_line=line, is_current=True).order_by("pk"))


def plant_duplicate(b: Books) -> list[int]:
    line = _line(b, 2, "natal")
    sql("DROP INDEX claim_line_one_current_debit")  # undone with the test's transaction
    sql(
        "INSERT INTO billing_claimline (tenant_id, episode_id, phase, sign, number, prestatie_code, contract_id,"
        " tariff_id, explanation, percentage, insurer_id, policy_number, service_start, service_end, amount,"
        " status, is_current, created_at) SELECT tenant_id, episode_id, phase, sign, number || 'X',"
        " prestatie_code, contract_id, tariff_id, explanation, percentage, insurer_id, policy_number,"
        " service_start, service_end, amount, 'ready', true, created_at FROM billing_claimline WHERE id = %s",
        [line.pk],
    )
    return [line.pk]


def plant_unclaimed(b: Books) -> list[int]:
    line = _line(b, 3, "prenatal")  # the episode in labour: not in a released batch? it is; take it out
    sql("DELETE FROM billing_batchline WHERE claim_line_id = %s", [line.pk])
    sql("DELETE FROM billing_allocation WHERE claim_line_id = %s", [line.pk])
    sql("DELETE FROM billing_claimline WHERE id = %s", [line.pk])
    return [b.episodes[3].pk]


def plant_not_billable(b: Books) -> list[int]:
    sql("UPDATE pregnancies_episode SET labour_started_at = NULL WHERE id = %s", [b.episodes[3].pk])
    return [_line(b, 3, "prenatal").pk]


def plant_mispriced(b: Books) -> list[int]:
    line = _line(b, 2, "postnatal")
    sql("UPDATE billing_claimline SET percentage = 50 WHERE id = %s", [line.pk])
    return [line.pk]


def plant_allocation_sum(b: Books) -> list[int]:
    line = _line(b, 1, "prenatal")
    sql("UPDATE billing_allocation SET amount = amount + 0.01 WHERE id = %s", [_parts(line)[0].pk])
    return [line.pk]


def plant_allocation_sign(b: Books) -> list[int]:
    line = _line(b, 2, "natal")
    first, second = _parts(line)[:2]
    sql(
        "UPDATE billing_allocation SET amount = %s WHERE id = %s",
        [first.amount + second.amount + 1, first.pk],
    )
    sql("UPDATE billing_allocation SET amount = -1 WHERE id = %s", [second.pk])
    return [line.pk]


def plant_withdrawn_allocated(b: Books) -> list[int]:
    line = _line(b, 0, "prenatal")  # the rebilled one, ready
    sql("UPDATE billing_claimline SET status = 'withdrawn' WHERE id = %s", [line.pk])
    return [line.pk]


def plant_unallocated(b: Books) -> list[int]:
    line = _line(b, 2, "postnatal")
    sql("DELETE FROM billing_allocation WHERE claim_line_id = %s", [line.pk])
    return [line.pk]


def plant_credit_mismatch(b: Books) -> list[int]:
    credit = _credit(b)
    sql("UPDATE billing_claimline SET prestatie_code = 'IGBXXX' WHERE id = %s", [credit.pk])
    sql("UPDATE billing_batchline SET prestatie_code = 'IGBXXX' WHERE claim_line_id = %s", [credit.pk])
    return [credit.pk, credit.corrects_id]


def plant_credit_parts(b: Books) -> list[int]:
    credit = _credit(b, "natal")  # natal is split 60/40 between two members
    first, second = _parts(credit)[-2:]
    sql("UPDATE billing_allocation SET amount = %s WHERE id = %s", [first.amount - 1, first.pk])
    sql("UPDATE billing_allocation SET amount = %s WHERE id = %s", [second.amount + 1, second.pk])
    return [credit.corrects_id]


def plant_sent_not_credited(b: Books) -> list[int]:
    credit = _credit(b)
    sql("DELETE FROM billing_batchline WHERE claim_line_id = %s", [credit.pk])
    sql("DELETE FROM billing_allocation WHERE claim_line_id = %s", [credit.pk])
    sql("DELETE FROM billing_claimline WHERE id = %s", [credit.pk])
    return [credit.corrects_id]


def plant_batch_totals(b: Books) -> list[int]:
    batch = b.november[0]
    sql(
        "UPDATE billing_claimbatch SET debit_total = debit_total + 1, total = total + 1 WHERE id = %s",
        [batch.pk],
    )
    return [batch.pk]


def plant_batch_line_copy(b: Books) -> list[int]:
    row = BatchLine.unscoped.filter(batch=b.november[0]).first()
    assert row is not None
    sql("UPDATE billing_batchline SET number = 'OTHER' WHERE id = %s", [row.pk])
    return [row.pk, row.claim_line_id]


def plant_batch_files(b: Books) -> list[int]:
    batch = b.november[0]
    sql("DELETE FROM billing_batchfile WHERE batch_id = %s AND kind = 'pdf'", [batch.pk])
    return [batch.pk]


def plant_batch_file_hash(b: Books) -> list[int]:
    batch = b.november[0]
    sql(
        "UPDATE billing_batchfile SET content = content || '\\x00'::bytea, size = size + 1"
        " WHERE batch_id = %s AND kind = 'csv'",
        [batch.pk],
    )
    return [BatchFile.unscoped.get(batch=batch, kind="csv").pk]


def plant_released_not_sent(b: Books) -> list[int]:
    line = _line(b, 2, "postnatal")
    sql("UPDATE billing_claimline SET status = 'ready', sent_at = NULL WHERE id = %s", [line.pk])
    return [line.pk]


def plant_sent_without_batch(b: Books) -> list[int]:
    line = _line(b, 1, "prenatal")
    sql("DELETE FROM billing_batchline WHERE claim_line_id = %s", [line.pk])
    return [line.pk]


def plant_claimed_twice(b: Books) -> list[int]:
    """The same prestatie sent again in December without a credit in between (a second debit row)."""
    line = _line(b, 0, "postnatal")  # sent to ZK in November, untouched since
    sql("UPDATE billing_claimline SET is_current = false WHERE id = %s", [line.pk])
    sql(
        "INSERT INTO billing_claimline (tenant_id, episode_id, phase, sign, number, prestatie_code, contract_id,"
        " tariff_id, explanation, percentage, insurer_id, policy_number, service_start, service_end, amount,"
        " status, is_current, created_at, sent_at) SELECT tenant_id, episode_id, phase, sign, number || 'B',"
        " prestatie_code, contract_id, tariff_id, explanation, percentage, insurer_id, policy_number,"
        " service_start, service_end, amount, 'sent', true, created_at, sent_at"
        " FROM billing_claimline WHERE id = %s",
        [line.pk],
    )
    again = ClaimLine.unscoped.get(number=line.number + "B")
    sql(
        "INSERT INTO billing_batchline (tenant_id, batch_id, line_no, claim_line_id, number, corrects_number, sign,"
        " phase, prestatie_code, service_start, service_end, tariff, percentage, amount, episode_ref, bsn,"
        " policy_number, date_of_birth, family_name, initials) SELECT tenant_id, %s, 99, %s, number || 'B',"
        " corrects_number, sign, phase, prestatie_code, service_start, service_end, tariff, percentage, amount,"
        " episode_ref, bsn, policy_number, date_of_birth, family_name, initials FROM billing_batchline"
        " WHERE claim_line_id = %s",
        [next(x.pk for x in b.december if x.insurer_id == line.insurer_id), again.pk, line.pk],
    )
    return [b.episodes[0].pk]


def plant_credit_before_original(b: Books) -> list[int]:
    credit = _credit(b)
    sql("DELETE FROM billing_batchline WHERE claim_line_id = %s", [credit.corrects_id])
    return [credit.pk]


PLANTS: list[tuple[Callable[[Books], list[int]], str]] = [
    (plant_duplicate, "duplicate_claim"),
    (plant_unclaimed, "unclaimed_phase"),
    (plant_not_billable, "claim_not_billable"),
    (plant_mispriced, "mispriced"),
    (plant_allocation_sum, "allocation_sum"),
    (plant_allocation_sign, "allocation_sign"),
    (plant_withdrawn_allocated, "withdrawn_allocated"),
    (plant_unallocated, "unallocated"),
    (plant_credit_mismatch, "credit_mismatch"),
    (plant_credit_parts, "credit_parts"),
    (plant_sent_not_credited, "sent_not_credited"),
    (plant_batch_totals, "batch_totals"),
    (plant_batch_line_copy, "batch_line_copy"),
    (plant_batch_files, "batch_files"),
    (plant_batch_file_hash, "batch_file_hash"),
    (plant_released_not_sent, "released_not_sent"),
    (plant_sent_without_batch, "sent_without_batch"),
    (plant_claimed_twice, "claimed_twice"),
    (plant_credit_before_original, "credit_before_original"),
]


@pytest.mark.parametrize(("plant", "kind"), PLANTS, ids=[k for _p, k in PLANTS])
def test_a_planted_problem_is_found(books, plant, kind):
    if connection.vendor != "postgresql":
        pytest.skip("planting needs PostgreSQL (triggers, partial indexes)")
    ids = plant(books)
    report = check(books)
    found = [p for p in report.problems if p.kind == kind]
    assert found, report.kinds()
    assert any(set(ids) <= set(p.ids) for p in found), (ids, found)


def test_the_command_prints_the_report_and_exits_1_on_problems(books, capsys):
    if connection.vendor != "postgresql":
        pytest.skip("planting needs PostgreSQL")
    call_command("books_check", "--tenant", books.s.tenant.slug, "--language", "en")
    assert "OK: the books reconcile." in capsys.readouterr().out
    plant_allocation_sum(books)
    with pytest.raises(SystemExit) as exit_:
        call_command(
            "books_check", "--tenant", books.s.tenant.slug, "--period", "2026-06", "--language", "en"
        )
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    assert "[allocation_sum]" in out and "1 problem(s)" in out


def test_redelivery_waits_longer_than_the_longest_task():
    """With acks_late, Redis hands an unacknowledged message out again after the visibility timeout: it must
    exceed every task's time limit, or a task that is still running is started a second time."""
    from billing import tasks

    limits = [t.time_limit for t in (tasks.billing_run, tasks.batches_create, tasks.quality_settle)]
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > max(limits)
