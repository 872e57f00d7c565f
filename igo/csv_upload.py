"""Uploaded CSV files (return files, questionnaire imports): reading the header, and the one shape of
the errors that refuse a file, or any input checked as a whole."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from _csv import Reader


def csv_reader(content: bytes, *, max_bytes: int, refuse: Callable[[str], Exception]) -> Reader:
    """The rows of an uploaded CSV file (UTF-8, with or without a byte-order mark; `;` or `,` as its first
    non-empty line uses), or `refuse(message)` raised for a file that cannot be read as one: too large, not
    text, not UTF-8, empty. The reader's `line_num` is the current row of the file."""
    if len(content) > max_bytes:
        raise refuse(_("The file is larger than %(mb)s MB.") % {"mb": max_bytes // 2**20})
    if b"\x00" in content:
        raise refuse(_("This is not a text (CSV) file."))
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise refuse(_("The file is not UTF-8 text; save it as CSV UTF-8.")) from exc
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first:
        raise refuse(_("The file is empty."))
    return csv.reader(io.StringIO(text, newline=""), delimiter=";" if ";" in first else ",")


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


@dataclass(frozen=True, order=True)
class RowError:
    """One problem with input that is refused as a whole: where (a file's row, the header being row 1, or
    an entry's number from 1; 0 for the input as a whole), which field, and what is wrong. A kind of input
    names its fields for people in a subclass's `labels`."""

    row: int
    field: str
    message: str

    labels: ClassVar[Mapping[str, Any]] = {}

    @property
    def field_label(self) -> str:
        return str(self.labels.get(self.field, self.field))


_E = TypeVar("_E", bound=RowError)


class RowErrors(Exception, Generic[_E]):
    """Input refused with every problem found in it; nothing of it was stored."""

    def __init__(self, errors: Sequence[_E]):
        super().__init__("; ".join(f"{e.row}: {e.field}: {e.message}" for e in errors))
        self.errors: list[_E] = list(errors)
