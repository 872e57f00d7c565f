"""The finance home's world: the billed portfolio of tests.scenarios.billing (8 ready lines, 9850.00), its
Zilveren Kruis batch released and answered (its first line rejected, the rest accepted), the VGZ batch left
for review, and two pregnancies that wait for finance (no insurance on file; an insurer without a contract).
Seen from BILLING_NOW (20 Nov 2026)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from billing.models import ClaimBatch, ClaimLine, Contract
from igo.models import Insurer, Role
from pregnancies.models import ClientInsurance, Episode
from tests.factories import InsurerFactory
from tests.scenarios.billing import Setup, at, build, episode, log, portfolio, pregnancy, run
from tests.scenarios.finance import make_batches, reject_first_line
from tests.scenarios.people import TenantWorld


@dataclass
class HomeWorld:
    s: Setup
    episodes: list[Episode]
    zk_batch: ClaimBatch
    vgz_batch: ClaimBatch
    rejected: ClaimLine
    uninsured: Episode
    uncontracted: Episode
    other_insurer: Insurer


def home_world(world: TenantWorld) -> HomeWorld:
    s = build(world)
    episodes = portfolio(s)
    # Labour started 1 Sep 2026: prenatal ended, so the roll-up tries to claim it and opens a work item.
    uninsured = episode(s, **pregnancy(dt.date(2026, 2, 2)), labour_started_at=at(2026, 9, 1, 8))
    ClientInsurance.unscoped.filter(client=uninsured.client).delete()
    log(s, uninsured, "PRE_CHECK", s.practice, at(2026, 3, 2))
    other = InsurerFactory(uzovi_code="3358", name="Zorg en Zekerheid")
    uncontracted = episode(
        s, insurer=other, **pregnancy(dt.date(2026, 2, 2)), labour_started_at=at(2026, 9, 1, 8)
    )
    log(s, uncontracted, "PRE_CHECK", s.practice, at(2026, 3, 2))
    run(s)
    batches = make_batches(s)
    rejected = reject_first_line(s, batches["3311"], world.user(Role.IGO_FINANCE))
    return HomeWorld(s, episodes, batches["3311"], batches["7095"], rejected, uninsured, uncontracted, other)


def shorten_vgz_term(h: HomeWorld, months: int = 11) -> None:
    """VGZ's contract gives `months` to submit: its natal line (care ended 3 Jan 2026) is due by 3 Dec."""
    Contract.unscoped.filter(pk=h.s.vgz_contract.pk).update(submission_months=months)
