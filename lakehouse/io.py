"""All reading, writing and merging of Delta tables lives here.

Every write is shaped so that a re-run with no new input commits nothing:
- `append` takes an idempotency token (`txnAppId` / `txnVersion`), so a retried batch is skipped;
- `insert_new` only inserts keys the table does not hold yet (first arrival wins);
- `sync` brings a table to a given content, touching only rows that differ, and commits nothing
  when nothing differs.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import reduce
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.tables import table, table_path


def path(root: str, name: str) -> str:
    return table_path(root, name)


def exists(spark: SparkSession, root: str, name: str) -> bool:
    return DeltaTable.isDeltaTable(spark, path(root, name))


def schema(name: str) -> T.StructType:
    return T._parse_datatype_string(table(name).schema)  # type: ignore[return-value]


def empty(spark: SparkSession, name: str) -> DataFrame:
    return spark.createDataFrame([], schema(name))


def ensure(spark: SparkSession, root: str, name: str) -> None:
    """Create the table empty, with its registered schema, if it is not there yet."""
    if not exists(spark, root, name):
        builder = DeltaTable.createIfNotExists(spark).location(path(root, name)).addColumns(schema(name))
        for key, value in table(name).properties.items():
            builder = builder.property(key, value)
        builder.execute()


def read(spark: SparkSession, root: str, name: str) -> DataFrame:
    """The current table, or an empty frame with the registered schema if it does not exist."""
    if not exists(spark, root, name):
        return empty(spark, name)
    return spark.read.format("delta").load(path(root, name))


def version(spark: SparkSession, root: str, name: str) -> int | None:
    """The table's latest Delta version, from its log's file names (no Spark job), or None."""
    jvm = spark.sparkContext._jvm
    log = jvm.org.apache.hadoop.fs.Path(f"{path(root, name)}/_delta_log")  # type: ignore[union-attr]
    fs = log.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())  # type: ignore[union-attr]
    if not fs.exists(log):
        return None
    commits = [int(s.getPath().getName()[:-5]) for s in fs.listStatus(log)
               if s.getPath().getName().endswith(".json") and s.getPath().getName()[:-5].isdigit()]
    return max(commits) if commits else None


def read_text(spark: SparkSession, location: str) -> str | None:
    """A small file's text through Hadoop's file system (local, S3), or None if it is not there."""
    jvm = spark.sparkContext._jvm
    file = jvm.org.apache.hadoop.fs.Path(location)  # type: ignore[union-attr]
    fs = file.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())  # type: ignore[union-attr]
    if not fs.exists(file):
        return None
    stream = fs.open(file)
    try:
        return str(jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))  # type: ignore[union-attr]
    finally:
        stream.close()


def commit_info(spark: SparkSession, root: str, name: str, version: int) -> dict[str, Any]:
    """The commitInfo of commit `version`, read from its log file (no Spark job); {} if none."""
    for line in (read_text(spark, f"{path(root, name)}/_delta_log/{version:020d}.json") or "").splitlines():
        info = json.loads(line).get("commitInfo") if line.strip() else None
        if info is not None:
            return dict(info)
    return {}


def commit_rows(spark: SparkSession, root: str, name: str, version: int) -> int:
    """Rows that commit `version` wrote (appends) or inserted (merges)."""
    metrics = commit_info(spark, root, name, version).get("operationMetrics") or {}
    return int(metrics.get("numOutputRows") or metrics.get("numTargetRowsInserted") or 0)


def latest_commit(spark: SparkSession, root: str, name: str) -> tuple[int, datetime | None] | None:
    """The table's latest version and when it was committed (UTC), or None if there is no table."""
    latest = version(spark, root, name)
    if latest is None:
        return None
    info = commit_info(spark, root, name, latest)
    millis = info.get("inCommitTimestamp") or info.get("timestamp")
    return latest, datetime.fromtimestamp(int(millis) / 1000, UTC) if millis else None


def last_commit_rows(spark: SparkSession, root: str, name: str) -> int:
    """Rows the table's latest commit wrote (appends) or inserted (merges)."""
    row = DeltaTable.forPath(spark, path(root, name)).history(1).select("operationMetrics").first()
    metrics = row["operationMetrics"] if row else {}
    return int(metrics.get("numOutputRows") or metrics.get("numTargetRowsInserted") or 0)


def conform(df: DataFrame, name: str) -> DataFrame:
    """Select and cast to the registered schema, in its column order."""
    return df.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in schema(name).fields])


def append(df: DataFrame, root: str, name: str, app_id: str | None = None,
           txn_version: int | None = None) -> None:
    """Append rows; with `app_id`/`txn_version`, Delta skips a batch it has already committed."""
    # mergeSchema: a table written before a metadata column was added to the registry gains it.
    writer = conform(df, name).write.format("delta").mode("append").option("mergeSchema", "true")
    if app_id is not None and txn_version is not None:
        writer = writer.option("txnAppId", app_id).option("txnVersion", txn_version)
    writer.save(path(root, name))


def _key_condition(keys: tuple[str, ...] | list[str]) -> str:
    return " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)


def insert_new(spark: SparkSession, df: DataFrame, root: str, name: str,
               keys: tuple[str, ...] | list[str]) -> int:
    """Insert the rows whose key the table does not hold; returns how many were inserted."""
    ensure(spark, root, name)
    target = DeltaTable.forPath(spark, path(root, name))
    metrics = (
        target.alias("t")
        .merge(conform(df, name).alias("s"), _key_condition(keys))
        .whenNotMatchedInsertAll()
        .execute()
    )
    row = metrics.first() if metrics is not None else None
    return int(row["num_inserted_rows"]) if row is not None else 0


def _rows_differ(columns: list[str]) -> Column:
    return reduce(lambda a, b: a | b, [~F.col(f"t.`{c}`").eqNullSafe(F.col(f"s.`{c}`")) for c in columns])


def sync(spark: SparkSession, df: DataFrame, root: str, name: str,
         keys: tuple[str, ...] | list[str] | None = None) -> bool:
    """Make the table hold exactly `df`'s rows, changing only what differs.

    Rows are matched on `keys`: changed rows are updated, new keys inserted, and keys no longer
    in `df` deleted. Returns whether anything was committed; with no difference, the table's
    Delta version stays as it was.
    """
    keys = list(keys or table(name).keys)
    new = conform(df, name)
    if not exists(spark, root, name):
        new.write.format("delta").save(path(root, name))
        return True
    current = read(spark, root, name)
    if new.exceptAll(current).isEmpty() and current.exceptAll(new).isEmpty():
        return False
    others = [c for c in new.columns if c not in keys]
    merge = (
        DeltaTable.forPath(spark, path(root, name)).alias("t")
        .merge(new.alias("s"), _key_condition(keys))
    )
    if others:
        merge = merge.whenMatchedUpdateAll(condition=_rows_differ(others))
    merge.whenNotMatchedInsertAll().whenNotMatchedBySourceDelete().execute()
    return True


def overwrite(df: DataFrame, root: str, name: str) -> None:
    conform(df, name).write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path(root, name))
