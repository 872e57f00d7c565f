"""KZ302 return files, read as Vektis writes them: every record of the KZ301 declaration echoed in positions
1–310 and the insurer's answer in 311–370 (layout in `billing.files.vektis.KZ302`), ASCII, CR LF after every
record; the closing record 99 rebuilt with the counts, the declared total and the awarded total.

Per prestatierecord (04), matched to the batch's line by its reference (0429, our line reference):

- **accepted**: the insurer awarded (0483 toegekend bedrag) the declared amount (0427);
- **rejected**: nothing awarded, with a return code (0496–0498; a line without a code of its own takes its
  insured person's codes from the 02 record before it);
- **partly awarded**: more than nothing and less than declared (`billing.services.partial_awards`).

A file with a return code in its 01 record and no prestatierecords rejects the whole declaration: every
line of the batch is rejected with that code (0001, 8073, 8074, …). Return codes are kept as they come,
known or not: the insurer's system writes them from Vektis' list, which may be newer than the operator's copy
(`billing.services.return_codes`); a typed answer (portal, JSON, CSV) must use a code of the list.

The 01 record must name this batch's insurer (0108), its invoice number (0116) and its IGO's AGB code
(0112; invoice numbers repeat between IGOs), and every 04 record the BSN (0403) of the line it answers.
Reading only checks the file and matches it to the batch; recording it is
`billing.services.returns.batch_return_record`'s, which refuses it as a whole on any error. Errors carry the
record's number in the file (the 01 record is 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.text import capfirst
from django.utils.translation import gettext as _

from billing.files import kz301, vektis
from billing.insurer.return_files import MAX_BYTES, ParsedReturn
from billing.models import BatchLine, ClaimBatch, ReturnStatus
from billing.services.returns import ReturnEntry, ReturnRowError
from igo.csv_upload import RowErrors
from igo.money import euro_text

CENT = Decimal("0.01")
LENGTH = vektis.KZ302_LENGTH
END = vektis.RECORD_END
# Codes that say something about a line without rejecting any of it.
INFORMATIONAL = frozenset({"8001"})
DETAIL = ("02", "04", "98")


class Kz302Error(RowErrors[ReturnRowError]):
    """A KZ302 file that cannot be read as this batch's return; nothing of it was stored."""


@dataclass
class ParsedKz302(ParsedReturn):
    insurer_reference: str = ""
    file_codes: tuple[str, ...] = ()
    whole_file_rejected: bool = False
    counts: dict[str, int] = field(default_factory=dict)


def looks_like_kz302(content: bytes) -> bool:
    """Whether an upload is a KZ302 file rather than a CSV: it starts with an 01 record of fixed width."""
    first = content.split(b"\n", 1)[0].rstrip(b"\r")
    return first[:2] == b"01" and len(first) > 100 and b";" not in first


def _codes(values: dict[str, str]) -> tuple[str, ...]:
    return tuple(c for c in (values[f"return_code_{i}"].strip() for i in (1, 2, 3)) if c)


def _money(err: list[ReturnRowError], n: int, digits: str, sign: str, what: str) -> Decimal | None:
    if not (digits.isascii() and digits.isdigit()):
        err.append(ReturnRowError(n, "record", capfirst(_("%(what)s is not a number.") % {"what": what})))
        return None
    amount = Decimal(int(digits)) * CENT
    if sign not in ("D", "C") and not (sign == "" and amount == 0):
        err.append(
            ReturnRowError(
                n,
                "record",
                _("The debit/credit sign of %(what)s is not D or C.") % {"what": what},
            )
        )
        return None
    return -amount if sign == "C" else amount


def kz302_parse(content: bytes, *, batch: ClaimBatch) -> ParsedKz302:
    """Read a KZ302 file as the return of `batch`. Raises Kz302Error with every problem found."""
    if len(content) > MAX_BYTES:
        raise Kz302Error(
            [ReturnRowError(0, "file", _("The file is larger than %(mb)s MB.") % {"mb": MAX_BYTES // 2**20})]
        )
    try:
        text = content.decode(vektis.ENCODING)
    except UnicodeDecodeError as exc:
        raise Kz302Error(
            [ReturnRowError(0, "file", _("A KZ302 file is ASCII text; this file is not."))]
        ) from exc
    if not text:
        raise Kz302Error([ReturnRowError(0, "file", _("The file is empty."))])
    if not text.endswith(END):
        raise Kz302Error(
            [ReturnRowError(0, "file", _("Every record of a KZ302 file ends with CR LF; the last does not."))]
        )
    lines = text[: -len(END)].split(END)
    err: list[ReturnRowError] = []
    for n, line in enumerate(lines, start=1):
        if "\r" in line or "\n" in line:
            err.append(
                ReturnRowError(
                    n,
                    "record",
                    _("This record holds a line break of its own (CR LF only between records)."),
                )
            )
        elif len(line) != LENGTH:
            err.append(
                ReturnRowError(
                    n,
                    "record",
                    _("This record has %(len)s positions; a KZ302 record has %(length)s.")
                    % {"len": len(line), "length": LENGTH},
                )
            )
        elif line[:2] not in vektis.KZ302:
            err.append(
                ReturnRowError(
                    n, "record", _("This record is of unknown type “%(code)s”.") % {"code": line[:2]}
                )
            )
    if err:
        raise Kz302Error(err)
    kinds = [line[:2] for line in lines]
    if kinds[0] != "01" or kinds[-1] != "99" or kinds.count("01") != 1 or kinds.count("99") != 1:
        raise Kz302Error(
            [
                ReturnRowError(
                    0, "file", _("A KZ302 file starts with one 01 record and ends with one 99 record.")
                )
            ]
        )
    records = [vektis.decode(vektis.KZ302[k], line) for k, line in zip(kinds, lines, strict=True)]
    head, tail = records[0], records[-1]
    if head["uzovi"] != batch.insurer.uzovi_code.zfill(4):
        err.append(
            ReturnRowError(
                1,
                "uzovi",
                _("The file is for UZOVI %(file)s; this batch was sent to %(batch)s.")
                % {"file": head["uzovi"], "batch": batch.insurer.uzovi_code},
            )
        )
    # Invoice numbers are the month and the IGO's own batch number: two IGOs' first batches of a month to the
    # same insurer are both …000001. The declarant's AGB code (0112), echoed from our 01 record, tells them
    # apart.
    agb = head["institution_agb"].strip()
    if agb != batch.tenant.agb_code:
        err.append(
            ReturnRowError(
                1,
                "agb",
                _(
                    "The file answers a declaration of AGB code %(file)s (0112); this batch was sent by %(batch)s."
                )
                % {"file": agb or "—", "batch": batch.tenant.agb_code},
            )
        )
    invoice = head["invoice_number"].strip()
    if invoice != kz301.invoice_number(batch.period, batch.number):
        err.append(
            ReturnRowError(
                1,
                "invoice",
                _("The file answers invoice %(file)s; this batch is invoice %(batch)s.")
                % {"file": invoice, "batch": kz301.invoice_number(batch.period, batch.number)},
            )
        )
    by_ref = {
        row.number: row
        for row in BatchLine.unscoped.filter(batch=batch).select_related("answer").order_by("line_no")
    }
    entries: list[ReturnEntry] = []
    rows: list[int] = []
    seen: dict[str, int] = {}
    person_codes: tuple[str, ...] = ()
    in_person = False
    declared_total = awarded_total = Decimal(0)
    amounts_read = True
    for n, (kind, rec) in enumerate(zip(kinds, records, strict=True), start=1):
        if kind == "02":
            person_codes, in_person = _codes(rec), True
        elif kind == "04":
            if not in_person:
                err.append(ReturnRowError(n, "record", _("A prestatierecord before any 02 record.")))
            declared, awarded, e = _entry(err, n, rec, by_ref, seen, person_codes)
            # The closing record totals every record, refused or not: summing only the good ones would
            # report a false totals error next to each true one.
            if declared is None or awarded is None:
                amounts_read = False
            else:
                declared_total += declared
                awarded_total += awarded
            if e is not None:
                entries.append(e)
                rows.append(n)
        elif kind in ("01", "99") and 1 < n < len(lines):
            err.append(ReturnRowError(n, "record", _("An 01 or 99 record in the middle of the file.")))
    counts = {k: kinds.count(k) for k in DETAIL}
    file_codes = _codes(head)
    whole_file = not counts["04"] and any(c not in INFORMATIONAL for c in file_codes)
    if not whole_file:  # a file refused as a whole has no records to total
        _check_totals(
            err, len(lines), tail, counts, (declared_total, awarded_total) if amounts_read else None
        )
    if not counts["04"] and not whole_file:
        err.append(
            ReturnRowError(
                0, "file", _("The file holds no prestatierecords and no return code for the whole file.")
            )
        )
    if err:
        raise Kz302Error(err)
    if whole_file:
        code = next(c for c in file_codes if c not in INFORMATIONAL)
        entries = [
            ReturnEntry(
                reference=row.number,
                status=ReturnStatus.REJECTED,
                reason_code=code,
                reason_text=_codes_text(file_codes),
                awarded_amount=Decimal("0.00"),
                codes=file_codes,
                codes_as_sent=True,
            )
            for row in by_ref.values()
            if not hasattr(row, "answer")
        ]
        rows = [1] * len(entries)
    return ParsedKz302(
        entries,
        rows,
        insurer_reference=head["insurer_reference"],
        file_codes=file_codes,
        whole_file_rejected=whole_file,
        counts=counts,
    )


def _codes_text(codes: tuple[str, ...]) -> str:
    return _("Return codes %(codes)s") % {"codes": " ".join(codes)} if len(codes) > 1 else ""


def _entry(
    err: list[ReturnRowError],
    n: int,
    rec: dict[str, str],
    by_ref: dict[str, BatchLine],
    seen: dict[str, int],
    person_codes: tuple[str, ...],
) -> tuple[Decimal | None, Decimal | None, ReturnEntry | None]:
    """The record's declared and awarded amounts as read (None when unreadable), and its entry (None when
    the record is wrong: its errors are in `err`)."""
    ref = rec["reference"].strip()
    declared = _money(err, n, rec["amount"], rec["amount_dc"], _("the declared amount"))
    awarded = _money(err, n, rec["awarded_amount"], rec["awarded_dc"], _("the awarded amount"))
    row = by_ref.get(ref)
    if row is None:
        err.append(ReturnRowError(n, "reference", _("Line %(ref)s is not in this batch.") % {"ref": ref}))
        return declared, awarded, None
    if ref in seen:
        err.append(
            ReturnRowError(
                n,
                "reference",
                _("Line %(ref)s was answered before, in record %(first)s.")
                % {"ref": ref, "first": seen[ref]},
            )
        )
        return declared, awarded, None
    seen[ref] = n
    # The record echoes the line as we declared it: a BSN (0403) of another insured person means the
    # insurer's file does not answer this line (no BSN in the message: errors are shown and logged).
    if rec["bsn"] != (row.bsn or kz301.NO_BSN):
        err.append(
            ReturnRowError(
                n,
                "bsn",
                _("The BSN (0403) is not that of line %(ref)s in this batch.") % {"ref": ref},
            )
        )
        return declared, awarded, None
    if declared is None or awarded is None:
        return declared, awarded, None
    if declared != row.amount:
        err.append(
            ReturnRowError(
                n,
                "awarded_amount",
                _("Line %(ref)s declares %(file)s; the batch claimed %(batch)s.")
                % {"ref": ref, "file": euro_text(declared), "batch": euro_text(row.amount)},
            )
        )
        return declared, awarded, None
    codes = _codes(rec) or person_codes
    rejecting = [c for c in codes if c not in INFORMATIONAL]
    if awarded == declared:
        status = ReturnStatus.ACCEPTED
    elif awarded == 0:
        if not rejecting:
            err.append(
                ReturnRowError(
                    n,
                    "reason_code",
                    _("Nothing was awarded for line %(ref)s, but no return code says why.") % {"ref": ref},
                )
            )
            return declared, awarded, None
        status = ReturnStatus.REJECTED
    elif (awarded < 0) == (declared < 0) and abs(awarded) < abs(declared):
        status = ReturnStatus.PARTIAL
    else:
        err.append(
            ReturnRowError(
                n,
                "awarded_amount",
                _("%(awarded)s awarded for line %(ref)s, which claimed %(declared)s.")
                % {"ref": ref, "awarded": euro_text(awarded), "declared": euro_text(declared)},
            )
        )
        return declared, awarded, None
    main = (rejecting or list(codes) or [""])[0]
    entry = ReturnEntry(
        reference=ref,
        status=status,
        reason_code=main,
        reason_text=_codes_text(codes),
        awarded_amount=awarded,
        codes=codes,
        codes_as_sent=True,
    )
    return declared, awarded, entry


def _check_totals(
    err: list[ReturnRowError],
    n: int,
    tail: dict[str, str],
    counts: dict[str, int],
    sums: tuple[Decimal, Decimal] | None,
) -> None:
    """The closing record's counts against the records; its totals against `sums` (declared, awarded) when
    every record's amounts could be read (an unreadable amount is reported on its own record)."""
    expected = {
        "count_02": counts["02"],
        "count_04": counts["04"],
        "count_98": counts["98"],
        "count_detail": counts["02"] + counts["04"] + counts["98"],
    }
    for key, value in expected.items():
        stated = tail[key]
        if not stated.isdecimal() or int(stated) != value:
            err.append(
                ReturnRowError(
                    n,
                    "totals",
                    _("The closing record counts %(stated)s for %(what)s; the file has %(count)s.")
                    % {"stated": stated, "what": vektis.KZ302["99"].field(key).name, "count": value},
                )
            )
    if sums is None:
        return
    for key, sign, summed in (("total", "total_dc", sums[0]), ("awarded_total", "awarded_dc", sums[1])):
        amount = _money(err, n, tail[key], tail[sign], vektis.KZ302["99"].field(key).name)
        if amount is not None and amount != summed:
            err.append(
                ReturnRowError(
                    n,
                    "totals",
                    _("The closing record states %(stated)s for %(what)s; the records add up to %(sum)s.")
                    % {
                        "stated": euro_text(amount),
                        "what": vektis.KZ302["99"].field(key).name,
                        "sum": euro_text(summed),
                    },
                )
            )
