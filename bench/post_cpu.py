"""CPU per request of the signed-in bare view and of the htmx logging POST, in one process: issue 18's ratio
(the POST's closed-loop throughput against the bare view's) as the two requests' costs, measured in a way
that other processes on the machine disturb little.

`bench/load.py --ratio` measures the two throughputs in two runs of 20 s each; on a shared 2-core machine
what the other processes take changes between the runs, and the bare view's figure with it (104 to 374
req/s within minutes, docs/performance.md). Here both requests run in this process through Django's test
client (all middleware, session, user, view, template; no WSGI server), in alternating batches, and each
batch's CPU is this process's CPU time plus that of its PostgreSQL backend (/proc/<pid>/stat); the minimum
and median over the batches are printed, and the ratio of the two. On a CPU-bound server the closed-loop
throughput ratio is the inverse ratio of the costs (gunicorn's own overhead and Redis's CPU are left out).

    .venv/bin/python bench/post_cpu.py            # on bench/care_logging.py's data (loaded if missing)
    .venv/bin/python bench/post_cpu.py --rounds 10

The logging POST is load.py's: a prenatal check on a random prenatal episode, the repeat window confirmed;
the events it logs are deleted again at the end.
"""

from __future__ import annotations

if not __package__:  # run as `python bench/post_cpu.py`: the project root is not on sys.path yet
    import common  # noqa: F401

import argparse
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from datetime import time as dtime
from typing import Any

from bench.care_logging import BENCH_LOCATION, TENANT_SLUG, load, post_targets, posted_events_delete
from bench.common import argument_parser, database_prepare, database_url, percentile, signed_in

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/igo_bench"
TARGET = 0.50


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--rounds", type=int, default=6, help="batches of each request (6)")
    parser.add_argument("--bare", type=int, default=200, help="bare requests per batch (200)")
    parser.add_argument("--posts", type=int, default=40, help="logging POSTs per batch (40)")
    parser.add_argument("--episodes", type=int, default=3000, help="episodes to generate (3000)")
    parser.add_argument("--events", type=int, default=120_000, help="care events to generate (120000)")
    parser.add_argument("--seed", type=int, default=20261123, help="random seed for data and choices")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="after the batches, profile N POSTs and print the top",
    )
    return parser.parse_args(argv)


def backend_cpu_s() -> float:
    """CPU seconds of this connection's PostgreSQL backend (same machine)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def batch_ms(request: Callable[[], Any], n: int) -> tuple[float, float]:
    """(process + backend CPU, process CPU) per request, in ms, over n requests."""
    backend, own = backend_cpu_s(), time.process_time()
    for _ in range(n):
        request()
    own = time.process_time() - own
    return (own + backend_cpu_s() - backend) * 1000 / n, own * 1000 / n


def profile_print(request: Callable[[], Any], n: int) -> None:
    """cProfile over n requests: the functions with the most own time and the most cumulative time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        request()
    profiler.disable()
    dump = os.path.join(tempfile.gettempdir(), "post_cpu.prof")
    profiler.dump_stats(dump)
    print(f"Profile written to {dump} (python -m pstats {dump})")
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(60)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    url = database_url(
        "DATABASE_URL",
        DEFAULT_DATABASE_URL,
        script="bench/post_cpu.py",
        why="the benchmark logs care events there (deleted again) and --fresh drops the database",
    )
    database_prepare(url, fresh=args.fresh)
    from django.test import Client as HttpClient
    from django.test.utils import override_settings
    from django.utils import timezone

    from bench.load import second_factor_enrol
    from igo.models import Tenant
    from igo.tenancy import tenant_scope
    from pregnancies.models import EventType
    from providers.models import Professional

    if not Tenant.objects.filter(slug=TENANT_SLUG).exists():
        print(f"Generating the care-logging data: {args.episodes:,} episodes, {args.events:,} events …")
        load(args)
    tenant = Tenant.objects.get(slug=TENANT_SLUG)
    posted_events_delete(tenant)
    with tenant_scope(tenant):
        midwife = (
            Professional.objects.select_related("user")
            .filter(discipline="midwife", user__isnull=False, is_active=True)
            .order_by("pk")
            .first()
        )
        assert midwife is not None and midwife.user is not None
        pre_check = EventType.objects.get(code="PRE_CHECK").pk
        today = timezone.localdate()
        targets = post_targets(today)
    second_factor_enrol(midwife.user)  # as load.py: every role signs in with a second factor
    rng = random.Random(args.seed)
    http = HttpClient()  # host 'testserver', CSRF checks off, as in the test suite
    signed_in(http, midwife.user)

    def bare() -> None:
        response = http.get("/bench/bare/")
        assert response.status_code == 200, response.status_code

    def post() -> None:
        pk, intake = rng.choice(targets)
        day = intake + timedelta(days=rng.randint(0, max(0, (today - intake).days - 1)))
        data = {
            "event_type": str(pre_check),
            "occurred_at": datetime.combine(day, dtime(rng.randint(8, 17), rng.randint(0, 59))).strftime(
                "%Y-%m-%dT%H:%M"
            ),
            "quantity": "1",
            "location": BENCH_LOCATION,
            "note": "",
            "submission_key": str(uuid.uuid4()),
            "confirm_duplicate": "on",
        }
        response = http.post(f"/t/{tenant.slug}/episodes/{pk}/events/", data, headers={"HX-Request": "true"})
        http.cookies.pop("messages", None)
        assert response.status_code == 201, (response.status_code, response.content[:300])

    bares: list[tuple[float, float]] = []
    posts: list[tuple[float, float]] = []
    load_before = os.getloadavg()
    with override_settings(ROOT_URLCONF="bench.urls"):
        for _ in range(20):  # warm up: templates, translations, URL resolver, caches
            bare()
            post()
        for _ in range(args.rounds):
            bares.append(batch_ms(bare, args.bare))
            posts.append(batch_ms(post, args.posts))
        if args.profile:
            profile_print(post, args.profile)
    load_after = os.getloadavg()
    removed = posted_events_delete(tenant)

    def figures(runs: list[tuple[float, float]]) -> tuple[float, float, float]:
        total = [t for t, _ in runs]
        return min(total), percentile(total, 50), min(p for _, p in runs)

    b_min, b_med, b_py = figures(bares)
    p_min, p_med, p_py = figures(posts)
    print(
        f"\n=== CPU per request, {args.rounds} alternating batches ({args.bare} bare, {args.posts} POSTs) ==="
    )
    print(f"bare view, signed in:  min {b_min:.2f} ms, median {b_med:.2f} ms (this process {b_py:.2f} ms)")
    print(f"htmx logging POST:     min {p_min:.2f} ms, median {p_med:.2f} ms (this process {p_py:.2f} ms)")
    ratio_min, ratio_med = b_min / p_min, b_med / p_med
    print(
        f"Ratio bare / POST: {ratio_min:.3f} (minima), {ratio_med:.3f} (medians); target ≥ {TARGET:.2f}: "
        f"{'met' if min(ratio_min, ratio_med) >= TARGET else 'not met'}"
    )
    print(
        "Load average (1/5/15 min) before: "
        + " / ".join(f"{v:.2f}" for v in load_before)
        + ", after: "
        + " / ".join(f"{v:.2f}" for v in load_after)
        + f"; {removed} logged events removed"
    )


if __name__ == "__main__":
    main()
