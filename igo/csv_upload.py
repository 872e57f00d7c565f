"""Reading the header of an uploaded CSV file (return files, questionnaire imports)."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.translation import gettext as _


def header_columns(
    cells: Sequence[str], *, columns: Sequence[str], required: Sequence[str]
) -> tuple[dict[str, int], list[str]]:
    """Column positions by name (spaces and dashes read as underscores, any case), and the problems
    with the header: unknown or doubled columns, missing required ones. Callers refuse the file when the
    list of problems is not empty."""
    names = [c.strip().lower().replace(" ", "_").replace("-", "_") for c in cells]
    expected = ";".join(columns)
    problems: list[str] = []
    for name in names:
        if name and name not in columns:
            problems.append(
                _("Unknown column “%(name)s”; the header is %(expected)s.")
                % {"name": name, "expected": expected}
            )
        elif name and names.count(name) > 1:
            problems.append(_("The column “%(name)s” appears twice.") % {"name": name})
    for name in required:
        if name not in names:
            problems.append(
                _("The column “%(name)s” is missing; the header is %(expected)s.")
                % {"name": name, "expected": expected}
            )
    return {name: i for i, name in enumerate(names) if name}, list(dict.fromkeys(problems))
