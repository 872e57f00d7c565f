"""A credit made before a rejection arrived (billing.services.rejected_credits.credits_of_rejected_settle): the
re-pricing of March 2027 credits the January birth's natal line (900.00) and claims it anew at 950.00 while
February's batch still waits for the insurer's answer; then the insurer rejects the old natal line. The
insurer booked nothing for it, so the credit would take back nothing and come back as 8017.

Splits by hand (5 % overhead, 2 % reserve, then fixed shares; natal: practice 60 %, hospital 40 %):

    natal 900.00: overhead 45.00, reserve 18.00, members 837.00 = practice 502.20 + hospital 334.80
    natal 950.00: overhead 47.50, reserve 19.00, members 883.50 = practice 530.10 + hospital 353.40

The world is tests.scenarios.repricing; every step sets the clock.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing import ledger, reconcile
from billing.models import Allocation, BatchLine, ClaimLine, LineStatus, WorkItem, WorkReason
from billing.services.work_items import work_item_resolve_by_hand
from igo.models import AuditEntry
from igo.tenancy import tenant_scope
from tests.scenarios.clock import travel
from tests.scenarios.month_end import assert_batch_agrees, books
from tests.scenarios.payouts import PayoutWorld, answer, bill, lines, send_batch
from tests.scenarios.repricing import all_lines, at, born_in_january, reprice, repricing_world

pytestmark = [pytest.mark.dated, pytest.mark.clock(at(2027, 1, 2))]

D = Decimal
FEB = dt.date(2027, 2, 1)
MAR = dt.date(2027, 3, 1)


@pytest.fixture
def pw(world_a) -> PayoutWorld:
    return repricing_world(world_a)


def _credited_while_waiting(pw: PayoutWorld):
    """The January birth sent in February's batch; the re-pricing of 15 March credits natal and postnatal
    (no answer yet) and claims them anew. Returns (episode, February's batch, the sent lines)."""
    ep = born_in_january(pw)
    bill(pw, at(2027, 2, 21))
    feb = send_batch(pw, FEB, at(2027, 2, 25))
    sent = lines(ep)
    result = reprice(pw, at(2027, 3, 15))
    assert (result.credited, result.rebilled) == (2, 2)
    return ep, feb, sent


def _current_parts(*claim_lines: ClaimLine) -> Decimal:
    return sum(
        (a.amount for a in Allocation.unscoped.filter(claim_line__in=claim_lines, is_current=True)), D("0")
    )


def _open(pw: PayoutWorld, reason: str) -> list[WorkItem]:
    return list(WorkItem.unscoped.filter(tenant=pw.tenant, reason=reason, resolved_at__isnull=True))


def test_an_unsent_credit_of_a_line_then_rejected_is_withdrawn_and_the_new_claim_stays(pw):
    ep, feb, sent = _credited_while_waiting(pw)
    old, credit, new = all_lines(ep, "natal")
    assert (credit.status, credit.amount, new.amount) == (LineStatus.READY, D("-900.00"), D("950.00"))
    # Before the answer: the old line's parts 900.00 and the credit's -900.00 are both current.
    assert _current_parts(old) == D("900.00") and _current_parts(credit) == D("-900.00")

    answer(feb, at(2027, 3, 20), accept=[sent["prenatal"], sent["postnatal"]], reject=[sent["natal"]])

    old.refresh_from_db()
    credit.refresh_from_db()
    new.refresh_from_db()
    assert (old.status, old.is_current) == (LineStatus.REJECTED, False)
    assert credit.status == LineStatus.WITHDRAWN
    assert credit.explanation["withdrawn"] == {"rejected": old.number}
    assert (new.status, new.is_current, new.amount) == (LineStatus.READY, True, D("950.00"))
    # Both reversed as of the answer: 900.00 - 900.00 = 0 and -900.00 + 900.00 = 0; the new claim keeps
    # its 950.00 (47.50 + 19.00 + 530.10 + 353.40).
    assert _current_parts(old) == _current_parts(credit) == D("0")
    assert _current_parts(new) == D("950.00")
    reversed_at = set(
        Allocation.unscoped.filter(claim_line__in=[old, credit]).values_list("superseded_at", flat=True)
    )
    assert len(reversed_at) == 1 and None not in reversed_at
    with tenant_scope(pw.tenant):
        settled = set(ClaimLine.objects.filter(ledger.settled_at_nothing()).values_list("pk", flat=True))
    assert {old.pk, credit.pk} <= settled
    # Nothing for finance: no rejection item (the phase is claimed anew), no credit item.
    assert _open(pw, WorkReason.REJECTED) == [] and _open(pw, WorkReason.CREDIT_OF_REJECTED) == []
    audit = AuditEntry.objects.filter(action="batch.return").latest("pk")
    assert (audit.details["credits_withdrawn"], audit.details["credits_of_rejected_sent"]) == (
        [credit.number],
        [],
    )
    books(pw, dt.date(2027, 3, 20))

    # March's batch: the postnatal credit -1500.00 and the two new claims 950.00 + 1600.00 = 1050.00; the
    # withdrawn credit does not go out.
    mar = send_batch(pw, MAR, at(2027, 4, 1))
    assert_batch_agrees(pw, mar, D("1050.00"))
    assert not BatchLine.unscoped.filter(batch=mar, claim_line=credit).exists()
    books(pw, dt.date(2027, 4, 1))


def test_a_sent_credit_of_a_line_then_rejected_gets_a_work_item_until_the_insurer_refuses_it(pw):
    ep, feb, sent = _credited_while_waiting(pw)
    # March's batch goes out before February's answer: -900.00 - 1500.00 + 950.00 + 1600.00 = 150.00.
    mar = send_batch(pw, MAR, at(2027, 3, 16))
    assert_batch_agrees(pw, mar, D("150.00"))
    _old, credit, new = all_lines(ep, "natal")
    assert credit.status == LineStatus.SENT

    answer(feb, at(2027, 3, 20), accept=[sent["prenatal"], sent["postnatal"]], reject=[sent["natal"]])

    credit.refresh_from_db()
    assert credit.status == LineStatus.SENT  # a sent line is never changed
    (item,) = _open(pw, WorkReason.CREDIT_OF_REJECTED)
    assert (item.episode_id, item.phase, item.amount) == (ep.pk, "natal", D("900.00"))
    assert credit.number in item.message and "8017" in item.message
    audit = AuditEntry.objects.filter(action="batch.return").latest("pk")
    assert audit.details["credits_of_rejected_sent"] == [credit.number]
    books(pw, dt.date(2027, 3, 20))

    # Without its work item the books check names the sent credit.
    WorkItem.unscoped.filter(pk=item.pk).update(resolved_at=at(2027, 3, 21))
    report = reconcile.books_check(tenant=pw.tenant, today=dt.date(2027, 3, 21))
    assert report.kinds() == {"credit_of_rejected_sent": 1}
    assert report.problems[0].ids == [credit.pk]
    WorkItem.unscoped.filter(pk=item.pk).update(resolved_at=None)

    # The insurer refuses it (8017) and accepts the rest: the item closes by itself, nothing is held.
    answer(
        mar,
        at(2027, 4, 5),
        accept=[new, *all_lines(ep, "postnatal")[1:]],
        reject=[credit],
        code="8017",
    )
    assert _open(pw, WorkReason.CREDIT_OF_REJECTED) == []
    assert _open(pw, WorkReason.CREDIT_REJECTED) == []
    books(pw, dt.date(2027, 4, 5))


def test_a_sent_credit_the_insurer_accepts_after_all_stays_for_finance_to_resolve(pw):
    _ep, feb, sent = _credited_while_waiting(pw)
    mar = send_batch(pw, MAR, at(2027, 3, 16))
    answer(feb, at(2027, 3, 20), accept=[sent["prenatal"], sent["postnatal"]], reject=[sent["natal"]])
    answer(mar, at(2027, 4, 5), accept=ClaimLine.unscoped.filter(batch_line__batch=mar))
    (item,) = _open(pw, WorkReason.CREDIT_OF_REJECTED)
    books(pw, dt.date(2027, 4, 5))  # covered by the open item

    with travel(at(2027, 4, 6)), tenant_scope(pw.tenant):
        work_item_resolve_by_hand(
            item=WorkItem.objects.get(pk=item.pk), actor=pw.finance, note="ZK keert de creditering terug"
        )
    entry = AuditEntry.objects.get(action="work_item.resolve")
    assert (entry.details["reason"], entry.details["amount"]) == ("credit_of_rejected", "900.00")


def test_the_books_check_names_a_ready_credit_of_a_rejected_line(pw):
    """A credit made in a race with the answer (the rejection committed first, the credit read the line as
    sent): it would go out and be refused."""
    ep, _feb, sent = _credited_while_waiting(pw)
    ClaimLine.unscoped.filter(pk=sent["natal"].pk).update(status=LineStatus.REJECTED)
    report = reconcile.books_check(tenant=pw.tenant, today=dt.date(2027, 3, 20))
    credit = all_lines(ep, "natal")[1]
    assert "credit_of_rejected_unsent" in report.kinds()
    assert [p.ids for p in report.problems if p.kind == "credit_of_rejected_unsent"] == [[credit.pk]]
