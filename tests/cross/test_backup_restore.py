"""A tested restore: scripts/backup.sh dumps the test database with a tenant's real data (claims, their
split, a released batch with its files), scripts/restore.sh puts it into a new database, and the copy has
every row, the same amounts to the cent, and the triggers that keep a released batch unchanged.

The test commits its data (transaction=True): pg_dump reads from its own connection. The tenant's data is the
billing world of 2026, made with the clock at BILLING_NOW; the scripts run at the process clock, and nothing
they check depends on the date.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from django.db import connection

from billing.models import BatchLine
from tests.scenarios.batches import make_batch
from tests.scenarios.billing import BILLING_NOW, PORTFOLIO_LINES, PORTFOLIO_TOTAL, build, portfolio, run
from tests.scenarios.people import TenantWorld

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        shutil.which("pg_dump") is None or shutil.which("pg_restore") is None,
        reason="needs the PostgreSQL client programs (pg_dump, pg_restore, psql)",
    ),
]

# The tables this test writes itself. The quality tables are left out: the change-driven quality sweep may
# be computing in a Celery worker while the dump runs (restore.sh itself compares every table with the dump).
APPS = ("igo_", "providers_", "pregnancies_", "billing_", "auth_", "mfa_", "account_", "authtoken_")


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("backup and restore are of the PostgreSQL database")


def url_of(database: str) -> str:
    s = connection.settings_dict
    auth = quote(s["USER"] or "") + (":" + quote(s["PASSWORD"]) if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}/{database}"


def script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own scripts
        [str(ROOT / "scripts" / args[0]), *args[1:]],
        cwd=ROOT,
        env={**os.environ, "IGO_ALLOW_DEV_SECRET": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


@contextmanager
def scratch_database() -> Iterator[str]:
    """A new, empty database beside the test database, dropped afterwards whatever happens."""
    name = f"{connection.settings_dict['NAME']}_restored"[:63]
    with psycopg.connect(url_of(connection.settings_dict["NAME"]), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield url_of(name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fingerprint(cursor: Any) -> dict[str, tuple[int, str]]:
    """Rows and an MD5 over the full text of every row, per table (timestamps in UTC)."""
    cursor.execute("SET TIME ZONE 'UTC'")
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
    tables = [name for (name,) in cursor.fetchall() if name.startswith(APPS)]
    result = {}
    for table in tables:
        cursor.execute(
            f"SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM {table} t"  # noqa: S608
        )
        count, digest = cursor.fetchone()
        result[table] = (count, digest)
    return result


def money(cursor: Any) -> tuple[Any, ...]:
    cursor.execute(
        "SELECT (SELECT sum(amount) FROM billing_claimline), (SELECT sum(amount) FROM billing_allocation),"
        " (SELECT sum(amount) FROM billing_batchline), (SELECT sum(total) FROM billing_claimbatch)"
    )
    return tuple(cursor.fetchone())


@pytest.mark.clock(BILLING_NOW)
def test_a_backup_restores_into_a_new_database_with_every_row_and_the_frozen_batches(
    world_a: TenantWorld, tmp_path: Path
) -> None:
    s = build(world_a)
    portfolio(s)
    run(s)
    released = make_batch(s, s.zk)
    draft = make_batch(s, s.vgz, release=False)
    line = BatchLine.unscoped.filter(batch=released).order_by("line_no").first()
    assert line is not None
    with connection.cursor() as cursor:
        source, source_money = fingerprint(cursor), money(cursor)
    assert source["billing_claimline"][0] == PORTFOLIO_LINES and source_money[0] == PORTFOLIO_TOTAL
    assert source["billing_batchfile"][0] >= 3 and source["billing_allocation"][0] > 0

    backup = script(
        "backup.sh", str(tmp_path), env={"DATABASE_URL": url_of(connection.settings_dict["NAME"])}
    )
    assert backup.returncode == 0, backup.stderr
    dump = Path(backup.stdout.strip().splitlines()[-1])
    assert dump.parent == tmp_path and dump.suffix == ".dump"
    digest, name = (dump.parent / f"{dump.name}.sha256").read_text().split()
    assert name == dump.name and digest == hashlib.sha256(dump.read_bytes()).hexdigest()

    with scratch_database() as target:
        restore = script("restore.sh", str(dump), target)
        assert restore.returncode == 0, restore.stderr
        assert "verified" in restore.stderr and "migrations complete" in restore.stderr

        with psycopg.connect(target) as copy, copy.cursor() as cursor:
            assert fingerprint(cursor) == source
            assert money(cursor) == source_money
            # The triggers came along: the released batch, its lines and its files refuse every change.
            refusals = [
                ("UPDATE billing_claimbatch SET status = 'draft' WHERE id = %s", released.pk, "released"),
                ("DELETE FROM billing_claimbatch WHERE id = %s", released.pk, "released"),
                ("UPDATE billing_batchline SET amount = 0 WHERE id = %s", line.pk, "written once"),
                ("DELETE FROM billing_batchfile WHERE batch_id = %s", released.pk, "released"),
            ]
            for statement, pk, message in refusals:
                with pytest.raises(psycopg.errors.RaiseException, match=message):
                    cursor.execute(statement, [pk])
                copy.rollback()
            # A draft is still a draft: the triggers freeze released batches, not all of them.
            cursor.execute("DELETE FROM billing_batchfile WHERE batch_id = %s", [draft.pk])
            copy.rollback()
            cursor.execute("SELECT count(*) FROM billing_claimbatch WHERE status = 'released'")
            assert cursor.fetchone() == (1,)

        # Never over data: a second restore into the same (now full) database is refused and changes nothing.
        again = script("restore.sh", str(dump), target)
        assert again.returncode == 1 and "not empty" in again.stderr
        with psycopg.connect(target) as copy, copy.cursor() as cursor:
            assert fingerprint(cursor) == source


def test_restore_refuses_a_dump_that_does_not_match_its_checksum(tmp_path: Path) -> None:
    dump = tmp_path / "igo-x-20260101T000000Z.dump"
    dump.write_bytes(b"PGDMP not really")
    (tmp_path / f"{dump.name}.sha256").write_text(f"{hashlib.sha256(b'other').hexdigest()}  {dump.name}\n")
    result = script("restore.sh", str(dump), url_of(connection.settings_dict["NAME"]))
    assert result.returncode == 1 and "does not match its checksum" in result.stderr
    (tmp_path / f"{dump.name}.sha256").unlink()
    result = script("restore.sh", str(dump), url_of(connection.settings_dict["NAME"]))
    assert result.returncode == 1 and ".sha256 is missing" in result.stderr
