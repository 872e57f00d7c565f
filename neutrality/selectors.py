"""Reads of the budget-neutrality monitor: per member, per insurer and per year, what the care would have
earned monodisciplinary beside what the ledger allocated to the member for it. Call inside tenant_scope.

The year is the year of the care:
- integral: a member's parts of the claim lines whose prestatie ended (`service_end`) in the year, as the
  ledger holds them: every part booked less every part taken back (a re-split, a withdrawal, a credit's
  mirrored parts), which is the amount of the parts not superseded; parts of lines the insurer rejected and
  that are not credited yet are left out, as the revenue page's "net" leaves them out (`ledger.held_lines`);
- monodisciplinary: the member's active care events of the year, each priced by the reference valid on its
  own care date (Europe/Amsterdam) for the insurer that covered the client on that date. A prestatie "per
  trajectory" (a DBC, the midwife's prenatal care) counts once per pregnancy and member, on the date of its
  first event; per hour or per contact it counts the event's quantity.

An event whose catalogue entry has no mapping, or whose prestatie has no reference valid on its date, is
never estimated: it is counted as missing reference data, with the codes that lack it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Min, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import ledger
from billing.models import Allocation, AllocationKind
from igo.dates import midnight
from igo.models import Insurer
from igo.money import to_money
from neutrality.models import CatalogueMapping, DbcAmount, ReferenceSource, ReferenceTariff, TariffUnit
from pregnancies.models import CareEvent, ClientInsurance, EventStatus
from providers.models import MemberOrganisation

ZERO = Decimal("0.00")
HUNDRED = Decimal("100")


@dataclass
class NeutralityRow:
    """One member with one insurer (insurer None: the member's total, or care with no insurer known)."""

    organisation_id: int
    organisation: str
    insurer_id: int | None
    insurer: str
    monodisciplinary: Decimal = ZERO
    integral: Decimal = ZERO
    missing_events: int = 0
    missing_codes: set[str] = field(default_factory=set)
    is_total: bool = False

    @property
    def difference(self) -> Decimal:
        """Integral less monodisciplinary: positive when the member earns more in the IGO."""
        return self.integral - self.monodisciplinary

    @property
    def ratio_pct(self) -> Decimal | None:
        """Integral as a percentage of monodisciplinary (one decimal); None when there is nothing to compare."""
        if not self.monodisciplinary:
            return None
        return (self.integral * HUNDRED / self.monodisciplinary).quantize(Decimal("0.1"))

    @property
    def missing_list(self) -> list[str]:
        return sorted(self.missing_codes)

    def add(self, other: NeutralityRow) -> None:
        self.monodisciplinary += other.monodisciplinary
        self.integral += other.integral
        self.missing_events += other.missing_events
        self.missing_codes |= other.missing_codes


@dataclass
class NeutralityYear:
    year: int
    rows: list[NeutralityRow]  # per member: its insurers, then its total
    members: list[NeutralityRow]  # the members' totals, for the chart
    total: NeutralityRow

    @property
    def has_missing(self) -> bool:
        return self.total.missing_events > 0


@dataclass(frozen=True)
class _Price:
    amount: Decimal
    unit: str


class _References:
    """The reference amounts in force, looked up by source, code and care date."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, str], list[tuple[dt.date, dt.date | None, _Price]]] = defaultdict(list)
        for t in ReferenceTariff.objects.all():
            self.versions[(t.discipline, t.code)].append(
                (t.valid_from, t.valid_to, _Price(t.max_tariff, t.unit))
            )
        for d in DbcAmount.objects.all():
            self.versions[(ReferenceSource.DBC, d.code)].append(
                (d.valid_from, d.valid_to, _Price(d.amount, TariffUnit.TRAJECTORY))
            )

    def price(self, source: str, code: str, day: dt.date) -> _Price | None:
        found = [
            (start, price)
            for start, end, price in self.versions.get((source, code), [])
            if start <= day and (end is None or day <= end)
        ]
        # Overlapping versions: the one that started last is the one in force.
        return max(found, key=lambda f: f[0])[1] if found else None


def _insurer_on(insurances: list[tuple[dt.date, dt.date | None, int]], day: dt.date) -> int | None:
    covering = [i for start, end, i in insurances if start <= day and (end is None or day <= end)]
    return covering[-1] if covering else None


def neutrality_year(*, year: int) -> NeutralityYear:
    """The monitor for one care year. Call inside tenant_scope."""
    start, end = midnight(dt.date(year, 1, 1)), midnight(dt.date(year + 1, 1, 1))
    cells: dict[tuple[int, int | None], NeutralityRow] = {}
    names = dict(MemberOrganisation.objects.values_list("pk", "name"))
    insurer_names = dict(Insurer.objects.values_list("pk", "name"))

    def cell(org_id: int, insurer_id: int | None) -> NeutralityRow:
        key = (org_id, insurer_id)
        if key not in cells:
            label = insurer_names.get(insurer_id, "") if insurer_id else _("No insurer on the care date")
            cells[key] = NeutralityRow(org_id, names.get(org_id, ""), insurer_id, label)
        return cells[key]

    # --- integral: the ledger's parts of the year's prestaties ---------------------------------------
    for row in (
        Allocation.objects.filter(
            kind=AllocationKind.MEMBER,
            superseded_at__isnull=True,
            claim_line__service_end__gte=dt.date(year, 1, 1),
            claim_line__service_end__lt=dt.date(year + 1, 1, 1),
        )
        .exclude(claim_line__in=ledger.held_lines().values("pk"))
        .values("organisation_id", "claim_line__insurer_id")
        .annotate(total=Sum("amount"))
        .order_by()
    ):
        cell(row["organisation_id"], row["claim_line__insurer_id"]).integral += row["total"] or ZERO

    # --- monodisciplinary: the year's care events priced by the reference data ----------------------
    mappings = {m.event_type_id: (m.source, m.code) for m in CatalogueMapping.objects.all()}
    refs = _References()
    active = CareEvent.objects.filter(status=EventStatus.ACTIVE)
    events = list(
        active.filter(occurred_at__gte=start, occurred_at__lt=end).values_list(
            "episode_id",
            "episode__client_id",
            "organisation_id",
            "event_type_id",
            "event_type__code",
            "occurred_at",
            "quantity",
        )
    )
    # The first event of each trajectory (pregnancy, member, prestatie), over all years.
    first: dict[tuple[int, int, tuple[str, str]], dt.datetime] = {}
    for ep, org, type_id, at in (
        active.filter(
            episode_id__in={e[0] for e in events}, event_type_id__in=list(mappings), occurred_at__lt=end
        )
        .values("episode_id", "organisation_id", "event_type_id")
        .annotate(at=Min("occurred_at"))
        .values_list("episode_id", "organisation_id", "event_type_id", "at")
    ):
        key = (ep, org, mappings[type_id])
        first[key] = min(first.get(key, at), at)
    insurances: dict[int, list[tuple[dt.date, dt.date | None, int]]] = defaultdict(list)
    for client_id, valid_from, valid_until, insurer_id in (
        ClientInsurance.objects.filter(client_id__in={e[1] for e in events})
        .values_list("client_id", "valid_from", "valid_until", "insurer_id")
        .order_by("valid_from", "pk")
    ):
        insurances[client_id].append((valid_from, valid_until, insurer_id))

    for ep, client_id, org, type_id, type_code, at, quantity in events:
        day = timezone.localtime(at).date()
        target = cell(org, _insurer_on(insurances[client_id], day))
        mapping = mappings.get(type_id)
        if mapping is None:
            target.missing_events += 1
            target.missing_codes.add(_("no mapping: %(code)s") % {"code": type_code})
            continue
        source, code = mapping
        if source == ReferenceSource.INCLUDED:
            continue
        price = refs.price(source, code, day)
        if price is None:
            target.missing_events += 1
            target.missing_codes.add(f"{source}:{code}")
            continue
        if price.unit == TariffUnit.TRAJECTORY:
            if first.get((ep, org, mapping)) == at:
                target.monodisciplinary += price.amount
            continue
        target.monodisciplinary += to_money(price.amount * quantity)

    # --- per member: its insurers, then its total ------------------------------------------------------
    rows: list[NeutralityRow] = []
    members: list[NeutralityRow] = []
    total = NeutralityRow(0, _("All members"), None, _("All insurers"), is_total=True)
    by_org: dict[int, list[NeutralityRow]] = defaultdict(list)
    for c in cells.values():
        by_org[c.organisation_id].append(c)
    for org_id in sorted(by_org, key=lambda o: names.get(o, "")):
        own = sorted(by_org[org_id], key=lambda c: (c.insurer_id is None, c.insurer))
        member = NeutralityRow(org_id, names.get(org_id, ""), None, _("All insurers"), is_total=True)
        for c in own:
            member.add(c)
        rows += [*own, member]
        members.append(member)
        total.add(member)
    return NeutralityYear(year=year, rows=rows, members=members, total=total)


def neutrality_years(*, today: dt.date) -> list[int]:
    """The years the year selector offers: from the first year with care or claims up to this year."""
    first_event = CareEvent.objects.aggregate(first=Min("occurred_at"))["first"]
    first_year = timezone.localtime(first_event).year if first_event else today.year
    return list(range(today.year, min(first_year, today.year) - 1, -1))
