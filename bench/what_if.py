"""Benchmark of the what-if simulation (issue 19) over the year of the largest IGO of the national bench data.

Issue 19: the what-if over the largest bench IGO's year (31,000 episodes) runs in under 60 s on 2 cores. The
simulation is one Celery task: this script runs the same service (`whatif.services.simulation_run`) in this
process (one core for Python, the other for PostgreSQL) and prints the wall time, the CPU time and the
ratio to the 60 s target. A draft split rule that changes the IGO's overhead touches every line: each is
divided again (the worst case); `--draft contract` raises the tariffs of one insurer's contract instead
(every episode is rolled up again and the changed lines are divided again).

This script prints figures; it does not assert timings. It measures on the national year's database
(`bench/national.py`, default `igo_bench_national`, or $BENCH_NATIONAL_DATABASE_URL), which it migrates but
never loads: run `bench/national.py` first. It deletes the simulation it made afterwards; the books are not
touched (the simulation writes none).

    .venv/bin/python bench/what_if.py                       # the largest IGO, the national year, split draft
    .venv/bin/python bench/what_if.py --draft contract --tenant <slug>

Named what_if.py, not whatif.py: a script's folder is first on sys.path, and a bench/whatif.py would hide
the `whatif` app.
"""

from __future__ import annotations

if not __package__:  # run as `python bench/what_if.py`: the project root is not on sys.path yet
    import common  # noqa: F401

import argparse
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from bench.common import (
    argument_parser,
    database_prepare,
    database_url,
    environment,
    machine_busy_s,
    own_cpu_s,
)

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/igo_bench_national"
URL_VARIABLE = "BENCH_NATIONAL_DATABASE_URL"
TARGET_S = 60.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--tenant", help="slug of the IGO (default: the one with the most episodes)")
    parser.add_argument("--draft", choices=["split", "contract"], default="split", help="what is drafted")
    parser.add_argument("--start", type=date.fromisoformat, help="first day of care (default: a year back)")
    parser.add_argument("--end", type=date.fromisoformat, help="last day (default: the national year's last)")
    args = parser.parse_args(argv)
    if args.fresh:
        parser.error("--fresh would drop the national year; rebuild it with bench/national.py --fresh")
    return args


def split_draft(rule: Any) -> dict[str, Any]:
    """The IGO's latest split rule as a draft for its year with one more percent of overhead."""
    from whatif.services import split_draft_json

    phases = {}
    for sp in rule.phases.all():
        shares = {s.organisation_id: s.share_pct for s in sp.shares.all() if s.share_pct}
        minimums = {s.organisation_id: s.minimum_pct for s in sp.shares.all() if s.minimum_pct}
        phases[sp.phase] = {"method": sp.method, "shares": shares, "minimums": minimums}
    return split_draft_json(
        {
            "year": rule.year,
            "valid_from": rule.valid_from,
            "overhead_pct": min(Decimal(100) - rule.reserve_pct, rule.overhead_pct + 1),
            "reserve_pct": rule.reserve_pct,
            "note": "bench/what_if.py",
            "phases": phases,
            "rates": {r.event_type_id: r.rate for r in rule.rates.all()},
        }
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    url = database_url(URL_VARIABLE, DEFAULT_DATABASE_URL, script="bench/what_if.py", why="it is migrated")
    database_prepare(url, fresh=False)
    from django.db.models import Count
    from django.utils import timezone

    from billing.models import ClaimLine, Contract, SplitRule
    from igo.models import Membership, Role, Tenant
    from igo.tenancy import tenant_scope
    from pregnancies.models import Episode
    from whatif import services
    from whatif.models import Simulation, SimulationKind

    sizes = {t: Episode.unscoped.filter(tenant=t).count() for t in Tenant.objects.order_by("slug")}
    if not any(sizes.values()):
        sys.exit("No benchmark data: run bench/national.py first.")
    tenant = Tenant.objects.get(slug=args.tenant) if args.tenant else max(sizes, key=lambda t: sizes[t])
    end = args.end or timezone.localdate().replace(day=1) - timedelta(days=1)
    start = args.start or end.replace(year=end.year - 1) + timedelta(days=1)
    membership = (
        Membership.unscoped.filter(tenant=tenant, role=Role.IGO_FINANCE).select_related("user").first()
    )
    actor = membership.user if membership else Membership.unscoped.filter(tenant=tenant).first().user  # type: ignore[union-attr]

    with tenant_scope(tenant):
        lines = ClaimLine.objects.filter(
            is_current=True,
            sign="debit",
            episode__isnull=False,
            service_start__gte=start,
            service_start__lte=end,
        ).aggregate(n=Count("pk"), episodes=Count("episode_id", distinct=True))
        if args.draft == "split":
            rule = SplitRule.objects.prefetch_related("phases__shares", "rates").order_by(
                "-valid_from", "-version"
            )[0]
            kind, draft = SimulationKind.SPLIT_RULE, split_draft(rule)
            what = f"split rule {rule} with overhead {rule.overhead_pct}% + 1"
        else:
            contract = (
                Contract.objects.filter(valid_from__lte=start, valid_until__isnull=True)
                .prefetch_related("tariffs", "partial_rules")
                .order_by("pk")[0]
            )
            tariffs = {t.phase: (t.prestatie_code, t.amount + 50) for t in contract.tariffs.all()}
            rules = [
                {k: getattr(r, k) for k in ("end_reason", "phase", "from_week", "until_week", "percentage")}
                for r in contract.partial_rules.all()
            ]
            kind = SimulationKind.CONTRACT
            draft = services.contract_draft_json(
                contract=contract, valid_from=start, tariffs=tariffs, partial_rules=rules
            )
            what = f"contract {contract} with every tariff + 50.00 from {start}"
        # As simulation_create stores it, without enqueueing: this process computes it.
        simulation = Simulation.objects.create(
            tenant=tenant,
            kind=kind,
            draft=draft,
            base=services.draft_base(kind, draft),
            period_start=start,
            period_end=end,
            created_by=actor,
        )
        print(
            f"IGO {tenant.slug}: {sizes[tenant]:,} episodes; {lines['n']:,} current lines of "
            f"{lines['episodes']:,} episodes with care from {start} to {end}; draft: {what}",
            flush=True,
        )
        busy0, cpu0, t0 = machine_busy_s(), own_cpu_s(), time.perf_counter()
        done = services.simulation_run(simulation_id=simulation.pk)
        wall, cpu, busy = time.perf_counter() - t0, own_cpu_s() - cpu0, machine_busy_s() - busy0
        results = done.results
        Simulation.objects.filter(pk=simulation.pk).delete()
    if done.status != "done":
        sys.exit(f"The simulation {done.status}: {done.error}")
    members = sum(Decimal(r["difference"]) for r in results["members"])
    billed = sum(Decimal(r["difference"]) for r in results["insurers"])
    print(f"| what-if | wall {wall:.1f} s | own CPU {cpu:.1f} s | machine busy {busy:.1f} CPU-s |")
    print(
        f"lines compared {results['lines']:,}, changed {results['changed_lines']:,}; billed moves "
        f"{billed:+.2f}, allocated moves {members:+.2f} (equal: {billed == members})"
    )
    print(
        f"ratio to the {TARGET_S:.0f} s target: {wall / TARGET_S:.2f} ({'met' if wall < TARGET_S else 'NOT met'})"
    )
    for key, value in environment(url).items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
