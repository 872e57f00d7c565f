"""What the benchmarks of finance's pages share (bench/finance_home.py, bench/revenue_page.py): the options,
the largest IGO's finance user signed in on the national year's database, and the timing of a page.

They measure on the national year (`bench/national.py`, default `igo_bench_national`, or
$BENCH_NATIONAL_DATABASE_URL), which they migrate but never load. The finance user gets a TOTP device if it
has none (finance's pages require a second factor); nothing else changes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.common import (
    argument_parser,
    database_prepare,
    database_url,
    machine_busy_s,
    own_cpu_s,
    percentile,
    signed_in,
)

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/igo_bench_national"
URL_VARIABLE = "BENCH_NATIONAL_DATABASE_URL"
WARM_UP = 10


def parser_for(doc: str | None) -> argparse.ArgumentParser:
    parser = argument_parser(doc)
    parser.add_argument("-n", "--requests", type=int, default=100, help="measured requests (100)")
    parser.add_argument("--tenant", help="slug of the IGO (default: the one with the most episodes)")
    parser.add_argument("--parts", type=int, default=20, help="runs of each figure measured alone (20)")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the page's queries")
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if args.fresh:
        parser.error("--fresh would drop the national year; rebuild it with bench/national.py --fresh")
    return args


def database(script: str) -> str:
    """The national year's database, migrated (Django is set up after this)."""
    url = database_url(URL_VARIABLE, DEFAULT_DATABASE_URL, script=script, why="it is migrated")
    database_prepare(url, fresh=False)
    return url


@dataclass
class Finance:
    tenant: Any
    episodes: int
    user: Any


def largest_igo_finance(slug: str | None) -> Finance:
    """The IGO asked for (else the one with the most episodes) and its finance user, with a second factor."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    from igo.models import Membership, Role, Tenant
    from pregnancies.models import Episode

    sizes = {t: Episode.unscoped.filter(tenant=t).count() for t in Tenant.objects.order_by("slug")}
    if not any(sizes.values()):
        sys.exit("No benchmark data: run bench/national.py first.")
    tenant = Tenant.objects.get(slug=slug) if slug else max(sizes, key=lambda t: sizes[t])
    membership = (
        Membership.unscoped.filter(tenant=tenant, role=Role.IGO_FINANCE).select_related("user").first()
    )
    if membership is None:
        sys.exit(f"{tenant.slug} has no finance user.")
    user = membership.user
    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, generate_totp_secret())
    return Finance(tenant, sizes[tenant], user)


def timings_ms(call: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def row(label: str, ms: list[float]) -> str:
    return f"| {label} | {len(ms)} | {statistics.median(ms):.1f} | {percentile(ms, 95):.1f} | {max(ms):.1f} |"


@dataclass
class PageTimes:
    ms: list[float]
    queries: list[tuple[str, Any]]  # the SQL of one request, with its parameters
    wall_s: float
    machine_cpu_s: float
    own_cpu_s: float


def page_times(user: Any, path: str, requests: int) -> PageTimes:
    """GET `path` signed in as `user`: one request's queries, then `requests` timed ones after a warm-up."""
    from django.db import connection
    from django.test import Client

    client = Client()
    signed_in(client, user)
    first = client.get(path)
    if first.status_code != 200:
        sys.exit(f"GET {path}: {first.status_code}")
    for _ in range(WARM_UP):
        client.get(path)
    queries: list[tuple[str, Any]] = []

    def keep(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(keep):
        client.get(path)
    busy_before, own_before = machine_busy_s(), own_cpu_s()
    wall_before = time.perf_counter()
    ms = timings_ms(lambda: client.get(path), requests)
    wall = time.perf_counter() - wall_before
    return PageTimes(ms, queries, wall, machine_busy_s() - busy_before, own_cpu_s() - own_before)


def print_table(
    page_label: str, times: PageTimes, parts: list[tuple[str, list[float]]], target_ms: float
) -> None:
    median = statistics.median(times.ms)
    print()
    print("| what | n | median ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    print(row(f"{page_label} ({len(times.queries)} queries)", times.ms))
    for label, ms in parts:
        print(row(f"… {label}", ms))
    print()
    print(
        f"Median {median:.1f} ms against the target of {target_ms:.0f} ms: ratio {median / target_ms:.2f} "
        f"({'met' if median < target_ms else 'NOT met'})."
    )
    print(
        f"{len(times.ms)} requests in {times.wall_s:.1f} s: this process used {times.own_cpu_s:.1f} CPU-s, the "
        f"whole machine {times.machine_cpu_s:.1f} CPU-s (PostgreSQL and any other process: "
        f"{times.machine_cpu_s - times.own_cpu_s:.1f})."
    )


def explain(queries: list[tuple[str, Any]]) -> None:
    """EXPLAIN ANALYZE of each SELECT."""
    from django.db import connection

    with connection.cursor() as cur:
        for sql, params in queries:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            print("\n" + sql[:300])
            print("\n".join(r[0] for r in cur.fetchall()))
