"""The checks an insurer's Vektis parser makes on a KZ301 file before it reads a single claim, made here first so
that an insurer never receives a file it would reject for its form.

`conformance_problems(content)` returns every problem with the Vektis return code it would cause, the record
number in the file (from 1; 0 for the file as a whole) and the rubriek, and a message for the finance user. The
layout comes from `billing.files.vektis`. A 04 record with BSN 000000000 is a quality bonus or malus line (see
billing.files.kz301): it may stand without a 02 record.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from billing.files.vektis import KZ301, Field, Record, decode, parse_date

TECHNICAL = "0001"  # the file is refused for technical reasons
LENGTH = "0804"
CR_LF = "8095"
DETAIL_ID = "0801"
DC_DIFFER = "8064"
REFERENCE = "8021"
NO_BSN = "000000000"

# The return code a wrong value in a field causes, where the code list has one of its own.
FIELD_CODES = {
    "0116": "0030",
    "0202": DETAIL_ID,
    "0203": "0435",
    "0402": DETAIL_ID,
    "0403": "0435",
    "0415": "0581",
    "0416": "0582",
    "0423": "0611",
    "0424": "0611",
    "0425": "0631",
    "0428": "0631",
    "0429": REFERENCE,
    "0430": "0651",
    "9802": DETAIL_ID,
    "9803": "0754",
    "9804": "0755",
    "9902": "0151",
    "9903": "0157",
    "9904": "0158",
    "9905": "0153",
    "9906": "0156",
    "9907": "0150",
    "9908": "0150",
}


@dataclass(frozen=True)
class Problem:
    code: str  # the Vektis return code the insurer would answer with
    record: int  # the record's number in the file, from 1; 0 for the file as a whole
    rubriek: str  # "" when the problem is the record as a whole
    message: str

    def __str__(self) -> str:
        where = _("record %(n)s") % {"n": self.record} if self.record else _("file")
        if self.rubriek:
            where = f"{where}, {_('rubriek')} {self.rubriek}"
        return f"{where}: {self.message} ({self.code})"


def _field_problems(record: Record, number: int, line: str) -> list[Problem]:
    out: list[Problem] = []
    raw = {f.key: line[f.slice] for f in record.fields}

    def bad(f: Field, message: str) -> None:
        out.append(Problem(FIELD_CODES.get(f.rubriek, TECHNICAL), number, f.rubriek, message))

    for f in record.fields:
        text = raw[f.key]
        label = {"name": f.name}
        if f.mandatory and not text.strip():
            bad(f, _("The mandatory field %(name)s is empty.") % label)
            continue
        if f.type == "N":
            if not (text.isascii() and text.isdigit()):
                bad(f, _("The numeric field %(name)s holds “%(text)s”.") % {**label, "text": text})
                continue
            if f.kind == "date":
                try:
                    value = parse_date(text)
                except ValueError:
                    bad(f, _("%(name)s is not a valid date (EEJJMMDD): %(text)s.") % {**label, "text": text})
                    continue
                if value is None and f.mandatory:
                    bad(f, _("The mandatory date %(name)s is not filled.") % label)
        elif f.kind == "dc" and text.strip() and text not in ("D", "C"):
            bad(f, _("%(name)s must be D or C, not “%(text)s”.") % {**label, "text": text})
    if record.code == "04" and raw["calculated_dc"] != raw["amount_dc"]:
        out.append(
            Problem(DC_DIFFER, number, "0428", _("The two debit/credit indications of the line differ."))
        )
    return out


def _split(content: bytes) -> tuple[list[bytes], list[Problem]]:
    problems: list[Problem] = []
    if not content:
        return [], [Problem(TECHNICAL, 0, "", _("The file is empty."))]
    chunks = content.split(b"\r\n")
    if chunks[-1] == b"":
        chunks.pop()
    else:
        problems.append(Problem(CR_LF, len(chunks), "", _("The last record is not ended by CR LF.")))
    for number, chunk in enumerate(chunks, start=1):
        if b"\r" in chunk or b"\n" in chunk:
            problems.append(Problem(CR_LF, number, "", _("A lone CR or LF inside the record.")))
        elif not chunk:
            problems.append(Problem(CR_LF, number, "", _("An empty line (CR LF without a record).")))
    return chunks, problems


def conformance_problems(content: bytes) -> list[Problem]:
    """Every problem a Vektis parser would refuse this KZ301 file for; an empty list when it conforms."""
    chunks, problems = _split(content)
    counts = {"02": 0, "04": 0, "98": 0}
    net = 0
    last_detail = 0
    references: dict[str, int] = {}
    person: str | None = None  # the BSN of the current 02 group
    previous = ""
    closing: tuple[int, dict[str, str]] | None = None
    for number, chunk in enumerate(chunks, start=1):
        if not chunk or b"\r" in chunk or b"\n" in chunk:
            previous = ""
            continue
        try:
            line = chunk.decode("ascii")
        except UnicodeDecodeError:
            problems.append(Problem(TECHNICAL, number, "", _("The record holds characters outside ASCII.")))
            line = chunk.decode("ascii", "replace")
        code = line[:2]
        record = KZ301.get(code)
        if record is None:
            problems.append(
                Problem(TECHNICAL, number, "", _("Unknown record type “%(code)s”.") % {"code": code})
            )
            previous = ""
            continue
        if (code == "01") != (number == 1):
            problems.append(
                Problem(TECHNICAL, number, "", _("The voorlooprecord (01) must be the first, once."))
            )
        if (code == "99") != (number == len(chunks)):
            problems.append(Problem(TECHNICAL, number, "", _("The sluitrecord (99) must be the last, once.")))
        if code == "98" and previous not in ("02", "04", "98"):
            problems.append(
                Problem(TECHNICAL, number, "", _("A comment record (98) must follow a detail record."))
            )
        previous = code
        if len(line) != record.length:
            problems.append(
                Problem(
                    LENGTH,
                    number,
                    "",
                    _("The record has %(n)s positions instead of %(length)s.")
                    % {"n": len(line), "length": record.length},
                )
            )
            continue
        problems += _field_problems(record, number, line)
        values = decode(record, line)
        if code in counts:
            counts[code] += 1
            detail = int(values["detail_id"]) if values["detail_id"].isdecimal() else 0
            if detail <= last_detail:
                problems.append(
                    Problem(
                        DETAIL_ID,
                        number,
                        f"{code}02",
                        _("The detail record identification %(id)s does not follow %(last)s.")
                        % {"id": values["detail_id"], "last": last_detail},
                    )
                )
            last_detail = max(last_detail, detail)
        if code == "02":
            person = values["bsn"]
        elif code == "04":
            if values["bsn"] == NO_BSN:
                person = None  # a quality line: no insured person
            elif values["bsn"] != person:
                problems.append(
                    Problem(
                        TECHNICAL,
                        number,
                        "0403",
                        _("The line is not preceded by a 02 record of its insured person."),
                    )
                )
            reference = values["reference"]
            if reference and reference in references:
                problems.append(
                    Problem(
                        REFERENCE,
                        number,
                        "0429",
                        _("The reference %(ref)s is used before, in record %(n)s.")
                        % {"ref": reference, "n": references[reference]},
                    )
                )
            references.setdefault(reference, number)
            if values["amount"].isdecimal() and values["amount_dc"] in ("D", "C"):
                net += int(values["amount"]) * (1 if values["amount_dc"] == "D" else -1)
        elif code == "99":
            closing = (number, values)
    if closing is None:
        problems.append(Problem(TECHNICAL, 0, "", _("The file has no sluitrecord (99).")))
    else:
        problems += _closing_problems(*closing, counts=counts, net=net)
    return problems


def _closing_problems(
    number: int, values: dict[str, str], *, counts: dict[str, int], net: int
) -> list[Problem]:
    record = KZ301["99"]
    expected = {
        "count_02": counts["02"],
        "count_03": 0,
        "count_04": counts["04"],
        "count_98": counts["98"],
        "count_detail": sum(counts.values()),
        "total": abs(net),
    }
    out = []
    for key, want in expected.items():
        text = values[key]
        if text.isdigit() and int(text) != want:
            f = record.field(key)
            out.append(
                Problem(
                    FIELD_CODES[f.rubriek],
                    number,
                    f.rubriek,
                    _("%(name)s is %(got)s, the records give %(want)s.")
                    % {"name": f.name, "got": int(text), "want": want},
                )
            )
    sign = "D" if net >= 0 else "C"
    if values["total_dc"] in ("D", "C") and values["total_dc"] != sign and net != 0:
        out.append(
            Problem(
                FIELD_CODES["9908"],
                number,
                "9908",
                _("The total's debit/credit indication is %(got)s, the records give %(want)s.")
                % {"got": values["total_dc"], "want": sign},
            )
        )
    return out
