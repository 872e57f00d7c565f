"""Real processes for the fault-injection tests: a private Redis server, Celery workers on the test database,
a second PostgreSQL session that holds locks (so a worker stops at a known point inside a transaction),
and pg_stat_activity to see where a worker's backend is.

Nothing here is a mock: the workers are `celery -A igo worker` processes with their own connections, and
faults are delivered as an operator or the kernel would (SIGKILL, `SHUTDOWN NOSAVE`, pg_terminate_backend).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import redis
from celery import Celery
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("SERVICES_STATE_DIR") or Path(tempfile.gettempdir()) / "igo-services") / "faults"
PORTS = range(6391, 6400)


def wait_until(what: str, predicate: Callable[[], Any], timeout: float = 60, step: float = 0.05) -> Any:
    """Poll until `predicate()` is truthy and return its value; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting until {what}")
        time.sleep(step)


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS}")


class PrivateRedis:
    """A redis-server of the tests' own: restarting it cannot disturb the shared one (or the suite's worker)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.dir = STATE / f"redis-{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.appendonly = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self, *, appendonly: bool = False, fresh: bool = False) -> None:
        if fresh:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.appendonly = appendonly
        # No RDB snapshots; with appendonly every write is fsynced before the reply (nothing acknowledged lost).
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", ""]
        args += ["--appendonly", "yes" if appendonly else "no", "--appendfsync", "always"]
        log = (self.dir / "redis.log").open("ab")
        self.proc = subprocess.Popen(["redis-server", *args], stdout=log, stderr=subprocess.STDOUT)  # noqa: S603, S607

        def pong() -> bool:
            try:
                return bool(self.client().ping())
            except redis.ConnectionError:
                return False

        wait_until("the private Redis answers", pong, timeout=20)

    def shutdown_nosave(self) -> None:
        """What a crash or a restart without persistence does: whatever is not in the AOF is gone."""
        with contextlib.suppress(redis.ConnectionError):  # the server closes the connection as it goes
            self.client().shutdown(nosave=True)
        if self.proc is not None:
            self.proc.wait(timeout=20)
            self.proc = None

    def restart(self) -> None:
        self.shutdown_nosave()
        self.start(appendonly=self.appendonly)

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            self.shutdown_nosave()
        except (subprocess.TimeoutExpired, redis.RedisError):
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def queued(self, queue: str = "celery") -> int:
        return int(self.client().llen(queue))

    def unacked(self) -> int:
        """Messages delivered to a worker and not yet acknowledged (kombu's Redis transport keeps them)."""
        return int(self.client().hlen("unacked"))


def database_url() -> str:
    """The test database pytest-django made, as the test's own role (a test may end the worker's backend,
    which PostgreSQL allows for the same role)."""
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Worker:
    """One `celery -A igo worker` (prefork) with its own process group, broker, cache and application name."""

    def __init__(
        self, name: str, broker: PrivateRedis, *, concurrency: int = 1, env: dict[str, str] | None = None
    ):
        self.name = name
        self.broker = broker
        self.concurrency = concurrency
        self.extra_env = env or {}
        self.log_path = STATE / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> Worker:
        STATE.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "igo.settings",
            "DATABASE_URL": database_url(),
            # Broker, results and cache on the private Redis: the shared worker never sees these tasks, and
            # the test reads the progress keys there.
            "REDIS_URL": self.broker.url,
            "CELERY_BROKER_URL": self.broker.url,
            "CELERY_RESULT_BACKEND": self.broker.url,
            "DB_APPLICATION_NAME": self.name,
            "IGO_BILLING_BATCH_SIZE": "20",
            "IGO_ALLOW_DEV_SECRET": "1",
            **self.extra_env,
        }
        env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        cmd = [
            str(ROOT / ".venv/bin/celery"), "-A", "igo", "worker", "-l", "info", "-P", "prefork",
            "--concurrency", str(self.concurrency), "--hostname", f"{self.name}@%h", "-Q", "celery",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        self.log_path.write_bytes(b"")
        log = self.log_path.open("ab")
        # Its own process group, so that "the whole worker" can be killed at once and stragglers found.
        self.proc = subprocess.Popen(  # noqa: S603 - our own command line
            cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_until(f"worker {self.name} is ready", lambda: " ready." in self.log() or self._died(), timeout)
        if self._died():
            raise AssertionError(f"worker {self.name} died at start:\n{self.log()[-3000:]}")
        return self

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def children(self) -> list[int]:
        out = subprocess.run(  # noqa: S603
            ["ps", "-o", "pid=", "--ppid", str(self.pid)],  # noqa: S607
            capture_output=True,
            text=True,
        )
        return [int(p) for p in out.stdout.split()]

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.log()))

    def wait_for(self, pattern: str, n: int = 1, timeout: float = 90) -> None:
        try:
            wait_until(
                f"{n}× /{pattern}/ in {self.name}'s log", lambda: self.count(pattern) >= n, timeout, 0.1
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- {self.name} log ---\n{self.log()[-4000:]}") from None

    def kill_children(self) -> list[int]:
        """SIGKILL the pool processes (as the OOM killer would); the main process stays."""
        kids = self.children()
        for pid in kids:
            os.kill(pid, signal.SIGKILL)
        return kids

    def kill(self) -> None:
        """SIGKILL the main process and its pool at once (a lost host, `docker kill`)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=20)

    def stop(self) -> None:
        """After the test: SIGKILL the whole process group (a test worker has nothing worth a warm shutdown,
        and the database is emptied next)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=20)


def client_app(broker: PrivateRedis) -> Celery:
    """The test's own Celery client on the private broker (the test process's settings point elsewhere)."""
    app = Celery("faults-client", broker=broker.url, backend=broker.url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
    )
    return app


# --- PostgreSQL: a second session that holds locks, and what a worker's backend is doing ---------------


class LockHolder:
    """A session of its own on the test database. A worker that needs what it holds waits, inside its
    transaction, until `release()`: the test knows exactly where the worker is when it strikes."""

    def __init__(self) -> None:
        s = connection.settings_dict
        self.conn = psycopg.connect(
            dbname=s["NAME"],
            user=s["USER"],
            password=s.get("PASSWORD") or None,
            host=s["HOST"] or "127.0.0.1",
            port=s["PORT"] or 5432,
            application_name="faults-lock-holder",
        )

    def lock_row(self, table: str, pk: int) -> None:
        self.conn.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE", [pk])  # noqa: S608

    def lock_table(self, table: str, mode: str = "SHARE") -> None:
        self.conn.execute(f"LOCK TABLE {table} IN {mode} MODE")

    def release(self) -> None:
        self.conn.rollback()

    def close(self) -> None:
        self.conn.rollback()
        self.conn.close()


def backends(application_name: str) -> list[dict[str, Any]]:
    """The worker's sessions as pg_stat_activity shows them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state, wait_event_type, wait_event, xact_start IS NOT NULL, left(query, 80) "
            "FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
            [application_name],
        )
        keys = ("pid", "state", "wait_event_type", "wait_event", "in_transaction", "query")
        return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]


def waiting_backends(application_name: str, n: int = 1, timeout: float = 60) -> list[dict[str, Any]]:
    """Wait until `n` of the worker's sessions wait on a lock inside a transaction; return them."""

    def waiting() -> list[dict[str, Any]]:
        rows = [
            b for b in backends(application_name) if b["wait_event_type"] == "Lock" and b["in_transaction"]
        ]
        return rows if len(rows) >= n else []

    return wait_until(f"{n} backend(s) of {application_name} wait on a lock", waiting, timeout)
