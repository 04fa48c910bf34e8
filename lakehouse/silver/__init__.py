"""Silver transformations: typed, validated, de-duplicated, pseudonymized entities.

Each module holds the pure DataFrame -> DataFrame functions of one source; this package module holds
the few shapes they share (first row per key, valid rows, quarantine rows).
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.contract import conform, schema
from lakehouse.functions import stamp
from lakehouse.quality.rules import FAILED_RULES


def first_arrival() -> list[Column]:
    """The order of arrival: the earliest ingestion first, ties broken by source position."""
    return [F.col("_ingested_at").asc(), F.col("_source").asc()]


def first_per_key(df: DataFrame, keys: list[str], order: list[Column]) -> DataFrame:
    """Keep one row per `keys`: the first under `order` (same columns as `df`).

    Example:
        keys ["event_id"], order first_arrival(): (e1, 09:00, "b"), (e1, 08:00, "a") -> (e1, 08:00, "a").
    """
    rank = F.row_number().over(Window.partitionBy(*keys).orderBy(*order))
    return df.withColumn("_rank", rank).filter(F.col("_rank") == 1).drop("_rank")


def valid_rows(validated: DataFrame) -> DataFrame:
    """The rows of a validated frame that failed no error rule."""
    return validated.filter(F.size(FAILED_RULES) == 0)


def quarantine_rows(validated: DataFrame, quarantine_table: str, quarantined_at: DataFrame) -> DataFrame:
    """The rows that failed an error rule, stamped with the one timestamp of `quarantined_at`, in
    `quarantine_table`'s schema."""
    return conform(
        validated.filter(F.size(FAILED_RULES) > 0).transform(stamp, "_quarantined_at", quarantined_at),
        quarantine_table,
    )


def bronze_columns(bronze: DataFrame, bronze_table: str) -> DataFrame:
    """Select the registered bronze columns, as they are (extra columns are left out)."""
    return bronze.select(*schema(bronze_table).fieldNames())
