"""A month's claim batch of the billing world (tests.scenarios.billing): make and release it through
billing.services.batches, read its files back (the KZ301 file with the independent reader of
tests.scenarios.kz301_reader), and compare them with the database.

The months are those of BILLING_NOW, the moment the batch tests are seen from: the lines the run makes
are made in THIS_MONTH.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from billing.models import BatchFile, BatchLine, ClaimBatch, ClaimLine, LineStatus, WorkItem
from billing.services import batches
from igo import dates
from igo.tenancy import tenant_scope
from pregnancies.models import Episode
from tests.factories import InsurerMembershipFactory
from tests.scenarios import kz301_reader
from tests.scenarios.billing import BILLING_NOW, Setup, at
from tests.scenarios.kz301_reader import Record, cents_of

D = Decimal
THIS_MONTH = dates.month_start(BILLING_NOW.date())  # the month the lines are made in
LAST_MONTH = dates.add_months(THIS_MONTH, -1)
NEXT_MONTH = dates.add_months(THIS_MONTH, 1)
MONTH_AFTER = dates.add_months(THIS_MONTH, 2)
SPEC = kz301_reader.load_spec()
BOM = "\ufeff".encode()


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


def check_file_against_database(s: Setup, batch: ClaimBatch) -> list[Record]:
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


def csv_rows(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    assert data.startswith(BOM)
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";")
    header, *body = list(reader)
    return header, [dict(zip(header, row, strict=True)) for row in body]


def assert_held(result: batches.BatchResult, line: ClaimLine, reason: str) -> None:
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
