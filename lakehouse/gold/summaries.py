"""Summaries of the gold KPIs for people: what the CLI, the notebook and the dashboard show."""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def daily_enrollments(kpi_enrollments_daily: DataFrame, by: tuple[str, ...] = ()) -> DataFrame:
    """Enrollments started and completed per UTC day (and per `by` columns), with the completion rate.

    Grain: one row per `date` and `by` value (rows without a date are left out). `completion_rate`
    is completed / started over the group, null when nothing started.

    Example: by ("region",): (d1, NORTE, web, 4 started, 3 completed), (d1, NORTE, mobile, 1, 0)
    -> (d1, NORTE, started 5, completed 3, completion_rate 0.6).
    """
    sums = (
        kpi_enrollments_daily.where(F.col("date").isNotNull())
        .groupBy("date", *by)
        .agg(F.sum("enrollments_started").alias("started"), F.sum("enrollments_completed").alias("completed"))
    )
    rate = F.when(F.col("started") > 0, F.col("completed") / F.col("started"))
    return sums.select("date", *by, "started", "completed", rate.cast("double").alias("completion_rate"))
