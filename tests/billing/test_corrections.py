"""Care changed after a line was sent: a sent claim line is never changed; the change is a credit and a
rebill (or a resplit of the allocations when only the split changes).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from billing import services
from billing.models import Allocation, ClaimLine, LineStatus
from igo.tenancy import tenant_scope
from pregnancies.models import ClientInsurance, Episode
from pregnancies.services import care_event_void
from tests.factories import CareEventFactory, EpisodeFactory, ProfessionalFactory
from tests.scenarios.billing import (
    BILLING_NOW,
    D,
    assert_books_balance,
    at,
    current,
    episode,
    log,
    ordinary,
    pregnancy,
    run,
    run_for,
    split_of,
)

pytestmark = pytest.mark.clock(BILLING_NOW)


def test_voiding_an_event_after_sending_resplits_without_touching_the_claim(s):
    """The amount claimed from the insurer does not depend on who delivered the care, so a late change in
    the logged care re-splits internally: the sent line stays as it is (no credit and identical rebill,
    which an insurer would reject in one file), its old allocations are kept as history."""
    ep = episode(s, **pregnancy(dt.date(2026, 2, 2)), labour_started_at=at(2026, 8, 14, 8))
    log(s, ep, "PRE_CHECK", s.practice, at(2026, 2, 9))
    log(s, ep, "PRE_CHECK", s.practice, at(2026, 3, 9))
    echo = log(s, ep, "ECHO_SEO", s.hospital, at(2026, 4, 20))
    run(s)
    (original,) = current(ep).values()
    # 1200.00: 60.00 + 24.00, members 1116.00 by points practice 100 : hospital 120
    # 1116 x 100/220 = 507.2727 -> 507.27, 1116 x 120/220 = 608.7272 -> 608.72 + the left-over cent.
    first_split = {
        ("overhead", ""): D("60.00"),
        ("reserve", ""): D("24.00"),
        ("member", "Praktijk"): D("507.27"),
        ("member", "Ziekenhuis"): D("608.73"),
    }
    assert split_of(original) == first_split
    with tenant_scope(s.tenant):
        assert services.claim_lines_mark_sent(lines=[original]) == 1
        assert services.claim_lines_mark_sent(lines=[original]) == 0  # only ready lines
    original.refresh_from_db()
    frozen = (original.amount, original.status, original.number, original.sent_at, original.service_end)
    with tenant_scope(s.tenant):
        care_event_void(event=echo, actor=s.midwife, reason="logged for the wrong client")
    result = run(s)
    assert result.lines_replaced == 1
    rows = list(ClaimLine.unscoped.filter(episode=ep).order_by("pk"))
    assert [(x.pk, x.sign, x.status, x.is_current) for x in rows] == [
        (original.pk, "debit", LineStatus.SENT, True)
    ]
    original.refresh_from_db()
    assert (
        original.amount,
        original.status,
        original.number,
        original.sent_at,
        original.service_end,
    ) == frozen
    new_split = {  # without the echo all care is the practice's: 1116.00
        ("overhead", ""): D("60.00"),
        ("reserve", ""): D("24.00"),
        ("member", "Praktijk"): D("1116.00"),
    }
    assert split_of(original) == new_split
    assert split_of(original, current_only=False) == first_split  # the earlier split is kept as history
    assert_books_balance(s.tenant)


def test_a_sent_line_is_never_changed_by_a_correction(s):
    ep = ordinary(s)
    run(s)
    with tenant_scope(s.tenant):
        assert services.claim_lines_mark_sent(lines=list(current(ep).values())) == 3
    fields = [
        "pk",
        "number",
        "sign",
        "amount",
        "status",
        "sent_at",
        "service_start",
        "service_end",
        "tariff_id",
    ]
    sent = {x["phase"]: x for x in ClaimLine.unscoped.filter(episode=ep).values("phase", *fields)}
    sent_split = {p: split_of(x) for p, x in current(ep).items()}
    # The start of labour is corrected to the evening before: prenatal ends and natal starts 13 Aug.
    Episode.unscoped.filter(pk=ep.pk).update(labour_started_at=at(2026, 8, 13, 22), changed_at=timezone.now())
    result = run(s)
    assert result.lines_replaced == 2
    for phase, before in sent.items():
        row = ClaimLine.unscoped.values("phase", *fields).get(pk=before["pk"])
        assert row == before  # amount, status, number, dates: unchanged
        assert split_of(ClaimLine.unscoped.get(pk=before["pk"])) == sent_split[phase]
    credits = ClaimLine.unscoped.filter(episode=ep, sign="credit")
    assert sorted(credits.values_list("phase", "amount", "corrects__status")) == [
        ("natal", D("-900.00"), LineStatus.SENT),
        ("prenatal", D("-1200.00"), LineStatus.SENT),
    ]
    now = current(ep)
    assert {p: (x.amount, x.service_start, x.service_end) for p, x in now.items()} == {
        "prenatal": (D("1200.00"), dt.date(2026, 2, 2), dt.date(2026, 8, 13)),
        "natal": (D("900.00"), dt.date(2026, 8, 13), dt.date(2026, 8, 14)),
        "postnatal": (D("1500.00"), dt.date(2026, 8, 14), dt.date(2026, 9, 25)),
    }
    assert now["postnatal"].pk == sent["postnatal"]["pk"]  # not touched at all
    # Net claimed per phase is still one tariff: 1200 - 1200 + 1200, 900 - 900 + 900, 1500.
    net = dict(
        ClaimLine.unscoped.filter(episode=ep)
        .values_list("phase")
        .annotate(t=Sum("amount"))
        .values_list("phase", "t")
    )
    assert net == {"prenatal": D("1200.00"), "natal": D("900.00"), "postnatal": D("1500.00")}
    assert_books_balance(s.tenant)


@pytest.mark.django_db
def test_late_care_after_sending_resplits_and_a_claim_change_is_credit_and_rebill(setup):
    s = setup
    tenant = s["tenant"]
    ep = EpisodeFactory(
        tenant=tenant,
        intake_date=dt.date(2026, 2, 1),
        due_date=dt.date(2026, 9, 1),
        gestational_age_at_intake=70,
        labour_started_at=at(2026, 8, 30, 8),
    )
    insurance = ClientInsurance.unscoped.create(
        tenant=tenant, client=ep.client, insurer=s["zk"], policy_number="5", valid_from=dt.date(2026, 1, 1)
    )
    mw = ProfessionalFactory(tenant=tenant, organisation=s["practice"])
    other = ProfessionalFactory(tenant=tenant, organisation=s["hospital"], discipline="gynaecologist")
    CareEventFactory(
        tenant=tenant,
        episode=ep,
        event_type=s["types"]["PRE_CHECK"],
        professional=mw,
        occurred_at=at(2026, 3, 1),
    )
    run_for(tenant)
    (line,) = ClaimLine.unscoped.filter(episode=ep)
    with tenant_scope(tenant):
        services.claim_lines_mark_sent(lines=[line])
    # The hospital's echo is logged late: the split changes, the claim to the insurer does not.
    CareEventFactory(
        tenant=tenant,
        episode=ep,
        event_type=s["types"]["ECHO_SEO"],
        professional=other,
        occurred_at=at(2026, 6, 1),
    )
    ep.__class__.unscoped.filter(pk=ep.pk).update(changed_at=timezone.now())
    run_for(tenant)
    assert list(ClaimLine.unscoped.filter(episode=ep).values_list("pk", "status", "is_current")) == [
        (line.pk, LineStatus.SENT, True)
    ]
    current = {
        a.organisation_id: a.amount for a in Allocation.unscoped.filter(claim_line=line, is_current=True)
    }
    # members' 1116.00 split 50 : 120 points
    assert current[s["practice"].pk] == Decimal("328.24") and current[s["hospital"].pk] == Decimal("787.76")
    assert Allocation.unscoped.filter(
        claim_line=line, is_current=False, kind="member"
    ).get().amount == Decimal("1116.00")  # the first split is kept
    # The insured number was wrong: the sent line is credited and a corrected line is billed.
    ClientInsurance.unscoped.filter(pk=insurance.pk).update(policy_number="55")
    ep.__class__.unscoped.filter(pk=ep.pk).update(changed_at=timezone.now())
    run_for(tenant)
    lines = list(ClaimLine.unscoped.filter(episode=ep).order_by("pk"))
    assert [(x.sign, x.amount, x.is_current, x.status, x.policy_number) for x in lines] == [
        ("debit", Decimal("1200.00"), False, LineStatus.SENT, "5"),
        ("credit", Decimal("-1200.00"), False, LineStatus.READY, "5"),
        ("debit", Decimal("1200.00"), True, LineStatus.READY, "55"),
    ]
    assert lines[1].corrects_id == lines[0].pk
    net = (
        Allocation.unscoped.filter(claim_line__episode=ep, is_current=True)
        .values("organisation_id")
        .annotate(t=Sum("amount"))
    )
    by_org = {row["organisation_id"]: row["t"] for row in net}
    assert by_org[s["practice"].pk] == Decimal("328.24") and by_org[s["hospital"].pk] == Decimal("787.76")
    assert sum(by_org.values()) == Decimal("1200.00")
