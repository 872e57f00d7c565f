"""Benchmark of the billing pipeline (roll-up and split) at national scale, on PostgreSQL.

Issue requirement: a national-scale month on PostgreSQL (16,000 episodes whose phases ended, about 35
events each, spread over 10 tenants) rolls up and splits in under 60 seconds on 2 cores, and the script
also prints the time of a single SQL aggregate over the same events as the lower bound, with the ratio
between the two.

This script prints figures; it does not assert timings. It uses its own database (default
`igo_bench_billing`), creates it when missing, migrates it, loads the data once and reuses it; the
billing tables are emptied before every measured run.

    .venv/bin/python bench/billing_run.py            # load if needed, then measure
    .venv/bin/python bench/billing_run.py --fresh    # drop and recreate the benchmark database first
    .venv/bin/python bench/billing_run.py --profile  # also profile one tenant (cProfile, queries per batch)

See bench/README.md for the options and the latest figures.
"""

from __future__ import annotations

if not __package__:  # run as `python bench/billing_run.py`: the project root is not on sys.path yet
    import common  # noqa: F401

import argparse
import cProfile
import io
import multiprocessing as mp
import os
import pstats
import queue
import random
import sys
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any

from bench.care_logging import Plan, allocate, aware, between, bsn_generate, episode_events
from bench.common import (
    FAMILY,
    GIVEN,
    INSURER_WEIGHTS,
    ORG_LAYOUT,
    BulkInsert,
    QueryStats,
    argument_parser,
    contract_create,
    cursor,
    database_prepare,
    database_url,
    environment,
    in_child,
    insurers_get,
    machine_busy_s,
    maxrss_kb,
    members_create,
    month_last,
    own_cpu_s,
    percentile,
    process_cpu_s,
    query_times,
    rss_kb,
    shares_draw,
    split_rules_create,
    team_draw,
    tenant_sizes,
    vacuum_analyze,
)

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/igo_bench_billing"
URL_VARIABLE = "BENCH_BILLING_DATABASE_URL"  # not DATABASE_URL: never share a database with another run
SLUG_PREFIX = "bench-billing-"
BILLING_TABLES = [
    "billing_allocation",
    "billing_claimline",
    "billing_workitem",
    "billing_episodebillingstate",
]
KINDS = [("miscarriage", 0.03), ("transferred_out", 0.02), ("insurer_change", 0.02)]  # rest: completed


# --- command line and database ---------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--tenants", type=int, default=10, help="tenants (IGOs) to generate (10)")
    parser.add_argument("--episodes", type=int, default=16_000, help="episodes in total (16000)")
    parser.add_argument("--events", type=int, default=560_000, help="care events in total (560000)")
    parser.add_argument("--month", default="", help="measured month YYYY-MM (default: last month)")
    parser.add_argument("--seed", type=int, default=20261123, help="random seed of the data")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the parallel run (2)")
    parser.add_argument("--skip-serial", action="store_true", help="skip the serial run")
    parser.add_argument("--skip-noop", action="store_true", help="skip the two no-op passes")
    parser.add_argument(
        "--profile", action="store_true", help="also profile the largest tenant (cProfile, queries per batch)"
    )
    return parser.parse_args(argv)


def month_bounds(text: str) -> tuple[date, date]:
    first = date.fromisoformat(f"{text}-01")
    return first, month_last(first)


# --- data generation ---------------------------------------------------------------------------


@dataclass
class BillingPlan(Plan):
    kind: str = "completed"


def plan_episode(rng: random.Random, kind: str, first: date, last: date, jan1: date) -> BillingPlan | None:
    """Key dates of an episode whose care ends in [first, last]; None when the kind cannot fit."""
    from django.utils import timezone

    days = (last - first).days
    if kind in ("miscarriage", "transferred_out"):
        end = first + timedelta(days=rng.randint(0, days))
        if kind == "miscarriage":  # most before 16 weeks (billed at 50%), some later (100%)
            g_end = rng.randint(8 * 7, 16 * 7 - 1) if rng.random() < 0.8 else rng.randint(16 * 7, 21 * 7)
        else:  # moved out of the region during the pregnancy
            g_end = rng.randint(14 * 7, 36 * 7)
        g_in = rng.randint(6 * 7, min(10 * 7, g_end - 7))
        plan = BillingPlan(
            intake=end - timedelta(days=g_end - g_in), gestational_age_at_intake=g_in, kind=kind
        )
        plan.end_date, plan.end_reason = end, kind
        plan.weight = 0.15 if kind == "miscarriage" else 0.7 * (g_end - g_in) / (280 - g_in)
        return plan
    for _attempt in range(500):
        # Postnatal care ends six weeks after the birth, in the measured month.
        end = first + timedelta(days=rng.randint(0, days))
        birth_day = end - timedelta(days=42)
        placenta_2h = aware(birth_day, dtime(rng.randint(0, 23), rng.randint(0, 59)))
        labour = placenta_2h - timedelta(hours=rng.randint(4, 22), minutes=rng.randint(0, 59))
        if kind == "insurer_change":  # early intake, late birth: the pregnancy spans 1 January
            g_birth, g_in = rng.randint(40 * 7, 42 * 7), rng.randint(6 * 7, 7 * 7)
        else:
            g_birth, g_in = rng.randint(37 * 7, 42 * 7 - 1), rng.randint(6 * 7, 12 * 7)
        intake = timezone.localdate(labour) - timedelta(days=g_birth - g_in)
        if kind != "insurer_change" or intake < jan1:
            break
    else:
        return None
    plan = BillingPlan(intake=intake, gestational_age_at_intake=g_in, labour=labour, kind=kind)
    plan.placenta_2h = placenta_2h
    plan.birth_place = rng.choices(["home", "birth_centre", "polyclinic", "clinical"], [15, 10, 35, 40])[0]
    if plan.birth_place in {"polyclinic", "clinical"}:
        plan.admitted = labour + timedelta(hours=1)
        plan.discharged = placenta_2h + timedelta(hours=rng.choice([3, 6, 26, 50]))
    plan.kraamzorg_end = birth_day + timedelta(days=8)
    plan.postnatal_end = plan.end_date = end
    plan.end_reason = "completed"
    if rng.random() < 0.2:
        plan.second_line_at = between(rng, aware(intake, dtime(9)), labour)
    return plan


def load(args: argparse.Namespace, first: date, last: date) -> dict[str, Any]:
    """Generate the tenants and their data with bulk_create, in one transaction."""
    from django.db import transaction
    from django.utils import timezone

    from igo.models import Tenant
    from igo.tenancy import tenant_scope
    from pregnancies.catalogue import catalogue_seed
    from pregnancies.models import CareEvent, Client, ClientInsurance, Episode, EventType

    rng = random.Random(args.seed)
    now = timezone.now()
    jan1 = date(last.year, 1, 1)
    bulk = BulkInsert()
    counts, insert_s = bulk.rows, bulk.seconds

    # Plan every episode first, so the events are spread over all of them (long tail included).
    kinds: Counter[str] = Counter()
    plans_by_tenant: list[list[BillingPlan]] = []
    for size in tenant_sizes(args.episodes, args.tenants, rng):
        plans = []
        for _ in range(size):
            kind = shares_draw(rng, KINDS, "completed")
            plan = plan_episode(rng, kind, first, last, jan1)
            if plan is None:  # the month lies too late in the year for a pregnancy spanning 1 January
                kind, plan = "completed", plan_episode(rng, "completed", first, last, jan1)
            assert plan is not None
            kinds[kind] += 1
            plans.append(plan)
        plans_by_tenant.append(plans)
    allocate([p for plans in plans_by_tenant for p in plans], args.events, rng)

    started = time.perf_counter()
    used_bsn: set[str] = set()
    with transaction.atomic():
        insurers = insurers_get()
        for t, plans in enumerate(plans_by_tenant, start=1):
            tenant = Tenant.objects.create(
                name=f"Benchmark IGO {t:02d}", slug=f"{SLUG_PREFIX}{t:02d}", agb_code=f"5398{t:04d}"
            )
            counts["EventType"] += catalogue_seed(tenant=tenant)
            types = {et.code: et for et in EventType.unscoped.filter(tenant=tenant)}
            # Professionals with a user account and a membership; a finance user owns the set-up.
            members = members_create(
                bulk,
                rng,
                tenant,
                ORG_LAYOUT[rng.randint(3, 6)],
                name_suffix=f" ({t:02d})",
                agb_infix=f"98{t:02d}",
                member_from=date(2020, 1, 1),
                email=f"{{d}}-{t:02d}-{{i:03d}}@bench-billing.invalid",
                agb=f"{{org}}97{t:02d}{{i:02d}}",
                big=f"19{t:02d}{{i:07d}}",
                finance_email=f"finance-{t:02d}@bench-billing.invalid",
            )
            staff = members.staff()
            practices = [o.pk for o in members.practices]
            gynaecologists = members.gynaecologists()

            with tenant_scope(tenant):
                # The IGO's overhead and reserve (its split rules) and a contract per insurer: three phases,
                # half the prenatal tariff for a miscarriage before 16 weeks. Valid from last year: some care
                # began before 1 January.
                overhead = Decimal(rng.choice(["4.00", "4.50", "5.00", "6.00"]))
                reserve = Decimal(rng.choice(["1.50", "2.00", "2.50"]))
                for k, insurer in enumerate(insurers):
                    contract_create(
                        tenant=tenant,
                        actor=members.finance,
                        insurer=insurer,
                        valid_from=date(jan1.year - 1, 1, 1),
                        tariffs=(
                            Decimal("1190.00") + 15 * k,
                            Decimal("880.00") + 10 * k,
                            Decimal("1480.00") + 20 * k,
                        ),
                    )
                # The split rule of the year and of the year before, for prenatal care begun then.
                split_rules_create(
                    tenant=tenant,
                    members=members,
                    years=(jan1.year - 1, jan1.year),
                    types=types,
                    overhead=overhead,
                    reserve=reserve,
                )

            # Clients with their insurance (an insurer change on 1 January for some), one episode each.
            clients = []
            for i, plan in enumerate(plans):
                clients.append(
                    Client(
                        tenant=tenant,
                        family_name=rng.choice(FAMILY),
                        given_names=rng.choice(GIVEN),
                        date_of_birth=plan.intake - timedelta(days=rng.randint(18 * 365, 44 * 365)),
                        bsn=bsn_generate(rng, used_bsn),
                        postcode=f"{1000 + (t * 700 + i) % 8900:04d}{rng.choice('ABCDEFGHJK')}"
                        f"{rng.choice('ABCDEFGHJK')}",
                    )
                )
            clients = bulk(Client, clients)
            insurances = []
            for client, plan in zip(clients, plans, strict=True):
                insurer = rng.choices(insurers, INSURER_WEIGHTS)[0]
                policy = f"{rng.randint(10**8, 10**9 - 1)}"
                if plan.kind == "insurer_change":
                    insurances.append(
                        ClientInsurance(
                            tenant=tenant,
                            client=client,
                            insurer=insurer,
                            policy_number=policy,
                            valid_from=jan1 - timedelta(days=rng.randint(400, 3000)),
                            valid_until=jan1 - timedelta(days=1),
                        )
                    )
                    insurer = rng.choice([x for x in insurers if x != insurer])
                    policy = f"{rng.randint(10**8, 10**9 - 1)}"
                insurances.append(
                    ClientInsurance(
                        tenant=tenant,
                        client=client,
                        insurer=insurer,
                        policy_number=policy,
                        valid_from=jan1
                        if plan.kind == "insurer_change"
                        else plan.intake - timedelta(days=rng.randint(30, 2000)),
                    )
                )
            bulk(ClientInsurance, insurances)

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
                        parity=rng.choices([0, 1, 2, 3, 4], [42, 35, 15, 5, 3])[0],
                        coordinator=plan.team["midwife"][0],
                    )
                )
            episodes = bulk(Episode, episodes)

            # Care events in the right phase, by a team member whose discipline may log the type.
            events: list[Any] = []
            for episode, plan in zip(episodes, plans, strict=True):
                events.extend(
                    episode_events(tenant=tenant, episode=episode, plan=plan, types=types, rng=rng, now=now)
                )
            bulk(CareEvent, events)
            print(
                f"  {tenant.slug}: {len(members.organisations)} organisations, "
                f"{len(members.professionals)} professionals, "
                f"{len(episodes):,} episodes, {len(events):,} events "
                f"({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
            del events, episodes, clients
    load_s = time.perf_counter() - started
    analyze_started = time.perf_counter()
    vacuum_analyze()
    rows = sum(counts.values())
    print(
        f"  episodes by kind: {dict(kinds)}; INSERTs {sum(insert_s.values()):.1f} s "
        f"(care events {insert_s['CareEvent']:.1f} s), building the rows in Python "
        f"{load_s - sum(insert_s.values()):.1f} s"
    )
    return {
        "load_s": load_s,
        "rows": rows,
        "insert_s": sum(insert_s.values()),
        "analyze_s": time.perf_counter() - analyze_started,
        "kinds": dict(kinds),
        "maxrss_kb": maxrss_kb(),
    }


# --- the pipeline in worker processes ----------------------------------------------------------


@dataclass
class TenantRun:
    slug: str
    worker: int
    seconds: float
    queries: int
    sql_s: float
    result: dict[str, int]


@dataclass
class WorkerFigures:
    worker: int
    pid: int
    rss_start_kb: int
    maxrss_kb: int
    busy_s: float
    cpu_s: float  # this worker process
    backend_cpu_s: float  # its PostgreSQL backend process


@dataclass
class RunFigures:
    label: str
    workers: int
    wall_s: float
    tenants: list[TenantRun]
    processes: list[WorkerFigures]
    lines: int = 0  # billing tables after the run, minus before
    allocations: int = 0
    work_items: int = 0
    machine_busy_s: float = 0.0  # CPU seconds of the whole machine during the run (other sessions too)
    load_before: float = 0.0  # 1-minute load average when the run started

    def total(self, key: str) -> int:
        return sum(t.result[key] for t in self.tenants)

    @property
    def queries(self) -> int:
        return sum(t.queries for t in self.tenants)

    @property
    def sql_s(self) -> float:
        return sum(t.sql_s for t in self.tenants)

    @property
    def peak_mb(self) -> float:
        return max(p.maxrss_kb for p in self.processes) / 1024

    @property
    def cpu_s(self) -> float:
        return sum(p.cpu_s for p in self.processes)

    @property
    def backend_cpu_s(self) -> float:
        return sum(p.backend_cpu_s for p in self.processes)

    @property
    def others_cpu_s(self) -> float:
        return max(0.0, self.machine_busy_s - self.cpu_s - self.backend_cpu_s)


def _worker(worker: int, today: date, tasks: Any, results: Any) -> None:
    """A billing worker: takes tenant ids from the queue until None, runs billing_run for each."""
    from django.db import connection, connections

    connections.close_all()  # after the fork: never use the parent's connection; open our own
    try:
        from billing import services
        from igo.models import Tenant
        from igo.tenancy import tenant_scope

        rss_start = rss_kb()
        stats = QueryStats()
        busy = 0.0
        with connection.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            backend = cur.fetchone()[0]
        with connection.execute_wrapper(stats):
            while (tenant_id := tasks.get()) is not None:
                started, n0, s0 = time.perf_counter(), stats.n, stats.seconds
                tenant = Tenant.objects.get(pk=tenant_id)
                with tenant_scope(tenant):
                    result = services.billing_run(tenant=tenant, today=today)
                spent = time.perf_counter() - started
                busy += spent
                results.put(
                    (
                        "tenant",
                        TenantRun(
                            tenant.slug, worker, spent, stats.n - n0, stats.seconds - s0, asdict(result)
                        ),
                    )
                )
        backend_cpu = process_cpu_s(backend)
        connections.close_all()
        figures = WorkerFigures(worker, os.getpid(), rss_start, maxrss_kb(), busy, own_cpu_s(), backend_cpu)
        results.put(("done", figures))
    except BaseException:
        results.put(("error", traceback.format_exc()))


def run_pipeline(label: str, tenant_ids: list[int], today: date, workers: int) -> RunFigures:
    """billing_run for every tenant, in `workers` forked processes taking tenants from a queue."""
    from django.db import connections

    before = billing_counts()
    connections.close_all()  # before the fork (see in_child)
    ctx = mp.get_context("fork")
    tasks, results = ctx.Queue(), ctx.Queue()
    for tenant_id in tenant_ids:
        tasks.put(tenant_id)
    for _ in range(workers):
        tasks.put(None)
    load_before = os.getloadavg()[0]
    busy_before = machine_busy_s()
    started = time.perf_counter()
    procs = [ctx.Process(target=_worker, args=(w, today, tasks, results)) for w in range(1, workers + 1)]
    for proc in procs:
        proc.start()
    runs: list[TenantRun] = []
    figures: list[WorkerFigures] = []
    while len(figures) < workers:
        try:
            kind, value = results.get(timeout=5)
        except queue.Empty:
            if any(proc.exitcode not in (None, 0) for proc in procs) or not any(p.is_alive() for p in procs):
                sys.exit(
                    f"a billing worker ended without reporting: exit codes {[p.exitcode for p in procs]}"
                )
            continue
        if kind == "error":
            for proc in procs:
                proc.kill()
            sys.exit(f"billing worker failed:\n{value}")
        (runs if kind == "tenant" else figures).append(value)
    for proc in procs:
        proc.join()
    wall = time.perf_counter() - started
    busy = machine_busy_s() - busy_before
    after = billing_counts()
    return RunFigures(
        label,
        workers,
        wall,
        runs,
        sorted(figures, key=lambda f: f.worker),
        lines=after["lines"] - before["lines"],
        allocations=after["allocations"] - before["allocations"],
        work_items=after["work_items"] - before["work_items"],
        machine_busy_s=busy,
        load_before=load_before,
    )


# --- SQL: reset, lower bound, verification ------------------------------------------------------


def bench_tenants() -> list[tuple[int, str, int]]:
    """(id, slug, episodes) of the benchmark tenants."""
    with cursor() as cur:
        cur.execute(
            "SELECT t.id, t.slug, count(e.id) FROM igo_tenant t "
            "LEFT JOIN pregnancies_episode e ON e.tenant_id = t.id "
            "WHERE t.slug LIKE %s GROUP BY t.id, t.slug ORDER BY t.id",
            [SLUG_PREFIX + "%"],
        )
        return cur.fetchall()


def reset_billing() -> None:
    """Empty the billing output (the benchmark database holds nothing else). CASCADE: the batch tables
    (empty here) refer to claim lines, and PostgreSQL refuses to truncate a referenced table alone."""
    with cursor() as cur:
        cur.execute("TRUNCATE " + ", ".join(BILLING_TABLES) + " CASCADE")


def analyze_billing() -> None:
    with cursor() as cur:
        cur.execute("ANALYZE " + ", ".join(BILLING_TABLES))


def billing_counts() -> dict[str, int]:
    with cursor() as cur:
        cur.execute(
            "SELECT (SELECT count(*) FROM billing_claimline), "
            "(SELECT count(*) FROM billing_allocation), "  # rows created, superseded ones included
            "(SELECT count(*) FROM billing_workitem WHERE resolved_at IS NULL)"
        )
        lines, allocations, work_items = cur.fetchone()
    return {"lines": lines, "allocations": allocations, "work_items": work_items}


LOWER_BOUND_SQL = """
    SELECT e.episode_id, e.phase, e.organisation_id, SUM(e.quantity * r.rate) AS points
    FROM pregnancies_careevent e
    JOIN billing_internalrate r ON r.event_type_id = e.event_type_id
    JOIN billing_splitrule s ON s.id = r.rule_id AND s.year = %s
    WHERE e.status = 'active' AND e.tenant_id = ANY(%s)
    GROUP BY e.episode_id, e.phase, e.organisation_id
"""


def lower_bound(tenant_ids: list[int], year: int, repeat: int = 5) -> dict[str, Any]:
    """ONE aggregate over the same events: per episode, phase and organisation the sum of quantity x
    internal rate. Timed with the rows fetched into Python; after one warm-up, best and median of `repeat`."""
    with cursor() as cur:
        cur.execute("SELECT count(*) FROM pregnancies_careevent WHERE tenant_id = ANY(%s)", [tenant_ids])
        events = cur.fetchone()[0]
        times, rows = query_times(cur, LOWER_BOUND_SQL, [year, tenant_ids], repeat)
        cur.execute("EXPLAIN (ANALYZE, TIMING OFF) " + LOWER_BOUND_SQL, [year, tenant_ids])
        plan = [r[0] for r in cur.fetchall()]
    server_ms = next((p for p in plan if p.startswith("Execution Time")), "")
    return {
        "best_s": min(times),
        "median_s": percentile(times, 50),
        "rows": len(rows),
        "episode_phases": len({(r[0], r[1]) for r in rows}),
        "events": events,
        "server": server_ms,
    }


def verify(tenant_ids: list[int]) -> dict[str, int]:
    """The books: every ended phase exactly one current debit line, allocations sum to the line amount,
    no negative member allocation, nothing left in the work queue; plus the partial and insurer cases."""
    out: dict[str, int] = {}
    with cursor() as cur:
        # Ended phases, restated from the key dates (independently of billing.services.rollup.ended_phases).
        cur.execute(
            """
            WITH expected AS (
                SELECT id AS episode_id, 'prenatal' AS phase FROM pregnancies_episode
                WHERE tenant_id = ANY(%(t)s) AND (labour_started_at IS NOT NULL OR status = 'ended')
                UNION ALL
                SELECT id, 'natal' FROM pregnancies_episode
                WHERE tenant_id = ANY(%(t)s) AND labour_started_at IS NOT NULL
                  AND placenta_plus_2h_at IS NOT NULL
                UNION ALL
                SELECT id, 'postnatal' FROM pregnancies_episode
                WHERE tenant_id = ANY(%(t)s) AND placenta_plus_2h_at IS NOT NULL
                  AND (postnatal_ended_on IS NOT NULL OR status = 'ended')
            ), actual AS (
                SELECT episode_id, phase, count(*) AS n FROM billing_claimline
                WHERE tenant_id = ANY(%(t)s) AND is_current AND sign = 'debit' GROUP BY episode_id, phase
            )
            SELECT count(x.episode_id), count(a.episode_id),
                   count(*) FILTER (WHERE a.episode_id IS NULL),
                   count(*) FILTER (WHERE x.episode_id IS NULL),
                   count(*) FILTER (WHERE a.n > 1)
            FROM expected x FULL JOIN actual a USING (episode_id, phase)
            """,
            {"t": tenant_ids},
        )
        keys = ["ended_phases", "current_debit_lines", "phases_without_line", "lines_not_ended", "duplicates"]
        out |= dict(zip(keys, cur.fetchone(), strict=True))
        # The one query of the brief: lines whose allocations do not sum exactly to their amount.
        cur.execute(
            """
            SELECT count(*) FROM billing_claimline l
            LEFT JOIN (SELECT claim_line_id, SUM(amount) AS total FROM billing_allocation
                       WHERE is_current GROUP BY claim_line_id) a ON a.claim_line_id = l.id
            WHERE l.tenant_id = ANY(%s) AND a.total IS DISTINCT FROM l.amount
            """,
            [tenant_ids],
        )
        out["allocation_mismatches"] = cur.fetchone()[0]
        cur.execute(
            "SELECT count(*) FROM billing_allocation a JOIN billing_claimline l ON l.id = a.claim_line_id "
            "WHERE a.tenant_id = ANY(%s) AND a.is_current AND a.kind = 'member' AND l.sign = 'debit' "
            "AND a.amount < 0",
            [tenant_ids],
        )
        out["negative_member_allocations"] = cur.fetchone()[0]
        cur.execute(
            "SELECT count(*) FROM billing_workitem WHERE tenant_id = ANY(%s) AND resolved_at IS NULL",
            [tenant_ids],
        )
        out["open_work_items"] = cur.fetchone()[0]
        # Miscarriage before 16 weeks: the prenatal line at 50%; the others at 100%.
        cur.execute(
            """
            SELECT count(*) FILTER (WHERE e.end_reason = 'miscarriage'
                     AND (e.gestational_age_at_intake + (e.end_date - e.intake_date)) / 7 < 16),
                   count(*) FILTER (WHERE l.percentage = 50),
                   count(*) FILTER (WHERE l.percentage = 50 AND NOT (e.end_reason = 'miscarriage'
                     AND (e.gestational_age_at_intake + (e.end_date - e.intake_date)) / 7 < 16))
            FROM pregnancies_episode e
            LEFT JOIN billing_claimline l ON l.episode_id = e.id AND l.is_current AND l.sign = 'debit'
                 AND l.phase = 'prenatal'
            WHERE e.tenant_id = ANY(%s)
            """,
            [tenant_ids],
        )
        out["miscarriages_before_16w"], out["lines_at_50pct"], out["wrong_50pct"] = cur.fetchone()
        # Insurer change on 1 January: the prenatal line to the old insurer, the later ones to the new.
        cur.execute(
            """
            SELECT (SELECT count(*) FROM (SELECT client_id FROM pregnancies_clientinsurance
                    WHERE tenant_id = ANY(%(t)s) GROUP BY client_id HAVING count(*) > 1) c),
                   (SELECT count(*) FROM (SELECT episode_id FROM billing_claimline
                    WHERE tenant_id = ANY(%(t)s) AND is_current AND sign = 'debit'
                    GROUP BY episode_id HAVING count(DISTINCT insurer_id) > 1) m)
            """,
            {"t": tenant_ids},
        )
        out["clients_changing_insurer"], out["episodes_two_insurers"] = cur.fetchone()
        cur.execute(
            "SELECT count(*), coalesce(sum(amount), 0) FROM billing_claimline "
            "WHERE tenant_id = ANY(%s) AND is_current AND sign = 'debit'",
            [tenant_ids],
        )
        out["debit_lines"], total = cur.fetchone()
        out["claimed_euro"] = int(total)
    return out


def books_ok(v: dict[str, int]) -> bool:
    return (
        v["ended_phases"] == v["current_debit_lines"]
        and not any(
            v[k]
            for k in (
                "phases_without_line",
                "lines_not_ended",
                "duplicates",
                "allocation_mismatches",
                "negative_member_allocations",
                "open_work_items",
                "wrong_50pct",
            )
        )
        and v["lines_at_50pct"] == v["miscarriages_before_16w"]
        and v["episodes_two_insurers"] == v["clients_changing_insurer"]
    )


# --- profiling -----------------------------------------------------------------------------------


def profile_tenant(tenant_id: int, today: date, label: str) -> str:
    """billing_run of one tenant, batch by batch, under cProfile, with queries per batch (in a child)."""
    from django.db import connection

    from billing import services
    from igo.models import Tenant
    from igo.tenancy import tenant_scope

    out = io.StringIO()
    tenant = Tenant.objects.get(pk=tenant_id)
    stats = QueryStats(detail=True)
    profiler = cProfile.Profile()
    print(f"\n--- profile: {label}, {tenant.slug}, today={today} ---", file=out)
    print(
        f"{'batch':>5} {'episodes':>8} {'lines':>6} {'alloc':>6} {'queries':>7} {'SQL s':>7} {'total s':>7}",
        file=out,
    )
    total = 0.0
    with connection.execute_wrapper(stats), tenant_scope(tenant):
        # As billing_run: the candidates are read once, then processed in batches.
        profiler.enable()
        ids = list(services.run._candidates(today).order_by("pk").values_list("pk", flat=True))
        profiler.disable()
        for batch, start in enumerate(range(0, len(ids), services.run.BATCH_SIZE), start=1):
            n0, s0, started = stats.n, stats.seconds, time.perf_counter()
            profiler.enable()
            chunk = ids[start : start + services.run.BATCH_SIZE]
            result = services.billing_run_batch(tenant=tenant, today=today, episode_ids=chunk)
            profiler.disable()
            spent = time.perf_counter() - started
            total += spent
            print(
                f"{batch:>5} {result.episodes:>8} {result.lines_created:>6} {result.lines_allocated:>6} "
                f"{stats.n - n0:>7} {stats.seconds - s0:>7.2f} {spent:>7.2f}",
                file=out,
            )
    print(f"total {total:.2f} s, {stats.n} queries, {stats.seconds:.2f} s in cursor.execute", file=out)
    print("queries by kind (count, seconds), most expensive first:", file=out)
    for kind, (n, sec) in sorted(stats.by_kind.items(), key=lambda kv: -kv[1][1])[:14]:
        print(f"  {kind:<45} {n:>6} {sec:>7.2f}", file=out)
    for sort in ("tottime", "cumulative"):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats(sort).print_stats(22)
        body = text.getvalue()
        print(f"\ncProfile, by {sort}:\n" + body[body.find("   ncalls") :].rstrip(), file=out)
    return out.getvalue()


# --- report ------------------------------------------------------------------------------------


def print_run(run: RunFigures, episodes: int) -> None:
    print(
        f"\n{run.label}: {run.wall_s:.1f} s wall, {episodes / run.wall_s:,.0f} episodes/s; "
        f"episodes checked {run.total('episodes'):,}, lines created {run.total('lines_created'):,} "
        f"(table +{run.lines:,}), lines allocated {run.total('lines_allocated'):,}, allocations +"
        f"{run.allocations:,}, replaced {run.total('lines_replaced')}, work items {run.total('work_items')}, "
        f"batches {run.total('batches')}; {run.queries:,} queries, {run.sql_s:.1f} s in cursor.execute"
    )
    for t in sorted(run.tenants, key=lambda t: t.slug):
        r = t.result
        print(
            f"  {t.slug}  worker {t.worker}  {r['episodes']:>5} episodes  {t.seconds:>6.2f} s  "
            f"{r['lines_created']:>5} lines  {t.queries:>5} queries  SQL {t.sql_s:>5.2f} s"
        )
    for p in run.processes:
        print(
            f"  worker {p.worker} (pid {p.pid}): busy {p.busy_s:.1f} s, CPU {p.cpu_s:.1f} s, its PostgreSQL "
            f"backend CPU {p.backend_cpu_s:.1f} s; RSS at start {p.rss_start_kb / 1024:.0f} MB, "
            f"peak {p.maxrss_kb / 1024:.0f} MB"
        )
    print(
        f"  CPU: workers {run.cpu_s:.1f} s + their backends {run.backend_cpu_s:.1f} s; whole machine "
        f"{run.machine_busy_s:.1f} s over {run.wall_s:.1f} s wall ({run.machine_busy_s / run.wall_s:.2f} cores "
        f"busy), other processes ~{run.others_cpu_s:.1f} s; load average before {run.load_before:.2f}"
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    url = database_url(
        URL_VARIABLE,
        DEFAULT_DATABASE_URL,
        script="bench/billing_run.py",
        why="the benchmark writes 600,000+ rows and --fresh drops the database",
    )
    database_prepare(url, fresh=args.fresh)
    from django.utils import timezone

    load_figures: dict[str, Any] = {}
    tenants = bench_tenants()
    if tenants:
        print("Benchmark data found: generation skipped (use --fresh to rebuild).")
    else:
        month = args.month or (timezone.localdate().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        first, last = month_bounds(month)
        print(
            f"Generating {args.tenants} tenants, {args.episodes:,} episodes ending in {month}, "
            f"{args.events:,} care events …"
        )
        load_figures = in_child(load, args, first, last)
        print(
            f"Loaded {load_figures['rows']:,} rows in {load_figures['load_s']:.1f} s "
            f"({load_figures['rows'] / load_figures['load_s']:,.0f} rows/s); VACUUM ANALYZE "
            f"{load_figures['analyze_s']:.1f} s; peak RSS of the loader {load_figures['maxrss_kb'] / 1024:.0f} MB"
        )
        tenants = bench_tenants()
    tenant_ids = [t[0] for t in tenants]
    n_episodes = sum(t[2] for t in tenants)
    with cursor() as cur:
        cur.execute("SELECT max(end_date) FROM pregnancies_episode WHERE tenant_id = ANY(%s)", [tenant_ids])
        last_end = cur.fetchone()[0]
    first, last = month_bounds(last_end.strftime("%Y-%m"))
    run_day = last + timedelta(days=1)  # the monthly run, on the first day after the month
    recheck_day = timezone.localdate() + timedelta(days=1)  # tomorrow's daily sweep re-checks them all
    env = environment(url)
    print("\n" + "\n".join(f"{k:<16} {v}" for k, v in env.items()))
    print(
        f"Tenants: {len(tenants)} ({', '.join(f'{t[2]:,}' for t in tenants)} episodes); month "
        f"{first:%Y-%m}, billing run on {run_day}, re-check on {recheck_day}"
    )
    with cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pregnancies_careevent e WHERE tenant_id = ANY(%s) "
            "GROUP BY episode_id ORDER BY 1",
            [tenant_ids],
        )
        per = [r[0] for r in cur.fetchall()]
    print(
        f"Events: {sum(per):,}; per episode min {per[0]}, median {percentile(per, 50)}, "
        f"p90 {percentile(per, 90)}, p99 {percentile(per, 99)}, max {per[-1]}"
    )

    reset_billing()
    bound = lower_bound(tenant_ids, last.year)
    print(
        f"\nLower bound, one SQL aggregate over {bound['events']:,} events: best {bound['best_s'] * 1000:.0f} ms, "
        f"median {bound['median_s'] * 1000:.0f} ms (rows fetched: {bound['rows']:,} for "
        f"{bound['episode_phases']:,} episode-phases; server {bound['server']})"
    )

    runs: list[RunFigures] = []
    checks: dict[str, dict[str, int]] = {}
    if not args.skip_serial:
        serial = run_pipeline("Roll-up + split, serial (1 process)", tenant_ids, run_day, 1)
        print_run(serial, n_episodes)
        checks["serial"] = verify(tenant_ids)
        runs.append(serial)
        reset_billing()
    parallel = run_pipeline(
        f"Roll-up + split, {args.workers} worker processes", tenant_ids, run_day, args.workers
    )
    print_run(parallel, n_episodes)
    checks["parallel"] = verify(tenant_ids)
    runs.append(parallel)
    print("\nBooks after the parallel run:")
    for k, v in checks["parallel"].items():
        print(f"  {k:<30} {v:,}")

    pipeline_runs = list(runs)
    noop: list[RunFigures] = []
    if not args.skip_noop:
        noop.append(run_pipeline("Second run, same day (no-op)", tenant_ids, run_day, args.workers))
        print_run(noop[-1], n_episodes)
        analyze_billing()  # as autovacuum would have done by the next day
        noop.append(
            run_pipeline("Next-day re-check of all episodes (no-op)", tenant_ids, recheck_day, args.workers)
        )
        print_run(noop[-1], n_episodes)
        checks["after re-check"] = verify(tenant_ids)
        runs += noop

    if args.profile:
        largest = max(tenants, key=lambda t: t[2])[0]
        reset_billing()
        print(in_child(profile_tenant, largest, run_day, "first run"))
        print(in_child(profile_tenant, largest, recheck_day, "next-day re-check (no-op)"))

    # --- compact table
    print("\n=== Billing benchmark " + "=" * 98)
    print(
        f"{'run':<42} {'wall s':>6} {'ep/s':>6} {'episodes':>8} {'lines':>7} {'allocs':>8} "
        f"{'queries':>7} {'SQL s':>6} {'CPU s py+pg':>12} {'others':>6} {'peak MB':>7}"
    )
    for run in runs:
        print(
            f"{run.label:<42} {run.wall_s:>6.1f} {n_episodes / run.wall_s:>6,.0f} {run.total('episodes'):>8,} "
            f"{run.lines:>7,} {run.allocations:>8,} {run.queries:>7,} {run.sql_s:>6.1f} "
            f"{f'{run.cpu_s:.1f}+{run.backend_cpu_s:.1f}':>12} {run.others_cpu_s:>6.1f} {run.peak_mb:>7.0f}"
        )
    print(
        f"{'Lower bound: one SQL aggregate':<42} {bound['best_s']:>6.2f} {'':>6} {'':>8} {'':>7} {'':>8} {1:>7}"
    )
    print("-" * 120)
    for run in pipeline_runs:
        print(f"Ratio {run.label.lower()} / lower bound: {run.wall_s / bound['best_s']:,.0f}x")
    print(
        f"Requirement (< 60 s on 2 cores, {args.workers} workers): "
        f"{'met' if parallel.wall_s < 60 else 'NOT met'} ({parallel.wall_s:.1f} s)"
    )
    if any(run.others_cpu_s > max(1.0, 0.1 * run.wall_s) for run in runs):
        print("! Other processes used CPU during some runs (column 'others'): the figures are pessimistic.")
    for label, v in checks.items():
        print(
            f"Books {label}: {'OK' if books_ok(v) else 'WRONG'} — {v['current_debit_lines']:,} current debit "
            f"lines for {v['ended_phases']:,} ended phases, {v['duplicates']} duplicates, allocation "
            f"mismatches {v['allocation_mismatches']}, negative member allocations "
            f"{v['negative_member_allocations']}, open work items {v['open_work_items']}"
        )
    if noop:
        again, recheck = noop
        print(
            f"No-op passes: same day {again.total('episodes')} episodes checked, +{again.lines} lines, "
            f"+{again.allocations} allocations in {again.wall_s:.2f} s; next day {recheck.total('episodes'):,} "
            f"episodes re-checked, +{recheck.lines} lines, +{recheck.allocations} allocations, "
            f"{recheck.total('lines_replaced')} replaced in {recheck.wall_s:.1f} s"
        )
    for k, v in env.items():
        print(f"{k}: {v}")
    print(f"Peak RSS of this (parent) process: {maxrss_kb() / 1024:.0f} MB")
    if load_figures:
        print(
            f"Load: {load_figures['rows']:,} rows in {load_figures['load_s']:.1f} s "
            f"({load_figures['rows'] / load_figures['load_s']:,.0f} rows/s), kinds {load_figures['kinds']}"
        )


if __name__ == "__main__":
    main()
