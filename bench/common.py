"""What the benchmark scripts share: the project on sys.path, their own PostgreSQL database with Django on
it, a benchmark IGO, the processes they fork or start, and the figures they print.

Run as `python bench/<script>.py`, a script has bench/ as sys.path[0], where the project's apps cannot be
found. So a script imports this module first as plain `common` (see the top of each script), only for the
lines below that put the project root on sys.path; from then on everything imports `bench.common`.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import math
import multiprocessing as mp
import os
import platform
import queue
import random
import re
import resource
import subprocess
import sys
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# --- command line and database ---------------------------------------------------------------

POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql", "postgis"}
# The claim-batch tables, in an order TRUNCATE accepts (referencing tables first).
BATCH_TABLES = [
    "billing_returnline",
    "billing_batchreturn",
    "billing_batchfile",
    "billing_batchline",
    "billing_claimbatch",
]


def argument_parser(doc: str) -> argparse.ArgumentParser:
    """A script's command line: the first paragraph of its docstring, and --fresh."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the benchmark database")
    return parser


def database_url(variable: str, default: str, *, script: str, why: str) -> str:
    """The benchmark's database: $variable, else the default; checked as database_checked does."""
    url = os.environ.get(variable) or default
    return database_checked(
        url, script=script, source=variable, why=why, hint=f"Unset {variable} to use {default}."
    )


def database_checked(url: str, *, script: str, source: str, why: str, hint: str = "") -> str:
    """The benchmark's database URL (`source` says where it came from), refused unless it is PostgreSQL and
    names a database whose name contains 'bench'; `why` says what the script does to that database."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0].lower()
    if scheme not in POSTGRES_SCHEMES:
        sys.exit(
            f"{script} measures PostgreSQL only; {source} uses '{scheme or url}'.\n"
            f"SQLite figures say nothing about production. {hint}".rstrip()
        )
    name = parts.path.lstrip("/")
    if "bench" not in name:
        sys.exit(
            f"Refusing to use database '{name}': {why}, so its name must contain 'bench' (it never touches "
            "development or test data)."
        )
    return url


def ensure_database(url: str, *, fresh: bool) -> bool:
    """Create the benchmark database if missing (drop it first with fresh); True when it was created."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if fresh:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def signed_in(client: Any, user: Any) -> Any:
    """Sign a Django test client in as `user` the way the sign-in page does: `force_login`, plus the password
    and second-factor steps allauth notes in the session. A session with only `force_login` passed no factor,
    and the platform signs it out for a user who has one (igo.mfa_session)."""
    from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY
    from allauth.account.internal.flows.login import _AUTHENTICATION_METHODS_USER_SESSION_KEY
    from allauth.account.internal.userkit import user_id_to_str

    client.force_login(user)
    session = client.session
    now = time.time()
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [
        {"method": "password", "at": now, "email": user.email},
        {"method": "mfa", "at": now, "type": "totp"},
    ]
    session[_AUTHENTICATION_METHODS_USER_SESSION_KEY] = user_id_to_str(user)
    session.save()
    return client


def django_setup(url: str) -> None:
    """Django with the production settings (DEBUG off) on the benchmark database."""
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "igo.settings"
    os.environ["IGO_ALLOW_DEV_SECRET"] = "1"  # noqa: S105 - a flag, not a secret
    os.environ["DEBUG"] = "0"
    os.environ["HTTPS"] = "0"
    os.environ["ALLOWED_HOSTS"] = "testserver,localhost"
    # {% static %} without a collectstatic manifest; production resolves it from a dict, same cost.
    os.environ["IGO_PLAIN_STATIC"] = "1"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import warnings

    import django

    # WhiteNoise warns that STATIC_ROOT does not exist (no collectstatic); irrelevant here.
    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":  # settings could still have fallen back
        sys.exit(f"The database engine is {connection.vendor}; the benchmark needs PostgreSQL.")


def database_prepare(url: str, *, fresh: bool) -> None:
    """The benchmark database created when missing (with fresh: dropped first), Django set up on it, and
    migrated; says which and how long the migration took."""
    created = ensure_database(url, fresh=fresh)
    django_setup(url)
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    print(
        f"Database {urlsplit(url).path.lstrip('/')}: {'created' if created else 'reused'}, "
        f"migrated in {time.perf_counter() - started:.1f} s"
    )


@contextlib.contextmanager
def cursor() -> Iterator[Any]:
    from django.db import connection

    with connection.cursor() as cur:
        yield cur


def scalar(sql: str, params: Any = None) -> Any:
    with cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def rows(sql: str, params: Any = None) -> list[Any]:
    with cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def query_times(cur: Any, sql: str, params: Any, repeat: int) -> tuple[list[float], list[Any]]:
    """A lower bound's query run repeat + 1 times with its rows fetched into Python: the seconds of every
    run but the first (a warm-up), and the rows."""
    times: list[float] = []
    fetched: list[Any] = []
    for i in range(repeat + 1):
        started = time.perf_counter()
        cur.execute(sql, params)
        fetched = cur.fetchall()
        if i:
            times.append(time.perf_counter() - started)
    return times, fetched


def vacuum_analyze() -> None:
    """What autovacuum would do soon after a bulk load; then the loaded pages are written out now, not
    during the measurements (CHECKPOINT needs a superuser, and is skipped without one)."""
    from django.db import DatabaseError, connection

    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
        with contextlib.suppress(DatabaseError):
            cur.execute("CHECKPOINT")


# --- processes, memory and CPU ---------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, own CPU s, CPU s of reaped children) of any process on this machine, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (
        int(fields[1]),
        (int(fields[11]) + int(fields[12])) / CLK_TCK,
        (int(fields[13]) + int(fields[14])) / CLK_TCK,
    )


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of any process on this machine, e.g. a PostgreSQL backend."""
    stat = proc_stat(pid)
    return stat[1] if stat is not None else 0.0


def machine_busy_s() -> float:
    """CPU seconds all processes of the machine spent since boot (everything but idle and iowait)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLK_TCK


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def status_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the peak) of a process, in kilobytes; empty when it is gone."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return out


def rss_kb() -> int:
    return status_kb(os.getpid()).get("VmRSS", 0)


def maxrss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux


def in_child(target: Callable[..., Any], *args: Any) -> Any:
    """Run target(*args) in a forked process (own connection, own peak memory); return its result."""
    from django.db import connections

    connections.close_all()  # before the fork: a child closing an inherited connection would end ours
    ctx = mp.get_context("fork")
    results = ctx.Queue()
    proc = ctx.Process(target=_child_main, args=(target, args, results))
    proc.start()
    while True:
        try:
            kind, value = results.get(timeout=5)
            break
        except queue.Empty:
            if not proc.is_alive():
                sys.exit(f"child process ended with exit code {proc.exitcode} and no result")
    proc.join()
    if kind == "error":
        sys.exit(f"child process failed:\n{value}")
    return value


def _child_main(target: Callable[..., Any], args: tuple[Any, ...], results: Any) -> None:
    from django.db import connections

    connections.close_all()  # forget the parent's connection objects; the first query opens a new one
    try:
        results.put(("ok", target(*args)))
    except BaseException:
        results.put(("error", traceback.format_exc()))
    finally:
        connections.close_all()


@dataclass
class QueryStats:
    """An execute_wrapper: counts the queries and the time spent in cursor.execute (server + transfer)."""

    n: int = 0
    seconds: float = 0.0
    by_kind: dict[str, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0, 0.0]))
    detail: bool = False

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent = time.perf_counter() - started
            self.n += 1
            self.seconds += spent
            if self.detail:
                kind = self.by_kind[query_kind(sql)]
                kind[0] += 1
                kind[1] += spent


def query_kind(sql: str) -> str:
    verb = sql.lstrip().split(None, 1)[0].upper()
    table = re.search(r'(?:FROM|INTO|UPDATE)\s+"(\w+)"', sql)
    return f"{verb} {table.group(1) if table else '?'}"


# --- servers and workers the scripts start -----------------------------------------------------


def service_environment(url: str, **settings: str) -> dict[str, str]:
    """The environment of a gunicorn or Celery worker a script starts: the production settings (DEBUG off)
    on the benchmark database, quiet logs; `settings` adds to it or overrides it."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "igo.settings",
        "DEBUG": "0",
        "HTTPS": "0",  # plain HTTP on loopback: no redirect to https, cookies without Secure
        "IGO_PLAIN_STATIC": "1",  # {% static %} without a collectstatic manifest
        "IGO_ALLOW_DEV_SECRET": "1",  # the same key as this process, which may have made sessions
        "LOG_LEVEL": "WARNING",
        "PYTHONWARNINGS": "ignore:No directory at",  # WhiteNoise: no collectstatic, irrelevant here
        **settings,
    }


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    """gunicorn (sync workers) on 127.0.0.1:port, once it answers /healthz."""
    env = service_environment(
        url, ALLOWED_HOSTS="127.0.0.1,localhost", API_INSURER_RATE="100000/min", API_USER_RATE="100000/min"
    )
    env.pop("REDIS_URL", None)  # throttling and cache in the worker process: no shared Redis needed
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "igo.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        "--worker-class=sync",
        "--timeout=120",
        "--log-level=warning",
    ]
    proc = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 - our own venv's gunicorn
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"gunicorn exited with code {proc.returncode}")
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        time.sleep(0.2)
    proc.terminate()
    sys.exit("gunicorn did not answer /healthz within 60 s")


def fetch(port: int, path: str, headers: dict[str, str]) -> tuple[float, float, int, bytes, dict[str, str]]:
    """One GET on a new connection: (time to first byte, total time, status, body, headers). The first
    byte is the status line: http.client reads it and the headers before getresponse() returns."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", path, headers={"Host": "127.0.0.1", **headers})
    response = conn.getresponse()
    first = time.perf_counter() - started
    body = response.read()
    total = time.perf_counter() - started
    conn.close()
    return first, total, response.status, body, dict(response.getheaders())


# --- figures ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def environment(url: str) -> dict[str, str]:
    """The machine, the PostgreSQL server and the database's size, as every report ends."""
    from django import get_version
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        version = cur.fetchone()[0]
        cur.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        size = cur.fetchone()[0]
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parts = urlsplit(url)
    return {
        "PostgreSQL": f"{version} ({parts.hostname}:{parts.port or 5432}/{parts.path.lstrip('/')}, {size})",
        "CPUs": f"{os.cpu_count()} (usable by this process: {affinity})",
        "Python / Django": f"{platform.python_version()} / {get_version()}",
    }


def month_last(first: date) -> date:
    """The last day of the month that begins on `first`."""
    return (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


# --- a benchmark IGO -----------------------------------------------------------------------------

GIVEN = [
    "Sanne", "Lotte", "Emma", "Fatima", "Julia", "Anna", "Sophie", "Lisa", "Eva", "Noor", "Sara", "Fleur",
    "Iris", "Yasmina", "Mila", "Zoë", "Lieke", "Anouk", "Femke", "Naima", "Esra", "Maud", "Roos", "Ilse",
]  # fmt: skip
FAMILY = [
    "de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser", "Smit",
    "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker",
    "Brouwer", "de Wit", "Dijkstra", "Smits", "de Graaf", "El Amrani", "Yilmaz", "Kaya", "Vermeulen",
]  # fmt: skip
INSURERS = [("3311", "Zilveren Kruis"), ("7095", "VGZ"), ("3332", "Menzis"), ("9664", "CZ")]
# name, kind, AGB code (8 digits)
ORGANISATIONS = [
    ("Verloskundigenpraktijk De Maas", "midwifery_practice", "02990101"),
    ("Verloskundigen Noord", "midwifery_practice", "02990102"),
    ("Verloskundigenpraktijk Het Nest", "midwifery_practice", "02990103"),
    ("Maasziekenhuis, verloskunde", "hospital", "06990104"),
    ("Maatschap Gynaecologie Rijnmond", "gynaecologists", "03990105"),
    ("Kraamzorg Rijnmond", "kraamzorg", "01990106"),
]
# Which of the six ORGANISATIONS an IGO with 3, 4, 5 or 6 members has.
ORG_LAYOUT = {3: [0, 3, 5], 4: [0, 1, 3, 5], 5: [0, 1, 3, 4, 5], 6: [0, 1, 2, 3, 4, 5]}
# discipline, membership role, how many, per organisation kind
STAFF_BY_KIND = {
    "midwifery_practice": [("midwife", "midwife", 5)],
    "hospital": [("clinical_midwife", "midwife", 3), ("gynaecologist", "gynaecologist", 3)],
    "gynaecologists": [("gynaecologist", "gynaecologist", 4)],
    "kraamzorg": [("maternity_carer", "maternity_carer", 14)],
}
# Internal rates (euro per unit) of the split rule, per event-type code.
RATES = {
    "INTAKE": "90", "PRE_CHECK": "50", "ECHO_TERM": "70", "ECHO_NT": "80", "ECHO_SEO": "120",
    "ECHO_GROWTH": "70", "REFERRAL": "100", "KZ_INTAKE": "40", "DELIV_HOME": "350", "DELIV_CENTRE": "350",
    "DELIV_POLI": "350", "DELIV_CLIN": "400", "PARTUS_ASSIST": "35", "HOSP_DAY": "250", "POST_VISIT": "60",
    "KZ_HOURS": "35", "CHECK_6W": "80",
}  # fmt: skip
# Relative sizes of the IGOs (shuffled with the seed): the largest has ~10x the episodes of the smallest.
TENANT_WEIGHTS = [1.9, 1.6, 1.4, 1.2, 1.0, 0.9, 0.8, 0.6, 0.4, 0.2]
BULK_BATCH = 2000  # bulk_create batch size
# Market shares of the four INSURERS (Zilveren Kruis, VGZ, Menzis, CZ) among the clients.
INSURER_WEIGHTS = [30, 25, 20, 25]


class BulkInsert:
    """bulk_create of a loader, past the tenant scope (a loader writes the rows of every benchmark IGO),
    counting the rows and the seconds per model."""

    def __init__(self, batch_size: int | None = BULK_BATCH) -> None:
        self.batch_size = batch_size
        self.rows: Counter[str] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)

    def __call__(self, model: Any, rows: list[Any]) -> list[Any]:
        manager = model.unscoped if hasattr(model, "unscoped") else model.objects
        began = time.perf_counter()
        created = manager.bulk_create(rows, batch_size=self.batch_size)
        self.seconds[model.__name__] += time.perf_counter() - began
        self.rows[model.__name__] += len(created)
        return created


def shares_draw(rng: random.Random, shares: list[tuple[str, float]], rest: str) -> str:
    """One name drawn by its share of the whole (one rng.random()); `rest` for what the shares leave."""
    draw = rng.random()
    for name, share in shares:
        if draw < share:
            return name
        draw -= share
    return rest


def tenant_sizes(total: int, n: int, rng: random.Random) -> list[int]:
    """`total` episodes over n IGOs of TENANT_WEIGHTS' relative sizes."""
    weights = [TENANT_WEIGHTS[i % len(TENANT_WEIGHTS)] for i in range(n)]
    rng.shuffle(weights)
    sizes = [int(total * w / sum(weights)) for w in weights]
    for i in range(total - sum(sizes)):
        sizes[i % n] += 1
    return sizes


def insurers_get() -> list[Any]:
    """The four INSURERS, made when missing."""
    from igo.models import Insurer

    return [
        Insurer.objects.get_or_create(uzovi_code=code, defaults={"name": name})[0] for code, name in INSURERS
    ]


@dataclass
class Members:
    """The member organisations of a benchmark IGO and its people."""

    organisations: list[Any]
    finance: Any  # the finance user, who owns the contracts and split rules
    professionals: list[Any]  # in the order of the organisations

    def _kind(self, kind: str) -> list[Any]:
        return [o for o in self.organisations if o.kind == kind]

    @property
    def practices(self) -> list[Any]:
        return self._kind("midwifery_practice")

    @property
    def hospital(self) -> Any:
        return self._kind("hospital")[0]

    @property
    def kraamzorg(self) -> Any:
        return self._kind("kraamzorg")[0]

    @property
    def partnership(self) -> Any | None:
        """The gynaecologists' partnership, when the IGO has one."""
        return next(iter(self._kind("gynaecologists")), None)

    def staff(self) -> dict[tuple[int, str], list[Any]]:
        """The professionals by (organisation id, discipline)."""
        out: dict[tuple[int, str], list[Any]] = defaultdict(list)
        for prof in self.professionals:
            out[(prof.organisation_id, prof.discipline)].append(prof)
        return out

    def gynaecologists(self) -> list[Any]:
        return [p for p in self.professionals if p.discipline == "gynaecologist"]


def members_create(
    bulk: Callable[[Any, list[Any]], list[Any]],
    rng: random.Random,
    tenant: Any,
    layout: list[int],
    *,
    name_suffix: str,
    agb_infix: str,
    member_from: date,
    units: int = 1,
    email: str,
    agb: str,
    big: str,
    finance_email: str,
) -> Members:
    """The member organisations ORGANISATIONS[i] for i in `layout`, each named with `name_suffix` and with
    `agb_infix` in the middle of its AGB code; STAFF_BY_KIND's people (times `units`) with random names,
    each with a user account, a membership in their role and a Professional of their organisation; and a
    finance user who owns the set-up. `email`, `agb` and `big` are `str.format` patterns over the person's
    number `i` (`email` also `d`, the discipline; `agb` also `org`, the first two digits of the
    organisation's AGB code) that tell the IGOs of one database apart."""
    from django.contrib.auth.hashers import make_password

    from igo.models import Membership, Role, User
    from providers.models import MemberOrganisation, Professional

    organisations = bulk(
        MemberOrganisation,
        [
            MemberOrganisation(
                tenant=tenant,
                name=f"{name}{name_suffix}",
                kind=kind,
                agb_code=f"{code[:2]}{agb_infix}{code[-2:]}",
                member_from=member_from,
            )
            for name, kind, code in (ORGANISATIONS[i] for i in layout)
        ],
    )
    people = [
        (discipline, role, org, f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}")
        for org in organisations
        for discipline, role, how_many in STAFF_BY_KIND[org.kind]
        for _ in range(how_many * units)
    ]
    unusable = make_password(None)
    users = bulk(
        User,
        [User(email=finance_email, password=unusable)]
        + [
            User(email=email.format(d=d.replace("_", "-"), i=i), full_name=name, password=unusable)
            for i, (d, _r, _o, name) in enumerate(people)
        ],
    )
    finance, users = users[0], users[1:]
    bulk(
        Membership,
        [Membership(tenant=tenant, user=finance, role=Role.IGO_FINANCE)]
        + [Membership(tenant=tenant, user=u, role=p[1]) for u, p in zip(users, people, strict=True)],
    )
    professionals = bulk(
        Professional,
        [
            Professional(
                tenant=tenant,
                full_name=name,
                discipline=discipline,
                agb_code=agb.format(org=org.agb_code[:2], i=i),
                big_number=big.format(i=i) if discipline != "maternity_carer" else "",
                organisation=org,
                user=user,
            )
            for i, ((discipline, _r, org, name), user) in enumerate(zip(people, users, strict=True))
        ],
    )
    return Members(organisations, finance, professionals)


def team_draw(
    rng: random.Random,
    staff: dict[tuple[int, str], list[Any]],
    *,
    practices: list[int],
    hospital: int,
    kraamzorg: int,
    gynaecologists: list[Any],
) -> dict[str, Any]:
    """The team of one client (ids of organisations, staff by organisation id and discipline): two midwives
    of one practice, the hospital's clinical midwives, a gynaecologist and two maternity carers."""
    practice = rng.choice(practices)
    return {
        "midwife": rng.sample(staff[(practice, "midwife")], 2),
        "clinical_midwife": staff[(hospital, "clinical_midwife")],
        "gynaecologist": rng.choice(gynaecologists),
        "maternity_carer": rng.sample(staff[(kraamzorg, "maternity_carer")], 2),
    }


# Gestational weeks below which a miscarriage bills half the prenatal tariff; every other early ending in
# the bench's stories interrupts the prenatal phase and is billed in full (what the roll-up did before the
# rules were per interrupted phase: a stated rule for each, so no episode waits for finance's decision).
MISCARRIAGE_HALF_BEFORE_WEEK = 16
PRENATAL_IN_FULL = ("termination", "moved_away", "transferred_out", "death")


def partial_rules(more: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """The bench's rules for an early ending; `more` replaces the rules of the end reasons it names."""
    more = list(more)
    named = {r["end_reason"] for r in more}
    week = MISCARRIAGE_HALF_BEFORE_WEEK
    rules = [
        {"end_reason": "miscarriage", "phase": "prenatal", "until_week": week, "percentage": 50},
        {"end_reason": "miscarriage", "phase": "prenatal", "from_week": week, "percentage": 100},
    ]
    rules += [
        {"end_reason": r, "phase": "prenatal", "percentage": 100} for r in PRENATAL_IN_FULL if r not in named
    ]
    return [*rules, *more]


def contract_create(
    *,
    tenant: Any,
    actor: Any,
    insurer: Any,
    valid_from: date,
    tariffs: tuple[Decimal, Decimal, Decimal],
    more_partial_rules: Iterable[dict[str, Any]] = (),
) -> None:
    """A contract on the integral tariff: a price per phase (prenatal, natal, postnatal) and half the prenatal
    tariff for a miscarriage before 16 weeks (`partial_rules`). The IGO's overhead and reserve are in its
    split rules (`split_rules_create`)."""
    from billing import services

    prenatal, natal, postnatal = tariffs
    services.contract_create(
        tenant=tenant,
        actor=actor,
        insurer=insurer,
        name=f"{insurer.name} integrale geboortezorg",
        valid_from=valid_from,
        tariffs={
            "prenatal": ("IGBPRE", prenatal),
            "natal": ("IGBNAT", natal),
            "postnatal": ("IGBPOS", postnatal),
        },
        partial_rules=partial_rules(more_partial_rules),
    )


def split_rules_create(
    *,
    tenant: Any,
    members: Members,
    years: Iterable[int],
    types: dict[str, Any],
    overhead: Decimal,
    reserve: Decimal,
) -> None:
    """The split rule of each year: the IGO's overhead and reserve off every line, prenatal care by care
    delivered (at RATES), natal in fixed shares (60% to the practices, the hospital 25%, or 20% and the
    gynaecologists' partnership 5%, kraamzorg 15%), postnatal care by care delivered with a minimum of 60%
    for kraamzorg."""
    from billing import services

    natal = {p.pk: Decimal(60) / len(members.practices) for p in members.practices}
    partnership = members.partnership
    natal[members.hospital.pk] = Decimal(20 if partnership else 25)
    natal[members.kraamzorg.pk] = Decimal(15)
    if partnership is not None:
        natal[partnership.pk] = Decimal(5)
    for year in years:
        services.split_rule_create(
            tenant=tenant,
            actor=members.finance,
            year=year,
            overhead_pct=overhead,
            reserve_pct=reserve,
            phases={
                "prenatal": {"method": "care"},
                "natal": {"method": "fixed", "shares": natal},
                "postnatal": {"method": "care", "minimums": {members.kraamzorg.pk: 60}},
            },
            rates={types[code].pk: Decimal(rate) for code, rate in RATES.items()},
            note="benchmark",
        )
