"""Issue 19: quality charts of a percentage scaled the axis to 200 and cut the target labels.

The charts are geometry (quality.charts) from an indicator's year; these tests build the year by hand
(no database): monthly cells of numerator / denominator, and the insurers' targets.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from types import SimpleNamespace

from quality.charts import HEIGHT, LABEL_LINE, TOP, WIDTH, comparison_chart, scale_top, trend_chart
from quality.indicators import BY_CODE
from quality.selectors import Cell, IndicatorYear, MonthPoint, OrganisationYear, Target

D = Decimal
YEAR = 2026


def year_of(code: str, cells: dict[int, tuple[int, int]], targets: list[tuple[str, str]]) -> IndicatorYear:
    """Months (1-12) with numerator and denominator; targets as (insurer, value)."""
    indicator = BY_CODE[code]
    months = [
        MonthPoint(
            dt.date(YEAR, m, 1),
            Cell(indicator, D(cells[m][0]), D(cells[m][1]), cells[m][1]) if m in cells else None,
        )
        for m in range(1, 13)
    ]
    total = Cell(indicator, D(sum(n for n, _d in cells.values())), D(sum(d for _n, d in cells.values())), 40)
    return IndicatorYear(
        indicator=indicator,
        year=YEAR,
        months=months,
        total=total,
        targets=[Target(label, f"{i:04d}", D(value), None) for i, (label, value) in enumerate(targets)],
    )


def test_a_percentage_near_its_target_of_95_is_drawn_on_an_axis_up_to_100() -> None:
    """Kraamzorg hours delivered versus indicated: 460/490 = 93.9 %, 480/500 = 96.0 %, target 95 %. With
    10 % headroom the highest, 96.0, asks for 105.6: the next round number would be 200, but a percentage
    whose values and targets are all at most 100 stops at 100. 96.0 then sits at 96 % of the plot height."""
    item = year_of("kraamzorg_hours", {3: (460, 490), 4: (480, 500)}, [("Zilveren Kruis", "95")])
    chart = trend_chart(item)
    assert [v for _y, v in chart.gridlines] == [0, 50, 100]
    april = chart.points[1]
    assert april.value == D("96.0")
    assert april.y == round(chart.baseline - 0.96 * (chart.baseline - TOP), 1)
    assert chart.targets[0].y == round(chart.baseline - 0.95 * (chart.baseline - TOP), 1)


def test_axis_tops() -> None:
    """By hand: 20 % and a 25 % target → 27.5 → 50; 0.5 % → the 10 % floor; 96 → 100 (not 200); 104 %
    (more hours than indicated) → 104 × 1.05 = 109.2 → the next multiple of 20, 120; a score of 9.5 on the
    0-10 scale → 10 (not 20); 3.2 ‰ → 10."""
    assert scale_top("percent", [20, 25]) == 50
    assert scale_top("percent", [0.5]) == 10
    assert scale_top("percent", [96, 95]) == 100
    assert scale_top("percent", [100]) == 100
    assert scale_top("percent", [104, 95]) == 120
    assert scale_top("score", [9.5, 8]) == 10
    assert scale_top("per_mille", [3.2]) == 10


def test_the_comparison_chart_of_a_percentage_stops_at_100_too() -> None:
    item = year_of("kraamzorg_hours", {3: (460, 490), 4: (480, 500)}, [("VGZ", "95")])
    kraam = OrganisationYear(
        organisation=SimpleNamespace(name="Kraamzorg Noord"),  # type: ignore[arg-type]
        months=[],
        total=Cell(item.indicator, D(470), D(490), 10),
    )
    organisations = [kraam]
    chart = comparison_chart(item, organisations, "IGO")
    assert [v for _x, v in chart.gridlines] == [0, 50, 100]


def test_target_labels_stay_beside_the_plot_and_inside_the_chart() -> None:
    """Three low targets on a 10 % axis (preterm birth: 1.5, 1.0 and 0.5 %) lie 13 px apart at the bottom:
    labelled each just below its line, the last would run past the plot into the month names. They stay
    at least a line (14 px) apart, none below the plot's baseline, none above the top."""
    item = year_of(
        "preterm",
        {3: (1, 40), 4: (0, 40)},
        [("Zilveren Kruis", "1.5"), ("Coöperatie VGZ", "1.0"), ("Menzis", "0.5")],
    )
    chart = trend_chart(item)
    assert [v for _y, v in chart.gridlines][-1] == 10
    rows = [t.label_y for t in chart.targets]
    assert all(b - a >= LABEL_LINE for a, b in itertools.pairwise(rows))
    assert all(TOP + 8 <= r <= chart.baseline for r in rows)
    assert chart.baseline < HEIGHT
    # Each label is the insurer cut to 9 characters, right of the plot with room for it.
    assert [t.name for t in chart.targets] == ["Zilveren…", "Coöperat…", "Menzis"]
    assert WIDTH - chart.plot_right >= 6 + len("Zilveren… 1.5") * 7
