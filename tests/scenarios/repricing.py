"""Retroactive tariff changes (billing.services.repricing): the payout world of tests.scenarios.payouts
(Zilveren Kruis "ZK 2026" at 1200/900/1500 from 1 January 2026, open-ended, so prolonged into 2027; every
phase divided by fixed shares after 5 % overhead and 2 % reserve), with a rule for a miscarriage (prenatal
interrupted before week 16: 50 % of the tariff). Care of early 2027 is billed under it before the 2027
tariffs are agreed, in March: 1300/950/1600 from 1 January 2027 (`NEW_TARIFFS`).

The episodes:

- `born_in_january`: intake 1 June 2026, birth 10 January 2027, care completed 20 February 2027. Its
  prenatal phase starts in 2026 and stays under the 2026 tariff; natal and postnatal start on 10 January
  2027 and move (900 -> 950, 1500 -> 1600);
- `miscarriage_in_february`: intake 5 January 2027 at 8 weeks, miscarriage 10 February 2027 (week 13):
  prenatal interrupted, billed at 50 % (600.00 -> 650.00).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, cast

from billing.models import ClaimLine, Contract
from billing.services.repricing import (
    RepriceImpact,
    RepriceResult,
    contract_reprice,
    contract_reprice_preview,
)
from igo.tenancy import tenant_scope
from pregnancies.models import ClientInsurance, Episode
from tests.factories import EpisodeFactory
from tests.scenarios.clock import local, travel
from tests.scenarios.payouts import (
    KRAAM_IBAN,
    TARIFFS,
    PayoutWorld,
    answer,
    bill,
    lines,
    payout_world,
    send_batch,
)
from tests.scenarios.people import TenantWorld

D = Decimal
JAN_2027 = dt.date(2027, 1, 1)
TARIFFS_2026 = TARIFFS
NEW_TARIFFS = {
    "prenatal": ("IGBPRE", D("1300.00")),
    "natal": ("IGBNAT", D("950.00")),
    "postnatal": ("IGBPOS", D("1600.00")),
}
LOWER_TARIFFS = {
    "prenatal": ("IGBPRE", D("1100.00")),
    "natal": ("IGBNAT", D("850.00")),
    "postnatal": ("IGBPOS", D("1400.00")),
}
MISCARRIAGE_RULE = {
    "end_reason": "miscarriage",
    "phase": "prenatal",
    "from_week": None,
    "until_week": 16,
    "percentage": D("50"),
}


def repricing_world(world: TenantWorld) -> PayoutWorld:
    return payout_world(world, kraam_iban=KRAAM_IBAN, partial_rules=[MISCARRIAGE_RULE])


def _insure(pw: PayoutWorld, ep: Episode, policy: str) -> Episode:
    ClientInsurance.unscoped.create(
        tenant=pw.tenant,
        client=ep.client,
        insurer=pw.zk,
        policy_number=policy,
        valid_from=dt.date(2024, 1, 1),
    )
    return ep


def born_in_january(pw: PayoutWorld, *, policy: str = "ZK-201") -> Episode:
    ep = EpisodeFactory(
        tenant=pw.tenant,
        intake_date=dt.date(2026, 6, 1),
        gestational_age_at_intake=84,
        due_date=dt.date(2027, 1, 12),
        labour_started_at=local(2027, 1, 10, 8),
        placenta_plus_2h_at=local(2027, 1, 10, 15),
        postnatal_ended_on=dt.date(2027, 2, 20),
        status="ended",
        end_date=dt.date(2027, 2, 20),
        end_reason="completed",
    )
    return _insure(pw, cast(Episode, ep), policy)


def natal_awarded_in_part(pw: PayoutWorld) -> tuple[Episode, dict[str, ClaimLine]]:
    """`born_in_january`, billed on 21 February and sent in February's batch (released on 25 February); on
    1 March the insurer accepts prenatal and postnatal and awards 800.00 of the natal line's 900.00. Returns
    the episode and its lines as sent."""
    from tests.scenarios.month_end import at

    ep = born_in_january(pw)
    bill(pw, at(2027, 2, 21))
    feb = send_batch(pw, dt.date(2027, 2, 1), at(2027, 2, 25))
    sent = lines(ep)
    answer(
        feb,
        at(2027, 3, 1),
        accept=[sent["prenatal"], sent["postnatal"]],
        award=[(sent["natal"], Decimal("800.00"))],
    )
    return ep, sent


def miscarriage_in_february(pw: PayoutWorld, *, policy: str = "ZK-202") -> Episode:
    ep = EpisodeFactory(
        tenant=pw.tenant,
        intake_date=dt.date(2027, 1, 5),
        gestational_age_at_intake=56,
        due_date=dt.date(2027, 8, 10),
        status="ended",
        end_date=dt.date(2027, 2, 10),
        end_reason="miscarriage",
    )
    return _insure(pw, cast(Episode, ep), policy)


def current_version(pw: PayoutWorld) -> Contract:
    """The version of the ZK contract in force on 1 January 2027."""
    return (
        Contract.unscoped.filter(insurer=pw.zk, valid_from__lte=JAN_2027)
        .order_by("-valid_from", "-pk")
        .first()
    )  # type: ignore[return-value]


def preview(
    pw: PayoutWorld,
    moment: dt.datetime,
    *,
    tariffs: dict[str, tuple[str, Decimal]] = NEW_TARIFFS,
    valid_from: dt.date = JAN_2027,
    **kwargs: Any,
) -> RepriceImpact:
    with travel(moment), tenant_scope(pw.tenant):
        return contract_reprice_preview(
            contract=current_version(pw), valid_from=valid_from, tariffs=tariffs, **kwargs
        )


def reprice(
    pw: PayoutWorld,
    moment: dt.datetime,
    *,
    tariffs: dict[str, tuple[str, Decimal]] = NEW_TARIFFS,
    valid_from: dt.date = JAN_2027,
    **kwargs: Any,
) -> RepriceResult:
    """Finance confirms the 2027 tariffs at `moment`, retroactive to `valid_from`."""
    with travel(moment), tenant_scope(pw.tenant):
        return contract_reprice(
            contract=current_version(pw),
            actor=pw.finance,
            valid_from=valid_from,
            tariffs=tariffs,
            name="ZK 2027",
            **kwargs,
        )


def all_lines(ep: Episode, phase: str) -> list[ClaimLine]:
    """Every line of an episode's phase, oldest first."""
    return list(ClaimLine.unscoped.filter(episode=ep, phase=phase).order_by("pk"))


def at(y: int, m: int, d: int, h: int = 10) -> dt.datetime:
    return local(y, m, d, h)


def reprice_job(tenant_id: int, contract_id: int, user_id: int) -> str:
    """A queued confirmation of a retroactive change of the contract (its progress page's job id), as the
    page queues it; no worker runs it."""
    from billing.progress import reprice_job_start

    params = {"valid_from": "2027-01-01", "valid_until": "", "name": "", "tariffs": {}, "expected": "-"}
    return reprice_job_start(tenant_id=tenant_id, contract_id=contract_id, user_id=user_id, params=params)[0]
