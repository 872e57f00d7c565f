"""Geometry for the trend charts, drawn by the templates as inline SVG (no JavaScript, nothing from a CDN).

The chart shows an indicator's value per month of a year as a line with points; months below the small
number are drawn hollow, months without a value leave a gap, and each insurer's target is a dashed line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from quality.selectors import Cell, IndicatorYear, MonthPoint, OrganisationYear, Target

WIDTH, HEIGHT = 560, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 92, 12, 26  # room for the axis labels and (at least) the target labels
DASHES = ("6 4", "2 3", "10 3 2 3", "1 2")
MIN_TOP = 10.0  # a rate of 0 to 3 % still gets an axis up to 10 %, not a magnified 0 to 5
FULL = 100.0  # a percentage of a count (caesareans of deliveries) cannot pass 100 %
# Target labels sit right of the plot: the widest character of the chart's font (DejaVu Sans, 11 px) is
# about 0.63 em, so a label of n characters needs at most n × 7 px; the plot narrows to leave that room.
LABEL_GAP, CHAR_PX, LABEL_LINE = 6, 7.0, 14  # a line of 11 px text is about 13.3 px high
TARGET_LABEL_CHARS = 9  # an insurer's name is cut to this many characters (the full name is in the legend)


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    month: date
    value: Decimal
    numerator: Decimal
    denominator: Decimal
    small: bool


@dataclass(frozen=True)
class TargetLine:
    y: float
    label_y: float
    target: Target
    dash: str
    name: str = ""  # the insurer, cut short, as the label beside the line shows it before the target


def target_name(target: Target) -> str:
    """The insurer as a target line's label names it: `Zilveren…` (the full name is in the legend)."""
    label = target.label
    return label if len(label) <= TARGET_LABEL_CHARS else label[: TARGET_LABEL_CHARS - 1] + "…"


def label_chars(target: Target) -> int:
    """Characters of a target line's label, `Zilveren… 92,5`: the name, a space, the target with at most
    one decimal (as `floatformat:"-1"` writes it)."""
    value = f"{float(target.target):.1f}".removesuffix(".0")
    return len(target_name(target)) + 1 + len(value)


@dataclass(frozen=True)
class Chart:
    code: str
    width: int
    height: int
    left: int
    plot_right: float
    top: int
    baseline: float
    points: list[Point]
    path: str
    gridlines: list[tuple[float, float]]  # (y, value)
    months: list[tuple[float, date]]
    targets: list[TargetLine]
    unit: str

    @property
    def empty(self) -> bool:
        return not self.points

    @property
    def mid_x(self) -> float:
        return (self.left + self.plot_right) / 2

    @property
    def mid_y(self) -> float:
        return (self.top + self.baseline) / 2


def nice_top(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above the value, so the gridlines have round labels."""
    if value <= 0:
        return 1.0
    base = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if m * base >= value - 1e-9:
            return m * base
    return 10 * base  # pragma: no cover


def scale_top(unit: str, values: list[float]) -> float:
    """The top of the value axis: a round number a little above the highest value or target.

    A percentage whose values and targets are all at most 100 stops at 100 (issue 19: 95 % with its 10 %
    headroom went to the next round number, 200, and squeezed the data into the lower half). One above
    100 (kraamzorg hours delivered versus indicated may pass it) goes up to the next multiple of 20, whose
    half is round too, rather than doubling. A score of 0 to 10 keeps its own 0 to 10 scale."""
    highest = max(values, default=0.0)
    top = highest * 1.1
    if unit == "score":
        return 10.0 if highest <= 10 else nice_top(top)
    if unit == "percent":
        if highest <= FULL:
            return min(nice_top(max(top, MIN_TOP)), FULL)
        return float(math.ceil(highest * 1.05 / 20) * 20)
    return nice_top(max(top, MIN_TOP))


def _scale_top(item: IndicatorYear) -> float:
    values = [float(p.cell.value) for p in item.months if p.cell is not None and p.cell.value is not None]
    values += [float(t.target) for t in item.targets]
    return scale_top(item.indicator.unit, values)


def _label_rows(ys: list[float], low: float, high: float) -> list[float]:
    """Baselines for the labels of lines at `ys` (top to bottom): each just below its line, at least a line
    apart, and all between `low` and `high`, so that none overlaps another or runs off the chart."""
    rows: list[float] = []
    for y in ys:
        rows.append(max(y + 4, rows[-1] + LABEL_LINE if rows else low))
    # Pushed past the bottom: stack them upwards from there instead.
    for i in range(len(rows) - 1, -1, -1):
        ceiling = high if i == len(rows) - 1 else rows[i + 1] - LABEL_LINE
        rows[i] = max(min(rows[i], ceiling), low)
    return rows


def trend_chart(item: IndicatorYear) -> Chart:
    ordered = sorted(item.targets, key=lambda t: -t.target)
    label_room = LABEL_GAP + math.ceil(max((label_chars(t) for t in ordered), default=0) * CHAR_PX)
    plot_right = WIDTH - max(RIGHT, label_room)
    baseline = HEIGHT - BOTTOM
    span_x = (plot_right - LEFT) / 11
    top_value = _scale_top(item)

    def y_of(value: float) -> float:
        return round(baseline - (value / top_value) * (baseline - TOP), 1)

    points: list[Point] = []
    path: list[str] = []
    previous: MonthPoint | None = None
    for i, mp in enumerate(item.months):
        x = round(LEFT + i * span_x, 1)
        cell = mp.cell
        if cell is None or cell.value is None:
            previous = None
            continue
        y = y_of(float(cell.value))
        points.append(Point(x, y, mp.month, cell.value, cell.numerator, cell.denominator, cell.small))
        path.append(f"{'L' if previous is not None else 'M'}{x} {y}")
        previous = mp
    ys = [y_of(float(t.target)) for t in ordered]
    # A label's baseline between the top of its capitals (TOP + 8) and the bottom of the plot: the month
    # names below stay clear.
    rows = _label_rows(ys, low=TOP + 8, high=baseline)
    targets = [
        TargetLine(y, label_y, t, DASHES[n % len(DASHES)], target_name(t))
        for n, (t, y, label_y) in enumerate(zip(ordered, ys, rows, strict=True))
    ]
    return Chart(
        code=item.code,
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        plot_right=plot_right,
        top=TOP,
        baseline=baseline,
        points=points,
        path=" ".join(path),
        gridlines=[(y_of(top_value * f), top_value * f) for f in (0, 0.5, 1)],
        months=[(round(LEFT + i * span_x, 1), m) for i, m in enumerate(d.month for d in item.months)],
        targets=targets,
        unit=item.indicator.unit,
    )


BAR_LEFT, BAR_ROW = 170, 24


@dataclass(frozen=True)
class Bar:
    y: float
    width: float
    end_x: float  # where the bar ends and its label starts
    label: str
    value: Decimal | None
    numerator: Decimal
    denominator: Decimal
    small: bool
    is_total: bool


@dataclass(frozen=True)
class ComparisonChart:
    code: str
    width: int
    height: int
    left: int
    plot_right: float
    top: int
    baseline: float
    bars: list[Bar]
    gridlines: list[tuple[float, float]]  # (x, value)
    targets: list[tuple[float, Target, str]]  # (x, target, dash)
    unit: str
    bar_height: int = BAR_ROW - 8


def comparison_chart(
    item: IndicatorYear, organisations: list[OrganisationYear], total_label: str
) -> ComparisonChart:
    """The year so far per member organisation next to the IGO as a whole, with the targets."""
    rows: list[tuple[str, Cell | None, bool]] = [(total_label, item.total, True)]
    rows += [(o.organisation.name, o.total, False) for o in organisations]
    values = [float(c.value) for _l, c, _t in rows if c is not None and c.value is not None]
    values += [float(t.target) for t in item.targets]
    top_value = scale_top(item.indicator.unit, values)
    plot_right = WIDTH - 64  # room for the label of a full bar
    height = TOP + len(rows) * BAR_ROW + BOTTOM

    def x_of(value: float) -> float:
        return round(BAR_LEFT + (value / top_value) * (plot_right - BAR_LEFT), 1)

    bars = []
    for n, (label, cell, is_total) in enumerate(rows):
        value = cell.value if cell is not None else None
        width = 0.0 if value is None else round(x_of(float(value)) - BAR_LEFT, 1)
        bars.append(
            Bar(
                y=TOP + n * BAR_ROW + 4,
                width=width,
                end_x=round(BAR_LEFT + width + 4, 1),
                label=label,
                value=value,
                numerator=cell.numerator if cell is not None else Decimal(0),
                denominator=cell.denominator if cell is not None else Decimal(0),
                small=cell is None or cell.small,
                is_total=is_total,
            )
        )
    return ComparisonChart(
        code=item.code,
        width=WIDTH,
        height=height,
        left=BAR_LEFT,
        plot_right=plot_right,
        top=TOP,
        baseline=height - BOTTOM,
        bars=bars,
        gridlines=[(x_of(top_value * f), top_value * f) for f in (0, 0.5, 1)],
        targets=[
            (x_of(float(t.target)), t, DASHES[n % len(DASHES)])
            for n, t in enumerate(sorted(item.targets, key=lambda t: -t.target))
        ],
        unit=item.indicator.unit,
    )
