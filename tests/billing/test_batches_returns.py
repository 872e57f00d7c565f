"""Return information from the insurer: checked as a whole (a bad entry stores nothing), accepted and
rejected lines update the claim, and a rejected line is rebilled in a later batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from billing import reconcile
from billing.models import (
    Allocation,
    BatchReturn,
    ClaimBatch,
    ClaimLine,
    LineStatus,
    ReturnLine,
    WorkItem,
)
from billing.services import returns
from billing.services.returns import ReturnEntry, ReturnError
from igo.models import AuditEntry
from igo.tenancy import tenant_scope
from pregnancies.models import Client, ClientInsurance, Episode
from tests.factories import valid_bsn
from tests.scenarios.billing import BILLING_NOW, Setup, current, run, touch
from tests.scenarios.month_batches import (
    NEXT_MONTH,
    check_file_against_database,
    insurer_user,
    make,
    make_batch,
    open_items,
    records,
    refs,
    release,
    rows_of,
)

pytestmark = pytest.mark.clock(BILLING_NOW)


@dataclass
class Released:
    s: Setup
    batch: ClaimBatch
    ep: Episode
    other: Episode
    insurer_user: Any

    def line(self, phase: str) -> ClaimLine:
        return ClaimLine.unscoped.get(batch_line__batch=self.batch, episode=self.ep, phase=phase)

    def answer(self, *entries: ReturnEntry, **kwargs: Any) -> BatchReturn:
        return returns.batch_return_record(
            batch=self.batch, entries=list(entries), user=self.insurer_user, **kwargs
        )


@pytest.fixture
def released(billed: tuple[Setup, Episode, Episode]) -> Released:
    s, ep, other = billed
    return Released(s, release(s, make_batch(s)), ep, other, insurer_user(s))


def accept(ref: str, code: str = "") -> ReturnEntry:
    return ReturnEntry(ref, "accepted", code)


def reject(ref: str, code: str = "0101", text: str = "") -> ReturnEntry:
    return ReturnEntry(ref, "rejected", code, text)


def _nothing_stored(r: Released, answered: int = 0) -> None:
    assert BatchReturn.unscoped.count() == (1 if answered else 0)
    assert ReturnLine.unscoped.count() == answered
    statuses = list(ClaimLine.unscoped.filter(batch_line__batch=r.batch).values_list("status", flat=True))
    assert statuses.count(LineStatus.SENT) == len(statuses) - answered
    assert not WorkItem.unscoped.filter(reason="rejected").exists()


def test_return_information_is_checked_as_a_whole_and_a_bad_entry_stores_nothing(released):
    r = released
    ref0, ref1, *_ = refs(r.batch)
    cases: list[tuple[str, list[ReturnEntry], tuple[int, str]]] = [
        ("unknown reference", [accept(ref0), accept("999999-PRE-D9")], (2, "reference")),
        ("a line twice", [accept(ref0), reject(ref1), accept(ref0)], (3, "reference")),
        ("rejection without a code", [accept(ref0), reject(ref1, "")], (2, "reason_code")),
        # An unknown code is kept (Vektis adds codes), but a code is 4 characters at most.
        ("code too long", [reject(ref0, "01000"), accept(ref1)], (1, "reason_code")),
        ("accepted with a code", [accept(ref0), accept(ref1, "0101")], (2, "reason_code")),
        ("unknown status", [ReturnEntry(ref0, "paid")], (1, "status")),
        ("explanation too long", [reject(ref0, "0999", "x" * 201)], (1, "reason_text")),
        ("no entries", [], (0, "lines")),
    ]
    for case, entries, expected in cases:
        with pytest.raises(ReturnError) as exc:
            r.answer(*entries)
        assert [(e.row, e.field) for e in exc.value.errors] == [expected], case
        _nothing_stored(r)
    # A line answered in an earlier delivery cannot be answered again; the rest of that delivery is lost.
    r.answer(accept(ref0))
    with pytest.raises(ReturnError) as exc:
        r.answer(accept(ref1), reject(ref0))
    assert [(e.row, e.field) for e in exc.value.errors] == [(2, "reference")]
    _nothing_stored(r, answered=1)
    assert ClaimLine.unscoped.get(number=ref1).status == LineStatus.SENT


def test_accepted_and_rejected_lines_update_the_claim_and_open_a_work_item(released):
    r = released
    prenatal = r.line("prenatal")
    others = [ref for ref in refs(r.batch) if ref != prenatal.number]
    answer = r.answer(
        *[accept(ref) for ref in others],
        reject(prenatal.number, "0101", "BSN onbekend"),
        source="file",
        filename="retour-2026-11.csv",
    )
    assert (answer.accepted, answer.rejected, answer.source, answer.filename) == (
        3,
        1,
        "file",
        "retour-2026-11.csv",
    )
    assert answer.tenant_id == r.s.tenant.pk and answer.received_by == r.insurer_user
    stored = {
        x.batch_line.number: (x.status, x.reason_code)
        for x in ReturnLine.unscoped.select_related("batch_line")
    }
    assert stored == {**dict.fromkeys(others, ("accepted", "")), prenatal.number: ("rejected", "0101")}
    statuses = dict(ClaimLine.unscoped.filter(batch_line__batch=r.batch).values_list("number", "status"))
    assert statuses == {**dict.fromkeys(others, LineStatus.ACCEPTED), prenatal.number: LineStatus.REJECTED}
    (item,) = WorkItem.unscoped.filter(reason="rejected")
    assert (item.episode_id, item.phase, item.resolved_at, item.tenant_id) == (
        r.ep.pk,
        "prenatal",
        None,
        r.s.tenant.pk,
    )
    assert "0101" in item.message and prenatal.number in item.message and "BSN onbekend" in item.message
    assert AuditEntry.objects.filter(action="batch.return", tenant=r.s.tenant).count() == 1


def test_rebilling_a_rejected_line_after_correcting_the_bsn(released):
    # The insurer never booked a rejected line: it is not credited (a credit would come back as 8017, "no
    # debit known for this credit"), the phase is claimed again with a new reference and the corrected BSN.
    r = released
    original = r.line("prenatal")
    r.answer(reject(original.number, "0101"))
    with tenant_scope(r.s.tenant), pytest.raises(ValidationError):
        returns.rejected_line_rebill(line=r.line("natal"), actor=r.s.admin)  # sent, not rejected
    new_bsn = valid_bsn(90_002)
    Client.unscoped.filter(pk=r.ep.client_id).update(bsn=new_bsn)
    with tenant_scope(r.s.tenant):
        new = returns.rejected_line_rebill(line=original, actor=r.s.admin)
    assert new is not None
    original.refresh_from_db()
    assert (original.status, original.is_current) == (LineStatus.REJECTED, False)
    assert not ClaimLine.unscoped.filter(corrects=original).exists()
    assert not Allocation.unscoped.filter(claim_line=original, is_current=True).exists()
    assert (new.sign, new.amount, new.status, new.is_current) == (
        "debit",
        original.amount,
        LineStatus.READY,
        True,
    )
    assert new.number != original.number
    assert open_items(r.ep, "rejected") == []

    later = make(r.s, period=NEXT_MONTH)
    assert later.held == 0 and later.batch is not None
    assert refs(later.batch) == [new.number]
    file_lines = [x for x in records(later.batch) if x.code == "04"]
    assert [(x["reference"], x["bsn"], x["dc_2"], x["previous_reference"].strip()) for x in file_lines] == [
        (new.number, new_bsn, "D", "")
    ]
    check_file_against_database(r.s, later.batch)
    assert reconcile.books_check(tenant=r.s.tenant, today=BILLING_NOW.date()).ok


def test_rebilling_without_a_change_sends_a_new_debit_in_the_next_batch(released):
    r = released
    original = r.line("prenatal")
    r.answer(reject(original.number, "0999", "graag opnieuw"))
    with tenant_scope(r.s.tenant):
        again = returns.rejected_line_rebill(line=original, actor=r.s.admin)
    assert again is not None and again.number != original.number
    assert not ClaimLine.unscoped.filter(corrects=original).exists()
    first = make(r.s, period=NEXT_MONTH)
    assert first.batch is not None and refs(first.batch) == [again.number] and first.held == 0


def test_a_line_the_run_changes_after_rejection_is_claimed_anew_not_credited(released):
    r = released
    original = r.line("prenatal")
    r.answer(reject(original.number, "0103", "polisnummer hoort niet bij BSN"))
    assert open_items(r.ep, "rejected") == ["prenatal"]
    ClientInsurance.unscoped.filter(client_id=r.ep.client_id).update(policy_number="ZK-NEW")
    touch(r.ep)
    run(r.s)
    original.refresh_from_db()
    assert (original.status, original.is_current) == (LineStatus.REJECTED, False)
    assert not ClaimLine.unscoped.filter(corrects=original).exists()
    new = current(r.ep)["prenatal"]
    assert (new.amount, new.policy_number) == (original.amount, "ZK-NEW")
    assert open_items(r.ep, "rejected") == []
    later = make(r.s, period=NEXT_MONTH)
    # The other phases (accepted) are credited and claimed anew under the new number; the rejected one only
    # claimed anew.
    prenatal = [(x.number, x.policy_number) for x in rows_of(later.batch) if x.phase == "prenatal"]
    assert prenatal == [(new.number, "ZK-NEW")]
    assert not [x for x in rows_of(later.batch) if x.corrects_number == original.number]
    assert reconcile.books_check(tenant=r.s.tenant, today=BILLING_NOW.date()).ok


def test_a_rejection_of_an_already_replaced_line_leaves_no_stuck_work_item(released):
    r = released
    original = r.line("prenatal")
    ClientInsurance.unscoped.filter(client_id=r.ep.client_id).update(policy_number="ZK-NEW")
    touch(r.ep)
    run(r.s)  # credited and rebilled before the insurer answered
    r.answer(reject(original.number, "0103"))
    touch(r.ep)
    run(r.s)
    assert open_items(r.ep, "rejected") == []


def _parts(line: ClaimLine) -> Decimal:
    return sum((a.amount for a in Allocation.unscoped.filter(claim_line=line, is_current=True)), Decimal(0))


def test_a_partial_award_of_an_already_replaced_line_leaves_no_stuck_work_item_and_the_books_reconcile(
    released,
):
    r = released
    original = r.line("prenatal")
    ClientInsurance.unscoped.filter(client_id=r.ep.client_id).update(policy_number="ZK-NEW")
    touch(r.ep)
    run(r.s)  # credited and claimed anew before the insurer answered
    credit = ClaimLine.unscoped.get(corrects=original)
    new = current(r.ep)["prenatal"]
    assert _parts(credit) == -original.amount
    awarded = original.amount - Decimal("200.00")
    r.answer(ReturnEntry(original.number, "partial", "0611", awarded_amount=awarded))
    original.refresh_from_db()
    assert (original.status, original.is_current) == (LineStatus.ACCEPTED, False)
    # Nothing for finance to do: the credit takes back what was awarded, the new line claims it all again.
    assert open_items(r.ep, "partial_award") == []
    assert not WorkItem.unscoped.filter(reason="partial_award", resolved_at__isnull=True).exists()
    assert (_parts(original), _parts(credit), _parts(new)) == (awarded, -awarded, new.amount)
    assert credit.amount == -original.amount  # the claim itself is never changed
    report = reconcile.books_check(tenant=r.s.tenant, today=BILLING_NOW.date())
    assert report.ok, reconcile.problem_lines(report)
    # The credit goes in the next batch; the insurer takes back what it awarded, and no item opens.
    later = release(r.s, make_batch(r.s, period=NEXT_MONTH))
    returns.batch_return_record(
        batch=later,
        entries=[ReturnEntry(credit.number, "partial", "0611", awarded_amount=-awarded)],
        user=r.insurer_user,
    )
    assert (_parts(original) + _parts(credit), _parts(new)) == (Decimal(0), new.amount)
    assert not WorkItem.unscoped.filter(reason="partial_award", resolved_at__isnull=True).exists()
    report = reconcile.books_check(tenant=r.s.tenant, today=BILLING_NOW.date())
    assert report.ok, reconcile.problem_lines(report)


def test_a_partial_award_of_a_current_line_still_opens_a_work_item(released):
    r = released
    original = r.line("prenatal")
    r.answer(ReturnEntry(original.number, "partial", "0611", awarded_amount=original.amount - 200))
    item = WorkItem.unscoped.get(reason="partial_award", resolved_at__isnull=True)
    assert (item.phase, item.amount) == ("prenatal", Decimal("200.00"))
