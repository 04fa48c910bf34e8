"""Drawing the chart model as inline SVG, every coordinate computed here (no script in the page).

The plotted numbers are in the markup too, for tests and for anyone reading the page's source: a
line chart's `<svg data-dates="...">` lists its days and each `<g class="series" data-series="..."
data-values="...">` one value per day (`null` for none); each bar is a `<rect data-series
data-label data-value>`.
"""
from __future__ import annotations

import math
from datetime import date, timedelta
from html import escape

from lakehouse.publish.dashboard.charts import BarChart, LineChart

WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 36, 14, 46
BAR_LEFT, BAR_ROW = 210, 22


def line_svg(chart: LineChart) -> str:
    """The chart's plot: grid, ticks, axes and one group per series (at least one value needed)."""
    dates = sorted({d for s in chart.series for d in s.values})
    values = [v for s in chart.series for v in s.values.values() if v is not None]
    if chart.percent:
        top = 1.0 if max(values) <= 1 else nice_top(max(values))
    else:  # counts: at least 0..5, so a small count does not get fractional ticks
        top = nice_top(max(values + [5.0]))
    first, span = dates[0], (dates[-1] - dates[0]).days
    width, height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    radius = 3 if len(dates) <= 45 else 1.5

    def x(d: date) -> float:
        return LEFT + (width * (d - first).days / span if span else width / 2)

    def y(v: float) -> float:
        return TOP + height * (1 - min(v, top) / top)

    out = [f'<svg class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(chart.title)}" '
           f'data-dates="{" ".join(d.isoformat() for d in dates)}">']
    for tick in (top * i / 5 for i in range(6)):
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
                   f'<text class="tick" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">'
                   f"{tick_label(tick, top, chart.percent)}</text>")
    for k in range(0, span + 1, max(1, math.ceil(span / 5))):
        d = first + timedelta(days=k)
        out.append(f'<line class="axis" x1="{x(d):.1f}" x2="{x(d):.1f}" y1="{HEIGHT - BOTTOM}" '
                   f'y2="{HEIGHT - BOTTOM + 4}"/><text class="tick" x="{x(d):.1f}" y="{HEIGHT - BOTTOM + 16}" '
                   f'text-anchor="middle">{d.isoformat()}</text>')
    out.append(_axes(LEFT + width / 2, TOP + height / 2, "UTC date", chart.y_label))
    for i, s in enumerate(chart.series):
        # A line joins the days that have a value, with a dot on each (a marker: one element per line,
        # not per day, keeps the page small); a day without a value (a rate over nothing) breaks it,
        # and so do days missing from the table (no straight line across weeks without data).
        dot = f"dot-{chart.key}-{i}"
        runs: list[list[tuple[float, float]]] = [[]]
        for before, d in zip([None, *dates], dates, strict=False):
            v = s.values.get(d)
            if v is None or (before is not None and (d - before).days > 1):
                runs.append([])
            if v is not None:
                runs[-1].append((x(d), y(v)))
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        marks = [f'<polyline fill="none" stroke="{s.colour}" stroke-width="2"{dash} marker-start="url(#{dot})" '
                 f'marker-mid="url(#{dot})" marker-end="url(#{dot})" '
                 f'points="{" ".join(f"{px:.1f},{py:.1f}" for px, py in run)}"/>' if len(run) > 1 else
                 f'<circle cx="{run[0][0]:.1f}" cy="{run[0][1]:.1f}" r="{radius}"/>' for run in runs if run]
        shown = " ".join("null" if (v := s.values.get(d)) is None else data_number(v) for d in dates)
        out.append(f'<marker id="{dot}" viewBox="0 0 6 6" refX="3" refY="3" markerWidth="6" markerHeight="6" '
                   f'markerUnits="userSpaceOnUse"><circle cx="3" cy="3" r="{radius}" fill="{s.colour}"/></marker>'
                   f'<g class="series" data-series="{escape(s.name)}" data-values="{shown}" fill="{s.colour}">'
                   f'<title>{escape(s.name)}</title>{"".join(marks)}</g>')
    out.append("</svg>")
    return "".join(out)


def bar_svg(chart: BarChart, colours: dict[str, str]) -> str:
    """The chart's plot: one row per bar, coloured by its group (at least one bar needed)."""
    top = nice_top(max([5.0] + [b.value for b in chart.bars]))
    width, height = WIDTH - BAR_LEFT - RIGHT - 40, BAR_ROW * len(chart.bars)
    total = TOP + height + BOTTOM

    def x(v: float) -> float:
        return BAR_LEFT + width * v / top

    out = [f'<svg class="plot" viewBox="0 0 {WIDTH} {total}" role="img" aria-label="{escape(chart.title)}">']
    for i in range(6):
        v = top * i / 5
        out.append(f'<line class="grid" x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{TOP}" y2="{TOP + height}"/>'
                   f'<text class="tick" x="{x(v):.1f}" y="{TOP + height + 16}" text-anchor="middle">'
                   f"{tick_label(v, top, False)}</text>")
    for i, b in enumerate(chart.bars):
        row = TOP + i * BAR_ROW
        out.append(f'<text class="tick" x="{BAR_LEFT - 6}" y="{row + 15}" text-anchor="end">{escape(b.label)}</text>'
                   f'<rect class="bar" x="{BAR_LEFT}" y="{row + 4}" width="{x(b.value) - BAR_LEFT:.1f}" height="14" '
                   f'fill="{colours[b.group]}" data-label="{escape(b.label)}" data-series="{escape(b.group)}" '
                   f'data-value="{data_number(b.value)}"><title>{escape(b.group)} · {escape(b.label)}: '
                   f"{_shown(b.value)}</title></rect>"
                   f'<text class="value" x="{x(b.value) + 4:.1f}" y="{row + 15}">{_shown(b.value)}</text>')
    bottom = TOP + height
    out.append(f'<line class="axis" x1="{BAR_LEFT}" x2="{BAR_LEFT}" y1="{TOP}" y2="{bottom}"/>'
               f'<line class="axis" x1="{BAR_LEFT}" x2="{BAR_LEFT + width}" y1="{bottom}" y2="{bottom}"/>'
               f'<text class="axis-label" x="{BAR_LEFT + width / 2:.1f}" y="{total - 8}" '
               f'text-anchor="middle">{escape(chart.x_label)}</text>'
               f'<text class="axis-label" transform="translate(16 {TOP + height / 2:.1f}) rotate(-90)" '
               f'text-anchor="middle">rule</text></svg>')
    return "".join(out)


def data_number(value: float) -> str:
    """A value for a data attribute: integers as such, others to 4 decimals."""
    return str(int(value)) if float(value).is_integer() else repr(round(value, 4))


def nice_top(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value)


def tick_label(value: float, top: float, percent: bool) -> str:
    """An axis tick: a percentage, or a count (with decimals only on an axis that tops below 10)."""
    if percent:
        return f"{value * 100:.0f}%"
    return f"{value:,.0f}" if top >= 10 else f"{value:g}"


def _shown(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.2f}"


def _axes(mid_x: float, mid_y: float, x_label: str, y_label: str) -> str:
    bottom = HEIGHT - BOTTOM
    return (f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{bottom}"/>'
            f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{bottom}" y2="{bottom}"/>'
            f'<text class="axis-label" x="{mid_x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(x_label)}</text>'
            f'<text class="axis-label" transform="translate(16 {mid_y:.1f}) rotate(-90)" '
            f'text-anchor="middle">{escape(y_label)}</text>')
