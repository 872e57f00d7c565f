"""Benchmark of the finance home (`/t/<slug>/finance/`) for the largest IGO of the national year.

Issue 19: the finance home answers in under 200 ms at the median on the largest bench IGO. Its figures are
aggregates: the claims list's filtered lines (ready, rejected, deadline within 30 days), the work queue's
open items per reason, the work in progress priced at today's tariffs and the members' due ledger entries
(`billing.finance_home`). The script times the page and each figure alone.

It prints figures and asserts no timing. It measures on the national year's database as
bench/finance_pages.py says: run `bench/national.py` first (`--episodes`/`--tenants` make a smaller year).

    .venv/bin/python bench/finance_home.py              # the largest IGO, 100 requests
    .venv/bin/python bench/finance_home.py -n 200 --explain
"""

from __future__ import annotations

if not __package__:  # run as `python bench/finance_home.py`: the project root is not on sys.path yet
    import common  # noqa: F401

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
    args = parse(parser_for(__doc__), argv)
    url = database("bench/finance_home.py")
    from django.utils import timezone

    from billing import finance_home as home
    from billing.models import ClaimLine, WorkItem
    from igo.tenancy import tenant_scope

    finance = largest_igo_finance(args.tenant)
    tenant = finance.tenant
    today = timezone.localdate()
    path = f"/t/{tenant.slug}/finance/"
    lines = ClaimLine.unscoped.filter(tenant=tenant).count()
    items = WorkItem.unscoped.filter(tenant=tenant, resolved_at__isnull=True).count()
    print(
        f"IGO {tenant.slug}: {finance.episodes:,} episodes, {lines:,} claim lines, {items:,} open work items"
    )
    with tenant_scope(tenant):
        figures = home.finance_home(today=today)
    print(
        f"ready {figures.ready.lines:,} ({figures.ready.total}), rejected {figures.rejected.lines:,}, deadline "
        f"soon {figures.deadline_soon.lines:,}, waiting {figures.waiting_items:,}, work in progress "
        f"{figures.work.amount} ({figures.work.phases:,} phases), payouts due {figures.payouts_due}"
    )
    times = page_times(finance.user, path, args.requests)

    with tenant_scope(tenant):
        parts = [
            ("claims: ready", lambda: home.claim_summary(home.claim_lines_filtered(home.ready_filter(today)))),
            ("claims: rejected", lambda: home.claim_summary(home.claim_lines_filtered(home.rejected_filter(today)))),
            ("claims: deadline in 30 days", lambda: home.claim_summary(home.claim_lines_filtered(home.deadline_filter(today)))),
            ("work queue per reason", home.waiting_by_reason),
            ("work in progress estimate", lambda: home.work_in_progress_estimate(today=today)),
            ("payouts due (ledger)", lambda: home.payouts_due(today=today)),
        ]  # fmt: skip
        timed_parts = [(label, timings_ms(call, args.parts)) for label, call in parts]

    print_table("GET finance home", times, timed_parts, TARGET_MS)
    if args.explain:
        explain(times.queries)
    print()
    for key, value in environment(url).items():
        print(f"- {key}: {value}")


if __name__ == "__main__":
    main()
