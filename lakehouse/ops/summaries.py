"""Summaries of the ops and quarantine tables for people: quarantine by rule, the latest quality."""
from __future__ import annotations

from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def quarantine_by_rule(quarantines: dict[str, DataFrame]) -> DataFrame:
    """Records held in each quarantine table per failed rule (a record failing two rules counts
    for both).

    Args:
        quarantines: quarantine table name -> its rows (at least one table).

    Grain: one row per (table, rule): `table string, rule string, records bigint`, sorted.

    Example: {"quarantine.x": rows with _failed_rules [a], [a, b]} -> (quarantine.x, a, 2), (quarantine.x, b, 1).
    """
    frames = [rows.select(F.lit(name).alias("table"), F.explode("_failed_rules").alias("rule"))
              for name, rows in sorted(quarantines.items())]
    union = reduce(DataFrame.unionByName, frames)
    return union.groupBy("table", "rule").agg(F.count("*").alias("records")).orderBy("table", "rule")


def latest_quality(quality_metrics: DataFrame) -> DataFrame:
    """Per table, the quality metrics of the latest run that recorded any (its batches summed).

    Grain: one row per (run_id, table_name, rule, severity) of each table's latest run; the
    table's totals (rule '*') first.

    Example: t recorded by run r1 (rule a: 5 passed) and later by r2 in two batches (rule a: 3 and
    4 passed) -> (r2, t, a, 7 passed).
    """
    metrics = quality_metrics
    latest = metrics.groupBy("table_name").agg(F.max("recorded_at").alias("recorded_at"))
    runs = metrics.join(latest, ["table_name", "recorded_at"], how="inner").select("table_name", "run_id").distinct()
    return (
        metrics.join(runs, ["table_name", "run_id"], how="inner")
        .groupBy("run_id", "table_name", "rule", "severity")
        .agg(F.sum("passed").alias("passed"), F.sum("failed").alias("failed"),
             F.sum("duplicates_dropped").alias("duplicates_dropped"))
        .orderBy("table_name", F.col("rule") != "*", "rule")
    )
