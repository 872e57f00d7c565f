"""A credit the insurer refuses (billing.services.rejected_credits): the work item, the ledger, the books check
and sending the credit again.

The world is tests.scenarios.payouts: one completed pregnancy with Zilveren Kruis, prenatal 1200.00, natal 900.00,
postnatal 1500.00 (3600.00), each divided overhead 5 % and reserve 2 %, the rest by the split rule; natal: Praktijk
De Wieg 60 % (502.20), Ziekenhuis Oost 40 % (334.80), overhead 45.00, reserve 18.00. November's batch is accepted
and paid out. On 5 December labour is moved one day earlier: the billing run credits the natal and prenatal lines
(900.00 and 1200.00) and bills them anew at the same amounts. December's batch goes out on 18 December; on
22 December the insurer refuses the natal credit 1-NAT-C2 (its code 0302) and accepts the other three lines, so it
keeps paying 1-NAT-D1 as well as 1-NAT-D3: 1800.00 for a 900.00 phase, 4500.00 for a 3600.00 episode.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from billing import ledger, reconcile, selectors
from billing.finance_home import finance_home, rejected_filter
from billing.models import Allocation, AllocationKind, BatchLine, ClaimBatch, ClaimLine, LineStatus, WorkItem
from billing.services.rejected_credits import rejected_credit_resend
from igo.models import AuditEntry, Role
from igo.tenancy import tenant_scope
from pregnancies.models import AccessAction, AccessLogEntry, Episode
from tests.scenarios.clock import local, travel
from tests.scenarios.finance import ERROR, OK, act, euro
from tests.scenarios.http import row
from tests.scenarios.payouts import (
    KRAAM_IBAN,
    PayoutWorld,
    accept_all,
    answer,
    at,
    bill,
    completed_pregnancy,
    lines,
    paid,
    payout_world,
    prepare,
    send_batch,
)

pytestmark = [pytest.mark.django_db, pytest.mark.dated]
D = Decimal
Z = D("0.00")
NOV, DEC, JAN = dt.date(2026, 11, 1), dt.date(2026, 12, 1), dt.date(2027, 1, 1)
PRACTICE_NATAL, HOSPITAL_NATAL = D("502.20"), D("334.80")


@dataclass
class Refused:
    pw: PayoutWorld
    episode: Episode
    old: ClaimLine  # 1-NAT-D1, accepted in November
    credit: ClaimLine  # 1-NAT-C2, refused in December
    new: ClaimLine  # 1-NAT-D3, accepted in December
    december: ClaimBatch

    def ref(self, text: str) -> str:
        """A line reference of the episode: "NAT-C2" -> "<episode>-NAT-C2"."""
        return f"{self.episode.pk}-{text}"

    def url(self, name: str, **kwargs: object) -> str:
        return reverse(name, kwargs={"tenant_slug": self.pw.tenant.slug, **kwargs})


@pytest.fixture
def r(world_a) -> Refused:
    pw = payout_world(world_a, kraam_iban=KRAAM_IBAN)
    ep = completed_pregnancy(pw)
    bill(pw, at(2026, 11, 2))
    first = lines(ep)
    accept_all(send_batch(pw, NOV, at(2026, 11, 20)), at(2026, 11, 25))
    from billing.services.payouts import payout_run_release

    run = prepare(pw, NOV, at(2026, 12, 3))
    with travel(at(2026, 12, 3, 11)), tenant_scope(pw.tenant):
        payout_run_release(run=run, actor=pw.finance_b)
    # Labour one day earlier: the natal (and prenatal) line is credited and billed anew.
    with travel(at(2026, 12, 5)):
        from django.utils import timezone

        Episode.unscoped.filter(pk=ep.pk).update(
            labour_started_at=local(2026, 8, 13, 22), changed_at=timezone.now()
        )
    bill(pw, at(2026, 12, 5, 12))
    credit = ClaimLine.unscoped.get(corrects=first["natal"])
    december = send_batch(pw, DEC, at(2026, 12, 18))
    sent = list(ClaimLine.unscoped.filter(batch_line__batch=december))
    answer(
        december,
        at(2026, 12, 22),
        reject=[credit],
        accept=[line for line in sent if line.pk != credit.pk],
        code="0302",
    )
    return Refused(pw, ep, first["natal"], ClaimLine.unscoped.get(pk=credit.pk), lines(ep)["natal"], december)


def _check(r: Refused, day: dt.date) -> reconcile.BooksReport:
    with travel(local(day.year, day.month, day.day, 12)):
        return reconcile.books_check(tenant=r.pw.tenant, today=day)


def test_a_refused_credit_opens_a_work_item_and_is_held_back(r, client_for):
    assert (r.credit.number, r.credit.amount, r.credit.status) == (
        r.ref("NAT-C2"),
        D("-900.00"),
        LineStatus.REJECTED,
    )
    assert (r.new.number, r.new.status) == (r.ref("NAT-D3"), LineStatus.ACCEPTED)
    # The work item: its own kind, in Dutch, the money the insurer holds.
    item = WorkItem.unscoped.get(resolved_at__isnull=True)
    assert (item.episode_id, item.phase, item.reason, item.amount) == (
        r.episode.pk,
        "natal",
        "credit_rejected",
        D("900.00"),
    )
    assert r.ref("NAT-C2") in item.message and r.ref("NAT-D1") in item.message and "0302" in item.message
    assert "geweigerd" in item.message and "nog vast" in item.message
    assert not WorkItem.unscoped.filter(reason="rejected").exists()
    with tenant_scope(r.pw.tenant):
        # The ledger: the credit's parts are held back, not charged to the members.
        assert set(ledger.held_lines().values_list("number", flat=True)) == {r.ref("NAT-C2")}
        practice = ledger.month_totals(period=DEC, today=dt.date(2027, 1, 4)).member(r.pw.practice.pk)
        # December: the natal credit -502.20 (held), the new natal line +502.20 and the prenatal pair
        # -781.20 + 781.20 (payable).
        assert (practice.paid, practice.due, practice.held, practice.pending) == (
            Z,
            PRACTICE_NATAL,
            -PRACTICE_NATAL,
            Z,
        )
        assert (
            ledger.year_overview(year=2026)[(AllocationKind.MEMBER, r.pw.practice.pk)].held == -PRACTICE_NATAL
        )
        # The claims list's rejected filter and the finance home's card count the credit.
        refused = selectors.claim_lines_filtered(rejected_filter(dt.date(2027, 1, 4)))
        assert list(refused.values_list("number", flat=True)) == [r.ref("NAT-C2")]
        home = finance_home(today=dt.date(2027, 1, 4))
        assert (home.rejected.lines, home.rejected.total) == (1, D("-900.00"))
    # December's payout pays the new natal line: the members keep what the insurer keeps paying.
    assert paid(prepare(r.pw, DEC, at(2027, 1, 4))) == {
        "Praktijk De Wieg": PRACTICE_NATAL,
        "Ziekenhuis Oost": HOSPITAL_NATAL,
    }
    # The books check fails: per phase and per insurer the insurer accepted more than is claimed.
    report = _check(r, dt.date(2027, 1, 4))
    assert not report.ok
    assert report.kinds() == {"accepted_over_claimed": 1, "insurer_accepted_over_claimed": 1}
    assert report.insurers["3311"]["claimed"] == D("3600.00")
    assert report.insurers["3311"]["accepted"] == D("4500.00")
    # Without its work item the refused credit is reported too.
    WorkItem.unscoped.filter(pk=item.pk).update(resolved_at=at(2027, 1, 4))
    assert _check(r, dt.date(2027, 1, 4)).kinds()["refused_credit_unattended"] == 1
    WorkItem.unscoped.filter(pk=item.pk).update(resolved_at=None)
    # The screens.
    with travel(at(2027, 1, 4)):
        finance = client_for(r.pw.finance)  # logged in at the moment (a session from before has expired)
        queue = finance.get(r.url("work_queue")).content.decode()
        assert r.ref("NAT-C2") in row(queue, f"work-item-{item.pk}")
        assert f'data-testid="resend-credit-{r.credit.pk}"' in queue
        claims = finance.get(r.url("claim_list") + "?status=rejected").content.decode()
        assert 'data-lines="1"' in claims and f"#{r.episode.pk}" in claims
        assert "1 regel" in row(finance.get(r.url("finance_home")).content.decode(), "home-rejected-link")
        page = finance.get(r.url("claim_line_explain", pk=r.credit.pk)).content.decode()
        assert 'data-testid="explain-refused-credit"' in page
        episode_page = finance.get(r.url("episode_claims", pk=r.episode.pk)).content.decode()
        assert f'data-testid="resend-credit-{r.credit.pk}"' in episode_page
        # The revenue page: the practice's refused credit part is held back (net counts what the insurer pays).
        revenue = finance.get(r.url("revenue") + "?year=2026").content.decode()
        assert row(revenue, f"revenue-held-member-{r.pw.practice.pk}") == euro(-PRACTICE_NATAL)


def test_sending_the_credit_again_settles_the_books(r, client_for):
    item = WorkItem.unscoped.get(reason="credit_rejected")
    with travel(at(2027, 1, 5)):
        finance = client_for(r.pw.finance)
        assert act(finance, r.url("claim_line_credit_resend", pk=r.credit.pk), {"next": "line"}) == (
            r.url("claim_line_explain", pk=r.credit.pk),
            OK,
        )
    again = ClaimLine.unscoped.get(corrects=r.old, status=LineStatus.READY)
    assert (again.number, again.sign, again.amount, again.is_current) == (
        r.ref("NAT-C4"),
        "credit",
        D("-900.00"),
        False,
    )
    assert WorkItem.unscoped.get(pk=item.pk).resolved_at is not None
    audit = AuditEntry.objects.get(action="claim_line.credit_resend")
    assert (audit.actor, audit.object_id, audit.details["resent_as"]) == (
        r.pw.finance,
        str(r.credit.pk),
        r.ref("NAT-C4"),
    )
    assert AccessLogEntry.unscoped.filter(
        user=r.pw.finance, action=AccessAction.UPDATE, object_id=str(r.credit.pk)
    ).exists()
    # The refused credit's parts are reversed as of now; the new credit carries them.
    parts = {a.organisation_id: a.amount for a in Allocation.unscoped.filter(claim_line=again, kind="member")}
    assert parts == {r.pw.practice.pk: -PRACTICE_NATAL, r.pw.hospital.pk: -HOSPITAL_NATAL}
    assert not Allocation.unscoped.filter(claim_line=r.credit, is_current=True).exists()
    with tenant_scope(r.pw.tenant):
        assert not ledger.held_lines().exists()
        jan = ledger.month_totals(period=JAN, today=dt.date(2027, 1, 6)).member(r.pw.practice.pk)
        # The refused credit's reversal +502.20 is payable with nothing to pay yet (its pair was never
        # paid); the new credit's -502.20 waits for its batch.
        assert (jan.paid, jan.due, jan.held, jan.pending) == (Z, PRACTICE_NATAL, Z, -PRACTICE_NATAL)
        assert not selectors.claim_lines_filtered(rejected_filter(dt.date(2027, 1, 6))).exists()
    # On its way, the credit counts: the books close.
    assert _check(r, dt.date(2027, 1, 6)).ok
    # January's batch holds the new credit (it repeats what the insurer received with 1-NAT-D1); accepted.
    january = send_batch(r.pw, JAN, at(2027, 1, 18))
    sent = BatchLine.unscoped.get(batch=january)
    assert (sent.number, sent.amount, sent.corrects_number) == (
        r.ref("NAT-C4"),
        D("-900.00"),
        r.ref("NAT-D1"),
    )
    accept_all(january, at(2027, 1, 22))
    report = _check(r, dt.date(2027, 1, 25))
    assert report.ok, report.problems
    # The summary's identity counts the refused credit and the one sent again: claimed 2700.00 = accepted
    # 3600.00 + rejected -900.00; net of the refused credit the insurer accepted what is claimed, 3600.00.
    figures = report.insurers["3311"]
    assert (figures["claimed"], figures["accepted"], figures["rejected"], figures["open"]) == (
        D("2700.00"),
        D("3600.00"),
        D("-900.00"),
        Z,
    )
    with tenant_scope(r.pw.tenant):
        natal = Allocation.unscoped.filter(
            claim_line__episode=r.episode, claim_line__phase="natal", organisation=r.pw.practice
        )
        # What the practice has for the natal phase in all: one natal line's part, as the insurer pays one.
        made = sum((a.amount for a in natal), Z)
        undone = sum((a.amount for a in natal.filter(superseded_at__isnull=False)), Z)
        assert made - undone == PRACTICE_NATAL


def test_only_finance_sends_a_credit_again_and_a_refusal_stores_nothing(r, client_for, world_b):
    before = ClaimLine.unscoped.count(), AuditEntry.objects.count(), Allocation.unscoped.count()
    path = r.url("claim_line_credit_resend", pk=r.credit.pk)
    with travel(at(2027, 1, 5)):
        # An administrator may look at the books, not change them; no button for them.
        admin = client_for(r.pw.admin)
        assert admin.post(path).status_code == 403
        assert (
            'data-testid="explain-refused-credit"'
            not in admin.get(r.url("claim_line_explain", pk=r.credit.pk)).content.decode()
        )
        # Another IGO's finance: not a member here, and in its own IGO the line does not exist.
        other = client_for(world_b.user(Role.IGO_FINANCE))
        assert other.post(path).status_code in (403, 404)
        own = reverse(
            "claim_line_credit_resend", kwargs={"tenant_slug": world_b.tenant.slug, "pk": r.credit.pk}
        )
        assert other.post(own).status_code == 404
        assert (
            other.get(reverse("work_queue", kwargs={"tenant_slug": world_b.tenant.slug}))
            .content.decode()
            .count(r.ref("NAT-C2"))
            == 0
        )
        # A line that is not a refused credit: refused with a message.
        finance = client_for(r.pw.finance)
        assert act(finance, r.url("claim_line_credit_resend", pk=r.new.pk)) == (r.url("work_queue"), ERROR)
    assert (ClaimLine.unscoped.count(), AuditEntry.objects.count(), Allocation.unscoped.count()) == before
    # A failure half-way (the audit record) leaves nothing behind.
    with travel(at(2027, 1, 5)), tenant_scope(r.pw.tenant):
        with (
            mock.patch("billing.services.rejected_credits.audit_record", side_effect=RuntimeError("down")),
            pytest.raises(RuntimeError),
        ):
            rejected_credit_resend(line=ClaimLine.objects.get(pk=r.credit.pk), actor=r.pw.finance)
        assert (ClaimLine.unscoped.count(), AuditEntry.objects.count(), Allocation.unscoped.count()) == before
        assert Allocation.objects.filter(claim_line=r.credit, is_current=True).count() == 4
        assert WorkItem.objects.get(reason="credit_rejected").resolved_at is None
        # Sent again once; a second time is refused.
        rejected_credit_resend(line=ClaimLine.objects.get(pk=r.credit.pk), actor=r.pw.finance)
        with pytest.raises(ValidationError):
            rejected_credit_resend(line=ClaimLine.objects.get(pk=r.credit.pk), actor=r.pw.finance)
        assert ClaimLine.objects.filter(corrects=r.old).count() == 2


def test_a_refused_credit_of_a_rejected_line_takes_nothing_back(r):
    """The credit of a line the insurer itself rejected takes back nothing: refused or not, it is settled at
    nothing, with no work item and nothing for the books check."""
    with tenant_scope(r.pw.tenant):
        assert ClaimLine.objects.filter(ledger.rejected_credits_open()).count() == 1
        ClaimLine.objects.filter(pk=r.old.pk).update(status=LineStatus.REJECTED)
        assert not ClaimLine.objects.filter(ledger.rejected_credits_open()).exists()
        assert ClaimLine.objects.filter(ledger.settled_at_nothing(), pk=r.credit.pk).exists()
