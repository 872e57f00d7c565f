"""A former member that credits leave below nothing (tests.scenarios.payouts has the world and the split of each
line by hand: postnatal 1500.00 -> practice 418.50, kraamzorg 976.50; at the lower 2027 tariff 1400.00 the
kraamzorg's part is 1400.00 x 0.93 x 0.70 = 911.40)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from billing.models import PayoutRun, WorkItem, WorkReason
from billing.services.payouts import payout_run_release
from igo.tenancy import tenant_scope
from pregnancies.models import ClientInsurance, Episode
from providers.models import MemberOrganisation
from tests.factories import EpisodeFactory
from tests.scenarios.clock import local
from tests.scenarios.payouts import D, PayoutWorld, accept_all, at, bill, paid, prepare, send_batch
from tests.scenarios.people import TenantWorld
from tests.scenarios.repricing import LOWER_TARIFFS, born_in_january, reprice, repricing_world

MAR, APR, MAY = dt.date(2027, 3, 1), dt.date(2027, 4, 1), dt.date(2027, 5, 1)


def debt_items(pw: PayoutWorld) -> list[WorkItem]:
    return list(WorkItem.unscoped.filter(organisation=pw.kraam, reason=WorkReason.FORMER_MEMBER_DEBT))


@dataclass
class Story:
    pw: PayoutWorld
    born_in_march: Episode
    april: PayoutRun


def kraam_in_debt_after_april(world: TenantWorld, *, member_until: dt.date | None) -> Story:
    """March pays the January birth (postnatal 1500.00: kraamzorg 976.50). On 6 April finance agrees the
    lower 2027 tariffs retroactively: the postnatal line is credited (−976.50) and claimed anew at 1400.00
    (kraamzorg 1400.00 × 0.93 × 0.70 = 911.40). April's run so leaves the kraamzorg at −65.10; the others
    are paid for a birth of 15 March (prenatal and natal), whose postnatal care is recorded only later."""
    pw = repricing_world(world)
    MemberOrganisation.unscoped.filter(pk=pw.kraam.pk).update(member_until=member_until)
    pw.kraam.refresh_from_db()
    born_in_january(pw)
    march = cast(
        Episode,
        EpisodeFactory(
            tenant=pw.tenant,
            intake_date=dt.date(2026, 8, 1),
            gestational_age_at_intake=84,
            due_date=dt.date(2027, 3, 20),
            labour_started_at=local(2027, 3, 15, 8),
            placenta_plus_2h_at=local(2027, 3, 15, 15),
            status="active",
        ),
    )
    ClientInsurance.unscoped.create(
        tenant=pw.tenant,
        client=march.client,
        insurer=pw.zk,
        policy_number="ZK-203",
        valid_from=dt.date(2024, 1, 1),
    )
    bill(pw, at(2027, 3, 2))
    accept_all(send_batch(pw, MAR, at(2027, 3, 5)), at(2027, 3, 10))
    run = prepare(pw, MAR, at(2027, 4, 2))
    assert paid(run)["Kraamzorg Noord"] == D("976.50")
    with tenant_scope(pw.tenant):
        payout_run_release(run=run, actor=pw.finance_b)
    reprice(pw, at(2027, 4, 6), tariffs=LOWER_TARIFFS)
    bill(pw, at(2027, 4, 7))
    accept_all(send_batch(pw, APR, at(2027, 4, 20)), at(2027, 4, 24))
    april = prepare(pw, APR, at(2027, 5, 4))
    assert "Kraamzorg Noord" not in paid(april)  # −976.50 + 911.40 = −65.10: carried over
    return Story(pw, march, april)


def late_postnatal_billed_in_may(story: Story) -> PayoutRun:
    """The March birth's postnatal care (ended 10 April, before the membership ended) recorded late: billed on
    6 May (kraamzorg 911.40), in May's batch (released 20 May, accepted 24 May); May's run prepared on 2 June,
    which it returns."""
    pw = story.pw
    ep = story.born_in_march
    ep.postnatal_ended_on = dt.date(2027, 4, 10)
    ep.status, ep.end_date, ep.end_reason = "ended", dt.date(2027, 4, 10), "completed"
    ep.save()
    bill(pw, at(2027, 5, 6))
    accept_all(send_batch(pw, dt.date(2027, 5, 1), at(2027, 5, 20)), at(2027, 5, 24))
    return prepare(pw, dt.date(2027, 5, 1), at(2027, 6, 2))
