"""Incremental reads of the registry database (offices, operators) over JDBC."""
from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.sources.postgres import Endpoint

REGISTRY_COLUMNS = {
    "offices": ["office_id", "name", "region", "district", "opened_on", "updated_at"],
    "operators": ["operator_id", "office_id", "full_name", "role", "updated_at"],
}


def read_changes(spark: SparkSession, endpoint: Endpoint, table: str, since: datetime | None) -> DataFrame:
    """Rows of `table` with `updated_at >= since` (all rows when `since` is None).

    `>=` rather than `>`: a row committed later with the same `updated_at` as the watermark is
    still seen; the caller drops the (key, updated_at) pairs bronze already holds.
    """
    columns = ", ".join(REGISTRY_COLUMNS[table])
    where = f" WHERE updated_at >= TIMESTAMPTZ '{since.isoformat()}+00:00'" if since else ""
    query = f"SELECT {columns} FROM {table}{where}"
    reader = spark.read.format("jdbc").option("url", endpoint.jdbc_url).option("query", query)
    for key, value in endpoint.jdbc_properties().items():
        reader = reader.option(key, value)
    return reader.load()


def bronze_registry(changes: DataFrame, table: str, batch_id: str) -> DataFrame:
    """Grain: one row per captured change (key, updated_at); `_raw` is the row as JSON."""
    columns = REGISTRY_COLUMNS[table]
    return changes.select(
        *columns,
        F.to_json(F.struct(*columns)).alias("_raw"),
        F.concat(F.lit(f"postgresql:{table}:"), F.col(columns[0]), F.lit("@"),
                 F.date_format("updated_at", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS")).alias("_source"),
        F.current_timestamp().alias("_ingested_at"),
        F.lit(batch_id).alias("_batch_id"),
    )
