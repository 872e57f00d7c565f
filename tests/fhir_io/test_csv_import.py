"""The CSV import of care (issue 21), for members without FHIR: template, upload, all or nothing.

The world: IGO Alpha's care world (tests.scenarios.care) seen on 15 September 2026: Anna Jansen, whose
pregnancy began 60 days ago (17 July, prenatal, no labour yet), the midwife of practice De Linde and the
maternity carer of Het Nest. The administrator uploads the practice's files.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import pytest
from django.utils import translation

from fhir_io import csv_import
from fhir_io.csv_import import CsvImportError, ImportResult, care_csv_import_file
from fhir_io.models import FhirResourceLink
from fhir_io.services import system_account_for
from igo.exports import DUTCH
from igo.models import AuditEntry, Role
from igo.tenancy import tenant_scope
from pregnancies.models import AccessLogEntry, CareEvent, EventStatus
from providers.models import MemberOrganisation
from tests.scenarios.care import Care
from tests.scenarios.clock import local

pytestmark = [pytest.mark.django_db, pytest.mark.clock(local(2026, 9, 15, 12))]

HEADER = ("row_id", "bsn", "episode", "agb", "code", "date", "time", "quantity")
UNKNOWN_BSN = "111222333"  # passes the eleven-test; nobody's in this world


def csv_file(
    rows: Sequence[Sequence[str]],
    *,
    header: Sequence[str] = HEADER,
    delimiter: str = ";",
    encoding: str = "utf-8",
) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def checks(care: Care, row_id: str = "HIS-1", *, date: str = "20-08-2026", time: str = "10:30") -> list[str]:
    """A prenatal check of Anna by the practice's midwife."""
    return [row_id, care.client.bsn, "", care.midwife.agb_code, "PRE_CHECK", date, time, ""]


def upload(care: Care, content: bytes, organisation: MemberOrganisation | None = None) -> ImportResult:
    with tenant_scope(care.tenant), translation.override("en"):
        return care_csv_import_file(
            tenant=care.tenant,
            actor=care.user(Role.IGO_ADMIN),
            organisation=organisation or care.practice,
            content=content,
            filename="zorg.csv",
        )


def refused(care: Care, content: bytes, organisation: MemberOrganisation | None = None) -> list[tuple]:
    with pytest.raises(CsvImportError) as caught:
        upload(care, content, organisation)
    return [(e.row, e.field, e.message) for e in caught.value.errors]


def events(care: Care):
    return CareEvent.unscoped.filter(episode=care.episode).order_by("pk")


# --- the template ----------------------------------------------------------------------------------


def test_the_template_of_a_member_lists_its_codes_in_the_dutch_convention(care: Care, client_for) -> None:
    web = client_for(care.user(Role.IGO_ADMIN))
    answer = web.get(care.url(f"fhir/csv/template/?organisation={care.practice.pk}"))
    assert answer.status_code == 200
    assert answer["Content-Disposition"].endswith('_nl.csv"')
    text = answer.content.decode("utf-8")
    assert text.startswith("\ufeffrow_id;bsn;episode;agb;code;date;time;quantity;void\r\n")
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))[1:]
    assert all(row[0].startswith("#") for row in rows), "only comments below the header"
    codes = {row[0][2:] for row in rows if row[0][2:3].isupper() and len(row) == 5}
    # The practice has a midwife: her codes, not the maternity carer's nor the sonographer-only ones.
    assert {"INTAKE", "PRE_CHECK", "DELIV_HOME", "CHECK_6W"} <= codes
    assert "KZ_HOURS" not in codes and "HOSP_DAY" not in codes
    assert care.midwife.agb_code in text  # the practice's professionals, by AGB
    assert "3,5" in text  # hours with a decimal comma
    assert "#HIS-000123;123456782;;12345678;PRE_CHECK;14-09-2026;10:30;1;" in text.splitlines()


def test_the_kraamzorg_template_has_the_hours_and_the_international_one_commas(
    care: Care, client_for
) -> None:
    web = client_for(care.user(Role.IGO_ADMIN))
    url = care.url(f"fhir/csv/template/?organisation={care.kraamzorg.pk}&convention=intl")
    text = web.get(url).content.decode("utf-8")
    assert text.startswith("\ufeffrow_id,bsn,episode,agb,code,date,time,quantity")
    assert "# KZ_HOURS" in text and "# PRE_CHECK" not in text
    assert "2026-09-14" in text and "3.5" in text
    whole = web.get(care.url("fhir/csv/template/")).content.decode("utf-8")
    assert "# KZ_HOURS" in whole and "# PRE_CHECK" in whole  # the whole catalogue


def test_the_template_as_downloaded_holds_no_care(care: Care) -> None:
    """Its examples are comments: uploaded unchanged it is refused, nothing stored."""
    with tenant_scope(care.tenant):
        template = csv_import.template_bytes(organisation=care.practice, convention=DUTCH)
    assert refused(care, template) == [(0, "file", "The file holds no care, only a header.")]


def test_another_igos_member_has_no_template_here(care: Care, care_b: Care, client_for) -> None:
    web = client_for(care.user(Role.IGO_ADMIN))
    assert web.get(care.url(f"fhir/csv/template/?organisation={care_b.practice.pk}")).status_code == 404
    assert web.get(care.url("fhir/csv/template/?organisation=x")).status_code == 404


# --- a good file, again, changed -------------------------------------------------------------------


def test_a_good_file_becomes_care_of_the_members_professional(care: Care) -> None:
    content = csv_file([checks(care, "HIS-1", date="20-08-2026"), checks(care, "HIS-2", date="2026-09-03")])
    result = upload(care, content)
    assert (result.created, result.unchanged, result.corrected) == (2, 0, 0)
    logged = list(events(care))
    assert [e.event_type.code for e in logged] == ["PRE_CHECK", "PRE_CHECK"]
    assert [e.occurred_at for e in logged] == [local(2026, 8, 20, 10, 30), local(2026, 9, 3, 10, 30)]
    assert {e.professional_id for e in logged} == {care.midwife.pk}
    # Logged by the practice's system account, as its FHIR care is: either way corrects it.
    assert {e.created_by_id for e in logged} == {system_account_for(organisation=care.practice).user_id}
    links = FhirResourceLink.unscoped.filter(resource_type="CsvRow").order_by("value")
    assert [(link.value, link.care_event_id) for link in links] == [
        ("HIS-1", logged[0].pk),
        ("HIS-2", logged[1].pk),
    ]
    audit = AuditEntry.objects.get(action="care_csv.import")
    assert audit.details["created"] == 2 and audit.actor == care.user(Role.IGO_ADMIN)


def test_the_same_file_again_changes_nothing(care: Care) -> None:
    content = csv_file([checks(care, "HIS-1"), checks(care, "HIS-2", date="03-09-2026")])
    upload(care, content)
    before = list(events(care).values_list("pk", "status", "occurred_at"))
    result = upload(care, content)
    assert (result.created, result.unchanged, result.corrected) == (0, 2, 0)
    assert list(events(care).values_list("pk", "status", "occurred_at")) == before


def test_a_changed_row_corrects_its_event_with_history(care: Care) -> None:
    upload(care, csv_file([checks(care, "HIS-1", time="10:30")]))
    original = events(care).get()
    result = upload(care, csv_file([checks(care, "HIS-1", time="14:15")]))
    assert (result.created, result.unchanged, result.corrected) == (0, 0, 1)
    original.refresh_from_db()
    assert original.status == EventStatus.SUPERSEDED and "HIS-1" in original.change_reason
    corrected = CareEvent.unscoped.get(supersedes=original)
    assert corrected.occurred_at == local(2026, 8, 20, 14, 15) and corrected.status == EventStatus.ACTIVE


def test_the_pregnancy_may_be_named_and_hours_given(care: Care) -> None:
    """The maternity carer's intake (prenatal) of Het Nest, with the episode's number given."""
    row = [
        "NEST-7",
        care.client.bsn,
        str(care.episode.pk),
        care.carer.agb_code,
        "KZ_INTAKE",
        "01-09-2026",
        "9:05",
        "1,0",
    ]
    assert upload(care, csv_file([row]), care.kraamzorg).created == 1
    assert events(care).get().occurred_at == local(2026, 9, 1, 9, 5)


# --- every bad row kind, and nothing stored ---------------------------------------------------------


def _bad(care: Care, care_b: Care, kind: str) -> list[str]:
    row = checks(care, "HIS-2", date="03-09-2026")
    if kind == "unknown_bsn":
        row[1] = UNKNOWN_BSN
    elif kind == "other_igo_client":
        row[1] = care_b.client.bsn
    elif kind == "bsn_form":
        row[1] = "123456789"  # fails the eleven-test
    elif kind == "other_member_professional":
        row[3] = care.carer.agb_code  # Het Nest's, not De Linde's
    elif kind == "unknown_code":
        row[4] = "NOPE"
    elif kind == "wrong_phase":
        row[4] = "CHECK_6W"  # postnatal; Anna has not given birth
    elif kind == "bad_date":
        row[5] = "31-02-2026"
    elif kind == "bad_time":
        row[6] = "25:00"
    elif kind == "bad_quantity":
        row[7] = "1.234,5"
    elif kind == "future":
        row[5] = "01-10-2026"
    elif kind == "other_pregnancy":
        row[2] = str(care_b.episode.pk)
    return row


BAD = {
    "unknown_bsn": ("bsn", "No client of this IGO has this BSN."),
    "other_igo_client": ("bsn", "No client of this IGO has this BSN."),
    "bsn_form": ("bsn", "This BSN does not pass the eleven-test; check for a typing error."),
    "other_member_professional": ("agb", "is not a professional of Verloskundigen De Linde"),
    "unknown_code": ("code", "Unknown code NOPE"),
    "wrong_phase": ("date", "belongs to the postnatal phase"),
    "bad_date": ("date", "Enter the date as 14-09-2026 or 2026-09-14."),
    "bad_time": ("time", "Enter the time as 10:30."),
    "bad_quantity": ("quantity", "Enter a number such as 1 or 3,5"),
    "future": ("date", "Care cannot be logged in the future."),
    "other_pregnancy": ("episode", "This client has no pregnancy with this number in this IGO."),
}


def void(row_id: str, mark: str = "void") -> list[str]:
    """A row that voids the event of an earlier row: only row_id and void are read."""
    return [row_id, "", "", "", "", "", "", "", mark]


def test_a_void_row_voids_the_event_of_an_earlier_file(care: Care) -> None:
    upload(care, csv_file([checks(care), checks(care, "HIS-2", date="03-09-2026")]))
    header = (*HEADER, "void")
    result = upload(care, csv_file([void("HIS-1"), void("HIS-9", "entered-in-error")], header=header))
    assert (result.created, result.unchanged, result.corrected, result.voided) == (0, 1, 0, 1)
    assert [e.status for e in events(care)] == [EventStatus.VOIDED, EventStatus.ACTIVE]
    # Again: the event is voided already; nothing changes.
    again = upload(care, csv_file([void("HIS-1")], header=header))
    assert (again.unchanged, again.voided) == (1, 0)
    # The row sent again without the mark: logged anew, under the same row_id (counted as a correction).
    anew = upload(care, csv_file([checks(care)]))
    assert (anew.created, anew.corrected) == (0, 1)
    assert [e.status for e in events(care)] == [EventStatus.VOIDED, EventStatus.ACTIVE, EventStatus.ACTIVE]


def test_a_void_mark_must_be_one_of_the_documented_ones(care: Care) -> None:
    header = (*HEADER, "void")
    row = [*checks(care), "perhaps"]
    assert [(r, f) for r, f, _m in refused(care, csv_file([row], header=header))] == [(2, "void")]
    assert not events(care).exists()


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_bad_row_refuses_the_whole_file(care: Care, care_b: Care, kind: str) -> None:
    """Row 2 is good, row 3 is not: row 3's error is listed, and row 2 is not stored either."""
    content = csv_file([checks(care, "HIS-1"), _bad(care, care_b, kind)])
    errors = refused(care, content)
    column, message = BAD[kind]
    assert len(errors) == 1, errors
    assert errors[0][:2] == (3, column) and message in errors[0][2], errors
    assert not CareEvent.unscoped.exists() and not FhirResourceLink.unscoped.exists()
    assert AuditEntry.objects.get(action="care_csv.import_refused").details["errors"] == 1


def test_a_duplicate_row_identifier_is_refused_on_its_second_row(care: Care) -> None:
    content = csv_file([checks(care, "HIS-1"), checks(care, "HIS-1", date="03-09-2026")])
    assert refused(care, content) == [
        (3, "row_id", "The row identifier HIS-1 is also on row 2; each row needs its own.")
    ]
    assert not CareEvent.unscoped.exists()


def test_every_error_of_every_row_is_listed(care: Care, care_b: Care) -> None:
    content = csv_file(
        [
            _bad(care, care_b, "unknown_code"),
            checks(care, "HIS-9"),
            ["", "12", "", "x", "", "gisteren", "", "-1"],
            ["HIS-5", *_bad(care, care_b, "wrong_phase")[1:]],
        ]
    )
    errors = refused(care, content)
    assert [(row, column) for row, column, _m in errors] == [
        (2, "code"),
        (4, "agb"),
        (4, "bsn"),
        (4, "code"),
        (4, "date"),
        (4, "quantity"),
        (4, "row_id"),
        (4, "time"),
        (5, "date"),
    ]
    assert not CareEvent.unscoped.exists()


def test_hours_need_a_quantity(care: Care) -> None:
    row = ["NEST-1", care.client.bsn, "", care.carer.agb_code, "KZ_HOURS", "01-09-2026", "09:00", ""]
    assert refused(care, csv_file([row]), care.kraamzorg) == [
        (2, "quantity", "Give the hours of care for this code.")
    ]


# --- the file: encodings, separators, limits ---------------------------------------------------------


@pytest.mark.parametrize(
    "encoding,delimiter",
    [("utf-8-sig", ";"), ("utf-8", ","), ("cp1252", ";"), ("cp1252", ",")],
)
def test_excel_encodings_and_both_separators_are_read(care: Care, encoding: str, delimiter: str) -> None:
    """Excel's "CSV (gescheiden door puntkomma's)" is Windows-1252; a decimal comma in a file separated by
    commas is quoted (the csv writer does so)."""
    row = checks(care, "Linde-é-1")
    row[7] = "1,0"
    assert upload(care, csv_file([row], delimiter=delimiter, encoding=encoding)).created == 1
    assert FhirResourceLink.unscoped.get().value == "Linde-é-1"


def test_leading_zeros_a_spreadsheet_dropped_are_put_back(care: Care) -> None:
    care.midwife.agb_code = "01234567"
    care.midwife.save(update_fields=["agb_code"])
    row = checks(care)
    row[3] = "1234567"
    assert upload(care, csv_file([row])).created == 1


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "The file is empty."),
        (b"row_id;bsn\r\n", "The column \u201cagb\u201d is missing"),
        (b"\x00\x01", "This is not a text (CSV) file."),
        (b"row_id;bsn;agb;code;date;time;colour\r\n", "Unknown column \u201ccolour\u201d"),
        (b"row_id;bsn;agb;code;date;time\r\n\x81\x8d;1\r\n", "neither UTF-8 nor Windows-1252"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused(care: Care, content: bytes, message: str) -> None:
    errors = refused(care, content)
    assert any(message in m for _r, _f, m in errors), errors


def test_a_file_over_the_limit_is_refused_with_a_clear_error(care: Care, client_for) -> None:
    big = csv_file([checks(care)]) + b"#" * (csv_import.MAX_BYTES + 1)
    web = client_for(care.user(Role.IGO_ADMIN))
    answer = web.post(
        care.url("fhir/csv/"),
        {"organisation": care.practice.pk, "file": io.BytesIO(big)},
    )
    assert answer.status_code == 400
    assert "groter dan 2 MB" in answer.content.decode()
    assert not CareEvent.unscoped.exists()


def test_a_file_over_the_row_limit_is_refused(care: Care, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_import, "MAX_ROWS", 2)
    content = csv_file([checks(care, f"HIS-{i}", date=f"0{i + 1}-09-2026") for i in range(3)])
    assert refused(care, content) == [(4, "file", "More than 2 rows in one file; split it.")]


# --- the access log -------------------------------------------------------------------------------


def test_the_clients_looked_up_are_in_the_access_log_even_when_refused(care: Care, care_b: Care) -> None:
    admin = care.user(Role.IGO_ADMIN)
    refused(care, csv_file([checks(care), _bad(care, care_b, "unknown_code")]))
    entry = AccessLogEntry.unscoped.get(client=care.client, user=admin)
    assert (entry.action, entry.detail) == ("search", "CSV import")
    upload(care, csv_file([checks(care)]))
    assert AccessLogEntry.unscoped.filter(client=care.client, user=admin, action="search").count() == 2
    system_user = system_account_for(organisation=care.practice).user
    assert AccessLogEntry.unscoped.filter(client=care.client, user=system_user, action="create").exists()
    assert not AccessLogEntry.unscoped.filter(client=care_b.client).exists()


# --- the page ------------------------------------------------------------------------------------


def test_the_page_lists_each_error_by_row_and_column_in_dutch(care: Care, client_for) -> None:
    web = client_for(care.user(Role.IGO_ADMIN))
    page = web.get(care.url("fhir/csv/"))
    assert page.status_code == 200 and "Zorg importeren uit een CSV-bestand" in page.content.decode()
    bad = checks(care, "HIS-2")
    bad[4] = "NOPE"
    content = csv_file([checks(care), bad])
    answer = web.post(care.url("fhir/csv/"), {"organisation": care.practice.pk, "file": _named(content)})
    assert answer.status_code == 400
    html = answer.content.decode()
    assert "Het bestand is niet geïmporteerd: 1 fout." in html
    assert answer.context["errors"][0].row == 3
    assert "catalogus-code (code)" in html and "Onbekende code NOPE" in html
    assert not CareEvent.unscoped.exists()


def test_the_page_imports_a_good_file_and_tells_the_counts(care: Care, client_for) -> None:
    web = client_for(care.user(Role.IGO_ADMIN))
    content = csv_file([checks(care), checks(care, "HIS-2", date="03-09-2026")])
    answer = web.post(
        care.url("fhir/csv/"), {"organisation": care.practice.pk, "file": _named(content)}, follow=True
    )
    assert answer.status_code == 200
    assert "2 nieuw, 0 ongewijzigd, 0 gecorrigeerd, 0 ongeldig gemaakt" in answer.content.decode()
    assert events(care).count() == 2


def test_another_igos_member_cannot_be_chosen(care: Care, care_b: Care, client_for) -> None:
    web = client_for(care.user(Role.IGO_ADMIN))
    content = csv_file([checks(care)])
    answer = web.post(care.url("fhir/csv/"), {"organisation": care_b.practice.pk, "file": _named(content)})
    assert answer.status_code == 400 and "organisation" in answer.context["form"].errors
    assert not CareEvent.unscoped.exists()


@pytest.mark.parametrize("role", [Role.MIDWIFE, Role.MATERNITY_CARER, Role.IGO_FINANCE])
def test_other_roles_are_refused(care: Care, client_for, role: str) -> None:
    web = client_for(care.user(role))
    assert web.get(care.url("fhir/csv/")).status_code == 403
    assert web.get(care.url("fhir/csv/template/")).status_code == 403


def _named(content: bytes) -> io.BytesIO:
    upload_file = io.BytesIO(content)
    upload_file.name = "zorg.csv"
    return upload_file
