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
from pregnancies.models import Episode
from quality import services as quality_services
from quality.models import ExperienceResponse


def seed_quality(
    tenant: Tenant, users: dict[str, User], insurers: dict[str, Insurer], *, now: datetime
) -> None:
    """Outcomes and questionnaires of the completed pregnancies, quality agreements with Zilveren Kruis
    for this year, and the indicators computed (all once per tenant; the refresh is safe to repeat)."""
    midwife, admin = users[Role.MIDWIFE], users[Role.IGO_ADMIN]
    today = timezone.localdate(now)
    with tenant_scope(tenant):
        history = Episode.objects.filter(client__bsn__in=[h[3] for h in HISTORY]).order_by("intake_date")
        for i, episode in enumerate(history):
            if episode.blood_loss_ml is None and episode.labour_started_at is not None:
                services.episode_set_outcomes(
                    episode=episode,
                    actor=midwife,
                    blood_loss_ml=(1150 if i == 1 else 300 + 60 * i),  # one severe haemorrhage
                    kraamzorg_indicated_hours=49,
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
