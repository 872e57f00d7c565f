"""Benchmark of the CSV import of care (issue 21): a file of N rows (default 5,000) parsed and stored as the
upload page does (`fhir_io.csv_import.care_csv_import_file`), three times with new row identifiers, then the
last file again (nothing changes); to set `csv_import.MAX_ROWS` by.

The world is bench/fhir_import.py's (one IGO, a practice of 20 midwives, 2,000 pregnant clients), in a
database of its own (default `igo_bench_fhir_csv`, or $BENCH_CSV_DATABASE_URL), loaded on first use. Rows are
prenatal checks spread over the last 29 days, over the clients and midwives. Prints figures; asserts none.

    .venv/bin/python bench/csv_import.py
    .venv/bin/python bench/csv_import.py --rows 10000
"""

from __future__ import annotations

if not __package__:  # run as `python bench/csv_import.py`: the project root is not on sys.path yet
    import common  # noqa: F401

import statistics
import time
import uuid
from datetime import timedelta

from bench.common import argument_parser, database_prepare, database_url
from bench.fhir_import import CLIENTS, TENANT_SLUG, load, load_text

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/igo_bench_fhir_csv"
URL_VARIABLE = "BENCH_CSV_DATABASE_URL"


def csv_file(n: int, token: str, bsns: list[str], agbs: list[str]) -> bytes:
    """n prenatal checks over the last 29 days, in the Dutch convention (`;`, dd-mm-yyyy)."""
    from django.utils import timezone

    start = timezone.localtime().replace(second=0, microsecond=0) - timedelta(days=30)
    step = timedelta(days=29) / n
    lines = ["row_id;bsn;episode;agb;code;date;time;quantity"]
    for i in range(n):
        at = start + step * i
        lines.append(
            f"{token}-{i};{bsns[i % len(bsns)]};;{agbs[i % len(agbs)]};PRE_CHECK;{at:%d-%m-%Y};{at:%H:%M};"
        )
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--rows", type=int, default=5000, help="rows of the file")
    args = parser.parse_args()
    url = database_url(URL_VARIABLE, DEFAULT_DATABASE_URL, script="bench/csv_import.py", why="it is loaded")
    database_prepare(url, fresh=args.fresh)

    from fhir_io import csv_import
    from igo.models import Membership, Role, Tenant
    from igo.tenancy import tenant_scope
    from pregnancies.models import Client
    from providers.models import MemberOrganisation, Professional

    if not Tenant.objects.filter(slug=TENANT_SLUG).exists():
        started = time.perf_counter()
        load()
        print(f"Loaded the IGO, 20 midwives and {CLIENTS:,} clients in {time.perf_counter() - started:.1f} s")
    tenant = Tenant.objects.get(slug=TENANT_SLUG)
    admin = Membership.unscoped.get(tenant=tenant, role=Role.IGO_ADMIN).user
    practice = MemberOrganisation.unscoped.get(tenant=tenant)
    bsns = list(Client.unscoped.filter(tenant=tenant).order_by("pk").values_list("bsn", flat=True))
    agbs = list(Professional.unscoped.filter(tenant=tenant).order_by("pk").values_list("agb_code", flat=True))
    csv_import.MAX_ROWS = max(csv_import.MAX_ROWS, args.rows)  # measure past the limit in force
    csv_import.MAX_BYTES = max(csv_import.MAX_BYTES, 100 * args.rows)
    print(f"Before: {load_text()}")

    def run(content: bytes) -> tuple[float, object]:
        started = time.perf_counter()
        with tenant_scope(tenant):
            result = csv_import.care_csv_import_file(
                tenant=tenant, actor=admin, organisation=practice, content=content, filename="bench.csv"
            )
        return time.perf_counter() - started, result

    token = uuid.uuid4().hex[:8]
    run(csv_file(10, f"w{token}", bsns, agbs))  # warm-up: URL configuration, translations, first queries
    times: list[float] = []
    content = b""
    for i in range(3):
        content = csv_file(args.rows, f"{token}{i}", bsns, agbs)
        seconds, result = run(content)
        times.append(seconds)
        print(
            f"{args.rows:,} new rows ({len(content) / 1024:.0f} KB): {seconds:.2f} s  {result}  {load_text()}"
        )
    seconds, result = run(content)
    print(f"the last file again: {seconds:.2f} s  {result}")
    print(f"median of the new files: {statistics.median(times):.2f} s ({load_text()})")


if __name__ == "__main__":
    main()
