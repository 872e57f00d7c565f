"""BSNs a member key sends that are no client of the IGO ("misses", fhir_io.probing): each recorded as an
audit entry with a keyed pseudonym of the BSN, and a limit per key after which its imports are refused (403)
until the IGO's administrator resets it.

The world: IGO Alpha's care world (tests.scenarios.care) on 1 March 2027: Anna Jansen 60 days pregnant, the
midwife of practice De Linde, whose system has a key; IGO Beta's care world beside it.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from fhir_io import jobs, probing
from fhir_io.csv_import import CsvImportError, care_csv_import_file
from fhir_io.models import FhirImportJob, FhirResourceLink, ImportJobStatus, MemberApiKey
from igo.models import AuditEntry, Role
from igo.tenancy import tenant_scope
from pregnancies.models import AccessLogEntry, CareEvent
from tests.scenarios.care import Care
from tests.scenarios.clock import local, travel
from tests.scenarios.fhir import (
    Sender,
    bundle,
    care_bundle,
    code_mappings,
    encounter,
    patient,
    sender_for,
)
from tests.scenarios.fhir_ndjson import care_lines, nd_encounter, ndjson, post_ndjson

pytestmark = pytest.mark.clock(local(2027, 3, 1, 10))

UNKNOWN = [f"9{n:08d}" for n in range(1, 40)]  # nobody's BSN in either world


@pytest.fixture
def sender(care: Care) -> Sender:
    code_mappings(care)
    return sender_for(care)


def key_of(care: Care) -> MemberApiKey:
    return MemberApiKey.unscoped.select_related("account__user").get(account__organisation=care.practice)


def misses(**filters) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=probing.MISS, **filters).order_by("pk"))


def a_check(care: Care, ident: str = "e1") -> dict:
    start = timezone.localtime().replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=30)
    return encounter(ident, "controle", start)


def probe(*bsns: str) -> dict:
    """Patients only: what a key that tries BSNs sends."""
    return bundle(*[patient(b, f"urn:uuid:p{n}") for n, b in enumerate(bsns)])


def stored(care: Care) -> tuple[int, int, int]:
    return (
        CareEvent.unscoped.filter(episode=care.episode).count(),
        FhirResourceLink.unscoped.count(),
        FhirImportJob.unscoped.count(),
    )


@pytest.mark.django_db
def test_a_miss_is_recorded_for_the_key_with_a_pseudonym_never_the_bsn(care: Care, sender: Sender) -> None:
    answer = sender.post(probe(UNKNOWN[0], UNKNOWN[0][:-1] + "7"))
    assert answer.status_code == 422
    assert [i["code"] for i in answer.json()["issue"]] == ["not-found", "not-found"]
    key = key_of(care)
    rows = misses()
    assert len(rows) == 2
    for row in rows:
        assert (row.tenant_id, row.actor, row.object_type, row.object_id) == (
            care.tenant.pk, key.account.user, "fhir_io.memberapikey", str(key.pk),
        )  # fmt: skip
        assert row.details["organisation"] == care.practice.pk and row.details["source"] == "bundle"
        assert len(row.details["bsn"]) == 32
    assert {r.details["bsn"] for r in rows} == {
        probing.bsn_pseudonym(care.tenant.pk, UNKNOWN[0]),
        probing.bsn_pseudonym(care.tenant.pk, UNKNOWN[0][:-1] + "7"),
    }
    # Nowhere in the audit log in clear, nor its last digits as a value of their own.
    everything = json.dumps([(a.object_id, a.details) for a in AuditEntry.objects.all()])
    assert UNKNOWN[0] not in everything and UNKNOWN[0][-4:] not in everything
    # The same BSN again is recorded again, and counts once against the limit (no new probe).
    sender.post(probe(UNKNOWN[0]))
    assert len(misses()) == 3
    assert probing.misses_counted(key) == 2
    key.refresh_from_db()
    assert key.blocked_at is None


@pytest.mark.django_db
def test_a_hit_is_no_miss(care: Care, sender: Sender) -> None:
    answer = sender.post(care_bundle(care, a_check(care)))
    assert answer.status_code == 200, answer.content
    assert misses() == []
    assert AccessLogEntry.unscoped.filter(client=care.client, action="search", detail="FHIR import").exists()
    # A Bundle with a hit and a miss: only the miss is one.
    sender.post(bundle(patient(care.client.bsn), patient(UNKNOWN[1], "urn:uuid:p2")))
    assert [r.details["bsn"] for r in misses()] == [probing.bsn_pseudonym(care.tenant.pk, UNKNOWN[1])]


@pytest.mark.django_db
def test_another_igo_never_sees_them(care: Care, care_b: Care, sender: Sender, client_for) -> None:
    """Beta's client is a miss in Alpha (recorded there only, its pseudonym Alpha's own); Beta's administrator
    sees no miss and cannot reset Alpha's key."""
    sender.post(probe(care_b.client.bsn))
    (row,) = misses()
    assert row.tenant_id == care.tenant.pk
    assert row.details["bsn"] == probing.bsn_pseudonym(care.tenant.pk, care_b.client.bsn)
    assert row.details["bsn"] != probing.bsn_pseudonym(care_b.tenant.pk, care_b.client.bsn)
    key = key_of(care)

    alpha = client_for(care.user(Role.IGO_ADMIN)).get(care.url("fhir/misses/")).content.decode()
    assert f'data-testid="miss-key-{key.pk}"' in alpha and alpha.count('data-testid="miss"') == 1
    beta_admin = client_for(care_b.user(Role.IGO_ADMIN))
    beta = beta_admin.get(care_b.url("fhir/misses/"))
    assert beta.status_code == 200
    page = beta.content.decode()
    assert 'data-testid="miss"' not in page and f"miss-key-{key.pk}" not in page
    assert beta_admin.post(care_b.url(f"fhir/misses/{key.pk}/reset/")).status_code == 404
    with tenant_scope(care_b.tenant):
        assert probing.keys_with_misses(care_b.tenant) == []


@pytest.mark.django_db
def test_past_the_limit_the_key_is_blocked_and_nothing_is_stored(
    care: Care, sender: Sender, settings
) -> None:
    settings.FHIR_IMPORT_MISS_LIMIT = 3
    for bsn in UNKNOWN[:3]:  # up to the limit: each answered as usual
        assert sender.post(probe(bsn)).status_code == 422
    assert key_of(care).blocked_at is None
    # The import that passes it (the fourth unknown BSN, with care of a known client beside it): 403, one
    # issue about the key, nothing about its entries.
    sent = care_bundle(care, a_check(care))
    sent["entry"].append(patient(UNKNOWN[3], "urn:uuid:p9"))
    answer = sender.post(sent)
    assert answer.status_code == 403
    assert answer["Content-Type"].startswith("application/fhir+json")
    (issue,) = answer.json()["issue"]
    assert (issue["code"], issue["expression"]) == ("forbidden", ["Bundle"])
    assert "geblokkeerd" in issue["diagnostics"]  # in Dutch, as the API answers by default
    key = key_of(care)
    assert key.blocked_at is not None
    assert len(misses()) == 4
    block = AuditEntry.objects.get(action=probing.BLOCK)
    assert (block.object_id, block.details["misses"], block.details["limit"]) == (str(key.pk), 4, 3)
    assert stored(care) == (0, 0, 0)

    # Every later import of the key, even of known clients only: 403 before the body is read, no job.
    assert sender.post(care_bundle(care, a_check(care))).status_code == 403
    assert sender.post(care_bundle(care, a_check(care)), respond_async=True).status_code == 403
    nd = post_ndjson(sender, ndjson(*care_lines(care, nd_encounter("n1", "controle", timezone.now()))))
    assert nd.status_code == 403 and nd.json()["issue"][0]["expression"] == ["Line"]
    assert stored(care) == (0, 0, 0) and len(misses()) == 4
    # Another member's key is not blocked.
    other = sender_for(care, care.kraamzorg)
    assert other.post(probe(UNKNOWN[10])).status_code == 422


@pytest.mark.django_db
def test_one_import_with_many_unknown_bsns_says_none_of_them(care: Care, sender: Sender, settings) -> None:
    """A Bundle of 30 BSNs at a limit of 20: the answer does not tell which of them are clients."""
    settings.FHIR_IMPORT_MISS_LIMIT = 20
    answer = sender.post(probe(care.client.bsn, *UNKNOWN[:29]))
    assert answer.status_code == 403
    assert len(answer.json()["issue"]) == 1 and "entry" not in answer.content.decode()
    assert len(misses()) == 29 and key_of(care).blocked_at is not None


@pytest.mark.django_db
def test_misses_older_than_the_window_do_not_count(care: Care, sender: Sender, settings) -> None:
    settings.FHIR_IMPORT_MISS_LIMIT, settings.FHIR_IMPORT_MISS_WINDOW_HOURS = 3, 24
    for bsn in UNKNOWN[:3]:
        sender.post(probe(bsn))
    with travel(local(2027, 3, 2, 10, 30)):  # 24.5 hours later: those three are out of the window
        for bsn in UNKNOWN[3:6]:
            assert sender.post(probe(bsn)).status_code == 422
        key = key_of(care)
        assert key.blocked_at is None and probing.misses_counted(key) == 3
        assert sender.post(probe(UNKNOWN[6])).status_code == 403


@pytest.mark.django_db
def test_the_administrator_sees_the_misses_and_unblocks_the_key(
    care: Care, sender: Sender, settings, client_for
) -> None:
    settings.FHIR_IMPORT_MISS_LIMIT = 2
    sender.post(probe(*UNKNOWN[:3]))
    key = key_of(care)
    assert key.blocked_at is not None
    web = client_for(care.user(Role.IGO_ADMIN))
    assert f'href="{care.url("fhir/misses/")}"' in web.get(care.url("fhir/keys/")).content.decode()
    page = web.get(care.url("fhir/misses/"))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-testid="blocked-{key.pk}"' in html
    assert f'data-testid="misses-now-{key.pk}">3 / 2<' in html and html.count('data-testid="miss"') == 3
    assert UNKNOWN[0] not in html
    assert "Onbekende BSN's" in html and "geblokkeerd sinds" in html  # in Dutch, the interface's language
    # Only an administrator; a GET does not reset.
    assert (
        client_for(care.user(Role.MIDWIFE)).post(care.url(f"fhir/misses/{key.pk}/reset/")).status_code == 403
    )
    assert web.get(care.url(f"fhir/misses/{key.pk}/reset/")).status_code == 405

    reset = web.post(care.url(f"fhir/misses/{key.pk}/reset/"))
    assert reset.status_code == 302
    key.refresh_from_db()
    assert key.blocked_at is None and key.misses_reset_at is not None
    entry = AuditEntry.objects.get(action=probing.RESET)
    assert (entry.actor, entry.details["misses"]) == (care.user(Role.IGO_ADMIN), 3)
    assert f'data-testid="misses-now-{key.pk}">0 / 2<' in web.get(care.url("fhir/misses/")).content.decode()
    assert len(misses()) == 3  # the record stays

    answer = sender.post(care_bundle(care, a_check(care)))
    assert answer.status_code == 200, answer.content
    assert stored(care)[:2] == (1, 1)


@pytest.mark.django_db
def test_a_job_accepted_before_the_block_is_refused_when_it_runs(care: Care, sender: Sender) -> None:
    """In a test's transaction the job is never handed to the worker: it is run here."""
    accepted = sender.post(care_bundle(care, a_check(care)), respond_async=True)
    assert accepted.status_code == 202
    MemberApiKey.unscoped.filter(pk=key_of(care).pk).update(blocked_at=timezone.now())
    job = FhirImportJob.unscoped.get()
    with tenant_scope(care.tenant):
        assert jobs.import_job_run(job_id=job.pk) == ImportJobStatus.REFUSED
    job.refresh_from_db()
    assert job.http_status == 403 and job.report["issue"][0]["code"] == "forbidden"
    assert stored(care)[:2] == (0, 0) and job.body == b""
    assert sender.get(accepted["Content-Location"]).status_code == 403


@pytest.mark.django_db
def test_a_csv_file_records_its_misses_for_the_administrator(care: Care) -> None:
    admin = care.user(Role.IGO_ADMIN)
    row = ["HIS-1", "111222333", "", care.midwife.agb_code, "PRE_CHECK", "01-02-2027", "10:30", ""]
    content = ("row_id;bsn;episode;agb;code;date;time;quantity\r\n" + ";".join(row) + "\r\n").encode()
    with tenant_scope(care.tenant), pytest.raises(CsvImportError):
        care_csv_import_file(
            tenant=care.tenant, actor=admin, organisation=care.practice, content=content, filename="zorg.csv"
        )
    (row_,) = misses()
    assert (row_.actor, row_.object_type, row_.object_id, row_.details["source"]) == (
        admin, "providers.memberorganisation", str(care.practice.pk), "csv",
    )  # fmt: skip
    assert row_.details["bsn"] == probing.bsn_pseudonym(care.tenant.pk, "111222333")
    assert "111222333" not in json.dumps(row_.details)


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_a_job_records_its_misses_through_the_worker(care: Care, sender: Sender, needs_worker) -> None:
    accepted = sender.post(probe(UNKNOWN[0]), respond_async=True)
    assert accepted.status_code == 202
    answer = sender.job_answer(accepted["Content-Location"])
    assert answer.status_code == 422 and answer.json()["issue"][0]["code"] == "not-found"
    job = FhirImportJob.unscoped.get()
    (row,) = misses()
    assert (row.object_id, row.details["source"], row.details["job"]) == (
        str(key_of(care).pk),
        "bundle",
        job.pk,
    )
    assert row.details["bsn"] == probing.bsn_pseudonym(care.tenant.pk, UNKNOWN[0])


@pytest.mark.real_worker
@pytest.mark.django_db(transaction=True)
def test_ndjson_records_its_misses_and_past_the_limit_blocks(
    care: Care, sender: Sender, needs_worker, settings
) -> None:
    """The worker reads the limit of its own settings (the same environment as this process)."""
    limit = settings.FHIR_IMPORT_MISS_LIMIT
    lines = [patient(b)["resource"] | {"id": f"p{n}"} for n, b in enumerate(UNKNOWN[: limit - 1])]
    answer = sender.job_answer(post_ndjson(sender, ndjson(*lines))["Content-Location"])
    assert answer.status_code == 422
    assert answer.json()["issue"][0]["expression"] == ["Line[1].Patient.identifier"]
    rows = misses()
    assert len(rows) == limit - 1 and {r.details["source"] for r in rows} == {"ndjson"}
    # Two more unknown BSNs, with care of the known client: past the limit, 403, nothing stored.
    more = [patient(b)["resource"] | {"id": f"q{n}"} for n, b in enumerate(UNKNOWN[limit : limit + 2])]
    sent = care_lines(care, nd_encounter("n1", "controle", timezone.now() - timedelta(days=30))) + more
    answer = sender.job_answer(post_ndjson(sender, ndjson(*sent))["Content-Location"])
    assert answer.status_code == 403
    assert [(i["code"], i["expression"]) for i in answer.json()["issue"]] == [("forbidden", ["Line"])]
    assert key_of(care).blocked_at is not None
    assert stored(care)[:2] == (0, 0)
    assert len(misses()) == limit + 1


@pytest.mark.django_db
def test_misses_cost_the_same_queries_for_three_or_three_hundred(
    care: Care, sender: Sender, settings
) -> None:
    """Counted once per import, written in one INSERT: the queries do not grow with the misses."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.FHIR_IMPORT_MISS_LIMIT = 1000
    many = [f"8{n:08d}" for n in range(303)]
    sender.post(probe(many[0]))  # the key's first use of the minute is noted (last_used_at)
    with CaptureQueriesContext(connection) as few_queries:
        assert sender.post(probe(*many[1:4])).status_code == 422
    with CaptureQueriesContext(connection) as many_queries:
        assert sender.post(probe(*many[4:])).status_code == 422
    assert len(many_queries) == len(few_queries)
    assert len(misses()) == 303


@pytest.mark.django_db
def test_the_page_reads_the_same_for_one_key_or_five(care: Care, sender: Sender, client_for) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    web = client_for(care.user(Role.IGO_ADMIN))
    sender.post(probe(UNKNOWN[0]))
    web.get(care.url("fhir/misses/"))  # the session and the access cache warmed
    with CaptureQueriesContext(connection) as one:
        web.get(care.url("fhir/misses/"))
    for n in range(4):
        sender_for(care).post(probe(UNKNOWN[n + 1]))
    with CaptureQueriesContext(connection) as five:
        html = web.get(care.url("fhir/misses/")).content.decode()
    assert html.count('data-testid="miss-key-') == 5
    assert len(five) == len(one)
