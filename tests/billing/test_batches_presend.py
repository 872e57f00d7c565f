"""The pre-send check: a line the insurer would refuse (invalid BSN, no insured number, deadline passed,
prestatie not listed or not contracted) is held back with a work item until it is put right.
"""

from __future__ import annotations

import datetime as dt

import pytest

from billing.models import ClaimLine, Contract, LineStatus, PrestatieCode, WorkItem
from billing.services import batches
from igo.tenancy import tenant_scope
from pregnancies.models import Client, ClientInsurance
from tests.factories import valid_bsn
from tests.scenarios.billing import (
    BILLING_NOW,
    current,
    new_insurer_on_1_january,
    ordinary,
    run,
    touch,
    transferred_in_week_30,
)
from tests.scenarios.month_batches import (
    MONTH_AFTER,
    NEXT_MONTH,
    THIS_MONTH,
    assert_held,
    make,
    open_items,
    refs,
    rows_of,
)

pytestmark = pytest.mark.clock(BILLING_NOW)


def _assert_cleared(result: batches.BatchResult, line: ClaimLine, reason: str) -> None:
    assert result.batch is not None
    assert line.number in refs(result.batch)
    assert all(h["line"] != line.pk for h in result.batch.held)
    items = WorkItem.unscoped.filter(episode_id=line.episode_id, phase=line.phase, reason=reason)
    assert items.count() == 1 and items.get().resolved_at is not None


def test_presend_invalid_bsn_is_held_until_corrected(billed):
    s, ep, other = billed
    Client.unscoped.filter(pk=ep.client_id).update(bsn="123456789")  # fails the eleven-test
    result = make(s)
    assert result.held == 3 and result.batch is not None
    assert refs(result.batch) == [x.number for x in current(other).values()]
    for line in current(ep).values():
        assert_held(result, line, "presend_bsn")
    assert open_items(ep, "presend_bsn") == ["natal", "postnatal", "prenatal"]
    Client.unscoped.filter(pk=ep.client_id).update(bsn=valid_bsn(90_001))
    later = make(s, period=NEXT_MONTH)
    for line in current(ep).values():
        _assert_cleared(later, line, "presend_bsn")
    assert later.held == 0 and {x.bsn for x in rows_of(later.batch)} == {valid_bsn(90_001)}


def test_presend_missing_insured_number_is_held_until_the_run_bills_the_new_one(s):
    ordinary(s)
    other = transferred_in_week_30(s)
    ClientInsurance.unscoped.filter(client=other.client).update(policy_number="")
    run(s)
    (blank,) = current(other).values()
    assert blank.policy_number == ""
    result = make(s)
    assert_held(result, blank, "presend_policy")
    assert result.held == 1 and len(refs(result.batch)) == 3
    ClientInsurance.unscoped.filter(client=other.client).update(policy_number="ZK-77")
    touch(other)
    run(s)  # the held line (never sent) is withdrawn and billed with the insured number
    blank.refresh_from_db()
    assert blank.status == LineStatus.WITHDRAWN
    (fixed,) = current(other).values()
    later = make(s, period=NEXT_MONTH)
    _assert_cleared(later, fixed, "presend_policy")
    assert [x.policy_number for x in rows_of(later.batch)] == ["ZK-77"]


def test_presend_submission_deadline_passed_is_held(billed):
    s, ep, other = billed
    # ZK allows 12 months after the care. On 20 Aug 2027: prenatal and natal ended 14 Aug 2026 (too late),
    # the transfer 8 Jun 2026 (too late), postnatal 25 Sep 2026 (in time).
    late = dt.date(2027, 8, 20)
    result = make(s, today=late)
    lines = current(ep)
    (transfer,) = current(other).values()
    assert refs(result.batch) == [lines["postnatal"].number]
    for line in (lines["prenatal"], lines["natal"], transfer):
        assert_held(result, line, "presend_deadline")
    message = WorkItem.unscoped.get(episode=ep, phase="prenatal").message
    assert "14-08-2027" in message
    Contract.unscoped.filter(pk=s.zk_contract.pk).update(submission_months=24)  # agreed with the insurer
    later = make(s, period=NEXT_MONTH, today=late)
    for line in (lines["prenatal"], lines["natal"], transfer):
        _assert_cleared(later, line, "presend_deadline")


def test_presend_prestatie_not_listed_or_not_contracted_is_held(billed):
    s, ep, other = billed
    lines = current(ep)
    (transfer,) = current(other).values()
    # The code list knows natal and postnatal (and a code the contract lacks), not yet the prenatal code.
    for code, phase in (("IGBNAT", "natal"), ("IGBPOS", "postnatal"), ("IGBXXX", "natal")):
        PrestatieCode.objects.create(code=code, description=code, phase=phase, valid_from=dt.date(2025, 1, 1))
    ClaimLine.unscoped.filter(pk=lines["natal"].pk).update(prestatie_code="IGBXXX")
    result = make(s)
    assert refs(result.batch) == [lines["postnatal"].number]
    for line in (lines["prenatal"], lines["natal"], transfer):
        assert_held(result, line, "presend_prestatie")
    assert "IGBXXX" in WorkItem.unscoped.get(episode=ep, phase="natal").message
    # The natal line is put right; a version of the prenatal code valid only from 1 March does not
    # cover care from 2 February, so the prenatal lines stay held (with their one open work item).
    ClaimLine.unscoped.filter(pk=lines["natal"].pk).update(prestatie_code="IGBNAT")
    PrestatieCode.objects.create(
        code="IGBPRE", description="prenataal", phase="prenatal", valid_from=dt.date(2026, 3, 1)
    )
    still = make(s, period=NEXT_MONTH)
    _assert_cleared(still, lines["natal"], "presend_prestatie")
    for line in (lines["prenatal"], transfer):
        assert_held(still, line, "presend_prestatie")
    assert WorkItem.unscoped.filter(episode=other, reason="presend_prestatie").count() == 1
    PrestatieCode.objects.create(
        code="IGBPRE",
        description="prenataal",
        phase="prenatal",
        valid_from=dt.date(2025, 1, 1),
        valid_until=dt.date(2026, 2, 28),
    )
    later = make(s, period=MONTH_AFTER)
    for line in (lines["prenatal"], transfer):
        _assert_cleared(later, line, "presend_prestatie")


def test_a_held_lines_work_item_stays_open_while_another_insurers_batch_is_made(s):
    ep = new_insurer_on_1_january(s)
    transferred_in_week_30(s)  # so that the ZK month has a batch
    run(s)
    Client.unscoped.filter(pk=ep.client_id).update(bsn="123456789")
    with tenant_scope(s.tenant):
        batches.batches_create_month(tenant=s.tenant, period=THIS_MONTH, actor=s.admin)
    held = ClaimLine.unscoped.filter(episode=ep, status=LineStatus.READY, batch_line__isnull=True)
    assert sorted(held.values_list("phase", flat=True)) == ["natal", "postnatal", "prenatal"]
    assert open_items(ep, "presend_bsn") == ["natal", "postnatal", "prenatal"]
