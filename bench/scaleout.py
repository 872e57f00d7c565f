"""Benchmark of the billing run spread over worker processes (issue 18): one month billed by chunk tasks
with 1, 2 and 4 Celery worker processes, from the same starting state each time, on PostgreSQL.

The data is the national year's generator (bench/national_data.py) with fewer episodes, in this script's
own database (default `igo_bench_scale`) and Redis database (default 12). Each measured run starts from the
state after the history (the month's lines, work items and checks undone, as bench/national.py does), starts
a worker with N prefork processes, enqueues one spread run per IGO (billing_run_spread: the plan and its
chunk tasks) and waits until every IGO's progress says the run ended. The books of every run must be those
of the first; the reference is the run in one task per IGO (billing_run, whole), also measured.

This script prints figures; it does not assert timings. It waits while bench/national.py runs (one measures
on a shared machine or not at all).

    .venv/bin/python bench/scaleout.py                       # load if needed, then measure
    .venv/bin/python bench/scaleout.py --fresh --episodes 36000 --tenants 4

See bench/README.md ("Scale-out") for the latest figures.
"""

from __future__ import annotations

if not __package__:  # run as `python bench/scaleout.py`: the project root is not on sys.path yet
    import common  # noqa: F401

import argparse
import hashlib
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    argument_parser,
    database_prepare,
    database_url,
    environment,
    in_child,
    machine_busy_s,
    rows,
    scalar,
    service_environment,
)

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/igo_bench_scale"
URL_VARIABLE = "BENCH_SCALE_DATABASE_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"  # bench/national.py uses 14, the test slots 4-7
REDIS_VARIABLE = "BENCH_SCALE_REDIS_URL"
STATE_DIR = Path(os.environ.get("BENCH_SCALE_STATE_DIR", "/tmp/svc_scaleout"))  # noqa: S108 - worker log only


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--episodes", type=int, default=36_000, help="episodes in the year (36000)")
    parser.add_argument("--tenants", type=int, default=4, help="IGOs (4)")
    parser.add_argument("--seed", type=int, default=20261206, help="random seed of the data")
    parser.add_argument("--processes", default="1,2,4", help="worker processes to measure with (1,2,4)")
    parser.add_argument("--chunk", type=int, default=0, help="episodes per chunk (default: the batch size)")
    parser.add_argument(
        "--skip-whole", action="store_true", help="skip the reference run in one task per IGO"
    )
    return parser.parse_args(argv)


def national_running() -> bool:
    """Whether bench/national.py runs on this machine (its figures and ours would both be wrong)."""
    found = subprocess.run(["pgrep", "-f", "bench/national.py"], capture_output=True, text=True)  # noqa: S607
    return bool(found.stdout.strip())


def wait_for_quiet_machine() -> None:
    waited = 0
    while national_running():
        if waited % 60 == 0:
            print(f"  bench/national.py is running: waiting ({waited} s so far) ...", flush=True)
        time.sleep(10)
        waited += 10


def start_worker(url: str, redis_url: str, processes: int, chunk: int) -> subprocess.Popen[bytes]:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    log_path = STATE_DIR / f"celery-{processes}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - kept open for the worker's life
    extra = {"REDIS_URL": redis_url}
    if chunk:
        extra["IGO_BILLING_CHUNK_SIZE"] = str(chunk)
    env = service_environment(url, **extra)
    command = [
        str(ROOT / ".venv" / "bin" / "celery"), "-A", "igo", "worker", "--pool", "prefork",
        "--concurrency", str(processes), "--loglevel", "info", "--hostname", f"bench-scale-{processes}@%h",
        "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"celery exited with code {proc.returncode}; see {log_path}")
        if b" ready." in log_path.read_bytes():
            return proc
        time.sleep(0.25)
    proc.terminate()
    sys.exit("the Celery worker was not ready within 90 s")


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def books_fingerprint(tenant_ids: list[int]) -> tuple[str, dict[str, int]]:
    """A digest of the books, without ids or moments: per episode its claim lines, their current
    allocations and its open work items."""
    lines = rows(
        "SELECT episode_id, phase, sign, amount::text, status, is_current, service_start, service_end, insurer_id, "
        "contract_id FROM billing_claimline WHERE tenant_id = ANY(%s) ORDER BY 1, 2, 3, 4, 5, 6, 7, 8",
        [tenant_ids],
    )
    allocations = rows(
        "SELECT l.episode_id, l.phase, l.sign, l.is_current, a.kind, a.organisation_id, a.amount::text "
        "FROM billing_allocation a JOIN billing_claimline l ON l.id = a.claim_line_id "
        "WHERE a.tenant_id = ANY(%s) AND a.is_current ORDER BY 1, 2, 3, 4, 5, 6, 7",
        [tenant_ids],
    )
    work = rows(
        "SELECT episode_id, reason, phase FROM billing_workitem WHERE tenant_id = ANY(%s) AND resolved_at IS NULL "
        "ORDER BY 1, 2, 3",
        [tenant_ids],
    )
    digest = hashlib.sha256(repr((lines, allocations, work)).encode()).hexdigest()[:16]
    return digest, {"lines": len(lines), "allocations": len(allocations), "work_items": len(work)}


def reset_month(first: Any) -> None:
    """Back to the state after the history: bench/national.py's reset, on this script's database."""
    from bench.national import reset_month as national_reset_month

    national_reset_month(first)


def measure(
    label: str, url: str, redis_url: str, processes: int, chunk: int, tenant_ids: list[int], first: Any
) -> dict[str, Any]:
    import redis
    from django.db import connections

    from billing import tasks as billing_tasks
    from billing.progress import run_progress

    wait_for_quiet_machine()
    reset_month(first)
    connections.close_all()
    redis.Redis.from_url(redis_url).flushdb()  # our own Redis database: no progress, no queue left
    worker = start_worker(url, redis_url, processes, chunk)
    try:
        time.sleep(1)
        load = os.getloadavg()
        busy0 = machine_busy_s()
        started = time.perf_counter()
        if label == "whole":
            pending = [billing_tasks.billing_run.apply_async(args=[t]) for t in tenant_ids]
            results = [r.get(timeout=3600) for r in pending]
            episodes, chunks = sum(r["episodes"] for r in results), 0
        else:
            pending = [billing_tasks.billing_run_spread.apply_async(args=[t]) for t in tenant_ids]
            plans = [r.get(timeout=600) for r in pending]
            while any(run_progress(tenant_id=t).running for t in tenant_ids):
                time.sleep(0.05)
            episodes, chunks = sum(p["episodes"] for p in plans), sum(p["chunks"] for p in plans)
            done = sum(run_progress(tenant_id=t).done for t in tenant_ids)
            if done != episodes:
                print(f"  progress counted {done:,} of {episodes:,} episodes", flush=True)
        wall = time.perf_counter() - started
        busy = machine_busy_s() - busy0
        disturbed = national_running()  # started while this run was measured: its figure means little
    finally:
        stop_worker(worker)
    digest, sizes = books_fingerprint(tenant_ids)
    figures = {
        "label": label,
        "processes": processes,
        "wall": wall,
        "episodes": episodes,
        "chunks": chunks,
        "load": load,
        "cpu_machine": busy,
        "books": digest,
        "disturbed": disturbed,
        **sizes,
    }
    print(
        f"  {label:>6} x{processes}: {wall:6.2f} s for {episodes:,} episodes in {chunks} chunks; machine CPU "
        f"{busy:.1f} s; load before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; books {digest} "
        f"({sizes['lines']:,} lines, {sizes['allocations']:,} allocations, {sizes['work_items']:,} open work items)"
        + ("; DISTURBED: bench/national.py started meanwhile" if disturbed else ""),
        flush=True,
    )
    return figures


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    url = database_url(URL_VARIABLE, DEFAULT_DATABASE_URL, script="bench/scaleout.py", why="--fresh drops it")
    redis_url = os.environ.get(REDIS_VARIABLE) or DEFAULT_REDIS_URL
    os.environ["REDIS_URL"] = redis_url  # this process enqueues, reads the results and the progress there
    wait_for_quiet_machine()
    database_prepare(url, fresh=args.fresh)
    from django.utils import timezone

    from bench import national_data
    from bench.national import bill_history, tenants

    today = timezone.localdate()
    snapshot_day = today.replace(day=1)
    first = (snapshot_day - timedelta(days=1)).replace(day=1)  # the measured month

    found = tenants()
    if not found:
        print(f"Generating {args.episodes:,} episodes in {args.tenants} IGOs ...", flush=True)
        in_child(
            lambda: national_data.load(
                episodes=args.episodes, tenants=args.tenants, seed=args.seed, snapshot_day=snapshot_day
            )
        )
        found = tenants()
    tenant_ids = [x[0] for x in found]
    print(f"IGOs: {len(found)} ({', '.join(f'{x[2]:,}' for x in found)} episodes)", flush=True)
    if not scalar("SELECT count(*) FROM billing_claimline"):
        print("Billing the history (every phase that ended before the measured month) ...", flush=True)
        wait_for_quiet_machine()
        bill_history(tenant_ids, first)

    measured: list[dict[str, Any]] = []
    if not args.skip_whole:
        measured.append(measure("whole", url, redis_url, 1, args.chunk, tenant_ids, first))
    for processes in [int(p) for p in args.processes.split(",")]:
        measured.append(measure("chunks", url, redis_url, processes, args.chunk, tenant_ids, first))

    base = next(m for m in measured if m["label"] == "chunks")
    same = all(m["books"] == measured[0]["books"] for m in measured)
    print(f"\n### Scale-out: {first:%B %Y} billed by chunk tasks ({base['chunks']} chunks)\n")
    print(
        "| run | worker processes | wall s | speed-up vs 1 process | machine CPU s | load (1/5/15 min) before | books |"
    )
    print("|---|---:|---:|---:|---:|---|---|")
    for m in measured:
        speed = f"{base['wall'] / m['wall']:.2f}×" if m["label"] == "chunks" else ""
        load = " / ".join(f"{x:.2f}" for x in m["load"])
        print(
            f"| {'one task per IGO' if m['label'] == 'whole' else 'chunks'} | {m['processes']} | {m['wall']:.2f} | "
            f"{speed} | {m['cpu_machine']:.1f} | {load} | {m['books']} |"
            + (" disturbed by bench/national.py |" if m["disturbed"] else "")
        )
    print(
        f"\nBooks identical in every run: {'yes' if same else 'NO'} ({measured[0]['lines']:,} claim lines, "
        f"{measured[0]['allocations']:,} current allocations, {measured[0]['work_items']:,} open work items)."
    )
    print(f"CPUs: {os.cpu_count()}; usable: {len(os.sched_getaffinity(0))}; load now: {os.getloadavg()}")
    for k, v in environment(url).items():
        print(f"{k}: {v}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
