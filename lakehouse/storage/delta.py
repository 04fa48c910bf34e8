"""All reading, writing and merging of the lakehouse's Delta tables, by name under a storage root.

Every write is shaped so that a re-run with no new input commits nothing:
- `append` takes an idempotency token (`txnAppId` / `txnVersion`), so a retried batch is skipped;
- `insert_new` only inserts keys the table does not hold yet (first arrival wins);
- `sync` brings a table to a given content, touching only rows that differ, and commits nothing
  when nothing differs.
That is also what makes a write safe to re-run after a commit conflict with a concurrent writer:
the writes marked `@conflicts.retried` are re-run whole from a fresh snapshot (`storage.conflicts`).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import reduce
from typing import Any

from delta.tables import DeltaTable
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.streaming import StreamingQuery

from lakehouse.contract import conform, empty, schema, table
from lakehouse.errors import LakehouseError
from lakehouse.storage import conflicts, delta_log


def path(root: str, name: str) -> str:
    """Where table `layer.name` lives: `<root>/<layer>/<name>`."""
    t = table(name)
    return f"{root.rstrip('/')}/{t.layer}/{t.name}"


def exists(spark: SparkSession, root: str, name: str) -> bool:
    return DeltaTable.isDeltaTable(spark, path(root, name))


# Tables whose contract properties were checked in this process (a table made before a property
# entered the contract gains it once, on the first write).
_checked: set[str] = set()


@conflicts.retried
def ensure(spark: SparkSession, root: str, name: str) -> None:
    """Create the table empty, with its contract schema and properties, if it is not there yet; an
    existing table lacking one of the contract's properties gains it (before anything is written)."""
    location, wanted = path(root, name), table(name).properties
    if not exists(spark, root, name):
        builder = DeltaTable.createIfNotExists(spark).location(location).addColumns(schema(name))
        if table(name).layout.partition_by:
            builder = builder.partitionedBy(*table(name).layout.partition_by)
        for key, value in wanted.items():
            builder = builder.property(key, value)
        builder.execute()
    elif wanted and location not in _checked:
        have = _properties(spark, location)
        missing = {k: v for k, v in wanted.items() if have.get(k) != v}
        if missing:
            settings = ", ".join(f"'{k}' = '{v}'" for k, v in sorted(missing.items()))
            spark.sql(f"ALTER TABLE delta.`{location}` SET TBLPROPERTIES ({settings})")
    _checked.add(location)


def _made_by_ensure(name: str) -> bool:
    """Whether a first write must create the table first: the contract gives it properties or
    partitions that a plain write would not."""
    return bool(table(name).properties or table(name).layout.partition_by)


def _properties(spark: SparkSession, location: str) -> dict[str, str]:
    detail = DeltaTable.forPath(spark, location).detail().first()
    return dict(detail["properties"] or {}) if detail is not None else {}


def properties(spark: SparkSession, root: str, name: str) -> dict[str, str]:
    """The table's Delta properties as they are now."""
    return _properties(spark, path(root, name))


def read(spark: SparkSession, root: str, name: str, version: int | None = None) -> DataFrame:
    """The table (as of `version`, by default the latest), or no rows with the contract schema if
    it does not exist; a `version` of a table that does not exist is an error, not an empty table."""
    if not exists(spark, root, name):
        if version is not None:
            raise LakehouseError(f"{name}: no Delta table at {path(root, name)} to read version {version} of")
        return empty(spark, name)
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(path(root, name))


def table_schema(spark: SparkSession, root: str, name: str) -> T.StructType:
    """The schema the Delta table has now (a column added by a schema merge included)."""
    return spark.read.format("delta").load(path(root, name)).schema


def version(spark: SparkSession, root: str, name: str) -> int | None:
    """The table's latest Delta version (from its log's file names, no Spark job), or None."""
    return delta_log.version_at(spark, path(root, name))


def commit_info(spark: SparkSession, root: str, name: str, version: int) -> dict[str, Any]:
    """The commitInfo of commit `version`, read from its log file (no Spark job); {} if none."""
    return delta_log.commit_info_at(spark, path(root, name), version)


def commit_rows(spark: SparkSession, root: str, name: str, version: int) -> int:
    """Rows that commit `version` wrote (appends) or inserted (merges)."""
    return delta_log.rows_written(commit_info(spark, root, name, version))


def latest_commit(spark: SparkSession, root: str, name: str) -> tuple[int, datetime | None] | None:
    """The table's latest version and when it was committed (UTC), or None if there is no table."""
    latest = version(spark, root, name)
    if latest is None:
        return None
    return latest, delta_log.committed_at(commit_info(spark, root, name, latest))


def increments(spark: SparkSession, root: str, name: str, checkpoint: str,
               handle: Callable[[DataFrame, int], None], query_name: str,
               every_seconds: int | None = None) -> StreamingQuery:
    """Run `handle(batch, batch_id)` over the rows the table gained since the last run, in
    micro-batches of a Delta stream whose position is kept at `checkpoint`.

    By default it drains what the table holds and stops (`availableNow`); with `every_seconds` it
    keeps following the table and the caller gets the running query.
    """
    ensure(spark, root, name)
    writer = (
        # An erasure deletes rows of the table: its commits carry no new rows and are skipped.
        spark.readStream.format("delta").option("skipChangeCommits", "true").load(path(root, name))
        .writeStream.foreachBatch(handle)
        .option("checkpointLocation", checkpoint)
        .queryName(query_name)
    )
    if every_seconds is None:
        query = writer.trigger(availableNow=True).start()
        query.awaitTermination()
    else:
        query = writer.trigger(processingTime=f"{every_seconds} seconds").start()
    return query


@conflicts.retried
def append(df: DataFrame, root: str, name: str, app_id: str | None = None,
           txn_version: int | None = None) -> None:
    """Append rows; with `app_id`/`txn_version`, Delta skips a batch it has already committed.

    The table is created first when missing, so it has the contract's properties from its first
    commit (a plain write would collect statistics on every column)."""
    if _made_by_ensure(name):
        ensure(df.sparkSession, root, name)
    # mergeSchema: a table written before a metadata column was added to the contract gains it.
    writer = conform(df, name).write.format("delta").mode("append").option("mergeSchema", "true")
    if app_id is not None and txn_version is not None:
        writer = writer.option("txnAppId", app_id).option("txnVersion", txn_version)
    writer.save(path(root, name))


def key_condition(keys: tuple[str, ...] | list[str]) -> str:
    return " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)


@conflicts.retried
def insert_new(spark: SparkSession, df: DataFrame, root: str, name: str,
               keys: tuple[str, ...] | list[str], within: tuple[str, ...] = ()) -> int:
    """Insert the rows whose key the table does not hold; returns how many were inserted.

    `within` names columns a key's copies always share (a partition column derived from the row):
    the MERGE then looks for the batch's keys only where those columns hold the batch's values,
    so it reads the partitions the batch reaches instead of the whole table.
    """
    ensure(spark, root, name)
    source = conform(df, name)
    condition: Column = F.expr(key_condition(keys))
    if within:  # read once for its values, once by the MERGE; on disk, as a batch may be all of bronze
        source = source.persist(StorageLevel.DISK_ONLY)
    try:
        for column in within:
            values = [r[0] for r in source.select(column).distinct().collect()]
            if not values:
                return 0
            if None not in values:  # a null cannot be looked for by value: the whole table is searched
                target = F.col(f"t.`{column}`")
                condition = target.isin(values) & (target == F.col(f"s.`{column}`")) & condition
        metrics = (
            DeltaTable.forPath(spark, path(root, name)).alias("t")
            .merge(source.alias("s"), condition)
            .whenNotMatchedInsertAll()
            .execute()
        )
    finally:
        source.unpersist()
    row = metrics.first() if metrics is not None else None
    return int(row["num_inserted_rows"]) if row is not None else 0


def rows_differ(columns: list[str]) -> Column:
    return reduce(lambda a, b: a | b, [~F.col(f"t.`{c}`").eqNullSafe(F.col(f"s.`{c}`")) for c in columns])


@conflicts.retried
def sync(spark: SparkSession, df: DataFrame, root: str, name: str,
         keys: tuple[str, ...] | list[str] | None = None) -> bool:
    """Make the table hold exactly `df`'s rows, changing only what differs.

    Rows are matched on `keys` (by default the contract's): changed rows are updated, new keys
    inserted, and keys no longer in `df` deleted. Returns whether anything was committed; with no
    difference, the table's Delta version stays as it was.
    """
    keys = list(keys or table(name).keys)
    new = conform(df, name)
    if not exists(spark, root, name):
        if _made_by_ensure(name):
            ensure(spark, root, name)
        new.write.format("delta").mode("append").save(path(root, name))
        return True
    current = read(spark, root, name)
    if current.columns != new.columns:  # the contract dropped or moved a column: rewrite the table
        overwrite(new, root, name)
        return True
    if new.exceptAll(current).isEmpty() and current.exceptAll(new).isEmpty():
        return False
    others = [c for c in new.columns if c not in keys]
    merge = (
        DeltaTable.forPath(spark, path(root, name)).alias("t")
        .merge(new.alias("s"), key_condition(keys))
    )
    if others:
        merge = merge.whenMatchedUpdateAll(condition=rows_differ(others))
    merge.whenNotMatchedInsertAll().whenNotMatchedBySourceDelete().execute()
    return True


@conflicts.retried
def upsert(spark: SparkSession, df: DataFrame, root: str, name: str, keys: tuple[str, ...] | list[str] | None = None,
           columns: list[str] | None = None) -> None:
    """Insert `df`'s rows, updating the rows whose key (by default the contract's) is there already:
    all their columns, or only `columns` (then no row is inserted: an update of known keys)."""
    ensure(spark, root, name)
    merge = (DeltaTable.forPath(spark, path(root, name)).alias("t")
             .merge(conform(df, name).alias("s"), key_condition(list(keys or table(name).keys))))
    if columns is None:
        merge.whenMatchedUpdateAll().whenNotMatchedInsertAll().execute()
    else:
        merge.whenMatchedUpdate(set={c: F.col(f"s.`{c}`") for c in columns}).execute()


@conflicts.retried
def replace_values(spark: SparkSession, mapping: DataFrame, root: str, name: str, column: str) -> int:
    """Where `column` equals a mapping row's `old`, set it to that row's `new`; returns rows updated.

    A MERGE on the mapping, so the commit info (which Delta keeps for the log's retention) holds
    `t.<column> = s.old`, never a value. Rows already holding a `new` value match no `old` one, so
    a re-run updates nothing.
    """
    metrics = (
        DeltaTable.forPath(spark, path(root, name)).alias("t")
        .merge(mapping.select("old", "new").alias("s"), f"t.`{column}` = s.old")
        .whenMatchedUpdate(set={column: "s.new"})
        .execute()
    )
    row = metrics.first() if metrics is not None else None
    return int(row["num_updated_rows"]) if row is not None else 0


@conflicts.retried
def overwrite(df: DataFrame, root: str, name: str) -> None:
    """Replace the table's contents (and schema, and partitioning) with `df`."""
    (conform(df, name).write.format("delta").mode("overwrite").option("overwriteSchema", "true")
     .partitionBy(*table(name).layout.partition_by).save(path(root, name)))


@conflicts.retried
def delete_matching(spark: SparkSession, root: str, name: str, keys: DataFrame, condition: str) -> int:
    """Delete the rows of table `name` that match a row of `keys` under `condition` (over `t`, the
    table, and `s`, the keys), by a MERGE: the commit's predicate names columns, never a value (a
    `DELETE ... WHERE col = 'x'` would keep 'x' in the log's commit info). Returns rows deleted."""
    if not exists(spark, root, name):
        return 0
    metrics = (DeltaTable.forPath(spark, path(root, name)).alias("t")
               .merge(keys.alias("s"), condition).whenMatchedDelete().execute())
    row = metrics.first() if metrics is not None else None
    return int(row["num_deleted_rows"]) if row is not None else 0


def purge(spark: SparkSession, root: str, name: str, retention_hours: int) -> None:
    """Make rows deleted from the table unreachable: rewrite files that only mark them (deletion
    vectors: `REORG ... APPLY (PURGE)`), then `VACUUM` the files no version newer than
    `retention_hours` needs. The table's own `delta.deletedFileRetentionDuration` is set to that
    retention for the VACUUM, which is what satisfies VACUUM's safety check (it is never switched
    off), and put back afterwards: left at a retention of 0 hours, Delta would refuse to read any
    version but the latest, the change data feed gold reads included (the versions before the
    purge are unreadable anyway: their files are gone)."""
    if not exists(spark, root, name):
        return
    location = path(root, name)
    retention = f"interval {retention_hours} hours"
    key = "delta.deletedFileRetentionDuration"
    before = _properties(spark, location).get(key)

    def rewrite() -> None:
        if _properties(spark, location).get(key) != retention:
            spark.sql(f"ALTER TABLE delta.`{location}` SET TBLPROPERTIES ('{key}' = '{retention}')")
        spark.sql(f"REORG TABLE delta.`{location}` APPLY (PURGE)")

    def restore() -> None:
        if before is None:
            spark.sql(f"ALTER TABLE delta.`{location}` UNSET TBLPROPERTIES IF EXISTS ('{key}')")
        else:
            spark.sql(f"ALTER TABLE delta.`{location}` SET TBLPROPERTIES ('{key}' = '{before}')")

    conflicts.retrying(rewrite, name, "purge")  # VACUUM commits no data change: it cannot conflict
    spark.sql(f"VACUUM delta.`{location}` RETAIN {retention_hours} HOURS")
    if before != retention:
        conflicts.retrying(restore, name, "purge")


def generate_manifest(spark: SparkSession, root: str, name: str) -> str:
    """Write the table's symlink manifests (`GENERATE symlink_format_manifest`) for its latest
    version, the way Redshift Spectrum (and Presto) read a Delta table; returns their folder,
    `<table>/_symlink_format_manifest/` (one `manifest` per partition folder of a partitioned table).

    Delta replaces the manifests whole, so files a later version removed leave them too."""
    location = path(root, name)
    DeltaTable.forPath(spark, location).generate("symlink_format_manifest")
    return f"{location}/_symlink_format_manifest/"
