"""The FHIR import as a job of the worker, for large Bundles (a month of a practice): FHIR's asynchronous
request pattern. The POST stores the body and answers 202 with the job's status address; the worker runs the
same import (`importing.parse`, `importing.import_bundle`: one transaction, all or nothing), reporting
progress in the cache as it stores chunks; the job then holds the answer the synchronous import would have
given. Progress lives in the cache because the import's own transaction hides its writes until the end."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from fhir_io import importing, ndjson
from fhir_io.models import FhirImportJob, ImportFormat, ImportJobStatus, MemberApiKey

logger = logging.getLogger(__name__)

JOB_SOFT_LIMIT_S = 900  # the task's soft time limit; a job running longer than its hard limit is retaken
JOB_TIME_LIMIT_S = 960
PROGRESS_TTL_S = 2 * JOB_TIME_LIMIT_S
ENDED = (ImportJobStatus.DONE, ImportJobStatus.REFUSED, ImportJobStatus.FAILED)
OPEN = (ImportJobStatus.QUEUED, ImportJobStatus.RUNNING)
MAX_OPEN_JOBS = 3  # per member organisation: a fourth import waits until one of these has ended
LOST_AFTER = timedelta(minutes=30)  # queued this long, or running past the time limit: its message is lost
GIVE_UP_AFTER = timedelta(days=1)  # a job not ended a day after it came is failed and its body dropped


class JobsBusy(Exception):
    """The member has MAX_OPEN_JOBS imports waiting or running: a new one is refused (429), not queued."""


def job_max_bytes() -> int:
    """The largest NDJSON file a job takes (a month of a large practice is some 30 MB); a Bundle, also as a
    job, stays within FHIR_IMPORT_MAX_BYTES (fhir_io.api)."""
    return int(settings.FHIR_IMPORT_JOB_MAX_BYTES)


def async_above_bytes() -> int:
    """A Bundle larger than this becomes a job even without `Prefer: respond-async` (some 3,000 events)."""
    return int(getattr(settings, "FHIR_IMPORT_ASYNC_ABOVE_BYTES", 2 * 1024 * 1024))


def progress_key(job_id: int) -> str:
    return f"fhir-import-job:{job_id}"


def import_job_create(*, key: MemberApiKey, raw: bytes, format: str = ImportFormat.BUNDLE) -> FhirImportJob:
    """Store the body (a Bundle, or NDJSON) for the key's member and queue its import (after the commit);
    JobsBusy when the member has MAX_OPEN_JOBS open already (each holds up to 64 MB in the database)."""
    organisation = key.account.organisation
    if FhirImportJob.objects.filter(organisation=organisation, status__in=OPEN).count() >= MAX_OPEN_JOBS:
        raise JobsBusy
    job = FhirImportJob.objects.create(
        format=format,
        tenant_id=key.tenant_id,
        organisation=key.account.organisation,
        key=key,
        body=raw,
        body_bytes=len(raw),
        body_sha256=hashlib.sha256(raw).hexdigest(),
    )
    from fhir_io import tasks  # the task module imports this one

    tasks.fhir_import_run.delay_on_commit(key.tenant_id, job.pk)
    return job


def import_job_run(*, job_id: int) -> str:
    """Run a queued job (or one whose worker was lost past the time limit); another delivery of the same
    message finds it taken or ended and does nothing. Returns the job's status."""
    now = timezone.now()
    taken = (
        FhirImportJob.objects.filter(pk=job_id)
        .filter(
            Q(status=ImportJobStatus.QUEUED)
            | Q(status=ImportJobStatus.RUNNING, started_at__lt=now - timedelta(seconds=JOB_TIME_LIMIT_S))
        )
        .update(status=ImportJobStatus.RUNNING, started_at=now)
    )
    job = FhirImportJob.objects.select_related("key__account__user", "key__account__organisation").get(
        pk=job_id
    )
    if not taken:
        return job.status
    key = progress_key(job.pk)
    cache.set(key, {"stage": "checking", "done": 0, "total": 0}, PROGRESS_TTL_S)
    total = 0

    def progress(done: int, of: int) -> None:
        cache.set(key, {"stage": "storing", "done": done, "total": of}, PROGRESS_TTL_S)

    bundle: Any = None
    try:
        raw, job.body = bytes(job.body), b""  # one copy of the body in memory, not two
        if job.format == ImportFormat.NDJSON:  # validated line by line, then the Bundle's mapping and store
            bundle = ndjson.parse(raw)
            total = ndjson.care_entries(bundle)
            cache.set(key, {"stage": "mapping", "done": 0, "total": total}, PROGRESS_TTL_S)
            result = ndjson.import_lines(lines=bundle, key=job.key, progress=progress, job=job.pk)
        else:
            bundle = importing.parse(raw)
            total = importing.care_entries(bundle)
            cache.set(key, {"stage": "mapping", "done": 0, "total": total}, PROGRESS_TTL_S)
            result = importing.import_bundle(bundle=bundle, key=job.key, progress=progress, job=job.pk)
    except importing.Refused as refused:
        _end(
            job,
            ImportJobStatus.REFUSED,
            http_status=importing.refused_http(refused),
            report=importing.operation_outcome(refused.issues),
            entries=total,
            problems=len(refused.issues),
        )
    except Exception:  # any failure ends the job as failed (the log has the trace); nothing was stored
        logger.exception("FHIR import job %s failed", job.pk)
        issue = importing.Issue(
            "exception", "Bundle", _("The import failed; nothing was stored. Send it again.")
        )
        _end(
            job,
            ImportJobStatus.FAILED,
            http_status=500,
            report=importing.operation_outcome([issue]),
            entries=total,
            problems=1,
        )
    else:
        _end(
            job,
            ImportJobStatus.DONE,
            http_status=200,
            report=importing.response_bundle(bundle, result),
            entries=total,
            stored=total,
            created=result.created,
            corrected=result.corrected,
            voided=result.voided,
            unchanged=result.unchanged,
        )
    cache.delete(key)
    return job.status


def _end(job: FhirImportJob, status: str, **fields: Any) -> None:
    """The job's outcome; the body is dropped (it holds BSNs, and the report says what became of it)."""
    fields |= {"status": status, "finished_at": timezone.now(), "body": b""}
    FhirImportJob.objects.filter(pk=job.pk).update(**fields)
    for name, value in fields.items():
        setattr(job, name, value)


def job_progress(job: FhirImportJob) -> dict[str, Any]:
    """Where a job is: its status, and while it runs the stage and care entries stored of all."""
    if job.status in ENDED:
        return {"status": job.status, "stage": "ended", "done": job.stored, "total": job.entries}
    now = cache.get(progress_key(job.pk)) if job.status == ImportJobStatus.RUNNING else None
    now = now or {
        "stage": "queued" if job.status == ImportJobStatus.QUEUED else "checking",
        "done": 0,
        "total": 0,
    }
    return {"status": job.status, **now}


def import_jobs_sweep(*, now: Any = None) -> dict[str, int]:
    """The IGO's jobs whose worker message was lost (queued for LOST_AFTER, or running past the task's time
    limit) are sent again; one not ended GIVE_UP_AFTER after it came is failed, its body (BSNs) dropped.
    A job sent again that is meanwhile taken does nothing (import_job_run takes it once). Tenant in scope."""
    from fhir_io import tasks  # the task module imports this one

    now = now or timezone.now()
    stuck = FhirImportJob.objects.filter(
        Q(status=ImportJobStatus.QUEUED, created_at__lt=now - LOST_AFTER)
        | Q(status=ImportJobStatus.RUNNING, started_at__lt=now - timedelta(seconds=JOB_TIME_LIMIT_S))
    ).defer("body", "report")
    counts = {"sent_again": 0, "given_up": 0}
    for job in stuck:
        if job.created_at < now - GIVE_UP_AFTER:
            issue = importing.Issue(
                "timeout",
                "Bundle",
                _("The import did not run within a day; nothing was stored. Send it again."),
            )
            _end(
                job,
                ImportJobStatus.FAILED,
                http_status=500,
                report=importing.operation_outcome([issue]),
                problems=1,
            )
            counts["given_up"] += 1
        else:
            tasks.fhir_import_run.delay(job.tenant_id, job.pk)
            counts["sent_again"] += 1
    return counts
