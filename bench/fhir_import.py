"""Benchmark of the FHIR import (issue 21): a Bundle of 1,000 care events synchronously, and a month of a large
practice (50,000 events) as NDJSON (one resource per line, fhir/ndjson/) through the job of a real Celery
worker.

Issue 21's targets: a Bundle of 1,000 care events imported in under 2 s; a month of a large practice
(50,000 events) through the job in under 2 minutes on 2 cores. The synchronous import is measured as the
endpoint answers it (the POST through Django's test client in this process: size check, JSON, the
fhir.resources validation, the mapping and the store), three times with new identifiers, then once resent
unchanged. The month (some 30 MB: over the Bundle's 10 MB) is POSTed as NDJSON and timed from the POST until
its job's status address answers 200; the worker is one Celery process started here (`--concurrency 1`: one core for Python, the other
for PostgreSQL), on its own Redis database (BENCH_REDIS_URL, default redis://127.0.0.1:6379/11).
`--in-process` runs the job's service (`fhir_io.jobs.import_job_run`) in this process instead.

This script prints figures; it does not assert timings. Its database (default `igo_bench_fhir`, or
$BENCH_FHIR_DATABASE_URL) is created and loaded on first use: one IGO with a practice of 20 midwives and
2,000 pregnant clients. Each run adds its events (new identifiers); `--fresh` starts again.

    .venv/bin/python bench/fhir_import.py
    .venv/bin/python bench/fhir_import.py --events 10000 --in-process
"""

from __future__ import annotations

if not __package__:  # run as `python bench/fhir_import.py`: the project root is not on sys.path yet
    import common  # noqa: F401

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from typing import Any

from bench.common import (
    ROOT,
    argument_parser,
    database_prepare,
    database_url,
    environment,
    service_environment,
)

DEFAULT_DATABASE_URL = "postgres://root@127.0.0.1:5432/igo_bench_fhir"
URL_VARIABLE = "BENCH_FHIR_DATABASE_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"  # national.py uses 14, scaleout.py 12, load.py 13
TENANT_SLUG = "bench-fhir"
SYNC_TARGET_S = 2.0
JOB_TARGET_S = 120.0
CLIENTS = 2000
MIDWIVES = 20
CODES = "https://his.example.org/fhir/CodeSystem/visits"
IDS = "https://his.example.org/fhir/NamingSystem/encounter"
STATE_DIR = ROOT / "tmp" / "bench-fhir"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--sync-events", type=int, default=1000, help="events of the synchronous Bundle")
    parser.add_argument("--events", type=int, default=50000, help="events of the job's NDJSON")
    parser.add_argument("--in-process", action="store_true", help="run the job here, not in a worker")
    parser.add_argument("--skip-job", action="store_true", help="measure the synchronous import only")
    return parser.parse_args(argv)


def load() -> None:
    """The IGO, its catalogue and code mapping, the practice, its midwives and 2,000 pregnant clients."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from bench.care_logging import bsn_generate
    from fhir_io import services
    from igo.models import Membership, Role, Tenant, User
    from igo.tenancy import tenant_scope
    from pregnancies.catalogue import catalogue_seed
    from pregnancies.models import Client, Episode, EventType
    from providers.models import MemberOrganisation, Professional

    rng = random.Random(21)
    intake = timezone.localdate() - timedelta(days=100)
    unusable = make_password(None)
    with transaction.atomic():
        tenant = Tenant.objects.create(name="Benchmark IGO FHIR", slug=TENANT_SLUG, agb_code="53990021")
        catalogue_seed(tenant=tenant)
        admin = User.objects.create(email="admin@bench-fhir.invalid", full_name="Beheer", password=unusable)
        Membership.unscoped.create(tenant=tenant, user=admin, role=Role.IGO_ADMIN)
        practice = MemberOrganisation.unscoped.create(
            tenant=tenant,
            name="Verloskundigenpraktijk Groot",
            kind="midwifery_practice",
            agb_code="03210021",
            member_from=date(2020, 1, 1),
        )
        users = User.objects.bulk_create(
            [
                User(
                    email=f"midwife-{i:02d}@bench-fhir.invalid",
                    full_name=f"Vroedvrouw {i}",
                    password=unusable,
                )
                for i in range(MIDWIVES)
            ]
        )
        Membership.unscoped.bulk_create([Membership(tenant=tenant, user=u, role=Role.MIDWIFE) for u in users])
        Professional.unscoped.bulk_create(
            [
                Professional(
                    tenant=tenant,
                    full_name=u.full_name,
                    discipline="midwife",
                    agb_code=f"03{i:06d}",
                    big_number=f"29{i:09d}",
                    organisation=practice,
                    user=u,
                )
                for i, u in enumerate(users)
            ]
        )
        used: set[str] = set()
        clients = Client.unscoped.bulk_create(
            [
                Client(
                    tenant=tenant,
                    family_name=f"Cliënt {i}",
                    given_names="Anna",
                    date_of_birth=date(1992, 1, 1),
                    bsn=bsn_generate(rng, used),
                )
                for i in range(CLIENTS)
            ]
        )
        Episode.unscoped.bulk_create(
            [
                Episode(
                    tenant=tenant,
                    client=c,
                    intake_date=intake,
                    due_date=intake + timedelta(days=280 - 70),
                    gestational_age_at_intake=70,
                    status="active",
                )
                for c in clients
            ]
        )
        with tenant_scope(tenant):
            services.code_mapping_create(
                tenant=tenant,
                actor=admin,
                system=CODES,
                code="controle",
                event_type=EventType.objects.get(code="PRE_CHECK"),
            )


def bundle(n: int, token: str, clients: list[str], agbs: list[str]) -> bytes:
    """n prenatal checks spread over the last 30 days, over the clients and midwives (patients and
    practitioners once each), identified by `token` and their number."""
    from django.utils import timezone

    per_client = max(1, -(-n // len(clients)))
    used = clients[: -(-n // per_client)]
    start = timezone.now().replace(microsecond=0) - timedelta(days=30)
    step = timedelta(days=29) / n
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:p-{bsn}",
            "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": bsn}],
            },
            "request": {"method": "PUT", "url": f"Patient?identifier=bsn|{bsn}"},
        }
        for bsn in used
    ]
    entries += [
        {
            "fullUrl": f"urn:uuid:d-{agb}",
            "resource": {
                "resourceType": "Practitioner",
                "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/agb-z", "value": agb}],
            },
            "request": {"method": "PUT", "url": f"Practitioner?identifier=agb|{agb}"},
        }
        for agb in agbs
    ]
    for i in range(n):
        ident = f"{token}-{i}"
        entries.append(
            {
                "fullUrl": f"urn:uuid:e-{ident}",
                "resource": {
                    "resourceType": "Encounter",
                    "identifier": [{"system": IDS, "value": ident}],
                    "status": "finished",
                    "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                    "type": [{"coding": [{"system": CODES, "code": "controle"}]}],
                    "subject": {"reference": f"urn:uuid:p-{used[i // per_client]}"},
                    "participant": [{"individual": {"reference": f"urn:uuid:d-{agbs[i % len(agbs)]}"}}],
                    "period": {"start": timezone.localtime(start + step * i).isoformat()},
                },
                "request": {"method": "PUT", "url": f"Encounter?identifier={IDS}|{ident}"},
            }
        )
    return json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}).encode()


def ndjson(n: int, token: str, clients: list[str], agbs: list[str]) -> bytes:
    """The same care as `bundle`, as NDJSON: patients and practitioners with an id, then n Encounters that
    refer to them as `Patient/<id>` and `Practitioner/<id>`."""
    from django.utils import timezone

    per_client = max(1, -(-n // len(clients)))
    used = clients[: -(-n // per_client)]
    start = timezone.now().replace(microsecond=0) - timedelta(days=30)
    step = timedelta(days=29) / n
    lines = [
        {
            "resourceType": "Patient",
            "id": f"p{bsn}",
            "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": bsn}],
        }
        for bsn in used
    ]
    lines += [
        {
            "resourceType": "Practitioner",
            "id": f"d{agb}",
            "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/agb-z", "value": agb}],
        }
        for agb in agbs
    ]
    lines += [
        {
            "resourceType": "Encounter",
            "identifier": [{"system": IDS, "value": f"{token}-{i}"}],
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "type": [{"coding": [{"system": CODES, "code": "controle"}]}],
            "subject": {"reference": f"Patient/p{used[i // per_client]}"},
            "participant": [{"individual": {"reference": f"Practitioner/d{agbs[i % len(agbs)]}"}}],
            "period": {"start": timezone.localtime(start + step * i).isoformat()},
        }
        for i in range(n)
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def post(
    raw: bytes, key: str, *, path: str = "fhir/", content_type: str = "application/fhir+json", **headers: str
) -> Any:
    from django.test import Client as HttpClient

    return HttpClient().post(
        f"/api/t/{TENANT_SLUG}/{path}",
        data=raw,
        content_type=content_type,
        headers=headers,
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def start_worker(url: str, redis_url: str) -> subprocess.Popen[bytes]:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    log_path = STATE_DIR / "celery.log"
    log = open(log_path, "wb")  # noqa: SIM115 - kept open for the worker's life
    env = service_environment(url, REDIS_URL=redis_url)
    command = [
        str(ROOT / ".venv" / "bin" / "celery"), "-A", "igo", "worker", "--pool", "prefork", "--concurrency", "1",
        "--loglevel", "info", "--hostname", "bench-fhir@%h", "--without-gossip", "--without-mingle",
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


def worker_rss_mb(proc: subprocess.Popen[bytes]) -> float:
    """The peak memory of the worker's child processes (where the task runs), in MB."""
    from pathlib import Path

    from bench.common import proc_stat, status_kb

    children = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    peaks = [status_kb(pid).get("VmHWM", 0) for pid in children if (proc_stat(pid) or (0,))[0] == proc.pid]
    return max(peaks, default=0) / 1024


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} CPUs)"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    url = database_url(URL_VARIABLE, DEFAULT_DATABASE_URL, script="bench/fhir_import.py", why="it is loaded")
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    if not args.in_process:
        os.environ["REDIS_URL"] = redis_url  # this process enqueues on the worker's broker
    database_prepare(url, fresh=args.fresh)
    from django.db.models import Count

    from fhir_io import jobs, services
    from fhir_io.models import FhirImportJob
    from igo.models import Membership, Role, Tenant
    from igo.tenancy import tenant_scope
    from pregnancies.models import CareEvent, Client
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
    with tenant_scope(tenant):
        _row, key = services.member_key_create(
            tenant=tenant, actor=admin, organisation=practice, name="bench"
        )
    print(f"Before: {load_text()}")

    # The synchronous import: three new Bundles, then the last one again (nothing changes).
    times: list[float] = []
    raw = b""
    rng_token = uuid.uuid4().hex[:8]
    sync_clients = bsns[: max(1, args.sync_events // 25)]
    # A first request loads the URL configuration and the FHIR models (seconds): not what is measured.
    started = time.perf_counter()
    post(bundle(10, f"w{rng_token}", sync_clients, agbs), key)
    print(f"warm-up request (10 events): {time.perf_counter() - started:.2f} s")
    for run in range(3):
        raw = bundle(args.sync_events, f"s{rng_token}{run}", sync_clients, agbs)
        started = time.perf_counter()
        answer = post(raw, key)
        times.append(time.perf_counter() - started)
        if answer.status_code != 200:
            sys.exit(f"the synchronous import answered {answer.status_code}: {answer.content[:2000]!r}")
    started = time.perf_counter()
    again = post(raw, key)
    resend = time.perf_counter() - started
    unchanged = sum(1 for e in again.json()["entry"] if e["response"]["status"] == "200 OK")
    median = statistics.median(times)
    print(
        f"| synchronous, {args.sync_events:,} events ({len(raw) / 1024:.0f} KB) | runs "
        f"{', '.join(f'{t:.2f}' for t in times)} s | median {median:.2f} s | resend unchanged {resend:.2f} s "
        f"({unchanged:,} entries 200 OK) |"
    )
    print(
        f"ratio to the {SYNC_TARGET_S:.0f} s target: {median / SYNC_TARGET_S:.2f} "
        f"({'met' if median < SYNC_TARGET_S else 'NOT met'}); {load_text()}"
    )

    if not args.skip_job:
        raw = ndjson(args.events, f"j{rng_token}", bsns, agbs)
        limit = jobs.job_max_bytes()
        if len(raw) > limit:
            sys.exit(f"the job's NDJSON is {len(raw):,} bytes, over FHIR_IMPORT_JOB_MAX_BYTES ({limit:,})")
        worker = None if args.in_process else start_worker(url, redis_url)
        try:
            before = CareEvent.unscoped.filter(tenant=tenant).count()
            started = time.perf_counter()
            accepted = post(raw, key, path="fhir/ndjson/", content_type="application/fhir+ndjson")
            if accepted.status_code != 202:
                sys.exit(f"the job was not accepted: {accepted.status_code} {accepted.content[:2000]!r}")
            status_url = accepted["Content-Location"].split("testserver", 1)[-1]
            accept_s = time.perf_counter() - started
            job_id = int(status_url.rstrip("/").rsplit("/", 1)[-1])
            if args.in_process:
                with tenant_scope(tenant):
                    jobs.import_job_run(job_id=job_id)
            seen = ""
            while True:
                answer = _get(status_url, key)
                if answer.status_code != 202:
                    break
                if answer["X-Progress"] != seen:
                    seen = answer["X-Progress"]
                    print(f"  {time.perf_counter() - started:6.1f} s  {seen}", flush=True)
                time.sleep(0.5)
            wall = time.perf_counter() - started
            peak = worker_rss_mb(worker) if worker is not None else 0.0
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=60)
        job = FhirImportJob.unscoped.get(pk=job_id)
        if answer.status_code != 200:
            sys.exit(f"the job ended {job.status}: {json.dumps(job.report)[:2000]}")
        made = CareEvent.unscoped.filter(tenant=tenant).count() - before
        assert job.started_at and job.finished_at
        run_s = (job.finished_at - job.started_at).total_seconds()
        where = "in this process" if args.in_process else "one Celery worker process"
        print(
            f"| NDJSON job, {args.events:,} events ({len(raw) / 1024 / 1024:.1f} MB) | {where} | POST answered in "
            f"{accept_s:.2f} s | POST to done {wall:.1f} s | the task itself {run_s:.1f} s | created {made:,} "
            f"| worker peak memory {peak:.0f} MB |"
        )
        print(
            f"ratio to the {JOB_TARGET_S:.0f} s target: {wall / JOB_TARGET_S:.2f} "
            f"({'met' if wall < JOB_TARGET_S else 'NOT met'}); {load_text()}"
        )
    events = CareEvent.unscoped.filter(tenant=tenant).aggregate(n=Count("pk"))["n"]
    print(f"Care events in the IGO now: {events:,}")
    for name, value in environment(url).items():
        print(f"{name}: {value}")


def _get(path: str, key: str) -> Any:
    from django.test import Client as HttpClient

    return HttpClient().get(path, HTTP_AUTHORIZATION=f"Bearer {key}")


if __name__ == "__main__":
    main()
