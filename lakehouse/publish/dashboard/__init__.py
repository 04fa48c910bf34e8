"""The dashboard: one self-contained HTML page of the gold KPIs, data quality and table freshness.

Spark first aggregates each table to a few hundred numbers; the page draws them as inline SVG on
the server side. It also carries the KPI rows at their own grain (day and region with channel,
modality or office; no personal data) as embedded JSON, and a script of its own (`explore.js`)
that redraws the line charts from them when a filter is chosen, shows values on hover and fills
the headline tiles. It loads nothing (no script, font or stylesheet from anywhere), so it opens
offline.

The rooms, in the order a page is made:
- `queries`: each chart's aggregation, DataFrame in, DataFrame out;
- `charts`: the chart model, built from the collected rows (pivots, totals, the latest 90 days);
- `svg`: the model drawn as inline SVG; `page`: the figures, the CSS and the HTML page;
- `explore`: the rows the filters slice, as embedded JSON; `explore.js`: the page's script;
- `build`: reading the tables, running the queries, collecting, writing the file.
"""
from lakehouse.publish.dashboard.build import render_dashboard, write_dashboard

__all__ = ["render_dashboard", "write_dashboard"]
