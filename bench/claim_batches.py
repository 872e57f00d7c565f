"""Benchmark of claim batches: making a month's batch and its files, downloading them over HTTP, and the
memory of many batches made in one process, on PostgreSQL.

What it measures (issue 5): the time to make a month's batch of 2,000 claim lines for one insurer, with its
KZ301 file, CSV and PDF in one transaction, and of each file writer; the files' sizes and the PDF's pages;
their download through the insurer API over HTTP; and whether a process that makes batch after batch grows.

This script prints figures; it does not assert timings. It uses its own database (default
`igo_bench_batches`), creates it when missing, migrates it, loads the data once and reuses it; the batch
tables are emptied (and the claim lines set back to *ready*) before every run.

    .venv/bin/python bench/claim_batches.py            # load if needed, then measure
    .venv/bin/python bench/claim_batches.py --fresh    # drop and recreate the benchmark database first

See bench/README.md for the options and the latest figures.
"""

from __future__ import annotations

if not __package__:  # run as `python bench/claim_batches.py`: the project root is not on sys.path yet
    import common  # noqa: F401

import argparse
import contextlib
import cProfile
import gc
import hashlib
import io
import pstats
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import tracemalloc
import zlib
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from bench.billing_run import plan_episode
from bench.care_logging import allocate, bsn_generate, episode_events
from bench.common import (
    BATCH_TABLES,
    FAMILY,
    GIVEN,
    ORG_LAYOUT,
    BulkInsert,
    QueryStats,
    argument_parser,
    contract_create,
    cursor,
    database_prepare,
    database_url,
    environment,
    fetch,
    in_child,
    insurers_get,
    machine_busy_s,
    maxrss_kb,
    members_create,
    month_last,
    own_cpu_s,
    percentile,
    process_cpu_s,
    rss_kb,
    signed_in,
    split_rules_create,
    start_server,
    team_draw,
)

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/igo_bench_batches"
URL_VARIABLE = "BENCH_BATCHES_DATABASE_URL"  # not DATABASE_URL: never share a database with another run
SLUG_MONTH = "bench-batches-month"  # one month of 2,000 lines for one insurer
SLUG_SERIES = "bench-batches-series"  # 30 months of 300 lines
INSURER = "3311"  # every client of the benchmark is insured here
KINDS = ("kz301", "csv", "pdf")


# --- command line and database ---------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--lines", type=int, default=2000, help="claim lines of the measured month (2000)")
    parser.add_argument("--months", type=int, default=30, help="batches made in sequence (30)")
    parser.add_argument("--month-lines", type=int, default=300, help="claim lines per month of the series")
    parser.add_argument("--events", type=int, default=12, help="care events per episode on average (12)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats of batch_create and the files (3)")
    parser.add_argument("--requests", "-n", type=int, default=20, help="downloads per file kind (20)")
    parser.add_argument("--server-workers", type=int, default=2, help="gunicorn worker processes (2)")
    parser.add_argument("--seed", type=int, default=20261124, help="random seed of the data")
    parser.add_argument("--skip-http", action="store_true", help="skip the downloads over HTTP")
    parser.add_argument("--skip-memory", action="store_true", help="skip the batches in sequence")
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile one extra batch_create (discarded again)"
    )
    return parser.parse_args(argv)


def months_before(first_of_this_month: date, n: int) -> list[date]:
    """The first days of the n months before the given month, oldest first."""
    out, day = [], first_of_this_month
    for _ in range(n):
        day = (day - timedelta(days=1)).replace(day=1)
        out.append(day)
    return out[::-1]


PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")  # not /Pages, the page tree


def pdf_pages(content: bytes) -> int:
    """Page objects in a PDF, also those inside compressed object streams (WeasyPrint writes them so)."""
    pages = len(PAGE_OBJECT.findall(content))
    for start in re.finditer(rb"stream\r?\n", content):
        with contextlib.suppress(zlib.error):
            pages += len(PAGE_OBJECT.findall(zlib.decompressobj().decompress(content[start.end() :])))
    return pages


# --- data generation ---------------------------------------------------------------------------


def load_tenant(
    *, slug: str, number: int, months: list[tuple[date, int]], events_per_episode: int, seed: int
) -> dict[str, int]:
    """One IGO whose clients are all insured with INSURER, with `count` claim lines ending in each
    month: count // 3 completed episodes (three lines each) and the rest miscarriages (one line)."""
    from django.db import transaction
    from django.utils import timezone

    from billing import services
    from igo.models import Tenant
    from igo.tenancy import tenant_scope
    from pregnancies.catalogue import catalogue_seed
    from pregnancies.models import CareEvent, Client, ClientInsurance, Episode, EventType

    rng = random.Random(seed + number)
    bulk = BulkInsert()
    counts = bulk.rows

    plans: list[Any] = []
    for first, lines in months:
        last, jan1 = month_last(first), date(first.year, 1, 1)
        kinds = ["completed"] * (lines // 3) + ["miscarriage"] * (lines % 3)
        for kind in kinds:
            plan = plan_episode(rng, kind, first, last, jan1)
            assert plan is not None
            plans.append(plan)
    allocate(plans, events_per_episode * len(plans), rng)
    first_year = min(p.intake for p in plans).year
    last_year = max(m[0] for m in months).year
    used_bsn: set[str] = set()
    with transaction.atomic():
        insurer = next(i for i in insurers_get() if i.uzovi_code == INSURER)
        tenant = Tenant.objects.create(  # one benchmark user makes and releases: no four eyes
            name=f"Benchmark batches {number}",
            slug=slug,
            agb_code=f"53970{number:03d}",
            batch_four_eyes=False,
        )
        counts["EventType"] += catalogue_seed(tenant=tenant)
        types = {et.code: et for et in EventType.unscoped.filter(tenant=tenant)}
        members = members_create(
            bulk,
            rng,
            tenant,
            ORG_LAYOUT[4],
            name_suffix="",
            agb_infix=f"97{number:02d}",
            member_from=date(first_year - 1, 1, 1),
            email=f"{{d}}-{number}-{{i:03d}}@bench-batches.invalid",
            agb=f"{{org}}96{number:02d}{{i:02d}}",
            big=f"19{number:02d}{{i:07d}}",
            finance_email=f"finance-{number}@bench-batches.invalid",
        )
        staff = members.staff()
        practices = [o.pk for o in members.practices]
        gynaecologists = members.gynaecologists()

        with tenant_scope(tenant):
            overhead = Decimal(rng.choice(["4.00", "5.00", "6.00"]))  # the IGO's, in its split rules
            contract_create(
                tenant=tenant,
                actor=members.finance,
                insurer=insurer,
                valid_from=date(first_year, 1, 1),
                tariffs=(Decimal("1205.00"), Decimal("895.00"), Decimal("1495.00")),
            )
            split_rules_create(
                tenant=tenant,
                members=members,
                years=range(first_year, last_year + 1),
                types=types,
                overhead=overhead,
                reserve=Decimal("2.00"),
            )

        clients = bulk(
            Client,
            [
                Client(
                    tenant=tenant,
                    family_name=rng.choice(FAMILY),
                    given_names=f"{rng.choice(GIVEN)} {rng.choice(GIVEN)}",
                    date_of_birth=plan.intake - timedelta(days=rng.randint(18 * 365, 44 * 365)),
                    bsn=bsn_generate(rng, used_bsn),
                    postcode=f"{1000 + i % 8900:04d}AB",
                )
                for i, plan in enumerate(plans)
            ],
        )
        bulk(
            ClientInsurance,
            [
                ClientInsurance(
                    tenant=tenant,
                    client=client,
                    insurer=insurer,
                    policy_number=f"{rng.randint(10**8, 10**9 - 1)}",
                    valid_from=plan.intake - timedelta(days=rng.randint(30, 2000)),
                )
                for client, plan in zip(clients, plans, strict=True)
            ],
        )
        episodes = []
        for client, plan in zip(clients, plans, strict=True):
            plan.team = team_draw(
                rng,
                staff,
                practices=practices,
                hospital=members.hospital.pk,
                kraamzorg=members.kraamzorg.pk,
                gynaecologists=gynaecologists,
            )
            episodes.append(
                plan.as_episode(
                    tenant=tenant,
                    client=client,
                    parity=rng.choice([0, 0, 1, 1, 2]),
                    coordinator=plan.team["midwife"][0],
                )
            )
        episodes = bulk(Episode, episodes)
        now = timezone.now()
        events: list[Any] = []
        for episode, plan in zip(episodes, plans, strict=True):
            events += episode_events(tenant=tenant, episode=episode, plan=plan, types=types, rng=rng, now=now)
        bulk(CareEvent, events)

    # The claim lines, made by the billing run as in production, on the first day after the last month.
    run_day = month_last(max(m[0] for m in months)) + timedelta(days=1)
    with tenant_scope(tenant):
        result = services.billing_run(tenant=tenant, today=run_day)
    # The run makes every line today; in production each month's lines were made during that month.
    # Date each line back to the day its episode ended, so that the batch of a month finds its lines.
    with cursor() as cur:
        cur.execute(
            "UPDATE billing_claimline AS l SET created_at = (e.end_date + time '18:00') "
            "AT TIME ZONE 'Europe/Amsterdam' FROM pregnancies_episode AS e "
            "WHERE l.episode_id = e.id AND l.tenant_id = %s",
            [tenant.pk],
        )
    counts["ClaimLine"] = result.lines_created
    counts["WorkItem"] = result.work_items
    return dict(counts)


def load(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection
    from django.utils import timezone

    this_month = timezone.localdate().replace(day=1)
    started = time.perf_counter()
    month = load_tenant(
        slug=SLUG_MONTH,
        number=1,
        months=[(months_before(this_month, 1)[0], args.lines)],
        events_per_episode=args.events,
        seed=args.seed,
    )
    series = load_tenant(
        slug=SLUG_SERIES,
        number=2,
        months=[(m, args.month_lines) for m in months_before(this_month, args.months)],
        events_per_episode=args.events,
        seed=args.seed,
    )
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    return {"seconds": time.perf_counter() - started, "month": month, "series": series}


# --- state between runs --------------------------------------------------------------------------


def reset_batches(tenant_ids: list[int]) -> None:
    """Empty the batch tables and put the lines back to ready. TRUNCATE is not refused by the row
    triggers that keep released batches frozen; nothing else ever does this."""
    with cursor() as cur:
        cur.execute(f"TRUNCATE {', '.join(BATCH_TABLES)}")
        cur.execute(
            "UPDATE billing_claimline SET status = 'ready', sent_at = NULL "
            "WHERE tenant_id = ANY(%s) AND status <> 'ready'",
            [tenant_ids],
        )
        cur.execute(
            "DELETE FROM billing_workitem WHERE tenant_id = ANY(%s) AND (reason = 'rejected' "
            "OR reason LIKE 'presend%%')",
            [tenant_ids],
        )


def bench_tenants() -> dict[str, Any]:
    from igo.models import Tenant

    return {t.slug: t for t in Tenant.objects.filter(slug__in=[SLUG_MONTH, SLUG_SERIES])}


def finance_user(tenant: Any) -> Any:
    from igo.models import Membership, Role

    return Membership.unscoped.filter(tenant=tenant, role=Role.IGO_FINANCE).select_related("user")[0].user


def lines_per_month(tenant: Any) -> dict[str, int]:
    with cursor() as cur:
        cur.execute(
            "SELECT to_char(created_at AT TIME ZONE 'Europe/Amsterdam', 'YYYY-MM'), count(*) "
            "FROM billing_claimline WHERE tenant_id = %s AND status = 'ready' GROUP BY 1 ORDER BY 1",
            [tenant.pk],
        )
        return dict(cur.fetchall())


# --- 1. one month's batch of 2,000 lines ----------------------------------------------------------


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return times, value


PROFILED_PARTS = [  # (label, file ending, function): cumulative time inside batch_create
    ("batch_create", "billing/services/batches.py", "batch_create"),
    ("  gather the ready lines (_candidates)", "billing/services/batches.py", "_candidates"),
    ("  pre-send check", "billing/services/batches.py", "presend_check"),
    ("  bulk_create (batch lines, files)", "django/db/models/query.py", "bulk_create"),
    ("  the three files (_make_files)", "billing/services/batches.py", "_make_files"),
    ("    KZ301 (kz301.write)", "billing/files/kz301.py", "write"),
    ("    CSV (batch_csv)", "billing/files/csv.py", "batch_csv"),
    ("    PDF (batch_pdf)", "billing/files/pdf.py", "batch_pdf"),
    ("      template to HTML", "django/template/loader.py", "render_to_string"),
    ("      WeasyPrint layout (render)", "weasyprint/__init__.py", "render"),
    ("      WeasyPrint PDF output (write_pdf of the document)", "weasyprint/document.py", "write_pdf"),
]


def profile_parts(profiler: cProfile.Profile) -> dict[str, Any]:
    stats = pstats.Stats(profiler)
    found: dict[str, float] = {}
    for (filename, _line, function), (_cc, _nc, _tt, cumulative, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        for label, ending, name in PROFILED_PARTS:
            if function == name and filename.endswith(ending):
                found[label] = found.get(label, 0.0) + cumulative
    listing = io.StringIO()
    pstats.Stats(profiler, stream=listing).sort_stats("cumulative").print_stats(25)
    return {
        "parts": [(label, found.get(label, 0.0)) for label, _e, _n in PROFILED_PARTS],
        "listing": listing.getvalue(),
    }


def measure_create(tenant_id: int, period: date, repeat: int, profile: bool = False) -> dict[str, Any]:
    """batch_create `repeat` times (each draft discarded again), then the three file writers on the
    stored lines; the last batch is kept and released for the downloads. With `profile`, one more
    batch_create first, under cProfile, not counted in the times."""
    from django.conf import settings
    from django.db import connection
    from django.utils import translation

    from billing.files import kz301
    from billing.models import BatchFile, BatchLine
    from billing.services import batches
    from igo.models import Insurer, Tenant
    from igo.tenancy import tenant_scope

    tenant = Tenant.objects.get(pk=tenant_id)
    insurer = Insurer.objects.get(uzovi_code=INSURER)
    actor = finance_user(tenant)
    today = month_last(period) + timedelta(days=1)
    rss_before = rss_kb()
    out: dict[str, Any] = {"create_s": [], "cpu": [], "queries": 0, "sql_s": 0.0}
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
    with tenant_scope(tenant):
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            profiled = batches.batch_create(
                tenant=tenant, insurer=insurer, period=period, actor=actor, today=today
            )
            profiler.disable()
            assert profiled.batch is not None
            batches.batch_discard(batch=profiled.batch, actor=actor)
            out["profile"] = profile_parts(profiler)
        for i in range(repeat):
            stats = QueryStats()
            before = (own_cpu_s(), process_cpu_s(backend), machine_busy_s())
            with connection.execute_wrapper(stats):
                started = time.perf_counter()
                result = batches.batch_create(
                    tenant=tenant, insurer=insurer, period=period, actor=actor, today=today
                )
                out["create_s"].append(time.perf_counter() - started)
            own, pg, machine = (
                b - a
                for a, b in zip(before, (own_cpu_s(), process_cpu_s(backend), machine_busy_s()), strict=True)
            )
            out["cpu"].append({"own": own, "pg": pg, "others": max(0.0, machine - own - pg)})
            out["queries"], out["sql_s"] = stats.n, stats.seconds
            assert result.created and result.batch is not None, "no batch was made"
            batch = result.batch
            if i < repeat - 1:
                batches.batch_discard(batch=batch, actor=actor)
        out["rss_after_create_kb"] = rss_kb()
        out.update(number=batch.number, lines=batch.line_count, total=batch.total, held=result.held)
        out["debit_lines"] = sum(1 for _ in BatchLine.objects.filter(batch=batch, sign="debit"))
        files = {f.kind: f for f in BatchFile.objects.filter(batch=batch)}
        out["sizes"] = {kind: files[kind].size for kind in KINDS}
        out["pages"] = pdf_pages(bytes(files["pdf"].content))

        # The three writers again, on the stored lines, as _make_files calls them.
        read_started = time.perf_counter()
        rows = list(BatchLine.objects.filter(batch=batch).order_by("line_no"))
        batch = type(batch).objects.select_related("tenant", "insurer").get(pk=batch.pk)
        out["read_lines_s"] = time.perf_counter() - read_started

        def kz301_file() -> bytes:
            buffer = io.BytesIO()
            kz301.write_batch(batch, rows, buffer.write)
            return buffer.getvalue()

        with translation.override(settings.LANGUAGE_CODE):
            writers = {
                "kz301": kz301_file,
                "csv": lambda: batches.batch_csv(batch, rows),
                "pdf": lambda: batches.batch_pdf(batch, rows),
            }
            out["writers"] = {}
            for kind, writer in writers.items():
                times, content = timed(writer, repeat)
                out["writers"][kind] = times
                # Same bytes as stored (the PDF differs only in its creation date and identifiers).
                if kind != "pdf":
                    assert hashlib.sha256(content).hexdigest() == files[kind].sha256, f"{kind} differs"
        batches.batch_release(batch=batch, actor=actor)
    out["batch_id"] = batch.pk
    out["rss_before_kb"], out["maxrss_kb"] = rss_before, maxrss_kb()
    return out


# --- 2. downloads over HTTP ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def download_auth(batch_id: int) -> tuple[str, dict[str, str], str]:
    """(URL path template with {kind}, request headers, description): the insurer API with a bearer
    token when it exists, else the IGO finance download with a signed-in session."""
    from django.conf import settings
    from django.urls import Resolver404, resolve

    from billing.models import ClaimBatch
    from igo import services
    from igo.models import Insurer, InsurerMembership, User

    batch = ClaimBatch.unscoped.select_related("tenant").get(pk=batch_id)
    api_path = f"/api/insurer/batches/{batch_id}/files/{{kind}}/"
    with contextlib.suppress(Resolver404):
        resolve(api_path.format(kind="csv"))
        if hasattr(services, "insurer_token_create"):
            insurer = Insurer.objects.get(uzovi_code=INSURER)
            user, _ = User.objects.get_or_create(email="insurer@bench-batches.invalid")
            InsurerMembership.objects.get_or_create(user=user, insurer=insurer)
            made = services.insurer_token_create(user=user, insurer=insurer, name="benchmark", days=1)
            key = made if isinstance(made, str) else next(x for x in made if isinstance(x, str))
            return api_path, {"Authorization": f"Bearer {key}"}, "insurer API, bearer token"
    tenant_path = f"/t/{batch.tenant.slug}/batches/{batch_id}/files/{{kind}}/"
    resolve(tenant_path.format(kind="csv"))  # Resolver404 here: neither download exists yet
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.test import Client

    user = finance_user(batch.tenant)
    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, generate_totp_secret())
    client = Client()
    signed_in(client, user)  # a database session the server process can read
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return tenant_path, {"Cookie": cookie}, "IGO finance download, session"


def measure_http(url: str, batch_id: int, requests: int, workers: int) -> dict[str, Any]:
    from billing.models import BatchFile

    stored = {f.kind: f.sha256 for f in BatchFile.unscoped.filter(batch_id=batch_id)}
    path, headers, how = download_auth(batch_id)
    from django.db import connections

    connections.close_all()
    port = free_port()
    server = start_server(url, port, workers)
    out: dict[str, Any] = {"how": how, "path": path, "kinds": {}}
    try:
        for kind in KINDS:
            for _ in range(2 * workers):  # warm up every worker (imports, template loading, fonts)
                fetch(port, path.format(kind=kind), headers)
            firsts, totals = [], []
            for _ in range(requests):
                first, total, status, body, response_headers = fetch(port, path.format(kind=kind), headers)
                if status != 200:
                    sys.exit(f"GET {path.format(kind=kind)} answered {status}: {body[:300]!r}")
                firsts.append(first)
                totals.append(total)
            out["kinds"][kind] = {
                "first": firsts,
                "total": totals,
                "bytes": len(body),
                "same": hashlib.sha256(body).hexdigest() == stored[kind],
                "type": response_headers.get("Content-Type", ""),
                "disposition": response_headers.get("Content-Disposition", ""),
            }
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    return out


# --- 3. many batches in one process ---------------------------------------------------------------


def measure_series(tenant_id: int, periods: list[date]) -> dict[str, Any]:
    """Make and release the batch of every month in turn, in this one process; after every tenth
    batch note the RSS and what tracemalloc sees (after a garbage collection) and its peak since the
    previous note."""
    from django.db import connection

    from billing.services import batches
    from igo.models import Insurer, Tenant
    from igo.tenancy import tenant_scope

    tenant = Tenant.objects.get(pk=tenant_id)
    insurer = Insurer.objects.get(uzovi_code=INSURER)
    actor = finance_user(tenant)
    rows: list[dict[str, Any]] = []
    gc.collect()
    rows.append({"n": 0, "rss_kb": rss_kb(), "current": 0, "peak": 0, "seconds": 0.0, "lines": 0})
    tracemalloc.start()
    spent, lines, queries = 0.0, 0, QueryStats()
    cpu_mark, machine_mark = own_cpu_s(), machine_busy_s()
    with tenant_scope(tenant), connection.execute_wrapper(queries):
        for n, period in enumerate(periods, start=1):
            started = time.perf_counter()
            result = batches.batch_create(
                tenant=tenant,
                insurer=insurer,
                period=period,
                actor=actor,
                today=month_last(period) + timedelta(days=1),
            )
            assert result.batch is not None and result.created, f"no batch for {period}"
            batches.batch_release(batch=result.batch, actor=actor)
            spent += time.perf_counter() - started
            lines += result.batch.line_count
            del result
            if n % 10 == 0 or n == len(periods):
                gc.collect()
                current, peak = tracemalloc.get_traced_memory()
                rows.append(
                    {
                        "n": n,
                        "rss_kb": rss_kb(),
                        "current": current,
                        "peak": peak,
                        "seconds": spent,
                        "lines": lines,
                        "queries": queries.n,
                        "cpu": own_cpu_s() - cpu_mark,
                        "machine": machine_busy_s() - machine_mark,
                    }
                )
                tracemalloc.reset_peak()
                spent, lines, queries.n = 0.0, 0, 0
                cpu_mark, machine_mark = own_cpu_s(), machine_busy_s()
    tracemalloc.stop()
    return {"rows": rows, "maxrss_kb": maxrss_kb()}


# --- output ---------------------------------------------------------------------------------------


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:,.0f}"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    url = database_url(
        URL_VARIABLE,
        DEFAULT_DATABASE_URL,
        script="bench/claim_batches.py",
        why="--fresh drops the database and every run empties its batch tables",
    )
    database_prepare(url, fresh=args.fresh)
    from django.utils import timezone

    tenants = bench_tenants()
    if len(tenants) < 2:
        if tenants:
            sys.exit("Half-loaded benchmark data found; run again with --fresh.")
        print(
            f"Generating {args.lines:,} claim lines in one month and {args.months} months of "
            f"{args.month_lines} lines (with their episodes, ~{args.events} care events each) …",
            flush=True,
        )
        loaded = in_child(load, args)
        print(f"Loaded in {loaded['seconds']:.1f} s: {loaded['month']} / {loaded['series']}")
        tenants = bench_tenants()
    else:
        print("Benchmark data found: generation skipped (use --fresh to rebuild).")
    month_tenant, series_tenant = tenants[SLUG_MONTH], tenants[SLUG_SERIES]
    reset_batches([month_tenant.pk, series_tenant.pk])
    month_counts = lines_per_month(month_tenant)
    series_counts = lines_per_month(series_tenant)
    period = date.fromisoformat(f"{max(month_counts)}-01")
    series_periods = [date.fromisoformat(f"{m}-01") for m in sorted(series_counts)]
    env = environment(url)
    print("\n" + "\n".join(f"{k:<16} {v}" for k, v in env.items()))
    print(
        f"Month tenant: {sum(month_counts.values()):,} ready lines in {', '.join(month_counts)}; series "
        f"tenant: {len(series_counts)} months {min(series_counts)} … {max(series_counts)}, "
        f"{min(series_counts.values())}–{max(series_counts.values())} lines a month"
    )

    # 1. One month's batch.
    create = in_child(measure_create, month_tenant.pk, period, args.repeat, args.profile)
    writers = create["writers"]
    print(
        f"\nbatch_create, {period:%Y-%m}, {create['lines']:,} lines ({create['debit_lines']:,} debit), "
        f"total €{create['total']:,}, held {create['held']}: "
        + ", ".join(f"{s:.2f}" for s in create["create_s"])
        + f" s; {create['queries']} queries, {create['sql_s']:.2f} s in cursor.execute; "
        f"RSS {create['rss_before_kb'] / 1024:.0f} → {create['rss_after_create_kb'] / 1024:.0f} MB, "
        f"peak {create['maxrss_kb'] / 1024:.0f} MB"
    )
    for kind in KINDS:
        print(
            f"  {kind:<6} writer: " + ", ".join(f"{s * 1000:.0f}" for s in writers[kind]) + " ms; "
            f"{create['sizes'][kind]:,} bytes" + (f", {create['pages']} pages" if kind == "pdf" else "")
        )
    print(f"  reading the {create['lines']:,} stored BatchLines: {create['read_lines_s'] * 1000:.0f} ms")
    print(
        "  CPU per batch_create (this process + its PostgreSQL backend; other processes of the machine): "
        + ", ".join(f"{c['own']:.1f} + {c['pg']:.1f}; {c['others']:.1f} s" for c in create["cpu"])
    )
    if "profile" in create:
        print(create["profile"]["listing"])
        total = create["profile"]["parts"][0][1]
        print("  Where batch_create spends its time (cProfile, cumulative; the profiler slows Python down):")
        for label, seconds in create["profile"]["parts"]:
            print(f"    {label:<58} {seconds:>7.2f} s  {seconds / total:>6.1%}")

    # 2. Downloads.
    http_figures: dict[str, Any] | None = None
    if not args.skip_http:
        try:
            http_figures = measure_http(url, create["batch_id"], args.requests, args.server_workers)
        except Exception as exc:  # e.g. no download URL yet: say so and go on
            print(f"\nDownloads skipped: {type(exc).__name__}: {exc}")
    if http_figures:
        print(f"\nDownloads over HTTP ({http_figures['how']}: GET {http_figures['path']}), gunicorn ")
        for kind, k in http_figures["kinds"].items():
            print(
                f"  {kind:<6} {k['bytes']:>9,} bytes  first byte median {ms(k['first'])} ms "
                f"(p95 {percentile(k['first'], 95) * 1000:.0f})  total median {ms(k['total'])} ms "
                f"(p95 {percentile(k['total'], 95) * 1000:.0f}, min {min(k['total']) * 1000:.0f})  "
                f"same bytes as stored: {k['same']}  {k['type']}; {k['disposition']}"
            )

    # 3. Many batches in one process.
    series: dict[str, Any] | None = None
    if not args.skip_memory:
        series = in_child(measure_series, series_tenant.pk, series_periods)
        print(f"\n{len(series_periods)} batches made and released in sequence in one process:")
        print(
            f"  {'batches':>7} {'lines':>6} {'s':>6} {'CPU s':>6} {'others':>6} {'queries':>7} {'RSS MB':>7} "
            f"{'traced MB':>9} {'peak MB':>8}"
        )
        for row in series["rows"]:
            others = max(0.0, row.get("machine", 0.0) - row.get("cpu", 0.0))
            print(
                f"  {row['n']:>7} {row['lines']:>6,} {row['seconds']:>6.1f} {row.get('cpu', 0.0):>6.1f} "
                f"{others:>6.1f} {row.get('queries', 0):>7,} {row['rss_kb'] / 1024:>7.1f} "
                f"{row['current'] / 2**20:>9.2f} {row['peak'] / 2**20:>8.2f}"
            )
        print(
            "  (s: wall time of those batches, slowed by tracemalloc; traced: Python memory still allocated "
            "after gc.collect(); peak: the highest since the previous row)"
        )

    # Compact table.
    print("\n=== Claim batches benchmark " + "=" * 72)
    print(f"{'what':<58} {'median':>10} {'runs':>14} {'size':>13}")
    print(
        f"{'batch_create, ' + format(create['lines'], ',') + ' lines, one insurer (total)':<58} "
        f"{statistics.median(create['create_s']):>8.2f} s {'/'.join(f'{s:.1f}' for s in create['create_s']):>14}"
    )
    for kind in KINDS:
        size = f"{create['sizes'][kind] / 1024:,.0f} KiB"
        label = f"  writer {kind}" + (f" ({create['pages']} pages)" if kind == "pdf" else "")
        print(
            f"{label:<58} "
            f"{statistics.median(writers[kind]) * 1000:>7.0f} ms "
            f"{'/'.join(f'{s * 1000:.0f}' for s in writers[kind]):>14} {size:>13}"
        )
    if "profile" in create:
        parts = dict(create["profile"]["parts"])
        share = 1 - parts["  the three files (_make_files)"] / parts["batch_create"]
        print(f"{'  all but the files (cProfile share of batch_create)':<58} {share:>9.1%}")
    if http_figures:
        for kind, k in http_figures["kinds"].items():
            print(
                f"{'GET ' + kind + ' over HTTP: first byte / total':<58} "
                f"{ms(k['first']) + ' / ' + ms(k['total']) + ' ms':>25} {k['bytes'] / 1024:>9,.0f} KiB"
            )
    if series:
        first, last = series["rows"][1], series["rows"][-1]
        rss = f"{first['rss_kb'] / 1024:.0f} / {last['rss_kb'] / 1024:.0f} MB"
        traced = f"{first['current'] / 2**20:.1f} / {last['current'] / 2**20:.1f} MB"
        print(f"{'RSS after 10 / ' + str(last['n']) + ' batches in one process':<58} {rss:>25}")
        print(f"{'tracemalloc retained after 10 / ' + str(last['n']) + ' batches':<58} {traced:>25}")
    print("-" * 100)
    for k, v in env.items():
        print(f"{k}: {v}")
    print(f"Today: {timezone.localdate()}")


if __name__ == "__main__":
    main()
