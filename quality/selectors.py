"""Reads for the quality dashboards, exports and drill-down, from the stored monthly indicator values.

Nothing here computes an indicator from care data (that is `quality.indicators`, run by the refresh jobs);
the screens only read `IndicatorValue` rows, so they are fast and show what the last refresh stored.
Call inside tenant_scope.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone

from billing.models import QualityAgreement
from pregnancies.models import Birth, Episode
from providers.models import MemberOrganisation
from quality.indicators import BY_CODE, INDICATORS, SMALL_NUMBER, Indicator
from quality.models import IndicatorValue, QualityState

PARTS = ("numerator", "denominator")
_DELIVERY_OR_CHILD = {
    "caesarean", "first_line_birth", "place_home", "place_birth_centre", "place_polyclinic",
    "place_clinical", "transfer_in_labour", "preterm", "severe_pph", "continuity",
    "low_birth_weight", "nicu", "perinatal_mortality",
}  # fmt: skip


@dataclass(frozen=True)
class Cell:
    """An indicator's counts for a month, or summed over months, with the number of clients behind it."""

    indicator: Indicator
    numerator: Decimal
    denominator: Decimal
    clients: int  # episodes in the denominator (kraamzorg counts hours, not people)

    @property
    def value(self) -> Decimal | None:
        return self.indicator.value(self.numerator, self.denominator)

    @property
    def small(self) -> bool:
        """Too few to read a rate from, and too few to publish without singling someone out: fewer than
        SMALL_NUMBER in the denominator, or fewer than SMALL_NUMBER clients behind it."""
        return min(self.denominator, Decimal(self.clients)) < SMALL_NUMBER


@dataclass(frozen=True)
class MonthPoint:
    month: date
    cell: Cell | None  # None: nothing stored for the month (no episode counted in it, or not yet)


@dataclass(frozen=True)
class Target:
    """A target agreed with an insurer for the indicator and year, and whether the year so far meets it."""

    label: str
    uzovi: str
    target: Decimal
    met: bool | None  # None: no direction (descriptive indicator) or nothing measured yet


@dataclass
class IndicatorYear:
    indicator: Indicator
    year: int
    months: list[MonthPoint]
    total: Cell | None
    targets: list[Target] = field(default_factory=list)

    @property
    def code(self) -> str:
        return self.indicator.code

    @property
    def small_months(self) -> list[MonthPoint]:
        return [m for m in self.months if m.cell is not None and m.cell.small]


@dataclass
class OrganisationYear:
    organisation: MemberOrganisation
    months: list[MonthPoint]
    total: Cell | None


@dataclass(frozen=True)
class EpisodeRow:
    episode: Episode
    counted_on: date | None  # the date that puts the episode in the month (birth, end of kraamzorg, answer)


def year_months(year: int) -> list[date]:
    return [date(year, m, 1) for m in range(1, 13)]


def _total(indicator: Indicator, rows: list[IndicatorValue]) -> Cell | None:
    if not rows:
        return None
    clients: set[int] = set()
    for r in rows:
        clients.update(r.denominator_episodes)
    return Cell(
        indicator,
        sum((r.numerator for r in rows), Decimal(0)),
        sum((r.denominator for r in rows), Decimal(0)),
        len(clients),
    )


def _months(indicator: Indicator, year: int, by_month: dict[date, IndicatorValue]) -> list[MonthPoint]:
    points = []
    for month in year_months(year):
        row = by_month.get(month)
        cell = (
            None
            if row is None
            else Cell(indicator, row.numerator, row.denominator, len(row.denominator_episodes))
        )
        points.append(MonthPoint(month, cell))
    return points


def _year_values(year: int, codes: list[str], organisation: bool = False) -> list[IndicatorValue]:
    qs = IndicatorValue.objects.filter(
        indicator__in=codes, period__gte=date(year, 1, 1), period__lt=date(year + 1, 1, 1)
    )
    if organisation:
        return list(qs.filter(organisation__isnull=False).select_related("organisation"))
    return list(qs.filter(organisation__isnull=True))


def _targets(year: int, codes: list[str]) -> dict[str, list[QualityAgreement]]:
    found: dict[str, list[QualityAgreement]] = defaultdict(list)
    for agreement in (
        QualityAgreement.objects.filter(year=year, indicator__in=codes)
        .select_related("contract__insurer")
        .order_by("contract__insurer__name", "contract__valid_from", "pk")
    ):
        found[agreement.indicator].append(agreement)
    return found


def target_met(indicator: Indicator, value: Decimal | None, target: Decimal) -> bool | None:
    """The same reading as the bonus/malus settlement: at or below a target when lower is better, at or
    above it when higher is better."""
    if value is None or not indicator.better:
        return None
    return value <= target if indicator.better == "lower" else value >= target


def _target_list(
    indicator: Indicator, total: Cell | None, agreements: list[QualityAgreement]
) -> list[Target]:
    per_insurer: dict[int, int] = defaultdict(int)
    for a in agreements:
        per_insurer[a.contract.insurer_id] += 1
    value = total.value if total is not None else None
    targets = []
    for a in agreements:
        insurer = a.contract.insurer
        # One insurer with agreements in two contract versions of the year: name the contract too.
        label = insurer.name if per_insurer[insurer.pk] == 1 else f"{insurer.name} ({a.contract.name})"
        targets.append(Target(label, insurer.uzovi_code, a.target, target_met(indicator, value, a.target)))
    return targets


def quality_year(*, year: int, codes: list[str] | None = None) -> list[IndicatorYear]:
    """Every indicator (or those named) for the whole IGO in a year: monthly values, the year so far, and
    the insurers' targets. Three queries, whatever the number of indicators."""
    indicators = [i for i in INDICATORS if codes is None or i.code in codes]
    wanted = [i.code for i in indicators]
    rows: dict[str, dict[date, IndicatorValue]] = defaultdict(dict)
    for r in _year_values(year, wanted):
        rows[r.indicator][r.period] = r
    agreements = _targets(year, wanted)
    result = []
    for ind in indicators:
        total = _total(ind, list(rows[ind.code].values()))
        result.append(
            IndicatorYear(
                indicator=ind,
                year=year,
                months=_months(ind, year, rows[ind.code]),
                total=total,
                targets=_target_list(ind, total, agreements[ind.code]),
            )
        )
    return result


def indicator_year(*, code: str, year: int) -> IndicatorYear:
    return quality_year(year=year, codes=[code])[0]


def organisation_comparison(*, code: str, year: int) -> list[OrganisationYear]:
    """The indicator per member organisation (of the episode's coordinating care provider), by month."""
    indicator = BY_CODE[code]
    per_org: dict[int, dict[date, IndicatorValue]] = defaultdict(dict)
    orgs: dict[int, MemberOrganisation] = {}
    for r in _year_values(year, [code], organisation=True):
        assert r.organisation is not None
        orgs[r.organisation.pk] = r.organisation
        per_org[r.organisation.pk][r.period] = r
    return [
        OrganisationYear(
            organisation=org,
            months=_months(indicator, year, per_org[org.pk]),
            total=_total(indicator, list(per_org[org.pk].values())),
        )
        for org in sorted(orgs.values(), key=lambda o: (o.name, o.pk))
    ]


def available_years(*, today: date | None = None) -> list[int]:
    """Years with stored values, and the current year, newest first."""
    today = today or timezone.localdate()
    years = {d.year for d in IndicatorValue.objects.dates("period", "year")}
    years.add(today.year)
    return sorted(years, reverse=True)


def quality_state() -> QualityState | None:
    return QualityState.objects.first()


def sweep_minutes() -> int | None:
    """Every how many minutes the periodic sweep recomputes changed episodes, or None when no periodic
    jobs run here (settings.PERIODIC_JOBS: no beat, e.g. the embedded demo)."""
    if not settings.PERIODIC_JOBS:
        return None
    schedule = settings.CELERY_BEAT_SCHEDULE.get("quality-sweep", {}).get("schedule")
    if not isinstance(schedule, timedelta):
        return None
    return max(1, int(schedule.total_seconds() // 60))


def month_value(*, code: str, month: date, organisation: MemberOrganisation | None) -> IndicatorValue | None:
    return IndicatorValue.objects.filter(indicator=code, period=month, organisation=organisation).first()


def episodes_behind(*, value: IndicatorValue | None, part: str) -> list[EpisodeRow]:
    """The episodes counted in a stored value's numerator or denominator, with their client and the date
    that put them in the month. The ids come from the tenant's own row and are read through the scoped
    manager, so nothing of another IGO can appear."""
    if value is None:
        return []
    ids = value.numerator_episodes if part == "numerator" else value.denominator_episodes
    episodes = (
        Episode.objects.filter(pk__in=ids)
        .select_related("client", "coordinating_professional__organisation", "experience_response")
        .prefetch_related(Prefetch("births", queryset=Birth.objects.order_by("born_at")))
        .order_by("client__family_name", "client__given_names", "pk")
    )
    return [EpisodeRow(e, _counted_on(value.indicator, e, value.period)) for e in episodes]


def _counted_on(code: str, episode: Episode, month: date) -> date | None:
    if code in _DELIVERY_OR_CHILD:
        days = [timezone.localtime(b.born_at).date() for b in episode.births.all()]
        in_month = [d for d in days if d.replace(day=1) == month]
        return min(in_month, default=None)
    if code == "kraamzorg_hours":
        return episode.kraamzorg_ended_on or episode.postnatal_ended_on
    if code == "experience":
        response = getattr(episode, "experience_response", None)
        return response.answered_on if response is not None else None
    return None
