"""Large FHIR imports as jobs of the worker (issue 21): FHIR's asynchronous request pattern.

`Prefer: respond-async` (or a Bundle over FHIR_IMPORT_ASYNC_ABOVE_BYTES) answers 202 with the job's status
address in Content-Location; the status answers 202 with X-Progress while the job waits or runs, then what
the synchronous import would have answered. The world is test_import's: Anna Jansen 60 days into her
pregnancy, the midwife of practice De Linde, whose system has a key.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from fhir_io import importing, jobs
from fhir_io.models import FhirImportJob, FhirResourceLink, ImportJobStatus, MemberApiKey
from igo.models import Role
from igo.tenancy import tenant_scope
from pregnancies.models import AccessLogEntry, CareEvent
from tests.scenarios.care import Care
from tests.scenarios.fhir import Sender, care_bundle, code_mappings, encounter, sender_for


def days_ago(n: int, hour: int = 10):
    return timezone.localtime().replace(hour=hour, minute=0, second=0, microsecond=0) - timedelta(days=n)


def month_of_checks(care: Care, n: int) -> dict:
    """n prenatal checks of Anna, one every 70 minutes from 58 days ago."""
    start = days_ago(58, hour=8)
    return care_bundle(
        care, *[encounter(f"m{i}", "controle", start + timedelta(minutes=70 * i)) for i in range(n)]
    )


def events(care: Care):
    return CareEvent.unscoped.filter(episode=care.episode)


@pytest.fixture
def sender(care: Care) -> Sender:
    code_mappings(care)
    return sender_for(care)


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_a_job_is_imported_by_the_worker_and_answers_the_transaction_response(
    care: Care, sender: Sender, needs_worker, client_for
) -> None:
    accepted = sender.post(month_of_checks(care, 30), respond_async=True)
    assert accepted.status_code == 202, accepted.content
    status_url = accepted["Content-Location"]
    job = FhirImportJob.unscoped.get()
    assert status_url.endswith(f"/api/t/{care.tenant.slug}/fhir/jobs/{job.pk}/")
    assert job.organisation == care.practice and job.body_bytes == len(job.body) > 0

    answer = sender.job_answer(status_url)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["type"] == "transaction-response"
    # The patient and the practitioner, then 30 new events, in the order sent.
    assert [e["response"]["status"] for e in body["entry"]] == ["200 OK"] * 2 + ["201 Created"] * 30
    assert events(care).count() == 30
    job.refresh_from_db()
    assert (job.status, job.entries, job.stored, job.created, job.problems) == ("done", 30, 30, 30, 0)
    assert job.body == b"" and job.finished_at is not None  # the BSNs are not kept past the job
    # Written as the synchronous import writes: links, and the access log of the BSN lookup and the events.
    assert FhirResourceLink.unscoped.count() == 30
    assert AccessLogEntry.unscoped.filter(client=care.client, action="create").count() == 30

    # The same Bundle again, as a job: nothing changes.
    again = sender.job_answer(sender.post(month_of_checks(care, 30), respond_async=True)["Content-Location"])
    assert [e["response"]["status"] for e in again.json()["entry"]][2:] == ["200 OK"] * 30
    assert events(care).count() == 30

    # The administrator's page lists both jobs with their counts.
    page = client_for(care.user(Role.IGO_ADMIN)).get(care.url("fhir/jobs/"))
    assert page.status_code == 200
    assert page.content.decode().count('data-testid="job-') == 2


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_a_refused_big_import_stores_nothing(care: Care, sender: Sender, needs_worker, settings) -> None:
    """Over the size threshold the Bundle becomes a job without being asked; one six-week check while Anna
    is still pregnant (postnatal care in the prenatal phase) refuses all 40 entries."""
    settings.FHIR_IMPORT_ASYNC_ABOVE_BYTES = 2000
    sent = month_of_checks(care, 40)
    sent["entry"].append(encounter("late", "nacontrole", days_ago(1)))
    accepted = sender.post(sent)
    assert accepted.status_code == 202, accepted.content
    answer = sender.job_answer(accepted["Content-Location"])
    assert answer.status_code == 422
    issues = answer.json()["issue"]
    assert [i["code"] for i in issues] == ["business-rule"]
    assert issues[0]["expression"][0].startswith("Bundle.entry[42].resource")
    assert not events(care).exists() and not FhirResourceLink.unscoped.exists()
    job = FhirImportJob.unscoped.get()
    assert (job.status, job.problems, job.created, job.body) == (ImportJobStatus.REFUSED, 1, 0, b"")


@pytest.mark.django_db
def test_a_waiting_job_shows_progress_to_its_member_and_is_404_to_another(care: Care, sender: Sender) -> None:
    """In a test's transaction the job is never handed to the worker (it is queued on commit): it waits."""
    accepted = sender.post(month_of_checks(care, 3), respond_async=True)
    assert accepted.status_code == 202
    status_url = accepted["Content-Location"]
    waiting = sender.get(status_url)
    assert waiting.status_code == 202
    assert waiting["X-Progress"] == "queued" and waiting.json()["status"] == "queued"
    # The maternity-care organisation's system: another member of the same IGO.
    other = sender_for(care, care.kraamzorg)
    assert other.get(status_url).status_code == 404
    assert other.get(status_url.replace(f"/t/{care.tenant.slug}/", "/t/elsewhere/")).status_code == 404
    assert not events(care).exists()


@pytest.mark.django_db
def test_a_bundle_over_the_limit_is_refused_also_as_a_job(care: Care, sender: Sender, settings) -> None:
    """FHIR_IMPORT_MAX_BYTES bounds a Bundle on every route; larger imports are NDJSON (test_ndjson)."""
    settings.FHIR_IMPORT_MAX_BYTES = 2000
    sent = month_of_checks(care, 10)
    assert sender.post(sent).status_code == 413
    assert sender.post(sent, respond_async=True).status_code == 413
    assert not FhirImportJob.unscoped.exists()


@pytest.mark.django_db
def test_the_store_reports_progress_per_chunk(care: Care, sender: Sender, monkeypatch) -> None:
    """The job's progress: care entries stored after each chunk (STORE_CHUNK, here 2), of all."""
    monkeypatch.setattr(importing, "STORE_CHUNK", 2)
    heard: list[tuple[int, int]] = []
    bundle = importing.parse(json.dumps(month_of_checks(care, 5)).encode())
    key = MemberApiKey.unscoped.select_related("account__organisation", "account__user").get(
        account__organisation=care.practice
    )
    with tenant_scope(care.tenant):
        importing.import_bundle(bundle=bundle, key=key, progress=lambda done, of: heard.append((done, of)))
    assert heard == [(2, 5), (4, 5), (5, 5)]
    assert events(care).count() == 5


@pytest.mark.django_db
def test_a_member_with_three_open_jobs_gets_429_for_a_fourth(care: Care, sender: Sender) -> None:
    """Each job holds its body (up to 64 MB) in the database until it runs: a member has at most three
    waiting or running. In a test's transaction they are never handed to the worker, so they wait."""
    for _ in range(jobs.MAX_OPEN_JOBS):
        assert sender.post(month_of_checks(care, 2), respond_async=True).status_code == 202
    refused = sender.post(month_of_checks(care, 2), respond_async=True)
    assert refused.status_code == 429
    assert [i["code"] for i in refused.json()["issue"]] == ["throttled"]
    assert refused["Retry-After"] == "60"
    assert FhirImportJob.unscoped.count() == jobs.MAX_OPEN_JOBS
    # One ends: the next is taken.
    FhirImportJob.unscoped.filter(pk=FhirImportJob.unscoped.first().pk).update(status=ImportJobStatus.DONE)
    assert sender.post(month_of_checks(care, 2), respond_async=True).status_code == 202


@pytest.mark.django_db
def test_the_imports_of_a_member_are_rate_limited_with_a_fhir_answer(
    care: Care, sender: Sender, settings
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "fhir_member": "2/min",
        },
    }
    system_user = MemberApiKey.unscoped.get(account__organisation=care.practice).account.user_id
    cache.delete(f"throttle_fhir_member_user-{system_user}")
    assert [sender.post(month_of_checks(care, 1)).status_code for _ in range(2)] == [200, 200]
    third = sender.post(month_of_checks(care, 1))
    assert third.status_code == 429
    assert [i["code"] for i in third.json()["issue"]] == ["throttled"]
    assert int(third["Retry-After"]) >= 1


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_the_sweep_sends_a_lost_job_again_and_gives_up_after_a_day(
    care: Care, sender: Sender, needs_worker
) -> None:
    """A job whose message never reached a worker (made here without one) waits; the sweep sends it again
    after 30 minutes and the worker imports it. One a day old is failed and its body (BSNs) dropped."""
    body = json.dumps(month_of_checks(care, 2)).encode()
    key = MemberApiKey.unscoped.get(account__organisation=care.practice)
    now = timezone.now()

    def lost(age: timedelta) -> FhirImportJob:
        return FhirImportJob.unscoped.create(
            tenant=care.tenant, organisation=care.practice, key=key, body=body,
            body_bytes=len(body), body_sha256="-", created_at=now - age,
        )  # fmt: skip

    recent, lost_hour, lost_days = (
        lost(timedelta(minutes=5)),
        lost(timedelta(hours=1)),
        lost(timedelta(days=2)),
    )
    with tenant_scope(care.tenant):
        counts = jobs.import_jobs_sweep(now=now)
    assert counts == {"sent_again": 1, "given_up": 1}
    answer = sender.job_answer(f"/api/t/{care.tenant.slug}/fhir/jobs/{lost_hour.pk}/")
    assert answer.status_code == 200, answer.content
    assert events(care).count() == 2
    lost_days.refresh_from_db()
    recent.refresh_from_db()
    assert (lost_days.status, lost_days.body, lost_days.http_status) == (ImportJobStatus.FAILED, b"", 500)
    assert recent.status == ImportJobStatus.QUEUED  # not yet taken for lost
