"""The dashboard: one self-contained HTML page of the gold KPIs, data quality and table freshness.

Spark first aggregates each table to a few hundred numbers; the page draws them as inline SVG on
the server side. It holds no rows and no personal data, loads nothing (no script, font or
stylesheet from anywhere) and runs no code in the browser, so it opens offline and renders the same
every time.

The rooms, in the order a page is made:
- `queries`: each chart's aggregation, DataFrame in, DataFrame out;
- `charts`: the chart model, built from the collected rows (pivots, totals, the latest 90 days);
- `svg`: the model drawn as inline SVG; `page`: the figures, the CSS and the HTML page;
- `build`: reading the tables, running the queries, collecting, writing the file.
"""
from lakehouse.publish.dashboard.build import render_dashboard, write_dashboard

__all__ = ["render_dashboard", "write_dashboard"]
