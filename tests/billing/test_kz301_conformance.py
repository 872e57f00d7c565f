"""The conformance check refuses each kind of malformed KZ301 record, with the Vektis return code an insurer's
parser would answer, and a batch whose file has such a problem is not released."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing.files import kz301, vektis
from billing.files.conformance import conformance_problems
from billing.models import BatchFile, BatchStatus
from tests.factories import valid_bsn
from tests.scenarios.billing import BILLING_NOW, ordinary, run
from tests.scenarios.month_batches import THIS_MONTH, make_batch, release

pytestmark = pytest.mark.clock(BILLING_NOW)
D = Decimal
R = 312  # one record with its CR LF


def _line(i: int, *, debit: bool = True, reference: str | None = None) -> kz301.Line:
    return kz301.Line(
        bsn=valid_bsn(1),
        uzovi="3311",
        insured_number="POL-1",
        date_of_birth=dt.date(1994, 5, 17),
        family_name="de Vries",
        initials="A.",
        line_reference=reference or f"{i}-PRE-D1",
        corrects_reference="" if debit else "9-PRE-D1",
        debit=debit,
        prestatie_code="IGBPRE",
        service_start=dt.date(2026, 2, 2),
        service_end=dt.date(2026, 8, 14),
        tariff=D("1200.00"),
        amount=D("1200.00") if debit else D("-1200.00"),
        comments=() if debit else ("Creditering van regel 9-PRE-D1.",),
    )


def _file(*lines: kz301.Line) -> bytes:
    header = kz301.Header("53000001", "3311", "202611000001", dt.date(2026, 11, 30), THIS_MONTH, THIS_MONTH)
    out = io.BytesIO()
    kz301.write(header, list(lines), out.write)
    return out.getvalue()


def good() -> bytes:
    # 01, 02, 04 (debit), 04 (credit), 98, 99
    return _file(_line(1), _line(2, debit=False))


def _put(data: bytes, record: int, start: int, text: bytes) -> bytes:
    at = (record - 1) * R + start - 1
    return data[:at] + text + data[at + len(text) :]


def _codes(data: bytes) -> set[tuple[str, int, str]]:
    return {(p.code, p.record, p.rubriek) for p in conformance_problems(data)}


def test_a_well_formed_file_has_no_problems():
    data = good()
    assert [data[i * R : i * R + 2] for i in range(6)] == [b"01", b"02", b"04", b"04", b"98", b"99"]
    assert conformance_problems(data) == []


@pytest.mark.parametrize(
    ("case", "change", "expected"),
    [
        ("record too long", lambda d: d[: 2 * R - 2] + b" " + d[2 * R - 2 :], ("0804", 2, "")),
        ("record too short", lambda d: d[: 2 * R - 3] + d[2 * R - 2 :], ("0804", 2, "")),
        ("no CR LF at the end", lambda d: d[:-2], ("8095", 6, "")),
        ("a lone LF", lambda d: d[: R - 2] + b"\n" + d[R:], ("8095", 1, "")),
        ("letter in an N field", lambda d: _put(d, 3, 136, b"0012A000"), ("0611", 3, "0423")),
        ("invalid date", lambda d: _put(d, 3, 73, b"20260230"), ("0001", 3, "0412")),
        ("mandatory date zeros", lambda d: _put(d, 2, 54, b"00000000"), ("0001", 2, "0207")),
        ("empty mandatory AN field", lambda d: _put(d, 2, 64, b" " * 25), ("0001", 2, "0210")),
        ("empty reference", lambda d: _put(d, 3, 166, b" " * 20), ("8021", 3, "0429")),
        ("D/C not D or C", lambda d: _put(d, 3, 152, b"X"), ("0631", 3, "0425")),
        ("the two D/C differ", lambda d: _put(d, 3, 152, b"C"), ("8064", 3, "0428")),
        ("duplicate reference", lambda d: _put(d, 4, 166, b"1-PRE-D1            "), ("8021", 4, "0429")),
        ("detail ids not increasing", lambda d: _put(d, 4, 3, b"000000000002"), ("0801", 4, "0402")),
        ("99 count of 04 wrong", lambda d: _put(d, 6, 15, b"000003"), ("0158", 6, "9904")),
        ("99 count of 02 wrong", lambda d: _put(d, 6, 3, b"000000"), ("0151", 6, "9902")),
        ("99 detail count wrong", lambda d: _put(d, 6, 27, b"0000005"), ("0156", 6, "9906")),
        ("99 total wrong", lambda d: _put(d, 6, 34, b"00000000001"), ("0150", 6, "9907")),
        ("unknown record type", lambda d: _put(d, 5, 1, b"97"), ("0001", 5, "")),
        ("04 without its 02", lambda d: d[:R] + d[2 * R :], ("0001", 2, "0403")),
        ("01 not first", lambda d: d[R : 2 * R] + d[:R] + d[2 * R :], ("0001", 1, "")),
    ],
)
def test_the_check_refuses_each_kind_of_malformed_record(case, change, expected):
    problems = _codes(change(good()))
    assert expected in problems, (case, problems)


def test_a_problem_reads_in_dutch_with_record_rubriek_and_code():
    (problem,) = conformance_problems(_put(good(), 3, 152, b"C"))
    assert (
        str(problem)
        == "record 3, rubriek 0428: De twee debet/credit-indicaties van de regel verschillen. (8064)"
    )


def test_a_quality_line_without_insured_person_conforms():
    quality = kz301.Line(
        bsn="",
        uzovi="3311",
        insured_number="",
        date_of_birth=None,
        family_name="",
        initials="",
        line_reference="Q1-C1",
        corrects_reference="",
        debit=False,
        prestatie_code=kz301.QUALITY_CODE,
        service_start=dt.date(2026, 1, 1),
        service_end=dt.date(2026, 12, 31),
        tariff=D("72.00"),
        amount=D("-72.00"),
        comments=("Malus keizersnede: 50.0 tegen doel <= 30, 1% van 7200.00.",),
    )
    data = _file(_line(1), quality)
    assert conformance_problems(data) == []
    assert data[3 * R + 14 : 3 * R + 23] == b"000000000"


def test_the_tables_cover_every_record_exactly():
    for records, length in ((vektis.KZ301, 310), (vektis.KZ302, 370)):
        for record in records.values():
            assert record.length == length
            assert record.fields[0].start == 1 and record.fields[-1].end == length
            assert all(a.end + 1 == b.start for a, b in zip(record.fields, record.fields[1:], strict=False))
    for code in ("01", "02", "04", "98"):
        assert vektis.KZ302[code].fields[: len(vektis.KZ301[code].fields)] == vektis.KZ301[code].fields
    line = vektis.encode(vektis.KZ301["04"], {"0403": valid_bsn(1), "amount": 12, "amount_dc": "D"})
    assert vektis.decode(vektis.KZ301["04"], line)["amount"] == "00000012"
    assert vektis.parse_date("20261130") == dt.date(2026, 11, 30)


def test_a_batch_whose_file_does_not_conform_is_not_released(s):
    ordinary(s)
    run(s)
    batch = make_batch(s)
    kz = BatchFile.unscoped.get(batch=batch, kind="kz301")
    content = bytes(kz.content)

    def store(data: bytes) -> None:  # a draft's file may be replaced (deleted and written again), not changed
        BatchFile.unscoped.filter(batch=batch, kind="kz301").delete()
        BatchFile.unscoped.create(
            tenant=s.tenant, batch=batch, kind="kz301", content=data, size=len(data), sha256=kz.sha256
        )

    store(content[:-2])  # the last CR LF lost
    with pytest.raises(ValidationError) as refused:
        release(s, batch)
    assert refused.value.code == "conformance"
    assert "(8095)" in refused.value.messages[0] and "CR LF" in refused.value.messages[0]
    batch.refresh_from_db()
    assert batch.status == BatchStatus.DRAFT
    store(content)
    assert release(s, batch).status == BatchStatus.RELEASED
