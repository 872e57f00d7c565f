"""Large FHIR imports as NDJSON (issue 21): one resource per line to /api/t/<igo>/fhir/ndjson/, always a job
of the worker, validated line by line, stored all or nothing by the Bundle import's mapping and store; a
transaction Bundle stays within FHIR_IMPORT_MAX_BYTES (10 MB), also as a job. The world is test_import's:
Anna Jansen 60 days into her pregnancy, the midwife of practice De Linde, whose system has a key.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from fhir_io import jobs
from fhir_io.models import FhirImportJob, FhirResourceLink, ImportJobStatus
from igo.tenancy import tenant_scope
from pregnancies.models import CareEvent
from tests.scenarios.care import Care
from tests.scenarios.fhir import EXAMPLES, Sender, care_bundle, code_mappings, encounter, sender_for
from tests.scenarios.fhir_ndjson import care_lines, nd_encounter, ndjson, post_ndjson


def days_ago(n: int, hour: int = 10):
    return timezone.localtime().replace(hour=hour, minute=0, second=0, microsecond=0) - timedelta(days=n)


def checks(n: int) -> list[dict]:
    """n prenatal checks of Anna, one every 70 minutes from 58 days ago."""
    start = days_ago(58, hour=8)
    return [nd_encounter(f"m{i}", "controle", start + timedelta(minutes=70 * i)) for i in range(n)]


def events(care: Care):
    return CareEvent.unscoped.filter(episode=care.episode)


@pytest.fixture
def sender(care: Care) -> Sender:
    code_mappings(care)
    return sender_for(care)


def run_here(care: Care, accepted) -> FhirImportJob:
    """In a test's transaction the job is never handed to the worker: run its service here."""
    assert accepted.status_code == 202, accepted.content
    job = FhirImportJob.unscoped.get(pk=int(accepted["Content-Location"].rstrip("/").rsplit("/", 1)[-1]))
    with tenant_scope(care.tenant):
        jobs.import_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_ndjson_is_imported_by_the_worker_and_a_resend_changes_nothing(
    care: Care, sender: Sender, needs_worker
) -> None:
    body = ndjson(*care_lines(care, *checks(30)))
    accepted = post_ndjson(sender, body)
    assert accepted.status_code == 202, accepted.content
    assert accepted.json()["resourceType"] == "OperationOutcome"
    job = FhirImportJob.unscoped.get()
    assert accepted["Content-Location"].endswith(f"/api/t/{care.tenant.slug}/fhir/jobs/{job.pk}/")
    assert (job.format, job.body_bytes) == ("ndjson", len(body))

    answer = sender.job_answer(accepted["Content-Location"])
    assert answer.status_code == 200, answer.content
    # One entry per line: the patient and the practitioner, then 30 new events.
    assert [e["response"]["status"] for e in answer.json()["entry"]] == ["200 OK"] * 2 + ["201 Created"] * 30
    assert events(care).count() == FhirResourceLink.unscoped.count() == 30
    job.refresh_from_db()
    assert (job.status, job.entries, job.created, job.body) == ("done", 30, 30, b"")

    again = sender.job_answer(post_ndjson(sender, body)["Content-Location"])
    assert again.status_code == 200
    assert [e["response"]["status"] for e in again.json()["entry"]][2:] == ["200 OK"] * 30
    assert events(care).count() == 30
    assert FhirImportJob.unscoped.filter(unchanged=30).count() == 1


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_one_bad_line_refuses_the_file_naming_its_line(care: Care, sender: Sender, needs_worker) -> None:
    """Line 13 (the 11th encounter) has a code the IGO does not map: none of the 20 encounters is stored."""
    lines = care_lines(care, *checks(20))
    lines[12] = nd_encounter("odd", "unknown-code", days_ago(30))
    answer = sender.job_answer(post_ndjson(sender, ndjson(*lines))["Content-Location"])
    assert answer.status_code == 422, answer.content
    issues = answer.json()["issue"]
    assert [(i["code"], i["expression"]) for i in issues] == [("code-invalid", ["Line[13].Encounter.type"])]
    assert not events(care).exists() and not FhirResourceLink.unscoped.exists()
    assert FhirImportJob.unscoped.get().status == ImportJobStatus.REFUSED


@pytest.mark.django_db
def test_a_malformed_line_is_refused_with_its_line_number(care: Care, sender: Sender) -> None:
    lines = [*care_lines(care, *checks(3)), '{"resourceType": "Encounter", "status": ']
    job = run_here(care, post_ndjson(sender, ndjson(*lines)))
    assert (job.status, job.http_status) == (ImportJobStatus.REFUSED, 400)
    [issue] = job.report["issue"]
    assert issue["code"] == "structure" and issue["expression"] == ["Line[6]"]
    assert issue["diagnostics"] == "Regel 6 is geen geldige JSON: Expecting value (column 41)"  # Dutch first
    assert not events(care).exists()


@pytest.mark.django_db
def test_each_line_is_validated_and_every_problem_named(care: Care, sender: Sender) -> None:
    """A FHIR-invalid line, an unknown resource type, an id used twice and a reference to no line of the file:
    each at its line; a blank line counts as a line and is skipped."""
    bad = nd_encounter("bad", "controle", days_ago(20))
    bad["status"] = ["finished"]
    lines: list = [
        *care_lines(care, *checks(2)),
        "",
        bad,
        {"resourceType": "Medication"},
        {"resourceType": "Patient", "id": "p1"},
    ]
    job = run_here(care, post_ndjson(sender, ndjson(*lines)))
    where = [(i["code"], i["expression"][0]) for i in job.report["issue"]]
    assert where == [
        ("invalid", "Line[6].Encounter.status"),
        ("not-supported", "Line[7]"),
        ("duplicate", "Line[8].Patient.id"),
    ], where
    assert job.http_status == 422

    # Valid lines whose reference names no resource of the file: said as the file's rule.
    lost = nd_encounter("lost", "controle", days_ago(20), patient_url="Patient/nobody")
    job = run_here(care, post_ndjson(sender, ndjson(*care_lines(care, lost))))
    [issue] = job.report["issue"]
    assert issue["expression"] == ["Line[3].Encounter.subject"]
    assert "Patient/<id>" in issue["diagnostics"]
    assert not events(care).exists()


@pytest.mark.django_db
def test_ndjson_needs_its_type_and_stays_within_its_limit(care: Care, sender: Sender, settings) -> None:
    body = ndjson(*care_lines(care, *checks(3)))
    wrong = post_ndjson(sender, body, content_type="application/fhir+json")
    assert wrong.status_code == 415 and wrong.json()["resourceType"] == "OperationOutcome"
    assert post_ndjson(sender, body, slug="elsewhere").status_code == 404  # the key's own IGO only
    unsigned = HttpClient().post(sender.url + "ndjson/", data=body, content_type="application/fhir+ndjson")
    assert unsigned.status_code == 401
    settings.FHIR_IMPORT_JOB_MAX_BYTES = len(body) - 1
    assert post_ndjson(sender, body).status_code == 413
    assert not FhirImportJob.unscoped.exists()


@pytest.mark.django_db
def test_a_20_mb_bundle_is_refused_whole_also_as_a_job(care: Care, sender: Sender) -> None:
    """A Bundle is at most FHIR_IMPORT_MAX_BYTES (10 MB) on every route: 413 with an OperationOutcome, no
    job, nothing stored; what is larger goes as NDJSON."""
    start = days_ago(58, hour=8)
    sent = care_bundle(
        care, *[encounter(f"b{i}", "controle", start + timedelta(seconds=i)) for i in range(29000)]
    )
    raw = json.dumps(sent).encode()
    assert 19 * 2**20 < len(raw) < 21 * 2**20
    for respond_async in (False, True):
        refused = sender.post(raw, respond_async=respond_async)
        assert refused.status_code == 413
        assert refused["Content-Type"].startswith("application/fhir+json")
        assert refused.json()["issue"][0]["code"] == "too-costly"
    assert not FhirImportJob.unscoped.exists() and not events(care).exists()


@pytest.mark.django_db
def test_the_documented_example_imports(care: Care, sender: Sender) -> None:
    """docs/fhir-examples/encounters.ndjson, with the test world's BSN, AGB and dates put in."""
    lines = [json.loads(line) for line in (EXAMPLES / "encounters.ndjson").read_text().splitlines()]
    lines[0]["identifier"][0]["value"] = care.client.bsn
    lines[1]["identifier"][0]["value"] = care.midwife.agb_code
    for n, resource in enumerate(lines[2:]):
        resource["period"]["start"] = days_ago(20 - n).isoformat()
    job = run_here(care, post_ndjson(sender, ndjson(*lines)))
    assert (job.status, job.created) == (ImportJobStatus.DONE, 2), job.report
    assert events(care).count() == 2
