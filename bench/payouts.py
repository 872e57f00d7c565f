"""Benchmark of the payout run (issue 14): a national month paid out to the members, on PostgreSQL.

Issue requirement: the payout run for the bench's national month (≈23,000 lines, ≈120,000 allocations) in
under 10 s.

It works on a copy of the national year of `bench/national.py` (10 IGOs, its lines split and allocated):

    psql -c "CREATE DATABASE igo_bench_payouts TEMPLATE igo_bench_national"   # once, ~20 s
    .venv/bin/python bench/payouts.py                                          # measure

The first run gives the IGOs and their members a bank account and makes one month of lines (every 13th
line, ≈23,000 of the year's ≈295,000) accepted by the insurer; the rest stays sent and unanswered (not yet
payable), so the ledger's queries see the whole year. Each IGO's run is then prepared, timed, and rolled back,
so every run of the script measures the same month. It also times what the run's page reads (the members'
unpaid entries by state) and the largest member's payout statement (CSV and PDF).

This script prints figures; it does not assert timings. The database's name must contain `bench`.
"""

from __future__ import annotations

if not __package__:  # run as `python bench/payouts.py`: the project root is not on sys.path yet
    import common  # noqa: F401

import datetime as dt
import sys
import time
from typing import Any

from bench.common import argument_parser, cursor, database_prepare, database_url, environment, scalar

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/igo_bench_payouts"
URL_VARIABLE = "BENCH_PAYOUTS_DATABASE_URL"
EVERY = 13  # one line in EVERY is this month's, accepted by the insurer


class Rollback(Exception):
    """Raised to leave a measured transaction without keeping what it wrote."""


def ibans(n: int, seed: int) -> list[str]:
    from schwifty import IBAN

    return [str(IBAN.generate("NL", bank_code="RABO", account_code=f"{seed:03d}{i:07d}")) for i in range(n)]


def month_prepare() -> None:
    """Bank accounts for the IGOs and their members, and one month of accepted lines (once)."""
    from django.db.models.functions import Mod

    from billing.models import ClaimLine, LineStatus
    from igo.models import Tenant
    from providers.models import MemberOrganisation

    if Tenant.objects.filter(slug__startswith="bench-national-").exclude(iban="").exists():
        return
    began = time.perf_counter()
    for n, tenant in enumerate(Tenant.objects.filter(slug__startswith="bench-national-").order_by("pk")):
        tenant.iban = ibans(1, 900 + n)[0]
        tenant.save(update_fields=["iban"])
        orgs = list(MemberOrganisation.unscoped.filter(tenant=tenant).order_by("pk"))
        for org, iban in zip(orgs, ibans(len(orgs), n), strict=True):
            org.iban, org.bic, org.account_holder = iban, "RABONL2U", org.name[:70]
        MemberOrganisation.unscoped.bulk_update(orgs, ["iban", "bic", "account_holder"])
    ClaimLine.unscoped.annotate(slot=Mod("id", EVERY)).filter(slot=0, status=LineStatus.SENT).update(
        status=LineStatus.ACCEPTED
    )
    with cursor() as cur:
        cur.execute("VACUUM ANALYZE billing_claimline")
    print(f"Made the month: bank accounts and accepted lines in {time.perf_counter() - began:.1f} s")


def measure_tenant(tenant: Any, period: dt.date, today: dt.date) -> dict[str, Any]:
    from django.db import transaction

    from billing import selectors, statements
    from billing.files.csv import payout_statement_csv
    from billing.files.pdf import payout_statement_pdf
    from billing.models import Allocation, Payout
    from billing.services.payouts import payout_run_prepare
    from igo.models import User
    from igo.tenancy import tenant_scope

    actor = User.objects.filter(memberships__tenant=tenant, memberships__role="igo_finance").first()
    assert actor is not None, tenant.slug
    figures: dict[str, Any] = {"slug": tenant.slug}
    try:
        with tenant_scope(tenant), transaction.atomic():
            began = time.perf_counter()
            run = payout_run_prepare(tenant=tenant, period=period, actor=actor, today=today)
            figures["prepare_s"] = time.perf_counter() - began
            figures["payouts"] = Payout.objects.filter(run=run).count()
            figures["total"] = run.total
            figures["entries"] = Allocation.objects.filter(paid_in__run=run).count() + (
                Allocation.objects.filter(reversal_paid_in__run=run).count()
            )
            began = time.perf_counter()
            selectors.payout_run_left(run=run, today=today)
            figures["left_s"] = time.perf_counter() - began
            largest = Payout.objects.filter(run=run).order_by("-entries").first()
            assert largest is not None
            began = time.perf_counter()
            statement = statements.payout_statement(payout=largest)
            payout_statement_csv(statement)
            figures["csv_s"] = time.perf_counter() - began
            figures["csv_rows"] = len(statement.rows)
            began = time.perf_counter()
            payout_statement_pdf(statement)
            figures["pdf_s"] = time.perf_counter() - began
            raise Rollback
    except Rollback:
        pass
    return figures


def main(argv: list[str] | None = None) -> None:
    args = argument_parser(__doc__).parse_args(argv)
    if args.fresh:
        sys.exit("--fresh does not apply: copy the national year (see the docstring) to start again.")
    url = database_url(
        URL_VARIABLE,
        DEFAULT_DATABASE_URL,
        script="bench/payouts.py",
        why="the benchmark gives the copied national year bank accounts and accepted lines",
    )
    database_prepare(url, fresh=False)
    from django.db.models import Max

    from billing.models import Allocation
    from igo.dates import month_start, next_month
    from igo.models import Tenant

    tenants = list(Tenant.objects.filter(slug__startswith="bench-national-").order_by("pk"))
    if not tenants:
        sys.exit("No national year in this database: copy igo_bench_national first (see the docstring).")
    month_prepare()
    latest = Allocation.unscoped.aggregate(m=Max("created_at"))["m"]
    from django.utils import timezone

    period = month_start(timezone.localtime(latest).date())
    today = next_month(period) + dt.timedelta(days=3)
    lines = scalar("SELECT count(*) FROM billing_claimline WHERE status = 'accepted'")
    allocations = scalar(
        "SELECT count(*) FROM billing_allocation a JOIN billing_claimline l ON l.id = a.claim_line_id "
        "WHERE l.status = 'accepted'"
    )
    year = Allocation.unscoped.count()
    print(
        f"Month {period:%Y-%m} (paid out on {today}): {lines:,} accepted lines with {allocations:,} allocations, "
        f"in a year of {year:,} allocations"
    )
    rows = [measure_tenant(t, period, today) for t in tenants]
    print()
    print(
        "| IGO | payouts | entries paid | total | prepare s | run page s | statement rows | CSV s | PDF s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['slug']} | {r['payouts']} | {r['entries']:,} | {r['total']:,} | {r['prepare_s']:.2f} | "
            f"{r['left_s']:.2f} | {r['csv_rows']:,} | {r['csv_s']:.2f} | {r['pdf_s']:.2f} |"
        )
    print(
        f"\nNational month: {sum(r['entries'] for r in rows):,} entries paid in "
        f"{sum(r['payouts'] for r in rows)} payouts; prepare {sum(r['prepare_s'] for r in rows):.2f} s in all "
        f"(largest IGO {max(r['prepare_s'] for r in rows):.2f} s)"
    )
    for key, value in environment(url).items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
