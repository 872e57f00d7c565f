"""Load test of care logging: the timeline page and the logging POST under concurrent users over HTTP.

Issue requirement: the care-logging page and POST under concurrent load from a second process on
loopback, with throughput and p50/p95/p99 at 10 and 50 concurrent users, against a bare Django view
on the same server as the framework's ceiling; logging POST p95 under 150 ms at 50 concurrent users.

The script starts gunicorn (production settings, DEBUG=0) on 127.0.0.1 and is itself the load
generator: one asyncio loop, raw HTTP/1.1 over keep-alive sockets, one cookie jar and CSRF token per
virtual user, each signed in as a professional of the tenant. It prints figures; it asserts nothing.

    .venv/bin/python bench/load.py                       # 10 and 50 users, all scenarios, both modes
    .venv/bin/python bench/load.py --users 50 --scenarios post --modes think --duration 20

See bench/README.md ("Load test") for what is measured and the latest figures.
"""

from __future__ import annotations

if not __package__:  # run as `python bench/load.py`: the project root is not on sys.path yet
    import common  # noqa: F401

import argparse
import asyncio
import contextlib
import math
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from bench.care_logging import (
    BENCH_LOCATION,
    DEFAULT_DATABASE_URL,
    TENANT_SLUG,
    post_targets,
    posted_events_delete,
)
from bench.common import (
    ROOT,
    database_checked,
    django_setup,
    ensure_database,
    machine_busy_s,
    percentile,
    proc_stat,
    service_environment,
    signed_in,
)

SCENARIOS = {
    # name: (method, expected status, what)
    "bare": ("GET", 200, "bare Django view /bench/bare/ (signed in)"),
    "bare-anon": ("GET", 200, "the same bare view without cookies (no session, no user)"),
    "bare-tenant": ("GET", 200, "the bare view under /t/<slug>/ (signed in: the tenant middleware too)"),
    "get": ("GET", 200, "GET timeline /t/<slug>/episodes/<pk>/"),
    "post": ("POST", 302, "POST log, plain form (302)"),
    "post-htmx": ("POST", 201, "POST log, htmx (201: the new row and a fresh form)"),
}
MODES = ("closed", "think")
# Disciplines whose catalogue entries include the prenatal check (pregnancies/catalogue.py, OBSTETRIC).
LOGGING_DISCIPLINES = ("midwife", "clinical_midwife", "gynaecologist")
CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
BACKEND_CLIENT = re.compile(r".*\(\d+\)$|\[local\]$")  # "127.0.0.1(56948)": a client connection


# --- command line ------------------------------------------------------------------------------


def int_list(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int_list, default=[10, 50], help="concurrent users, e.g. 10,50")
    parser.add_argument("--duration", type=float, default=25.0, help="measured seconds per run (25)")
    parser.add_argument("--warmup", type=float, default=5.0, help="warm-up seconds before each run (5)")
    parser.add_argument(
        "--think", default="1,3", help="think time of the 'think' mode: min,max seconds, uniform (1,3)"
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma-separated: {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--modes", default=",".join(MODES), help="closed (no think time), think, or both")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes (4)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker, gthread only (4)")
    parser.add_argument("--worker-class", default="gthread", choices=["gthread", "sync"], help="(gthread)")
    parser.add_argument(
        "--conn-max-age",
        type=int_list,
        default=None,
        help="DB_CONN_MAX_AGE values, one server each, e.g. 0,60 (default: $DB_CONN_MAX_AGE or 60, as the settings)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_LOAD_DATABASE_URL", DEFAULT_DATABASE_URL),
        help=f"benchmark database (default {DEFAULT_DATABASE_URL}, or $BENCH_LOAD_DATABASE_URL)",
    )
    parser.add_argument("--tenant", default=TENANT_SLUG, help=f"tenant slug ({TENANT_SLUG})")
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_LOAD_REDIS_URL", "redis://127.0.0.1:6379/13")
    )
    parser.add_argument("--port", type=int, default=8710, help="port of the server on 127.0.0.1 (8710)")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument(
        "--ratio",
        action="store_true",
        help="issue 18's run: bare and post-htmx in closed loop (and post-htmx with think time), then the "
        "throughput ratio against 0.50; --users defaults to 50 (other options still apply)",
    )
    parser.add_argument(
        "--show-queries", action="store_true", help="also print the SQL run before the view (tenant page)"
    )
    args = parser.parse_args(argv)
    if args.ratio:
        if "--scenarios" not in (argv if argv is not None else sys.argv):
            args.scenarios = "bare,post-htmx"
        if "--users" not in (argv if argv is not None else sys.argv):
            args.users = [50]
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for name in args.scenarios:
        if name not in SCENARIOS:
            parser.error(f"unknown scenario {name!r}")
    for mode in args.modes:
        if mode not in MODES:
            parser.error(f"unknown mode {mode!r}")
    low, high = (float(v) for v in args.think.split(","))
    args.think = (low, high)
    if args.conn_max_age is None:
        args.conn_max_age = [int(os.environ.get("DB_CONN_MAX_AGE", "60"))]
    return args


# --- set-up in this process (Django) -----------------------------------------------------------


@dataclass
class Fixture:
    """What the virtual users need, prepared with the ORM before the server starts."""

    tenant_id: int
    slug: str
    sessions: list[tuple[str, str]]  # (session key, who)
    episodes: list[int]
    prenatal: list[tuple[int, date]]  # (episode pk, intake date): labour not started
    pre_check: int
    today: date
    postmaster: int
    cookie_names: tuple[str, str] = ("sessionid", "csrftoken")  # session, CSRF (HTTPS=0: no __Host-)


def prepare(args: argparse.Namespace, users: int) -> Fixture:
    from bench import care_logging

    url = database_checked(
        args.database_url,
        script="bench/load.py",
        source="--database-url",
        why="every run logs care events and signs users in there",
    )
    created = ensure_database(url, fresh=False)
    django_setup(url)
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client as DjangoClient
    from django.utils import timezone

    from igo.models import Membership, Tenant
    from igo.rules import can_log_care, needs_mfa
    from igo.tenancy import tenant_scope
    from pregnancies.models import Episode, EventType
    from providers.models import Professional

    if created or not Tenant.objects.filter(slug=args.tenant).exists():
        if args.tenant != TENANT_SLUG:
            sys.exit(f"Tenant {args.tenant!r} is not in {urlsplit(url).path.lstrip('/')}.")
        print("Benchmark data missing: loading it as bench/care_logging.py does …")
        call_command("migrate", interactive=False, verbosity=0)
        care_logging.load(care_logging.parse_args([]))
    tenant = Tenant.objects.get(slug=args.tenant)
    cleanup(tenant.pk)
    with tenant_scope(tenant):
        pros = list(
            Professional.objects.select_related("user")
            .filter(discipline__in=LOGGING_DISCIPLINES, user__isnull=False, is_active=True)
            .order_by("pk")
        )
        roles: dict[int, set[str]] = {}
        for user_id, role in Membership.objects.filter(is_active=True).values_list("user_id", "role"):
            roles.setdefault(user_id, set()).add(role)
        pre_check = EventType.objects.get(code="PRE_CHECK").pk
        episodes = list(Episode.objects.order_by("pk").values_list("pk", flat=True))
        today = timezone.localdate()
        prenatal = post_targets(today)
    usable = []
    for pro in pros:
        if pro.user is None:  # excluded by the query; for the type checker
            continue
        mine = roles.get(pro.user.pk, set())
        if not can_log_care(mine):
            continue
        if needs_mfa(roles=mine, is_insurer_user=False, is_operator=pro.user.is_staff):
            second_factor_enrol(pro.user)  # every role signs in with one (issue 16), as a real user has
        usable.append((pro, pro.user))
    if not usable:
        sys.exit("No professional of the tenant may log a prenatal check.")
    sessions = []
    for i in range(users):
        pro, user = usable[i % len(usable)]
        client = DjangoClient()
        signed_in(client, user)  # a session row in the configured store, as a sign-in makes
        sessions.append(
            (client.cookies[settings.SESSION_COOKIE_NAME].value, f"{pro.full_name} ({pro.discipline})")
        )
    print(
        f"Tenant {tenant.slug}: {len(episodes):,} episodes, {len(prenatal):,} prenatal (POST targets); "
        f"{users} sessions for {min(users, len(usable))} of {len(usable)} professionals who may log"
    )
    from django.db import connections

    postmaster = postmaster_pid()
    connections.close_all()
    names = (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME)
    return Fixture(tenant.pk, tenant.slug, sessions, episodes, prenatal, pre_check, today, postmaster, names)


def second_factor_enrol(user: Any) -> None:
    """A TOTP device for a benchmark user, as the activation flow makes it: without one the middleware sends
    every request to the set-up page. `common.signed_in` notes that the session used it."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, generate_totp_secret())


def cleanup(tenant_id: int) -> int:
    """Remove the events the POSTs logged (marked by their location), so every run sees the same data."""
    from django.db import connections

    from igo.models import Tenant

    removed = posted_events_delete(Tenant.objects.get(pk=tenant_id))
    connections.close_all()
    return int(removed)


def sessions_delete(keys: list[str]) -> None:
    from django.contrib.sessions.models import Session
    from django.db import connections

    Session.objects.filter(session_key__in=keys).delete()
    connections.close_all()


# --- queries before the view ----------------------------------------------------------------------

QUERY_TARGET = 3
TRANSACTION_STATEMENT = re.compile(
    r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO)", re.I
)


def queries_before_view(fixture: Fixture, *, show: bool = False) -> str:
    """The SQL a signed-in GET of a tenant page runs around a view that runs none (`/t/<slug>/bench/bare/`,
    bench/urls.py): session, user, access checks and the session's write. Three requests with one session in
    this process (its cache: the settings' one): the first after a sign-in (the tenant not yet in the session,
    the access cache possibly cold), then two alike. Transaction statements are not counted."""
    from django.conf import settings
    from django.db import connection, connections
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext, override_settings

    client = DjangoClient()
    client.cookies[settings.SESSION_COOKIE_NAME] = fixture.sessions[0][0]
    counts = []
    with override_settings(ROOT_URLCONF="bench.urls"):
        for i in range(3):
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(f"/t/{fixture.slug}/bench/bare/")
            if response.status_code != 200:
                sys.exit(f"The tenant's bare view answered {response.status_code}.")
            sql = [q["sql"] for q in ctx.captured_queries if not TRANSACTION_STATEMENT.match(q["sql"])]
            counts.append(len(sql))
            if show:
                print(f"  request {i + 1}: {len(sql)} queries ({len(ctx.captured_queries)} statements)")
                for q in sql:
                    print(f"    {q[:200]}")
    connections.close_all()
    return f"{counts[0]} (first request), {counts[1]} / {counts[2]} (next two)"


def ratios(all_runs: list[tuple[int, list[Run]]], duration: float) -> None:
    """Closed-loop throughput of the logging POSTs against the signed-in bare view's, same server and users."""
    for conn_max_age, runs in all_runs:
        closed = {(r.scenario, r.users): r for r in runs if r.mode == "closed"}
        for (scenario, users), run in closed.items():
            bare = closed.get(("bare", users))
            if bare is None or not scenario.startswith("post") or not bare.n:
                continue
            ratio = run.n / bare.n
            print(
                f"Closed loop, {users} users, CMA {conn_max_age}: {scenario} {run.n / duration:.1f} req/s, "
                f"bare {bare.n / duration:.1f} req/s: ratio {ratio:.2f} (target ≥ 0.50: "
                f"{'met' if ratio >= 0.5 else 'not met'}; load {run.load[0]:.2f} / {bare.load[0]:.2f})"
            )


# --- the server ------------------------------------------------------------------------------


def server_start(args: argparse.Namespace, conn_max_age: int, log_dir: Path) -> subprocess.Popen[bytes]:
    env = service_environment(
        args.database_url,
        DJANGO_SETTINGS_MODULE="bench.settings",
        REDIS_URL=args.redis_url,
        DB_CONN_MAX_AGE=str(conn_max_age),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONPATH=str(ROOT),
    )
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "igo.wsgi",
        "--bind",
        f"127.0.0.1:{args.port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--access-logfile",
        str(log_dir / f"access-{conn_max_age}.log"),  # production logs every request (Dockerfile)
        "--error-logfile",
        str(log_dir / f"error-{conn_max_age}.log"),
    ]
    if args.worker_class == "gthread":
        command += ["--threads", str(args.threads)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)  # noqa: S603 - our venv's gunicorn
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                sys.exit(
                    f"gunicorn stopped (exit {process.returncode}); see {log_dir}/error-{conn_max_age}.log"
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", args.port), 1) as s:
                s.sendall(f"GET /bench/bare/ HTTP/1.0\r\nHost: 127.0.0.1:{args.port}\r\n\r\n".encode())
                if s.recv(64)[8:13] == b" 200 ":
                    return process
            time.sleep(0.3)
        process.terminate()
        sys.exit("gunicorn did not answer within 60 s")
    except BaseException:
        server_stop(process)
        raise


def server_stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # graceful: workers finish their request
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- CPU accounting --------------------------------------------------------------------------


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


@dataclass
class CpuSnapshot:
    at: float
    machine: float
    generator: float
    gunicorn: float
    redis: float
    pg_ours: dict[int, float]  # backends of the benchmark database
    pg_others: dict[int, float]  # backends of other databases (other sessions' tests)
    pg_background: float  # postmaster, checkpointer, WAL writer, autovacuum: shared by all databases
    pg_reaped: float  # CPU s of the ended children of the postmaster (closed connections)


def cpu_snapshot(server_pid: int, postmaster: int, database: str, redis_port: str) -> CpuSnapshot:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    gunicorn = redis = pg_reaped = pg_background = 0.0
    pg_ours: dict[int, float] = {}
    pg_others: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        stat = proc_stat(pid)
        if stat is None:
            continue
        ppid, cpu, reaped = stat
        if pid == server_pid:
            gunicorn += cpu + reaped  # the master, and workers it replaced
        elif ppid == server_pid:
            gunicorn += cpu
        elif pid == postmaster:
            pg_reaped = reaped
            pg_background += cpu
        elif ppid == postmaster:
            # Backends are titled "postgres: 15/main: <user> <database> <client> <state>";
            # background processes (checkpointer, walwriter, autovacuum) have no client.
            words = command_line(pid).split()
            if len(words) >= 5 and BACKEND_CLIENT.match(words[4]) is not None:
                (pg_ours if words[3] == database else pg_others)[pid] = cpu
            else:
                pg_background += cpu
        elif command_line(pid).startswith(
            ("redis-server", "/usr/bin/redis-server")
        ) and redis_port in command_line(pid):
            redis += cpu  # the cache's server only (other sessions may run their own Redis)
    return CpuSnapshot(
        time.perf_counter(),
        machine_busy_s(),
        usage.ru_utime + usage.ru_stime,
        gunicorn,
        redis,
        pg_ours,
        pg_others,
        pg_background,
        pg_reaped,
    )


def cpu_between(a: CpuSnapshot, b: CpuSnapshot, *, with_reaped: bool) -> dict[str, float]:
    """CPU seconds each party used between two snapshots.

    PostgreSQL: the growth of the benchmark database's backends, plus (with_reaped: when the server
    opens a connection per request, whose backends end within the run) what the postmaster's reaped
    children used. Its background processes (WAL writer, checkpointer, autovacuum) serve every database
    on the server, so they count among the others (under load from other sessions they can be busy). A backend that ended during the run adds its whole life to
    the reaped total, so the CPU it had at the first snapshot is taken off again (this matters for other
    sessions' long test runs ending meanwhile). Backends and parallel workers of other databases that
    lived and ended within the run cannot be told apart, so with with_reaped the figure is an upper bound.
    """
    before = {**a.pg_ours, **a.pg_others}
    ended = sum(cpu for pid, cpu in before.items() if pid not in b.pg_ours and pid not in b.pg_others)
    pg = sum(cpu - a.pg_ours.get(pid, 0.0) for pid, cpu in b.pg_ours.items())
    if with_reaped:
        pg += max(0.0, b.pg_reaped - a.pg_reaped - ended)
    used = {
        "generator": b.generator - a.generator,
        "gunicorn": b.gunicorn - a.gunicorn,
        "postgres": pg,
        "redis": b.redis - a.redis,
    }
    used["machine"] = b.machine - a.machine
    used["pg_background"] = b.pg_background - a.pg_background  # part of "others"
    used["others"] = max(0.0, used["machine"] - sum(v for k, v in used.items() if k not in OWN_EXCLUDED))
    used["wall"] = b.at - a.at
    return used


OWN_EXCLUDED = {"machine", "pg_background"}


def postmaster_pid() -> int:
    """The PostgreSQL server process: the parent of this process's backend."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    stat = proc_stat(backend)
    if stat is None:
        sys.exit("PostgreSQL must run on this machine (its CPU is read from /proc).")
    return stat[0]


# --- HTTP client -------------------------------------------------------------------------------


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection, re-opened when the server closed it (idle timeout, sync worker)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.opened = 0

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send(self, raw: bytes) -> tuple[int, dict[str, list[str]], bytes]:
        for attempt in range(2):
            fresh = False
            if self.reader is None or self.writer is None or self.reader.at_eof() or self.writer.is_closing():
                self.close()
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
                self.opened += 1
                fresh = True
            assert self.reader is not None and self.writer is not None
            try:
                self.writer.write(raw)
                await self.writer.drain()
                head = await self.reader.readuntil(b"\r\n\r\n")
            except (ConnectionError, asyncio.IncompleteReadError):
                # The server closed an idle connection as we reused it: nothing was read; send again.
                self.close()
                if fresh or attempt:
                    raise
                continue
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers: dict[str, list[str]] = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers.setdefault(name.strip().lower(), []).append(value.strip())
            if "content-length" in headers:
                body = await self.reader.readexactly(int(headers["content-length"][0]))
            elif "chunked" in headers.get("transfer-encoding", [""])[0].lower():
                parts = []
                while True:
                    size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    parts.append(await self.reader.readexactly(size + 2))
                    if size == 0:
                        break
                body = b"".join(p[:-2] for p in parts)
            else:
                body = await self.reader.read()
                self.close()
            if "close" in headers.get("connection", [""])[0].lower():
                self.close()
            return status, headers, body
        raise HttpError("unreachable")


@dataclass
class Sample:
    started: float
    ms: float
    ok: bool


@dataclass
class User:
    """A virtual user: a signed-in professional with a cookie jar, a CSRF token and a connection."""

    port: int
    session: str
    session_cookie: str = "sessionid"
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""
    conn: Connection | None = None
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cookies[self.session_cookie] = self.session
        self.conn = Connection(self.port)

    async def request(
        self,
        method: str,
        path: str,
        *,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        anonymous: bool = False,
    ) -> tuple[int, dict[str, list[str]], bytes]:
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: 127.0.0.1:{self.port}",
            "User-Agent: igo-bench-load",
            "Accept: text/html",
        ]
        if not anonymous:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        body = b""
        if data is not None:
            body = urlencode(data).encode()
            lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        assert self.conn is not None
        status, response_headers, content = await self.conn.send(
            ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        )
        for cookie in response_headers.get("set-cookie", []):
            pair, _, attributes = cookie.partition(";")
            name, _, value = pair.strip().partition("=")
            if name == "messages":
                continue  # the page a browser follows to would show and clear them
            gone = "max-age=0" in attributes.lower() or "1970" in attributes
            if gone or value in ("", '""'):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return status, response_headers, content


class Workload:
    """Builds and checks the requests of one scenario."""

    def __init__(self, fixture: Fixture, scenario: str, rng: random.Random) -> None:
        self.f = fixture
        self.scenario = scenario
        self.rng = rng
        self.base = f"/t/{fixture.slug}/episodes"

    async def __call__(self, user: User) -> bool:
        f, rng = self.f, self.rng
        if self.scenario in ("bare", "bare-anon"):
            status, _, body = await user.request(
                "GET", "/bench/bare/", anonymous=self.scenario == "bare-anon"
            )
            return self.check(user, status, 200, body)
        if self.scenario == "bare-tenant":
            status, _, body = await user.request("GET", f"/t/{f.slug}/bench/bare/")
            return self.check(user, status, 200, body)
        if self.scenario == "get":
            pk = rng.choice(f.episodes)
            status, _, body = await user.request("GET", f"{self.base}/{pk}/")
            return self.check(user, status, 200, body)
        pk, intake = rng.choice(f.prenatal)
        day = intake + timedelta(days=rng.randint(0, max(0, (f.today - intake).days - 1)))
        moment = datetime.combine(day, dtime(rng.randint(8, 17), rng.randint(0, 59)))
        data = {
            "csrfmiddlewaretoken": user.csrf,
            "event_type": str(f.pre_check),
            "occurred_at": moment.strftime("%Y-%m-%dT%H:%M"),
            "quantity": "1",
            "location": BENCH_LOCATION,
            "note": "",
            "submission_key": str(uuid.uuid4()),
            # Random checks land near earlier ones: confirmed, as a midwife who means a new one would (the
            # repeat-window check still runs, its query included).
            "confirm_duplicate": "on",
        }
        if self.scenario == "post":
            status, headers, body = await user.request("POST", f"{self.base}/{pk}/events/", data=data)
            location = headers.get("location", [""])[0]
            if status == 302 and f"/episodes/{pk}/" not in location:
                return self.check(user, 0, 302, f"redirected to {location}".encode())
            return self.check(user, status, 302, body)
        # htmx sends the token from <body hx-headers> (base.html) as well as the form's hidden field
        status, _, body = await user.request(
            "POST",
            f"{self.base}/{pk}/events/",
            data=data,
            headers={
                "HX-Request": "true",
                "HX-Current-URL": f"http://127.0.0.1{self.base}/{pk}/",
                "X-CSRFToken": user.csrf,
            },
        )
        return self.check(user, status, 201, body)

    @staticmethod
    def check(user: User, status: int, expected: int, body: bytes) -> bool:
        if status == expected:
            return True
        if len(user.errors) < 3:
            user.errors.append(f"{status}: {body[:300]!r}")
        return False


async def sign_on(users: list[User], fixture: Fixture) -> None:
    """Each user opens an episode page once: the CSRF cookie and the form's token, as a browser gets them."""

    async def one(user: User) -> None:
        status, _, body = await user.request("GET", f"/t/{fixture.slug}/episodes/{fixture.episodes[0]}/")
        match = CSRF_INPUT.search(body)
        if status != 200 or match is None or fixture.cookie_names[1] not in user.cookies:
            sys.exit(f"Signing on failed: status {status}, body {body[:300]!r}")
        user.csrf = match.group(1).decode()

    await asyncio.gather(*(one(u) for u in users))


@dataclass
class Run:
    scenario: str
    users: int
    mode: str
    samples: list[Sample]
    cpu: dict[str, float]
    connections: int
    errors: list[str]
    load: tuple[float, float]  # 1-minute load average (`uptime`) at the start and the end of the run

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def failed(self) -> int:
        return sum(1 for s in self.samples if not s.ok)

    def pct(self, p: float) -> float:
        return percentile([s.ms for s in self.samples], p) if self.samples else math.nan


async def run_load(
    users: list[User],
    work: Callable[[User], Any],
    *,
    warmup: float,
    duration: float,
    think: tuple[float, float] | None,
    rng: random.Random,
    snapshot: Callable[[], CpuSnapshot],
) -> tuple[list[Sample], CpuSnapshot, CpuSnapshot, int]:
    loop_start = time.perf_counter()
    window_start = loop_start + warmup
    window_end = window_start + duration
    samples: list[Sample] = []
    opened_before = sum(u.conn.opened for u in users if u.conn)

    async def user_loop(user: User) -> None:
        if think:  # spread the first requests, as users do not all click at the same moment
            await asyncio.sleep(rng.uniform(0, think[1]))
        while (started := time.perf_counter()) < window_end:
            try:
                ok = bool(await asyncio.wait_for(work(user), 60))
            except (TimeoutError, OSError, asyncio.IncompleteReadError, HttpError) as exc:
                ok = False
                if len(user.errors) < 3:
                    user.errors.append(f"{type(exc).__name__}: {exc}")
                assert user.conn is not None
                user.conn.close()
            finished = time.perf_counter()
            if started >= window_start:
                samples.append(Sample(started, (finished - started) * 1000, ok))
            if think:
                await asyncio.sleep(rng.uniform(*think))

    async def clock() -> tuple[CpuSnapshot, CpuSnapshot]:
        await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
        first = snapshot()
        await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
        return first, snapshot()

    clock_task = asyncio.create_task(clock())
    await asyncio.gather(*(user_loop(u) for u in users))
    first, last = await clock_task
    opened = sum(u.conn.opened for u in users if u.conn) - opened_before
    return samples, first, last, opened


# --- report ------------------------------------------------------------------------------------


HEADER = (
    "| scenario | users | mode | requests | errors | req/s | p50 ms | p95 ms | p99 ms | max ms "
    "| CPU s gen / gunicorn / pg / redis / others | server CPU ms/req | load 1 min |"
)


def row(run: Run, duration: float) -> str:
    c = run.cpu
    server = (c["gunicorn"] + c["postgres"] + c["redis"]) / run.n * 1000 if run.n else math.nan
    return (
        f"| {run.scenario} | {run.users} | {run.mode} | {run.n:,} | {run.failed} | {run.n / duration:.1f} "
        f"| {run.pct(50):.1f} | {run.pct(95):.1f} | {run.pct(99):.1f} | {max(s.ms for s in run.samples):.1f} "
        f"| {c['generator']:.1f} / {c['gunicorn']:.1f} / {c['postgres']:.1f} / {c['redis']:.1f} / "
        f"{c['others']:.1f} | {server:.1f} | {run.load[0]:.2f}–{run.load[1]:.2f} |"
    )


def git_commit() -> str:
    def git(*args: str) -> str:
        command = ["git", "-C", str(ROOT), *args]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()  # noqa: S603

    try:
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "--short", "HEAD") + (" (+ uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


async def measure(args: argparse.Namespace, fixture: Fixture, conn_max_age: int, log_dir: Path) -> list[Run]:
    database = urlsplit(args.database_url).path.lstrip("/")
    redis_port = f":{urlsplit(args.redis_url).port or 6379}"
    server = server_start(args, conn_max_age, log_dir)
    runs: list[Run] = []
    try:
        for n_users in args.users:
            users = [
                User(args.port, key, fixture.cookie_names[0]) for key, _who in fixture.sessions[:n_users]
            ]
            await sign_on(users, fixture)
            for scenario in args.scenarios:
                if scenario.startswith("post") and not fixture.prenatal:
                    print(f"  {scenario}: skipped, no episode in the prenatal phase")
                    continue
                for mode in args.modes:
                    if args.ratio and mode == "think" and scenario != "post-htmx":
                        continue  # the ratio run: only the logging POST with think time (issue 17's p95)
                    load_before = os.getloadavg()[0]
                    rng = random.Random(f"{args.seed}-{scenario}-{n_users}-{mode}")
                    samples, first, last, opened = await run_load(
                        users,
                        Workload(fixture, scenario, rng),
                        warmup=args.warmup,
                        duration=args.duration,
                        think=args.think if mode == "think" else None,
                        rng=rng,
                        snapshot=lambda: cpu_snapshot(server.pid, fixture.postmaster, database, redis_port),
                    )
                    errors = [e for u in users for e in u.errors]
                    for u in users:
                        u.errors.clear()
                    cpu = cpu_between(first, last, with_reaped=conn_max_age == 0)
                    run = Run(
                        scenario,
                        n_users,
                        mode,
                        samples,
                        cpu,
                        opened,
                        errors,
                        (load_before, os.getloadavg()[0]),
                    )
                    runs.append(run)
                    print(row(run, args.duration), flush=True)
                    if errors:
                        print(f"    ! {len(errors)} error samples, first: {errors[0]}")
                    if scenario.startswith("post"):
                        removed = await asyncio.to_thread(cleanup, fixture.tenant_id)
                        print(f"    (removed {removed} logged events; {opened} connections opened)")
            for u in users:
                assert u.conn is not None
                u.conn.close()
    finally:
        server_stop(server)
    return runs


def interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # stop the server and remove the logged events and sessions on the way out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # A background job started by a non-interactive shell ignores SIGINT; make both signals stop cleanly.
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    fixture = prepare(args, max(args.users))
    before_view = queries_before_view(fixture, show=args.show_queries)
    print(f"Queries before the view of a tenant page: {before_view}")
    cores = os.cpu_count()
    print(
        f"gunicorn {args.worker_class}, {args.workers} workers"
        + (f" × {args.threads} threads" if args.worker_class == "gthread" else "")
        + f", 127.0.0.1:{args.port}, cache {args.redis_url}; {cores} CPUs; commit {git_commit()}"
    )
    print(
        f"Each run: {args.warmup:.0f} s warm-up, {args.duration:.0f} s measured; think time "
        f"{args.think[0]:g}–{args.think[1]:g} s uniform in mode 'think'"
    )
    all_runs: list[tuple[int, list[Run]]] = []
    with tempfile.TemporaryDirectory(prefix="igo-bench-load-") as tmp:
        try:
            for conn_max_age in args.conn_max_age:
                print(f"\n=== DB_CONN_MAX_AGE={conn_max_age} " + "=" * 60)
                print(HEADER)
                print("|" + "---|" * 13)
                runs = asyncio.run(measure(args, fixture, conn_max_age, Path(tmp)))
                all_runs.append((conn_max_age, runs))
        finally:
            removed = cleanup(fixture.tenant_id)
            sessions_delete([key for key, _who in fixture.sessions])
            if removed:
                print(f"Removed {removed} logged events left over.")
    from django.utils import timezone

    print(f"\n=== Summary ({timezone.localdate().isoformat()}, commit {git_commit()}) " + "=" * 40)
    print(HEADER)
    print("|" + "---|" * 13)
    for conn_max_age, runs in all_runs:
        for run in runs:
            print(
                row(run, args.duration).replace(
                    f"| {run.scenario} |", f"| {run.scenario} (CMA {conn_max_age}) |", 1
                )
            )
    ratios(all_runs, args.duration)
    print(
        f"Before the view (signed-in GET of a tenant page, in this process): {before_view}"
        f" (target ≤ {QUERY_TARGET}, BEGIN/COMMIT/SAVEPOINT not counted)"
    )
    busy = [r for _c, runs in all_runs for r in runs if r.cpu["others"] > 0.1 * r.cpu["wall"]]
    if busy:
        print(
            f"Note: in {len(busy)} run(s) other processes used more than 0.1 core "
            f"(max {max(r.cpu['others'] / r.cpu['wall'] for r in busy):.2f} cores): the machine was busy."
        )


if __name__ == "__main__":
    main()
