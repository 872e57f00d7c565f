"""The FHIR import of NDJSON (issue 21): large imports, such as a month of a large practice, in the form of
FHIR Bulk Data files: one resource per line, UTF-8, lines separated by a newline.

A transaction Bundle is limited to FHIR_IMPORT_MAX_BYTES (10 MB); NDJSON may be up to
FHIR_IMPORT_JOB_MAX_BYTES (64 MB) and is always imported by the worker as a job (fhir_io.jobs). Each line is
parsed and validated with fhir.resources on its own, so no model tree of the whole file is built; the lines
then become the entries of the Bundle import (`importing.import_bundle`): the same mapping, the same store,
one transaction, all or nothing.

The reference rule: a resource that others refer to carries an `id`; a reference names it as `<Type>/<id>`
(`Patient/p1`, `Practitioner/d7`, `EpisodeOfCare/e3`, `Observation/c1`), resolved within the file only. An
id is used once per resource type. Each problem is reported at its line: `Line[12].Encounter.type`.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from typing import Any, cast

import pydantic
from django.utils.translation import gettext as _
from fhir.resources.R4B import get_fhir_model_class

from fhir_io import importing
from fhir_io.models import MemberApiKey

CONTENT_TYPES = ("application/fhir+ndjson", "application/ndjson", "application/x-ndjson")
MAX_ISSUES = 200  # a file wrong on every line is not reported 50,000 times
_AT = re.compile(r"^Bundle\.entry\[(\d+)\]\.(resource|fullUrl)")


@dataclass
class Entry:
    """A line as the Bundle import reads an entry: its resource type, `<Type>/<id>` to refer to it by, and its
    resource, built from the line each time it is read and not kept (a month's 50,000 models would take
    some 400 MB; the mapping reads each care resource twice)."""

    fullUrl: str | None
    kind: str
    text: bytes

    @property
    def resource(self) -> Any:
        return get_fhir_model_class(self.kind).model_validate(json.loads(self.text))


@dataclass
class Lines:
    """The resources of an NDJSON file, with the line each came from (blank lines are skipped)."""

    entry: list[Entry] = field(default_factory=list)
    line: list[int] = field(default_factory=list)

    def at(self, issue: importing.Issue) -> importing.Issue:
        """The issue with its place as a line of the file: `Bundle.entry[3].resource.type` is
        `Line[5].Encounter.type`."""
        found = _AT.match(issue.expression)
        if found is None:
            return issue
        i = int(found.group(1))
        kind = self.entry[i].kind
        rest = issue.expression[found.end() :]
        where = f"Line[{self.line[i]}].{kind}" + (".id" if found.group(2) == "fullUrl" else "") + rest
        text = issue.text
        for wanted in importing.KNOWN_TYPES:  # the Bundle's advice on references, said for this file
            if text == _("Refer to a %(kind)s entry of this Bundle by its fullUrl.") % {"kind": wanted}:
                text = _("Refer to a %(kind)s of this file as %(kind)s/<id>.") % {"kind": wanted}
        return importing.Issue(issue.code, where, text, issue.severity, issue.index)


def parse(raw: bytes) -> Lines:
    """The file's resources, each validated on its own, or Refused with every problem at its line."""
    lines = Lines()
    issues: list[importing.Issue] = []
    ids: dict[str, int] = {}
    for number, line in enumerate(io.BytesIO(raw), start=1):
        if len(issues) >= MAX_ISSUES:
            issues.append(
                importing.Issue(
                    "too-costly", f"Line[{number}]", _("More problems follow; the first are listed.")
                )
            )
            break
        if not line.strip():
            continue
        line = line.rstrip(b"\r\n")
        resource = _resource(line, number, issues)
        if resource is None:
            continue
        kind = resource.get_resource_type()
        url = f"{kind}/{resource.id}" if resource.id else None
        del resource  # validated; built again when the mapping reads it
        if url is not None:
            if url in ids:
                issues.append(
                    importing.Issue(
                        "duplicate",
                        f"Line[{number}].{kind}.id",
                        _("The id %(url)s is also on line %(other)s.") % {"url": url, "other": ids[url]},
                    )
                )
                continue
            ids[url] = number
        lines.entry.append(Entry(url, kind, line))
        lines.line.append(number)
    if not lines.entry and not issues:
        issues.append(importing.Issue("required", "Line[1]", _("The file has no resources.")))
    if issues:
        raise importing.Refused(issues)
    return lines


def _resource(line: bytes, number: int, issues: list[importing.Issue]) -> Any:
    """One line's resource, validated; None with its problems noted."""
    at = f"Line[{number}]"
    try:
        data = json.loads(line)
    except (ValueError, RecursionError) as exc:
        error = f"{exc.msg} (column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else str(exc)
        issues.append(
            importing.Issue(
                "structure", at, _("Line %(n)s is not valid JSON: %(error)s") % {"n": number, "error": error}
            )
        )
        return None
    kind = data.get("resourceType") if isinstance(data, dict) else None
    if not isinstance(kind, str) or kind not in importing.KNOWN_TYPES:
        issues.append(
            importing.Issue(
                "not-supported",
                at,
                _(
                    "Resource type %(kind)s is not imported; send Patient, Practitioner, EpisodeOfCare, "
                    "Encounter, Procedure or Observation, one per line (Organization and Condition are "
                    "accepted)."
                )
                % {"kind": kind},
            )
        )
        return None
    nul = importing._nul_issues(data)
    if nul:
        for issue in nul:
            issue.expression = f"{at}.{kind}" + issue.expression.removeprefix("Bundle")
        issues.extend(nul)
        return None
    try:
        return get_fhir_model_class(kind).model_validate(data)
    except pydantic.ValidationError as exc:
        issues.extend(
            importing.Issue(
                "invalid",
                f"{at}.{kind}" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"]),
                str(e["msg"]),
            )
            for e in exc.errors()
        )
        return None


def import_lines(
    *, lines: Lines, key: MemberApiKey, progress: importing.Progress | None = None, job: int | None = None
) -> importing.Result:
    """Map and store the lines as the Bundle import does; Refused names each problem's line."""
    try:
        return importing.import_bundle(
            bundle=cast(Any, lines), key=key, progress=progress, source="ndjson", job=job
        )
    except importing.Refused as refused:
        if refused.status == importing.BLOCKED:  # one issue about the key, none about the lines
            raise importing.blocked("Line") from refused
        raise importing.Refused([lines.at(issue) for issue in refused.issues]) from refused


def care_entries(lines: Lines) -> int:
    return len([e for e in lines.entry if e.kind in importing.CARE_TYPES])
