"""The demo's budget-neutrality reference data (neutrality app), so the monitor shows something.

EXAMPLE VALUES ONLY: the codes start with DEMO- (the DBC codes with 99) and the amounts are round figures
of the demo, not NZa tariffs. An operator replaces the reference tariffs with the current NZa policy-rule
(beleidsregel) tariffs for midwifery and maternity care (`manage.py reference_tariffs_load`), and each IGO
enters its own hospital amounts per DBC care product."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone

from igo.models import Tenant
from igo.tenancy import tenant_scope
from neutrality.models import (
    CatalogueMapping,
    DbcAmount,
    ReferenceSource,
    ReferenceTariff,
    TariffDiscipline,
    TariffUnit,
)
from pregnancies.models import EventType

EXAMPLE = "Demo example value, not an NZa tariff: replace with the current NZa beleidsregel tariff."
VK, KZ = TariffDiscipline.VERLOSKUNDE, TariffDiscipline.KRAAMZORG
TARIFFS = [  # (discipline, code, description, amount, unit)
    (VK, "DEMO-VK-PRE", "Voorbeeld: prenatale zorg", "450.00", TariffUnit.TRAJECTORY),
    (VK, "DEMO-VK-BEV", "Voorbeeld: begeleiding bevalling", "300.00", TariffUnit.TRAJECTORY),
    (VK, "DEMO-VK-POST", "Voorbeeld: postnatale zorg", "150.00", TariffUnit.TRAJECTORY),
    (VK, "DEMO-VK-ECHO", "Voorbeeld: echo", "60.00", TariffUnit.CONTACT),
    (KZ, "DEMO-KZ-INTAKE", "Voorbeeld: intake kraamzorg", "70.00", TariffUnit.CONTACT),
    (KZ, "DEMO-KZ-PARTUS", "Voorbeeld: partusassistentie per uur", "55.00", TariffUnit.HOUR),
    (KZ, "DEMO-KZ-UUR", "Voorbeeld: kraamzorg per uur", "55.00", TariffUnit.HOUR),
]
DBC = [("990000001", "Voorbeeld: klinische bevalling (demo)", "2500.00")]
V, K, H, N = (
    ReferenceSource.VERLOSKUNDE,
    ReferenceSource.KRAAMZORG,
    ReferenceSource.DBC,
    ReferenceSource.INCLUDED,
)
MAPPING = {  # catalogue code -> (source, code); REFERRAL is left unmapped: the monitor shows it as missing
    "INTAKE": (N, ""),
    "PRE_CHECK": (V, "DEMO-VK-PRE"),
    "ECHO_TERM": (V, "DEMO-VK-ECHO"),
    "ECHO_SEO": (V, "DEMO-VK-ECHO"),
    "ECHO_GROWTH": (V, "DEMO-VK-ECHO"),
    "KZ_INTAKE": (K, "DEMO-KZ-INTAKE"),
    "DELIV_HOME": (V, "DEMO-VK-BEV"),
    "DELIV_POLI": (V, "DEMO-VK-BEV"),
    "DELIV_CLIN": (H, "990000001"),
    "PARTUS_ASSIST": (K, "DEMO-KZ-PARTUS"),
    "HOSP_DAY": (H, "990000001"),
    "POST_VISIT": (V, "DEMO-VK-POST"),
    "KZ_HOURS": (K, "DEMO-KZ-UUR"),
    "KZ_OBS": (N, ""),
}


def seed_neutrality(tenant: Tenant, *, now: datetime) -> None:
    """Example reference tariffs (shared), and this IGO's example DBC amounts and mapping (once each)."""
    since = date(timezone.localdate(now).year - 2, 1, 1)
    for discipline, code, description, amount, unit in TARIFFS:
        if not ReferenceTariff.objects.filter(discipline=discipline, code=code).exists():
            ReferenceTariff.objects.create(
                discipline=discipline,
                code=code,
                description=description,
                valid_from=since,
                max_tariff=Decimal(amount),
                unit=unit,
                source_note=EXAMPLE,
            )
    with tenant_scope(tenant):
        for code, description, amount in DBC:
            if not DbcAmount.objects.filter(code=code).exists():
                DbcAmount.objects.create(
                    tenant=tenant,
                    code=code,
                    description=description,
                    valid_from=since,
                    amount=Decimal(amount),
                )
        for event_type in EventType.objects.filter(code__in=list(MAPPING)):
            source, code = MAPPING[event_type.code]
            CatalogueMapping.objects.get_or_create(
                event_type=event_type, defaults={"tenant": tenant, "source": source, "code": code}
            )
