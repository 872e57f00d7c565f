"""Reads for the quality dashboards, exports and drill-down, from the stored monthly indicator values.

Nothing here computes an indicator from care data (that is `quality.indicators`, run by the refresh jobs);
the screens only read `IndicatorValue` rows, so they are fast and show what the last refresh stored.
Call inside tenant_scope.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property

from django.db.models import Prefetch
from django.utils import timezone

from billing.models import QualityAgreement
from pregnancies.models import Birth, Episode
from providers.models import MemberOrganisation
from quality.indicators import (
    BY_CODE,
    INDICATORS,
    MET,
    NEEDS_REFERENCE,
    NOT_MET,
    PARITY_GROUPS,
    ROBSON_GROUPS,
    ROBSON_SPLIT_CODES,
    ROBSON_UNCLASSIFIED,
    SMALL_NUMBER,
    Indicator,
)
from quality.indicators import interval as indicator_interval
from quality.indicators import target_decision as indicator_target_decision
from quality.models import BirthWeightReference, IndicatorValue, QualityState

PARTS = ("numerator", "denominator")
_DELIVERY_OR_CHILD = {
    "caesarean", "first_line_birth", "place_home", "place_birth_centre", "place_polyclinic",
    "place_clinical", "transfer_in_labour", "preterm", "severe_pph", "continuity",
    "low_birth_weight", "nicu", "perinatal_mortality", "perinatal_mortality_28d",
    "perinatal_mortality_24w", "perinatal_mortality_24w_28d", "referral_before_labour",
    "transfer_after_birth", "induction", "severe_perineal_tear", "low_apgar",
}  # fmt: skip
_KRAAMZORG = {
    "kraamzorg_hours", "kraamzorg_below_indication", "kraamzorg_carers", "breastfeeding_exclusive",
    "breastfeeding_any",
}  # fmt: skip
ROLLING_MONTHS = 12


@dataclass(frozen=True)
class Bounds:
    """A confidence interval in the indicator's unit (percent or per mille), to one decimal."""

    lower: Decimal
    upper: Decimal


@dataclass(frozen=True)
class Cell:
    """An indicator's counts for a month, or summed over months, with the number of clients behind it."""

    indicator: Indicator
    numerator: Decimal
    denominator: Decimal
    clients: int  # episodes in the denominator (kraamzorg counts hours, not people)
    records: int = 0  # records counted in the denominator
    population: int = 0  # records of the population, with or without the field (0: not stored)

    @property
    def value(self) -> Decimal | None:
        return self.indicator.value(self.numerator, self.denominator)

    @property
    def small(self) -> bool:
        """Too few to read a rate from, and too few to publish without singling someone out: fewer than
        SMALL_NUMBER in the denominator, or fewer than SMALL_NUMBER clients behind it."""
        return min(self.denominator, Decimal(self.clients)) < SMALL_NUMBER

    @cached_property
    def bounds(self) -> Bounds | None:
        """The exact (Clopper–Pearson) 95 % interval in the unit, for a proportion only (not hours or
        scores)."""
        found = indicator_interval(self.indicator, self.numerator, self.denominator)
        return None if found is None else Bounds(*found)

    @property
    def completeness(self) -> Decimal | None:
        """The share (percent, one decimal) of the population's records that had the field the indicator
        needs; None when not stored (values from before it was recorded)."""
        if not self.population:
            return None
        return (Decimal(self.records) * 100 / Decimal(self.population)).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP
        )

    def decision(self, target: Decimal) -> str | None:
        return target_decision(self.indicator, self, target)


@dataclass(frozen=True)
class Split:
    group: str  # NULLIPARA or MULTIPARA, or a Robson group ("robson_1" .. "robson_10", "robson_unclassified")
    cell: Cell | None
    # Robson's report table, in percent of the whole denominator (one decimal): the group's size, and its
    # contribution to the overall value (the group's numerator over the whole denominator).
    size: Decimal | None = None
    contribution: Decimal | None = None

    @property
    def robson_number(self) -> str:
        """ "1" .. "10" for a Robson group, "" for unclassified and for the parity groups."""
        prefix = "robson_"
        rest = self.group[len(prefix) :] if self.group.startswith(prefix) else ""
        return rest if rest.isdigit() else ""


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
    decision: str | None  # MET, NOT_MET, UNDECIDABLE; None: no direction or nothing measured yet

    @property
    def met(self) -> bool | None:
        """True or False only when decided; None when nothing is measured or it cannot be decided yet."""
        return {MET: True, NOT_MET: False}.get(self.decision or "")


@dataclass
class IndicatorYear:
    indicator: Indicator
    year: int
    months: list[MonthPoint]
    total: Cell | None
    targets: list[Target] = field(default_factory=list)
    rolling: Cell | None = None  # the 12 months up to the last month of the year that has begun
    rolling_end: date | None = None
    splits: list[Split] = field(default_factory=list)  # the year by parity group
    robson: list[Split] = field(default_factory=list)  # the year by Robson group (ROBSON_SPLIT_CODES only)

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
        sum(r.records for r in rows),
        sum(r.population for r in rows),
    )


def _pct(part: Decimal, whole: Decimal) -> Decimal | None:
    if not whole:
        return None
    return (part * 100 / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _robson(indicator: Indicator, rows: list[IndicatorValue], total: Cell | None) -> list[Split]:
    """The year by Robson group, for the indicators the sector reports that way; every group is listed
    (an empty one with no cell), then the women whose group could not be derived."""
    if indicator.code not in ROBSON_SPLIT_CODES or total is None:
        return []
    result = []
    for split in _splits(indicator, rows, (*ROBSON_GROUPS, ROBSON_UNCLASSIFIED)):
        if split.cell is None:
            result.append(split)
            continue
        result.append(
            Split(
                split.group,
                split.cell,
                size=_pct(split.cell.denominator, total.denominator),
                contribution=_pct(split.cell.numerator, total.denominator),
            )
        )
    return result


def _splits(
    indicator: Indicator, rows: list[IndicatorValue], groups: tuple[str, ...] = PARITY_GROUPS
) -> list[Split]:
    """The rows summed per parity (or Robson) group (the clients behind a group are not stored: its
    records)."""
    result = []
    for group in groups:
        parts = [r.splits[group] for r in rows if group in (r.splits or {})]
        if not parts:
            result.append(Split(group, None))
            continue
        records = sum(int(p["records"]) for p in parts)
        result.append(
            Split(
                group,
                Cell(
                    indicator,
                    sum((Decimal(p["numerator"]) for p in parts), Decimal(0)),
                    sum((Decimal(p["denominator"]) for p in parts), Decimal(0)),
                    records,
                    records,
                ),
            )
        )
    return result


def cell_of(indicator: Indicator, row: IndicatorValue) -> Cell:
    return Cell(
        indicator, row.numerator, row.denominator, len(row.denominator_episodes), row.records, row.population
    )


def _months(indicator: Indicator, year: int, by_month: dict[date, IndicatorValue]) -> list[MonthPoint]:
    points = []
    for month in year_months(year):
        row = by_month.get(month)
        cell = None if row is None else cell_of(indicator, row)
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


def target_decision(indicator: Indicator, cell: Cell | None, target: Decimal) -> str | None:
    """The reading of a target on a cell: quality.indicators.target_decision, which the bonus/malus
    settlement (billing.services.quality_claims) uses too."""
    if cell is None:
        return None
    return indicator_target_decision(indicator, cell.numerator, cell.denominator, cell.clients, target)


def _target_list(
    indicator: Indicator, total: Cell | None, agreements: list[QualityAgreement]
) -> list[Target]:
    per_insurer: dict[int, int] = defaultdict(int)
    for a in agreements:
        per_insurer[a.contract.insurer_id] += 1
    targets = []
    for a in agreements:
        insurer = a.contract.insurer
        # One insurer with agreements in two contract versions of the year: name the contract too.
        label = insurer.name if per_insurer[insurer.pk] == 1 else f"{insurer.name} ({a.contract.name})"
        targets.append(
            Target(label, insurer.uzovi_code, a.target, target_decision(indicator, total, a.target))
        )
    return targets


def rolling_window(year: int, today: date) -> tuple[date, date] | None:
    """The 12 months [start, end] of the rolling value shown with a year: up to December for a past year,
    up to the current month for the current year; None for a year that has not begun."""
    if year > today.year:
        return None
    end = date(year, 12, 1) if year < today.year else today.replace(day=1)
    start = date(end.year, 1, 1) if end.month == 12 else date(end.year - 1, end.month + 1, 1)
    return start, end


def reference_loaded() -> bool:
    """Whether the platform operator has loaded a birth-weight reference (small for gestational age)."""
    return BirthWeightReference.objects.exists()


def waiting_for_reference() -> set[str]:
    """The indicators not computed because the reference they need is not loaded."""
    return set() if reference_loaded() else set(NEEDS_REFERENCE)


def quality_year(
    *, year: int, codes: list[str] | None = None, today: date | None = None
) -> list[IndicatorYear]:
    """Every indicator (or those named) for the whole IGO in a year: monthly values, the year so far, the
    rolling 12 months, the year by parity, and the insurers' targets. Four queries, whatever the number
    of indicators."""
    today = today or timezone.localdate()
    # All of them, but not one that waits for a reference no one has loaded (listed as not computed).
    hidden = waiting_for_reference() if codes is None else set()
    indicators = [i for i in INDICATORS if (codes is None or i.code in codes) and i.code not in hidden]
    wanted = [i.code for i in indicators]
    window = rolling_window(year, today)
    first = min(date(year, 1, 1), window[0]) if window else date(year, 1, 1)
    rows: dict[str, dict[date, IndicatorValue]] = defaultdict(dict)
    for r in IndicatorValue.objects.filter(
        indicator__in=wanted, organisation__isnull=True, period__gte=first, period__lt=date(year + 1, 1, 1)
    ):
        rows[r.indicator][r.period] = r
    agreements = _targets(year, wanted)
    result = []
    for ind in indicators:
        in_year = [r for month, r in rows[ind.code].items() if month.year == year]
        total = _total(ind, in_year)
        rolling = None
        if window is not None:
            rolling = _total(ind, [r for m, r in rows[ind.code].items() if window[0] <= m <= window[1]])
        result.append(
            IndicatorYear(
                indicator=ind,
                year=year,
                months=_months(ind, year, rows[ind.code]),
                total=total,
                targets=_target_list(ind, total, agreements[ind.code]),
                rolling=rolling,
                rolling_end=window[1] if window else None,
                splits=_splits(ind, in_year),
                robson=_robson(ind, in_year, total),
            )
        )
    return result


def indicator_year(*, code: str, year: int, today: date | None = None) -> IndicatorYear:
    return quality_year(year=year, codes=[code], today=today)[0]


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
    from igo.tasks import beat_minutes

    return beat_minutes("quality-sweep")


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
        .select_related(
            "client", "coordinating_professional__organisation", "experience_response", "prem_response"
        )
        .prefetch_related(Prefetch("births", queryset=Birth.objects.order_by("born_at")))
        .order_by("client__family_name", "client__given_names", "pk")
    )
    return [EpisodeRow(e, _counted_on(value.indicator, e, value.period)) for e in episodes]


def _counted_on(code: str, episode: Episode, month: date) -> date | None:
    if code in _DELIVERY_OR_CHILD:
        days = [timezone.localtime(b.born_at).date() for b in episode.births.all()]
        in_month = [d for d in days if d.replace(day=1) == month]
        return min(in_month, default=None)
    if code in _KRAAMZORG:
        return episode.kraamzorg_ended_on or episode.postnatal_ended_on
    if code == "experience":
        response = getattr(episode, "experience_response", None)
        return response.answered_on if response is not None else None
    if code in ("prem_score", "prem_response"):
        prem = getattr(episode, "prem_response", None)
        if prem is None:
            return None
        return prem.sent_on if code == "prem_response" else prem.answered_on
    return None
