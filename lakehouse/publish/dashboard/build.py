"""Building the dashboard: read the tables, aggregate them in Spark, collect, draw, write the page.

The only module of the dashboard that touches storage: each table is read through
`lakehouse.storage.delta`, aggregated by `queries` to a few hundred rows, collected, and handed to
`charts` and `page` as plain Python values.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from lakehouse.alerts import open_incidents
from lakehouse.contract import tables_in
from lakehouse.ops.summaries import quarantine_by_rule
from lakehouse.publish.dashboard import queries
from lakehouse.publish.dashboard.charts import (
    BarChart,
    Commit,
    LineChart,
    attendance_chart,
    enrollment_charts,
    quality_chart,
    quarantine_chart,
    validation_charts,
)
from lakehouse.publish.dashboard.explore import explore_data
from lakehouse.publish.dashboard.page import dashboard_page
from lakehouse.storage import delta, files


def write_dashboard(spark: SparkSession, root: str, path: str, generated_at: datetime | None = None) -> str:
    """Write the dashboard of the lakehouse at `root` to `path`; returns where it was written.

    `path` is usually `Config.dashboard.path`: a local file, or an object under an S3 root (written
    through Hadoop's file system, so with the lake's encryption). The file is written next to its
    final place and renamed over it, so a reader never sees half a page.

    Args:
        spark: the session that reads and aggregates the tables.
        root: the lakehouse's storage root.
        path: a local file path, or an `s3a://` (`s3://`) location.
        generated_at: the page's generation time (UTC); by default now. Tests pin it.
    """
    page = render_dashboard(spark, root, generated_at)
    if "://" in path and not path.startswith("file:"):
        files.write_text(spark, path, page)
        return path
    return files.write_local_text(path, page)


def render_dashboard(spark: SparkSession, root: str, generated_at: datetime | None = None) -> str:
    """The dashboard page as a string (see `write_dashboard` for the arguments)."""
    generated = (generated_at or datetime.now(UTC)).replace(microsecond=0)
    watched = [t.full_name for t in tables_in("silver") + tables_in("gold") + tables_in("quarantine")]
    commits = {name: latest_commit(spark, root, name) for name in [*watched, "ops.quality_metrics"]}
    enrollments = delta.read(spark, root, "gold.kpi_enrollments_daily")
    validations = delta.read(spark, root, "gold.kpi_validation_times_daily")
    offices = delta.read(spark, root, "gold.kpi_office_daily")
    charts: list[LineChart | BarChart] = [
        *enrollment_charts(_rows(queries.enrollments_by_region(enrollments)),
                           _rows(queries.enrollments_by_channel(enrollments)), commits["gold.kpi_enrollments_daily"]),
        *validation_charts(_rows(queries.validation_times(validations)), commits["gold.kpi_validation_times_daily"]),
        attendance_chart(_rows(queries.attendance_by_region(offices)), commits["gold.kpi_office_daily"]),
        quarantine_chart(_quarantine_rows(spark, root), [c for n, c in commits.items() if n.startswith("quarantine.")]),
        quality_chart(_rows(queries.rule_failures_latest_run(delta.read(spark, root, "ops.quality_metrics"))),
                      commits["ops.quality_metrics"]),
    ]
    freshness = [c for n, c in commits.items() if n.split(".")[0] in ("silver", "gold")]
    alerts = open_incidents(spark, root)
    data = explore_data(_rows(queries.explore_enrollments(enrollments)),
                        _rows(queries.explore_validations(validations)),
                        _rows(queries.explore_offices(offices)), alerts, generated)
    return dashboard_page(charts, freshness, generated, alerts, data)


def latest_commit(spark: SparkSession, root: str, name: str) -> Commit:
    """The table's latest version and its commit time, from the Delta log (no Spark job)."""
    latest = delta.latest_commit(spark, root, name)
    return Commit(name, *latest) if latest else Commit(name, None, None)


def _quarantine_rows(spark: SparkSession, root: str) -> list[dict[str, Any]]:
    """Records per failed rule of the quarantine tables that exist (none: no rows, no Spark job)."""
    present = {t.full_name: delta.read(spark, root, t.full_name) for t in tables_in("quarantine")
               if delta.exists(spark, root, t.full_name)}
    return _rows(quarantine_by_rule(present)) if present else []


def _rows(frame: DataFrame) -> list[dict[str, Any]]:
    """A query's result on the driver: small by construction (a row per day and group)."""
    return [row.asDict() for row in frame.collect()]
