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
import unicodedata
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
    return kz301_reader.parse(file_of(batch, "kz301"))


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


def upper_ascii(text: str) -> str:
    """Names as the declaration format carries them, worked out here independently of igo.text."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).upper()


def check_file_against_database(s: Setup, batch: ClaimBatch) -> list[Record]:
    """Read the batch's KZ301 file with the independent reader and compare every field with the database."""
    recs = records(batch)
    rows = rows_of(batch)
    codes = " ".join(r.code for r in recs)
    assert re.fullmatch(r"01( 02( 04( 98)*)+)+ 99", codes), codes
    assert [r["record"] for r in recs] == [int(r.code) for r in recs]
    details = [r for r in recs if r.code in ("02", "04", "98")]
    assert [r["detail_id"] for r in details] == list(range(1, len(details) + 1))

    head = recs[0]
    assert (head["message_code"], head["version"], head["subversion"], head["message_kind"]) == (
        133,
        3,
        2,
        "P",
    )
    assert (head["uzovi"], head["instellingscode"], head["payee"]) == (
        batch.insurer.uzovi_code,
        s.tenant.agb_code,
        4,
    )
    assert (head["zorgverlenerscode"], head["praktijkcode"], head["service_bureau"]) == (0, 0, 0)
    assert (head["period_start"], head["period_end"]) == (batch.period, dates.month_end(batch.period))
    assert head["invoice_number"] == f"{batch.period:%Y%m}{batch.number:06d}"
    assert head["invoice_date"] == timezone.localtime(batch.created_at).date()
    assert (head["currency"], head["reserve"]) == ("EUR", "")

    # Per person one 02 record, followed by that person's lines (and never a second 02 for them).
    lines = [r for r in recs if r.code == "04"]
    assert len(lines) == len(rows) == batch.line_count
    persons: list[tuple[str, str]] = []
    person: Record | None = None
    comments: dict[int, list[str]] = {}
    for i, r in enumerate(recs):
        if r.code == "02":
            person = r
            persons.append((r["bsn"], r["insured_number"]))
            assert (r["sex"], r["name_code_1"], r["deceased"], r["house_number"]) == (2, 1, 2, 0)
        if r.code != "04":
            continue
        assert person is not None
        assert (r["bsn"], r["insured_number"], r["uzovi"]) == (
            person["bsn"],
            person["insured_number"],
            person["uzovi"],
        )
        texts = []
        for following in recs[i + 1 :]:
            if following.code != "98":
                break
            assert following["line_number"] == len(texts) + 1
            texts.append(following["text"])
        comments[r.number] = texts
    assert len(persons) == len(set(persons))

    for r, row in zip(lines, rows, strict=True):
        cl = row.claim_line
        dc = "D" if cl.sign == "debit" else "C"
        assert r["reference"] == row.number == cl.number
        expected_corrects = cl.corrects.number if cl.corrects else ""
        assert r["previous_reference"] == row.corrects_number == expected_corrects
        assert r["dc_1"] == r["dc_2"] == dc and row.sign == cl.sign
        assert cents_of(r) == cents(row.amount) == cents(cl.amount)
        assert r["calculated"] == r["amount"] == abs(cents(row.amount))
        assert r["insured_number"] == upper_ascii(row.policy_number) == upper_ascii(cl.policy_number)
        assert (r["service_start"], r["service_end"]) == (row.service_start, row.service_end)
        assert (row.service_start, row.service_end) == (cl.service_start, cl.service_end)
        assert r["tariff"] == cents(row.tariff) == cents(cl.tariff.amount)
        assert (r["code_list"], r["prestatie_code"], r["behandelaar"]) == (
            69,
            row.prestatie_code,
            s.tenant.agb_code,
        )
        assert (r["forwarding"], r["quantity"], r["partus"], r["vat"]) == (1, 1, None, 0)
        assert r["uzovi"] == batch.insurer.uzovi_code
        # A credit names the line it takes back; a share of the tariff is said in a comment (no field for it).
        texts = comments[r.number]
        if dc == "C":
            assert any(row.corrects_number in t for t in texts), texts
        if row.percentage != 100:
            assert any(f"{row.percentage:.2f}".replace(".", ",") in t for t in texts), texts
        if dc == "D" and row.percentage == 100:
            assert texts == []
        client = cl.episode.client
        # A debit carries the client's BSN of today; a credit the BSN sent with the line it takes back.
        expected_bsn = cl.corrects.batch_line.bsn if cl.corrects else client.bsn
        assert r["bsn"] == row.bsn == expected_bsn
        person_record = next(p for p in recs if p.code == "02" and p["bsn"] == r["bsn"])
        assert person_record["date_of_birth"] == row.date_of_birth == client.date_of_birth
        assert person_record["family_name"] == upper_ascii(row.family_name)[:25].rstrip()
        assert person_record["initials"] == upper_ascii(row.initials)[:6]

    # The closing record agrees with the 04 records, with the batch row and with the claim lines, to the cent.
    trailer = recs[-1]
    debit = sum(r["amount"] for r in lines if r["dc_2"] == "D")
    credit = sum(r["amount"] for r in lines if r["dc_2"] == "C")
    assert (trailer["count_02"], trailer["count_03"], trailer["count_04"], trailer["count_98"]) == (
        codes.split().count("02"),
        0,
        len(lines),
        codes.split().count("98"),
    )
    assert trailer["count_detail"] == len(recs) - 2 == len(details)
    assert debit == cents(batch.debit_total) == cents(line_sum(batch, sign="debit"))
    assert credit == -cents(batch.credit_total) == -cents(line_sum(batch, sign="credit"))
    net = trailer["total"] if trailer["total_dc"] == "D" else -trailer["total"]
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
