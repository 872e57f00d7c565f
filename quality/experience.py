"""Client experience questionnaires: when one is due, and the import of a file of answers.

The file, as a survey tool or a spreadsheet exports it (documented on the import page):

    episode;answered_on;overall;informed;same_team;recommend
    1042;2026-09-14;9;5;4;10

Separator `;` or `,` (taken from the header line); UTF-8 with or without byte-order mark; columns in any
order; dates as 2026-09-14 or 14-09-2026. `episode` is the episode number of this IGO (shown on the
episode page). The scores: overall 1–10, informed 1–5, same team 1–5, recommend 0–10.

An import is all or nothing: every row is checked (the form of each value here, whether it may be stored by
`quality.services.experience_record`), every error is reported with the file's row number (the header is
row 1) and field, and one bad row stores nothing. An episode number of another IGO is "unknown", exactly
like a number that does not exist: the file cannot tell which numbers exist elsewhere.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from igo import csv_upload
from igo.csv_upload import csv_reader, header_columns
from igo.models import Tenant, User
from igo.services import audit_record
from pregnancies.models import Episode
from quality.models import ExperienceResponse, ExperienceSource
from quality.services import experience_record

COLUMNS = ("episode", "answered_on", "overall", "informed", "same_team", "recommend")
SCORES = ("overall", "informed", "same_team", "recommend")
DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y")
MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 10_000

FIELD_LABELS = {
    "file": gettext_lazy("file"),
    "episode": gettext_lazy("episode"),
    "answered_on": gettext_lazy("answered on"),
    "overall": gettext_lazy("overall rating"),
    "informed": gettext_lazy("well informed"),
    "same_team": gettext_lazy("small, familiar team"),
    "recommend": gettext_lazy("would recommend"),
}


def maternity_period_end(episode: Episode) -> date | None:
    """The day the maternity period ended, as `quality.services.experience_record` reads it."""
    return episode.kraamzorg_ended_on or episode.postnatal_ended_on or episode.end_date


def experience_due(episode: Episode, *, today: date | None = None) -> bool:
    """Whether the questionnaire may be entered: the maternity period has ended (a planned end of
    kraamzorg in the future does not count yet)."""
    ended = maternity_period_end(episode)
    return ended is not None and ended <= (today or timezone.localdate())


def score_range(name: str) -> tuple[int, int]:
    """The allowed range of a score, from the model's validators (one place for the ranges)."""
    model_field = ExperienceResponse._meta.get_field(name)
    assert isinstance(model_field, models.Field)
    lows = [int(v.limit_value) for v in model_field.validators if isinstance(v, MinValueValidator)]
    highs = [int(v.limit_value) for v in model_field.validators if isinstance(v, MaxValueValidator)]
    return max([0, *lows]), min(highs)


# --- the file ------------------------------------------------------------------------------------


class RowError(csv_upload.RowError):
    """A problem with a row of a file of answers (the header is row 1; 0 for the file as a whole)."""

    labels = FIELD_LABELS


class ExperienceImportError(csv_upload.RowErrors[RowError]):
    """A file of answers that was refused; nothing of it was stored."""


@dataclass(frozen=True)
class AnswerRow:
    row: int
    episode_id: int
    answered_on: date
    overall: int
    informed: int
    same_team: int
    recommend: int


@dataclass
class ParsedFile:
    rows: list[AnswerRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)  # rows whose values have the wrong form
    row_count: int = 0
    # Rows refused for another value whose episode number could be read: its existence is checked too.
    refused_episodes: dict[int, int] = field(default_factory=dict)


def _file_error(message: str, row: int = 0) -> ExperienceImportError:
    return ExperienceImportError([RowError(row, "file", message)])


def _header(cells: list[str]) -> dict[str, int]:
    positions, problems = header_columns(cells, columns=COLUMNS, required=COLUMNS)
    if problems:
        raise ExperienceImportError([RowError(1, "file", message) for message in problems])
    return positions


def _parse_date(text: str) -> date | None:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _row(cells: list[str], columns: dict[str, int], row: int, parsed: ParsedFile) -> AnswerRow | None:
    errors = parsed.errors
    if len(cells) > len(columns):
        errors.append(
            RowError(
                row,
                "file",
                _("This row has %(n)s fields, the header %(m)s.") % {"n": len(cells), "m": len(columns)},
            )
        )
        return None

    def cell(name: str) -> str:
        i = columns[name]
        return cells[i].strip() if i < len(cells) else ""

    found = len(errors)
    values: dict[str, int] = {}
    episode = cell("episode")
    if not episode.isdigit() or len(episode) > 12:
        errors.append(RowError(row, "episode", _("Enter the episode number (digits only).")))
    else:
        values["episode"] = int(episode)
    answered_on = _parse_date(cell("answered_on"))
    if answered_on is None:
        errors.append(RowError(row, "answered_on", _("Enter the date as 2026-09-14 or 14-09-2026.")))
    for name in SCORES:
        text, (low, high) = cell(name), score_range(name)
        if not text.isdigit() or not low <= int(text) <= high:
            errors.append(
                RowError(
                    row,
                    name,
                    _("Enter a whole number from %(low)s to %(high)s.") % {"low": low, "high": high},
                )
            )
        else:
            values[name] = int(text)
    if len(errors) > found or answered_on is None:
        if "episode" in values:
            parsed.refused_episodes[row] = values["episode"]
        return None
    return AnswerRow(
        row=row,
        episode_id=values["episode"],
        answered_on=answered_on,
        overall=values["overall"],
        informed=values["informed"],
        same_team=values["same_team"],
        recommend=values["recommend"],
    )


def experience_file_parse(content: bytes) -> ParsedFile:
    """Read a file of answers. A file that cannot be read at all (not text, no header, no rows) raises
    ExperienceImportError; rows with values of the wrong form are listed in `errors`."""
    reader = csv_reader(content, max_bytes=MAX_BYTES, refuse=_file_error)
    columns: dict[str, int] | None = None
    parsed = ParsedFile()
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if columns is None:
                columns = _header(cells)
                continue
            parsed.row_count += 1
            if parsed.row_count > MAX_ROWS:
                raise _file_error(
                    _("More than %(n)s answers in one file.") % {"n": MAX_ROWS}, reader.line_num
                )
            answer = _row(cells, columns, reader.line_num, parsed)
            if answer is not None:
                parsed.rows.append(answer)
    except csv.Error as exc:
        raise _file_error(_("The file cannot be read as CSV here."), reader.line_num) from exc
    if not parsed.row_count:
        raise _file_error(_("The file holds no answers, only a header."))
    return parsed


# --- storing -------------------------------------------------------------------------------------


@transaction.atomic
def experience_import(
    *, tenant: Tenant, actor: User, parsed: ParsedFile, filename: str = ""
) -> list[ExperienceResponse]:
    """Store every answer of a parsed file, or (on any error in any row) none. Call inside tenant_scope."""
    errors = list(parsed.errors)
    wanted = {r.episode_id for r in parsed.rows} | set(parsed.refused_episodes.values())
    # The tenant filter on top of the scoped manager: an id of another IGO is simply not found.
    episodes = {
        e.pk: e for e in Episode.objects.filter(tenant=tenant, pk__in=wanted).select_related("client")
    }

    def unknown(row: int, episode_id: int) -> RowError:
        return RowError(
            row,
            "episode",
            _("Unknown episode %(id)s: no episode of this IGO has this number.") % {"id": episode_id},
        )

    errors.extend(unknown(row, pk) for row, pk in parsed.refused_episodes.items() if pk not in episodes)
    first_row: dict[int, int] = {}
    stored: list[ExperienceResponse] = []
    for answer in parsed.rows:
        episode = episodes.get(answer.episode_id)
        if episode is None:
            errors.append(unknown(answer.row, answer.episode_id))
            continue
        if answer.episode_id in first_row:
            errors.append(
                RowError(
                    answer.row,
                    "episode",
                    _("Episode %(id)s is also on row %(row)s; a client answers once.")
                    % {"id": answer.episode_id, "row": first_row[answer.episode_id]},
                )
            )
            continue
        first_row[answer.episode_id] = answer.row
        try:
            with transaction.atomic():  # a refused row rolls back to here; the others are still checked
                stored.append(
                    experience_record(
                        episode=episode,
                        actor=actor,
                        answered_on=answer.answered_on,
                        overall=answer.overall,
                        informed=answer.informed,
                        same_team=answer.same_team,
                        recommend=answer.recommend,
                        source=ExperienceSource.IMPORTED,
                    )
                )
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                key = name if name in FIELD_LABELS else "episode"
                errors.extend(RowError(answer.row, key, str(m)) for m in messages)
    if errors:
        raise ExperienceImportError(sorted(errors))
    audit_record(
        actor=actor,
        action="experience.import",
        tenant=tenant,
        filename=filename[:200],
        answers=len(stored),
        episodes=sorted(first_row),
    )
    return stored


def experience_import_file(
    *, tenant: Tenant, actor: User, content: bytes, filename: str = ""
) -> list[ExperienceResponse]:
    """Parse and store a file of answers; a refused file is audited too (with its number of errors),
    and stores nothing. Call inside tenant_scope."""
    try:
        parsed = experience_file_parse(content)
        return experience_import(tenant=tenant, actor=actor, parsed=parsed, filename=filename)
    except ExperienceImportError as exc:
        audit_record(
            actor=actor,
            action="experience.import_refused",
            tenant=tenant,
            filename=filename[:200],
            errors=len(exc.errors),
        )
        raise
