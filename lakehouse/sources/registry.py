"""The registry database (offices, operators): its tables, and their incremental reads over JDBC."""
from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame, SparkSession

from lakehouse.sources.postgres import Endpoint, connect

# The registry database's tables as this project knows them (the generator and the tests create them).
REGISTRY_DDL = """
CREATE TABLE IF NOT EXISTS offices (
    office_id  text PRIMARY KEY,
    name       text NOT NULL,
    region     text NOT NULL,
    district   text NOT NULL,
    opened_on  date NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS offices_updated_at ON offices (updated_at);
CREATE TABLE IF NOT EXISTS operators (
    operator_id text PRIMARY KEY,
    office_id   text NOT NULL,
    full_name   text NOT NULL,
    role        text NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS operators_updated_at ON operators (updated_at);
"""


def read_changes(spark: SparkSession, endpoint: Endpoint, table: str, columns: list[str],
                 since: datetime | None) -> DataFrame:
    """`columns` of the rows of `table` with `updated_at >= since` (all rows when `since` is None).

    `>=` rather than `>`: a row committed later with the same `updated_at` as the watermark is
    still seen; the caller drops the (key, updated_at) pairs bronze already holds.
    """
    where = f" WHERE updated_at >= TIMESTAMPTZ '{since.isoformat()}+00:00'" if since else ""
    query = f"SELECT {', '.join(columns)} FROM {table}{where}"
    reader = spark.read.format("jdbc").option("url", endpoint.jdbc_url).option("query", query)
    for key, value in endpoint.jdbc_properties().items():
        reader = reader.option(key, value)
    return reader.load()


def ensure_schema(endpoint: Endpoint) -> None:
    """Create the registry's tables if they are missing (a generated or test database)."""
    with connect(endpoint, "registry database") as conn:
        conn.execute(REGISTRY_DDL)
