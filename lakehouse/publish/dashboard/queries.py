"""The dashboard's aggregations: each chart's numbers from its gold or ops table, computed by Spark.

DataFrame in, DataFrame out: nothing here reads a table, collects or counts, so a test passes
frames straight in. Each result has one row per day and group (a few hundred rows at most), small
enough for `charts` to take as collected rows. The quarantine chart's aggregation is
`lakehouse.ops.summaries.quarantine_by_rule`, used as it is.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.gold.summaries import daily_enrollments
from lakehouse.ops.summaries import latest_quality


def enrollments_by_region(kpi_enrollments_daily: DataFrame) -> DataFrame:
    """Enrollments started and completed per UTC day and region, with the completion rate.

    Grain: one row per (date, region); rows without a date are left out. Columns: `date, region,
    started, completed, completion_rate` (null when nothing started).

    Example:
        (d1, NORTE, web, 10 started, 6 completed), (d1, NORTE, office, 4, 3), (d1, SUR, web, 0, 1)
        -> (d1, NORTE, 14, 9, 0.6429), (d1, SUR, 0, 1, null)
    """
    return daily_enrollments(kpi_enrollments_daily, by=("region",))


def enrollments_by_channel(kpi_enrollments_daily: DataFrame) -> DataFrame:
    """Enrollments started and completed per UTC day and channel, with the completion rate.

    Grain: one row per (date, channel); rows without a date are left out. Columns: `date, channel,
    started, completed, completion_rate` (null when nothing started).

    Example:
        (d1, NORTE, web, 10 started, 6 completed), (d1, SUR, web, 2, 1)
        -> (d1, web, 12, 7, 0.5833)
    """
    return daily_enrollments(kpi_enrollments_daily, by=("channel",))


def validation_times(kpi_validation_times_daily: DataFrame) -> DataFrame:
    """Biometric validation time p50 and p95 and the match rate per UTC day and modality, over all regions.

    Percentiles do not add up across regions; each region's is weighted by the validations it was
    computed over (matches and no matches: errors have no time), the closest the daily KPI allows.
    A region without a time, or with nothing timed, weighs nothing.

    Grain: one row per (date, modality); rows without a date are left out. Columns: `date, modality,
    match_rate, p50_ms, p95_ms`; `match_rate` is matches / (matches + no matches), null when nothing
    was timed, and a time is null when no region had one.

    Example:
        (d1, NORTE, face, 3 matches, 0 no matches, p50 100, p95 200),
        (d1, SUR, face, 0 matches, 1 no match, p50 400, p95 500)
        -> (d1, face, match_rate 0.75, p50 (100*3 + 400*1) / 4 = 175, p95 (200*3 + 500*1) / 4 = 275)
    """
    timed = F.coalesce(F.col("matches"), F.lit(0)) + F.coalesce(F.col("no_matches"), F.lit(0))
    sums = (
        kpi_validation_times_daily.where(F.col("date").isNotNull())
        .groupBy("date", "modality")
        .agg(F.sum("matches").alias("matches"), F.sum(timed).alias("timed"),
             *_weighted("p50_ms", timed), *_weighted("p95_ms", timed))
    )
    return sums.select("date", "modality", _ratio("matches", "timed").alias("match_rate"),
                       _ratio("p50_ms_sum", "p50_ms_weight").alias("p50_ms"),
                       _ratio("p95_ms_sum", "p95_ms_weight").alias("p95_ms"))


def attendance_by_region(kpi_office_daily: DataFrame) -> DataFrame:
    """Appointments scheduled and attended per UTC day and region, with the attendance rate.

    Grain: one row per (date, region); rows without a date are left out. Columns: `date, region,
    scheduled, attended, attendance_rate` (attended / scheduled, null when nothing was scheduled).

    Example:
        (d1, OF-1, NORTE, 10 scheduled, 8 attended), (d1, OF-2, NORTE, 10, 5), (d2, OF-1, NORTE, 0, 0)
        -> (d1, NORTE, 20, 13, 0.65), (d2, NORTE, 0, 0, null)
    """
    sums = (
        kpi_office_daily.where(F.col("date").isNotNull())
        .groupBy("date", "region")
        .agg(F.sum("appointments_scheduled").alias("scheduled"), F.sum("appointments_attended").alias("attended"))
    )
    return sums.select("date", "region", "scheduled", "attended",
                       _ratio("attended", "scheduled").alias("attendance_rate"))


def rule_failures_latest_run(quality_metrics: DataFrame) -> DataFrame:
    """Rows failing each rule in each silver table's latest run (its batches summed).

    Grain: one row per (run_id, table_name, rule, severity) of each table's latest run, the
    table's totals (rule '*') left out. Columns: `run_id, table_name, rule, severity, failed`.

    Example:
        (r1, t, rule a, error, 5 failed), then (r2, t, a, error, 2) and (r2, t, a, error, 1) in two
        batches, and (r2, t, *, total, 3) -> (r2, t, a, error, 3)
    """
    latest = latest_quality(quality_metrics)
    return latest.where(F.col("rule") != "*").select("run_id", "table_name", "rule", "severity", "failed")


def explore_enrollments(kpi_enrollments_daily: DataFrame) -> DataFrame:
    """The rows the page's filters slice: enrollments started and completed per day, region and channel.

    Grain: the KPI's own (date, region, channel), rows without a date left out. Columns: `date,
    region, channel, started, completed`.
    """
    return (kpi_enrollments_daily.where(F.col("date").isNotNull())
            .select("date", "region", "channel", F.col("enrollments_started").alias("started"),
                    F.col("enrollments_completed").alias("completed")))


def explore_validations(kpi_validation_times_daily: DataFrame) -> DataFrame:
    """The rows the page's filters slice: validations timed, matched and their p50/p95 per day, region
    and modality (the page weighs each row's percentiles by `timed`, as `validation_times` does).

    Grain: the KPI's own (date, region, modality), rows without a date left out. Columns: `date,
    region, modality, matches, timed, p50_ms, p95_ms`.
    """
    timed = F.coalesce(F.col("matches"), F.lit(0)) + F.coalesce(F.col("no_matches"), F.lit(0))
    return (kpi_validation_times_daily.where(F.col("date").isNotNull())
            .select("date", "region", "modality", F.coalesce(F.col("matches"), F.lit(0)).alias("matches"),
                    timed.alias("timed"), "p50_ms", "p95_ms"))


def explore_offices(kpi_office_daily: DataFrame) -> DataFrame:
    """The rows the page's filters slice: appointments scheduled and attended per day and office.

    Grain: the KPI's own (date, office_id), rows without a date left out. Columns: `date, office_id,
    region, scheduled, attended`.
    """
    return (kpi_office_daily.where(F.col("date").isNotNull())
            .select("date", "office_id", "region",
                    F.coalesce(F.col("appointments_scheduled"), F.lit(0)).alias("scheduled"),
                    F.coalesce(F.col("appointments_attended"), F.lit(0)).alias("attended")))


def _weighted(column: str, weight: Column) -> list[Column]:
    """The sum of `column` times `weight`, and of `weight`, over the rows that have a value and a weight."""
    known = F.col(column).isNotNull() & (weight > 0)
    return [F.sum(F.when(known, F.col(column) * weight)).alias(f"{column}_sum"),
            F.sum(F.when(known, weight)).alias(f"{column}_weight")]


def _ratio(numerator: str, denominator: str) -> Column:
    """numerator / denominator as a double, null over nothing (and no division by zero under ANSI)."""
    return F.when(F.col(denominator) > 0, F.col(numerator) / F.col(denominator)).cast("double")
