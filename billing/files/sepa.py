"""The SEPA credit-transfer file of a payout run (pain.001.001.03), written with sepaxml and checked against the
schema sepaxml ships with before anything stores it.

One payment information block (batch booking) from the IGO's account, one transaction per payout: the amount
in cents, the member's account holder, IBAN and BIC as the run recorded them, the run's end-to-end id and
"Uitbetaling <IGO> <month>" as the remittance text. Amounts only ever come from the Payout rows, so the file's
control sum is the run's total by construction; `sepa_totals` reads it back to prove it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from xml.etree import ElementTree

import sepaxml
import xmlschema
from django.conf import settings
from django.utils import formats, translation

SCHEMA = "pain.001.001.03"
NAMESPACE = f"urn:iso:std:iso:20022:tech:xsd:{SCHEMA}"


@dataclass(frozen=True)
class Debtor:
    name: str
    iban: str
    bic: str  # may be empty


@dataclass(frozen=True)
class Transfer:
    name: str
    iban: str
    bic: str  # may be empty
    amount: Decimal  # euros, two places, > 0
    end_to_end_id: str


@dataclass(frozen=True)
class SepaTotals:
    transactions: int
    control_sum: Decimal


class SepaFileError(Exception):
    """The file does not validate against pain.001.001.03, or its totals differ from the run's."""


def payout_description(igo_name: str, period: dt.date) -> str:
    """The remittance text: "Uitbetaling <IGO> <maand jaar>", in Dutch whoever prepares the run."""
    with translation.override(settings.LANGUAGE_CODE):
        month = formats.date_format(period, "F Y")
    return f"Uitbetaling {igo_name} {month}"


def cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_exact())


class _Transfers(sepaxml.SepaTransfer):
    """sepaxml's document with our message id (recorded on the run) instead of a random one."""

    def __init__(self, config: dict[str, object], message_id: str) -> None:
        self._message_id = message_id
        super().__init__(config, schema=SCHEMA, clean=True)

    def _create_header(self) -> None:
        self.msg_id = self._message_id
        super()._create_header()


def sepa_transfers(
    *,
    debtor: Debtor,
    transfers: Sequence[Transfer],
    description: str,
    execution_date: dt.date,
    message_id: str,
) -> bytes:
    """The pain.001.001.03 document, validated against the schema (SepaFileError when it is not valid)."""
    config: dict[str, object] = {
        "name": debtor.name,
        "IBAN": debtor.iban,
        "batch": True,
        "currency": "EUR",
    }
    if debtor.bic:
        config["BIC"] = debtor.bic
    document = _Transfers(config, message_id)
    for t in transfers:
        payment: dict[str, object] = {
            "name": t.name,
            "IBAN": t.iban,
            "amount": cents(t.amount),
            "execution_date": execution_date,
            "description": description,
            "endtoend_id": t.end_to_end_id,
        }
        if t.bic:
            payment["BIC"] = t.bic
        document.add_payment(payment)
    content: bytes = document.export(validate=False)
    sepa_validate(content)
    return content


@lru_cache(maxsize=1)
def _schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(Path(sepaxml.__file__).parent / "schemas" / f"{SCHEMA}.xsd"))


def sepa_validate(content: bytes) -> None:
    """Raise SepaFileError unless `content` is valid against the pain.001.001.03 schema."""
    errors = [str(e.reason or e.message) for e in _schema().iter_errors(content.decode("utf-8"))]
    if errors:
        raise SepaFileError("; ".join(errors[:3]))


def sepa_totals(content: bytes) -> SepaTotals:
    """The group header's number of transactions and control sum, checked against the transactions in it."""
    root = ElementTree.fromstring(content)  # noqa: S314 (our own document, just made)
    ns = {"p": NAMESPACE}
    header = root.find("p:CstmrCdtTrfInitn/p:GrpHdr", ns)
    if header is None:
        raise SepaFileError("no group header")
    count = int(header.findtext("p:NbOfTxs", "0", ns))
    control = Decimal(header.findtext("p:CtrlSum", "0", ns))
    amounts = [Decimal(a.text or "0") for a in root.iterfind(".//p:CdtTrfTxInf/p:Amt/p:InstdAmt", ns)]
    if count != len(amounts) or control != sum(amounts, Decimal("0")):
        raise SepaFileError("the group header does not match the transactions")
    return SepaTotals(transactions=count, control_sum=control)
