"""Benchmark of the finance home (`/t/<slug>/finance/`) for the largest IGO of the national year.

Issue 19: the finance home answers in under 200 ms at the median on the largest bench IGO. Its figures are
aggregates: the claims list's filtered lines (ready, rejected, deadline within 30 days), the work queue's
open items per reason, the work in progress priced at today's tariffs and the members' due ledger entries
(`billing.finance_home`). The script times the page and each figure alone.

It prints figures and asserts no timing. It measures on the national year's database (`bench/national.py`,
default `igo_bench_national`, or $BENCH_NATIONAL_DATABASE_URL), which it migrates but never loads: run
`bench/national.py` first (`--episodes`/`--tenants` make a smaller year). The IGO's finance user gets a TOTP
device if it has none (the page requires one); nothing else changes.

    .venv/bin/python bench/finance_home.py              # the largest IGO, 100 requests
    .venv/bin/python bench/finance_home.py -n 200 --explain
"""

from __future__ import annotations

if not __package__:  # run as `python bench/finance_home.py`: the project root is not on sys.path yet
    import common  # noqa: F401

import argparse
import statistics
import sys
import time
from collections.abc import Callable
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
    parser.add_argument("--tenant", help="slug of the IGO (default: the one with the most episodes)")
    parser.add_argument("--parts", type=int, default=20, help="runs of each figure measured alone (20)")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the page's queries")
    args = parser.parse_args(argv)
    if args.fresh:
        parser.error("--fresh would drop the national year; rebuild it with bench/national.py --fresh")
    return args


def ms_of(call: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def table_row(label: str, ms: list[float]) -> str:
    return f"| {label} | {len(ms)} | {statistics.median(ms):.1f} | {percentile(ms, 95):.1f} | {max(ms):.1f} |"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    url = database_url(
        URL_VARIABLE, DEFAULT_DATABASE_URL, script="bench/finance_home.py", why="it is migrated"
    )
    database_prepare(url, fresh=False)
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from billing import finance_home as home
    from billing.models import ClaimLine, WorkItem
    from igo.models import Membership, Role, Tenant
    from igo.tenancy import tenant_scope
    from pregnancies.models import Episode

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
        TOTP.activate(user, generate_totp_secret())
    today = timezone.localdate()
    path = f"/t/{tenant.slug}/finance/"
    lines = ClaimLine.unscoped.filter(tenant=tenant).count()
    items = WorkItem.unscoped.filter(tenant=tenant, resolved_at__isnull=True).count()
    print(f"IGO {tenant.slug}: {sizes[tenant]:,} episodes, {lines:,} claim lines, {items:,} open work items")

    client = Client()
    client.force_login(user)
    first = client.get(path)
    if first.status_code != 200:
        sys.exit(f"GET {path}: {first.status_code}")
    with tenant_scope(tenant):
        figures = home.finance_home(today=today)
    print(
        f"ready {figures.ready.lines:,} ({figures.ready.total}), rejected {figures.rejected.lines:,}, deadline "
        f"soon {figures.deadline_soon.lines:,}, waiting {figures.waiting_items:,}, work in progress "
        f"{figures.work.amount} ({figures.work.phases:,} phases), payouts due {figures.payouts_due}"
    )
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
    page = ms_of(lambda: client.get(path), args.requests)
    wall = time.perf_counter() - wall_before
    busy, own = machine_busy_s() - busy_before, own_cpu_s() - own_before

    with tenant_scope(tenant):
        parts = [
            ("claims: ready", lambda: home.claim_summary(home.claim_lines_filtered(home.ready_filter(today)))),
            ("claims: rejected", lambda: home.claim_summary(home.claim_lines_filtered(home.rejected_filter(today)))),
            ("claims: deadline in 30 days", lambda: home.claim_summary(home.claim_lines_filtered(home.deadline_filter(today)))),
            ("work queue per reason", home.waiting_by_reason),
            ("work in progress estimate", lambda: home.work_in_progress_estimate(today=today)),
            ("payouts due (ledger)", lambda: home.payouts_due(today=today)),
        ]  # fmt: skip
        timed_parts = [(label, ms_of(call, args.parts)) for label, call in parts]

    median = statistics.median(page)
    print()
    print("| what | n | median ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    print(table_row(f"GET finance home ({len(queries)} queries)", page))
    for label, ms in timed_parts:
        print(table_row(f"… {label}", ms))
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
        with connection.cursor() as cur:
            for sql, params in queries:
                if not sql.lstrip().upper().startswith("SELECT"):
                    continue
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                print("\n" + sql[:300])
                print("\n".join(r[0] for r in cur.fetchall()))
    print()
    for key, value in environment(url).items():
        print(f"- {key}: {value}")


if __name__ == "__main__":
    main()
