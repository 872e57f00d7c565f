"""Monthly claim batches: the KZ301 file read back with an independent reader and compared with the
database, the CSV and PDF, reliability (repeat, concurrency, crash, frozen after release), numbering and
tenancy, the pre-send check, return information, member statements, and a property of the file trailer.

The world is seen from BILLING_NOW (20 November 2026, `pytest.mark.clock`): the claim lines the run makes
are stamped then, so the batches here cover that month (THIS_MONTH) and the months after it; where a test
needs an older line it moves the line's created_at back with an unscoped update.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.db.models import Exists, OuterRef, Sum
from django.utils import timezone, translation
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from billing import services, statements
from billing.files import csv as files_csv
from billing.files import kz301
from billing.files import pdf as files_pdf
from billing.models import (
    Allocation,
    BatchFile,
    BatchLine,
    BatchReturn,
    BatchStatus,
    ClaimBatch,
    ClaimLine,
    Contract,
    LineStatus,
    PrestatieCode,
    ReturnLine,
    WorkItem,
)
from billing.services import batches, returns
from billing.services.returns import ReturnEntry, ReturnError
from igo import dates
from igo.models import AuditEntry
from igo.tenancy import tenant_scope
from pregnancies.models import Client, ClientInsurance, Episode
from pregnancies.services import care_event_void
from tests import kz301_reader
from tests.factories import InsurerMembershipFactory, valid_bsn
from tests.kz301_reader import Record, cents_of
from tests.scenarios.billing import (
    BILLING_NOW,
    PORTFOLIO_TOTAL,
    Setup,
    at,
    build,
    current,
    episode,
    log,
    new_insurer_on_1_january,
    ordinary,
    portfolio,
    pregnancy,
    run,
    split_of,
    touch,
    transferred_in_week_30,
)
from tests.scenarios.files import pdf_text
from tests.scenarios.people import TenantWorld

pytestmark = pytest.mark.clock(BILLING_NOW)

D = Decimal
THIS_MONTH = dates.month_start(BILLING_NOW.date())  # the month the lines are made in
LAST_MONTH = dates.add_months(THIS_MONTH, -1)
NEXT_MONTH = dates.add_months(THIS_MONTH, 1)
MONTH_AFTER = dates.add_months(THIS_MONTH, 2)
SPEC = kz301_reader.load_spec()
BOM = "\ufeff".encode()


# --- helpers -------------------------------------------------------------------------------------


def make(
    s: Setup, *, period: dt.date = THIS_MONTH, insurer: Any = None, today: dt.date | None = None
) -> batches.BatchResult:
    with tenant_scope(s.tenant):
        return batches.batch_create(
            tenant=s.tenant, insurer=insurer or s.zk, period=period, actor=s.admin, today=today
        )


def make_batch(s: Setup, **kwargs: Any) -> ClaimBatch:
    result = make(s, **kwargs)
    assert result.batch is not None
    return result.batch


def release(s: Setup, batch: ClaimBatch) -> ClaimBatch:
    with tenant_scope(s.tenant):
        return batches.batch_release(batch=batch, actor=s.admin)


def file_of(batch: ClaimBatch, kind: str) -> bytes:
    return bytes(BatchFile.unscoped.get(batch=batch, kind=kind).content)


def records(batch: ClaimBatch) -> list[Record]:
    return kz301_reader.parse(file_of(batch, "kz301"), SPEC)


def rows_of(batch: ClaimBatch | None) -> list[BatchLine]:
    assert batch is not None
    return list(
        BatchLine.unscoped.filter(batch=batch)
        .select_related(
            "claim_line__corrects__batch_line", "claim_line__tariff", "claim_line__episode__client"
        )
        .order_by("line_no")
    )


def refs(batch: ClaimBatch | None) -> list[str]:
    assert batch is not None
    return list(BatchLine.unscoped.filter(batch=batch).order_by("line_no").values_list("number", flat=True))


def cents(amount: Decimal) -> int:
    value = amount * 100
    assert value == value.to_integral_value()
    return int(value)


def line_sum(batch: ClaimBatch, **filters: Any) -> Decimal:
    total = ClaimLine.unscoped.filter(batch_line__batch=batch, **filters).aggregate(t=Sum("amount"))["t"]
    return total or D("0.00")


def insurer_user(s: Setup) -> Any:
    return InsurerMembershipFactory(insurer=s.zk).user


def move_labour_a_day_earlier(ep: Episode) -> None:
    """A correction of the care path after sending: prenatal ends and natal starts on 13 Aug."""
    Episode.unscoped.filter(pk=ep.pk).update(labour_started_at=at(2026, 8, 13, 22), changed_at=timezone.now())


def open_items(ep: Episode, reason: str) -> list[str]:
    return list(
        WorkItem.unscoped.filter(episode=ep, reason=reason, resolved_at__isnull=True)
        .order_by("phase")
        .values_list("phase", flat=True)
    )


@pytest.fixture
def s(world_a: TenantWorld) -> Setup:
    return build(world_a)


@pytest.fixture
def billed(s: Setup) -> tuple[Setup, Episode, Episode]:
    """Four ready ZK lines: an ordinary pregnancy (three phases) and a transfer in week 30 (prenatal)."""
    ep, other = ordinary(s), transferred_in_week_30(s)
    run(s)
    return s, ep, other


# --- the specification document --------------------------------------------------------------------


def test_the_document_describes_exactly_the_records_the_writer_writes():
    def layout(spec: Any) -> dict[str, list[tuple[str, int, int, str]]]:
        return {code: [(f.name, f.start, f.length, f.kind) for f in fields] for code, fields in spec.items()}

    assert layout(SPEC) == layout(kz301.RECORDS)


def test_the_document_lists_every_return_code():
    text = kz301_reader.SPEC_PATH.read_text(encoding="utf-8")
    with translation.override("en"):
        for code, label in returns.RETURN_CODES.items():
            assert f"| `{code}` | {label} |" in text


def test_the_reader_refuses_a_file_that_breaks_the_rules():
    header = kz301.Header("53000001", "IGO", "3311", 1, dt.date(2026, 11, 1), THIS_MONTH, THIS_MONTH)
    out = io.BytesIO()
    kz301.write(header, [], out.write)
    good = out.getvalue()
    assert [r.code for r in kz301_reader.parse(good, SPEC)] == ["01", "99"]
    bad = {
        "no CR LF at the end": good[:-2],
        "a record too short": good[:100] + good[101:],
        "letters in an N field": good.replace(b"KZ301 01", b"KZ301 AB", 1),
        "an impossible date": good[:46] + b"20261131" + good[54:],
        "a lone LF between records": good.replace(b"\r\n", b"\n", 1),
    }
    for case, data in bad.items():
        with pytest.raises(kz301_reader.ReadError):
            kz301_reader.parse(data, SPEC)
            pytest.fail(case)


# --- the KZ301 file compared with the database --------------------------------------------------------


@dataclass
class Corrected:
    """Batch 1 (this month, released): an ordinary pregnancy and a transfer. Then the start of labour of
    the ordinary one is corrected, and three new clients arrive (a name with diacritics, two names that
    look like spreadsheet formulas). Batch 2 (next month, draft): two credits, their two new debits and
    the three new clients' lines."""

    s: Setup
    first: ClaimBatch
    second: ClaimBatch
    ordinary: Episode
    celik: Episode


def _client_named(ep: Episode, family_name: str, given_names: str) -> None:
    Client.unscoped.filter(pk=ep.client_id).update(family_name=family_name, given_names=given_names)


@pytest.fixture
def corrected(world_a: TenantWorld) -> Corrected:
    s = build(world_a)
    ep = ordinary(s)
    transferred_in_week_30(s)
    run(s)
    first = release(s, make_batch(s))
    move_labour_a_day_earlier(ep)
    celik = transferred_in_week_30(s)
    _client_named(celik, "Çelik-Ünal", "Ayşe Nur")
    _client_named(transferred_in_week_30(s), '=HYPERLINK("x")', "Eva")
    _client_named(transferred_in_week_30(s), "+31 6 12345678", "Fleur")
    run(s)
    second = make_batch(s, period=NEXT_MONTH)
    return Corrected(s, first, second, ep, celik)


def _check_file_against_database(s: Setup, batch: ClaimBatch) -> list[Record]:
    recs = records(batch)
    rows = rows_of(batch)
    codes = " ".join(r.code for r in recs)
    assert re.fullmatch(r"01( 02( 04( 98)?)+)+ 99", codes), codes
    assert [r["record_seq"] for r in recs] == list(range(1, len(recs) + 1))
    assert [r["record_code"] for r in recs] == [int(r.code) for r in recs]

    head = recs[0]
    assert (head["message_code"], head["message_version"], head["currency"]) == ("KZ301", 1, "EUR")
    assert (head["sender_agb"], head["sender_name"]) == (int(s.tenant.agb_code), s.tenant.name)
    assert (head["receiver_uzovi"], head["invoice_number"]) == (int(batch.insurer.uzovi_code), batch.number)
    assert (head["period_start"], head["period_end"]) == (batch.period, dates.month_end(batch.period))
    assert head["invoice_date"] == timezone.localtime(batch.created_at).date()

    # Per person one 02 record, followed by that person's lines (and never a second 02 for them).
    lines = [r for r in recs if r.code == "04"]
    assert len(lines) == len(rows) == batch.line_count
    persons: list[tuple[int, str]] = []
    person: Record | None = None
    for i, r in enumerate(recs):
        if r.code == "02":
            person = r
            persons.append((r["bsn"], r["insured_number"]))
        if r.code != "04":
            continue
        assert person is not None
        assert (r["bsn"], r["insured_number"], r["uzovi"]) == (
            person["bsn"],
            person["insured_number"],
            person["uzovi"],
        )
        following = recs[i + 1]
        if r["debit_credit"] == "C":  # a credit carries a comment that names the line it takes back
            assert following.code == "98"
            assert (following["refers_to_seq"], following["comment_line"]) == (r["record_seq"], 1)
            assert r["corrects_reference"] and r["corrects_reference"] in following["comment"]
        else:
            assert following.code != "98"
    assert len(persons) == len(set(persons))

    for r, row in zip(lines, rows, strict=True):
        cl = row.claim_line
        assert r["line_reference"] == row.number == cl.number
        expected_corrects = cl.corrects.number if cl.corrects else ""
        assert r["corrects_reference"] == row.corrects_number == expected_corrects
        assert r["debit_credit"] == ("D" if cl.sign == "debit" else "C") and row.sign == cl.sign
        assert cents_of(r) == cents(row.amount) == cents(cl.amount)
        assert r["insured_number"] == row.policy_number == cl.policy_number
        assert (r["service_start"], r["service_end"]) == (row.service_start, row.service_end)
        assert (row.service_start, row.service_end) == (cl.service_start, cl.service_end)
        assert r["tariff_cents"] == cents(row.tariff) == cents(cl.tariff.amount)
        assert r["percentage_hundredths"] == cents(cl.percentage)
        assert (r["code_list"], r["provider_agb"]) == (69, int(s.tenant.agb_code))
        assert r["episode_reference"] == row.episode_ref == str(cl.episode_id)
        client = cl.episode.client
        # A debit carries the client's BSN of today; a credit the BSN sent with the line it takes back.
        expected_bsn = cl.corrects.batch_line.bsn if cl.corrects else client.bsn
        assert r["bsn"] == int(row.bsn) and row.bsn == expected_bsn
        person_record = next(p for p in recs if p.code == "02" and p["bsn"] == r["bsn"])
        assert person_record["date_of_birth"] == row.date_of_birth == client.date_of_birth
        assert person_record["family_name"] == row.family_name[:25].rstrip()
        assert person_record["initials"] == row.initials[:6]

    # The trailer agrees with the 04 records, with the batch row and with the claim lines, to the cent.
    trailer = recs[-1]
    debit = sum(r["amount_cents"] for r in lines if r["debit_credit"] == "D")
    credit = sum(r["amount_cents"] for r in lines if r["debit_credit"] == "C")
    assert (trailer["count_02"], trailer["count_04"], trailer["count_98"], trailer["count_records"]) == (
        codes.split().count("02"),
        len(lines),
        codes.split().count("98"),
        len(recs),
    )
    assert (
        trailer["debit_total_cents"]
        == debit
        == cents(batch.debit_total)
        == cents(line_sum(batch, sign="debit"))
    )
    assert trailer["credit_total_cents"] == credit == -cents(batch.credit_total)
    assert credit == -cents(line_sum(batch, sign="credit"))
    net = trailer["total_cents"] if trailer["total_sign"] == "D" else -trailer["total_cents"]
    assert net == debit - credit == cents(batch.total) == cents(line_sum(batch))
    assert ClaimLine.unscoped.filter(batch_line__batch=batch).count() == batch.line_count
    return recs


def test_kz301_file_read_back_matches_the_database_and_keeps_diacritics(corrected):
    c = corrected
    first = _check_file_against_database(c.s, c.first)
    second = _check_file_against_database(c.s, c.second)
    # Batch 1: 3600.00 + 1200.00 in four debit lines, two persons.
    assert (first[-1]["count_04"], first[-1]["count_02"], first[-1]["total_cents"]) == (4, 2, 480000)
    # Batch 2: credits 1200.00 + 900.00, the same again as new debits, three new 1200.00 transfers.
    trailer = second[-1]
    assert (trailer["debit_total_cents"], trailer["credit_total_cents"]) == (570000, 210000)
    assert (trailer["total_sign"], trailer["total_cents"], trailer["count_98"]) == ("D", 360000, 2)
    credits = [r for r in second if r.code == "04" and r["debit_credit"] == "C"]
    taken_back = ClaimLine.unscoped.filter(batch_line__batch=c.first, episode=c.ordinary)
    assert sorted(r["corrects_reference"] for r in credits) == sorted(
        taken_back.filter(phase__in=["prenatal", "natal"]).values_list("number", flat=True)
    )
    # A name with diacritics travels as ISO-8859-1: single bytes C7 and DC, not UTF-8 pairs.
    data = file_of(c.second, "kz301")
    assert "Çelik-Ünal".encode("iso-8859-1") in data and "Çelik-Ünal".encode() not in data
    (person,) = [r for r in second if r.code == "02" and r["family_name"] == "Çelik-Ünal"]
    # "ş" is not in ISO-8859-1, but only the initials of the given names travel: A.N.
    assert person["initials"] == "A.N."
    assert person["bsn"] == int(Client.unscoped.get(pk=c.celik.client_id).bsn)


# --- the CSV and the PDF ----------------------------------------------------------------------------


def _csv_rows(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    assert data.startswith(BOM)
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";")
    header, *body = list(reader)
    return header, [dict(zip(header, row, strict=True)) for row in body]


def test_csv_has_one_row_per_line_adds_up_and_is_formula_safe(corrected):
    batch = corrected.second
    header, rows = _csv_rows(file_of(batch, "csv"))
    assert header == list(files_csv.BATCH_CSV_HEADER)
    lines = rows_of(batch)
    assert [r["reference"] for r in rows] == [x.number for x in lines]
    assert len(rows) == batch.line_count
    assert sum(D(r["amount"]) for r in rows) == batch.total == D("3600.00")
    assert sum(D(r["amount"]) for r in rows if r["debit_credit"] == "C") == batch.credit_total
    for r, x in zip(rows, lines, strict=True):
        assert r["bsn"] == x.bsn and r["bsn"].isdigit() and len(r["bsn"]) == 9
        assert D(r["amount"]) == x.amount  # a credit stays "-1200.00": a value, not text
        assert (r["corrects"], r["insured_number"], r["batch"]) == (
            x.corrects_number,
            x.policy_number,
            str(batch.number),
        )
    # Names that a spreadsheet would run as formulas are neutralised; BSNs and amounts stay values.
    names = {r["family_name"] for r in rows}
    assert '\'=HYPERLINK("x")' in names
    assert "'+31 6 12345678" in names
    assert "Çelik-Ünal" in names
    for r in rows:
        for column, cell in r.items():
            if cell[:1] in ("=", "+", "@", "\t", "\r", "|", "%"):
                pytest.fail(f"{column} starts like a formula: {cell!r}")
            if cell.startswith("-"):
                D(cell)  # only negative numbers may start with a minus


def test_pdf_summary_names_parties_period_lines_and_dutch_total(corrected, tmp_path):
    c = corrected
    text, pages = pdf_text(file_of(c.first, "pdf"), tmp_path, "first")
    assert pages == 1
    assert c.s.tenant.name in text and f"AGB {c.s.tenant.agb_code}" in text
    assert "Zilveren Kruis" in text and "UZOVI 3311" in text
    period_end = dates.month_end(THIS_MONTH)
    assert f"{THIS_MONTH:%d-%m-%Y} – {period_end:%d-%m-%Y}" in text
    for ref in refs(c.first):
        assert re.search(rf"\b{re.escape(ref)}\b", text), ref
    assert "€ 4.800,00" in text and "€ 1.500,00" in text and "€ 1.200,00" in text
    assert "Pagina 1 van 1" in text

    text2, _ = pdf_text(file_of(c.second, "pdf"), tmp_path, "second")
    for ref in refs(c.second):
        assert ref in text2
    # Credits -1200.00 - 900.00 = -2100.00; total 5700.00 - 2100.00 = 3600.00.
    assert "€ -2.100,00" in text2 and "€ 3.600,00" in text2 and "€ 5.700,00" in text2


def test_pdf_of_a_long_batch_numbers_its_pages(world_a, tmp_path):
    s = build(world_a)
    for _ in range(40):  # 40 completed pregnancies: 120 lines
        episode(
            s,
            **pregnancy(dt.date(2026, 2, 2)),
            labour_started_at=at(2026, 8, 14, 8),
            placenta_plus_2h_at=at(2026, 8, 14, 15),
            postnatal_ended_on=dt.date(2026, 9, 25),
            status="ended",
            end_date=dt.date(2026, 9, 25),
            end_reason="completed",
        )
    run(s)
    batch = make_batch(s)
    assert batch.line_count == 120 and batch.total == 40 * D("3600.00")
    text, pages = pdf_text(file_of(batch, "pdf"), tmp_path)
    assert pages > 1
    for page in range(1, pages + 1):
        assert f"Pagina {page} van {pages}" in text
    assert f"Pagina {pages + 1} " not in text
    assert text.count("Pagina") == pages
    # Every page shows the column heading above its lines (on later pages in the top margin).
    page_texts = text.split("\f")[:pages]
    assert all(re.search(r"#\s+Kenmerk\s+Corrigeert", page) for page in page_texts), page_texts
    missing = [ref for ref in refs(batch) if not re.search(rf"\b{re.escape(ref)}\b", text)]
    assert missing == []
    assert "€ 144.000,00" in text


# --- text reaches the insurer intact ----------------------------------------------------------------


def test_a_long_name_does_not_break_a_line_reference_in_the_pdf(s, tmp_path):
    ep = transferred_in_week_30(s)
    _client_named(ep, "van Oudshoorn-Vermeulen-Hendriksen tot Boschveld", "Maria")
    run(s)
    (line,) = current(ep).values()
    ClaimLine.unscoped.filter(pk=line.pk).update(number="2031457-PRE-D1")  # an IGO a few years on
    text, _ = pdf_text(file_of(make_batch(s), "pdf"), tmp_path)
    assert "2031457-PRE-D1" in text


def test_the_prestatie_code_reaches_the_insurer_unchanged(s):
    ordinary(s)
    run(s)
    batch = make_batch(s)
    sent = [r["prestatie_code"] for r in records(batch) if r.code == "04"]
    assert sent == [x.prestatie_code for x in rows_of(batch)]


def test_a_long_insured_number_is_not_cut_silently(s):
    ep = episode(
        s,
        policy="ZK-2026-0000012345",
        **pregnancy(dt.date(2026, 2, 2)),
        status="ended",
        end_date=dt.date(2026, 6, 8),
        end_reason="moved_away",
    )
    log(s, ep, "PRE_CHECK", s.practice, at(2026, 2, 9))
    run(s)
    result = make(s)
    if result.batch is None:  # held back by the pre-send check: also a fix, nothing was cut
        assert WorkItem.unscoped.filter(episode=ep, resolved_at__isnull=True).exists()
        return
    sent = [r["insured_number"] for r in records(result.batch) if r.code == "04"]
    assert sent == ["ZK-2026-0000012345"]


# --- reliability --------------------------------------------------------------------------------------


def test_making_the_months_batch_twice_gives_one_batch(billed):
    s, _, _ = billed
    first = make(s)
    again = make(s)
    assert first.created and not again.created
    assert first.batch is not None and again.batch is not None
    assert (again.batch.pk, again.batch.number) == (first.batch.pk, first.batch.number)
    with tenant_scope(s.tenant):  # the beat job after a person: no ready line is left for another batch
        assert batches.batches_create_month(tenant=s.tenant, period=THIS_MONTH, actor=s.admin) == []
    release(s, first.batch)
    assert make(s).batch == first.batch
    assert ClaimBatch.unscoped.count() == 1 and BatchFile.unscoped.count() == 3
    assert BatchLine.unscoped.count() == 4
    assert AuditEntry.objects.filter(action="batch.create").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_making_the_batch_at_once_give_one_batch(world_a):
    if connection.vendor != "postgresql":
        pytest.skip("row locking needs PostgreSQL")
    s = build(world_a)
    ordinary(s)
    transferred_in_week_30(s)
    run(s)
    barrier = threading.Barrier(2)
    results: list[batches.BatchResult] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with tenant_scope(s.tenant):
                barrier.wait(timeout=30)
                results.append(batches.batch_create(tenant=s.tenant, insurer=s.zk, period=THIS_MONTH))
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(r.created for r in results) == [False, True]
    assert len({r.batch.pk for r in results if r.batch}) == 1
    assert ClaimBatch.unscoped.count() == 1
    assert BatchLine.unscoped.count() == 4 and BatchFile.unscoped.count() == 3


def test_a_crash_while_making_the_files_leaves_nothing_and_a_retry_succeeds(billed, monkeypatch):
    s, _, _ = billed

    def broken_pdf(batch: ClaimBatch, rows: Any) -> bytes:
        raise RuntimeError("the PDF renderer died")

    monkeypatch.setattr(batches, "batch_pdf", broken_pdf)
    with pytest.raises(RuntimeError, match="renderer died"):
        make(s)
    assert (ClaimBatch.unscoped.count(), BatchLine.unscoped.count(), BatchFile.unscoped.count()) == (0, 0, 0)
    assert set(ClaimLine.unscoped.values_list("status", flat=True)) == {LineStatus.READY}
    assert not ClaimLine.unscoped.filter(batch_line__isnull=False).exists()
    assert not AuditEntry.objects.filter(action="batch.create").exists()
    monkeypatch.undo()
    retry = make(s)
    assert retry.created and retry.batch is not None
    assert (retry.batch.number, retry.batch.line_count) == (1, 4)
    assert BatchFile.unscoped.filter(batch=retry.batch).count() == 3


def _refused(action: Callable[[], Any]) -> str:
    with pytest.raises(DatabaseError) as exc, transaction.atomic():
        action()
    return str(exc.value)


def test_postgresql_keeps_a_batch_fixed_and_refuses_any_change_after_release(billed):
    if connection.vendor != "postgresql":
        pytest.skip("the triggers exist on PostgreSQL only")
    s, _, _ = billed
    batch = make_batch(s)
    line = BatchLine.unscoped.filter(batch=batch).first()
    assert line is not None
    # A draft may be discarded, but its contents are fixed when it is made.
    fixed = "fixed when it is made"
    assert fixed in _refused(lambda: ClaimBatch.unscoped.filter(pk=batch.pk).update(number=99))
    assert fixed in _refused(lambda: ClaimBatch.unscoped.filter(pk=batch.pk).update(line_count=9))
    assert "written once" in _refused(lambda: BatchLine.unscoped.filter(pk=line.pk).update(amount=1))
    # The numbering is unique per IGO in the database itself.
    with pytest.raises(IntegrityError), transaction.atomic():
        ClaimBatch.unscoped.create(tenant=s.tenant, number=batch.number, insurer=s.vgz, period=THIS_MONTH)
    # Released: nothing of the batch, its lines or its files can be updated or deleted.
    batch = release(s, batch)
    kz = BatchFile.unscoped.get(batch=batch, kind="kz301")
    before = (file_of(batch, "kz301"), refs(batch), batch.total)
    released = "released claim batch cannot be changed"
    assert released in _refused(lambda: ClaimBatch.unscoped.filter(pk=batch.pk).update(status="draft"))
    assert released in _refused(lambda: ClaimBatch.unscoped.filter(pk=batch.pk).update(held=[]))

    def delete_batch_row() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM billing_claimbatch WHERE id = %s", [batch.pk])

    assert released in _refused(delete_batch_row)
    assert released in _refused(lambda: ClaimBatch.unscoped.filter(pk=batch.pk).delete())
    written_once = "written once"
    assert written_once in _refused(lambda: BatchLine.unscoped.filter(pk=line.pk).update(bsn="111222333"))
    assert written_once in _refused(lambda: BatchFile.unscoped.filter(pk=kz.pk).update(content=b"x"))
    assert released in _refused(lambda: BatchLine.unscoped.filter(pk=line.pk).delete())
    assert released in _refused(lambda: BatchFile.unscoped.filter(pk=kz.pk).delete())
    batch.refresh_from_db()
    assert (file_of(batch, "kz301"), refs(batch), batch.total) == before
    assert batch.status == BatchStatus.RELEASED


def test_a_draft_can_be_discarded_and_rebuilt(billed):
    s, _, _ = billed
    draft = make_batch(s)
    lines = refs(draft)
    with tenant_scope(s.tenant):
        batches.batch_discard(batch=draft, actor=s.admin)
    assert (ClaimBatch.unscoped.count(), BatchLine.unscoped.count(), BatchFile.unscoped.count()) == (0, 0, 0)
    assert set(ClaimLine.unscoped.values_list("status", flat=True)) == {LineStatus.READY}
    again = make(s)
    assert again.created and again.batch is not None and refs(again.batch) == lines
    with tenant_scope(s.tenant):
        rebuilt = batches.batch_rebuild(batch=again.batch, actor=s.admin)
    assert rebuilt.created and rebuilt.batch is not None
    assert not ClaimBatch.unscoped.filter(pk=again.batch.pk).exists()
    assert refs(rebuilt.batch) == lines and ClaimBatch.unscoped.count() == 1
    assert AuditEntry.objects.filter(action="batch.discard").count() == 2


def test_release_marks_every_line_sent_and_happens_once(billed):
    s, _, _ = billed
    draft = make_batch(s)
    # A draft is not the insurer's yet: return information for it is refused.
    with pytest.raises(ReturnError) as exc:
        returns.batch_return_record(
            batch=draft, entries=[ReturnEntry(refs(draft)[0], "accepted")], user=insurer_user(s)
        )
    assert [(e.row, e.field) for e in exc.value.errors] == [(0, "batch")]
    assert not BatchReturn.unscoped.exists()

    batch = release(s, draft)
    assert batch.status == BatchStatus.RELEASED and batch.released_by == s.admin
    assert batch.released_at is not None
    sent = list(ClaimLine.unscoped.filter(batch_line__batch=batch).values_list("status", "sent_at"))
    assert len(sent) == 4 and set(sent) == {(LineStatus.SENT, batch.released_at)}
    with pytest.raises(ValidationError) as second:
        release(s, batch)
    assert second.value.code == "released"
    with tenant_scope(s.tenant), pytest.raises(ValidationError):
        batches.batch_discard(batch=batch, actor=s.admin)
    assert ClaimBatch.unscoped.get(pk=batch.pk).status == BatchStatus.RELEASED
    assert AuditEntry.objects.filter(action="batch.release").count() == 1


def test_a_draft_whose_line_was_withdrawn_is_stale_and_must_be_rebuilt(billed):
    s, ep, _ = billed
    draft = make_batch(s)
    before = {p: x.number for p, x in current(ep).items()}
    move_labour_a_day_earlier(ep)
    run(s)  # prenatal and natal were not sent yet: withdrawn and billed anew
    assert set(
        ClaimLine.unscoped.filter(number__in=[before["prenatal"], before["natal"]]).values_list(
            "status", flat=True
        )
    ) == {LineStatus.WITHDRAWN}
    with pytest.raises(ValidationError) as exc:
        release(s, draft)
    assert exc.value.code == "stale"
    assert before["prenatal"] in exc.value.messages[0]
    draft.refresh_from_db()
    assert draft.status == BatchStatus.DRAFT
    assert not ClaimLine.unscoped.filter(status=LineStatus.SENT).exists()
    with tenant_scope(s.tenant):
        rebuilt = batches.batch_rebuild(batch=draft, actor=s.admin)
    assert rebuilt.batch is not None
    now = {p: x.number for p, x in current(ep).items()}
    assert set(refs(rebuilt.batch)) >= set(now.values())
    assert not set(refs(rebuilt.batch)) & {before["prenatal"], before["natal"]}
    release(s, rebuilt.batch)
    assert set(ClaimLine.unscoped.filter(number__in=now.values()).values_list("status", flat=True)) == {
        LineStatus.SENT
    }


# --- numbering, periods and tenancy -----------------------------------------------------------------


def test_batch_numbers_are_per_igo_and_ascend_across_insurers(world_a, world_b):
    a, b = build(world_a), build(world_b)
    new_insurer_on_1_january(a)  # prenatal to ZK, natal and postnatal to VGZ
    new_insurer_on_1_january(b)
    run(a)
    run(b)
    made: dict[str, list[ClaimBatch]] = {}
    for x in (a, b):
        with tenant_scope(x.tenant):
            results = batches.batches_create_month(tenant=x.tenant, period=THIS_MONTH, actor=x.admin)
        made[x.tenant.slug] = [r.batch for r in results if r.batch is not None]
    transferred_in_week_30(a)
    run(a)
    with tenant_scope(a.tenant):
        (later,) = batches.batches_create_month(tenant=a.tenant, period=NEXT_MONTH, actor=a.admin)
    assert later.batch is not None
    # ZK (3311) before VGZ (7095) within a month, then the next month: 1, 2, 3 in A; 1, 2 in B.
    assert [(x.number, x.insurer.uzovi_code) for x in made[a.tenant.slug]] == [(1, "3311"), (2, "7095")]
    assert [(x.number, x.insurer.uzovi_code) for x in made[b.tenant.slug]] == [(1, "3311"), (2, "7095")]
    assert (later.batch.number, later.batch.insurer.uzovi_code) == (3, "3311")
    for x in (a, b):
        own = set(ClaimLine.unscoped.filter(tenant=x.tenant).values_list("number", flat=True))
        for batch in ClaimBatch.unscoped.filter(tenant=x.tenant):
            assert not BatchLine.unscoped.filter(batch=batch).exclude(claim_line__tenant=x.tenant).exists()
            assert not BatchLine.unscoped.filter(batch=batch).exclude(tenant=x.tenant).exists()
            sent = {r["line_reference"] for r in records(batch) if r.code == "04"}
            assert sent <= own
            assert records(batch)[0]["sender_agb"] == int(x.tenant.agb_code)
    # Every line of both IGOs is in exactly one batch of its own IGO: 1200.00 + 1000.00 + 1650.00 each.
    assert BatchLine.unscoped.count() == ClaimLine.unscoped.count() == 3 + 3 + 1
    assert sum(x.total for x in ClaimBatch.unscoped.filter(tenant=b.tenant)) == D("3850.00")


def test_a_batch_takes_only_lines_created_before_the_end_of_its_month(billed):
    s, ep, other = billed
    lines = current(ep)
    (transfer,) = current(other).values()
    ClaimLine.unscoped.filter(pk=lines["prenatal"].pk).update(
        created_at=timezone.make_aware(dt.datetime.combine(LAST_MONTH, dt.time(9)))
    )
    ClaimLine.unscoped.filter(pk=transfer.pk).update(
        created_at=timezone.make_aware(dt.datetime.combine(NEXT_MONTH, dt.time(0, 0, 1)))
    )
    assert refs(make_batch(s, period=LAST_MONTH)) == [lines["prenatal"].number]
    this = make_batch(s)
    assert set(refs(this)) == {lines["natal"].number, lines["postnatal"].number}
    assert refs(make_batch(s, period=NEXT_MONTH)) == [transfer.number]
    assert [x.number for x in ClaimBatch.unscoped.order_by("number")] == [1, 2, 3]


# --- the pre-send check ------------------------------------------------------------------------------


def _assert_held(result: batches.BatchResult, line: ClaimLine, reason: str) -> None:
    batch = result.batch
    assert batch is not None
    entry = next(h for h in batch.held if h["line"] == line.pk)
    assert entry["number"] == line.number and entry["amount"] == str(line.amount)
    assert reason in [r["reason"] for r in entry["reasons"]]
    assert line.number not in refs(batch)
    line.refresh_from_db()
    assert line.status == LineStatus.READY and not BatchLine.unscoped.filter(claim_line=line).exists()
    if reason in batches.PRESEND_REASONS:
        assert WorkItem.unscoped.filter(
            episode_id=line.episode_id, phase=line.phase, reason=reason, resolved_at__isnull=True
        ).exists()


def _assert_cleared(result: batches.BatchResult, line: ClaimLine, reason: str) -> None:
    assert result.batch is not None
    assert line.number in refs(result.batch)
    assert all(h["line"] != line.pk for h in result.batch.held)
    items = WorkItem.unscoped.filter(episode_id=line.episode_id, phase=line.phase, reason=reason)
    assert items.count() == 1 and items.get().resolved_at is not None


def test_presend_invalid_bsn_is_held_until_corrected(billed):
    s, ep, other = billed
    Client.unscoped.filter(pk=ep.client_id).update(bsn="123456789")  # fails the eleven-test
    result = make(s)
    assert result.held == 3 and result.batch is not None
    assert refs(result.batch) == [x.number for x in current(other).values()]
    for line in current(ep).values():
        _assert_held(result, line, "presend_bsn")
    assert open_items(ep, "presend_bsn") == ["natal", "postnatal", "prenatal"]
    Client.unscoped.filter(pk=ep.client_id).update(bsn=valid_bsn(90_001))
    later = make(s, period=NEXT_MONTH)
    for line in current(ep).values():
        _assert_cleared(later, line, "presend_bsn")
    assert later.held == 0 and {x.bsn for x in rows_of(later.batch)} == {valid_bsn(90_001)}


def test_presend_missing_insured_number_is_held_until_the_run_bills_the_new_one(s):
    ordinary(s)
    other = transferred_in_week_30(s)
    ClientInsurance.unscoped.filter(client=other.client).update(policy_number="")
    run(s)
    (blank,) = current(other).values()
    assert blank.policy_number == ""
    result = make(s)
    _assert_held(result, blank, "presend_policy")
    assert result.held == 1 and len(refs(result.batch)) == 3
    ClientInsurance.unscoped.filter(client=other.client).update(policy_number="ZK-77")
    touch(other)
    run(s)  # the held line (never sent) is withdrawn and billed with the insured number
    blank.refresh_from_db()
    assert blank.status == LineStatus.WITHDRAWN
    (fixed,) = current(other).values()
    later = make(s, period=NEXT_MONTH)
    _assert_cleared(later, fixed, "presend_policy")
    assert [x.policy_number for x in rows_of(later.batch)] == ["ZK-77"]


def test_presend_submission_deadline_passed_is_held(billed):
    s, ep, other = billed
    # ZK allows 12 months after the care. On 20 Aug 2027: prenatal and natal ended 14 Aug 2026 (too late),
    # the transfer 8 Jun 2026 (too late), postnatal 25 Sep 2026 (in time).
    late = dt.date(2027, 8, 20)
    result = make(s, today=late)
    lines = current(ep)
    (transfer,) = current(other).values()
    assert refs(result.batch) == [lines["postnatal"].number]
    for line in (lines["prenatal"], lines["natal"], transfer):
        _assert_held(result, line, "presend_deadline")
    message = WorkItem.unscoped.get(episode=ep, phase="prenatal").message
    assert "14-08-2027" in message
    Contract.unscoped.filter(pk=s.zk_contract.pk).update(submission_months=24)  # agreed with the insurer
    later = make(s, period=NEXT_MONTH, today=late)
    for line in (lines["prenatal"], lines["natal"], transfer):
        _assert_cleared(later, line, "presend_deadline")


def test_presend_prestatie_not_listed_or_not_contracted_is_held(billed):
    s, ep, other = billed
    lines = current(ep)
    (transfer,) = current(other).values()
    # The code list knows natal and postnatal (and a code the contract lacks), not yet the prenatal code.
    for code, phase in (("IGB-NAT", "natal"), ("IGB-POST", "postnatal"), ("IGB-XXX", "natal")):
        PrestatieCode.objects.create(code=code, description=code, phase=phase, valid_from=dt.date(2025, 1, 1))
    ClaimLine.unscoped.filter(pk=lines["natal"].pk).update(prestatie_code="IGB-XXX")
    result = make(s)
    assert refs(result.batch) == [lines["postnatal"].number]
    for line in (lines["prenatal"], lines["natal"], transfer):
        _assert_held(result, line, "presend_prestatie")
    assert "IGB-XXX" in WorkItem.unscoped.get(episode=ep, phase="natal").message
    # The natal line is put right; a version of the prenatal code valid only from 1 March does not
    # cover care from 2 February, so the prenatal lines stay held (with their one open work item).
    ClaimLine.unscoped.filter(pk=lines["natal"].pk).update(prestatie_code="IGB-NAT")
    PrestatieCode.objects.create(
        code="IGB-PRE", description="prenataal", phase="prenatal", valid_from=dt.date(2026, 3, 1)
    )
    still = make(s, period=NEXT_MONTH)
    _assert_cleared(still, lines["natal"], "presend_prestatie")
    for line in (lines["prenatal"], transfer):
        _assert_held(still, line, "presend_prestatie")
    assert WorkItem.unscoped.filter(episode=other, reason="presend_prestatie").count() == 1
    PrestatieCode.objects.create(
        code="IGB-PRE",
        description="prenataal",
        phase="prenatal",
        valid_from=dt.date(2025, 1, 1),
        valid_until=dt.date(2026, 2, 28),
    )
    later = make(s, period=MONTH_AFTER)
    for line in (lines["prenatal"], transfer):
        _assert_cleared(later, line, "presend_prestatie")


def test_a_held_lines_work_item_stays_open_while_another_insurers_batch_is_made(s):
    ep = new_insurer_on_1_january(s)
    transferred_in_week_30(s)  # so that the ZK month has a batch
    run(s)
    Client.unscoped.filter(pk=ep.client_id).update(bsn="123456789")
    with tenant_scope(s.tenant):
        batches.batches_create_month(tenant=s.tenant, period=THIS_MONTH, actor=s.admin)
    held = ClaimLine.unscoped.filter(episode=ep, status=LineStatus.READY, batch_line__isnull=True)
    assert sorted(held.values_list("phase", flat=True)) == ["natal", "postnatal", "prenatal"]
    assert open_items(ep, "presend_bsn") == ["natal", "postnatal", "prenatal"]


# --- return information --------------------------------------------------------------------------


@dataclass
class Released:
    s: Setup
    batch: ClaimBatch
    ep: Episode
    other: Episode
    insurer_user: Any

    def line(self, phase: str) -> ClaimLine:
        return ClaimLine.unscoped.get(batch_line__batch=self.batch, episode=self.ep, phase=phase)

    def answer(self, *entries: ReturnEntry, **kwargs: Any) -> BatchReturn:
        return returns.batch_return_record(
            batch=self.batch, entries=list(entries), user=self.insurer_user, **kwargs
        )


@pytest.fixture
def released(billed: tuple[Setup, Episode, Episode]) -> Released:
    s, ep, other = billed
    return Released(s, release(s, make_batch(s)), ep, other, insurer_user(s))


def accept(ref: str, code: str = "") -> ReturnEntry:
    return ReturnEntry(ref, "accepted", code)


def reject(ref: str, code: str = "0101", text: str = "") -> ReturnEntry:
    return ReturnEntry(ref, "rejected", code, text)


def _nothing_stored(r: Released, answered: int = 0) -> None:
    assert BatchReturn.unscoped.count() == (1 if answered else 0)
    assert ReturnLine.unscoped.count() == answered
    statuses = list(ClaimLine.unscoped.filter(batch_line__batch=r.batch).values_list("status", flat=True))
    assert statuses.count(LineStatus.SENT) == len(statuses) - answered
    assert not WorkItem.unscoped.filter(reason="rejected").exists()


def test_return_information_is_checked_as_a_whole_and_a_bad_entry_stores_nothing(released):
    r = released
    ref0, ref1, *_ = refs(r.batch)
    cases: list[tuple[str, list[ReturnEntry], tuple[int, str]]] = [
        ("unknown reference", [accept(ref0), accept("999999-PRE-D9")], (2, "reference")),
        ("a line twice", [accept(ref0), reject(ref1), accept(ref0)], (3, "reference")),
        ("rejection without a code", [accept(ref0), reject(ref1, "")], (2, "reason_code")),
        ("unknown code", [reject(ref0, "0100"), accept(ref1)], (1, "reason_code")),
        ("accepted with a code", [accept(ref0), accept(ref1, "0101")], (2, "reason_code")),
        ("unknown status", [ReturnEntry(ref0, "paid")], (1, "status")),
        ("explanation too long", [reject(ref0, "0999", "x" * 201)], (1, "reason_text")),
        ("no entries", [], (0, "lines")),
    ]
    for case, entries, expected in cases:
        with pytest.raises(ReturnError) as exc:
            r.answer(*entries)
        assert [(e.row, e.field) for e in exc.value.errors] == [expected], case
        _nothing_stored(r)
    # A line answered in an earlier delivery cannot be answered again; the rest of that delivery is lost.
    r.answer(accept(ref0))
    with pytest.raises(ReturnError) as exc:
        r.answer(accept(ref1), reject(ref0))
    assert [(e.row, e.field) for e in exc.value.errors] == [(2, "reference")]
    _nothing_stored(r, answered=1)
    assert ClaimLine.unscoped.get(number=ref1).status == LineStatus.SENT


def test_accepted_and_rejected_lines_update_the_claim_and_open_a_work_item(released):
    r = released
    prenatal = r.line("prenatal")
    others = [ref for ref in refs(r.batch) if ref != prenatal.number]
    answer = r.answer(
        *[accept(ref) for ref in others],
        reject(prenatal.number, "0101", "BSN onbekend"),
        source="file",
        filename="retour-2026-11.csv",
    )
    assert (answer.accepted, answer.rejected, answer.source, answer.filename) == (
        3,
        1,
        "file",
        "retour-2026-11.csv",
    )
    assert answer.tenant_id == r.s.tenant.pk and answer.received_by == r.insurer_user
    stored = {
        x.batch_line.number: (x.status, x.reason_code)
        for x in ReturnLine.unscoped.select_related("batch_line")
    }
    assert stored == {**dict.fromkeys(others, ("accepted", "")), prenatal.number: ("rejected", "0101")}
    statuses = dict(ClaimLine.unscoped.filter(batch_line__batch=r.batch).values_list("number", "status"))
    assert statuses == {**dict.fromkeys(others, LineStatus.ACCEPTED), prenatal.number: LineStatus.REJECTED}
    (item,) = WorkItem.unscoped.filter(reason="rejected")
    assert (item.episode_id, item.phase, item.resolved_at, item.tenant_id) == (
        r.ep.pk,
        "prenatal",
        None,
        r.s.tenant.pk,
    )
    assert "0101" in item.message and prenatal.number in item.message and "BSN onbekend" in item.message
    assert AuditEntry.objects.filter(action="batch.return", tenant=r.s.tenant).count() == 1


def test_rebilling_a_rejected_line_after_correcting_the_bsn(released):
    r = released
    original = r.line("prenatal")
    old_bsn = Client.unscoped.get(pk=r.ep.client_id).bsn
    r.answer(reject(original.number, "0101"))
    with tenant_scope(r.s.tenant), pytest.raises(ValidationError):
        returns.rejected_line_rebill(line=r.line("natal"), actor=r.s.admin)  # sent, not rejected
    new_bsn = valid_bsn(90_002)
    Client.unscoped.filter(pk=r.ep.client_id).update(bsn=new_bsn)
    with tenant_scope(r.s.tenant):
        new = returns.rejected_line_rebill(line=original, actor=r.s.admin)
    assert new is not None
    original.refresh_from_db()
    assert (original.status, original.is_current) == (LineStatus.REJECTED, False)
    credit = ClaimLine.unscoped.get(corrects=original)
    assert (credit.sign, credit.amount, credit.status) == ("credit", -original.amount, LineStatus.READY)
    assert (new.sign, new.amount, new.status, new.is_current) == (
        "debit",
        original.amount,
        LineStatus.READY,
        True,
    )
    assert new.number not in (original.number, credit.number)
    assert open_items(r.ep, "rejected") == []

    later = make(r.s, period=NEXT_MONTH)
    assert later.held == 0 and later.batch is not None
    rows = {x.number: x for x in rows_of(later.batch)}
    assert set(rows) == {credit.number, new.number}
    assert (rows[credit.number].bsn, rows[credit.number].corrects_number) == (old_bsn, original.number)
    assert (rows[new.number].bsn, rows[new.number].corrects_number) == (new_bsn, "")
    file_lines = {x["line_reference"]: x for x in records(later.batch) if x.code == "04"}
    assert file_lines[credit.number]["bsn"] == int(old_bsn)
    assert file_lines[credit.number]["corrects_reference"] == original.number
    assert file_lines[new.number]["bsn"] == int(new_bsn)
    assert [x["bsn"] for x in records(later.batch) if x.code == "02"] == sorted([int(old_bsn), int(new_bsn)])
    _check_file_against_database(r.s, later.batch)


def test_rebilling_without_a_change_sends_the_identical_debit_one_batch_later(released):
    r = released
    original = r.line("prenatal")
    r.answer(reject(original.number, "0999", "graag opnieuw"))
    with tenant_scope(r.s.tenant):
        again = returns.rejected_line_rebill(line=original, actor=r.s.admin)
    assert again is not None
    credit = ClaimLine.unscoped.get(corrects=original)
    first = make(r.s, period=NEXT_MONTH)
    assert first.batch is not None and refs(first.batch) == [credit.number]
    _assert_held(first, again, "identical_pair")
    assert not WorkItem.unscoped.filter(reason="identical_pair").exists()  # not an error in the data
    release(r.s, first.batch)
    second = make(r.s, period=MONTH_AFTER)
    assert second.batch is not None and refs(second.batch) == [again.number] and second.held == 0


def test_a_line_the_run_changes_after_rejection_is_credited_rebilled_and_closed(released):
    r = released
    original = r.line("prenatal")
    r.answer(reject(original.number, "0103", "polisnummer hoort niet bij BSN"))
    assert open_items(r.ep, "rejected") == ["prenatal"]
    ClientInsurance.unscoped.filter(client_id=r.ep.client_id).update(policy_number="ZK-NEW")
    touch(r.ep)
    run(r.s)
    original.refresh_from_db()
    assert (original.status, original.is_current) == (LineStatus.REJECTED, False)
    credit = ClaimLine.unscoped.get(corrects=original)
    new = current(r.ep)["prenatal"]
    assert (credit.amount, new.amount, new.policy_number) == (-original.amount, original.amount, "ZK-NEW")
    assert open_items(r.ep, "rejected") == []
    later = make(r.s, period=NEXT_MONTH)
    rows = {x.number: x for x in rows_of(later.batch)}
    assert (rows[credit.number].policy_number, rows[new.number].policy_number) == ("POL-1", "ZK-NEW")


def test_a_rejection_of_an_already_replaced_line_leaves_no_stuck_work_item(released):
    r = released
    original = r.line("prenatal")
    ClientInsurance.unscoped.filter(client_id=r.ep.client_id).update(policy_number="ZK-NEW")
    touch(r.ep)
    run(r.s)  # credited and rebilled before the insurer answered
    r.answer(reject(original.number, "0103"))
    touch(r.ep)
    run(r.s)
    assert open_items(r.ep, "rejected") == []


# --- member statements ---------------------------------------------------------------------------


def _month_bounds(period: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = timezone.make_aware(dt.datetime.combine(period, dt.time.min))
    end = timezone.make_aware(dt.datetime.combine(dates.add_months(period, 1), dt.time.min))
    return start, end


def _igo_parts(s: Setup, period: dt.date) -> Decimal:
    """Overhead and reserve dated like the statements: made in the month, minus superseded in it."""
    start, end = _month_bounds(period)
    qs = Allocation.unscoped.filter(tenant=s.tenant, kind__in=["overhead", "reserve"])
    made = qs.filter(created_at__gte=start, created_at__lt=end).aggregate(t=Sum("amount"))["t"] or 0
    gone = qs.filter(superseded_at__gte=start, superseded_at__lt=end).aggregate(t=Sum("amount"))["t"] or 0
    return D(made) - D(gone)


def _claimed(s: Setup, period: dt.date) -> Decimal:
    start, end = _month_bounds(period)
    total = (
        ClaimLine.unscoped.filter(tenant=s.tenant, created_at__gte=start, created_at__lt=end)
        .filter(Exists(Allocation.unscoped.filter(claim_line=OuterRef("pk"))))
        .aggregate(t=Sum("amount"))["t"]
    )
    return total or D("0.00")


def _statements(s: Setup, period: dt.date) -> dict[str, statements.Statement]:
    with tenant_scope(s.tenant):
        return {
            org.name: statements.member_statement(tenant=s.tenant, organisation=org, period=period)
            for org in (s.practice, s.hospital, s.kraam, s.south)
        }


def _assert_month_adds_up(s: Setup, period: dt.date) -> dict[str, statements.Statement]:
    found = _statements(s, period)
    with tenant_scope(s.tenant):
        totals = statements.statement_totals(period=period)
    for org in (s.practice, s.hospital, s.kraam, s.south):
        assert totals.get(org.pk, D("0.00")) == found[org.name].total
        header, rows = _csv_rows(files_csv.statement_csv(found[org.name]))
        assert header == list(files_csv.STATEMENT_CSV_HEADER)
        assert len(rows) == len(found[org.name].rows)
        assert sum((D(x["amount"]) for x in rows), D("0.00")) == found[org.name].total
    assert sum(totals.values(), D("0.00")) + _igo_parts(s, period) == _claimed(s, period)
    return found


def test_member_statements_add_up_to_the_claim_lines_of_the_month(s):
    portfolio(s)
    run(s)
    assert not ClaimLine.unscoped.filter(allocations__isnull=True).exists()
    found = _assert_month_adds_up(s, THIS_MONTH)
    assert _claimed(s, THIS_MONTH) == PORTFOLIO_TOTAL
    assert found["Praktijk Zuid"].rows == [] and found["Praktijk"].total > 0
    # Each row of a statement is one of the member's allocations, traced to its claim line.
    for row in found["Ziekenhuis"].rows:
        assert row.entry == "allocation" and row.amount > 0 and row.batch_number is None
    assert all(x.total == 0 for x in _statements(s, LAST_MONTH).values())


def test_a_resplit_reverses_in_its_own_month_and_statements_still_add_up(s):
    ep = episode(s, **pregnancy(dt.date(2026, 2, 2)), labour_started_at=at(2026, 8, 14, 8))
    log(s, ep, "PRE_CHECK", s.practice, at(2026, 2, 9))
    log(s, ep, "PRE_CHECK", s.practice, at(2026, 3, 9))
    echo = log(s, ep, "ECHO_SEO", s.hospital, at(2026, 4, 20))
    run(s)
    (line,) = current(ep).values()
    last_month = timezone.make_aware(dt.datetime.combine(LAST_MONTH, dt.time(10)))
    ClaimLine.unscoped.filter(pk=line.pk).update(created_at=last_month)
    Allocation.unscoped.filter(claim_line=line).update(created_at=last_month)
    closed = {name: (st_.total, len(st_.rows)) for name, st_ in _assert_month_adds_up(s, LAST_MONTH).items()}
    # Last month: 1200.00 = 60.00 + 24.00 + practice 507.27 + hospital 608.73 (see the pipeline tests).
    assert (closed["Praktijk"][0], closed["Ziekenhuis"][0]) == (D("507.27"), D("608.73"))
    with tenant_scope(s.tenant):
        care_event_void(event=echo, actor=s.midwife, reason="logged for the wrong client")
    assert run(s).lines_replaced == 1
    # The closed month does not change.
    after = {name: (st_.total, len(st_.rows)) for name, st_ in _assert_month_adds_up(s, LAST_MONTH).items()}
    assert after == closed
    # This month: the old parts are reversed and the new split (all 1116.00 to the practice) made.
    now = _assert_month_adds_up(s, THIS_MONTH)
    assert _claimed(s, THIS_MONTH) == 0
    assert now["Praktijk"].total == D("1116.00") - D("507.27")
    assert [(x.entry, x.amount) for x in now["Ziekenhuis"].rows] == [("reversal", D("-608.73"))]
    _, rows = _csv_rows(files_csv.statement_csv(now["Ziekenhuis"]))
    assert [(x["entry"], x["amount"], x["claim_line"]) for x in rows] == [
        ("reversal", "-608.73", line.number)
    ]
    assert split_of(line) == {
        ("overhead", ""): D("60.00"),
        ("reserve", ""): D("24.00"),
        ("member", "Praktijk"): D("1116.00"),
    }


def test_a_credit_lines_parts_appear_negative_in_the_statement(s, tmp_path):
    ep = ordinary(s)
    run(s)
    sent = current(ep)
    parts = {p: split_of(x) for p, x in sent.items()}
    with tenant_scope(s.tenant):
        services.claim_lines_mark_sent(lines=list(sent.values()))
    move_labour_a_day_earlier(ep)
    run(s)
    found = _assert_month_adds_up(s, THIS_MONTH)
    # 3600.00 sent, 2100.00 credited and billed again: 3600.00 claimed in the month.
    assert _claimed(s, THIS_MONTH) == D("3600.00")
    credits = {x.phase: x for x in ClaimLine.unscoped.filter(sign="credit")}
    assert sorted(credits) == ["natal", "prenatal"]
    practice_rows = {(x.line.number, x.amount) for x in found["Praktijk"].rows}
    for phase, credit in credits.items():
        assert (credit.number, -parts[phase][("member", "Praktijk")]) in practice_rows
    _, rows = _csv_rows(files_csv.statement_csv(found["Praktijk"]))
    credit_rows = [x for x in rows if x["debit_credit"] == "C"]
    assert len(credit_rows) == 2 and all(D(x["amount"]) < 0 and x["method"] == "credit" for x in credit_rows)
    # Practice: 900.00 + 502.20 + 139.50 sent, -900.00 - 502.20 credited, 900.00 + 502.20 billed anew.
    assert found["Praktijk"].total == D("1541.70")
    text, pages = pdf_text(files_pdf.statement_pdf(found["Praktijk"]), tmp_path)
    assert "Praktijk" in text and "€ 1.541,70" in text and "€ -502,20" in text
    assert "Pagina 1 van 1" in text and pages == 1


# --- a property of the file: the trailer is the sum of its records ---------------------------------

PEOPLE = [
    (valid_bsn(1), "POL-1", "de Vries"),
    (valid_bsn(2), "POL-2", "Çelik-Ünal"),
    (valid_bsn(3), "", "Øster"),
]


@hsettings(max_examples=40, deadline=None)
@given(
    items=st.lists(
        st.tuples(st.sampled_from(PEOPLE), st.booleans(), st.integers(0, 10**9)), min_size=0, max_size=25
    )
)
def test_the_trailer_always_equals_the_sum_of_the_records(items):
    header = kz301.Header(
        "53000001", "IGO Eigenschap", "3311", 7, dt.date(2026, 11, 30), THIS_MONTH, THIS_MONTH
    )
    lines = [
        kz301.Line(
            bsn=bsn,
            uzovi="3311",
            insured_number=policy,
            date_of_birth=dt.date(1994, 5, 17),
            family_name=name,
            initials="A.",
            line_reference=f"{i}-PRE-{'D' if debit else 'C'}1",
            corrects_reference="" if debit else f"{i}-PRE-D0",
            debit=debit,
            prestatie_code="IGBPRE",
            service_start=dt.date(2026, 2, 2),
            service_end=dt.date(2026, 8, 14),
            tariff=D(amount) / 100,
            percentage=D("100.00"),
            amount=D(amount if debit else -amount) / 100,
            episode_reference=str(i),
            comment="" if debit else f"Credit of line {i}-PRE-D0.",
        )
        for i, ((bsn, policy, name), debit, amount) in enumerate(items)
    ]
    out = io.BytesIO()
    returned = kz301.write(header, lines, out.write)
    recs = kz301_reader.parse(out.getvalue(), SPEC)
    trailer = recs[-1]
    body = [r for r in recs if r.code == "04"]
    debit = sum(a for _, d, a in items if d)
    credit = sum(a for _, d, a in items if not d)
    assert [cents_of(r) for r in body] == [a if d else -a for _, d, a in items]
    assert (
        trailer["debit_total_cents"]
        == debit
        == sum(r["amount_cents"] for r in body if r["debit_credit"] == "D")
    )
    assert (
        trailer["credit_total_cents"]
        == credit
        == sum(r["amount_cents"] for r in body if r["debit_credit"] == "C")
    )
    signed = trailer["total_cents"] if trailer["total_sign"] == "D" else -trailer["total_cents"]
    assert signed == debit - credit == sum(cents_of(r) for r in body) == returned["net"]
    assert (trailer["count_04"], trailer["count_98"]) == (len(items), sum(1 for _, d, _ in items if not d))
    assert trailer["count_records"] == len(recs) and [r["record_seq"] for r in recs] == list(
        range(1, len(recs) + 1)
    )
    changes = sum(1 for i, it in enumerate(items) if i == 0 or it[0][:2] != items[i - 1][0][:2])
    assert trailer["count_02"] == changes == sum(1 for r in recs if r.code == "02")
    assert [r["family_name"] for r in recs if r.code == "02"] == [
        it[0][2] for i, it in enumerate(items) if i == 0 or it[0][:2] != items[i - 1][0][:2]
    ]
