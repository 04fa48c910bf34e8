"""The dashboard's chart model, and building it from the rows the queries collected. Pure Python.

Each builder takes one query's collected rows (as dicts: column -> value) and the Delta commit of
the table they come from, and returns the chart to draw: one series per group over every day
(pivoted), totals over the groups, the latest `WINDOW_DAYS` days only, and an `as of` line naming
the table's version and the days shown.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

Record = Mapping[str, Any]

# Tableau 10: distinct hues that stay apart for the common kinds of colour blindness.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
TOTAL_COLOUR = "#333333"
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
    """One line of a line chart: a value (or None: nothing to plot) per day."""

    name: str
    values: dict[date, float | None]
    colour: str = ""
    dashed: bool = False


@dataclass
class LineChart:
    """A chart of daily series; `percent` plots ratios (0..1) as percentages."""

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
    """One bar: its label, the group its colour stands for, its length."""

    label: str
    group: str
    value: float


@dataclass
class BarChart:
    """A chart of horizontal bars, in the order given."""

    key: str
    title: str
    x_label: str
    bars: list[Bar]
    source: str
    as_of: str
    note: str = ""


def enrollment_charts(by_region: Sequence[Record], by_channel: Sequence[Record], commit: Commit) -> list[LineChart]:
    """Enrollments started per day by region and by channel; completion rate per day.

    Args:
        by_region: rows of `queries.enrollments_by_region`.
        by_channel: rows of `queries.enrollments_by_channel`.
        commit: the latest commit of gold.kpi_enrollments_daily.
    """
    by_region, by_channel = recent(by_region), recent(by_channel)
    as_of, source = as_of_text(commit, [r["date"] for r in by_channel]), commit.table
    started = [(r["date"], _name(r["channel"]), float(r["started"] or 0)) for r in by_channel]
    rates = [(r["date"], _name(r["channel"]), r["completion_rate"]) for r in by_channel]
    return [
        LineChart("enrollments_by_region", "Enrollments started per day, by region", "enrollments started",
                  pivot([(r["date"], _name(r["region"]), float(r["started"] or 0)) for r in by_region], 0.0),
                  source, as_of),
        LineChart("enrollments_by_channel", "Enrollments started per day, by channel", "enrollments started",
                  pivot(started, 0.0), source, as_of),
        LineChart("completion_rate", "Completion rate per day", "completed / started",
                  pivot(rates, None) + [total("all channels", by_channel, "completed", "started")], source, as_of,
                  percent=True, note="Completed enrollment events over started ones, on the same UTC day."),
    ]


def validation_charts(rows: Sequence[Record], commit: Commit) -> list[LineChart]:
    """Validation time p50/p95 and match rate per day and modality, from `queries.validation_times` rows."""
    rows = recent(rows)
    as_of, source = as_of_text(commit, [r["date"] for r in rows]), commit.table
    times: list[Series] = []
    for i, modality in enumerate(sorted({_name(r["modality"]) for r in rows})):
        mine = [r for r in rows if _name(r["modality"]) == modality]
        colour = PALETTE[i % len(PALETTE)]  # p50 and p95 of a modality share its colour
        times.append(Series(f"{modality} p50", {r["date"]: r["p50_ms"] for r in mine}, colour))
        times.append(Series(f"{modality} p95", {r["date"]: r["p95_ms"] for r in mine}, colour, dashed=True))
    matches = [(r["date"], _name(r["modality"]), r["match_rate"]) for r in rows]
    return [
        LineChart("validation_times", "Biometric validation time per day, p50 and p95", "duration (ms)", times,
                  source, as_of,
                  note="Solid: p50, dashed: p95. Regions weighted by their validations; errors excluded."),
        LineChart("match_rate", "Biometric match rate per day, by modality", "matches / (matches + no matches)",
                  pivot(matches, None), source, as_of, percent=True),
    ]


def attendance_chart(rows: Sequence[Record], commit: Commit) -> LineChart:
    """Attendance rate per day by region and over all offices, from `queries.attendance_by_region` rows."""
    rows = recent(rows)
    series = pivot([(r["date"], _name(r["region"]), r["attendance_rate"]) for r in rows], None)
    return LineChart("office_attendance", "Office attendance rate per day, by region", "attended / scheduled",
                     series + [total("all offices", rows, "attended", "scheduled")], commit.table,
                     as_of_text(commit, [r["date"] for r in rows]), percent=True)


def quarantine_chart(rows: Sequence[Record], commits: Sequence[Commit]) -> BarChart:
    """Records held in quarantine per failed rule, from `ops.summaries.quarantine_by_rule` rows.

    Args:
        rows: (table, rule, records) rows; none when no quarantine table exists.
        commits: the latest commit of every quarantine table (existing or not).
    """
    bars = [Bar(r["rule"], r["table"], float(r["records"]))
            for r in sorted(rows, key=lambda r: (r["table"], -r["records"], r["rule"]))]
    existing = [c for c in commits if c.version is not None]
    latest = max((c.at for c in existing if c.at), default=None)
    as_of = (f"as of {stamp(latest)} · " if latest else "as of now: ") + (
        ", ".join(f"{c.table} v{c.version}" for c in existing) or "no quarantine table yet")
    return BarChart("quarantine_by_rule", "Quarantined records per rule", "records in quarantine", bars,
                    "the quarantine", as_of,
                    note="All records ever quarantined; colour: quarantine table.")


def quality_chart(rows: Sequence[Record], commit: Commit) -> BarChart:
    """Rows failing each rule in each table's latest run, from `queries.rule_failures_latest_run` rows
    (warning rules keep their rows: their bars say so)."""
    bars = [Bar(r["rule"] + (" (warn)" if r["severity"] == "warn" else ""), r["table_name"], float(r["failed"] or 0))
            for r in sorted(rows, key=lambda r: (r["table_name"], -(r["failed"] or 0), r["rule"]))]
    runs = sorted({r["run_id"] for r in rows})
    as_of = as_of_text(commit, []) + (f" · run {', '.join(runs)}" if runs else "")
    return BarChart("quality_latest_run", "Rule failures in the latest run", "rows failing the rule", bars,
                    commit.table, as_of,
                    note="From ops.quality_metrics, the latest run per table; colour: table.")


def recent(rows: Sequence[Record]) -> list[Record]:
    """The rows of the latest `WINDOW_DAYS` days that have data."""
    if not rows:
        return list(rows)
    since = max(r["date"] for r in rows) - timedelta(days=WINDOW_DAYS - 1)
    return [r for r in rows if r["date"] >= since]


def pivot(rows: Iterable[tuple[date, str, float | None]], fill: float | None) -> list[Series]:
    """(date, name, value) triples as one series per name over every date; gaps take `fill`."""
    rows = list(rows)
    dates = sorted({d for d, _, _ in rows})
    values = {(d, n): v for d, n, v in rows}
    names = sorted({n for _, n, _ in rows})
    return [Series(n, {d: values.get((d, n), fill) for d in dates}, PALETTE[i % len(PALETTE)])
            for i, n in enumerate(names)]


def total(name: str, rows: Sequence[Record], num: str, den: str) -> Series:
    """One series of sum(num) / sum(den) per date over every group's row (None where sum(den) is 0)."""
    sums: dict[date, list[float]] = {}
    for r in rows:
        acc = sums.setdefault(r["date"], [0.0, 0.0])
        acc[0] += float(r[num] or 0)
        acc[1] += float(r[den] or 0)
    return Series(name, {d: _ratio(n, m) for d, (n, m) in sorted(sums.items())}, TOTAL_COLOUR, dashed=True)


def stamp(at: datetime) -> str:
    """A time as the page shows it: `2026-10-01 06:00 UTC`."""
    return f"{at:%Y-%m-%d %H:%M} UTC"


def as_of_text(commit: Commit, dates: Sequence[date]) -> str:
    """The `as of` line: the table's commit time and version, and the days shown (if any)."""
    if commit.version is None:
        return f"as of now: {commit.table} not created yet"
    when = f"{stamp(commit.at)} · " if commit.at else ""
    shown = f", data {min(dates).isoformat()} to {max(dates).isoformat()}" if dates else ""
    return f"as of {when}{commit.table} v{commit.version}{shown}"


def _name(value: object) -> str:
    return "(none)" if value is None else str(value)


def _ratio(num: float, den: float) -> float | None:
    return None if not den else num / den
