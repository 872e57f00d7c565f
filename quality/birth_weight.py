"""The birth-weight reference for small for gestational age (< p10): its import by the platform operator and
the lookup of a child's 10th percentile. The platform ships no numbers: until a reference is loaded the
indicator is not computed (docs/quality.md, "Small for gestational age").

The file has one row per sex and gestational age:

    sex;gestational_age_days;p10_grams
    female;259;2390
    male;259;2480

or with the age written as completed weeks and days:

    sex;gestational_age;p10_grams
    female;37+0;2390

`sex` is `female` or `male` (also `girl`/`boy`, `meisje`/`jongen`, `F`/`V`/`M`); `p10_grams` a whole number of
grams. The rows of each sex run from their first to their last age without a gap, day by day, or week by week
(every age a whole number of weeks: each row then holds for the days of that completed week). Separator `;`
or `,`, UTF-8. All or nothing: every error is listed with its row and field, and one bad row stores nothing.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from typing import NoReturn

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Subquery
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from igo import csv_upload
from igo.csv_upload import csv_reader, header_columns
from igo.models import User
from igo.services import audit_record
from quality.models import BirthWeightP10, BirthWeightReference, ReferenceSex

MAX_BYTES = 1024 * 1024
MAX_ROWS = 2_000  # two sexes by 22 to 45 weeks by day are about 330
GA_RANGE = (20 * 7, 45 * 7)  # 20+0 to 45+0 weeks: outside, a row is a typo (or grams in the wrong column)
GRAMS_RANGE = (100, 7000)
COLUMNS = ("sex", "gestational_age_days", "gestational_age", "p10_grams")
SEX_WORDS = {
    "female": ReferenceSex.FEMALE, "girl": ReferenceSex.FEMALE, "meisje": ReferenceSex.FEMALE,
    "f": ReferenceSex.FEMALE, "v": ReferenceSex.FEMALE, "vrouwelijk": ReferenceSex.FEMALE,
    "male": ReferenceSex.MALE, "boy": ReferenceSex.MALE, "jongen": ReferenceSex.MALE,
    "m": ReferenceSex.MALE, "mannelijk": ReferenceSex.MALE,
}  # fmt: skip

FIELD_LABELS = {
    "file": gettext_lazy("file"),
    "source": gettext_lazy("source"),
    "version": gettext_lazy("version"),
    "sex": gettext_lazy("sex"),
    "gestational_age_days": gettext_lazy("gestational age (days)"),
    "gestational_age": gettext_lazy("gestational age"),
    "p10_grams": gettext_lazy("10th percentile (g)"),
}


class RowError(csv_upload.RowError):
    """A problem with a row of a birth-weight reference file (the header is row 1; 0 for the file)."""

    labels = FIELD_LABELS


class ReferenceImportError(csv_upload.RowErrors[RowError]):
    """A reference file that was refused; nothing of it was stored."""


@dataclass
class Table:
    """The p10 by sex and gestational day of the reference in force (empty: none loaded)."""

    p10: dict[str, dict[int, int]] = field(default_factory=dict)
    by_week: bool = False

    def __bool__(self) -> bool:
        return bool(self.p10)

    def lookup(self, sex: str, gestational_days: int) -> int | None:
        """The child's p10 in grams; None when the sex is not in the table (undetermined, not recorded) or
        the age lies outside it."""
        rows = self.p10.get(sex)
        if not rows:
            return None
        day = gestational_days - gestational_days % 7 if self.by_week else gestational_days
        return rows.get(day)


def table_in_force() -> Table:
    """The newest reference's rows, in one query."""
    newest = BirthWeightReference.objects.order_by("-pk").values("pk")[:1]
    table = Table()
    for sex, days, grams, by_week in BirthWeightP10.objects.filter(reference_id=Subquery(newest)).values_list(
        "sex", "gestational_days", "p10_grams", "reference__by_week"
    ):
        table.p10.setdefault(sex, {})[days] = grams
        table.by_week = by_week
    return table


def reference_in_force() -> BirthWeightReference | None:
    return BirthWeightReference.objects.select_related("loaded_by").order_by("-pk").first()


def _error(message: str, row: int = 0) -> ReferenceImportError:
    return ReferenceImportError([RowError(row, "file", message)])


def _weeks_days(text: str) -> int | None:
    """`37+2` (or `37 + 2`, `37+0`) as days; None when it is not written so."""
    weeks, plus, days = text.replace(" ", "").partition("+")
    if not plus or not weeks.isdigit() or not days.isdigit() or int(days) > 6:
        return None
    return int(weeks) * 7 + int(days)


@dataclass
class Parsed:
    rows: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)  # (sex, days) -> (row, g)
    errors: list[RowError] = field(default_factory=list)


def _row(cells: list[str], columns: dict[str, int], row: int, parsed: Parsed) -> None:
    def cell(name: str) -> str:
        i = columns[name]
        return cells[i].strip() if i < len(cells) else ""

    errors = parsed.errors
    found = len(errors)
    if len(cells) > len(columns):
        errors.append(
            RowError(
                row,
                "file",
                _("This row has %(n)s fields, the header %(m)s.") % {"n": len(cells), "m": len(columns)},
            )
        )
        return
    sex = SEX_WORDS.get(cell("sex").lower())
    if sex is None:
        errors.append(RowError(row, "sex", _("Enter female or male.")))
    low, high = GA_RANGE
    if "gestational_age_days" in columns:
        name, text = "gestational_age_days", cell("gestational_age_days")
        days = int(text) if text.isdigit() else None
        wrong = _("Enter the gestational age in whole days (e.g. 259 for 37+0 weeks).")
    else:
        name, text = "gestational_age", cell("gestational_age")
        days = _weeks_days(text)
        wrong = _("Enter the gestational age as weeks+days, e.g. 37+0.")
    if days is None:
        errors.append(RowError(row, name, wrong))
    elif not low <= days <= high:
        errors.append(
            RowError(
                row,
                name,
                _("The gestational age must lie between %(low)s and %(high)s weeks.")
                % {"low": low // 7, "high": high // 7},
            )
        )
    text = cell("p10_grams")
    if not text.isdigit() or not GRAMS_RANGE[0] <= int(text) <= GRAMS_RANGE[1]:
        errors.append(
            RowError(
                row,
                "p10_grams",
                _("Enter a whole number of grams from %(low)s to %(high)s.")
                % {"low": GRAMS_RANGE[0], "high": GRAMS_RANGE[1]},
            )
        )
    if len(errors) > found or sex is None or days is None:
        return
    earlier = parsed.rows.get((sex, days))
    if earlier is not None:
        errors.append(
            RowError(
                row,
                name,
                _("This sex and gestational age are already given in row %(row)s.") % {"row": earlier[0]},
            )
        )
        return
    parsed.rows[(sex, days)] = (row, int(text))


def reference_file_parse(content: bytes) -> Parsed:
    """Read a reference file. A file that cannot be read at all raises ReferenceImportError; rows with
    values of the wrong form are listed in `errors`."""
    reader = csv_reader(content, max_bytes=MAX_BYTES, refuse=_error)
    columns: dict[str, int] | None = None
    parsed, count = Parsed(), 0
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if columns is None:
                columns, problems = header_columns(cells, columns=COLUMNS, required=("sex", "p10_grams"))
                ages = [c for c in ("gestational_age_days", "gestational_age") if c in columns]
                if len(ages) != 1:
                    problems.append(
                        _(
                            "Give the age in one column: gestational_age_days (days) or gestational_age (weeks+days)."
                        )
                    )
                if problems:
                    raise ReferenceImportError([RowError(1, "file", p) for p in problems])
                continue
            count += 1
            if count > MAX_ROWS:
                raise _error(_("More than %(n)s rows in one file.") % {"n": MAX_ROWS}, reader.line_num)
            _row(cells, columns, reader.line_num, parsed)
    except csv.Error as exc:
        raise _error(_("The file cannot be read as CSV here."), reader.line_num) from exc
    if not count:
        raise _error(_("The file holds no rows, only a header."))
    return parsed


def _whole(parsed: Parsed) -> tuple[dict[str, dict[int, int]], bool]:
    """The rows by sex and day, and whether the table is by completed week; gaps and a missing sex are
    errors of the file as a whole (row 0)."""
    table: dict[str, dict[int, int]] = defaultdict(dict)
    for (sex, days), (_row_number, grams) in parsed.rows.items():
        table[sex][days] = grams
    by_week = all(days % 7 == 0 for rows in table.values() for days in rows)
    step = 7 if by_week else 1
    for sex in ReferenceSex:
        rows = table.get(sex.value)
        if not rows:
            parsed.errors.append(
                RowError(0, "sex", _("The file has no rows for %(sex)s.") % {"sex": sex.label.lower()})
            )
            continue
        missing = [d for d in range(min(rows), max(rows) + 1, step) if d not in rows]
        if missing:
            parsed.errors.append(
                RowError(
                    0,
                    "gestational_age_days",
                    _("%(sex)s: the ages run without a gap %(unit)s; missing: %(missing)s.")
                    % {
                        "sex": sex.label,
                        "unit": _("week by week") if by_week else _("day by day"),
                        "missing": ", ".join(f"{d // 7}+{d % 7}" for d in missing[:5])
                        + (" …" if len(missing) > 5 else ""),
                    },
                )
            )
    return dict(table), by_week


def reference_import(
    *, actor: User, content: bytes, source: str, version: str, filename: str = ""
) -> BirthWeightReference:
    """Parse and store a birth-weight reference, all or nothing, as the one in force. Only the platform
    operator (a staff user) may; a refused file is audited too. The caller enqueues the recomputation."""
    if not actor.is_staff:
        raise PermissionDenied(_("Only the platform operator loads a birth-weight reference."))
    errors: list[RowError] = []
    if not source.strip():
        errors.append(RowError(0, "source", _("Name the source, e.g. the publisher and the publication.")))
    if not version.strip():
        errors.append(RowError(0, "version", _("Give the version (or year) of the reference.")))
    try:
        parsed = reference_file_parse(content)
    except ReferenceImportError as exc:
        _refuse(actor, filename, errors + exc.errors)
    # Gaps and a missing sex only once every row is right (a refused row would show as a gap).
    table, by_week = _whole(parsed) if not parsed.errors else ({}, False)
    if errors or parsed.errors:
        _refuse(actor, filename, errors + parsed.errors)
    return _store(
        actor=actor, table=table, by_week=by_week, source=source, version=version, filename=filename
    )


def _refuse(actor: User, filename: str, errors: list[RowError]) -> NoReturn:
    audit_record(
        actor=actor, action="birth_weight.import_refused", filename=filename[:200], errors=len(errors)
    )
    raise ReferenceImportError(sorted(errors))


@transaction.atomic
def _store(
    *,
    actor: User,
    table: dict[str, dict[int, int]],
    by_week: bool,
    source: str,
    version: str,
    filename: str,
) -> BirthWeightReference:
    reference = BirthWeightReference.objects.create(
        source=source.strip()[:200],
        version=version.strip()[:60],
        by_week=by_week,
        filename=filename[:200],
        loaded_by=actor,
    )
    BirthWeightP10.objects.bulk_create(
        BirthWeightP10(reference=reference, sex=sex, gestational_days=days, p10_grams=grams)
        for sex, rows in table.items()
        for days, grams in rows.items()
    )
    audit_record(
        actor=actor,
        action="birth_weight.import",
        obj=reference,
        source=reference.source,
        version=reference.version,
        rows=sum(len(r) for r in table.values()),
        by_week=by_week,
        filename=reference.filename,
    )
    return reference


@transaction.atomic
def reference_withdraw(*, actor: User) -> int:
    """Remove every loaded reference (e.g. when its licence ends): small for gestational age is no longer
    computed. Returns the number of references removed."""
    if not actor.is_staff:
        raise PermissionDenied(_("Only the platform operator withdraws a birth-weight reference."))
    withdrawn = [str(r) for r in BirthWeightReference.objects.all()]
    BirthWeightReference.objects.all().delete()
    audit_record(actor=actor, action="birth_weight.withdraw", references=withdrawn)
    return len(withdrawn)
