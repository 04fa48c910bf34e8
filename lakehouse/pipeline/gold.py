"""The gold step: dimensions, facts and KPIs from silver, recomputed where silver changed.

Gold reads silver at the versions it records for the run (`ops.pipeline_runs.input_versions`).
The next run reads what the silver tables' change data feeds hold between those versions and the
new ones (`gold_changes`): the dates, enrollments and validations that changed, the office days
an office's new region history reaches. It recomputes only those rows, from only the silver dates
that hold them (silver's events are partitioned by date), and writes each gold table with one
MERGE that touches that slice (`delta_changes.replace_slice`). So the cost of fresh KPIs follows the new
data, not the history.

The whole of gold is rebuilt from the whole of silver and synced instead (only rows that differ
are rewritten) on the first run, when a gold table is missing, when a change feed does not cover
the range (a VACUUM removed its files), or on request (`lakehouse gold --full`). Both ways give
the same gold; a run with no silver change commits nothing.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.contract import schema, tables_in
from lakehouse.errors import SourceError
from lakehouse.gold import dimensions, facts, kpis
from lakehouse.ops.results import Progress, StepResult
from lakehouse.pipeline import gold_changes
from lakehouse.storage import delta, delta_changes

# The tables this step builds from silver (gold.alerts is the alerts' own: lakehouse.alerts).
BUILT = tuple(t for t in tables_in("gold") if t.full_name != "gold.alerts")
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
               last_inputs: dict[str, int] | None = None, full: bool = False) -> StepResult:
    """Bring gold up to silver: the parts that changed since `last_inputs` (the silver versions
    the last gold run read), or everything (`full`, or when the changes cannot be read); nothing
    when silver is still at `last_inputs` and every gold table exists."""
    result = StepResult(inputs=silver_versions(spark, root))
    built = all(delta.exists(spark, root, t.full_name) for t in BUILT)
    if built and last_inputs == result.inputs and not full:
        progress("silver unchanged since the last gold run: nothing to rebuild")
        return result
    # The versions recorded are the versions read, whatever commits land meanwhile.
    silver = {name: delta.read(spark, root, name, version=result.inputs.get(name)) for name in SILVER_INPUTS}
    changed = None
    if full:
        progress("full rebuild (requested)")
    elif not built or last_inputs is None:
        progress("full rebuild (no earlier gold run to follow on from)")
    elif not _as_contracted(spark, root):
        progress("full rebuild (a gold table's columns are not the contract's)")
    else:
        changed = gold_changes.affected(spark, root, last_inputs, result.inputs, silver)
        if changed is None:
            progress("full rebuild (a silver table's change feed does not reach back to the last gold run)")
    if changed is None:
        _build_whole(spark, root, silver, progress, result)
    else:
        progress(f"recomputing what changed: {changed.describe()}")
        _build_changed(spark, root, silver, changed, progress, result)
    return result


def _as_contracted(spark: SparkSession, root: str) -> bool:
    """Whether every gold table has the contract's columns, in order (a slice cannot change them)."""
    return all(delta.table_schema(spark, root, t.full_name).fieldNames() == schema(t.full_name).fieldNames()
               for t in BUILT)


def _build_whole(spark: SparkSession, root: str, silver: dict[str, DataFrame], progress: Progress,
                 result: StepResult) -> None:
    cached = {name: frame.cache() for name, frame in silver.items()}
    try:
        for name, build in gold_tables(cached).items():
            _sync_whole(spark, root, name, build, progress, result)
    finally:
        for frame in cached.values():
            frame.unpersist()


def _sync_whole(spark: SparkSession, root: str, name: str, build: Callable[[], DataFrame], progress: Progress,
                result: StepResult) -> None:
    """Gold table `name` computed whole and synced (only rows that differ are written)."""
    _write(spark, root, name, build, lambda frame: delta.sync(spark, frame, root, name), "rows", progress, result)


def _write(spark: SparkSession, root: str, name: str, build: Callable[[], DataFrame],
           write: Callable[[DataFrame], bool], what: str, progress: Progress, result: StepResult) -> None:
    frame = build().cache()
    try:
        rows = frame.count()
        result.rows_out += rows
        committed = write(frame)
    finally:
        frame.unpersist()
    if committed:
        result.versions[name] = delta.version(spark, root, name) or 0
    progress(f"{name}: {rows:,} {what}, {'updated' if committed else 'unchanged'}")


def _on_dates(frame: DataFrame, column: str, dates: list[date]) -> DataFrame:
    return frame.where(F.col(column).isin(dates))


def _build_changed(spark: SparkSession, root: str, silver: dict[str, DataFrame], changed: gold_changes.Affected,
                   progress: Progress, result: StepResult) -> None:
    """Recompute the parts of gold `changed` names: the dimensions whole when their inputs changed
    (they are small), the facts by key and the KPIs by date, each written by one MERGE of its slice."""
    events, validations = silver["silver.enrollment_events"], silver["silver.biometric_validations"]
    reports, offices = silver["silver.office_reports"], silver["silver.offices"].cache()
    rest = changed.enrollments.where("NOT whole").select("enrollment_id")
    enrollment_events = _on_dates(events, "event_date", changed.enrollment_dates).join(rest, "enrollment_id",
                                                                                         "left_semi")
    whole = changed.enrollments.where("whole").select("enrollment_id")
    if not whole.isEmpty():  # an enrollment that lost an event: all of its events, whatever their date
        enrollment_events = enrollment_events.unionByName(events.join(whole, "enrollment_id", "left_semi"))
    # table -> (its recomputed slice, the scope the slice replaces; None: nothing to recompute)
    slices: dict[str, tuple[Callable[[], DataFrame], DataFrame | None]] = {
        "gold.fct_enrollments": (lambda: facts.fct_enrollments(enrollment_events, offices),
                                 _key_scope(changed.enrollments.select("enrollment_id"))),
        "gold.fct_biometric_validations": (
            lambda: facts.fct_biometric_validations(
                _on_dates(validations, "event_date", changed.validation_dates)
                .join(changed.validations, "validation_id", "left_semi"), offices),
            _key_scope(changed.validations)),
        "gold.kpi_enrollments_daily": (
            lambda: kpis.kpi_enrollments_daily(_on_dates(events, "event_date", changed.event_dates), offices),
            _date_scope(spark, changed.event_dates)),
        "gold.kpi_validation_times_daily": (
            lambda: kpis.kpi_validation_times_daily(_on_dates(validations, "event_date", changed.validation_dates),
                                                    offices),
            _date_scope(spark, changed.validation_dates)),
        "gold.kpi_office_daily": (
            lambda: kpis.kpi_office_daily(_on_dates(reports, "report_date", changed.office_dates),
                                          _on_dates(events, "event_date", changed.office_dates), offices),
            _date_scope(spark, changed.office_dates)),
    }
    whole_tables = gold_tables(silver)
    try:
        for name, rebuilt in (("gold.dim_date", changed.calendar), ("gold.dim_office", changed.offices)):
            if rebuilt:
                _sync_whole(spark, root, name, whole_tables[name], progress, result)
        for name, (build, scope) in slices.items():
            if scope is not None:
                replace = partial(delta_changes.replace_slice, spark, root=root, name=name, scope=scope)
                _write(spark, root, name, build, replace, "rows recomputed", progress, result)
    finally:
        offices.unpersist()
        changed.enrollments.unpersist()
        changed.validations.unpersist()


def _key_scope(keys: DataFrame) -> DataFrame | None:
    return None if keys.isEmpty() else keys


def _date_scope(spark: SparkSession, dates: list[date]) -> DataFrame | None:
    return spark.createDataFrame([(d,) for d in dates], "date date") if dates else None
