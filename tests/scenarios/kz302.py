"""KZ302 return files made by hand from ../shared/VEKTIS-KZ301.md §2.2–2.7 (not from billing.files.vektis):
370 positions per record, CR LF, the return block at 311–370, the closing record 99 rebuilt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

LENGTH = 370


def record(kind: str, fields: dict[int, str]) -> str:
    """A record of `kind` with texts at 1-based start positions; everything else spaces."""
    chars = [" "] * LENGTH
    chars[0:2] = kind
    for start, text in fields.items():
        chars[start - 1 : start - 1 + len(text)] = text
    line = "".join(chars)
    assert len(line) == LENGTH
    return line


def n(value: int, length: int) -> str:
    return str(value).rjust(length, "0")


def cents(amount: Decimal, length: int = 8) -> tuple[str, str]:
    """(digits, sign) of an amount: whole cents zero-filled, D or C."""
    return n(int(abs(amount) * 100), length), "C" if amount < 0 else "D"


@dataclass
class Answer:
    reference: str
    bsn: str
    declared: Decimal
    awarded: Decimal
    codes: Sequence[str] = ()


def kz302_file(
    *,
    uzovi: str,
    invoice: str,
    agb: str,
    answers: Sequence[Answer],
    file_codes: Sequence[str] = (),
    person_codes: dict[str, Sequence[str]] | None = None,
    totals: dict[int, str] | None = None,
    length: int = LENGTH,
) -> bytes:
    """The file: 01, then per BSN (in order of first appearance) an 02 and its 04 records, then 99.
    `totals` overrides fields of the 99 record (by start position); `length` cuts or pads every record."""
    lines = [
        record(
            "01",
            {
                3: "133",  # 0102 code externe-integratiebericht
                6: "03",  # 0103 version
                8: "02",  # 0104 sub-version
                27: uzovi.rjust(4, "0"),  # 0108 UZOVI
                55: agb.rjust(8, "0"),  # 0112 instellingscode: the declaring IGO's AGB code
                81: invoice.ljust(12),  # 0116 factuurnummer
                115: "EUR",  # 0119
                311: "ZK-RET-0001".ljust(24),  # 0181 referentienummer zorgverzekeraar
                335: "20261125",  # 0182 dagtekening retourbericht
                **{343 + 4 * i: c for i, c in enumerate(file_codes)},  # 0196-0198
            },
        )
    ]
    detail = 0
    persons: dict[str, list[Answer]] = {}
    for a in answers:
        persons.setdefault(a.bsn, []).append(a)
    declared_total = awarded_total = Decimal(0)
    for bsn, of_person in persons.items():
        detail += 1
        codes = (person_codes or {}).get(bsn, ())
        lines.append(
            record(
                "02",
                {3: n(detail, 12), 15: bsn, 24: uzovi, **{311 + 4 * i: c for i, c in enumerate(codes)}},
            )
        )
        for a in of_person:
            detail += 1
            declared, declared_dc = cents(a.declared)
            awarded, awarded_dc = cents(a.awarded)
            lines.append(
                record(
                    "04",
                    {
                        3: n(detail, 12),  # 0402
                        15: bsn,  # 0403
                        24: uzovi,  # 0404
                        58: "1",  # 0407
                        157: declared,  # 0427 declaratiebedrag
                        165: declared_dc,  # 0428
                        166: a.reference.ljust(20),  # 0429 referentienummer dit prestatierecord
                        311: declared,  # 0481 berekend bedrag zorgverzekeraar
                        319: declared_dc,  # 0482
                        320: awarded,  # 0483 toegekend bedrag
                        328: awarded_dc,  # 0484
                        **{329 + 4 * i: c for i, c in enumerate(a.codes)},  # 0496-0498
                    },
                )
            )
            declared_total += a.declared
            awarded_total += a.awarded
    total, total_dc = cents(declared_total, 11)
    awarded, awarded_dc = cents(awarded_total, 11)
    n04 = len(answers)
    closing = {
        3: n(len(persons), 6),  # 9902 verzekerdenrecords
        9: n(0, 6),  # 9903 debiteurrecords
        15: n(n04, 6),  # 9904 prestatierecords
        21: n(0, 6),  # 9905 commentaarrecords
        27: n(detail, 7),  # 9906 detailrecords
        34: total,  # 9907
        45: total_dc,  # 9908
        46: awarded,  # 9909
        57: awarded_dc,  # 9910
        **(totals or {}),
    }
    lines.append(record("99", closing))
    lines = [line[:length].ljust(length) for line in lines]
    return "".join(f"{line}\r\n" for line in lines).encode("ascii")


def invoice_of(batch: object) -> str:
    """The factuurnummer (0116, AN 12 at 81) of the batch's own KZ301 file, which its KZ302 echoes."""
    from billing.models import BatchFile

    content = bytes(BatchFile.unscoped.get(batch=batch, kind="kz301").content)
    return content.split(b"\r\n")[0][80:92].decode("ascii").strip()


def agb_of(batch: object) -> str:
    """The declarant's AGB code (0112, N 8 at 55) of the batch's own KZ301 file, which its KZ302 echoes."""
    from billing.models import BatchFile

    content = bytes(BatchFile.unscoped.get(batch=batch, kind="kz301").content)
    return content.split(b"\r\n")[0][54:62].decode("ascii")
