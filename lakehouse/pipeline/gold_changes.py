"""What gold must recompute since its last run, from the change data feed of the silver tables it reads.

Every gold row depends on a few silver keys, so a change reaches a known part of gold:
- an event changes its enrollment's fact, the daily enrollment KPIs of its date, and (completed)
  the office KPIs of its date; a validation, its own fact and the validation KPIs of its date; an
  office report, the office KPIs of its date;
- a change to an office's history moves the rows whose region at their time is not what it was:
  the events, validations and office days at that office are looked up against the history before
  and after, and only those whose region differs are recomputed;
- the calendar follows any event or report, the office dimension any office change.

The changes are net (`delta_changes.net_changes`): a key rotation that rewrote every `citizen_key` but no
column gold reads is no change at all. An enrollment's fact depends only on the earliest event of
each type, so it is recomputed from its events on the dates of its gold row's times and of its new
events; an enrollment that lost an event (an erasure) is recomputed from all of its events.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.gold.facts import COMPLETED, LIFECYCLE_EVENTS
from lakehouse.gold.kpis import utc_midnight
from lakehouse.gold.region import with_region_at
from lakehouse.storage import delta, delta_changes

EVENTS, VALIDATIONS, REPORTS, OFFICES = ("silver.enrollment_events", "silver.biometric_validations",
                                         "silver.office_reports", "silver.offices")
# The columns of each silver table that some gold table reads (other columns' changes are not gold's).
READ_BY_GOLD = {
    EVENTS: ["event_id", "event_type", "event_time", "event_date", "enrollment_id", "office_id", "channel"],
    VALIDATIONS: ["validation_id", "enrollment_id", "office_id", "channel", "event_time", "event_date", "modality",
                  "result", "score", "duration_ms"],
    REPORTS: ["report_date", "office_id", "staffed_hours", "appointments_scheduled", "appointments_attended"],
    OFFICES: ["office_id", "region", "valid_from"],  # the region lookup's; dim_office is rebuilt whole
}

GOLD_TIMES = ("started_at", "completed_at", "cancelled_at")  # gold.fct_enrollments: the earliest of each type


@dataclass
class Affected:
    """The parts of gold to recompute.

    Attributes:
        event_dates: dates of gold.kpi_enrollments_daily.
        validation_dates: dates of gold.kpi_validation_times_daily (and of the validations below).
        office_dates: dates of gold.kpi_office_daily.
        enrollments: (enrollment_id, whole): the facts to recompute; `whole` when the enrollment
            lost an event, so its fact is read from all of its events.
        enrollment_dates: the dates holding the events that decide the other enrollments' facts.
        validations: (validation_id) of the facts to recompute.
        calendar: whether gold.dim_date is rebuilt.
        offices: whether gold.dim_office is rebuilt.
    """

    event_dates: list[date]
    validation_dates: list[date]
    office_dates: list[date]
    enrollments: DataFrame
    enrollment_dates: list[date]
    validations: DataFrame
    calendar: bool
    offices: bool

    def describe(self) -> str:
        return (f"{len(self.event_dates)} event date(s), {len(self.validation_dates)} validation date(s), "
                f"{len(self.office_dates)} office date(s)")


def _dates(*frames: DataFrame) -> list[date]:
    """The distinct values of the one column of each frame, sorted (one Spark job for all)."""
    named = [frame.select(frame.columns[0]).withColumnRenamed(frame.columns[0], "_date") for frame in frames]
    union = reduce(DataFrame.unionByName, named)
    return sorted(row[0] for row in union.distinct().collect() if row[0] is not None)


def moved(rows: DataFrame, before: DataFrame, after: DataFrame, time_col: str) -> DataFrame:
    """The `rows` whose office's region at `time_col` is not the same under the office history
    `before` as under `after` (both silver.offices shaped)."""
    looked_up = (rows.transform(with_region_at, offices=before, time_col=time_col)
                 .withColumnRenamed("region", "_region_before")
                 .transform(with_region_at, offices=after, time_col=time_col))
    return looked_up.where(~F.col("_region_before").eqNullSafe(F.col("region"))).drop("_region_before", "region")


def _changes(spark: SparkSession, root: str, name: str, last: dict[str, int],
             inputs: dict[str, int]) -> DataFrame | None:
    """The net changes of silver table `name` between the two runs' versions (none if it is in
    neither); None when they cannot be read."""
    if name not in inputs:
        return None if name in last else delta_changes.no_changes(spark, name, READ_BY_GOLD[name])
    return delta_changes.net_changes(spark, root, name, last.get(name), inputs[name], READ_BY_GOLD[name])


def affected(spark: SparkSession, root: str, last: dict[str, int], inputs: dict[str, int],
             silver: dict[str, DataFrame]) -> Affected | None:
    """What changed in silver from the versions `last` (the last gold run's) to `inputs` (read as
    `silver`), as the parts of gold to recompute; None when a table's change feed does not cover
    the range (gold is then rebuilt whole)."""
    found = {name: _changes(spark, root, name, last, inputs) for name in READ_BY_GOLD}
    changes = {name: frame.cache() for name, frame in found.items() if frame is not None}
    if len(changes) < len(found):
        return None
    events, validations, reports, offices = (changes[n] for n in (EVENTS, VALIDATIONS, REPORTS, OFFICES))
    lifecycle = events.where(F.col("event_type").isin(*LIFECYCLE_EVENTS))
    moved_events, moved_validations, moved_days = _moves(spark, root, last, offices, silver)
    enrollments = (
        lifecycle.select("enrollment_id", (F.col("_net") < 0).alias("whole"))
        .unionByName(moved_events.select("enrollment_id", F.lit(False).alias("whole")))
        .groupBy("enrollment_id").agg(F.max("whole").alias("whole"))
        .cache()
    )
    gold_times = delta.read(spark, root, "gold.fct_enrollments").join(enrollments, "enrollment_id", "left_semi")
    result = Affected(
        event_dates=_dates(lifecycle.select("event_date"), moved_events.select("event_date")),
        validation_dates=_dates(validations.select("event_date"), moved_validations.select("event_date")),
        office_dates=_dates(events.where(F.col("event_type") == COMPLETED).select("event_date"),
                            reports.select("report_date"), moved_days),
        enrollments=enrollments,
        enrollment_dates=_dates(lifecycle.where(F.col("_net") > 0).select("event_date"),
                                moved_events.select("event_date"),
                                *(gold_times.select(F.to_date(c)) for c in GOLD_TIMES)),
        validations=(validations.select("validation_id").unionByName(moved_validations.select("validation_id"))
                     .distinct().cache()),
        calendar=not (events.isEmpty() and reports.isEmpty()),
        offices=last.get(OFFICES) != inputs.get(OFFICES),
    )
    result.validations.count()  # cached before the changes it came from are let go
    for frame in changes.values():
        frame.unpersist()
    return result


def _moves(spark: SparkSession, root: str, last: dict[str, int], offices: DataFrame,
           silver: dict[str, DataFrame]) -> tuple[DataFrame, DataFrame, DataFrame]:
    """The events (enrollment_id, event_date), validations (validation_id, event_date) and office
    days (date) whose region changed with the office histories that changed."""
    ids = sorted({r["office_id"] for r in offices.select("office_id").distinct().collect() if r["office_id"]})
    if not ids:
        return (spark.createDataFrame([], "enrollment_id string, event_date date"),
                spark.createDataFrame([], "validation_id string, event_date date"),
                spark.createDataFrame([], "date date"))
    at_offices = F.col("office_id").isin(ids)
    before = (delta.read(spark, root, OFFICES, version=last[OFFICES]) if OFFICES in last
              else silver[OFFICES].limit(0)).where(at_offices).cache()
    after = silver[OFFICES].where(at_offices).cache()
    events = silver[EVENTS].where(at_offices & F.col("event_type").isin(*LIFECYCLE_EVENTS))
    moved_events = moved(events.select("enrollment_id", "event_date", "event_time", "office_id"), before, after,
                         "event_time").select("enrollment_id", "event_date")
    moved_validations = moved(silver[VALIDATIONS].where(at_offices).select("validation_id", "event_date",
                                                                            "event_time", "office_id"),
                              before, after, "event_time").select("validation_id", "event_date")
    days = (events.where(F.col("event_type") == COMPLETED).select(F.col("event_date").alias("date"), "office_id")
            .unionByName(silver[REPORTS].where(at_offices).select(F.col("report_date").alias("date"), "office_id"))
            .distinct().withColumn("day_start", utc_midnight(F.col("date"))))
    moved_days = moved(days, before, after, "day_start").select("date")
    return moved_events.cache(), moved_validations.cache(), moved_days
