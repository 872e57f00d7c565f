"""PREM Geboortezorg: the import of the survey tool's file of questionnaires sent and answered, and the
scores per item and overall with the response rate.

The file has one row per questionnaire sent:

    episode;sent_on;answered_on;prem_01;prem_02;…;prem_14
    1042;2026-09-01;2026-09-20;4;3;;4;…

`answered_on` and every item are empty when the client did not answer; an answered questionnaire has at
least one item scored, and an item she skipped is empty. The item columns are PREM_ITEMS (placeholders
until the survey tool's column names are known), each a whole number in PREM_SCALE (the published 1–10).
Separator, encoding, dates and the all-or-nothing rule as for the platform's own questionnaire
(quality.experience): every error is listed with its row and field, and one bad row stores nothing.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from igo import csv_upload
from igo.csv_upload import csv_reader, header_columns
from igo.models import Tenant, User
from igo.services import audit_record
from pregnancies.models import Episode
from quality.experience import MAX_BYTES, MAX_ROWS, _parse_date
from quality.models import PremResponse

# The 14 items, by column name in the file, in the questionnaire's order. One place to change them. The
# number of items is published (14 experience questions, Kennisnet Geboortezorg's PREM dossier); their
# wording and the survey tool's column names are not found in a public source: placeholders (docs/quality.md).
PREM_ITEMS: tuple[str, ...] = tuple(f"prem_{n:02d}" for n in range(1, 15))
# The published answer scale: 1 ("Nee, helemaal niet") to 10 ("Ja, helemaal"), shown with smileys
# (Kennisnet Geboortezorg, dossier PREM Geboortezorg; the VSVs' client information says the same).
PREM_SCALE = (1, 10)
COLUMNS = ("episode", "sent_on", "answered_on", *PREM_ITEMS)
REQUIRED = ("episode", "sent_on", "answered_on", *PREM_ITEMS)

FIELD_LABELS = {
    "file": gettext_lazy("file"),
    "episode": gettext_lazy("episode"),
    "sent_on": gettext_lazy("sent on"),
    "answered_on": gettext_lazy("answered on"),
}


class RowError(csv_upload.RowError):
    """A problem with a row of a PREM file (the header is row 1; 0 for the file as a whole)."""

    labels = FIELD_LABELS


class PremImportError(csv_upload.RowErrors[RowError]):
    """A PREM file that was refused; nothing of it was stored."""


@dataclass(frozen=True)
class PremRow:
    row: int
    episode_id: int
    sent_on: date
    answered_on: date | None
    items: dict[str, int]


@dataclass
class ParsedPrem:
    rows: list[PremRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def _error(message: str, row: int = 0) -> PremImportError:
    return PremImportError([RowError(row, "file", message)])


def _row(cells: list[str], columns: dict[str, int], row: int, errors: list[RowError]) -> PremRow | None:
    def cell(name: str) -> str:
        i = columns[name]
        return cells[i].strip() if i < len(cells) else ""

    found = len(errors)
    if len(cells) > len(columns):
        errors.append(
            RowError(
                row,
                "file",
                _("This row has %(n)s fields, the header %(m)s.") % {"n": len(cells), "m": len(columns)},
            )
        )
        return None
    episode = cell("episode")
    if not episode.isdigit() or len(episode) > 12:
        errors.append(RowError(row, "episode", _("Enter the episode number (digits only).")))
    sent_on = _parse_date(cell("sent_on"))
    if sent_on is None:
        errors.append(RowError(row, "sent_on", _("Enter the date as 2026-09-14 or 14-09-2026.")))
    answered_on = None
    if cell("answered_on"):
        answered_on = _parse_date(cell("answered_on"))
        if answered_on is None:
            errors.append(RowError(row, "answered_on", _("Enter the date as 2026-09-14 or 14-09-2026.")))
        elif sent_on is not None and answered_on < sent_on:
            errors.append(RowError(row, "answered_on", _("The answers cannot predate the sending.")))
    low, high = PREM_SCALE
    items: dict[str, int] = {}
    for name in PREM_ITEMS:
        text = cell(name)
        if not text:
            continue
        if not text.isdigit() or not low <= int(text) <= high:
            errors.append(
                RowError(
                    row,
                    name,
                    _("Enter a whole number from %(low)s to %(high)s, or leave it empty.")
                    % {"low": low, "high": high},
                )
            )
        else:
            items[name] = int(text)
    if cell("answered_on") and not items and len(errors) == found:
        errors.append(
            RowError(row, "answered_on", _("An answered questionnaire needs at least one item scored."))
        )
    if not cell("answered_on") and items:
        errors.append(RowError(row, "answered_on", _("Enter the date answered: this row has item scores.")))
    if len(errors) > found or sent_on is None:
        return None
    return PremRow(row=row, episode_id=int(episode), sent_on=sent_on, answered_on=answered_on, items=items)


def prem_file_parse(content: bytes) -> ParsedPrem:
    """Read a PREM file. A file that cannot be read at all raises PremImportError; rows with values of
    the wrong form are listed in `errors`."""
    reader = csv_reader(content, max_bytes=MAX_BYTES, refuse=_error)
    columns: dict[str, int] | None = None
    parsed, count = ParsedPrem(), 0
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if columns is None:
                columns, problems = header_columns(cells, columns=COLUMNS, required=REQUIRED)
                if problems:
                    raise PremImportError([RowError(1, "file", p) for p in problems])
                continue
            count += 1
            if count > MAX_ROWS:
                raise _error(_("More than %(n)s answers in one file.") % {"n": MAX_ROWS}, reader.line_num)
            found = _row(cells, columns, reader.line_num, parsed.errors)
            if found is not None:
                parsed.rows.append(found)
    except csv.Error as exc:
        raise _error(_("The file cannot be read as CSV here."), reader.line_num) from exc
    if not count:
        raise _error(_("The file holds no answers, only a header."))
    return parsed


def prem_import(*, tenant: Tenant, actor: User, content: bytes, filename: str = "") -> list[PremResponse]:
    """Parse and store a PREM file, all or nothing; a refused file is audited too (with its number of
    errors). Call inside tenant_scope."""
    try:
        return _store(tenant=tenant, actor=actor, parsed=prem_file_parse(content), filename=filename)
    except PremImportError as exc:
        audit_record(
            actor=actor,
            action="prem.import_refused",
            tenant=tenant,
            filename=filename[:200],
            errors=len(exc.errors),
        )
        raise


@transaction.atomic
def _store(*, tenant: Tenant, actor: User, parsed: ParsedPrem, filename: str) -> list[PremResponse]:
    """An episode number of another IGO is unknown, like one that does not exist; an episode with a
    questionnaire already stored, or twice in the file, is refused (one questionnaire per episode)."""
    errors = list(parsed.errors)
    wanted = {r.episode_id for r in parsed.rows}
    # The tenant filter on top of the scoped manager: an id of another IGO is simply not found.
    known = set(Episode.objects.filter(tenant=tenant, pk__in=wanted).values_list("pk", flat=True))
    stored_before = set(
        PremResponse.objects.filter(tenant=tenant, episode_id__in=wanted).values_list("episode_id", flat=True)
    )
    first_row: dict[int, int] = {}
    for r in parsed.rows:
        if r.episode_id not in known:
            message = _("Unknown episode %(id)s: no episode of this IGO has this number.") % {
                "id": r.episode_id
            }
        elif r.episode_id in stored_before:
            message = _("Episode %(id)s already has a PREM questionnaire.") % {"id": r.episode_id}
        elif r.episode_id in first_row:
            message = _("Episode %(id)s is also on row %(row)s; one questionnaire per client.") % {
                "id": r.episode_id,
                "row": first_row[r.episode_id],
            }
        else:
            first_row[r.episode_id] = r.row
            continue
        errors.append(RowError(r.row, "episode", message))
    if errors:
        raise PremImportError(sorted(errors))
    stored = PremResponse.objects.bulk_create(
        PremResponse(
            tenant=tenant,
            episode_id=r.episode_id,
            sent_on=r.sent_on,
            answered_on=r.answered_on,
            items=r.items,
            imported_by=actor,
        )
        for r in parsed.rows
    )
    # The quality sweep recomputes the months of changed episodes.
    Episode.objects.filter(pk__in=first_row).update(changed_at=timezone.now())
    audit_record(
        actor=actor, action="prem.import", tenant=tenant, filename=filename[:200], answers=len(stored),
        episodes=sorted(first_row),
    )  # fmt: skip
    return stored


@dataclass(frozen=True)
class ItemScore:
    item: str
    answers: int
    mean: Decimal | None


@dataclass(frozen=True)
class PremSummary:
    sent: int
    answered: int
    response_rate: Decimal | None  # percent, to one decimal
    overall: Decimal | None  # mean of the answered questionnaires' mean item scores, to two decimals
    items: list[ItemScore]


def _mean(values: list[Decimal]) -> Decimal | None:
    if not values:
        return None
    return (sum(values, Decimal(0)) / Decimal(len(values))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def prem_summary(*, start: date, end: date) -> PremSummary:
    """Scores per item and overall, and the response rate, of the questionnaires sent in [start, end).
    Call inside tenant_scope."""
    responses = list(PremResponse.objects.filter(sent_on__gte=start, sent_on__lt=end))
    answered = [r for r in responses if r.answered_on is not None]
    items = [
        ItemScore(
            item=name,
            answers=len(
                scores := [Decimal(r.items[name]) for r in answered if r.items.get(name) is not None]
            ),
            mean=_mean(scores),
        )
        for name in PREM_ITEMS
    ]
    rate = (
        (Decimal(len(answered)) * 100 / len(responses)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        if responses
        else None
    )
    means = [m for r in answered if (m := r.mean_score()) is not None]
    return PremSummary(
        sent=len(responses), answered=len(answered), response_rate=rate, overall=_mean(means), items=items
    )
