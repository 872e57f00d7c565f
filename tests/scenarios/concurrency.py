"""Helpers for tests that make two database transactions meet on PostgreSQL."""

from __future__ import annotations

import time

from django.db import connection


def wait_for_a_lock_wait(timeout: float = 15) -> bool:
    """Wait until some session of the test database waits on a lock (the second of two racing
    transactions has reached the contested row). Returns whether it happened within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.05)
    return False
