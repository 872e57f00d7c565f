"""Access-log entries in words, in the reader's language, made from the stored fields when they are shown.

The log stores short, fixed values (`object_type` "careevent", `object_id` "268", `detail` "KZ_HOURS" or
"day list"): they never change once written (NEN 7513) and are what the CSV export keeps as evidence. What
a person reads ("Zorgmoment 268: Kraamzorg (uren)") is derived here, so a later translation or a renamed
catalogue entry changes the reading, never the record. A value this module does not know is shown as
stored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from pregnancies.models import AccessLogEntry, EndReason, EventType, Line


def _object_names() -> dict[str, str]:
    return {
        "client": _("Client record"),
        "episode": _("Pregnancy episode"),
        "careevent": _("Care event"),
        "birth": _("Birth"),
        "linetransfer": _("Line of responsibility"),
        "clientinsurance": _("Insurance"),
        "experienceresponse": _("Client experience"),
        "claimline": _("Claim line"),
        "claimbatch": _("Claim batch"),
    }


def _fixed_details() -> dict[str, str]:
    return {
        "day list": _("on the maternity carer's day list"),
        "form refused": _("shown again after a refused form"),
        "history": _("history of corrected and voided events"),
        "events": _("care events read through the API"),
        "key dates": _("care-path dates changed"),
        "outcomes": _("outcomes changed"),
        "outcome": _("outcome of the child changed"),
        "indication": _("kraamzorg hours indicated changed"),
        "insurance": _("change of insurer"),
        "access log": _("on the access-log page"),
        "access history": _("access history exported as CSV"),
        "experience": _("client experience"),
        "experience, form refused": _("client experience, shown again after a refused form"),
        "work queue": _("on finance's work queue"),
        "claims": _("claims of the episode"),
        "claim line explanation": _("explanation of a claim line"),
        "claim line billed again": _("claim line billed again"),
        "partial decision": _("decision on a partly delivered phase"),
        "delivery": _("the delivery"),
        "delivery corrected": _("delivery corrected"),
    }


def _patterns() -> list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]]:
    lines = dict(Line.choices)
    reasons = dict(EndReason.choices)
    return [
        (
            re.compile(r"^line (\w+)$"),
            lambda m: _("responsibility transferred to: %(line)s") % {"line": lines.get(m[1], m[1])},
        ),
        (
            re.compile(r"^end (\w+)$"),
            lambda m: _("episode ended: %(reason)s") % {"reason": reasons.get(m[1], m[1])},
        ),
        (re.compile(r"^corrects (\d+)$"), lambda m: _("correction of care event %(id)s") % {"id": m[1]}),
        (re.compile(r"^claim batch (.+)$"), lambda m: _("claim batch %(rest)s") % {"rest": m[1]}),
        (
            re.compile(r"^partial decision (\w+)$"),
            lambda m: _("decision on a partly delivered phase (%(phase)s)") % {"phase": m[1]},
        ),
    ]


class AccessDescriber:
    """Describes the entries of one page or file: the catalogue is read once, not once per entry."""

    def __init__(self) -> None:
        self.objects = _object_names()
        self.details = _fixed_details()
        self.patterns = _patterns()
        self._types: dict[str, str] | None = None

    def _type_name(self, code: str) -> str | None:
        if self._types is None:
            self._types = {t.code: t.name for t in EventType.objects.only("code", "name_nl", "name_en")}
        return self._types.get(code)

    def detail(self, entry: AccessLogEntry) -> str:
        detail = entry.detail.strip()
        if not detail:
            return ""
        if detail in self.details:
            return self.details[detail]
        if entry.object_type == "careevent":
            name = self._type_name(detail)
            if name is not None:
                return name
        for pattern, words in self.patterns:
            match = pattern.match(detail)
            if match:
                return words(match)
        return detail

    def __call__(self, entry: AccessLogEntry) -> str:
        """E.g. "Care event 268: Kraamzorg (uren)" or "Client record: on the maternity carer's day list"."""
        what = ""
        if entry.object_type:
            what = self.objects.get(entry.object_type, entry.object_type)
            # The client's own record is the entry's client; its number adds nothing.
            if entry.object_id and entry.object_type != "client":
                what = pgettext("object and its number", "%(object)s %(id)s") % {
                    "object": what,
                    "id": entry.object_id,
                }
        detail = self.detail(entry)
        if what and detail:
            return f"{what}: {detail}"
        return what or detail


def describe_entries(entries: Iterable[AccessLogEntry]) -> list[tuple[AccessLogEntry, str]]:
    describe = AccessDescriber()
    return [(entry, describe(entry)) for entry in entries]
