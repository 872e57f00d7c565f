"""Payout runs to the members, worked to the cent: what a month pays, what it holds back or carries over, the
member without a bank account, four eyes, one run per month (tests.scenarios.payouts has the world and the
split of each line by hand).

The shares of every line (after 5 % overhead and 2 % reserve):

    prenatal  1200.00 → practice 781.20, hospital 334.80
    natal      900.00 → practice 502.20, hospital 334.80
    postnatal 1500.00 → practice 418.50, kraamzorg 976.50
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from billing import ledger
from billing.models import (
    Allocation,
    ClaimLine,
    LineStatus,
    Payout,
    PayoutFile,
    PayoutRun,
    WorkItem,
    WorkReason,
)
from billing.services.payouts import payout_run_discard, payout_run_prepare, payout_run_release
from billing.statements import payout_statement
from igo.dates import midnight
from igo.models import AuditEntry, Tenant, User
from igo.tenancy import tenant_scope
from providers.models import MemberOrganisation
from tests.scenarios.clock import travel
from tests.scenarios.concurrency import wait_for_a_lock_wait
from tests.scenarios.payouts import (
    BAD_IBAN,
    CORRECTED_BSN,
    HOSPITAL_IBAN,
    KRAAM_IBAN,
    PRACTICE_IBAN,
    D,
    PayoutWorld,
    accept_all,
    answer,
    at,
    bill,
    completed_pregnancy,
    credit,
    line_status,
    lines,
    paid,
    payout_world,
    prepare,
    rebill,
    send_batch,
    sepa_of,
    set_account,
)

pytestmark = pytest.mark.django_db

NOV, DEC = dt.date(2026, 11, 1), dt.date(2026, 12, 1)


def member_totals(pw: PayoutWorld, period: dt.date, today: dt.date) -> dict[str, ledger.Totals]:
    with tenant_scope(pw.tenant):
        totals = ledger.month_totals(period=period, today=today)
    return {org.name: totals.member(org.pk) for org in pw.members()}


def unpaid_entries(org: MemberOrganisation) -> int:
    return Allocation.unscoped.filter(organisation=org, paid_in__isnull=True).count()


def test_a_rejected_line_is_held_back_credited_rebilled_accepted_and_paid(world_a):
    pw = payout_world(world_a)  # the kraamzorg has no bank account yet
    ep = completed_pregnancy(pw)
    bill(pw, at(2026, 11, 2))
    first = lines(ep)
    batch = send_batch(pw, NOV, at(2026, 11, 20))
    # The insurer accepts natal and postnatal and rejects prenatal: BSN unknown.
    answer(
        batch,
        at(2026, 11, 25),
        accept=[first["natal"], first["postnatal"]],
        reject=[first["prenatal"]],
        code="0101",
    )

    # November's run, prepared on 3 December by finance user A.
    nov = prepare(pw, NOV, at(2026, 12, 3))
    # practice: natal 502.20 + postnatal 418.50 = 920.70; hospital: natal 334.80. The prenatal line is held
    # back (practice 781.20, hospital 334.80); the kraamzorg's 976.50 has no account to go to.
    assert paid(nov) == {"Praktijk De Wieg": D("920.70"), "Ziekenhuis Oost": D("334.80")}
    assert nov.total == D("1255.50")  # 920.70 + 334.80
    item = WorkItem.unscoped.get(organisation=pw.kraam, reason=WorkReason.NO_IBAN, resolved_at__isnull=True)
    assert item.amount == D("976.50") and "Kraamzorg Noord" in item.message
    assert KRAAM_IBAN.encode() not in sepa_of(nov) and b"Kraamzorg" not in sepa_of(nov)
    totals = member_totals(pw, NOV, dt.date(2026, 12, 3))
    # All of it was booked in November: practice 781.20 + 502.20 + 418.50 = 1701.90 on its statement. The
    # run is prepared, not released: its entries are in a prepared payout run, not paid out yet.
    assert (totals["Praktijk De Wieg"].prepared, totals["Praktijk De Wieg"].held) == (
        D("920.70"),
        D("781.20"),
    )
    assert (totals["Ziekenhuis Oost"].prepared, totals["Ziekenhuis Oost"].held) == (D("334.80"), D("334.80"))
    assert (totals["Kraamzorg Noord"].prepared, totals["Kraamzorg Noord"].due) == (D("0"), D("976.50"))
    assert all(t.paid == 0 for t in totals.values())
    assert totals["Praktijk De Wieg"].allocated == D("1701.90")
    with travel(at(2026, 12, 3, 15)), tenant_scope(pw.tenant):
        payout_run_release(run=nov, actor=pw.finance_b)
    totals = member_totals(pw, NOV, dt.date(2026, 12, 3))
    assert (totals["Praktijk De Wieg"].paid, totals["Ziekenhuis Oost"].paid) == (D("920.70"), D("334.80"))
    assert all(t.prepared == 0 for t in totals.values())

    # December: the administrator enters the kraamzorg's account; finance corrects the BSN and bills the
    # prenatal phase again (a new debit; the rejected line is not credited, its parts are reversed).
    set_account(pw, pw.kraam, KRAAM_IBAN, "Kraamzorg Noord B.V.", at(2026, 12, 4))
    new = rebill(pw, first["prenatal"], at(2026, 12, 5), bsn=CORRECTED_BSN)
    assert new is not None and new.amount == D("1200.00")
    assert not ClaimLine.unscoped.filter(corrects=first["prenatal"]).exists()
    dec_batch = send_batch(pw, DEC, at(2026, 12, 18))
    accept_all(dec_batch, at(2026, 12, 22))
    assert line_status(new) == LineStatus.ACCEPTED

    dec = prepare(pw, DEC, at(2027, 1, 4))
    # practice: rejected line +781.20, its reversal -781.20, the new line +781.20 = 781.20
    # hospital: +334.80 - 334.80 + 334.80 = 334.80; kraamzorg: postnatal 976.50 (booked in November)
    assert paid(dec) == {
        "Kraamzorg Noord": D("976.50"),
        "Praktijk De Wieg": D("781.20"),
        "Ziekenhuis Oost": D("334.80"),
    }
    assert dec.total == D("2092.50")  # 976.50 + 781.20 + 334.80
    assert not WorkItem.unscoped.filter(organisation=pw.kraam, resolved_at__isnull=True).exists()
    practice = Payout.unscoped.get(run=dec, organisation=pw.practice)
    with tenant_scope(pw.tenant):
        rows = payout_statement(payout=practice).rows
    assert sorted((r.line.number, r.entry, r.amount) for r in rows) == sorted(
        [
            (first["prenatal"].number, "allocation", D("781.20")),
            (first["prenatal"].number, "reversal", D("-781.20")),
            (new.number, "allocation", D("781.20")),
        ]
    )
    assert practice.entries == 3
    # Over both runs each member got its part of each claim once: 3600.00 less 7 % = 3348.00.
    # practice 920.70 + 781.20 = 1701.90; hospital 334.80 + 334.80 = 669.60; kraamzorg 976.50.
    assert nov.total + dec.total == D("3348.00")
    assert sum(unpaid_entries(org) for org in pw.members()) == 0


def test_answer_term_passed_without_an_answer_makes_the_lines_payable(world_a):
    pw = payout_world(world_a, kraam_iban=KRAAM_IBAN)
    completed_pregnancy(pw)
    bill(pw, at(2026, 11, 2))
    send_batch(pw, NOV, at(2026, 11, 20))  # released 20 November, 10:00; the answer term is 30 days
    # 19 December: within the term, and no answer yet: nothing is payable.
    with pytest.raises(ValidationError) as exc:
        prepare(pw, NOV, at(2026, 12, 19))
    assert exc.value.code == "nothing"
    assert not PayoutRun.unscoped.exists()
    # 20 December (released on day R = 20 Nov, term 30 days: unanswered on R + 30 it counts as accepted).
    run = prepare(pw, NOV, at(2026, 12, 20))
    # practice 781.20 + 502.20 + 418.50 = 1701.90; hospital 334.80 + 334.80 = 669.60; kraamzorg 976.50
    assert paid(run) == {
        "Kraamzorg Noord": D("976.50"),
        "Praktijk De Wieg": D("1701.90"),
        "Ziekenhuis Oost": D("669.60"),
    }
    assert run.total == D("3348.00") and run.payable_on == dt.date(2026, 12, 20)


def test_a_line_settled_after_the_month_is_paid_with_its_credit_not_before(world_a):
    """The rejected line is credited on 2 December: November's run (prepared 3 December) must not pay the
    rejected line's parts booked in November while their reversal is booked in December."""
    pw = payout_world(world_a, kraam_iban=KRAAM_IBAN)
    ep = completed_pregnancy(pw)
    bill(pw, at(2026, 11, 2))
    first = lines(ep)
    batch = send_batch(pw, NOV, at(2026, 11, 20))
    answer(batch, at(2026, 11, 25), accept=[first["natal"], first["postnatal"]], reject=[first["prenatal"]])
    new = rebill(pw, first["prenatal"], at(2026, 12, 2), bsn=CORRECTED_BSN)
    nov = prepare(pw, NOV, at(2026, 12, 3))
    # practice 502.20 + 418.50 = 920.70, not + 781.20 for the rejected line (its reversal is December's)
    assert paid(nov) == {
        "Kraamzorg Noord": D("976.50"),
        "Praktijk De Wieg": D("920.70"),
        "Ziekenhuis Oost": D("334.80"),
    }
    with tenant_scope(pw.tenant):
        made, undone = ledger.payable_entries(until=midnight(DEC), today=dt.date(2026, 12, 3))
        assert not made.exists() and not undone.exists()
        payout_run_release(run=nov, actor=pw.finance_b)
    dec_batch = send_batch(pw, DEC, at(2026, 12, 18))
    assert new is not None
    assert not ClaimLine.unscoped.filter(corrects=first["prenatal"]).exists()
    answer(dec_batch, at(2026, 12, 22), accept=[new])
    dec = prepare(pw, DEC, at(2027, 1, 4))
    # Both sides of the rejected line together (+781.20 - 781.20) and the new line 781.20.
    assert paid(dec) == {"Praktijk De Wieg": D("781.20"), "Ziekenhuis Oost": D("334.80")}


def test_member_without_a_valid_iban_gets_a_work_item_and_is_not_in_the_file(world_a, client_for):
    pw = payout_world(world_a)
    # An account stored before it was checked: it fails its check digits, so it is not paid to.
    MemberOrganisation.unscoped.filter(pk=pw.kraam.pk).update(iban=BAD_IBAN, account_holder="Kraamzorg Noord")
    completed_pregnancy(pw)
    bill(pw, at(2026, 11, 2))
    accept_all(send_batch(pw, NOV, at(2026, 11, 20)), at(2026, 11, 25))
    run = prepare(pw, NOV, at(2026, 12, 3))
    assert set(paid(run)) == {"Praktijk De Wieg", "Ziekenhuis Oost"}
    content = sepa_of(run)
    assert content.count(b"<CdtTrfTxInf>") == 2 and BAD_IBAN.encode() not in content
    assert PRACTICE_IBAN.encode() in content and HOSPITAL_IBAN.encode() in content
    item = WorkItem.unscoped.get(organisation=pw.kraam, reason=WorkReason.NO_IBAN, resolved_at__isnull=True)
    assert item.amount == D("976.50") and item.episode_id is None
    assert unpaid_entries(pw.kraam) == 1  # its postnatal part stays unpaid: no file with a gap
    with travel(at(2026, 12, 3, 11)):
        page = client_for(pw.finance).get(f"/t/{pw.tenant.slug}/payouts/{run.pk}/").content.decode()
    assert 'data-testid="left-33000103" data-reason="no_iban"' in page and "976,50" in page
    # Discarded and prepared again: still one open item, brought up to date.
    with tenant_scope(pw.tenant):
        payout_run_discard(run=run, actor=pw.finance)
    prepare(pw, NOV, at(2026, 12, 4))
    assert WorkItem.unscoped.filter(organisation=pw.kraam, resolved_at__isnull=True).count() == 1


def test_a_member_whose_entries_add_up_to_less_than_nothing_is_carried_over(world_a, client_for):
    pw = payout_world(world_a, kraam_iban=KRAAM_IBAN)
    ep = completed_pregnancy(pw)
    bill(pw, at(2026, 11, 2))
    accept_all(send_batch(pw, NOV, at(2026, 11, 20)), at(2026, 11, 25))
    nov = prepare(pw, NOV, at(2026, 12, 3))
    with tenant_scope(pw.tenant):
        payout_run_release(run=nov, actor=pw.finance_b)
    # December: the postnatal line is taken back (a credit), and a second pregnancy, still in its postnatal
    # care, bills prenatal and natal.
    credit(pw, lines(ep)["postnatal"], at(2026, 12, 2))
    second = completed_pregnancy(pw, policy="ZK-200")
    second.postnatal_ended_on = None
    second.status, second.end_date, second.end_reason = "active", None, ""
    second.save()
    bill(pw, at(2026, 12, 2))
    accept_all(send_batch(pw, DEC, at(2026, 12, 18)), at(2026, 12, 22))
    dec = prepare(pw, DEC, at(2027, 1, 4))
    # practice: 781.20 + 502.20 - 418.50 = 864.90; hospital 334.80 + 334.80 = 669.60;
    # kraamzorg: -976.50 (the credit only): carried over, its entry stays unpaid.
    assert paid(dec) == {"Praktijk De Wieg": D("864.90"), "Ziekenhuis Oost": D("669.60")}
    assert Allocation.unscoped.filter(
        organisation=pw.kraam, amount=D("-976.50"), paid_in__isnull=True
    ).exists()
    assert AuditEntry.objects.get(action="payout_run.prepare", object_id=str(dec.pk)).details[
        "carried_over"
    ] == [pw.kraam.pk]
    with travel(at(2027, 1, 4, 11)):
        html = client_for(pw.finance).get(f"/t/{pw.tenant.slug}/payouts/{dec.pk}/").content.decode()
        assert 'data-testid="left-33000103" data-reason="carried"' in html


def test_release_by_the_preparer_is_refused_and_the_database_refuses_it_too(world_a):
    pw = payout_world(world_a, kraam_iban=KRAAM_IBAN)
    completed_pregnancy(pw)
    bill(pw, at(2026, 11, 2))
    accept_all(send_batch(pw, NOV, at(2026, 11, 20)), at(2026, 11, 25))
    run = prepare(pw, NOV, at(2026, 12, 3))
    with tenant_scope(pw.tenant):
        with pytest.raises(ValidationError) as exc:
            payout_run_release(run=run, actor=pw.finance)
        assert exc.value.code == "four_eyes"
        assert "four eyes" in exc.value.messages[0] or "vier ogen" in exc.value.messages[0]
        run.refresh_from_db()
        assert run.status == "prepared"
        # The backstop: the database refuses a run released by whoever prepared it.
        with pytest.raises(IntegrityError), transaction.atomic():
            PayoutRun.objects.filter(pk=run.pk).update(
                status="released", released_at=timezone.now(), released_by=pw.finance
            )
        released = payout_run_release(run=run, actor=pw.finance_b)
        assert (released.status, released.released_by) == ("released", pw.finance_b)
        with pytest.raises(ValidationError) as exc:
            payout_run_release(run=run, actor=pw.finance_b)
        assert exc.value.code == "released"
        with pytest.raises(ValidationError) as exc:
            payout_run_discard(run=run, actor=pw.finance_b)
        assert exc.value.code == "released"
    actions = list(
        AuditEntry.objects.filter(object_id=str(run.pk), action__startswith="payout_run.")
        .order_by("pk")
        .values_list("action", "actor")
    )
    assert actions == [("payout_run.prepare", pw.finance.pk), ("payout_run.release", pw.finance_b.pk)]


def test_a_changed_bank_account_stops_the_release(world_a):
    pw = payout_world(world_a, kraam_iban=KRAAM_IBAN)
    completed_pregnancy(pw)
    bill(pw, at(2026, 11, 2))
    accept_all(send_batch(pw, NOV, at(2026, 11, 20)), at(2026, 11, 25))
    run = prepare(pw, NOV, at(2026, 12, 3))
    set_account(pw, pw.hospital, PRACTICE_IBAN, "Stichting Ziekenhuis Oost", at(2026, 12, 4))
    with tenant_scope(pw.tenant), pytest.raises(ValidationError) as exc:
        payout_run_release(run=run, actor=pw.finance_b)
    assert exc.value.code == "account_changed" and "Ziekenhuis Oost" in exc.value.messages[0]


def test_a_second_call_for_the_month_is_refused_and_a_discarded_run_can_be_redone(world_a):
    pw = payout_world(world_a, kraam_iban=KRAAM_IBAN)
    completed_pregnancy(pw)
    bill(pw, at(2026, 11, 2))
    accept_all(send_batch(pw, NOV, at(2026, 11, 20)), at(2026, 11, 25))
    run = prepare(pw, NOV, at(2026, 12, 3))
    before = paid(run)
    with pytest.raises(ValidationError) as exc:
        prepare(pw, NOV, at(2026, 12, 3), actor=pw.finance_b)
    assert exc.value.code == "exists"
    assert PayoutRun.unscoped.count() == 1 and Payout.unscoped.count() == 3
    with tenant_scope(pw.tenant):
        payout_run_discard(run=run, actor=pw.finance)
    assert (
        not PayoutRun.unscoped.exists() and not Payout.unscoped.exists() and not PayoutFile.unscoped.exists()
    )
    assert not Allocation.unscoped.filter(paid_in__isnull=False).exists()
    again = prepare(pw, NOV, at(2026, 12, 4), actor=pw.finance_b)
    assert paid(again) == before and again.pk != run.pk
    assert AuditEntry.objects.filter(action="payout_run.discard", object_id=str(run.pk)).exists()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_prepares_make_one_run(world_a):
    pw = payout_world(world_a, kraam_iban=KRAAM_IBAN)
    completed_pregnancy(pw)
    bill(pw, at(2026, 11, 2))
    accept_all(send_batch(pw, NOV, at(2026, 11, 20)), at(2026, 11, 25))
    results: list[object] = []
    errors: list[BaseException] = []
    hold, held = threading.Event(), threading.Event()

    def holder() -> None:
        """Holds the tenant row, so both requests arrive while the run could still be in the making."""
        try:
            with transaction.atomic():
                Tenant.objects.select_for_update().get(pk=pw.tenant.pk)
                held.set()
                hold.wait(timeout=30)
        except BaseException as exc:
            errors.append(exc)
        finally:
            held.set()
            connections.close_all()

    def attempt(actor: User) -> None:
        try:
            held.wait(timeout=30)
            with tenant_scope(pw.tenant):
                results.append(
                    payout_run_prepare(
                        tenant=pw.tenant, period=NOV, actor=actor, today=dt.date(2026, 12, 3)
                    ).pk
                )
        except ValidationError as exc:
            results.append(exc.code)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=holder)] + [
        threading.Thread(target=attempt, args=(u,)) for u in (pw.finance, pw.finance_b)
    ]
    for t in threads:
        t.start()
    try:
        assert wait_for_a_lock_wait()
    finally:
        hold.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    assert sorted(results, key=str) == sorted([PayoutRun.unscoped.get().pk, "exists"], key=str)
    run = PayoutRun.unscoped.get()
    assert Payout.unscoped.filter(run=run).count() == 3 and run.total == D("3348.00")
    # Every member entry was paid once, by the one run.
    assert Allocation.unscoped.filter(kind="member", paid_in__isnull=True).count() == 0
    assert Allocation.unscoped.filter(kind="member", paid_in__run=run).count() == 6


def test_refusals_store_nothing(world_a):
    pw = payout_world(world_a, kraam_iban=KRAAM_IBAN)
    completed_pregnancy(pw)
    bill(pw, at(2026, 11, 2))
    accept_all(send_batch(pw, NOV, at(2026, 11, 20)), at(2026, 11, 25))
    # A month that is not over.
    with pytest.raises(ValidationError) as exc:
        prepare(pw, DEC, at(2026, 12, 31, 23))
    assert "period" in exc.value.message_dict
    # No account of the IGO to pay from.
    Tenant.objects.filter(pk=pw.tenant.pk).update(iban="")
    pw.tenant.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        prepare(pw, NOV, at(2026, 12, 3))
    assert exc.value.code == "no_debtor"
    Tenant.objects.filter(pk=pw.tenant.pk).update(iban=BAD_IBAN)
    pw.tenant.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        prepare(pw, NOV, at(2026, 12, 3))
    assert exc.value.code == "no_debtor"
    assert not PayoutRun.unscoped.exists() and not Allocation.unscoped.filter(paid_in__isnull=False).exists()


def test_an_earlier_month_waiting_for_release_blocks_the_next(world_a):
    pw = payout_world(world_a, kraam_iban=KRAAM_IBAN)
    completed_pregnancy(pw)
    bill(pw, at(2026, 11, 2))
    accept_all(send_batch(pw, NOV, at(2026, 11, 20)), at(2026, 11, 25))
    prepare(pw, NOV, at(2026, 12, 3))
    with pytest.raises(ValidationError) as exc:
        prepare(pw, DEC, at(2027, 1, 4))
    assert exc.value.code == "earlier_waiting"
    with pytest.raises(ValidationError) as exc:
        prepare(pw, dt.date(2026, 10, 1), at(2027, 1, 4))
    assert exc.value.code == "later_exists"
