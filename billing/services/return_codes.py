"""The Vektis return codes (list COD954) as dated reference data: loading the operator's list, and the
description of a code as it was on a given day.

The list is a CSV file (`billing/reference/cod954.csv` is the one the platform started with):

    code;description;valid_from;valid_until
    0435;Burgerservicenummer ontbreekt of is onjuist;2017-01-01;

A code's description is kept per version: a new description from a later `valid_from` ends the version
before it the day before, so a return of last year is still explained as it was then; a `valid_until` ends
a code. Loading the same list twice changes nothing.

An answer typed by a clerk or a program (the portal, the API's JSON, the CSV return file) must carry a code
of `return_code_choices` on the day the batch was released: the list the portal offers. A KZ302 file is
the exception: its codes are written by the insurer's claims system from Vektis' own list, which may be newer
than the operator's copy; refusing a whole return for that would hold up every line of it, so its codes are
kept as they come and an unknown one is shown as unknown until the list is updated.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.models import RETURN_CODES, ReturnCode
from igo.csv_upload import RowError, RowErrors, header_columns

COLUMNS = ("code", "description", "valid_from", "valid_until")
REQUIRED = ("code", "description", "valid_from")
ONE_DAY = dt.timedelta(days=1)


class ReturnCodeRowError(RowError):
    """A problem with a row of a return-code list (the header is row 1)."""

    labels = {
        "file": gettext_lazy("file"),
        "code": gettext_lazy("code"),
        "description": gettext_lazy("description"),
        "valid_from": gettext_lazy("valid from"),
        "valid_until": gettext_lazy("valid until"),
    }


class ReturnCodeListError(RowErrors[ReturnCodeRowError]):
    """A return-code list that cannot be loaded; nothing of it was stored."""


@dataclass(frozen=True)
class ReturnCodeRow:
    code: str
    description: str
    valid_from: dt.date
    valid_until: dt.date | None


def return_code_list_parse(content: bytes) -> list[ReturnCodeRow]:
    """Read a return-code list (UTF-8, `;` separated). Raises ReturnCodeListError with every row's errors."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReturnCodeListError([ReturnCodeRowError(0, "file", _("The file is not UTF-8 text."))]) from exc
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    columns: dict[str, int] | None = None
    rows: list[ReturnCodeRow] = []
    errors: list[ReturnCodeRowError] = []
    seen: set[tuple[str, dt.date]] = set()
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        n = reader.line_num
        if columns is None:
            columns, problems = header_columns(cells, columns=COLUMNS, required=REQUIRED)
            if problems:
                raise ReturnCodeListError([ReturnCodeRowError(n, "file", m) for m in problems])
            continue

        def cell(name: str, cells: list[str] = cells, columns: dict[str, int] = columns) -> str:
            i = columns.get(name)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        code, description = cell("code"), cell("description")
        if len(code) != 4 or not code.isascii() or not code.isalnum():
            errors.append(ReturnCodeRowError(n, "code", _("A return code is 4 letters or digits.")))
        if not description or len(description) > 300:
            errors.append(
                ReturnCodeRowError(
                    n, "description", _("The description is empty or longer than 300 characters.")
                )
            )
        dates: dict[str, dt.date | None] = {}
        for name in ("valid_from", "valid_until"):
            value = cell(name)
            try:
                dates[name] = dt.date.fromisoformat(value) if value else None
            except ValueError:
                errors.append(ReturnCodeRowError(n, name, _("Write the date as YYYY-MM-DD.")))
                dates[name] = None
        start, end = dates["valid_from"], dates["valid_until"]
        if start is None:
            if cell("valid_from") == "":
                errors.append(ReturnCodeRowError(n, "valid_from", _("The start date is missing.")))
            continue
        if end is not None and end < start:
            errors.append(ReturnCodeRowError(n, "valid_until", _("The end date is before the start date.")))
        if (code, start) in seen:
            errors.append(ReturnCodeRowError(n, "code", _("This code and start date appear twice.")))
        seen.add((code, start))
        rows.append(ReturnCodeRow(code, description, start, end))
    if errors:
        raise ReturnCodeListError(errors)
    if not rows:
        raise ReturnCodeListError([ReturnCodeRowError(0, "file", _("The file holds no codes."))])
    return rows


def return_codes_load(*, rows: Sequence[ReturnCodeRow]) -> list[str]:
    """Bring the stored return codes up to `rows`: a new code is added; a new description from a later
    date is a new version (the one before ends the day before); an end date ends a code; the same row again
    changes nothing. Returns what changed, one sentence per change, in the active language."""
    changes: list[str] = []
    with transaction.atomic():
        stored: dict[str, list[ReturnCode]] = {}
        for rc in ReturnCode.objects.select_for_update().order_by("code", "valid_from"):
            stored.setdefault(rc.code, []).append(rc)
        for row in sorted(rows, key=lambda r: (r.code, r.valid_from)):
            versions = stored.setdefault(row.code, [])
            same = next((v for v in versions if v.valid_from == row.valid_from), None)
            if same is not None:
                if same.description == row.description and same.valid_until != row.valid_until:
                    same.valid_until = row.valid_until
                    same.save(update_fields=["valid_until"])
                    changes.append(
                        _("%(code)s ended on %(d)s.") % {"code": row.code, "d": row.valid_until}
                        if row.valid_until
                        else _("%(code)s no longer ends.") % {"code": row.code}
                    )
                elif (same.description, same.valid_until) != (row.description, row.valid_until):
                    same.description, same.valid_until = row.description, row.valid_until
                    same.save(update_fields=["description", "valid_until"])
                    changes.append(
                        _("%(code)s from %(d)s: now “%(text)s”%(until)s.")
                        % {
                            "code": row.code,
                            "d": row.valid_from,
                            "text": row.description,
                            "until": _until(row),
                        }
                    )
                continue
            before = [v for v in versions if v.valid_from < row.valid_from]
            latest = before[-1] if before else None
            if latest is not None and latest.description == row.description:
                # The same text: only an end date can be news.
                if row.valid_until is not None and latest.valid_until != row.valid_until:
                    latest.valid_until = row.valid_until
                    latest.save(update_fields=["valid_until"])
                    changes.append(_("%(code)s ended on %(d)s.") % {"code": row.code, "d": row.valid_until})
                continue
            if latest is not None and (latest.valid_until is None or latest.valid_until >= row.valid_from):
                latest.valid_until = row.valid_from - ONE_DAY
                latest.save(update_fields=["valid_until"])
            created = ReturnCode.objects.create(
                code=row.code,
                description=row.description,
                valid_from=row.valid_from,
                valid_until=row.valid_until,
            )
            versions.append(created)
            versions.sort(key=lambda v: v.valid_from)
            if latest is None:
                changes.append(
                    _("%(code)s added: “%(text)s” from %(d)s%(until)s.")
                    % {"code": row.code, "text": row.description, "d": row.valid_from, "until": _until(row)}
                )
            else:
                changes.append(
                    _("%(code)s: “%(text)s” from %(d)s (was “%(old)s”).")
                    % {
                        "code": row.code,
                        "text": row.description,
                        "d": row.valid_from,
                        "old": latest.description,
                    }
                )
    return changes


def _until(row: ReturnCodeRow) -> str:
    return _(", until %(d)s") % {"d": row.valid_until} if row.valid_until else ""


# "Fully awarded" explains nothing: it is no reason for a rejection or a partial award.
NOT_A_REASON = frozenset({"8001"})


def return_code_choices(*, on: dt.date) -> list[tuple[str, str]]:
    """The reason codes an answer may carry, as (code, "code description"), by code: the platform's own
    codes and the Vektis return codes (COD954) in force on `on` (the day the batch was released)."""
    labels = {code: str(label) for code, label in RETURN_CODES.items()}
    for rc in ReturnCode.objects.filter(valid_from__lte=on).order_by("valid_from"):
        if (rc.valid_until is None or rc.valid_until >= on) and rc.code not in NOT_A_REASON:
            labels[rc.code] = rc.description
    return [(code, f"{code} {labels[code]}") for code in sorted(labels)]


def return_code_labels(codes: Iterable[str], *, on: dt.date) -> dict[str, str]:
    """Per code: its description on `on` (the day the batch was released); the platform's own codes of the
    CSV route (`RETURN_CODES`) otherwise; “unknown code” for a code on neither list (kept as it came)."""
    wanted = {c for c in codes if c}
    if not wanted:
        return {}
    found = {
        rc.code: rc.description
        for rc in ReturnCode.objects.filter(code__in=wanted, valid_from__lte=on).order_by("valid_from")
        if rc.valid_until is None or rc.valid_until >= on
    }
    labels: dict[str, str] = {}
    for code in wanted:
        if code in found:
            labels[code] = found[code]
        elif code in RETURN_CODES:
            labels[code] = str(RETURN_CODES[code])
        else:
            labels[code] = _("unknown code")
    return labels
