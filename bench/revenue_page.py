"""Benchmark of finance's revenue page (`/t/<slug>/revenue/`) for the largest IGO of the national year.

Issue 14: the revenue page of the largest bench IGO (31,000 episodes; 5.8 million care events in the
database) answers in under 200 ms at the median. It took 819 ms: its work-in-progress query read every care
event. The page now reads the year from the ledger (`billing.ledger.year_overview`) and the work in progress
from the waiting episodes (`billing.selectors.work_in_progress`), both through their indexes.

This script prints figures; it does not assert timings. It measures on the national year's database as
bench/finance_pages.py says: run `bench/national.py` first.

    .venv/bin/python bench/revenue_page.py                 # the largest IGO, this year, 100 requests
    .venv/bin/python bench/revenue_page.py -n 200 --year 2026 --explain

See docs/performance.md ("The revenue page") for what is measured and the latest figures.
"""

from __future__ import annotations

if not __package__:  # run as `python bench/revenue_page.py`: the project root is not on sys.path yet
    import common  # noqa: F401

from datetime import date
from typing import Any

from bench.common import environment
from bench.finance_pages import (
    database,
    explain,
    largest_igo_finance,
    page_times,
    parse,
    parser_for,
    print_table,
    timings_ms,
)

TARGET_MS = 200.0


def main(argv: list[str] | None = None) -> None:
    parser = parser_for(__doc__)
    parser.add_argument("--year", type=int, help="the year shown (default: the page's, this year)")
    args = parse(parser, argv)
    url = database("bench/revenue_page.py")
    from django.db import connection
    from django.utils import timezone

    from billing import ledger, selectors
    from billing.models import Allocation
    from igo.dates import month_bounds
    from igo.tenancy import tenant_scope
    from pregnancies.models import CareEvent

    finance = largest_igo_finance(args.tenant)
    tenant = finance.tenant
    year = args.year or timezone.localdate().year
    path = f"/t/{tenant.slug}/revenue/?year={year}"
    start, _ = month_bounds(date(year, 1, 1))
    end, _ = month_bounds(date(year + 1, 1, 1))
    with tenant_scope(tenant):
        entries = Allocation.objects.filter(created_at__gte=start, created_at__lt=end).count()
        entries += Allocation.objects.filter(superseded_at__gte=start, superseded_at__lt=end).count()
        waiting = selectors.work_in_progress().episodes
    print(
        f"IGO {tenant.slug}: {finance.episodes:,} episodes; {CareEvent.unscoped.count():,} care events in the "
        f"database; {entries:,} ledger entries in {year}; {waiting:,} active episodes without a claim line"
    )
    times = page_times(finance.user, path, args.requests)
    with tenant_scope(tenant):
        parts = [
            ("the year from the ledger (`ledger.year_overview`)", timings_ms(lambda: ledger.year_overview(year=year), args.parts)),
            ("the work in progress (`selectors.work_in_progress`)", timings_ms(selectors.work_in_progress, args.parts)),
            ("the years to choose from (`selectors.revenue_years`)", timings_ms(selectors.revenue_years, args.parts)),
        ]  # fmt: skip
    print_table("GET revenue page", times, parts, TARGET_MS)
    if args.explain:
        captured: list[tuple[str, Any]] = []

        def keep(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            captured.append((sql, params))
            return execute(sql, params, many, context)

        with tenant_scope(tenant), connection.execute_wrapper(keep):
            selectors.revenue_by_member_month(year=year, overhead_label="o", reserve_label="r")
            selectors.work_in_progress()
        explain(captured)
    print()
    for key, value in environment(url).items():
        print(f"- {key}: {value}")


if __name__ == "__main__":
    main()
