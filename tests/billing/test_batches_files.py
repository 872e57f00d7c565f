"""A month's claim batch as files: the KZ301 file read back with an independent reader (built from
../shared/VEKTIS-KZ301.md) and compared with the database, the CSV and the PDF, and a property of the file trailer.

The world is seen from BILLING_NOW (20 November 2026, `pytest.mark.clock`): the claim lines the run makes
are stamped then, so the batches here cover that month (THIS_MONTH) and the months after it.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from billing.files import csv as files_csv
from billing.files import kz301
from billing.files.conformance import conformance_problems
from billing.models import ClaimBatch, ClaimLine, WorkItem
from billing.services import returns
from igo import dates
from pregnancies.models import Client, Episode
from tests.factories import valid_bsn
from tests.scenarios import kz301_reader
from tests.scenarios.billing import (
    BILLING_NOW,
    Setup,
    at,
    build,
    current,
    episode,
    ordinary,
    pregnancy,
    run,
    transferred_in_week_30,
)
from tests.scenarios.files import pdf_text
from tests.scenarios.kz301_reader import cents_of
from tests.scenarios.month_batches import (
    NEXT_MONTH,
    THIS_MONTH,
    check_file_against_database,
    csv_rows,
    file_of,
    make,
    make_batch,
    move_labour_a_day_earlier,
    records,
    refs,
    release,
    rows_of,
)
from tests.scenarios.people import TenantWorld

pytestmark = pytest.mark.clock(BILLING_NOW)
D = Decimal


def test_the_document_lists_every_return_code():
    text = (Path(__file__).resolve().parents[2] / "docs" / "kz301.md").read_text(encoding="utf-8")
    with translation.override("en"):
        for code, label in returns.RETURN_CODES.items():
            assert f"| `{code}` | {label} |" in text


def _empty_file() -> bytes:
    header = kz301.Header("53000001", "3311", "202611000001", dt.date(2026, 11, 30), THIS_MONTH, THIS_MONTH)
    out = io.BytesIO()
    kz301.write(header, [], out.write)
    return out.getvalue()


def test_the_reader_refuses_a_file_that_breaks_the_rules():
    good = _empty_file()
    assert [r.code for r in kz301_reader.parse(good)] == ["01", "99"]
    assert len(good) == 2 * (310 + 2)
    bad = {
        "no CR LF at the end": good[:-2],
        "a record too short": good[:100] + good[101:],
        "letters in an N field": good[:5] + b"AB" + good[7:],
        "an impossible date": good[:64] + b"20261131" + good[72:],
        "a lone LF between records": good.replace(b"\r\n", b"\n", 1),
        "a byte outside ASCII": good[:120] + "é".encode("latin-1") + good[121:],
    }
    for case, data in bad.items():
        with pytest.raises(kz301_reader.ReadError):
            kz301_reader.parse(data)
            pytest.fail(case)


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


def test_kz301_file_read_back_matches_the_database_in_upper_case_ascii(corrected):
    c = corrected
    first = check_file_against_database(c.s, c.first)
    second = check_file_against_database(c.s, c.second)
    # Batch 1: 3600.00 + 1200.00 in four debit lines, two persons.
    assert (first[-1]["count_04"], first[-1]["count_02"], first[-1]["total"]) == (4, 2, 480000)
    assert first[-1]["total_dc"] == "D"
    # Batch 2: credits 1200.00 + 900.00, the same again as new debits, three new 1200.00 transfers:
    # 5700.00 - 2100.00 = 3600.00 net, one comment per credit.
    trailer = second[-1]
    assert (trailer["total_dc"], trailer["total"], trailer["count_98"]) == ("D", 360000, 2)
    credits = [r for r in second if r.code == "04" and r["dc_2"] == "C"]
    assert sorted(r["amount"] for r in credits) == [90000, 120000]
    taken_back = ClaimLine.unscoped.filter(batch_line__batch=c.first, episode=c.ordinary)
    assert sorted(r["previous_reference"] for r in credits) == sorted(
        taken_back.filter(phase__in=["prenatal", "natal"]).values_list("number", flat=True)
    )
    # The file is ASCII: a name with diacritics travels without them, in capitals.
    data = file_of(c.second, "kz301")
    assert data.isascii() and b"CELIK-UNAL" in data
    (person,) = [r for r in second if r.code == "02" and r["family_name"] == "CELIK-UNAL"]
    # Only the initials of the given names travel: A.N.
    assert person["initials"] == "A.N."
    assert person["bsn"] == Client.unscoped.get(pk=c.celik.client_id).bsn
    assert conformance_problems(data) == []


def test_csv_has_one_row_per_line_adds_up_and_is_formula_safe(corrected):
    batch = corrected.second
    header, rows = csv_rows(file_of(batch, "csv"))
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
            x.policy_number.upper(),
            str(batch.number),
        )
    # Names that a spreadsheet would run as formulas are neutralised; BSNs and amounts stay values.
    names = {r["family_name"] for r in rows}
    assert '\'=HYPERLINK("X")' in names
    assert "'+31 6 12345678" in names
    # Names as the KZ301 file carries them: upper-case ASCII.
    assert "CELIK-UNAL" in names
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
    assert sent and all(len(code) <= 6 for code in sent)
    assert sent == [x.prestatie_code for x in rows_of(batch)]


def test_a_long_insured_number_is_held_not_cut(s):
    # The format has 15 positions for the insured number: a longer one is held back for correction.
    ep = transferred_in_week_30(s)
    run(s)
    ClaimLine.unscoped.filter(episode=ep).update(policy_number="ZK-2026-0000012345")
    result = make(s)
    assert result.batch is None and result.held == 1
    (item,) = WorkItem.unscoped.filter(episode=ep, resolved_at__isnull=True)
    assert (item.reason, "ZK-2026-0000012345" in item.message) == ("presend_policy", True)


PEOPLE = [
    (valid_bsn(1), "POL-1", "de Vries"),
    (valid_bsn(2), "POL-2", "Çelik-Ünal"),
    (valid_bsn(3), "", "Øster"),
]


@hsettings(max_examples=40, deadline=None)
@given(
    items=st.lists(
        st.tuples(st.sampled_from(PEOPLE), st.booleans(), st.integers(0, 10**8 - 1)), min_size=0, max_size=25
    )
)
def test_the_closing_record_always_equals_the_sum_of_the_records(items):
    header = kz301.Header("53000001", "3311", "202611000007", dt.date(2026, 11, 30), THIS_MONTH, THIS_MONTH)
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
            amount=D(amount if debit else -amount) / 100,
            comments=() if debit else (f"Credit of line {i}-PRE-D0.",),
        )
        for i, ((bsn, policy, name), debit, amount) in enumerate(items)
    ]
    out = io.BytesIO()
    returned = kz301.write(header, lines, out.write)
    data = out.getvalue()
    assert conformance_problems(data) == []
    recs = kz301_reader.parse(data)
    trailer = recs[-1]
    body = [r for r in recs if r.code == "04"]
    debit = sum(a for _, d, a in items if d)
    credit = sum(a for _, d, a in items if not d)
    assert [cents_of(r) for r in body] == [a if d else -a for _, d, a in items]
    assert debit == sum(r["amount"] for r in body if r["dc_2"] == "D") == returned["debit"]
    assert credit == sum(r["amount"] for r in body if r["dc_2"] == "C") == returned["credit"]
    signed = trailer["total"] if trailer["total_dc"] == "D" else -trailer["total"]
    assert signed == debit - credit == sum(cents_of(r) for r in body) == returned["net"]
    assert (trailer["count_04"], trailer["count_98"]) == (len(items), sum(1 for _, d, _ in items if not d))
    assert trailer["count_detail"] == len(recs) - 2
    assert [r["detail_id"] for r in recs[1:-1]] == list(range(1, len(recs) - 1))
    changes = sum(1 for i, it in enumerate(items) if i == 0 or it[0][:2] != items[i - 1][0][:2])
    assert trailer["count_02"] == changes == sum(1 for r in recs if r.code == "02")
    assert [r["family_name"] for r in recs if r.code == "02"] == [
        {"de Vries": "DE VRIES", "Çelik-Ünal": "CELIK-UNAL", "Øster": "OSTER"}[it[0][2]]
        for i, it in enumerate(items)
        if i == 0 or it[0][:2] != items[i - 1][0][:2]
    ]
