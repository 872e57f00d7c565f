"""Benchmark of finance's revenue page (`/t/<slug>/revenue/`) for the largest IGO of the national year.

Issue 14: the revenue page of the largest bench IGO (31,000 episodes; 5.8 million care events in the
database) answers in under 200 ms at the median. It took 819 ms: its work-in-progress query read every care
event. The page now reads the year from the ledger (`billing.ledger.year_overview`) and the work in progress
from the waiting episodes (`billing.selectors.work_in_progress`), both through their indexes.

This script prints figures; it does not assert timings. It measures on the national year's database
(`bench/national.py`, default `igo_bench_national`, or $BENCH_NATIONAL_DATABASE_URL), which it migrates but
never loads: run `bench/national.py` first. It gives the IGO's finance user a TOTP device if it has none (the
page requires one), and changes nothing else.

    .venv/bin/python bench/revenue_page.py                 # the largest IGO, this year, 100 requests
    .venv/bin/python bench/revenue_page.py -n 200 --year 2026 --explain

See docs/performance.md ("The revenue page") for what is measured and the latest figures.
"""

from __future__ import annotations

if not __package__:  # run as `python bench/revenue_page.py`: the project root is not on sys.path yet
    import common  # noqa: F401

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from bench.common import (
    argument_parser,
    database_prepare,
    database_url,
    environment,
    machine_busy_s,
    own_cpu_s,
    percentile,
)

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/igo_bench_national"
URL_VARIABLE = "BENCH_NATIONAL_DATABASE_URL"
TARGET_MS = 200.0
WARM_UP = 10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("-n", "--requests", type=int, default=100, help="measured requests (100)")
    parser.add_argument("--year", type=int, help="the year shown (default: the page's, this year)")
    parser.add_argument("--tenant", help="slug of the IGO (default: the one with the most episodes)")
    parser.add_argument("--parts", type=int, default=20, help="runs of each part measured alone (20)")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the page's queries")
    args = parser.parse_args(argv)
    if args.fresh:
        parser.error("--fresh would drop the national year; rebuild it with bench/national.py --fresh")
    return args


def timings_ms(call: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def line(label: str, ms: list[float]) -> str:
    return f"| {label} | {len(ms)} | {statistics.median(ms):.1f} | {percentile(ms, 95):.1f} | {max(ms):.1f} |"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    url = database_url(
        URL_VARIABLE, DEFAULT_DATABASE_URL, script="bench/revenue_page.py", why="it is migrated"
    )
    database_prepare(url, fresh=False)
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from billing import ledger, selectors
    from billing.models import Allocation
    from igo.dates import month_bounds
    from igo.models import Membership, Role, Tenant
    from igo.tenancy import tenant_scope
    from pregnancies.models import CareEvent, Episode

    sizes = {t: Episode.unscoped.filter(tenant=t).count() for t in Tenant.objects.order_by("slug")}
    if not any(sizes.values()):
        sys.exit("No benchmark data: run bench/national.py first.")
    tenant = Tenant.objects.get(slug=args.tenant) if args.tenant else max(sizes, key=lambda t: sizes[t])
    membership = (
        Membership.unscoped.filter(tenant=tenant, role=Role.IGO_FINANCE).select_related("user").first()
    )
    if membership is None:
        sys.exit(f"{tenant.slug} has no finance user.")
    user = membership.user
    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, generate_totp_secret())  # finance must have a second factor to open the page
    year = args.year or timezone.localdate().year
    path = f"/t/{tenant.slug}/revenue/?year={year}"
    start, _ = month_bounds(date(year, 1, 1))
    end, _ = month_bounds(date(year + 1, 1, 1))
    with tenant_scope(tenant):
        entries = Allocation.objects.filter(created_at__gte=start, created_at__lt=end).count()
        entries += Allocation.objects.filter(superseded_at__gte=start, superseded_at__lt=end).count()
        waiting = selectors.work_in_progress().episodes
    print(
        f"IGO {tenant.slug}: {sizes[tenant]:,} episodes; {CareEvent.unscoped.count():,} care events in the "
        f"database; {entries:,} ledger entries in {year}; {waiting:,} active episodes without a claim line"
    )

    client = Client()
    client.force_login(user)
    response = client.get(path)
    if response.status_code != 200:
        sys.exit(f"GET {path}: {response.status_code}")
    for _ in range(WARM_UP):
        client.get(path)
    queries: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        client.get(path)
    busy_before, own_before = machine_busy_s(), own_cpu_s()
    wall_before = time.perf_counter()
    page = timings_ms(lambda: client.get(path), args.requests)
    wall = time.perf_counter() - wall_before
    busy, own = machine_busy_s() - busy_before, own_cpu_s() - own_before

    with tenant_scope(tenant):
        year_part = timings_ms(lambda: ledger.year_overview(year=year), args.parts)
        wip_part = timings_ms(selectors.work_in_progress, args.parts)
        years_part = timings_ms(selectors.revenue_years, args.parts)

    median = statistics.median(page)
    print()
    print("| what | n | median ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    print(line(f"GET revenue page ({len(queries)} queries)", page))
    print(line("… the year from the ledger (`ledger.year_overview`)", year_part))
    print(line("… the work in progress (`selectors.work_in_progress`)", wip_part))
    print(line("… the years to choose from (`selectors.revenue_years`)", years_part))
    print()
    print(
        f"Median {median:.1f} ms against the target of {TARGET_MS:.0f} ms: ratio {median / TARGET_MS:.2f} "
        f"({'met' if median < TARGET_MS else 'NOT met'})."
    )
    print(
        f"{args.requests} requests in {wall:.1f} s: this process used {own:.1f} CPU-s, the whole machine "
        f"{busy:.1f} CPU-s (PostgreSQL and any other process: {busy - own:.1f})."
    )
    if args.explain:
        captured: list[tuple[str, Any]] = []

        def keep(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            captured.append((sql, params))
            return execute(sql, params, many, context)

        with tenant_scope(tenant), connection.execute_wrapper(keep):
            selectors.revenue_by_member_month(year=year, overhead_label="o", reserve_label="r")
            selectors.work_in_progress()
        with connection.cursor() as cur:
            for sql, params in captured:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                print("\n" + sql[:300])
                print("\n".join(r[0] for r in cur.fetchall()))
    print()
    for key, value in environment(url).items():
        print(f"- {key}: {value}")


if __name__ == "__main__":
    main()
