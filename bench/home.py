"""Benchmark of the clinician's home (`care_home`): a midwife with a caseload of 150 clients, on the
care-logging bench data (bench/care_logging.py: 3,000 episodes, 120,000 care events), on PostgreSQL.

Issue 17 requirement: the home page with a caseload of 150 clients answers in under 150 ms at the median.

A midwife of a practice of her own ("Praktijk Thuis (bench)") coordinates 150 active episodes of the bench
tenant, chosen once by the seed; their events were logged by the other members, so every caseload figure
(last contact, birth, delivery, referral, transfer) is read from real rows. Every request also writes the
150 NEN 7513 access-log entries it must, so the log grows during the run, as it does in use.

    .venv/bin/python bench/home.py               # load the care-logging data if needed, then measure
    .venv/bin/python bench/home.py -n 300        # 300 requests (default 200)
    .venv/bin/python bench/home.py --show-queries

It uses its own database (default `igo_bench_home`; DATABASE_URL must name a database with `bench` in its
name) and prints figures with the machine's load average (another process on the 2 cores shows there).
"""

from __future__ import annotations

if not __package__:  # run as `python bench/home.py`: the project root is not on sys.path yet
    import common  # noqa: F401

import argparse
import os
import random
import time
from datetime import date
from typing import Any

from bench.care_logging import TENANT_SLUG, Result, count_queries, load, timed
from bench.common import argument_parser, database_prepare, database_url, environment, percentile, signed_in

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/igo_bench_home"
CASELOAD = 150
TARGET_MEDIAN_MS = 150.0
EMAIL = "thuis.bench@igo.test"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--requests", "-n", type=int, default=200, help="requests (200)")
    parser.add_argument("--caseload", type=int, default=CASELOAD, help=f"clients in her care ({CASELOAD})")
    parser.add_argument("--episodes", type=int, default=3000, help="episodes to generate (3000)")
    parser.add_argument("--events", type=int, default=120_000, help="care events to generate (120000)")
    parser.add_argument("--seed", type=int, default=20261123, help="random seed for data and choices")
    parser.add_argument("--show-queries", action="store_true", help="print the SQL of one request")
    return parser.parse_args(argv)


def her_caseload(tenant: Any, size: int, seed: int) -> Any:
    """The bench midwife (created once) coordinating `size` active episodes; returns her user."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    from igo.models import Membership, Role, User
    from igo.tenancy import tenant_scope
    from pregnancies.models import Episode
    from providers.models import MemberOrganisation, Professional

    with tenant_scope(tenant):
        user, _ = User.objects.get_or_create(email=EMAIL, defaults={"full_name": "Thuis Bench"})
        # Every member signs in with a second factor (issue 16): without one the home would redirect.
        if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
            TOTP.activate(user, generate_totp_secret())
        Membership.objects.get_or_create(tenant=tenant, user=user, role=Role.MIDWIFE)
        org, _ = MemberOrganisation.objects.get_or_create(
            tenant=tenant,
            name="Praktijk Thuis (bench)",
            defaults={"kind": "midwifery_practice", "agb_code": "03999001", "member_from": date(2020, 1, 1)},
        )
        professional, _ = Professional.objects.get_or_create(
            tenant=tenant,
            user=user,
            defaults={"full_name": "Thuis Bench", "discipline": "midwife", "organisation": org},
        )
        Episode.objects.filter(coordinating_professional=professional).update(coordinating_professional=None)
        active = list(Episode.objects.filter(status="active").order_by("pk").values_list("pk", flat=True))
        chosen = random.Random(seed).sample(active, min(size, len(active)))
        Episode.objects.filter(pk__in=chosen).update(coordinating_professional=professional)
    return user


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    url = database_url(
        "DATABASE_URL",
        DEFAULT_DATABASE_URL,
        script="bench/home.py",
        why="the benchmark writes 250,000+ rows and --fresh drops the database",
    )
    database_prepare(url, fresh=args.fresh)
    from django.test import Client as HttpClient

    from igo.models import Tenant

    if not Tenant.objects.filter(slug=TENANT_SLUG).exists():
        print(f"Generating the care-logging data: {args.episodes:,} episodes, {args.events:,} events …")
        figures = load(args)
        print(f"Loaded {figures['rows']:,.0f} rows in {figures['load_s']:.1f} s")
    tenant = Tenant.objects.get(slug=TENANT_SLUG)
    user = her_caseload(tenant, args.caseload, args.seed)

    http = HttpClient()  # host 'testserver', CSRF checks off, as in the test suite
    signed_in(http, user)
    path = f"/t/{tenant.slug}/home/"

    def get() -> Any:
        return http.get(path)

    first = get()
    rows = first.content.count(b'data-testid="caseload-row"')
    if first.status_code != 200 or rows != args.caseload:
        print(f"  ! status {first.status_code}, {rows} caseload rows (expected {args.caseload})")
    for _ in range(10):  # warm up: templates, translations, URL resolver, connection
        get()

    load_before = os.getloadavg()
    started = time.perf_counter()
    times, statuses = timed(args.requests, lambda i: get(), 200)
    wall = time.perf_counter() - started
    load_after = os.getloadavg()
    result = Result(f"GET home, caseload of {rows}", times, statuses, [("q", count_queries(get))])
    if args.show_queries:
        count_queries(get, show="GET home")

    env = environment(url)
    median = percentile(times, 50)
    print("\n=== Clinician's home benchmark " + "=" * 74)
    print(f"{'scenario':<38} {'n':>5} {'median':>8} {'p95':>8} {'p99':>8} {'max':>8}   queries      status")
    print(result.row())
    print("-" * 105)
    print(
        f"Median {median:.1f} ms against the target of {TARGET_MEDIAN_MS:.0f} ms: "
        f"{'met' if median < TARGET_MEDIAN_MS else 'NOT met'} (ratio {median / TARGET_MEDIAN_MS:.2f}); "
        f"{args.requests / wall:.1f} requests/s in one process"
    )
    print(
        "Load average (1/5/15 min) before: "
        + " / ".join(f"{v:.2f}" for v in load_before)
        + ", after: "
        + " / ".join(f"{v:.2f}" for v in load_after)
    )
    for k, v in env.items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    main()
