"""Charts drawn on the server as inline SVG: a line chart of a few series over time.

``line_chart`` returns a ``<figure>`` holding its legend (a list), the SVG (``role="img"`` with
an ``aria-label``, scaling to the width of its box; the x labels between the two ends are
``minor``, for a narrow screen to hide), and the same numbers as a ``<table>`` inside a
``<details>`` for screen readers and for copying. Every label is escaped; the chart needs no
script and no library.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 900
HEIGHT = 300
MARGIN_LEFT = 72
MARGIN_RIGHT = 20
MARGIN_TOP = 16
MARGIN_BOTTOM = 44
MAX_X_LABELS = 6
MAX_MARKERS = 40
"""Points get a round marker when a series has at most this many (one point is only a marker)."""

STYLES = (
    ("#2f5bd3", ""),
    ("#c2410c", "6 4"),
    ("#1a7f37", "2 3"),
    ("#7e22ce", "10 3 2 3"),
)
"""Colour and dash pattern of the 1st, 2nd, … series: told apart without colour too."""


@dataclass(frozen=True, slots=True)
class Series:
    """One measure: its name and a value per label of the chart."""

    name: str
    values: Sequence[float]


def nice_step(rough: float, *, integer: bool = True) -> float:
    """The round step (1, 2 or 5 times a power of ten) at or above ``rough``."""
    if rough <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(rough))
    for factor in (1, 2, 5, 10):
        step = factor * power
        if step >= rough * (1 - 1e-9):
            break
    if integer:
        step = max(1.0, float(round(step)))
    return float(step)


def ticks(maximum: float, count: int = 4, *, integer: bool = True) -> list[float]:
    """Round values from 0 to at least ``maximum``, about ``count`` steps (0 and 1 for nothing)."""
    if maximum <= 0 or not math.isfinite(maximum):
        return [0.0, 1.0]
    step = nice_step(maximum / count, integer=integer)
    top = math.ceil(maximum / step - 1e-9) * step
    steps = round(top / step)
    return [round(i * step, 10) for i in range(steps + 1)]


def _number(value: float) -> str:
    """A value as a label: whole numbers with thin grouping, others with up to two decimals."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _x_label_indexes(count: int) -> list[int]:
    """Which of ``count`` labels to print under the axis: at most ``MAX_X_LABELS``, both ends.

    Evenly spaced from the first; the last replaces the one before it when they would crowd.
    """
    if count <= MAX_X_LABELS:
        return list(range(count))
    step = math.ceil((count - 1) / (MAX_X_LABELS - 1))
    chosen = list(range(0, count, step))
    if chosen[-1] != count - 1:
        if count - 1 - chosen[-1] < step:
            chosen.pop()
        chosen.append(count - 1)
    return chosen


def _swatch(colour: str, dash: str) -> str:
    """A short stroke in a series' colour and dash, for the legend."""
    dashes = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        '<svg class="swatch" viewBox="0 0 28 8" width="28" height="8" aria-hidden="true">'
        f'<line x1="0" x2="28" y1="4" y2="4" stroke="{colour}" stroke-width="3"{dashes}/></svg>'
    )


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    unit: str = "",
    caption: str = "",
) -> Markup:
    """A line chart of ``series`` over ``labels`` (the x axis), as a ``<figure>``.

    ``title`` is what a screen reader hears first (the SVG's label) and the numbers table's
    caption; ``unit`` names what a row of the table is (``Day``, ``Hour``).
    """
    for one in series:
        if len(one.values) != len(labels):
            raise ValueError(f"series {one.name!r} has {len(one.values)} values for {len(labels)}")
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    top_value = max((max(s.values, default=0) for s in series), default=0)
    y_ticks = ticks(float(top_value))
    y_max = y_ticks[-1]

    def x_of(index: int) -> float:
        if len(labels) == 1:
            return MARGIN_LEFT + plot_w / 2
        return MARGIN_LEFT + plot_w * index / (len(labels) - 1)

    def y_of(value: float) -> float:
        return MARGIN_TOP + plot_h * (1 - value / y_max)

    totals = ", ".join(f"{s.name} {_number(sum(s.values))}" for s in series)
    label = f"{title}: {totals}" if series else title
    if labels:
        label += f", from {labels[0]} to {labels[-1]}"
    parts: list[str] = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'preserveAspectRatio="xMidYMid meet" role="img" aria-label="{escape(label)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
    ]
    for value in y_ticks:
        y = y_of(value)
        parts.append(
            f'<line class="grid" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" '
            f'y1="{y:.1f}" y2="{y:.1f}" stroke="#d9dee7" stroke-width="1"/>'
            f'<text class="tick y" x="{MARGIN_LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="13" fill="#5b6475">{escape(_number(value))}</text>'
        )
    base = MARGIN_TOP + plot_h
    parts.append(
        f'<line class="axis" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" '
        f'y1="{base}" y2="{base}" stroke="#5b6475" stroke-width="1"/>'
    )
    shown = _x_label_indexes(len(labels))
    for index in shown:
        x = x_of(index)
        kind = "major" if index in (shown[0], shown[-1]) else "minor"
        anchor = "middle"
        if len(labels) > 1 and index == 0:
            anchor = "start"
        elif len(labels) > 1 and index == len(labels) - 1:
            anchor = "end"
        parts.append(
            f'<line class="{kind}" x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 5}" '
            'stroke="#5b6475"/>'
            f'<text class="tick x {kind}" x="{x:.1f}" y="{base + 24}" text-anchor="{anchor}" '
            f'font-size="13" fill="#5b6475">{escape(labels[index])}</text>'
        )
    legend: list[str] = []
    for number, one in enumerate(series):
        colour, dash = STYLES[number % len(STYLES)]
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        points = " ".join(f"{x_of(i):.1f},{y_of(v):.1f}" for i, v in enumerate(one.values))
        if len(one.values) > 1:
            parts.append(
                f'<polyline class="series" points="{points}" fill="none" stroke="{colour}" '
                f'stroke-width="2.5" stroke-linejoin="round"{dashes}/>'
            )
        if len(one.values) <= MAX_MARKERS:  # smaller for each series: equal points stay seen
            radius = max(2.0, 6.0 - 1.5 * number)
            parts.extend(
                f'<circle cx="{x_of(i):.1f}" cy="{y_of(v):.1f}" r="{radius:.1f}" fill="{colour}"'
                ' stroke="#fff" stroke-width="1"/>'
                for i, v in enumerate(one.values)
            )
        legend.append(f"<li>{_swatch(colour, dash)} {escape(one.name)}</li>")
    parts.append("</svg>")

    rows = "".join(
        f'<tr><th scope="row">{escape(text)}</th>'
        + "".join(f'<td class="number">{escape(_number(s.values[i]))}</td>' for s in series)
        + "</tr>"
        for i, text in enumerate(labels)
    )
    heads = "".join(f'<th scope="col" class="number">{escape(s.name)}</th>' for s in series)
    table = (
        f"<details><summary>The numbers of this chart</summary>"
        f'<div class="table-wrap"><table><caption>{escape(title)}</caption>'
        f'<thead><tr><th scope="col">{escape(unit)}</th>{heads}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div></details>"
    )
    figcaption = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    key = f'<ul class="legend">{"".join(legend)}</ul>'
    return Markup(f'<figure class="chart">{key}{"".join(parts)}{figcaption}{table}</figure>')
