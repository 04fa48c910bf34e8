"""The dashboard page: one `<figure>` per chart, the freshness table, the CSS and the HTML around them.

Every chart is a `<figure class="chart" data-chart="..." data-state="ok|no-data">`; a chart with
nothing to plot shows a "No data" panel instead of an empty plot. Each freshness row is a
`<tr data-table data-version data-committed>`. Above the charts: the open alerts (a row
`<tr data-rule data-severity data-region>` each), the filters and the headline tiles.

The page loads nothing (no script, font or stylesheet from anywhere), so it opens offline. Its one
script, `explore.js`, is inlined with the rows it slices (`explore.py`, as JSON): it builds the
filters and tiles and redraws the line charts; without it the server's charts stand as they are.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from html import escape
from importlib import resources
from typing import Any

from lakehouse.publish.dashboard.charts import PALETTE, WINDOW_DAYS, BarChart, Commit, LineChart, stamp
from lakehouse.publish.dashboard.explore import embedded_json
from lakehouse.publish.dashboard.svg import bar_svg, line_svg

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
figure.chart{position:relative}.guide{stroke:#888;stroke-width:1;stroke-dasharray:2 2}
.tip{position:absolute;z-index:2;background:#fff;border:1px solid #b8bec6;border-radius:4px;padding:6px 8px;
font-size:12px;box-shadow:0 2px 6px rgba(0,0,0,.15);pointer-events:none;min-width:140px}
#filters{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:center;margin:0 0 12px;font-size:13px}
#filters .hint{color:#666;font-size:11px}
#tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:12px;margin:0 0 16px}
.tile{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:10px 14px;display:flex;flex-direction:column}
.tile .label{font-size:12px;color:#555}.tile .value{font-size:24px;font-weight:600;margin:2px 0}
.tile .change{font-size:11px;color:#666}
#alerts{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:10px 16px;margin:0 0 16px}
#alerts table{border-collapse:collapse;font-size:13px;width:100%}
#alerts td,#alerts th{text-align:left;padding:3px 10px;border-bottom:1px solid #eceef1}
.sev-critical{color:#b3261e;font-weight:600}.sev-warning{color:#9a6700;font-weight:600}
"""


def dashboard_page(charts: Sequence[LineChart | BarChart], freshness: Sequence[Commit], generated: datetime,
                   alerts: Sequence[Mapping[str, Any]] = (), data: dict[str, Any] | None = None) -> str:
    """The whole page: the open alerts, the filters and tiles, the charts in order, then the
    freshness of the `freshness` tables.

    Args:
        charts: the charts to show.
        freshness: the latest commit of each table the freshness table lists.
        generated: when the page is generated (UTC): its header, and the ages of the commits.
        alerts: the open incidents (`lakehouse.alerts.open_incidents`), most severe first.
        data: the rows the filters slice (`explore.explore_data`); without them, no script.
    """
    panels = [line_figure(c) if isinstance(c, LineChart) else bar_figure(c) for c in charts]
    panels.append(freshness_figure(freshness, generated))
    return ("<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            # an empty inline icon: without it, the browser asks the file system for favicon.ico
            '<link rel="icon" href="data:,">'
            f"<title>Lakehouse dashboard</title><style>{CSS}</style></head><body>"
            f"<header><h1>Lakehouse dashboard</h1><p>Generated {stamp(generated)} from the gold, ops and "
            f"quarantine Delta tables; time series show the latest {WINDOW_DAYS} days with data. Counts and rates "
            "only: no rows, no personal data.</p></header>"
            f"{alerts_section(alerts)}{_explorer(data)}"
            f"<main>{''.join(panels)}</main>{_script(data)}</body></html>\n")


def alerts_section(alerts: Sequence[Mapping[str, Any]]) -> str:
    """The open incidents as a table (the script hides those of other regions), or a line saying none."""
    if not alerts:
        return '<section id="alerts" data-open="0"><h2>Open alerts</h2><p class="note">No open alerts.</p></section>'
    rows = "".join(
        f'<tr data-rule="{escape(a["rule"])}" data-severity="{escape(a["severity"])}" '
        f'data-region="{escape(a["region"] or "")}"><td class="sev-{escape(a["severity"])}">'
        f'{escape(a["severity"])}</td><td>{escape(a["rule"])}</td><td>{escape(a["incident_key"] or "")}</td>'
        f'<td>{escape(a["message"] or "")}</td><td>{stamp(a["opened_at"]) if a["opened_at"] else ""}</td></tr>'
        for a in alerts)
    return (f'<section id="alerts" data-open="{len(alerts)}"><h2>Open alerts ({len(alerts)})</h2>'
            '<table><thead><tr><th>severity</th><th>rule</th><th>key</th><th>what</th><th>open since</th></tr></thead>'
            f"<tbody>{rows}</tbody></table></section>")


def _explorer(data: dict[str, Any] | None) -> str:
    return '<form id="filters" hidden></form><section id="tiles"></section>' if data is not None else ""


def _script(data: dict[str, Any] | None) -> str:
    if data is None:
        return ""
    code = resources.files("lakehouse.publish.dashboard").joinpath("explore.js").read_text(encoding="utf-8")
    return (f'<script type="application/json" id="dashboard-data">{embedded_json(data)}</script>'
            f"<script>{code}</script>")


def line_figure(chart: LineChart) -> str:
    """The chart with its legend (when it has more than one series), or a "No data" panel."""
    if not any(v is not None for s in chart.series for v in s.values.values()):
        has_rows = any(s.values for s in chart.series)
        return _figure(chart.key, chart.title, _no_data(chart.source, has_rows), chart.as_of, empty=True)
    legend = _legend([(s.name, s.colour, s.dashed) for s in chart.series]) if len(chart.series) > 1 else ""
    return _figure(chart.key, chart.title, legend + line_svg(chart), chart.as_of, chart.note)


def bar_figure(chart: BarChart) -> str:
    """The chart with a legend of its groups (one colour each), or a "No data" panel."""
    if not chart.bars:
        return _figure(chart.key, chart.title, _no_data(chart.source), chart.as_of, empty=True)
    groups = sorted({b.group for b in chart.bars})
    colours = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}
    legend = _legend([(g, colours[g], False) for g in groups])
    return _figure(chart.key, chart.title, legend + bar_svg(chart, colours), chart.as_of, chart.note)


def freshness_figure(commits: Sequence[Commit], generated: datetime) -> str:
    """A table of each table's latest Delta version, commit time and age at `generated`."""
    title = "Table freshness: latest Delta commit of each silver and gold table"
    if all(c.version is None for c in commits):
        return _figure("freshness", title, _no_data("the silver and gold layers"), f"as of {stamp(generated)}",
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
                    f"<td>{stamp(c.at) if c.at else 'unknown'}</td><td class=\"num\">{age}</td></tr>")
    body = ('<table class="freshness"><thead><tr><th>table</th><th class="num">Delta version</th><th>last commit</th>'
            f'<th class="num">age</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return _figure("freshness", title, body, f"as of {stamp(generated)}")


def _figure(key: str, title: str, body: str, as_of: str, note: str = "", empty: bool = False) -> str:
    state = "no-data" if empty else "ok"
    note_html = f'<p class="note">{escape(note)}</p>' if note and not empty else ""
    return (f'<figure class="chart" data-chart="{key}" data-state="{state}"><figcaption><h2>{escape(title)}</h2>'
            f"{note_html}</figcaption>{body}<p class=\"as-of\">{escape(as_of)}</p></figure>")


def _no_data(source: str, rows: bool = False) -> str:
    why = "nothing to plot in its rows (every rate is over zero)" if rows else "no rows yet"
    return f'<div class="no-data" role="note">No data: {escape(source)} has {why}.</div>'


def _legend(items: list[tuple[str, str, bool]]) -> str:
    entries = "".join(
        f'<li><span class="key" style="border-top:3px {"dashed" if dashed else "solid"} {colour}"></span>'
        f"{escape(name)}</li>" for name, colour, dashed in items)
    return f'<ul class="legend">{entries}</ul>'


def _age(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // (24 * 60)} days"
