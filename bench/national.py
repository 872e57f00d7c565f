"""Benchmark of a national year: the monthly billing pipeline through a real Celery worker, on PostgreSQL.

Issue 7: a dataset generator for a realistic national year (10 IGOs, ~165,000 episodes, ~35 events each with
a long tail, contracts per insurer) loaded with bulk inserts (COPY), and figures for the monthly roll-up +
split + batch pipeline with the raw-SQL lower bounds and the ratios, the worker's peak memory, the daily
re-check, and the insurer API download of the month's batches.

This script prints figures; it does not assert timings. It uses its own database (default
`igo_bench_national`) and Redis database (default 14), creates, migrates and loads the database when needed
and reuses it afterwards.

    .venv/bin/python bench/national.py                      # load if needed, bill the history, measure
    .venv/bin/python bench/national.py --fresh --episodes 20000   # a small year, from scratch

See bench/README.md ("National year") for what is measured and the latest figures.
"""

from __future__ import annotations

if not __package__:  # run as `python bench/national.py`: the project root is not on sys.path yet
    import common  # noqa: F401

import argparse
import concurrent.futures
import contextlib
import hashlib
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.billing_run import books_ok, print_run, profile_tenant, run_pipeline, verify
from bench.care_logging import aware
from bench.common import (
    BATCH_TABLES,
    ROOT,
    argument_parser,
    cursor,
    database_prepare,
    database_url,
    environment,
    fetch,
    in_child,
    machine_busy_s,
    maxrss_kb,
    own_cpu_s,
    percentile,
    process_cpu_s,
    rows,
    scalar,
    service_environment,
    start_server,
    status_kb,
)

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/igo_bench_national"
URL_VARIABLE = "BENCH_NATIONAL_DATABASE_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
REDIS_VARIABLE = "BENCH_NATIONAL_REDIS_URL"
STATE_DIR = Path(os.environ.get("BENCH_NATIONAL_STATE_DIR", "/tmp/svc_national"))  # noqa: S108 - worker log only


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--episodes", type=int, default=165_000, help="episodes in the year (165000)")
    parser.add_argument("--tenants", type=int, default=10, help="IGOs (10)")
    parser.add_argument("--seed", type=int, default=20261123, help="random seed of the data")
    parser.add_argument("--skip-load", action="store_true", help="never generate: stop if there is no data")
    parser.add_argument("--skip-batches", action="store_true", help="skip batches_create (and the HTTP part)")
    parser.add_argument("--skip-http", action="store_true", help="skip the insurer API download")
    parser.add_argument("--skip-bound", action="store_true", help="skip the raw-SQL bounds")
    parser.add_argument("--skip-recheck", action="store_true", help="skip the next-day re-check")
    parser.add_argument(
        "--profile", action="store_true", help="at the end: cProfile the month's run of the largest IGO"
    )
    parser.add_argument("--port", type=int, default=8720, help="port of the gunicorn of the HTTP part (8720)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the download (3)")
    return parser.parse_args(argv)


def md_table(headers: list[str], body: list[list[Any]]) -> str:
    align = ["---:" if i else "---" for i in range(len(headers))]
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(out)


def n(x: float) -> str:
    return f"{x:,.0f}"


# --- processes: the Celery worker and what it uses ------------------------------------------------


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def postgres_backends(dbname: str) -> list[int]:
    """PostgreSQL backends connected to our database (the process title names it)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                title = fh.read(200)
        except OSError:
            continue
        if title.startswith(b"postgres: ") and f" {dbname} ".encode() in title:
            out.append(int(entry))
    return out


class Sampler(threading.Thread):
    """Every 0.25 s: RSS and high-water mark of the worker's processes, CPU of them and of the PostgreSQL
    backends of our database (a backend that ends keeps its last sampled CPU)."""

    def __init__(self, worker_pid: int, dbname: str):
        super().__init__(daemon=True)
        self.worker_pid, self.dbname = worker_pid, dbname
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.cpu: dict[int, float] = {}  # pid -> last CPU seconds
        self.kind: dict[int, str] = {}  # pid -> "worker main" / "pool child" / "postgres"
        self.rss_max: dict[int, int] = defaultdict(int)
        self.hwm: dict[int, int] = {}

    def sample(self) -> None:
        pool = children(self.worker_pid)
        pids = [(self.worker_pid, "worker main")] + [(p, "pool child") for p in pool]
        pids += [(p, "postgres") for p in postgres_backends(self.dbname)]
        with self.lock:
            for pid, kind in pids:
                cpu = process_cpu_s(pid)
                if cpu or pid not in self.cpu:
                    self.cpu[pid] = cpu
                self.kind[pid] = kind
                if kind != "postgres":
                    st = status_kb(pid)
                    if st:
                        self.rss_max[pid] = max(self.rss_max[pid], st.get("VmRSS", 0))
                        self.hwm[pid] = st.get("VmHWM", 0)

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            time.sleep(0.25)

    def mark(self) -> dict[int, float]:
        self.sample()
        with self.lock:
            return dict(self.cpu)

    def used(self, mark: dict[int, float]) -> dict[str, float]:
        self.sample()
        out: dict[str, float] = defaultdict(float)
        with self.lock:
            for pid, cpu in self.cpu.items():
                out[self.kind[pid]] += max(0.0, cpu - mark.get(pid, 0.0))
        return out


def start_worker(url: str, redis_url: str) -> subprocess.Popen[bytes]:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    log = open(STATE_DIR / "celery.log", "wb")  # noqa: SIM115 - kept open for the worker's life
    env = service_environment(url, REDIS_URL=redis_url)
    command = [
        str(ROOT / ".venv" / "bin" / "celery"), "-A", "igo", "worker", "--pool", "prefork", "--concurrency", "2",
        "--loglevel", "info", "--hostname", "bench-national@%h", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"celery exited with code {proc.returncode}; see {STATE_DIR / 'celery.log'}")
        if b" ready." in (STATE_DIR / "celery.log").read_bytes():
            return proc
        time.sleep(0.25)
    proc.terminate()
    sys.exit("the Celery worker was not ready within 90 s")


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()  # warm shutdown
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def through_celery(label: str, sampler: Sampler, calls: list[tuple[Any, tuple[Any, ...]]]) -> dict[str, Any]:
    """Enqueue the calls, wait for every result; wall time from the first enqueue to the last result."""
    mark = sampler.mark()
    busy0, self0 = machine_busy_s(), own_cpu_s()
    load = os.getloadavg()[0]
    started = time.perf_counter()
    pending = [task.apply_async(args=args) for task, args in calls]
    results = [r.get(timeout=3600, propagate=True) for r in pending]
    wall = time.perf_counter() - started
    used = sampler.used(mark)
    busy = machine_busy_s() - busy0
    mine = own_cpu_s() - self0
    workers = used["worker main"] + used["pool child"]
    return {
        "label": label,
        "wall": wall,
        "results": results,
        "cpu_worker": workers,
        "cpu_pg": used["postgres"],
        "cpu_self": mine,
        "cpu_machine": busy,
        "cpu_others": max(0.0, busy - workers - used["postgres"] - mine),
        "load_before": load,
    }


# --- state of the billing tables ----------------------------------------------------------------


def tenants() -> list[tuple[int, str, int]]:
    from bench.national_data import SLUG_PREFIX

    return rows(
        "SELECT t.id, t.slug, count(e.id) FROM igo_tenant t LEFT JOIN pregnancies_episode e ON e.tenant_id = t.id "
        "WHERE t.slug LIKE %s GROUP BY t.id, t.slug ORDER BY t.id",
        [SLUG_PREFIX + "%"],
    )


def counts() -> dict[str, int]:
    return dict(
        zip(
            ["lines", "allocations", "states", "work_items", "batches"],
            rows(
                "SELECT (SELECT count(*) FROM billing_claimline), (SELECT count(*) FROM billing_allocation), "
                "(SELECT count(*) FROM billing_episodebillingstate), "
                "(SELECT count(*) FROM billing_workitem WHERE resolved_at IS NULL), "
                "(SELECT count(*) FROM billing_claimbatch)"
            )[0],
            strict=True,
        )
    )


def history_checked_at(first: date) -> datetime:
    """When the last run before the measured month is taken to have checked every episode."""
    return aware(first - timedelta(days=1), dtime(23, 55))


def bill_history(tenant_ids: list[int], first: date) -> dict[str, Any]:
    """The months before the measured one, as an installation would have them: every phase that ended
    before the month billed and split (the real billing_run, as of the last day before the month, in two
    forked processes), the lines dated back to the evening their phase ended and marked sent (their batches
    released; no batch rows are made for them), the last check of every episode at the end of that day."""
    # An installation bills each phase within weeks of its end; this one catch-up run would find the
    # phases that ended more than a submission term before it past their deadline (a work item, no line).
    # So it runs with the terms lengthened by a year, and puts them back after.
    with cursor() as cur:
        cur.execute("UPDATE billing_contract SET submission_months = submission_months + 12")
    try:
        run = run_pipeline(
            "History: billing_run as of " + str(first - timedelta(days=1)),
            tenant_ids,
            first - timedelta(days=1),
            2,
        )
    finally:
        with cursor() as cur:
            cur.execute("UPDATE billing_contract SET submission_months = submission_months - 12")
    started = time.perf_counter()
    with cursor() as cur:
        cur.execute(
            "UPDATE billing_claimline SET created_at = (service_end + time '20:00') AT TIME ZONE 'Europe/Amsterdam', "
            "status = 'sent', sent_at = (date_trunc('month', service_end) + interval '1 month' + interval '10 hours') "
            "AT TIME ZONE 'Europe/Amsterdam' WHERE service_end < %s",
            [first],
        )
        cur.execute(
            "UPDATE billing_episodebillingstate SET checked_at = %s, checked_for = %s",
            [history_checked_at(first), first - timedelta(days=1)],
        )
        cur.execute("VACUUM ANALYZE billing_claimline")
        cur.execute("VACUUM ANALYZE billing_allocation")
        cur.execute("VACUUM ANALYZE billing_episodebillingstate")
    return {"run": run, "fixup_s": time.perf_counter() - started}


def reset_month(first: date) -> None:
    """Back to the state after the history: no batches, no lines of the month, every episode last checked
    at the end of the day before the month (so every run of the script measures the same work)."""
    with cursor() as cur:
        # Work items (a held line's reason) and insurer payments refer to batches; all of them go.
        cur.execute("TRUNCATE " + ", ".join(["billing_workitem", "billing_insurerpayment", *BATCH_TABLES]))
        cur.execute(
            "DELETE FROM billing_allocation WHERE claim_line_id IN "
            "(SELECT id FROM billing_claimline WHERE service_end >= %s OR created_at >= %s)",
            [first, aware(first)],
        )
        cur.execute(
            "UPDATE billing_allocation SET is_current = true, superseded_at = NULL WHERE superseded_at IS NOT NULL"
        )
        cur.execute(
            "DELETE FROM billing_claimline WHERE service_end >= %s OR created_at >= %s", [first, aware(first)]
        )
        cur.execute("UPDATE billing_claimline SET is_current = true WHERE NOT is_current AND sign = 'debit'")
        cur.execute("DELETE FROM billing_workitem")
        cur.execute(
            "UPDATE billing_episodebillingstate SET checked_at = %s, checked_for = %s",
            [history_checked_at(first), first - timedelta(days=1)],
        )
        cur.execute("VACUUM ANALYZE billing_claimline")
        cur.execute("VACUUM ANALYZE billing_allocation")
        cur.execute("VACUUM ANALYZE billing_episodebillingstate")


def candidates(tenant_ids: list[int], today: date) -> int:
    from billing import services
    from igo.models import Tenant
    from igo.tenancy import tenant_scope

    total = 0
    for tenant in Tenant.objects.filter(pk__in=tenant_ids):
        with tenant_scope(tenant):
            total += services.run._candidates(today).count()
    return total


def insurer_check(tenant_ids: list[int]) -> int:
    """Current debit lines whose insurer is not the one on file on the first day of the phase."""
    return scalar(
        "SELECT count(*) FROM billing_claimline l JOIN pregnancies_episode e ON e.id = l.episode_id "
        "WHERE l.tenant_id = ANY(%s) AND l.is_current AND l.sign = 'debit' AND NOT EXISTS ("
        "SELECT 1 FROM pregnancies_clientinsurance i WHERE i.client_id = e.client_id AND i.insurer_id = l.insurer_id "
        "AND i.valid_from <= l.service_start AND (i.valid_until IS NULL OR i.valid_until >= l.service_start))",
        [tenant_ids],
    )


def books(tenant_ids: list[int], label: str, period: date) -> dict[str, Any]:
    v: dict[str, Any] = dict(verify(tenant_ids))
    v["wrong_insurer"] = insurer_check(tenant_ids)
    # bench/billing_run.py's books_ok also demands that every client who changed insurer has an episode billed
    # to both; here most changes fall outside an episode's phases, so that last test is replaced by the
    # check that every line goes to the insurer on file at the start of its phase.
    ok = books_ok({**v, "episodes_two_insurers": v["clients_changing_insurer"]}) and not v["wrong_insurer"]
    v["ok"] = ok
    with contextlib.suppress(ImportError):
        from billing import reconcile  # another part of issue 7; used when it exists

        if hasattr(reconcile, "books_check"):
            v["books_check"] = _books_check(reconcile, period)
    print(
        f"Books {label}: {'OK' if ok else 'WRONG'} - {v['current_debit_lines']:,} current debit lines for "
        f"{v['ended_phases']:,} ended phases, {v['duplicates']} duplicates, {v['allocation_mismatches']} "
        f"allocation mismatches, {v['negative_member_allocations']} negative member allocations, "
        f"{v['open_work_items']} open work items, {v['lines_at_50pct']:,} lines at 50% for "
        f"{v['miscarriages_before_16w']:,} miscarriages before 16 weeks, {v['wrong_insurer']} lines to the "
        f"wrong insurer; EUR {v['claimed_euro']:,} claimed"
        + (f"; books_check: {v['books_check']}" if "books_check" in v else "")
    )
    return v


def _books_check(reconcile: Any, period: date) -> str:
    """billing.reconcile.books_check of all IGOs for the month: its problems by kind, and its time."""
    from collections import Counter

    started = time.perf_counter()
    report = reconcile.books_check(period=period)
    spent = time.perf_counter() - started
    kinds = Counter(p.kind for p in report.problems)
    verdict = "OK" if not kinds else f"problems {dict(kinds)}"
    return (
        f"{verdict} ({report.ended_phases:,} ended phases, {report.claimed_phases:,} claimed, "
        f"{report.batches} batches; {spent:.1f} s)"
    )


# --- the insurer download -------------------------------------------------------------------------


def measure_http(url: str, period: date, port: int, rounds: int) -> dict[str, Any]:
    import json

    from django.db import connections
    from django.db.models import Sum

    from billing.models import BatchFile, ClaimBatch
    from igo import services
    from igo.models import Insurer, InsurerMembership, User

    top = (
        ClaimBatch.unscoped.filter(period=period)
        .values("insurer_id")
        .annotate(n_lines=Sum("line_count"))
        .order_by("-n_lines")
    )[0]
    insurer = Insurer.objects.get(pk=top["insurer_id"])
    user, _ = User.objects.get_or_create(email="claims@bench-national.invalid")
    InsurerMembership.objects.get_or_create(user=user, insurer=insurer)
    _token, key = services.insurer_token_create(user=user, insurer=insurer, name="bench national", days=1)
    stored = {
        (f.batch_id, f.kind): (f.sha256, f.size if hasattr(f, "size") else None)
        for f in BatchFile.unscoped.filter(batch__period=period, batch__insurer=insurer)
    }
    headers = {"Authorization": f"Bearer {key}"}
    connections.close_all()
    server = start_server(url, port, 2)
    out: dict[str, Any] = {"insurer": f"{insurer.name} ({insurer.uzovi_code})"}
    try:
        for _ in range(4):  # warm-up: both workers load the API and its templates
            fetch(port, f"/api/insurer/batches/?period={period:%Y-%m}", headers)
        list_times: list[float] = []
        batches: list[dict[str, Any]] = []
        path: str | None = f"/api/insurer/batches/?period={period:%Y-%m}"
        pages = 0
        while path:
            _first, total, status, body, _h = fetch(port, path, headers)
            if status != 200:
                sys.exit(f"GET {path} answered {status}: {body[:300]!r}")
            list_times.append(total)
            page = json.loads(body)
            pages += 1
            batches += page["results"]
            nxt = page.get("next")
            path = (urlsplit(nxt).path + "?" + urlsplit(nxt).query) if nxt else None
        files = [(b["id"], f["kind"], f["url"]) for b in batches for f in b["files"]]
        out |= {"batches": len(batches), "igos": len({b["igo"]["agb_code"] for b in batches}),
                "pages": pages, "list_s": sum(list_times), "files": len(files)}  # fmt: skip

        def one(item: tuple[int, str, str]) -> tuple[float, int, bool]:
            batch_id, kind, file_url = item
            _first, total, status, body, _h = fetch(port, file_url, headers)
            ok = status == 200 and hashlib.sha256(body).hexdigest() == stored[(batch_id, kind)][0]
            return total, len(body), ok

        for mode, parallel in (("sequential", 1), ("4 parallel connections", 4)):
            walls, per, nbytes, good = [], [], 0, 0
            for _ in range(rounds):
                started = time.perf_counter()
                with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
                    got = list(pool.map(one, files))
                walls.append(time.perf_counter() - started)
                per += [g[0] for g in got]
                nbytes = sum(g[1] for g in got)
                good += sum(g[2] for g in got)
            out[mode] = {"walls": walls, "per": per, "bytes": nbytes, "verified": good, "requests": len(per)}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    return out


# --- main ---------------------------------------------------------------------------------------


def data_summary(tenant_ids: list[int], snapshot_day: date) -> dict[str, Any]:
    t = [tenant_ids]
    s: dict[str, Any] = {}
    s["tables"] = {
        name: scalar(f"SELECT count(*) FROM {table} WHERE tenant_id = ANY(%s)", t)  # noqa: S608
        for name, table in [
            ("clients", "pregnancies_client"),
            ("insurances", "pregnancies_clientinsurance"),
            ("episodes", "pregnancies_episode"),
            ("line transfers", "pregnancies_linetransfer"),
            ("births", "pregnancies_birth"),
            ("care events", "pregnancies_careevent"),
            ("professionals", "providers_professional"),
            ("contracts", "billing_contract"),
            ("split rules", "billing_splitrule"),
        ]
    }
    s["end_reasons"] = rows(
        "SELECT coalesce(nullif(end_reason, ''), 'active: ' || CASE WHEN placenta_plus_2h_at IS NOT NULL "
        "THEN 'postnatal' ELSE 'prenatal' END), count(*) FROM pregnancies_episode WHERE tenant_id = ANY(%s) "
        "GROUP BY 1 ORDER BY 2 DESC",
        t,
    )
    s["misc_before_16"] = scalar(
        "SELECT count(*) FROM pregnancies_episode WHERE tenant_id = ANY(%s) AND end_reason = 'miscarriage' "
        "AND (gestational_age_at_intake + (end_date - intake_date)) / 7 < 16",
        t,
    )
    s["second_line"] = scalar(
        "SELECT count(DISTINCT episode_id) FROM pregnancies_linetransfer WHERE tenant_id = ANY(%s) AND line = 'second'",
        t,
    )
    s["switchers"] = scalar(
        "SELECT count(*) FROM (SELECT client_id FROM pregnancies_clientinsurance WHERE tenant_id = ANY(%s) "
        "GROUP BY client_id HAVING count(*) > 1) x",
        t,
    )
    per = [r[0] for r in rows(
        "SELECT count(*) FROM pregnancies_careevent WHERE tenant_id = ANY(%s) GROUP BY episode_id ORDER BY 1", t
    )]  # fmt: skip
    s["events"] = {"mean": sum(per) / len(per), "median": percentile(per, 50), "p90": percentile(per, 90),
                   "p99": percentile(per, 99), "max": per[-1], "100+": sum(1 for x in per if x >= 100)}  # fmt: skip
    s["voided"] = scalar(
        "SELECT count(*) FROM pregnancies_careevent WHERE tenant_id = ANY(%s) AND status = 'voided'", t
    )
    # Stages on one day in the middle of the year: pregnancies in every stage at any moment.
    mid = snapshot_day - timedelta(days=182)
    s["stages_mid"] = (mid, rows(
        """SELECT CASE WHEN labour_started_at IS NULL OR labour_started_at::date > %(d)s THEN 'prenatal'
                       ELSE 'postnatal' END, count(*)
           FROM pregnancies_episode WHERE tenant_id = ANY(%(t)s) AND intake_date <= %(d)s
             AND (end_date IS NULL OR end_date > %(d)s) GROUP BY 1 ORDER BY 1""",
        {"d": mid, "t": tenant_ids},
    ))  # fmt: skip
    s["db_size"] = scalar("SELECT pg_size_pretty(pg_database_size(current_database()))")
    return s


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    url = database_url(URL_VARIABLE, DEFAULT_DATABASE_URL, script="bench/national.py", why="--fresh drops it")
    redis_url = os.environ.get(REDIS_VARIABLE) or DEFAULT_REDIS_URL
    os.environ["REDIS_URL"] = redis_url  # this process enqueues and reads the results there
    database_prepare(url, fresh=args.fresh)
    from django.db import connections
    from django.utils import timezone

    from bench import national_data, national_sql

    dbname = urlsplit(url).path.lstrip("/")
    today = timezone.localdate()
    snapshot_day = today.replace(day=1)  # the year ends the day before
    first = (snapshot_day - timedelta(days=1)).replace(day=1)  # the measured month
    last = snapshot_day - timedelta(days=1)

    found = tenants()
    load_figures: dict[str, Any] = {}
    if not found:
        if args.skip_load:
            sys.exit("No benchmark data and --skip-load given.")
        print(
            f"Generating {args.episodes:,} episodes in {args.tenants} IGOs, the year ending {last} ...",
            flush=True,
        )
        load_figures = in_child(
            lambda: national_data.load(
                episodes=args.episodes, tenants=args.tenants, seed=args.seed, snapshot_day=snapshot_day
            )
        )
        found = tenants()
    else:
        print("Benchmark data found: generation skipped (--fresh to rebuild).")
    tenant_ids = [x[0] for x in found]
    sizes = {x[0]: x[2] for x in found}
    env = environment(url)
    report: list[str] = []

    if load_figures:
        lf = load_figures
        body = [[k, n(v), f"{lf['seconds'].get(k, 0):.1f}", n(v / lf["seconds"][k]) if lf["seconds"].get(k) else ""]
                for k, v in lf["rows"].items()]  # fmt: skip
        body += [[k, "", f"{v:.1f}", ""] for k, v in lf["seconds"].items() if k not in lf["rows"]]
        body.append(["**total**", n(sum(lf["rows"].values())), f"**{lf['load_s']:.1f}**",
                     n(sum(lf["rows"].values()) / lf["load_s"])])  # fmt: skip
        body.append(["VACUUM ANALYZE + CHECKPOINT", "", f"{lf['analyze_s']:.1f}", ""])
        children_text = "; ".join(
            f"process {i + 1}: {c[0]:,} events in {c[1]:.1f} s ({c[2]:.1f} s building rows in Python)"
            for i, c in enumerate(lf["event_children"])
        )
        report.append(
            "### Load\n\n" + md_table(["table", "rows", "seconds", "rows/s"], body)
            + f"\n\nCare events: {children_text}; "
            + (f"foreign keys checked set-based after the load (session_replication_role = replica during the COPY): "
               f"{lf['fk_checked']}" if lf["fk_checked"] else "foreign keys checked per row")
            + f". Loader peak RSS {lf['maxrss_kb'] / 1024:.0f} MB. "
            f"Episodes by story: {lf['kinds']}; {lf['switched']:,} clients changed insurer on 1 January."
        )  # fmt: skip
        print(report[-1], flush=True)

    s = data_summary(tenant_ids, snapshot_day)
    report.append(
        "### Data\n\n"
        + md_table(["table", "rows"], [[k, n(v)] for k, v in s["tables"].items()])
        + f"\n\nIGOs: {len(found)} ({', '.join(n(x[2]) for x in found)} episodes). Database {s['db_size']}.\n"
        + f"End reasons / state at the end of {last:%B %Y}: "
        + ", ".join(f"{r}: {c:,}" for r, c in s["end_reasons"])
        + f"; miscarriages before 16 weeks {s['misc_before_16']:,}; episodes with a transfer to the second line "
        f"{s['second_line']:,}; clients with an insurer change on 1 January {s['switchers']:,}.\n"
        f"Care events per episode: mean {s['events']['mean']:.1f}, median {s['events']['median']}, p90 "
        f"{s['events']['p90']}, p99 {s['events']['p99']}, max {s['events']['max']}, {s['events']['100+']:,} "
        f"episodes with 100+; {s['voided']:,} voided.\n"
        f"In care on {s['stages_mid'][0]}: " + ", ".join(f"{k} {v:,}" for k, v in s["stages_mid"][1])
    )
    print(report[-1], flush=True)

    # --- history
    history: dict[str, Any] = {}
    if not scalar("SELECT count(*) FROM billing_claimline"):
        print("\nBilling the history (every phase that ended before the measured month) ...", flush=True)
        history = bill_history(tenant_ids, first)
        print_run(history["run"], sum(sizes.values()))
    else:
        reset_month(first)
        print("\nHistory found: the month's lines, batches and checks were reset to the state after it.")
    before = counts()

    # --- bounds (on the state after the history, as the pipeline sees it)
    recheck_day = today  # the worker runs with the real date; the data ends the day before the 1st
    midnight = aware(today)
    from billing.services.run import _WAITING_REASONS

    bound_a = bound_b = None
    groups: list[list[int]] = [[], []]
    load_of = [0, 0]
    for tid in sorted(tenant_ids, key=lambda x: -sizes[x]):
        i = load_of.index(min(load_of))
        groups[i].append(tid)
        load_of[i] += sizes[tid]
    if not args.skip_bound:
        print("\nRaw-SQL bounds ...", flush=True)
        bound_a = national_sql.read_bound(url, tenant_ids, first, last)
        bound_b = national_sql.write_bound(
            url, groups, first, last, midnight, [str(r) for r in _WAITING_REASONS]
        )
        print(
            f"  (a) read-only aggregate: best {bound_a['best_s']:.2f} s of {[round(x, 2) for x in bound_a['times']]}"
        )
        print(f"  (b) write-inclusive: best {bound_b['best_s']:.2f} s of {[round(x, 2) for x in bound_b['times']]}; "
              f"{bound_b['lines']:,} lines, {bound_b['allocations']:,} allocations, {bound_b['states']:,} states, "
              f"{bound_b['mismatches']} lines whose allocations do not sum; steps "
              f"{[{k: round(v, 2) for k, v in p['steps'].items()} for p in bound_b['parts']]}")  # fmt: skip

    # --- the pipeline through Celery
    from billing import tasks as billing_tasks

    connections.close_all()
    n_candidates = candidates(tenant_ids, today)
    print(f"\nStarting the Celery worker (prefork, concurrency 2, {redis_url}) ...", flush=True)
    worker = start_worker(url, redis_url)
    sampler = Sampler(worker.pid, dbname)
    sampler.start()
    runs: list[dict[str, Any]] = []
    try:
        time.sleep(1)
        run = through_celery(
            "billing_run, 10 IGOs", sampler, [(billing_tasks.billing_run, (tid,)) for tid in tenant_ids]
        )
        run["candidates"] = n_candidates
        after = counts()
        run["lines"] = after["lines"] - before["lines"]
        run["allocations"] = after["allocations"] - before["allocations"]
        run["states"] = n_candidates
        run["episodes"] = sum(r["episodes"] for r in run["results"])
        run["new_lines"] = scalar(
            "SELECT count(DISTINCT episode_id) FROM billing_claimline WHERE created_at >= %s",
            [aware(snapshot_day)],
        )
        runs.append(run)
        print(f"  billing_run: {run['wall']:.1f} s wall; {run['episodes']:,} episodes checked "
              f"({run['new_lines']:,} with new lines), {run['lines']:,} lines, {run['allocations']:,} allocations; "
              f"CPU worker {run['cpu_worker']:.1f} s, PostgreSQL {run['cpu_pg']:.1f} s, others {run['cpu_others']:.1f} s",
              flush=True)  # fmt: skip
        month_books = books(tenant_ids, "after the month's run", first)
        # The month's lines were made by the sweeps during the month: date them to the evening their phase
        # ended, so the month's batches take them (the batch takes lines made before the 1st).
        with cursor() as cur:
            cur.execute(
                "UPDATE billing_claimline SET created_at = (service_end + time '20:00') AT TIME ZONE "
                "'Europe/Amsterdam' WHERE created_at >= %s",
                [aware(snapshot_day)],
            )
            cur.execute("ANALYZE billing_claimline")
        batch_run = None
        if not args.skip_batches:
            connections.close_all()
            batch_run = through_celery(
                "batches_create, 10 IGOs", sampler,
                [(billing_tasks.batches_create, (tid, first.isoformat())) for tid in tenant_ids],
            )  # fmt: skip
            b = rows(
                "SELECT count(*), coalesce(sum(line_count), 0), coalesce(sum(total), 0) FROM billing_claimbatch "
                "WHERE period = %s",
                [first],
            )[0]
            f = rows(
                "SELECT kind, count(*), sum(length(content)), max(length(content)) FROM billing_batchfile GROUP BY kind"
            )
            batch_run |= {
                "batches": b[0],
                "lines": b[1],
                "total": b[2],
                "files": {k: (c, s_, m) for k, c, s_, m in f},
            }
            runs.append(batch_run)
            print(
                f"  batches_create: {batch_run['wall']:.1f} s wall; {b[0]} batches, {b[1]:,} lines",
                flush=True,
            )
        recheck = None
        if not args.skip_recheck:
            with cursor() as cur:  # the next day: every check was yesterday
                cur.execute(
                    "UPDATE billing_episodebillingstate SET checked_at = checked_at - interval '1 day', "
                    "checked_for = checked_for - 1"
                )
            connections.close_all()
            recheck_candidates = candidates(tenant_ids, recheck_day)
            recheck = through_celery(
                "next day's first billing_run (re-check)", sampler,
                [(billing_tasks.billing_run, (tid,)) for tid in tenant_ids],
            )  # fmt: skip
            recheck["candidates"] = recheck_candidates
            recheck["episodes"] = sum(r["episodes"] for r in recheck["results"])
            recheck["lines"] = sum(r["lines_created"] + r["lines_replaced"] for r in recheck["results"])
            runs.append(recheck)
            print(f"  re-check: {recheck['wall']:.1f} s wall; {recheck['episodes']:,} episodes", flush=True)
            books(tenant_ids, "after the re-check", first)
    finally:
        sampler.sample()
        sampler.stop.set()
        hwm = {pid: (sampler.kind[pid], sampler.hwm.get(pid, 0), sampler.rss_max.get(pid, 0))
               for pid in sampler.kind if sampler.kind[pid] != "postgres"}  # fmt: skip
        stop_worker(worker)

    # --- release and download
    http = None
    if batch_run and not args.skip_http:
        from billing.models import ClaimBatch
        from billing.services.batches import batch_release
        from igo.models import User
        from igo.tenancy import tenant_scope

        started = time.perf_counter()
        for batch in ClaimBatch.unscoped.filter(period=first, status="draft").select_related("tenant"):
            actor = User.objects.get(email=f"finance-{batch.tenant.slug[-2:]}@bench-national.invalid")
            with tenant_scope(batch.tenant):
                batch_release(batch=batch, actor=actor)
        release_s = time.perf_counter() - started
        print(f"\nReleased the month's batches in {release_s:.1f} s; downloading ...", flush=True)
        http = measure_http(url, first, args.port, args.rounds)
        http["release_s"] = release_s

    # --- report
    print("\n" + "=" * 100)
    print(f"National year: {sum(sizes.values()):,} episodes in {len(found)} IGOs; measured month {first:%Y-%m}; "
          f"run on {today} (the data ends on {last})")  # fmt: skip
    for k, v in env.items():
        print(f"{k}: {v}")
    for part in report:
        print("\n" + part)
    if history:
        h = history["run"]
        print(f"\n### History\n\nbilling_run as of {first - timedelta(days=1)} in 2 forked processes: {h.wall_s:.1f} s, "
              f"{h.total('episodes'):,} episodes, {h.lines:,} lines, {h.allocations:,} allocations "
              f"(then dated back and marked sent in {history['fixup_s']:.1f} s).")  # fmt: skip

    body = []
    for r in runs:
        extra = ""
        if "allocations" in r:
            extra = f"{r['episodes']:,} episodes ({r['new_lines']:,} with new lines), {r['lines']:,} lines, {r['allocations']:,} allocations"
        elif "batches" in r:
            extra = f"{r['batches']} batches, {r['lines']:,} lines, EUR {r['total']:,.2f}"
        else:
            extra = f"{r['candidates']:,} candidates, {r['episodes']:,} episodes checked, {r['lines']} lines changed"
        body.append([r["label"], f"**{r['wall']:.1f}**", extra, f"{r['cpu_worker']:.1f}", f"{r['cpu_pg']:.1f}",
                     f"{r['cpu_others']:.1f}", f"{r['load_before']:.2f}"])  # fmt: skip
    print("\n### Pipeline (Celery worker, prefork, concurrency 2)\n")
    print(
        md_table(
            ["step", "wall s", "work", "CPU s worker", "CPU s PostgreSQL", "CPU s others", "load before"],
            body,
        )
    )
    if batch_run:
        files = batch_run["files"]
        print("\n" + md_table(
            ["file", "count", "total MB", "largest MB"],
            [[k, c, f"{s_ / 1e6:.1f}", f"{m / 1e6:.2f}"] for k, (c, s_, m) in sorted(files.items())],
        ))  # fmt: skip
    print("\n### Worker memory (VmHWM at the end, max VmRSS sampled)\n")
    print(md_table(["process", "pid", "VmHWM MB", "max VmRSS MB"],
                   [[kind, pid, f"{h / 1024:.0f}", f"{r_ / 1024:.0f}"] for pid, (kind, h, r_) in sorted(hwm.items())]))  # fmt: skip

    pipeline = runs[0]["wall"]
    if bound_a and bound_b:
        print("\n### Bounds and ratios\n")
        print(md_table(
            ["bound", "best s", "rows", "ratio billing_run / bound"],
            [
                ["(a) read-only aggregate, SUM(quantity x rate) per episode, phase, organisation over the month's "
                 "phases (1 connection)", f"{bound_a['best_s']:.2f}", f"{bound_a['rows']:,} rows read",
                 f"{pipeline / bound_a['best_s']:.0f}x"],
                ["(b) write-inclusive set-based SQL, 2 connections, rolled back", f"{bound_b['best_s']:.2f}",
                 f"{bound_b['lines']:,} lines + {bound_b['allocations']:,} allocations + {bound_b['states']:,} states",
                 f"**{pipeline / bound_b['best_s']:.1f}x**"],
            ],
        ))  # fmt: skip
        print(f"\nPipeline wrote {runs[0]['lines']:,} lines and {runs[0]['allocations']:,} allocations; the bound "
              f"{bound_b['lines']:,} and {bound_b['allocations']:,}.")  # fmt: skip
        print(f"Target < 60 s on 2 cores: {'met' if pipeline < 60 else 'NOT met'} ({pipeline:.1f} s); "
              f"<= 5x the write-inclusive bound: {'met' if pipeline <= 5 * bound_b['best_s'] else 'NOT met'} "
              f"({pipeline / bound_b['best_s']:.1f}x)")  # fmt: skip
    if http:
        print(f"\n### Insurer API download ({http['insurer']}, gunicorn 2 sync workers on 127.0.0.1)\n")
        print(f"List: {http['batches']} batches of the month from {http['igos']} IGOs in {http['pages']} page(s), "
              f"{http['list_s'] * 1000:.0f} ms; {http['files']} files; release of the month's batches "
              f"{http['release_s']:.1f} s.\n")  # fmt: skip
        body = []
        for mode in ("sequential", "4 parallel connections"):
            m = http[mode]
            body.append([mode, f"{min(m['walls']):.2f}", f"{m['bytes'] / 1e6:.1f}", f"{m['bytes'] / 1e6 / min(m['walls']):.1f}",
                         f"{percentile(m['per'], 50) * 1000:.0f}", f"{percentile(m['per'], 95) * 1000:.0f}",
                         f"{m['verified']}/{m['requests']}"])  # fmt: skip
        print(md_table(["mode", "all files, best s", "MB", "MB/s", "p50 ms", "p95 ms", "SHA-256 ok"], body))
    print(f"\nBooks after the month's run: {'OK' if month_books['ok'] else 'WRONG'}")
    if args.profile:
        reset_month(first)
        largest = max(tenant_ids, key=lambda x: sizes[x])
        connections.close_all()
        print(in_child(profile_tenant, largest, today, "the month's run (state after the history)"))
    print(f"Peak RSS of this process: {maxrss_kb() / 1024:.0f} MB")


if __name__ == "__main__":
    main()
