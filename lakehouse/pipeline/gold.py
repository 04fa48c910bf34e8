"""The gold step: dimensions, facts and KPIs, rebuilt from silver and synced.

Each gold table is computed from the whole of silver (a month of events is small) and synced:
only rows whose values changed are rewritten, so a late event changes the KPIs of its own date
and nothing else, and a run with no silver change commits nothing.
"""
from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession

from lakehouse.contract import tables_in
from lakehouse.errors import SourceError
from lakehouse.gold import dimensions, facts, kpis
from lakehouse.ops.results import Progress, StepResult
from lakehouse.storage import delta

SILVER_INPUTS = ("silver.enrollment_events", "silver.biometric_validations", "silver.office_reports",
                 "silver.offices")


def gold_tables(silver: dict[str, DataFrame]) -> dict[str, Callable[[], DataFrame]]:
    """Each gold table's transform over the silver frames (by table name)."""
    events = silver["silver.enrollment_events"]
    validations = silver["silver.biometric_validations"]
    reports = silver["silver.office_reports"]
    offices = silver["silver.offices"]
    return {
        "gold.dim_date": lambda: dimensions.dim_date(events, reports),
        "gold.dim_office": lambda: dimensions.dim_office(offices),
        "gold.fct_enrollments": lambda: facts.fct_enrollments(events, offices),
        "gold.fct_biometric_validations": lambda: facts.fct_biometric_validations(validations, offices),
        "gold.kpi_enrollments_daily": lambda: kpis.kpi_enrollments_daily(events, offices),
        "gold.kpi_validation_times_daily": lambda: kpis.kpi_validation_times_daily(validations, offices),
        "gold.kpi_office_daily": lambda: kpis.kpi_office_daily(reports, events, offices),
    }


def silver_versions(spark: SparkSession, root: str) -> dict[str, int]:
    """The Delta versions of the silver tables gold reads (those that exist)."""
    return {name: v for name in SILVER_INPUTS if (v := delta.version(spark, root, name)) is not None}


def check_silver(spark: SparkSession, root: str) -> None:
    """Fail with a clear message when none of the silver tables gold reads exists under `root`
    (a mistyped `--root`, or silver not run yet), rather than publishing an empty gold."""
    if not silver_versions(spark, root):
        raise SourceError(f"no silver tables under {root.rstrip('/')}/silver: run the silver step first, "
                          "or check the storage root (--root)")


def build_gold(spark: SparkSession, root: str, progress: Progress,
               last_inputs: dict[str, int] | None = None) -> StepResult:
    """Rebuild and sync every gold table, unless silver is still at `last_inputs` (the silver
    versions the last gold run read) and every gold table exists."""
    result = StepResult(inputs=silver_versions(spark, root))
    built = all(delta.exists(spark, root, t.full_name) for t in tables_in("gold"))
    if built and last_inputs == result.inputs:
        progress("silver unchanged since the last gold run: nothing to rebuild")
        return result
    silver = {name: delta.read(spark, root, name).cache() for name in SILVER_INPUTS}
    try:
        for name, build in gold_tables(silver).items():
            frame = build().cache()
            rows = frame.count()
            result.rows_out += rows
            if delta.sync(spark, frame, root, name):
                result.versions[name] = delta.version(spark, root, name) or 0
                progress(f"{name}: {rows:,} rows, updated")
            else:
                progress(f"{name}: {rows:,} rows, unchanged")
            frame.unpersist()
    finally:
        for frame in silver.values():
            frame.unpersist()
    return result
