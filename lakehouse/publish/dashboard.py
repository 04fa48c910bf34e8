"""The dashboard: one self-contained HTML page of the gold KPIs, data quality and table freshness.

Spark first aggregates each table to a few hundred numbers; the page draws them as inline SVG on
the server side. It holds no rows and no personal data, loads nothing (no script, font or
stylesheet from anywhere) and runs no code in the browser, so it opens offline and renders the same
every time. Every chart is a ``<figure class="chart" data-chart="..." data-state="ok|no-data">``.
The plotted numbers are in the markup too: a line chart's ``<svg data-dates="...">`` lists its days
and each ``<g class="series" data-series="..." data-values="...">`` one value per day (``null`` for
none); each bar is a ``<rect data-series data-label data-value>``; each freshness row a
``<tr data-table data-version data-committed>``.
"""
from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import escape

from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F

from lakehouse.contract import tables_in
from lakehouse.ops.summaries import latest_quality, quarantine_by_rule
from lakehouse.storage import delta

# Tableau 10: distinct hues that stay apart for the common kinds of colour blindness.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
TOTAL_COLOUR = "#333333"
WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 36, 14, 46
BAR_LEFT, BAR_ROW = 210, 22
# Time series show the latest days only, so the page stays small however long the history grows.
WINDOW_DAYS = 90


@dataclass(frozen=True)
class Commit:
    """A table's latest Delta commit: version and time (both None when the table does not exist)."""

    table: str
    version: int | None
    at: datetime | None


@dataclass
class Series:
    name: str
    values: dict[date, float | None]
    colour: str = ""
    dashed: bool = False


@dataclass
class LineChart:
    key: str
    title: str
    y_label: str
    series: list[Series]
    source: str
    as_of: str
    percent: bool = False
    note: str = ""


@dataclass
class Bar:
    label: str
    group: str
    value: float


@dataclass
class BarChart:
    key: str
    title: str
    x_label: str
    bars: list[Bar]
    source: str
    as_of: str
    note: str = ""


def write_dashboard(spark: SparkSession, root: str, path: str) -> str:
    """Write the dashboard of the lakehouse at `root` to the local file `path`; returns its path.

    `path` is usually `Config.dashboard.path`. The file is written next to its final place and
    renamed over it, so a reader never sees half a page.
    """
    if "://" in path:
        raise ValueError(f"the dashboard is written to a local file, not {path!r}")
    page = render_dashboard(spark, root)
    target = os.path.abspath(path)
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".dashboard-", suffix=".html.tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(page)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return target


def render_dashboard(spark: SparkSession, root: str) -> str:
    """The dashboard page as a string."""
    generated = datetime.now(UTC).replace(microsecond=0)
    commits = {name: latest_commit(spark, root, name) for name in (
        [t.full_name for t in tables_in("silver") + tables_in("gold") + tables_in("quarantine")]
        + ["ops.quality_metrics"])}
    figures: list[LineChart | BarChart] = [
        *enrollment_charts(spark, root, commits["gold.kpi_enrollments_daily"]),
        *validation_charts(spark, root, commits["gold.kpi_validation_times_daily"]),
        attendance_chart(spark, root, commits["gold.kpi_office_daily"]),
        quarantine_chart(spark, root, [c for n, c in commits.items() if n.startswith("quarantine.")]),
        quality_chart(spark, root, commits["ops.quality_metrics"]),
    ]
    panels = [_line_figure(f) if isinstance(f, LineChart) else _bar_figure(f) for f in figures]
    freshness = [c for n, c in commits.items() if n.split(".")[0] in ("silver", "gold")]
    panels.append(_freshness_figure(freshness, generated))
    return _page(panels, generated)


# --- reading: every table aggregated by Spark to a small result ---------------------------------

def latest_commit(spark: SparkSession, root: str, name: str) -> Commit:
    """The table's latest version and its commit time, from the Delta log (no Spark job)."""
    latest = delta.latest_commit(spark, root, name)
    return Commit(name, *latest) if latest else Commit(name, None, None)


def enrollment_charts(spark: SparkSession, root: str, commit: Commit) -> list[LineChart]:
    """Enrollments started per day by region and by channel; completion rate per day."""
    kpi = delta.read(spark, root, "gold.kpi_enrollments_daily").where(F.col("date").isNotNull())
    by_region = _recent(kpi.groupBy("date", "region").agg(F.sum("enrollments_started").alias("started")).collect())
    by_channel = _recent(kpi.groupBy("date", "channel")
                         .agg(F.sum("enrollments_started").alias("started"),
                              F.sum("enrollments_completed").alias("completed"))
                         .collect())
    as_of, source = _as_of(commit, [r["date"] for r in by_channel]), commit.table
    started = [(r["date"], _name(r["channel"]), float(r["started"] or 0)) for r in by_channel]
    rates = [(r["date"], _name(r["channel"]), _ratio(r["completed"], r["started"])) for r in by_channel]
    return [
        LineChart("enrollments_by_region", "Enrollments started per day, by region", "enrollments started",
                  _pivot([(r["date"], _name(r["region"]), float(r["started"] or 0)) for r in by_region], 0.0),
                  source, as_of),
        LineChart("enrollments_by_channel", "Enrollments started per day, by channel", "enrollments started",
                  _pivot(started, 0.0), source, as_of),
        LineChart("completion_rate", "Completion rate per day", "completed / started",
                  _pivot(rates, None) + [_total("all channels", by_channel, "completed", "started")], source, as_of,
                  percent=True, note="Completed enrollment events over started ones, on the same UTC day."),
    ]


def validation_charts(spark: SparkSession, root: str, commit: Commit) -> list[LineChart]:
    """Validation time p50/p95 and match rate per day and modality, over all regions."""
    kpi = delta.read(spark, root, "gold.kpi_validation_times_daily").where(F.col("date").isNotNull())
    # Percentiles do not add up across regions; weighting each region's by the validations it was
    # computed over (errors excluded) is the closest the daily KPI allows.
    timed = F.coalesce(F.col("matches"), F.lit(0)) + F.coalesce(F.col("no_matches"), F.lit(0))

    def weighted(column: str) -> list[F.Column]:
        known = F.col(column).isNotNull() & (timed > 0)
        return [F.sum(F.when(known, F.col(column) * timed)).alias(f"{column}_sum"),
                F.sum(F.when(known, timed)).alias(f"{column}_weight")]

    rows = _recent(kpi.groupBy("date", "modality")
                   .agg(F.sum("matches").alias("matches"), F.sum(timed).alias("timed"),
                        *weighted("p50_ms"), *weighted("p95_ms"))
                   .collect())
    as_of, source = _as_of(commit, [r["date"] for r in rows]), commit.table
    times: list[Series] = []
    for i, modality in enumerate(sorted({_name(r["modality"]) for r in rows})):
        mine = [r for r in rows if _name(r["modality"]) == modality]
        colour = PALETTE[i % len(PALETTE)]
        times.append(Series(f"{modality} p50", {r["date"]: _ratio(r["p50_ms_sum"], r["p50_ms_weight"]) for r in mine},
                            colour))
        times.append(Series(f"{modality} p95", {r["date"]: _ratio(r["p95_ms_sum"], r["p95_ms_weight"]) for r in mine},
                            colour, dashed=True))
    matches = [(r["date"], _name(r["modality"]), _ratio(r["matches"], r["timed"])) for r in rows]
    return [
        LineChart("validation_times", "Biometric validation time per day, p50 and p95", "duration (ms)", times,
                  source, as_of,
                  note="Solid: p50, dashed: p95. Regions weighted by their validations; errors excluded."),
        LineChart("match_rate", "Biometric match rate per day, by modality", "matches / (matches + no matches)",
                  _pivot(matches, None), source, as_of, percent=True),
    ]


def attendance_chart(spark: SparkSession, root: str, commit: Commit) -> LineChart:
    """Appointments attended over scheduled per day, by region and over all offices."""
    kpi = delta.read(spark, root, "gold.kpi_office_daily").where(F.col("date").isNotNull())
    rows = _recent(kpi.groupBy("date", "region")
                   .agg(F.sum("appointments_scheduled").alias("scheduled"),
                        F.sum("appointments_attended").alias("attended"))
                   .collect())
    series = _pivot([(r["date"], _name(r["region"]), _ratio(r["attended"], r["scheduled"])) for r in rows], None)
    return LineChart("office_attendance", "Office attendance rate per day, by region", "attended / scheduled",
                     series + [_total("all offices", rows, "attended", "scheduled")], commit.table,
                     _as_of(commit, [r["date"] for r in rows]), percent=True)


def quarantine_chart(spark: SparkSession, root: str, commits: list[Commit]) -> BarChart:
    """Records held in quarantine per failed rule (a record failing two rules counts for both)."""
    present = {t.full_name: delta.read(spark, root, t.full_name) for t in tables_in("quarantine")
               if delta.exists(spark, root, t.full_name)}
    rows = quarantine_by_rule(present).collect() if present else []
    bars = [Bar(r["rule"], r["table"], float(r["records"]))
            for r in sorted(rows, key=lambda r: (r["table"], -r["records"], r["rule"]))]
    existing = [c for c in commits if c.version is not None]
    latest = max((c.at for c in existing if c.at), default=None)
    as_of = (f"as of {_stamp(latest)} · " if latest else "as of now: ") + (
        ", ".join(f"{c.table} v{c.version}" for c in existing) or "no quarantine table yet")
    return BarChart("quarantine_by_rule", "Quarantined records per rule", "records in quarantine", bars,
                    "the quarantine", as_of,
                    note="All records ever quarantined; colour: quarantine table.")


def quality_chart(spark: SparkSession, root: str, commit: Commit) -> BarChart:
    """Rows failing each rule in each silver table's latest run (warning rules keep their rows)."""
    rows = latest_quality(delta.read(spark, root, "ops.quality_metrics")).where(F.col("rule") != "*").collect()
    bars = [Bar(r["rule"] + (" (warn)" if r["severity"] == "warn" else ""), r["table_name"], float(r["failed"] or 0))
            for r in sorted(rows, key=lambda r: (r["table_name"], -(r["failed"] or 0), r["rule"]))]
    runs = sorted({r["run_id"] for r in rows})
    as_of = _as_of(commit, []) + (f" · run {', '.join(runs)}" if runs else "")
    return BarChart("quality_latest_run", "Rule failures in the latest run", "rows failing the rule", bars,
                    commit.table, as_of,
                    note="From ops.quality_metrics, the latest run per table; colour: table.")


def _recent(rows: list[Row]) -> list[Row]:
    """The rows of the latest `WINDOW_DAYS` days that have data."""
    if not rows:
        return rows
    since = max(r["date"] for r in rows) - timedelta(days=WINDOW_DAYS - 1)
    return [r for r in rows if r["date"] >= since]


def _name(value: object) -> str:
    return "(none)" if value is None else str(value)


def _ratio(num: float | int | None, den: float | int | None) -> float | None:
    return None if num is None or not den else float(num) / float(den)


def _pivot(rows: Iterable[tuple[date, str, float | None]], fill: float | None) -> list[Series]:
    """(date, name, value) triples as one series per name over every date; gaps take `fill`."""
    rows = list(rows)
    dates = sorted({d for d, _, _ in rows})
    values = {(d, n): v for d, n, v in rows}
    names = sorted({n for _, n, _ in rows})
    return [Series(n, {d: values.get((d, n), fill) for d in dates}, PALETTE[i % len(PALETTE)])
            for i, n in enumerate(names)]


def _total(name: str, rows: list[Row], num: str, den: str) -> Series:
    """One series of sum(num) / sum(den) per date over every group's row."""
    sums: dict[date, list[float]] = {}
    for r in rows:
        acc = sums.setdefault(r["date"], [0.0, 0.0])
        acc[0] += float(r[num] or 0)
        acc[1] += float(r[den] or 0)
    return Series(name, {d: _ratio(n, m) for d, (n, m) in sorted(sums.items())}, TOTAL_COLOUR, dashed=True)


def _stamp(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def _as_of(commit: Commit, dates: list[date]) -> str:
    if commit.version is None:
        return f"as of now: {commit.table} not created yet"
    when = f"{_stamp(commit.at)} · " if commit.at else ""
    shown = f", data {min(dates).isoformat()} to {max(dates).isoformat()}" if dates else ""
    return f"as of {when}{commit.table} v{commit.version}{shown}"


# --- drawing: inline SVG, computed here -------------------------------------------------------

def _num(value: float) -> str:
    """A value for a data attribute: integers as such, others to 4 decimals."""
    return str(int(value)) if float(value).is_integer() else repr(round(value, 4))


def _shown(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.2f}"


def _nice_top(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value)


def _tick(value: float, top: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.0f}%"
    return f"{value:,.0f}" if top >= 10 else f"{value:g}"


def _legend(items: list[tuple[str, str, bool]]) -> str:
    entries = "".join(
        f'<li><span class="key" style="border-top:3px {"dashed" if dashed else "solid"} {colour}"></span>'
        f"{escape(name)}</li>" for name, colour, dashed in items)
    return f'<ul class="legend">{entries}</ul>'


def _line_svg(chart: LineChart) -> str:
    dates = sorted({d for s in chart.series for d in s.values})
    values = [v for s in chart.series for v in s.values.values() if v is not None]
    if chart.percent:
        top = 1.0 if max(values) <= 1 else _nice_top(max(values))
    else:  # counts: at least 0..5, so a small count does not get fractional ticks
        top = _nice_top(max(values + [5.0]))
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
                   f"{_tick(tick, top, chart.percent)}</text>")
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
        shown = " ".join("null" if (v := s.values.get(d)) is None else _num(v) for d in dates)
        out.append(f'<marker id="{dot}" viewBox="0 0 6 6" refX="3" refY="3" markerWidth="6" markerHeight="6" '
                   f'markerUnits="userSpaceOnUse"><circle cx="3" cy="3" r="{radius}" fill="{s.colour}"/></marker>'
                   f'<g class="series" data-series="{escape(s.name)}" data-values="{shown}" fill="{s.colour}">'
                   f'<title>{escape(s.name)}</title>{"".join(marks)}</g>')
    out.append("</svg>")
    return "".join(out)


def _axes(mid_x: float, mid_y: float, x_label: str, y_label: str) -> str:
    bottom = HEIGHT - BOTTOM
    return (f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{bottom}"/>'
            f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{bottom}" y2="{bottom}"/>'
            f'<text class="axis-label" x="{mid_x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(x_label)}</text>'
            f'<text class="axis-label" transform="translate(16 {mid_y:.1f}) rotate(-90)" '
            f'text-anchor="middle">{escape(y_label)}</text>')


def _bar_svg(chart: BarChart, colours: dict[str, str]) -> str:
    top = _nice_top(max([5.0] + [b.value for b in chart.bars]))
    width, height = WIDTH - BAR_LEFT - RIGHT - 40, BAR_ROW * len(chart.bars)
    total = TOP + height + BOTTOM

    def x(v: float) -> float:
        return BAR_LEFT + width * v / top

    out = [f'<svg class="plot" viewBox="0 0 {WIDTH} {total}" role="img" aria-label="{escape(chart.title)}">']
    for i in range(6):
        v = top * i / 5
        out.append(f'<line class="grid" x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{TOP}" y2="{TOP + height}"/>'
                   f'<text class="tick" x="{x(v):.1f}" y="{TOP + height + 16}" text-anchor="middle">'
                   f"{_tick(v, top, False)}</text>")
    for i, b in enumerate(chart.bars):
        row = TOP + i * BAR_ROW
        out.append(f'<text class="tick" x="{BAR_LEFT - 6}" y="{row + 15}" text-anchor="end">{escape(b.label)}</text>'
                   f'<rect class="bar" x="{BAR_LEFT}" y="{row + 4}" width="{x(b.value) - BAR_LEFT:.1f}" height="14" '
                   f'fill="{colours[b.group]}" data-label="{escape(b.label)}" data-series="{escape(b.group)}" '
                   f'data-value="{_num(b.value)}"><title>{escape(b.group)} · {escape(b.label)}: '
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


def _figure(key: str, title: str, body: str, as_of: str, note: str = "", empty: bool = False) -> str:
    state = "no-data" if empty else "ok"
    note_html = f'<p class="note">{escape(note)}</p>' if note and not empty else ""
    return (f'<figure class="chart" data-chart="{key}" data-state="{state}"><figcaption><h2>{escape(title)}</h2>'
            f"{note_html}</figcaption>{body}<p class=\"as-of\">{escape(as_of)}</p></figure>")


def _no_data(source: str, rows: bool = False) -> str:
    why = "nothing to plot in its rows (every rate is over zero)" if rows else "no rows yet"
    return f'<div class="no-data" role="note">No data: {escape(source)} has {why}.</div>'


def _line_figure(chart: LineChart) -> str:
    if not any(v is not None for s in chart.series for v in s.values.values()):
        has_rows = any(s.values for s in chart.series)
        return _figure(chart.key, chart.title, _no_data(chart.source, has_rows), chart.as_of, empty=True)
    legend = _legend([(s.name, s.colour, s.dashed) for s in chart.series]) if len(chart.series) > 1 else ""
    return _figure(chart.key, chart.title, legend + _line_svg(chart), chart.as_of, chart.note)


def _bar_figure(chart: BarChart) -> str:
    if not chart.bars:
        return _figure(chart.key, chart.title, _no_data(chart.source), chart.as_of, empty=True)
    groups = sorted({b.group for b in chart.bars})
    colours = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}
    legend = _legend([(g, colours[g], False) for g in groups])
    return _figure(chart.key, chart.title, legend + _bar_svg(chart, colours), chart.as_of, chart.note)


def _freshness_figure(commits: list[Commit], generated: datetime) -> str:
    title = "Table freshness: latest Delta commit of each silver and gold table"
    if all(c.version is None for c in commits):
        return _figure("freshness", title, _no_data("the silver and gold layers"), f"as of {_stamp(generated)}",
                       empty=True)
    rows = []
    for c in commits:
        if c.version is None:
            rows.append(f'<tr data-table="{c.table}" data-version=""><td>{c.table}</td>'
                        f'<td colspan="3" class="missing">not created yet</td></tr>')
            continue
        at = c.at.isoformat().replace("+00:00", "Z") if c.at else ""
        age = _age(generated - c.at) if c.at else ""
        rows.append(f'<tr data-table="{c.table}" data-version="{c.version}" data-committed="{at}">'
                    f'<td>{c.table}</td><td class="num">{c.version}</td>'
                    f"<td>{_stamp(c.at) if c.at else 'unknown'}</td><td class=\"num\">{age}</td></tr>")
    body = ('<table class="freshness"><thead><tr><th>table</th><th class="num">Delta version</th><th>last commit</th>'
            f'<th class="num">age</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return _figure("freshness", title, body, f"as of {_stamp(generated)}")


def _age(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // (24 * 60)} days"


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px;color:#222;
background:#f6f7f9}
header h1{margin:0 0 4px;font-size:22px}header p{margin:0 0 16px;color:#555;font-size:13px}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:16px}
figure.chart{margin:0;background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:12px 16px}
figure.chart[data-chart=freshness]{grid-column:1/-1}
h2{font-size:15px;margin:0 0 4px}.note{margin:0;color:#555;font-size:12px}
.as-of{margin:6px 0 0;color:#666;font-size:11px}
.plot{width:100%;height:auto;display:block}
.plot text{font-size:11px;fill:#444}.plot .axis-label{font-size:12px;fill:#222}
.grid{stroke:#e6e8eb;stroke-width:1}.axis{stroke:#555;stroke-width:1}
.legend{list-style:none;margin:6px 0;padding:0;display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px}
.key{display:inline-block;width:18px;margin-right:5px;vertical-align:middle}
.no-data{display:flex;align-items:center;justify-content:center;height:140px;background:#f3f4f6;
border:1px dashed #b8bec6;border-radius:4px;color:#555;font-size:14px}
table.freshness{border-collapse:collapse;font-size:13px;width:100%}
.freshness th,.freshness td{text-align:left;padding:4px 10px;border-bottom:1px solid #eceef1}
.freshness .num,.freshness th.num{text-align:right}.freshness .missing{color:#888;font-style:italic}
"""


def _page(panels: list[str], generated: datetime) -> str:
    return ("<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            # an empty inline icon: without it, the browser asks the file system for favicon.ico
            '<link rel="icon" href="data:,">'
            f"<title>Lakehouse dashboard</title><style>{CSS}</style></head><body>"
            f"<header><h1>Lakehouse dashboard</h1><p>Generated {_stamp(generated)} from the gold, ops and "
            f"quarantine Delta tables; time series show the latest {WINDOW_DAYS} days with data. Counts and rates "
            "only: no rows, no personal data.</p></header>"
            f"<main>{''.join(panels)}</main></body></html>\n")
