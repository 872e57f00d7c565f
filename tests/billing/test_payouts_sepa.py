"""The SEPA credit-transfer file of a payout run: valid against pain.001.001.03 (the schema sepaxml ships),
one transaction per payout, and totals that equal what the member statements (billing.ledger) say was paid.

The month is the billing world's portfolio (tests.scenarios.billing): two insurers, four members, billed and
sent on 20 November 2026 and accepted by both insurers; November is paid out on 2 December."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import pytest
import sepaxml
import xmlschema

from billing import ledger
from billing.files.sepa import (
    Debtor,
    SepaFileError,
    Transfer,
    payout_description,
    sepa_totals,
    sepa_transfers,
    sepa_validate,
)
from billing.models import Payout, PayoutRun
from billing.services.payouts import payout_run_prepare
from billing.statements import payout_statement, statement_totals
from igo.models import Tenant
from igo.tenancy import tenant_scope
from providers.models import MemberOrganisation
from tests.scenarios.batches import make_batch
from tests.scenarios.billing import BILLING_NOW, build, portfolio, run
from tests.scenarios.payouts import (
    HOSPITAL_IBAN,
    IGO_IBAN,
    KRAAM_IBAN,
    PRACTICE_IBAN,
    accept_all,
    at,
    sepa_of,
)

pytestmark = [pytest.mark.django_db, pytest.mark.clock(BILLING_NOW)]

NOV = dt.date(2026, 11, 1)
SOUTH_IBAN = "NL61SNSB0987654321"  # SNSBNL2A
NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}
XSD = Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.03.xsd"


@pytest.fixture
def month(world_a):
    """The portfolio's November, billed, sent and accepted; every member and the IGO with an account."""
    s = build(world_a)
    portfolio(s)
    run(s)
    Tenant.objects.filter(pk=s.tenant.pk).update(iban=IGO_IBAN)
    s.tenant.refresh_from_db()
    for org, iban in (
        (s.practice, PRACTICE_IBAN),
        (s.hospital, HOSPITAL_IBAN),
        (s.kraam, KRAAM_IBAN),
        (s.south, SOUTH_IBAN),
    ):
        MemberOrganisation.unscoped.filter(pk=org.pk).update(iban=iban, account_holder=f"{org.name} B.V.")
    for insurer in (s.zk, s.vgz):
        accept_all(make_batch(s, insurer), at(2026, 11, 25))
    return s


def test_the_file_validates_and_its_totals_equal_the_statements(month):
    s = month
    with tenant_scope(s.tenant):
        paid_run = payout_run_prepare(tenant=s.tenant, period=NOV, actor=s.admin, today=dt.date(2026, 12, 2))
    content = sepa_of(paid_run)
    payouts = list(Payout.unscoped.filter(run=paid_run).select_related("organisation").order_by("pk"))

    # Valid against the schema, read by an independent validator.
    xmlschema.XMLSchema(str(XSD)).validate(content.decode())

    root = ElementTree.fromstring(content)  # noqa: S314 (the file this test just had made)
    header = root.find("p:CstmrCdtTrfInitn/p:GrpHdr", NS)
    info = root.find("p:CstmrCdtTrfInitn/p:PmtInf", NS)
    assert header is not None and info is not None
    assert header.findtext("p:MsgId", namespaces=NS) == paid_run.message_id
    # Practice, hospital and kraamzorg; the split rule gives Praktijk Zuid no part of these lines.
    assert int(header.findtext("p:NbOfTxs", "", NS)) == len(payouts) == 3
    assert Decimal(header.findtext("p:CtrlSum", "", NS)) == paid_run.total
    assert info.findtext("p:DbtrAcct/p:Id/p:IBAN", namespaces=NS) == IGO_IBAN
    assert info.findtext("p:DbtrAgt/p:FinInstnId/p:BIC", namespaces=NS) == "ABNANL2A"  # looked up
    assert info.findtext("p:ReqdExctnDt", namespaces=NS) == "2026-12-03"  # the next working day
    transactions = {
        tx.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=NS): (
            Decimal(tx.findtext("p:Amt/p:InstdAmt", "", NS)),
            tx.findtext("p:Cdtr/p:Nm", namespaces=NS),
            tx.findtext("p:PmtId/p:EndToEndId", namespaces=NS),
            tx.findtext("p:RmtInf/p:Ustrd", namespaces=NS),
        )
        for tx in info.iterfind("p:CdtTrfTxInf", NS)
    }
    assert transactions == {
        p.iban: (p.amount, p.account_holder, p.end_to_end_id, "Uitbetaling IGO Alpha november 2026")
        for p in payouts
    }

    # The statements: every member's November is in the file in full, and what the file pays is the payout.
    # The run is prepared, not released: the statements say so, and nothing is paid out yet.
    with tenant_scope(s.tenant):
        totals = ledger.month_totals(period=NOV, today=dt.date(2026, 12, 2))
        on_statements = statement_totals(period=NOV, today=dt.date(2026, 12, 2))
        for p in payouts:
            member = totals.member(p.organisation_id)
            assert member.prepared == p.amount == on_statements[p.organisation_id].prepared
            assert (member.paid, member.due, member.held, member.pending) == (0, 0, 0, 0)
            assert on_statements[p.organisation_id].allocated == p.amount
            assert payout_statement(payout=p).total == p.amount
    assert sum(totals.member(p.organisation_id).prepared for p in payouts) == paid_run.total
    # The IGO's own parts are not paid out; with them the month adds up to what was claimed (9850.00).
    igo_part = sum((t.allocated for (kind, _org), t in totals.rows.items() if kind != "member"), Decimal(0))
    assert paid_run.total + igo_part == Decimal("9850.00")


def test_sepa_transfers_without_bics_and_refusals():
    debtor = Debtor(name="IGO Zuid — Oost", iban="BE68539007547034", bic="")  # no BIC known for it
    transfer = Transfer(
        name="Praktijk Ééndracht", iban=PRACTICE_IBAN, bic="", amount=Decimal("0.01"), end_to_end_id="E2E-1"
    )
    content = sepa_transfers(
        debtor=debtor,
        transfers=[transfer],
        description=payout_description("IGO Zuid", dt.date(2027, 3, 1)),
        execution_date=dt.date(2027, 4, 1),
        message_id="IGO-202703-1",
    )
    assert sepa_totals(content).control_sum == Decimal("0.01")
    assert b"Uitbetaling IGO Zuid maart 2027" in content and b"Praktijk Eendracht" in content
    # An end-to-end id longer than the 35 characters the schema allows: refused, nothing written.
    with pytest.raises(SepaFileError):
        sepa_transfers(
            debtor=debtor,
            transfers=[Transfer(**{**transfer.__dict__, "end_to_end_id": "X" * 36})],
            description="x",
            execution_date=dt.date(2027, 4, 1),
            message_id="m",
        )
    # A header that does not match its transactions, and a file that is not pain.001.
    with pytest.raises(SepaFileError):
        sepa_totals(content.replace(b"<CtrlSum>0.01</CtrlSum>", b"<CtrlSum>0.02</CtrlSum>", 1))
    with pytest.raises(SepaFileError):
        sepa_validate(content.replace(b"<PmtMtd>TRF</PmtMtd>", b"<PmtMtd>DD</PmtMtd>"))


def test_a_run_is_one_per_month_in_the_database(month):
    s = month
    with tenant_scope(s.tenant):
        first = payout_run_prepare(tenant=s.tenant, period=NOV, actor=s.admin, today=dt.date(2026, 12, 2))
    assert PayoutRun.unscoped.filter(tenant=s.tenant, period=NOV).get() == first
