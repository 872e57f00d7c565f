"""Issue 19: the target labels of a quality chart were cut off. The trend chart of a percentage with three
insurers' targets is drawn by Chromium in a 390 px wide window (a phone), and every text of the SVG (axis
numbers, month names, target labels) is measured in the chart's own coordinates: none may reach outside
the chart's box, and the target labels may not overlap each other.

No server is needed: the chart's template is rendered here and given to the page as its content.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.utils import translation
from playwright.sync_api import Page

from quality.charts import trend_chart
from quality.indicators import BY_CODE
from quality.selectors import Cell, IndicatorYear, MonthPoint, Target

pytestmark = [pytest.mark.browser]

D = Decimal
MONTHS = {"jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"}
MEASURE = """(svg) => [...svg.querySelectorAll('text')].map((t) => {
    const b = t.getBBox();
    return {text: t.textContent, x: b.x, y: b.y, right: b.x + b.width, bottom: b.y + b.height,
            target: t.parentElement.dataset.testid === 'target-line'};
})"""


def _chart_html(code: str, values: list[tuple[int, int]], targets: list[tuple[str, str]]) -> str:
    indicator = BY_CODE[code]
    months = [
        MonthPoint(dt.date(2026, m, 1), Cell(indicator, D(n), D(d), 40) if n is not None else None)
        for m, (n, d) in enumerate(values, start=1)
    ]
    item = IndicatorYear(
        indicator=indicator,
        year=2026,
        months=months,
        total=None,
        targets=[Target(label, "0000", D(v), None) for label, v in targets],
    )
    with translation.override("nl"):
        return render_to_string(
            "quality/_chart.html", {"chart": trend_chart(item), "name": indicator.name, "year": 2026}
        )


@pytest.mark.parametrize(
    ("code", "values", "targets"),
    [
        # Kraamzorg hours delivered versus indicated, about 94-97 %, targets near the top of the axis.
        (
            "kraamzorg_hours",
            [(470, 490), (485, 500), (466, 490), (490, 505)] + [(None, None)] * 8,
            [("Zilveren Kruis", "97.5"), ("Coöperatie VGZ", "95"), ("Menzis", "92.5")],
        ),
        # Preterm birth, a few per cent, targets near the bottom of the axis (by the month names).
        (
            "preterm",
            [(1, 40), (0, 40), (2, 40)] + [(None, None)] * 9,
            [("Zilveren Kruis", "1.5"), ("Coöperatie VGZ", "1"), ("Menzis", "0.5")],
        ),
    ],
)
def test_every_label_of_a_percentage_chart_fits_on_a_phone(page: Page, code, values, targets) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.set_content(
        f'<!doctype html><html lang="nl"><body style="margin:8px">{_chart_html(code, values, targets)}</body></html>'
    )
    svg = page.locator("svg")
    width, height = (float(v) for v in svg.get_attribute("viewBox").split()[2:])
    assert svg.bounding_box()["width"] <= 390  # the chart scales to the window
    texts = svg.evaluate(MEASURE)
    labels = [t for t in texts if t["target"]]
    assert len(labels) == 3
    for t in texts:
        assert t["x"] >= 0 and t["right"] <= width, f"{t['text']!r} runs off the side: {t}"
        assert t["y"] >= 0 and t["bottom"] <= height, f"{t['text']!r} runs off the top or bottom: {t}"
    ordered = sorted(labels, key=lambda t: t["y"])
    for upper, lower in itertools.pairwise(ordered):
        assert upper["bottom"] <= lower["y"] + 1, f"{upper['text']!r} overlaps {lower['text']!r}"
    # Below the plot, the month names: no target label reaches down into them.
    months = [t for t in texts if not t["target"] and t["text"].strip().lower().rstrip(".") in MONTHS]
    assert len(months) == 12
    assert max(t["bottom"] for t in labels) <= min(t["y"] for t in months) + 1
    assert all(t["text"].startswith(("Zilveren…", "Coöperat…", "Menzis")) for t in labels)
