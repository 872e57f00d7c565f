"""The CSV import of care (issue 21): for member organisations whose system speaks no FHIR.

One row is one care event of the member's own professionals, under a header row with these columns (any
order; `episode`, `quantity` and `void` may be left out):

    row_id;bsn;episode;agb;code;date;time;quantity
    HIS-000123;123456782;;12345678;PRE_CHECK;14-09-2026;10:30;1

- `row_id`: the sender's own identifier of the row, unique within the member: sending the row again with
  the same content changes nothing, with other content corrects the event (as a FHIR resource does).
- `bsn`, `agb`: the client's BSN and the professional's personal AGB code (a leading zero that a
  spreadsheet dropped is put back); `episode`: the pregnancy's number in this IGO, else her one open one.
- `code`: an entry of this IGO's care catalogue; `date` (14-09-2026 or 2026-09-14) and `time` (10:30) on
  the Amsterdam clock; `quantity`: 1 when empty, hours for catalogue entries counted in hours, with a
  decimal comma or point.
- `void` (optional column): `void` (or `entered-in-error`, ...) voids the event an earlier row with this
  `row_id` made; the row's other cells are not read.
- Rows whose first cell starts with `#` are comments (the template explains itself in them).

The file: UTF-8 with or without byte-order mark, or Windows-1252 (what Excel writes as "CSV"); separated by
`;` or `,` (taken from the header row); at most MAX_BYTES and MAX_ROWS rows.

The same rules as the FHIR import, through the same store (`importing._store`, rows as `Planned` care
with resource type `CsvRow`): clients by BSN within the IGO only, professionals of the member only, every
event written by the care services (phase, discipline, dates), by the member's system account, so that its
FHIR and CSV care are corrected the same way. Every row is checked and every problem listed with its row
number and column; one problem stores nothing (one transaction).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fhir_io import importing, probing
from fhir_io.services import system_account_for
from igo import csv_upload
from igo.csv_upload import header_columns
from igo.exports import CsvConvention, csv_bytes
from igo.models import Tenant, User
from igo.services import audit_record
from igo.validators import validate_bsn
from pregnancies import services as care
from pregnancies.models import AccessAction, Client, Episode, EpisodeStatus, EventType, Unit
from providers.models import MemberOrganisation, Professional

COLUMNS = ("row_id", "bsn", "episode", "agb", "code", "date", "time", "quantity", "void")
REQUIRED = ("row_id", "bsn", "agb", "code", "date", "time")
RESOURCE_TYPE = "CsvRow"  # FhirResourceLink.resource_type of a CSV row
ROW_SYSTEM = "urn:igo-platform:csv-row"  # its identifier system: the row_id is the sender's own
MAX_BYTES = 2 * 1024 * 1024
# Stored in the request through the set-based store: 5,000 new rows in ~3 s, 10,000 in ~6.5 s (bench/
# csv_import.py, 2 cores at load 2.8; about twice that when saturated), so 5,000 rows stay within a few
# seconds. A month of a midwifery practice is a few hundred rows, of a large kraamzorg a few thousand.
MAX_ROWS = 5_000
ROW_ID_MAX = 200  # FhirResourceLink.value
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
DATE_FORMATS = ("%d-%m-%Y", "%Y-%m-%d", "%d/%m/%Y")
TIME_FORMATS = ("%H:%M", "%H:%M:%S")
# The `void` column: a row of an earlier file with one of these voids its event (FHIR's entered-in-error).
VOID_MARKS = frozenset({"void", "entered-in-error", "x", "ja", "yes", "1"})
NOT_VOID_MARKS = frozenset({"", "nee", "no", "0"})
_QUANTITY = re.compile(r"^\d{1,4}(?:[.,]\d{1,2})?$")

FIELD_LABELS = {
    "file": gettext_lazy("file"),
    "row": gettext_lazy("row"),
    "row_id": gettext_lazy("row identifier (row_id)"),
    "bsn": gettext_lazy("BSN (bsn)"),
    "episode": gettext_lazy("pregnancy (episode)"),
    "agb": gettext_lazy("AGB code (agb)"),
    "code": gettext_lazy("catalogue code (code)"),
    "date": gettext_lazy("date (date)"),
    "time": gettext_lazy("time (time)"),
    "quantity": gettext_lazy("quantity (quantity)"),
    "void": gettext_lazy("void (void)"),
}
# The fields of the care services' errors, as columns of the file.
SERVICE_FIELDS = {
    "occurred_at": "date",
    "event_type": "code",
    "quantity": "quantity",
    "confirm_over_limit": "quantity",
    "professional": "agb",
    "organisation": "date",  # the member was no member on that day
    "episode": "episode",
}


class RowError(csv_upload.RowError):
    """A problem with a row of a care file (the header is row 1 when it is the first line; 0: the file)."""

    labels = FIELD_LABELS


class CsvImportError(csv_upload.RowErrors[RowError]):
    """A care file that was refused; nothing of it was stored."""


@dataclass(frozen=True)
class CareRow:
    """A row whose values have the right form (not yet looked up)."""

    row: int
    row_id: str
    bsn: str
    episode: int | None
    agb: str
    code: str
    occurred_at: datetime | None  # None: a void row
    quantity: Decimal | None
    voided: bool = False


@dataclass
class ParsedFile:
    rows: list[CareRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    row_count: int = 0
    encoding: str = "utf-8"
    delimiter: str = ";"


@dataclass
class ImportResult:
    created: int = 0
    unchanged: int = 0
    corrected: int = 0
    voided: int = 0


# --- the template ---------------------------------------------------------------------------------


def template_codes(organisation: MemberOrganisation | None) -> list[EventType]:
    """The active catalogue entries the member's professionals may log (all active ones without a member,
    or when it has no active professional yet). Call inside tenant_scope."""
    types = list(EventType.objects.filter(is_active=True).order_by("phase", "code"))
    if organisation is None:
        return types
    disciplines = set(
        Professional.objects.filter(organisation=organisation, is_active=True).values_list(
            "discipline", flat=True
        )
    )
    if not disciplines:
        return types
    return [t for t in types if disciplines & set(t.disciplines)]


def template_bytes(*, organisation: MemberOrganisation | None, convention: CsvConvention) -> bytes:
    """The template: the header, then comment rows (first cell `#`) that explain each column, list the
    codes and the member's professionals, and show an example row. Call inside tenant_scope."""
    dutch = convention.decimal == ","
    example_date = "14-09-2026" if dutch else "2026-09-14"
    rows: list[list[Any]] = [
        ["# " + _("Rows starting with # are ignored. One row per care event; delete the examples.")],
        ["# row_id: " + _("your own unique identifier of the row (at most 200 characters); send it again to correct the row")],
        ["# bsn: " + _("the client's BSN (9 digits)")],
        ["# episode: " + _("optional: the pregnancy's number in this IGO; empty: her one open pregnancy")],
        ["# agb: " + _("the personal AGB code (8 digits) of the professional of your organisation")],
        ["# code: " + _("a code of the IGO's care catalogue (listed below)")],
        ["# date, time: " + _("when the care was given, Dutch time, as %(date)s and 10:30") % {"date": example_date}],
        ["# quantity: " + _("empty for 1; for codes counted in hours the hours, in quarters (e.g. %(hours)s)") % {"hours": "3,5" if dutch else "3.5"}],
        ["# void: " + _("optional: void (or entered-in-error) voids the event of an earlier row with this row_id; the other columns of that row are not read")],
    ]  # fmt: skip
    rows.append(["# " + _("Codes") + ":", _("name"), _("phase"), _("unit"), _("maximum per event")])
    for t in template_codes(organisation):
        rows.append(
            [
                f"# {t.code}",
                t.name,
                t.get_phase_display() or _("any"),
                t.get_unit_display(),
                t.max_quantity.normalize(),
            ]
        )
    if organisation is not None:
        rows.append(["# " + _("Professionals of %(org)s") % {"org": organisation.name} + ":", "agb"])
        for p in Professional.objects.filter(organisation=organisation, is_active=True).order_by("full_name"):
            if p.agb_code:
                rows.append([f"# {p.full_name}", p.agb_code, p.get_discipline_display()])
    rows.append(["# " + _("Example (remove the # to use it):")])
    rows.append(["#HIS-000123", "123456782", "", "12345678", "PRE_CHECK", example_date, "10:30", "1", ""])
    return csv_bytes(COLUMNS, rows, convention=convention)


# --- reading the file -----------------------------------------------------------------------------


def _file_error(message: str, row: int = 0) -> CsvImportError:
    return CsvImportError([RowError(row, "file", message)])


def _decode(content: bytes) -> tuple[str, str]:
    """The text and the encoding it was read in: UTF-8 (with or without byte-order mark), else
    Windows-1252, the encoding Excel writes a "CSV (separated by semicolons)" in."""
    try:
        return content.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError as exc:
        raise _file_error(
            _("The file is neither UTF-8 nor Windows-1252 text; save it as CSV UTF-8.")
        ) from exc


def _is_comment(cells: Sequence[str]) -> bool:
    return bool(cells) and cells[0].strip().startswith("#")


def _digits(text: str, length: int) -> str | None:
    """`text` as `length` digits; one or two leading zeros that a spreadsheet dropped are put back."""
    if not (text.isascii() and text.isdigit()) or not length - 2 <= len(text) <= length:
        return None
    return text.zfill(length)


def _parse_date(text: str) -> date | None:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _parse_time(text: str) -> time | None:
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).time()
        except ValueError:
            continue
    return None


def parse_quantity(text: str) -> Decimal | None:
    """`3,5` or `3.5` (no thousands separator, at most two decimals); None when it is not such a number."""
    if not _QUANTITY.match(text):
        return None
    return Decimal(text.replace(",", "."))


def _row(cells: list[str], columns: dict[str, int], row: int, parsed: ParsedFile) -> CareRow | None:
    errors = parsed.errors
    if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
        errors.append(
            RowError(
                row,
                "row",
                _("This row has %(n)s fields, the header %(m)s; a decimal comma in a file separated by "
                  "commas needs quotes.") % {"n": len(cells), "m": len(columns)},
            )
        )  # fmt: skip
        return None

    def cell(name: str) -> str:
        i = columns.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    found = len(errors)
    row_id = cell("row_id")
    if not row_id:
        errors.append(RowError(row, "row_id", _("Give the row's own identifier.")))
    elif len(row_id) > ROW_ID_MAX or not row_id.isprintable():
        errors.append(
            RowError(row, "row_id", _("At most %(n)s characters, no control characters.") % {"n": ROW_ID_MAX})
        )
    void = cell("void").lower()
    if void not in VOID_MARKS | NOT_VOID_MARKS:
        errors.append(
            RowError(row, "void", _("Enter void to void the row's earlier event, or leave it empty."))
        )
    elif void in VOID_MARKS:
        if len(errors) > found:
            return None
        return CareRow(row, row_id, "", None, "", "", None, None, voided=True)
    bsn = _digits(cell("bsn"), 9)
    if bsn is None:
        errors.append(RowError(row, "bsn", _("A BSN consists of exactly 9 digits.")))
    else:
        try:
            validate_bsn(bsn)
        except ValidationError as exc:
            errors.extend(RowError(row, "bsn", str(m)) for m in exc.messages)
            bsn = None
    episode_text = cell("episode")
    episode: int | None = None
    if episode_text:
        if not (episode_text.isascii() and episode_text.isdigit()) or len(episode_text) > 12:
            errors.append(
                RowError(row, "episode", _("Enter the episode number (digits only), or leave it empty."))
            )
        else:
            episode = int(episode_text)
    agb = _digits(cell("agb"), 8)
    if agb is None:
        errors.append(RowError(row, "agb", _("An AGB code consists of exactly 8 digits.")))
    code = cell("code")
    if not code:
        errors.append(RowError(row, "code", _("Give the catalogue code.")))
    day = _parse_date(cell("date"))
    if day is None:
        errors.append(RowError(row, "date", _("Enter the date as 14-09-2026 or 2026-09-14.")))
    moment = _parse_time(cell("time"))
    if moment is None:
        errors.append(RowError(row, "time", _("Enter the time as 10:30.")))
    quantity_text = cell("quantity")
    quantity = parse_quantity(quantity_text) if quantity_text else None
    if quantity_text and quantity is None:
        errors.append(
            RowError(row, "quantity", _("Enter a number such as 1 or 3,5 (no thousands separator)."))
        )
    if len(errors) > found or bsn is None or agb is None or day is None or moment is None:
        return None
    return CareRow(
        row=row,
        row_id=row_id,
        bsn=bsn,
        episode=episode,
        agb=agb,
        code=code,
        occurred_at=datetime.combine(day, moment, tzinfo=AMSTERDAM),
        quantity=quantity,
    )


def care_file_parse(content: bytes) -> ParsedFile:
    """Read a care file. A file that cannot be read at all (too large, not text, no header, no rows)
    raises CsvImportError; rows with values of the wrong form are listed in `errors`."""
    if len(content) > MAX_BYTES:
        raise _file_error(
            _("The file is larger than %(mb)s MB; split it into files of at most %(n)s rows.")
            % {"mb": MAX_BYTES // 2**20, "n": MAX_ROWS}
        )
    if b"\x00" in content:
        raise _file_error(_("This is not a text (CSV) file."))
    text, encoding = _decode(content)
    lines = (
        line for line in text.splitlines() if line.strip() and not line.lstrip().lstrip('"').startswith("#")
    )
    first = next(lines, "")
    if not first:
        raise _file_error(_("The file is empty."))
    parsed = ParsedFile(encoding=encoding, delimiter=";" if ";" in first else ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=parsed.delimiter)
    columns: dict[str, int] | None = None
    seen: dict[str, int] = {}
    try:
        for cells in reader:
            if not any(c.strip() for c in cells) or _is_comment(cells):
                continue
            if columns is None:
                columns, problems = header_columns(cells, columns=COLUMNS, required=REQUIRED)
                if problems:
                    raise CsvImportError([RowError(reader.line_num, "file", p) for p in problems])
                continue
            parsed.row_count += 1
            if parsed.row_count > MAX_ROWS:
                raise _file_error(
                    _("More than %(n)s rows in one file; split it.") % {"n": MAX_ROWS}, reader.line_num
                )
            row = _row(cells, columns, reader.line_num, parsed)
            if row is None:
                continue
            if row.row_id in seen:
                parsed.errors.append(
                    RowError(
                        row.row,
                        "row_id",
                        _("The row identifier %(id)s is also on row %(row)s; each row needs its own.")
                        % {"id": row.row_id, "row": seen[row.row_id]},
                    )
                )
                continue
            seen[row.row_id] = row.row
            parsed.rows.append(row)
    except csv.Error as exc:
        raise _file_error(_("The file cannot be read as CSV here."), reader.line_num) from exc
    if not parsed.row_count:
        raise _file_error(_("The file holds no care, only a header."))
    return parsed


# --- looking up and storing -----------------------------------------------------------------------


class _Lookup:
    """The IGO's rows the file names, each read once (tenant in scope)."""

    def __init__(self, rows: Sequence[CareRow], organisation: MemberOrganisation):
        self.organisation = organisation
        rows = [r for r in rows if not r.voided]  # a void row is known by its row_id only
        self.clients = {c.bsn: c for c in Client.objects.filter(bsn__in={r.bsn for r in rows})}
        self.professionals = {
            p.agb_code: p
            for p in Professional.objects.filter(
                organisation=organisation, agb_code__in={r.agb for r in rows}
            )
        }
        self.types = {t.code: t for t in EventType.objects.all()}
        self.types_folded = {code.upper(): t for code, t in self.types.items()}
        client_ids = [c.pk for c in self.clients.values()]
        asked = {r.episode for r in rows if r.episode is not None}
        self.episodes = {e.pk: e for e in Episode.objects.filter(client_id__in=client_ids, pk__in=asked)}
        open_ones: dict[int, list[Episode]] = {}
        for e in Episode.objects.filter(client_id__in=client_ids, status=EpisodeStatus.ACTIVE):
            open_ones.setdefault(e.client_id, []).append(e)
        self.open = {pk: found[0] for pk, found in open_ones.items() if len(found) == 1}

    def plan(self, index: int, row: CareRow, errors: list[RowError]) -> importing.Planned | None:
        if row.voided:  # voids the event of an earlier row with this row_id (none: nothing to do)
            return importing.Planned(index, RESOURCE_TYPE, ROW_SYSTEM, row.row_id, voided=True)
        found = len(errors)
        client = self.clients.get(row.bsn)
        if client is None:
            # Another IGO's client is "not found" too: the file cannot tell which BSNs exist elsewhere.
            errors.append(RowError(row.row, "bsn", _("No client of this IGO has this BSN.")))
        episode: Episode | None = None
        if client is not None and row.episode is not None:
            episode = self.episodes.get(row.episode)
            if episode is None or episode.client_id != client.pk:
                errors.append(
                    RowError(
                        row.row, "episode", _("This client has no pregnancy with this number in this IGO.")
                    )
                )
                episode = None
        elif client is not None:
            episode = self.open.get(client.pk)
            if episode is None:
                errors.append(
                    RowError(
                        row.row,
                        "episode",
                        _("The client has no single open pregnancy; give the pregnancy's number."),
                    )
                )
        professional = self.professionals.get(row.agb)
        if professional is None:
            errors.append(
                RowError(
                    row.row,
                    "agb",
                    _("AGB %(agb)s is not a professional of %(member)s: a member sends only its own care.")
                    % {"agb": row.agb, "member": self.organisation.name},
                )
            )
        event_type = self.types.get(row.code) or self.types_folded.get(row.code.upper())
        if event_type is None:
            errors.append(
                RowError(
                    row.row,
                    "code",
                    _("Unknown code %(code)s: the codes of this IGO's catalogue are in the template.")
                    % {"code": row.code},
                )
            )
        elif not event_type.is_active:
            errors.append(RowError(row.row, "code", _("This event type is no longer in use.")))
        elif professional is not None and professional.discipline not in event_type.disciplines:
            errors.append(
                RowError(
                    row.row,
                    "code",
                    _("A %(discipline)s may not log %(code)s (%(name)s).")
                    % {
                        "discipline": professional.get_discipline_display().lower(),
                        "code": event_type.code,
                        "name": event_type.name,
                    },
                )
            )
        quantity = row.quantity
        if quantity is None and event_type is not None:
            if event_type.unit == Unit.HOUR:
                errors.append(RowError(row.row, "quantity", _("Give the hours of care for this code.")))
            quantity = Decimal("1")
        if len(errors) > found:
            return None
        assert episode and professional and event_type and quantity is not None and row.occurred_at
        plan = importing.Planned(index, RESOURCE_TYPE, ROW_SYSTEM, row.row_id, voided=False)
        plan.episode, plan.professional, plan.event_type_id = episode, professional, event_type.pk
        plan.occurred_at, plan.quantity = row.occurred_at, quantity
        plan.content_hash = hashlib.sha256(
            f"{episode.pk}|{professional.pk}|{event_type.pk}|{row.occurred_at.isoformat()}|"
            f"{quantity.normalize()}".encode()
        ).hexdigest()
        return plan


_ENTRY = re.compile(r"entry\[(\d+)\]")
_FIELD = re.compile(r"\((\w+)\)\s*$")


def _row_errors(issues: Iterable[importing.Issue], rows: Sequence[CareRow]) -> list[RowError]:
    """The store's problems (FHIR issues whose expression names the planned row by its index, and the
    care service's field in brackets) as the file's row and column."""
    out: list[RowError] = []
    for issue in issues:
        index = _ENTRY.search(issue.expression)
        name = _FIELD.search(issue.expression)
        row = rows[int(index.group(1))].row if index and int(index.group(1)) < len(rows) else 0
        column = SERVICE_FIELDS.get(name.group(1), "row") if name else "row"
        out.append(RowError(row, column if row else "file", issue.text))
    return out


def care_csv_import(
    *, tenant: Tenant, actor: User, organisation: MemberOrganisation, parsed: ParsedFile, filename: str = ""
) -> ImportResult:
    """Store every row of a parsed file as care of `organisation`, or (on any error in any row) none.
    Call inside tenant_scope. The clients found by BSN are written to the access log by `actor` (the
    person who uploads) even when the file is refused: they were looked up."""
    if organisation.tenant_id != tenant.pk:
        raise _file_error(_("This organisation is not a member of this IGO."))
    errors = list(parsed.errors)
    lookup = _Lookup(parsed.rows, organisation)
    if lookup.clients:
        care.access_log_many(
            user=actor, clients=list(lookup.clients.values()), action=AccessAction.SEARCH, detail="CSV import"
        )
    misses = {r.bsn for r in parsed.rows if not r.voided and r.bsn not in lookup.clients}
    if (
        misses
    ):  # no client to log them against: each an audit entry with the BSN's pseudonym (fhir_io.probing)
        probing.csv_misses_record(tenant=tenant, actor=actor, organisation=organisation, bsns=misses)
    planned: list[importing.Planned] = []
    rows: list[CareRow] = []
    for row in parsed.rows:
        plan = lookup.plan(len(planned), row, errors)
        if plan is not None:
            planned.append(plan)
            rows.append(row)
    with transaction.atomic():
        system_user = system_account_for(organisation=organisation).user
        issues: list[importing.Issue] = []
        types = {t.pk: t for t in lookup.types.values()}
        stored = importing._store(planned, member=organisation, actor=system_user, types=types, issues=issues)
        errors.extend(_row_errors(issues, rows))
        if errors:
            raise CsvImportError(sorted(errors))  # rolls back every event written above
        result = ImportResult(stored.created, stored.unchanged, stored.corrected, stored.voided)
        audit_record(
            actor=actor,
            tenant=tenant,
            action="care_csv.import",
            obj=organisation,
            filename=filename[:200],
            rows=len(planned),
            created=result.created,
            unchanged=result.unchanged,
            corrected=result.corrected,
            voided=result.voided,
        )
    return result


def care_csv_import_file(
    *, tenant: Tenant, actor: User, organisation: MemberOrganisation, content: bytes, filename: str = ""
) -> ImportResult:
    """Parse and store a care file; a refused file is audited too (with its number of errors) and stores
    nothing. Call inside tenant_scope."""
    try:
        parsed = care_file_parse(content)
        return care_csv_import(
            tenant=tenant, actor=actor, organisation=organisation, parsed=parsed, filename=filename
        )
    except CsvImportError as exc:
        audit_record(
            actor=actor,
            tenant=tenant,
            action="care_csv.import_refused",
            obj=organisation,
            filename=filename[:200],
            errors=len(exc.errors),
        )
        raise
