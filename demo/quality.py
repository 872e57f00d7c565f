"""The demo's quality data (the quality app): outcomes and questionnaires of the completed pregnancies,
quality agreements with Zilveren Kruis, and the indicators computed."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from billing.models import Contract, QualityAgreement
from billing.services import quality_claims
from demo.care import HISTORY
from demo.people import ZK
from igo.models import Insurer, Role, Tenant, User
from igo.tenancy import tenant_scope
from pregnancies import services
from pregnancies.models import LEMMON_NONE, Episode
from quality import services as quality_services
from quality.models import ExperienceResponse

# Blood loss at delivery (ml), breastfeeding at the end of kraamzorg and the LEMMoN criteria of severe
# maternal morbidity per HISTORY client (by BSN): one severe haemorrhage (Iris, 1,150 ml, without a LEMMoN
# criterion: no transfusion of 4 units, no embolisation), a caesarean's larger loss (Noor), every way of
# feeding, and "none of the LEMMoN criteria" recorded for each (the rate shows 0 of 6).
OUTCOMES = {
    HISTORY[0][3]: (350, "exclusive", [LEMMON_NONE]),
    HISTORY[1][3]: (1150, "partial", [LEMMON_NONE]),
    HISTORY[2][3]: (850, "exclusive", [LEMMON_NONE]),
    HISTORY[3][3]: (480, "none", [LEMMON_NONE]),
    HISTORY[4][3]: (540, "exclusive", [LEMMON_NONE]),
    HISTORY[5][3]: (600, "exclusive", [LEMMON_NONE]),
}


def seed_quality(
    tenant: Tenant, users: dict[str, User], insurers: dict[str, Insurer], *, now: datetime
) -> None:
    """Outcomes and questionnaires of the completed pregnancies, quality agreements with Zilveren Kruis
    for this year, and the indicators computed (all once per tenant; the refresh is safe to repeat)."""
    midwife, admin = users[Role.MIDWIFE], users[Role.IGO_ADMIN]
    today = timezone.localdate(now)
    with tenant_scope(tenant):
        history = Episode.objects.filter(client__bsn__in=[h[3] for h in HISTORY]).select_related("client")
        for i, episode in enumerate(history.order_by("intake_date")):
            outcome = OUTCOMES.get(episode.client.bsn)
            if (
                outcome is not None
                and episode.blood_loss_ml is None
                and episode.labour_started_at is not None
            ):
                blood_loss, feeding, criteria = outcome
                services.episode_set_outcomes(
                    episode=episode,
                    actor=midwife,
                    blood_loss_ml=blood_loss,
                    kraamzorg_indicated_hours=None,  # the dated (re-)indications of demo.care stay
                    # Asked at the end of kraamzorg: not yet for a woman still in it.
                    breastfeeding_at_kraamzorg_end=feeding if episode.kraamzorg_ended_on else None,
                    severe_morbidity=criteria,
                )
            ended = episode.postnatal_ended_on
            if (
                ended
                and ended + timedelta(days=3) <= today
                and not ExperienceResponse.objects.filter(episode=episode).exists()
            ):
                quality_services.experience_record(
                    episode=episode,
                    actor=admin,
                    answered_on=ended + timedelta(days=3),
                    overall=9 - i % 2,
                    informed=5 - i % 2,
                    same_team=4,
                    recommend=9,
                )
        contract = Contract.objects.filter(insurer=insurers[ZK]).order_by("-valid_from").first()
        if contract is not None and not QualityAgreement.objects.filter(year=today.year).exists():
            for indicator, target, bonus, malus in (
                ("caesarean", Decimal("15.0"), Decimal("1.00"), Decimal("1.00")),
                ("continuity", Decimal("70.0"), Decimal("0.50"), Decimal("0")),
            ):
                quality_claims.agreement_create(
                    contract=contract,
                    actor=users[Role.IGO_FINANCE],
                    indicator=indicator,
                    year=today.year,
                    target=target,
                    bonus_pct=bonus,
                    malus_pct=malus,
                )
        quality_services.indicators_refresh(tenant=tenant, full=True)
