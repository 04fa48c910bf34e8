"""The staging zone: an exact version of a table as plain Parquet, `<root>/staging/<name>/v<version>/`.

What the export loads PostgreSQL from, and what Redshift `COPY ... FORMAT PARQUET` and partners
load: plain Parquet files with no Delta log, one folder per version. A version's folder is complete
when Spark's `_SUCCESS` marker is in it (the output committer writes it last); a folder without one
(a write cut short) is written again, a complete one is reused as it is (a version never changes),
unless its columns are not the ones asked for (the contract changed since it was staged).
Timestamps are written as Parquet's TIMESTAMP_MICROS (UTC instants), not Spark's legacy INT96,
which readers other than Spark and Hive read as nanoseconds or not at all.
"""
from __future__ import annotations

import re

from pyspark.sql import DataFrame, SparkSession

from lakehouse.storage import files

_VERSION = re.compile(r"v(\d+)")
_TIMESTAMP_TYPE = "spark.sql.parquet.outputTimestampType"


def folder(root: str, table: str) -> str:
    """Where a table's staged versions live: `<root>/staging/<table>` (`table` without its layer)."""
    return f"{root.rstrip('/')}/staging/{table}"


def location(root: str, table: str, version: int) -> str:
    """The folder of one staged version: `<root>/staging/<table>/v<version>`."""
    return f"{folder(root, table)}/v{version}"


def versions(spark: SparkSession, root: str, table: str) -> list[int]:
    """The versions staged for `table` (complete or not), oldest first."""
    found = (_VERSION.fullmatch(name) for name in files.list_names(spark, folder(root, table)))
    return sorted(int(m.group(1)) for m in found if m)


def stage(spark: SparkSession, frame: DataFrame, root: str, table: str, version: int) -> tuple[DataFrame, bool]:
    """Write `frame` (the rows of `table` at `version`) as the staged Parquet of that version, unless
    it is staged already; returns the staged rows as read back from the Parquet files, and whether
    this call wrote them."""
    target = location(root, table, version)
    written = not files.exists(spark, f"{target}/_SUCCESS") or _columns(spark.read.parquet(target)) != _columns(frame)
    if written:
        previous = spark.conf.get(_TIMESTAMP_TYPE) or "INT96"  # Spark's default
        spark.conf.set(_TIMESTAMP_TYPE, "TIMESTAMP_MICROS")
        try:
            frame.write.mode("overwrite").parquet(target)
        finally:
            spark.conf.set(_TIMESTAMP_TYPE, previous)
    return spark.read.schema(frame.schema).parquet(target), written


def _columns(frame: DataFrame) -> list[tuple[str, str]]:
    return [(f.name, f.dataType.simpleString()) for f in frame.schema.fields]


def prune(spark: SparkSession, root: str, table: str, keep: set[int]) -> list[int]:
    """Remove every staged version of `table` older than the newest in `keep` and not in `keep`;
    returns the versions removed."""
    removed = [v for v in versions(spark, root, table) if v not in keep and v < max(keep)]
    for v in removed:
        files.delete(spark, location(root, table, v))
    return removed
