"""Quality exports: the year's monthly values (CSV, PDF) for the IGO's own use, and an anonymised CSV
of aggregated indicator data for the national perinatal registry or an opt-in comparison between IGOs.

The anonymised file holds counts for the IGO as a whole, per month and indicator, and nothing else: no
BSN, name, date of birth, episode id, member organisation or note. A cell with fewer than SMALL_NUMBER in
its denominator (or fewer clients behind it) keeps its denominator but leaves the numerator and value
blank, so that no client can be singled out. Call inside tenant_scope.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _

from igo.exports import CsvConvention, csv_bytes, pdf_bytes
from igo.models import Tenant
from quality.charts import trend_chart
from quality.indicators import SMALL_NUMBER
from quality.selectors import Cell, IndicatorYear, organisation_comparison, quality_year, year_months

MONTHLY_HEADER = (
    "indicator", "name", "unit", "year", "period", "month", "organisation", "organisation_agb", "group",
    "numerator", "denominator", "value", "ci_lower", "ci_upper", "records", "population", "completeness",
    "small_number", "targets", "target_decisions",
)  # fmt: skip
# The period of a row of the monthly export: a month, the year so far, or the 12 months up to the last
# month of the year that has begun (`month` then names that last month).
MONTH, YEAR_TO_DATE, ROLLING = "month", "year", "rolling_12"
ANONYMISED_HEADER = (
    "igo_agb", "year", "month", "indicator", "unit", "numerator", "denominator", "value", "small_number",
    "ci_lower", "ci_upper", "completeness",
)  # fmt: skip


def _n(value: Decimal | None) -> Decimal | str:
    """Counts without needless decimals (12, not 12.00; 49.5 stays), blank for nothing."""
    if value is None:
        return ""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _v(value: Decimal | None) -> Decimal | str:
    """An indicator value as computed (one decimal), blank when there is nothing to divide by."""
    return "" if value is None else value


def _targets_text(item: IndicatorYear) -> str:
    return " | ".join(f"{t.uzovi} {t.label}: {t.target}" for t in item.targets)


def _decisions_text(item: IndicatorYear) -> str:
    """Each insurer's target read on the year so far: met, not_met or undecidable (the exact interval
    still holds the target), as quality.indicators.target_decision and the bonus/malus settlement say."""
    return " | ".join(f"{t.uzovi} {t.label}: {t.decision or ''}" for t in item.targets)


def quality_csv(*, year: int, convention: CsvConvention | None = None) -> bytes:
    """Every stored monthly value of the year, the year so far and the rolling 12 months, each with its
    exact 95 % interval and completeness: the IGO as a whole (with the year split by parity and, where the
    sector reports it, by Robson group, and the insurers' targets read on the year), then per member
    organisation."""
    rows: list[tuple[object, ...]] = []
    for item in quality_year(year=year):
        ind = item.indicator
        targets = _targets_text(item)
        for p in item.months:
            if p.cell is not None:
                rows.append(_monthly_row(p.cell, year, MONTH, p.month.month, targets=targets))
        if item.total is not None:
            rows.append(
                _monthly_row(
                    item.total, year, YEAR_TO_DATE, "", targets=targets, decisions=_decisions_text(item)
                )
            )
            for split in (*item.splits, *item.robson):
                if split.cell is not None:
                    rows.append(_monthly_row(split.cell, year, YEAR_TO_DATE, "", group=split.group))
        if item.rolling is not None and item.rolling_end is not None:
            rows.append(_monthly_row(item.rolling, year, ROLLING, item.rolling_end.month))
        for org in organisation_comparison(code=ind.code, year=year):
            name, agb = org.organisation.name, org.organisation.agb_code
            for p in org.months:
                if p.cell is not None:
                    rows.append(_monthly_row(p.cell, year, MONTH, p.month.month, org=name, agb=agb))
            if org.total is not None:
                rows.append(_monthly_row(org.total, year, YEAR_TO_DATE, "", org=name, agb=agb))
    return csv_bytes(MONTHLY_HEADER, rows, convention=convention)


def _monthly_row(
    cell: Cell,
    year: int,
    period: str,
    month: int | str,
    *,
    org: str = "",
    agb: str = "",
    group: str = "",
    targets: str = "",
    decisions: str = "",
) -> tuple[object, ...]:
    ind = cell.indicator
    bounds = cell.bounds
    return (
        ind.code, str(ind.name), ind.unit, year, period, month, org, agb, group,
        _n(cell.numerator), _n(cell.denominator), _v(cell.value),
        "" if bounds is None else bounds.lower, "" if bounds is None else bounds.upper,
        cell.records if cell.population else "", cell.population or "", _v(cell.completeness),
        "yes" if cell.small else "no", targets, decisions,
    )  # fmt: skip


def anonymised_csv(*, tenant: Tenant, year: int, convention: CsvConvention | None = None) -> bytes:
    """Aggregated per month and indicator for the whole IGO, with the exact 95 % interval and the
    completeness, small cells suppressed."""
    rows: list[tuple[object, ...]] = []
    for item in quality_year(year=year):
        for p in item.months:
            cell = p.cell
            if cell is None:
                continue
            suppressed = cell.small
            # A suppressed cell keeps its interval and completeness blank too: either would let the
            # numerator be worked back.
            bounds = None if suppressed else cell.bounds
            rows.append(
                (
                    tenant.agb_code,
                    year,
                    p.month.month,
                    item.code,
                    item.indicator.unit,
                    "" if suppressed else _n(cell.numerator),
                    _n(cell.denominator),
                    "" if suppressed else _v(cell.value),
                    1 if suppressed else 0,
                    "" if bounds is None else bounds.lower,
                    "" if bounds is None else bounds.upper,
                    "" if suppressed else _v(cell.completeness),
                )
            )
    return csv_bytes(ANONYMISED_HEADER, rows, convention=convention)


def quality_pdf(*, tenant: Tenant, year: int) -> bytes:
    return pdf_bytes(
        "pdf/quality_year.html",
        {
            "tenant": tenant,
            "year": year,
            "cards": [{"item": item, "chart": trend_chart(item)} for item in quality_year(year=year)],
            "months": year_months(year),
            "small_number": SMALL_NUMBER,
            "doc_title": _("Quality indicators %(year)s") % {"year": year},
            "generated_at": timezone.localtime(),
        },
    )
