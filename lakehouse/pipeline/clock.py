"""The moments the pipeline stamps on rows (`_ingested_at`, `_quarantined_at`), as frames."""
from __future__ import annotations

from datetime import UTC, datetime

from pyspark.sql import DataFrame, SparkSession


def moment(spark: SparkSession, at: datetime | None = None) -> DataFrame:
    """One row, one column `moment`: `at` (by default now) as a UTC timestamp.

    An inline table is a local relation: broadcast from the driver with no job and no Python
    worker, and not part of any stage's generated code (see `functions.stamp`).
    """
    value = (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%fZ")
    return spark.sql(f"SELECT * FROM VALUES (TIMESTAMP '{value}') AS t(moment)")
