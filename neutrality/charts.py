"""Geometry of the budget-neutrality chart, drawn by the template as inline SVG (no JavaScript): per member
two horizontal bars, monodisciplinary and integral, on one scale from zero."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from neutrality.selectors import NeutralityRow
from quality.charts import nice_top

WIDTH, LEFT, RIGHT, TOP, BOTTOM = 400, 130, 50, 8, 22
BAR, GAP, GROUP_GAP = 12, 2, 14


@dataclass(frozen=True)
class MemberBars:
    label: str
    label_y: float
    mono_y: float
    mono_width: float
    integral_y: float
    integral_width: float
    monodisciplinary: Decimal
    integral: Decimal
    missing: int


@dataclass(frozen=True)
class NeutralityChart:
    width: int
    height: int
    left: int
    baseline: float
    bar: int
    members: list[MemberBars]
    gridlines: list[tuple[float, float]]  # (x, value)

    @property
    def empty(self) -> bool:
        return not self.members


def neutrality_chart(members: list[NeutralityRow]) -> NeutralityChart:
    plot = WIDTH - LEFT - RIGHT
    top_value = nice_top(float(max([max(m.monodisciplinary, m.integral) for m in members] or [Decimal(0)])))

    def width_of(value: Decimal) -> float:
        return round(max(float(value), 0.0) / top_value * plot, 1)

    bars, y = [], float(TOP)
    for m in members:
        bars.append(
            MemberBars(
                label=m.organisation,
                label_y=y,
                mono_y=y,
                mono_width=width_of(m.monodisciplinary),
                integral_y=y + BAR + GAP,
                integral_width=width_of(m.integral),
                monodisciplinary=m.monodisciplinary,
                integral=m.integral,
                missing=m.missing_events,
            )
        )
        y += 2 * BAR + GAP + GROUP_GAP
    baseline = y - GROUP_GAP + 4
    return NeutralityChart(
        width=WIDTH,
        height=int(baseline + BOTTOM),
        left=LEFT,
        baseline=baseline,
        bar=BAR,
        members=bars,
        gridlines=[(round(LEFT + plot * f, 1), top_value * f) for f in (0, 0.5, 1)],
    )
