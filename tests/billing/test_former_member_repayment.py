"""A former member's debt repaid outside the platform (billing.services.repayments). The story is
tests.scenarios.former_member: the kraamzorg, a member until 15 April 2027, was paid 976.50 in March for a
postnatal phase; the lower 2027 tariffs credited it (-976.50) and claimed it anew (+911.40), so April's run
carries it over at -976.50 + 911.40 = -65.10 and a FORMER_MEMBER_DEBT work item asks for repayment.

It pays back 30.00 on 8 May and 35.10 on 20 May (30.00 + 35.10 = 65.10). Each repayment is a +entry of the
kraamzorg booked when finance records it; the ledger, its statement, the payouts page, the finance home and
books_check all read it.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from billing import finance_home, ledger, reconcile, statements
from billing.files.csv import statement_csv
from billing.models import MemberRepayment, PayoutRun
from billing.selectors import payout_run_left
from billing.services.payouts import payout_run_discard, payout_run_release
from billing.services.repayments import member_debt, member_repayment_record
from igo.dates import midnight
from igo.models import AuditEntry, Role
from igo.tenancy import tenant_scope
from providers.models import MemberOrganisation
from tests.scenarios.clock import travel
from tests.scenarios.former_member import (
    APR,
    MAY,
    Story,
    debt_items,
    kraam_in_debt_after_april,
    late_postnatal_billed_in_may,
)
from tests.scenarios.month_end import books
from tests.scenarios.payouts import D, PayoutWorld, at, paid, prepare

pytestmark = [pytest.mark.django_db, pytest.mark.dated]

UNTIL = dt.date(2027, 4, 15)


@pytest.fixture
def story(world_a) -> Story:
    return kraam_in_debt_after_april(world_a, member_until=UNTIL)


def repay(pw: PayoutWorld, moment: dt.datetime, amount: str, received: dt.date, ref: str) -> MemberRepayment:
    with travel(moment), tenant_scope(pw.tenant):
        return member_repayment_record(
            organisation=MemberOrganisation.objects.get(pk=pw.kraam.pk),
            actor=pw.finance,
            amount=D(amount),
            received_on=received,
            reference=ref,
            today=moment.date(),
        )


def debt(pw: PayoutWorld, today: dt.date) -> D:
    with tenant_scope(pw.tenant):
        return member_debt(organisation=pw.kraam, today=today)


def test_a_part_leaves_the_rest_owed_and_the_whole_resolves_the_item(story):
    pw = story.pw
    [item] = debt_items(pw)
    assert (debt(pw, dt.date(2027, 5, 10)), item.amount) == (D("65.10"), D("65.10"))

    first = repay(pw, at(2027, 5, 10), "30.00", dt.date(2027, 5, 8), "NL12 overboeking 8-5")

    # 65.10 - 30.00 = 35.10 owed; the item stays open with the rest.
    assert debt(pw, dt.date(2027, 5, 10)) == D("35.10")
    item.refresh_from_db()
    assert (item.resolved_at, item.amount) == (None, D("35.10"))
    assert "35,10" in item.message and "30,00" in item.message
    entry = AuditEntry.objects.get(action="member.repayment", object_id=str(first.pk))
    assert (entry.details["debt_before"], entry.details["debt_after"], entry.details["resolved"]) == (
        "65.10",
        "35.10",
        False,
    )
    books(pw, dt.date(2027, 5, 10))

    # More than the rest is refused on its field, with nothing stored.
    with pytest.raises(ValidationError) as exc:
        repay(pw, at(2027, 5, 21), "35.11", dt.date(2027, 5, 20), "rest")
    assert list(exc.value.message_dict) == ["amount"]
    assert MemberRepayment.unscoped.count() == 1

    repay(pw, at(2027, 5, 21), "35.10", dt.date(2027, 5, 20), "NL12 rest 20-5")

    assert debt(pw, dt.date(2027, 5, 21)) == D("0.00")
    item.refresh_from_db()
    assert item.resolved_at is not None and item.amount == D("0.00")
    assert "35,10" in item.resolution_note and "20-05-2027" in item.resolution_note
    books(pw, dt.date(2027, 5, 21))
    # Owing nothing, a further repayment is refused.
    with pytest.raises(ValidationError) as exc:
        repay(pw, at(2027, 5, 22), "1.00", dt.date(2027, 5, 22), "te veel")
    assert list(exc.value.message_dict) == ["amount"]

    # The ledger, the statement and the finance home read both repayments: May's statement of the
    # kraamzorg shows 30.00 + 35.10 = 65.10 repaid, not yet netted off in a payout.
    with travel(at(2027, 5, 22)), tenant_scope(pw.tenant):
        month = ledger.month_totals(period=MAY, today=dt.date(2027, 5, 22)).member(pw.kraam.pk)
        statement = statements.member_statement(
            tenant=pw.tenant, organisation=pw.kraam, period=MAY, today=dt.date(2027, 5, 22)
        )
        unpaid = ledger.unpaid_totals(until=midnight(dt.date(2027, 5, 23)), today=dt.date(2027, 5, 22))
        home = finance_home.finance_home(today=dt.date(2027, 5, 22))
        csv_text = statement_csv(statement).decode("utf-8-sig")
    assert (month.repaid, month.repaid_open, month.allocated) == (D("65.10"), D("65.10"), D("0.00"))
    assert (statement.totals.repaid, [r.amount for r in statement.repayments]) == (
        D("65.10"),
        [D("30.00"), D("35.10")],
    )
    assert csv_text.count("repayment") == 2
    # Its unpaid entries -976.50 + 911.40 = -65.10, plus 65.10 repaid: a balance of nothing.
    assert (unpaid[pw.kraam.pk].due, unpaid[pw.kraam.pk].balance) == (D("-65.10"), D("0.00"))
    assert (home.former_debt, home.former_debtors) == (D("0.00"), 0)
    # The next run does not open the debt again.
    with tenant_scope(pw.tenant):
        payout_run_release(run=story.april, actor=pw.finance_b)
    with pytest.raises(ValidationError):  # May: nothing to pay anyone (the kraamzorg's balance is 0.00)
        prepare(pw, MAY, at(2027, 6, 2))
    assert [i.pk for i in debt_items(pw) if i.resolved_at is None] == []
    books(pw, dt.date(2027, 6, 2))


def test_a_late_claim_is_paid_in_full_once_the_debt_was_repaid(story):
    """Repaid in full (65.10), then the March birth's postnatal care is recorded late: kraamzorg 911.40. May's
    run pays -976.50 + 911.40 + 65.10 + 911.40 = 911.40, the repayment netted off in that payout; without it
    the run would pay 911.40 - 65.10 = 846.30 and take the debt twice."""
    pw = story.pw
    with tenant_scope(pw.tenant):
        payout_run_release(run=story.april, actor=pw.finance_b)
    repayment = repay(pw, at(2027, 5, 5), "65.10", dt.date(2027, 5, 4), "NL12 terugbetaling")
    may = late_postnatal_billed_in_may(story)

    assert paid(may)["Kraamzorg Noord"] == D("911.40")
    repayment.refresh_from_db()
    with tenant_scope(pw.tenant):
        kraam_payout = PayoutRun.objects.get(pk=may.pk).payouts.get(organisation=pw.kraam)
        shown = statements.payout_statement(payout=kraam_payout)
    assert repayment.netted_in_id == kraam_payout.pk
    assert shown.total == kraam_payout.amount == D("911.40")
    assert [r.amount for r in shown.repayments] == [D("65.10")]
    books(pw, dt.date(2027, 6, 2))
    # Discarding the run makes the repayment open again, like the entries.
    with tenant_scope(pw.tenant):
        payout_run_discard(run=PayoutRun.objects.get(pk=may.pk), actor=pw.finance)
    repayment.refresh_from_db()
    assert repayment.netted_in_id is None
    assert debt(pw, dt.date(2027, 6, 2)) == D("0.00")
    books(pw, dt.date(2027, 6, 2))


def test_a_current_member_and_bad_input_are_refused_on_their_fields(world_a):
    story = kraam_in_debt_after_april(world_a, member_until=None)
    with pytest.raises(ValidationError) as exc:
        repay(story.pw, at(2027, 5, 10), "10.00", dt.date(2027, 5, 8), "ref")
    assert list(exc.value.message_dict) == ["amount"]  # still a member: its payouts net the debt off
    MemberOrganisation.unscoped.filter(pk=story.pw.kraam.pk).update(member_until=UNTIL)
    with pytest.raises(ValidationError) as exc:
        repay(story.pw, at(2027, 5, 10), "0.00", dt.date(2027, 5, 11), " ")
    assert sorted(exc.value.message_dict) == ["amount", "received_on", "reference"]
    assert not MemberRepayment.unscoped.exists()


def test_finance_records_it_on_its_page_and_another_igo_gets_404(story, client_for, world_a, world_b):
    pw = story.pw
    base = f"/t/{pw.tenant.slug}"
    url = f"{base}/payouts/former-members/{pw.kraam.pk}/repayment/"
    [item] = debt_items(pw)
    with travel(at(2027, 5, 10, 11)):
        client = client_for(pw.finance)
        payouts_page = client.get(f"{base}/payouts/").content.decode()
        assert f'href="{url}"' in payouts_page and 'data-testid="former-debts"' in payouts_page
        assert f'href="{url}"' in client.get(f"{base}/work-queue/").content.decode()
        home = client.get(f"{base}/finance/").content.decode()
        assert 'data-testid="home-former-debt"' in home and "65,10" in home
        page = client.get(url)
        assert page.status_code == 200 and "65,10" in page.content.decode()

        # Over the debt: 400, the field's error in Dutch, the input kept, nothing stored.
        over = client.post(url, {"amount": "70,00", "received_on": "2027-05-08", "reference": "NL12 8-5"})
        assert over.status_code == 400
        assert over.context["form"].errors["amount"] == [
            "Meer dan de schuld: Kraamzorg Noord is € 65,10 schuldig. Boek er hoogstens dat; wat zij te "
            "veel betaalde, wordt haar buiten het platform terugbetaald."
        ]
        assert 'value="70,00"' in over.content.decode() and 'value="NL12 8-5"' in over.content.decode()
        assert (
            client.post(url, {"amount": "veel", "received_on": "2027-05-08", "reference": "x"}).status_code
            == 400
        )
        assert not MemberRepayment.unscoped.exists()

        done = client.post(url, {"amount": "65,10", "received_on": "2027-05-08", "reference": "NL12 8-5"})
        assert done.status_code == 302 and done["Location"] == f"{base}/payouts/"
        # Another IGO's finance: the organisation is not found.
        other = client_for(world_b.user(Role.IGO_FINANCE))
        other_url = f"/t/{world_b.tenant.slug}/payouts/former-members/{pw.kraam.pk}/repayment/"
        assert other.get(other_url).status_code == 404
        assert (
            other.post(
                other_url, {"amount": "1,00", "received_on": "2027-05-08", "reference": "x"}
            ).status_code
            == 404
        )
        assert client_for(world_a.user(Role.MIDWIFE)).get(url).status_code == 403
    item.refresh_from_db()
    assert item.resolved_at is not None
    assert MemberRepayment.unscoped.get().amount == D("65.10")
    with tenant_scope(pw.tenant):
        run = PayoutRun.objects.get(period=APR)
        left = {r.organisation.pk: r for r in payout_run_left(run=run, today=dt.date(2027, 5, 10))}
    # April's run page reads what was booked up to the end of April: the repayment of May is not in it.
    assert left[pw.kraam.pk].reason == "carried" and left[pw.kraam.pk].totals.balance == D("-65.10")
    report = reconcile.books_check(tenant=pw.tenant, today=dt.date(2027, 5, 10))
    assert report.ok, reconcile.problem_lines(report)
