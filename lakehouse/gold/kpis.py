"""Gold KPIs: daily enrollment, validation-time and office figures."""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.contract import conform
from lakehouse.gold.facts import CANCELLED, COMPLETED, LIFECYCLE_EVENTS, STARTED
from lakehouse.gold.region import with_region_at


def _count_where(condition: Column) -> Column:
    return F.count(F.when(condition, F.lit(1)))


def _ratio(numerator: Column, denominator: Column) -> Column:
    """numerator / denominator as a double; null when the denominator is 0 or null (ANSI-safe)."""
    return F.try_divide(numerator.cast("double"), denominator.cast("double"))


def utc_midnight(date: Column) -> Column:
    """The instant a UTC date starts, whatever the session time zone."""
    return F.timestamp_seconds(F.unix_date(date).cast("bigint") * 86400)


def kpi_enrollments_daily(events: DataFrame, offices: DataFrame) -> DataFrame:
    """Enrollment lifecycle events per UTC day, region and channel.

    Grain: one row per (date, region, channel) with at least one enrollment_started,
    enrollment_completed or enrollment_cancelled event; date is the event's UTC date and region the
    office's region at event_time. The counts are of events, so a day can complete enrollments it
    did not start. completion_rate = completed / started, null when started is 0.

    Example:
        (2026-01-10, OF-1 in North, office): started, started, completed;
        (2026-01-11, OF-1 in North, office): completed
        -> (2026-01-10, North, office, 2, 1, 0, 0.5), (2026-01-11, North, office, 0, 1, 0, null)

    Args:
        events: silver.enrollment_events.
        offices: silver.offices.

    Returns:
        gold.kpi_enrollments_daily.
    """
    event_type = F.col("event_type")
    daily = (
        events.where(event_type.isin(*LIFECYCLE_EVENTS))
        .transform(with_region_at, offices=offices, time_col="event_time")
        .groupBy(F.col("event_date").alias("date"), "region", "channel")
        .agg(
            _count_where(event_type == STARTED).alias("enrollments_started"),
            _count_where(event_type == COMPLETED).alias("enrollments_completed"),
            _count_where(event_type == CANCELLED).alias("enrollments_cancelled"),
        )
    )
    rate = _ratio(F.col("enrollments_completed"), F.col("enrollments_started"))
    return conform(daily.withColumn("completion_rate", rate), "gold.kpi_enrollments_daily")


def kpi_validation_times_daily(validations: DataFrame, offices: DataFrame) -> DataFrame:
    """Biometric validations per UTC day, region and modality, with their durations.

    Grain: one row per (date, region, modality) with at least one validation; date is the event's
    UTC date and region the office's region at event_time. validations counts every row; matches,
    no_matches and errors count by result; match_rate = matches / (matches + no_matches), null when
    that is 0. p50_ms and p95_ms are exact percentiles with linear interpolation (Spark's
    `percentile`, not `percentile_approx`) and avg_ms the mean, all of duration_ms over the results
    other than "error"; null when there are none.

    Example:
        (2026-01-10, North, face): match 100 ms, match 200 ms, no_match 300 ms, error 9000 ms
        -> (2026-01-10, North, face, 4, 2, 1, 1, 0.6667, 200.0, 290.0, 200.0)

    Args:
        validations: silver.biometric_validations.
        offices: silver.offices.

    Returns:
        gold.kpi_validation_times_daily.
    """
    result = F.col("result")
    timed_ms = F.when(result != "error", F.col("duration_ms"))  # null rows are ignored by the aggregates
    daily = (
        validations.transform(with_region_at, offices=offices, time_col="event_time")
        .groupBy(F.col("event_date").alias("date"), "region", "modality")
        .agg(
            F.count(F.lit(1)).alias("validations"),
            _count_where(result == "match").alias("matches"),
            _count_where(result == "no_match").alias("no_matches"),
            _count_where(result == "error").alias("errors"),
            F.percentile(timed_ms, F.lit(0.5)).alias("p50_ms"),
            F.percentile(timed_ms, F.lit(0.95)).alias("p95_ms"),
            F.avg(timed_ms).alias("avg_ms"),
        )
    )
    rate = _ratio(F.col("matches"), F.col("matches") + F.col("no_matches"))
    return conform(daily.withColumn("match_rate", rate), "gold.kpi_validation_times_daily")


def kpi_office_daily(office_reports: DataFrame, events: DataFrame, offices: DataFrame) -> DataFrame:
    """Office operations per UTC day: the office's report joined with its completed enrollments.

    Grain: one row per (date, office_id) that has a report or at least one enrollment_completed
    event (full outer join). region is the office's region at the date's start (00:00 UTC).
    appointments_* and staffed_hours come from the report (null without one); attendance_rate =
    attended / scheduled, null when scheduled is 0 or null; enrollments_completed counts that day's
    enrollment_completed events at the office (0 when none); completed_per_staffed_hour =
    enrollments_completed / staffed_hours, null when staffed_hours is 0 or null.

    Example:
        report (2026-01-10, OF-1, 8.0 h, 10 scheduled, 8 attended); completed events at OF-1 on
        2026-01-10 and 2026-01-11
        -> (2026-01-10, OF-1, North, 10, 8, 0.8, 8.0, 1, 0.125),
           (2026-01-11, OF-1, North, null, null, null, null, 1, null)

    Args:
        office_reports: silver.office_reports.
        events: silver.enrollment_events.
        offices: silver.offices.

    Returns:
        gold.kpi_office_daily.
    """
    reports = office_reports.select(
        F.col("report_date").alias("date"), "office_id",
        "appointments_scheduled", "appointments_attended", "staffed_hours",
    )
    completed = (
        events.where(F.col("event_type") == COMPLETED)
        .groupBy(F.col("event_date").alias("date"), "office_id")
        .agg(F.count(F.lit(1)).alias("enrollments_completed"))
    )
    daily = (
        reports.join(completed, on=["date", "office_id"], how="full")
        .withColumn("day_start", utc_midnight(F.col("date")))
        .transform(with_region_at, offices=offices, time_col="day_start")
    )
    completed_count = F.coalesce(F.col("enrollments_completed"), F.lit(0))
    return conform(
        daily.withColumns({
            "enrollments_completed": completed_count,
            "attendance_rate": _ratio(F.col("appointments_attended"), F.col("appointments_scheduled")),
            "completed_per_staffed_hour": _ratio(completed_count, F.col("staffed_hours")),
        }),
        "gold.kpi_office_daily",
    )
