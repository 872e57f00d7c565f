"""A controller's month end across the three billing changes of 7 December 2026: a line rejected by the
insurer, a retroactive tariff change (billing.services.repricing) that replaces it without a credit, the next
batch, the insurer's answers, the payout runs, the member statements and books_check. Every figure finance
sees is read the way its page reads it (tests.scenarios.month_end) and held against the others and against
amounts worked out by hand. The world: tests.scenarios.repricing.

Splits by hand (5 % overhead, 2 % reserve, then fixed shares):

    A prenatal 1200.00 (2026, stays): practice 781.20, hospital 334.80
    A natal     900.00 -> 950.00:     practice 502.20 + hospital 334.80 -> 530.10 + 353.40
    A postnatal 1500.00 -> 1600.00:   practice 418.50 + kraam 976.50 -> 446.40 + 1041.60
    B prenatal  600.00 -> 650.00 (50 % of 1200 -> 1300, miscarriage week 13):
                                      practice 390.60 + hospital 167.40 -> 423.15 + 181.35
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from billing.models import (
    Allocation,
    BatchLine,
    ClaimLine,
    LineStatus,
    SplitRule,
    WorkItem,
    WorkReason,
)
from billing.services.payouts import payout_run_release
from billing.services.split_rules import split_rule_create
from igo.tenancy import tenant_scope
from providers.models import MemberOrganisation
from providers.services import organisation_end_membership
from tests.scenarios.billing import split_of
from tests.scenarios.clock import travel
from tests.scenarios.month_end import (
    assert_batch_agrees,
    assert_desk_agrees,
    at,
    books,
    desk,
    run_figures,
    statement_figures,
)
from tests.scenarios.payouts import PayoutWorld, accept_all, answer, bill, lines, prepare, send_batch
from tests.scenarios.repricing import (
    all_lines,
    born_in_january,
    miscarriage_in_february,
    reprice,
    repricing_world,
)

pytestmark = [pytest.mark.dated, pytest.mark.clock(at(2027, 1, 2))]

D = Decimal
FEB = dt.date(2027, 2, 1)
MAR = dt.date(2027, 3, 1)
PRACTICE, HOSPITAL, KRAAM = "Praktijk De Wieg", "Ziekenhuis Oost", "Kraamzorg Noord"


@pytest.fixture
def pw(world_a) -> PayoutWorld:
    return repricing_world(world_a)


def _release(pw: PayoutWorld, run, moment: dt.datetime) -> None:
    with travel(moment), tenant_scope(pw.tenant):
        payout_run_release(run=run, actor=pw.finance_b)


def parts_of(pw: PayoutWorld, line: ClaimLine) -> dict[str, Decimal]:
    """A line's current parts: the IGO's by kind, the members' by name."""
    return {org or kind: amount for (kind, org), amount in split_of(line).items()}


def _open_items(pw: PayoutWorld, reason: str) -> int:
    return WorkItem.unscoped.filter(tenant=pw.tenant, reason=reason, resolved_at__isnull=True).count()


def test_a_month_with_a_rejection_then_new_tariffs_then_the_next_batch_all_agree(pw, client_for):
    a, b = born_in_january(pw), miscarriage_in_february(pw)

    # February: the run bills A's three phases and B's interrupted prenatal phase (50 %).
    bill(pw, at(2027, 2, 21))
    d = desk(pw, at(2027, 2, 22))
    assert_desk_agrees(d)
    assert (d.ready.lines, d.ready.total, d.ready.episodes) == (4, D("4200.00"), 2)
    assert (d.claims.lines, d.claims.total) == (4, D("4200.00"))
    feb = send_batch(pw, FEB, at(2027, 2, 25))
    assert_batch_agrees(pw, feb, D("4200.00"))

    # 1 March: the insurer rejects A's postnatal line and accepts the rest.
    sent_a, sent_b = lines(a), lines(b)
    answer(
        feb,
        at(2027, 3, 1),
        accept=[sent_a["prenatal"], sent_a["natal"], sent_b["prenatal"]],
        reject=[sent_a["postnatal"]],
    )
    assert_batch_agrees(pw, feb, D("4200.00"))
    d = desk(pw, at(2027, 3, 1, 12))
    assert_desk_agrees(d)
    assert (d.rejected.lines, d.rejected.total) == (1, D("1500.00"))
    assert d.ready.lines == 0
    assert {(r.reason, r.items) for r in d.home.waiting} == {(WorkReason.REJECTED, 1)}
    # Held back: the rejected line's parts; due: the accepted lines' members' parts.
    assert d.held == {pw.practice.pk: D("418.50"), pw.kraam.pk: D("976.50")}
    assert d.home.payouts_due == D("1674.00") + D("837.00")
    books(pw, dt.date(2027, 3, 1))

    # 2 March: February's payout run pays what the home said; the statements show the rejected parts held.
    feb_run = prepare(pw, FEB, at(2027, 3, 2))
    assert run_figures(feb_run) == {PRACTICE: D("1674.00"), HOSPITAL: D("837.00")}
    _release(pw, feb_run, at(2027, 3, 3))
    feb_statements = statement_figures(pw, FEB, at(2027, 3, 3, 12))
    assert (feb_statements[PRACTICE].paid, feb_statements[PRACTICE].held) == (D("1674.00"), D("418.50"))
    assert (feb_statements[KRAAM].paid, feb_statements[KRAAM].held) == (D("0.00"), D("976.50"))
    assert feb_statements[HOSPITAL].allocated == D("837.00")
    books(pw, dt.date(2027, 3, 3))

    # 15 March: the 2027 tariffs, retroactive to 1 January. A's prenatal phase (2026) stays; the accepted
    # natal and B's prenatal lines are credited and claimed anew; the rejected postnatal line is not credited:
    # taken out of use, its parts reversed, its work item closed, the phase claimed anew under a new number.
    result = reprice(pw, at(2027, 3, 15))
    assert (result.credited, result.rebilled) == (2, 3)
    postnatal = all_lines(a, "postnatal")
    assert [(x.sign, x.amount, x.status, x.is_current) for x in postnatal] == [
        ("debit", D("1500.00"), LineStatus.REJECTED, False),
        ("debit", D("1600.00"), LineStatus.READY, True),
    ]
    assert postnatal[1].number != postnatal[0].number
    assert postnatal[1].explanation["repriced"]["replaces"] == postnatal[0].number
    assert not postnatal[1].explanation["repriced"]["credit"]
    assert not Allocation.unscoped.filter(claim_line=postnatal[0], is_current=True).exists()
    assert _open_items(pw, WorkReason.REJECTED) == 0

    d = desk(pw, at(2027, 3, 15, 12))
    assert_desk_agrees(d)
    # Ready: credits -900.00 and -600.00, new claims 950.00, 1600.00 and 650.00.
    assert (d.ready.lines, d.ready.total, d.ready.episodes) == (5, D("1700.00"), 2)
    assert d.rejected.lines == 0 and d.home.waiting == []
    # The claims list: the current lines, A prenatal 1200 + natal 950 + postnatal 1600 and B prenatal 650
    # (4400.00), and the two credits still to send (-1500.00); the rejected line replaced is history.
    assert (d.claims.lines, d.claims.total) == (6, D("2900.00"))
    # The rejected parts are no longer held: booked in February, reversed today, they settle at nothing.
    assert d.held == {}
    # The claims list's page and its CSV under the ready card's filter say the same.
    with travel(at(2027, 3, 15, 13)):
        browser = client_for(pw.finance)
        page = browser.get(reverse("claim_list", kwargs={"tenant_slug": pw.tenant.slug}), {"status": "ready"})
        csv_file = browser.get(
            reverse("claim_list_export", kwargs={"tenant_slug": pw.tenant.slug}),
            {"status": "ready", "convention": "intl"},
        )
    assert page.context["summary"] == d.ready
    rows = list(csv.DictReader(io.StringIO(csv_file.content.decode("utf-8-sig"))))
    assert sorted(D(r["amount"]) for r in rows) == [
        D("-900.00"),
        D("-600.00"),
        D("650.00"),
        D("950.00"),
        D("1600.00"),
    ]
    books(pw, dt.date(2027, 3, 15))

    # 1 April: March's batch carries the five lines; 5 April the insurer accepts them all.
    ready_card = d.home.ready
    mar = send_batch(pw, MAR, at(2027, 4, 1))
    # What the ready card said is what went out (credits included).
    assert_batch_agrees(pw, mar, ready_card.total)
    assert BatchLine.unscoped.filter(batch=mar).count() == ready_card.lines
    assert sorted(BatchLine.unscoped.filter(batch=mar).values_list("amount", flat=True)) == [
        D("-900.00"),
        D("-600.00"),
        D("650.00"),
        D("950.00"),
        D("1600.00"),
    ]
    accept_all(mar, at(2027, 4, 5))
    assert_batch_agrees(pw, mar, D("1700.00"))
    d = desk(pw, at(2027, 4, 5, 12))
    assert_desk_agrees(d)
    # Due: practice -502.20 + 530.10 + 446.40 - 390.60 + 423.15 = 506.85 (the rejected 418.50 and its
    # reversal cancel); hospital -334.80 + 353.40 - 167.40 + 181.35 = 32.55; kraam 1041.60 (976.50 and its
    # reversal cancel).
    assert d.due == {pw.practice.pk: D("506.85"), pw.hospital.pk: D("32.55"), pw.kraam.pk: D("1041.60")}
    assert d.home.payouts_due == D("1581.00")

    mar_run = prepare(pw, MAR, at(2027, 4, 6))
    assert run_figures(mar_run) == {PRACTICE: D("506.85"), HOSPITAL: D("32.55"), KRAAM: D("1041.60")}
    _release(pw, mar_run, at(2027, 4, 7))
    d = desk(pw, at(2027, 4, 7, 12))
    assert_desk_agrees(d)
    assert d.due == {} and d.held == {} and d.home.payouts_due == D("0.00")
    mar_statements = statement_figures(pw, MAR, at(2027, 4, 7, 12))
    # March's statements: what the run paid of March's entries, plus the February entries of the rejected
    # line that it paid together with their reversal (booked in February, they stay on February's statement).
    assert mar_statements[HOSPITAL].paid == D("32.55")
    assert mar_statements[PRACTICE].paid == D("506.85") - D("418.50")
    assert mar_statements[KRAAM].paid == D("1041.60") - D("976.50")
    feb_statements = statement_figures(pw, FEB, at(2027, 4, 7, 12))
    assert (feb_statements[PRACTICE].held, feb_statements[KRAAM].held) == (D("0.00"), D("0.00"))
    assert feb_statements[PRACTICE].paid == D("1674.00") + D("418.50")
    # Over the two months each member got its share of what the insurer now pays: A 1200 + 950 + 1600 and
    # B 650 (4400.00), 93 % of it for the members.
    paid = {
        name: run_figures(feb_run).get(name, D("0")) + run_figures(mar_run).get(name, D("0"))
        for name in (PRACTICE, HOSPITAL, KRAAM)
    }
    assert paid == {
        PRACTICE: D("781.20") + D("530.10") + D("446.40") + D("423.15"),
        HOSPITAL: D("334.80") + D("353.40") + D("181.35"),
        KRAAM: D("1041.60"),
    }
    assert sum(paid.values()) == D("4400.00") * D("0.93")
    books(pw, dt.date(2027, 4, 7))


def test_a_line_credited_while_waiting_for_its_answer_then_rejected_still_reconciles(pw):
    """The re-pricing credits A's natal line while February's batch waits for its answer; then the insurer
    rejects that old line. Its credit, made but not sent, would take back nothing (8017: no debit known): it
    is withdrawn at the rejection, its parts and the rejected line's reversed, the new claim stays, and
    every figure still agrees."""
    a, b = born_in_january(pw), miscarriage_in_february(pw)
    bill(pw, at(2027, 2, 21))
    feb = send_batch(pw, FEB, at(2027, 2, 25))
    sent_a, sent_b = lines(a), lines(b)

    result = reprice(pw, at(2027, 3, 15))  # nothing answered yet: all four lines pending
    assert (result.credited, result.rebilled) == (3, 3)  # A prenatal (2026) stays
    natal_credit = all_lines(a, "natal")[1]
    assert (natal_credit.amount, natal_credit.corrects_id) == (D("-900.00"), sent_a["natal"].pk)

    # 20 March: the answer to February: A's natal line rejected, the rest accepted.
    answer(
        feb,
        at(2027, 3, 20),
        accept=[sent_a["prenatal"], sent_a["postnatal"], sent_b["prenatal"]],
        reject=[sent_a["natal"]],
    )
    assert_batch_agrees(pw, feb, D("4200.00"))
    natal_credit.refresh_from_db()
    assert natal_credit.status == LineStatus.WITHDRAWN
    # Neither the rejected line nor its withdrawn credit keeps a part: 502.20 - 502.20 = 0 for the practice.
    assert (
        Allocation.unscoped.filter(claim_line__in=[sent_a["natal"], natal_credit], is_current=True).count()
        == 0
    )
    assert lines(a)["natal"].amount == D("950.00")  # the new claim stays
    # The rejected line was already replaced: no work item, nothing in the rejected card, nothing held.
    assert _open_items(pw, WorkReason.REJECTED) == 0
    assert _open_items(pw, WorkReason.CREDIT_OF_REJECTED) == 0
    d = desk(pw, at(2027, 3, 20, 12))
    assert_desk_agrees(d)
    assert d.rejected.lines == 0 and d.held == {}
    books(pw, dt.date(2027, 3, 20))

    mar = send_batch(pw, MAR, at(2027, 4, 1))
    # No credit of the rejected natal line: -1500 (A postnatal) - 600 (B) + 950 + 1600 + 650 = 1100.
    assert_batch_agrees(pw, mar, D("1100.00"))
    assert not BatchLine.unscoped.filter(batch=mar, claim_line=natal_credit).exists()
    accept_all(mar, at(2027, 4, 5))
    assert_batch_agrees(pw, mar, D("1100.00"))
    assert _open_items(pw, WorkReason.CREDIT_REJECTED) == 0
    d = desk(pw, at(2027, 4, 5, 12))
    assert_desk_agrees(d)
    assert d.rejected.lines == 0 and d.held == {}
    # Due for March's run: February's accepted parts (prenatal 781.20/334.80, postnatal 418.50/976.50,
    # B 390.60/167.40), their credits, the new claims (natal 530.10/353.40, postnatal 446.40/1041.60,
    # B 423.15/181.35); the rejected natal line's parts (502.20/334.80) and their reversal cancel.
    practice = D("781.20") + D("530.10") + D("446.40") + D("423.15")
    hospital = D("334.80") + D("353.40") + D("181.35")
    assert d.due == {pw.practice.pk: practice, pw.hospital.pk: hospital, pw.kraam.pk: D("1041.60")}
    books(pw, dt.date(2027, 4, 5))

    feb_run = prepare(pw, FEB, at(2027, 4, 6))
    _release(pw, feb_run, at(2027, 4, 7))
    mar_run = prepare(pw, MAR, at(2027, 4, 7, 11))
    paid = {
        name: run_figures(feb_run).get(name, D("0")) + run_figures(mar_run).get(name, D("0"))
        for name in (PRACTICE, HOSPITAL, KRAAM)
    }
    assert paid == {PRACTICE: practice, HOSPITAL: hospital, KRAAM: D("1041.60")}
    statement_figures(pw, FEB, at(2027, 4, 7, 12))
    statement_figures(pw, MAR, at(2027, 4, 7, 12))
    books(pw, dt.date(2027, 4, 7))


def test_a_member_gone_before_the_new_claims_gives_back_its_share_and_the_new_claims_wait_for_the_split(pw):
    """Ziekenhuis Oost's membership is recorded in March as ended on 31 December 2026. The re-pricing credits
    the accepted natal and prenatal lines of 2027 (their parts, the hospital's too, mirrored) and claims them
    anew; the new claims would give the hospital a share of a phase that began after its membership ended, so
    they wait for finance undivided (a work item each) while they go to the insurer. Finance makes a split
    rule for 2027 (a share for the hospital refused, a care-based phase without internal rates refused), the
    next run divides the waiting claims, and March's payout pays the members; the hospital's -502.20 is
    carried over."""
    a, b = born_in_january(pw), miscarriage_in_february(pw)
    bill(pw, at(2027, 2, 21))
    feb = send_batch(pw, FEB, at(2027, 2, 25))
    sent_a, sent_b = lines(a), lines(b)
    answer(
        feb,
        at(2027, 3, 1),
        accept=[sent_a["prenatal"], sent_a["natal"], sent_b["prenatal"]],
        reject=[sent_a["postnatal"]],
    )
    feb_run = prepare(pw, FEB, at(2027, 3, 2))
    assert run_figures(feb_run) == {PRACTICE: D("1674.00"), HOSPITAL: D("837.00")}
    _release(pw, feb_run, at(2027, 3, 3))

    with travel(at(2027, 3, 10)), tenant_scope(pw.tenant):
        organisation_end_membership(
            organisation=MemberOrganisation.objects.get(pk=pw.hospital.pk),
            actor=pw.admin,
            until=dt.date(2026, 12, 31),
        )
    reprice(pw, at(2027, 3, 15))
    new_natal, new_b = lines(a)["natal"], lines(b)["prenatal"]
    assert (new_natal.amount, new_b.amount) == (D("950.00"), D("650.00"))
    assert not Allocation.unscoped.filter(claim_line__in=[new_natal, new_b]).exists()
    assert sum(split_of(lines(a)["postnatal"]).values()) == D("1600.00")
    d = desk(pw, at(2027, 3, 15, 12))
    assert_desk_agrees(d)
    assert {(r.reason, r.items) for r in d.home.waiting} == {(WorkReason.NO_SPLIT_RULE, 2)}
    assert (d.ready.lines, d.ready.total) == (5, D("1700.00"))
    books(pw, dt.date(2027, 3, 15))

    # 20 March: finance corrects the split rule for 2027. A share for the hospital is refused, and so is a
    # phase divided by care without internal rates; nothing is stored.
    phases = {
        "prenatal": {"method": "fixed", "shares": {pw.practice.pk: 100}},
        "natal": {"method": "fixed", "shares": {pw.practice.pk: 100}},
        "postnatal": {"method": "fixed", "shares": {pw.practice.pk: 30, pw.kraam.pk: 70}},
    }
    head = {"overhead_pct": D("5"), "reserve_pct": D("2")}
    with travel(at(2027, 3, 20)), tenant_scope(pw.tenant):
        for wrong, field in (
            (
                {**phases, "natal": {"method": "fixed", "shares": {pw.practice.pk: 60, pw.hospital.pk: 40}}},
                "phases",
            ),
            ({**phases, "natal": {"method": "care", "shares": {}, "minimums": {}}}, "natal"),
        ):
            with pytest.raises(ValidationError) as refused:
                split_rule_create(tenant=pw.tenant, actor=pw.finance, year=2027, phases=wrong, **head)
            assert list(refused.value.message_dict) == [field], refused.value
        assert not SplitRule.objects.filter(year=2027).exists()
        split_rule_create(tenant=pw.tenant, actor=pw.finance, year=2027, phases=phases, **head)
    bill(pw, at(2027, 3, 20, 11))
    # natal 950.00: 47.50 + 19.00 + practice 883.50; B prenatal 650.00: 32.50 + 13.00 + practice 604.50.
    assert parts_of(pw, new_natal) == {"overhead": D("47.50"), "reserve": D("19.00"), PRACTICE: D("883.50")}
    assert parts_of(pw, new_b) == {"overhead": D("32.50"), "reserve": D("13.00"), PRACTICE: D("604.50")}
    d = desk(pw, at(2027, 3, 20, 12))
    assert_desk_agrees(d)
    assert d.home.waiting == []
    books(pw, dt.date(2027, 3, 20))

    mar = send_batch(pw, MAR, at(2027, 4, 1))
    assert_batch_agrees(pw, mar, D("1700.00"))
    accept_all(mar, at(2027, 4, 5))
    d = desk(pw, at(2027, 4, 5, 12))
    assert_desk_agrees(d)
    # practice: credits -502.20 - 390.60, postnatal 446.40, natal 883.50, B 604.50 = 1041.60 (the rejected
    # postnatal line's 418.50 and its reversal cancel); kraam 1041.60; the hospital gives back its parts of
    # the credited lines, 334.80 + 167.40.
    assert d.due == {pw.practice.pk: D("1041.60"), pw.kraam.pk: D("1041.60"), pw.hospital.pk: D("-502.20")}
    mar_run = prepare(pw, MAR, at(2027, 4, 6))
    assert run_figures(mar_run) == {PRACTICE: D("1041.60"), KRAAM: D("1041.60")}
    # The finance home's "payouts due" is what that run pays: a member below nothing is carried over.
    assert d.home.payouts_due == D("2083.20")
    _release(pw, mar_run, at(2027, 4, 7))
    d = desk(pw, at(2027, 4, 7, 12))
    assert_desk_agrees(d)
    assert d.due == {pw.hospital.pk: D("-502.20")}
    statement_figures(pw, MAR, at(2027, 4, 7, 12))
    books(pw, dt.date(2027, 4, 7))
