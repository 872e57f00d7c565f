"""The budget-neutrality monitor's worked example (neutrality.selectors), on the ledger's world
(tests.scenarios.ledger: De Maas, Kraamzorg Rijnmond, Ziekenhuis Rijnmond, a Zilveren Kruis contract) with a
VGZ contract beside it. All reference values here are test values, not NZa tariffs.

Reference data:
- verloskunde VK-PRE (prenatal care, per trajectory): 500.00 in 2025, 520.00 from 2026;
- verloskunde VK-BEV (delivery, per trajectory): 400.00 from 2026 (no event maps to it);
- verloskunde VK-ECHO is mapped to but has no tariff (missing reference data);
- kraamzorg KZ-UUR (per hour): 55.00 until 31-12-2025, 60.00 from 2026;
- DBC 149999002 (hospital delivery, per trajectory): 1000.00 from 2026, entered by the IGO.
Catalogue: PRE_CHECK → VK-PRE, ECHO → VK-ECHO, HOSP_DELIVERY → DBC 149999002, KZ_HOURS → KZ-UUR,
INFO → not billed separately, POST_VISIT → no mapping.

Anna (Zilveren Kruis from 2026): De Maas checks her on 10-02, 10-03, 10-04-2026, an ECHO on 01-03-2026, an
INFO on 01-03-2026 and a POST_VISIT on 05-06-2026; the hospital delivers her on 01-06-2026; Kraamzorg
Rijnmond gives 8.5 hours on 02-06 and 4 hours on 03-06-2026 (and 100 hours on 04-06-2026, voided).
Lines: prenatal 1200.00 (ended 31-05-2026) = De Maas 1000 + hospital 100 + overhead 100; natal 900.00
(ended 01-06-2026) = De Maas 300 + hospital 500 + overhead 100; postnatal 1500.00 (ended 15-07-2026) first
De Maas 400 + kraam 950 + hospital 50 + overhead 100, divided anew as De Maas 350 + kraam 1000 + hospital 50
+ overhead 100.

Britt (VGZ from 2025): De Maas checks her on 20-11-2025 and 15-01-2026 (one trajectory, opened in 2025);
Kraamzorg Rijnmond gives 2 hours on 31-12-2025 at 23:30, 2 hours on 01-01-2026 at 00:30 (Amsterdam; still
31-12-2025 in UTC) and 10 hours on 20-01-2026.
Lines: prenatal 1200.00 (ended 31-03-2026) = De Maas 1100 + overhead 100; natal 900.00 (ended 01-04-2026)
= hospital 800 + overhead 100, rejected by VGZ and not credited (held back); postnatal 1500.00 (ended
15-05-2026) = kraam 1400 + overhead 100, sent and then credited (its credit's parts take it back to 0.00).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import cast

from billing.models import AllocationKind, ClaimLine, Contract, ContractTariff, LineStatus
from igo.models import Insurer, Role
from neutrality.models import CatalogueMapping, DbcAmount, ReferenceTariff
from pregnancies.models import ClientInsurance, Episode, EventType
from providers.models import MemberOrganisation, Professional
from tests.factories import CareEventFactory, EpisodeFactory, InsurerFactory, ProfessionalFactory
from tests.scenarios.clock import local
from tests.scenarios.ledger import TARIFFS, Book, book, claim, credit, release, resplit
from tests.scenarios.people import TenantWorld

D = Decimal
OVERHEAD = AllocationKind.OVERHEAD


@dataclasses.dataclass
class Neutral:
    b: Book
    vgz: Insurer
    anna: Episode
    britt: Episode
    types: dict[str, EventType]


def reference_tariffs() -> None:
    rows = [
        ("verloskunde", "VK-PRE", "2025-01-01", "2025-12-31", "500.00", "trajectory"),
        ("verloskunde", "VK-PRE", "2026-01-01", None, "520.00", "trajectory"),
        ("verloskunde", "VK-BEV", "2026-01-01", None, "400.00", "trajectory"),
        ("kraamzorg", "KZ-UUR", "2025-01-01", "2025-12-31", "55.00", "hour"),
        ("kraamzorg", "KZ-UUR", "2026-01-01", None, "60.00", "hour"),
    ]
    for discipline, code, start, end, amount, unit in rows:
        ReferenceTariff.objects.create(
            discipline=discipline,
            code=code,
            description=code,
            valid_from=dt.date.fromisoformat(start),
            valid_to=dt.date.fromisoformat(end) if end else None,
            max_tariff=D(amount),
            unit=unit,
            source_note="test value",
        )


CATALOGUE = {
    # code: (unit, source, reference code); source None: no mapping
    "PRE_CHECK": ("visit", "verloskunde", "VK-PRE"),
    "ECHO": ("visit", "verloskunde", "VK-ECHO"),
    "HOSP_DELIVERY": ("item", "dbc", "149999002"),
    "KZ_HOURS": ("hour", "kraamzorg", "KZ-UUR"),
    "INFO": ("visit", "included", ""),
    "POST_VISIT": ("visit", None, ""),
}


def _vgz_book(b: Book, vgz: Insurer) -> Book:
    contract = Contract.unscoped.create(
        tenant=b.tenant,
        insurer=vgz,
        name="VGZ integraal",
        valid_from=dt.date(2025, 1, 1),
        created_by=b.finance,
    )
    for phase, amount in TARIFFS.items():
        ContractTariff.unscoped.create(
            tenant=b.tenant,
            contract=contract,
            phase=phase,
            prestatie_code=f"IGB{phase[:3].upper()}",
            amount=amount,
        )
    return dataclasses.replace(b, zk=vgz, contract=contract)


def _line(b: Book, ep: Episode, phase: str, end: dt.date, parts: dict) -> ClaimLine:  # type: ignore[type-arg]
    line = claim(
        b, at=local(end.year, end.month, end.day) + dt.timedelta(days=3), parts=parts, phase=phase, episode=ep
    )
    ClaimLine.unscoped.filter(pk=line.pk).update(service_start=end - dt.timedelta(days=30), service_end=end)
    return line


def neutral(world: TenantWorld) -> Neutral:
    b = book(world)
    tenant = b.tenant
    vgz = cast(Insurer, InsurerFactory(uzovi_code="7095", name="VGZ"))
    reference_tariffs()
    DbcAmount.unscoped.create(
        tenant=tenant,
        code="149999002",
        description="Bevalling",
        valid_from=dt.date(2026, 1, 1),
        amount=D("1000.00"),
    )
    types: dict[str, EventType] = {}
    for code, (unit, source, ref) in CATALOGUE.items():
        types[code] = EventType.unscoped.create(
            tenant=tenant, code=code, name_nl=code, name_en=code, unit=unit, max_quantity=D("100")
        )
        if source is not None:
            CatalogueMapping.unscoped.create(tenant=tenant, event_type=types[code], source=source, code=ref)

    def pro(org: MemberOrganisation) -> Professional:
        return cast(Professional, ProfessionalFactory(tenant=tenant, organisation=org))

    midwife, carer, doctor = pro(b.maas), pro(b.kraam), pro(b.hospital)

    def event(
        ep: Episode, code: str, who: Professional, at: dt.datetime, qty: str = "1", **kw: object
    ) -> None:
        CareEventFactory(
            tenant=tenant,
            episode=ep,
            event_type=types[code],
            occurred_at=at,
            quantity=D(qty),
            professional=who,
            organisation=who.organisation,
            created_by=world.user(Role.MIDWIFE),
            **kw,
        )

    anna = cast(
        Episode, EpisodeFactory(tenant=tenant, intake_date=dt.date(2026, 2, 1), due_date=dt.date(2026, 6, 5))
    )
    britt = cast(
        Episode, EpisodeFactory(tenant=tenant, intake_date=dt.date(2025, 11, 1), due_date=dt.date(2026, 4, 1))
    )
    ClientInsurance.unscoped.create(
        tenant=tenant, client=anna.client, insurer=b.zk, policy_number="1", valid_from=dt.date(2026, 1, 1)
    )
    ClientInsurance.unscoped.create(
        tenant=tenant, client=britt.client, insurer=vgz, policy_number="2", valid_from=dt.date(2025, 1, 1)
    )
    for month in (2, 3, 4):
        event(anna, "PRE_CHECK", midwife, local(2026, month, 10))
    event(anna, "ECHO", midwife, local(2026, 3, 1))
    event(anna, "INFO", midwife, local(2026, 3, 1, 14))
    event(anna, "POST_VISIT", midwife, local(2026, 6, 5))
    event(anna, "HOSP_DELIVERY", doctor, local(2026, 6, 1))
    event(anna, "KZ_HOURS", carer, local(2026, 6, 2), "8.5")
    event(anna, "KZ_HOURS", carer, local(2026, 6, 3), "4")
    event(anna, "KZ_HOURS", carer, local(2026, 6, 4), "100", status="voided")
    event(britt, "PRE_CHECK", midwife, local(2025, 11, 20))
    event(britt, "PRE_CHECK", midwife, local(2026, 1, 15))
    event(britt, "KZ_HOURS", carer, local(2025, 12, 31, 23, 30), "2")
    event(britt, "KZ_HOURS", carer, local(2026, 1, 1, 0, 30), "2")
    event(britt, "KZ_HOURS", carer, local(2026, 1, 20), "10")

    _line(
        b,
        anna,
        "prenatal",
        dt.date(2026, 5, 31),
        {b.maas: D("1000"), b.hospital: D("100"), OVERHEAD: D("100")},
    )
    _line(b, anna, "natal", dt.date(2026, 6, 1), {b.maas: D("300"), b.hospital: D("500"), OVERHEAD: D("100")})
    post = _line(
        b,
        anna,
        "postnatal",
        dt.date(2026, 7, 15),
        {b.maas: D("400"), b.kraam: D("950"), b.hospital: D("50"), OVERHEAD: D("100")},
    )
    resplit(
        b,
        post,
        at=local(2026, 8, 1),
        parts={b.maas: D("350"), b.kraam: D("1000"), b.hospital: D("50"), OVERHEAD: D("100")},
    )
    vb = _vgz_book(b, vgz)
    _line(vb, britt, "prenatal", dt.date(2026, 3, 31), {b.maas: D("1100"), OVERHEAD: D("100")})
    held = _line(vb, britt, "natal", dt.date(2026, 4, 1), {b.hospital: D("800"), OVERHEAD: D("100")})
    ClaimLine.unscoped.filter(pk=held.pk).update(status=LineStatus.REJECTED)
    sent = _line(vb, britt, "postnatal", dt.date(2026, 5, 15), {b.kraam: D("1400"), OVERHEAD: D("100")})
    sent.refresh_from_db()
    release(vb, [sent], at=local(2026, 6, 1))
    credit(vb, sent, at=local(2026, 6, 10))
    return Neutral(b=b, vgz=vgz, anna=anna, britt=britt, types=types)
