"""Changes in, slices out: what a Delta table gained and lost between two versions (its change
data feed, netted per row), and the MERGE that rewrites one slice of a table and nothing else.
The incremental gold build is made of the two (`pipeline.gold_changes`, `pipeline.gold`)."""
from __future__ import annotations

from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.contract import conform, schema, table
from lakehouse.storage import conflicts, delta_log
from lakehouse.storage.delta import exists, key_condition, path, read, rows_differ, sync


def no_changes(spark: SparkSession, name: str, columns: list[str]) -> DataFrame:
    """No change, shaped as `net_changes` of table `name` on `columns` would be."""
    fields = [f for f in schema(name).fields if f.name in columns]
    return spark.createDataFrame([], T.StructType([*fields, T.StructField("_net", T.LongType())]))


def net_changes(spark: SparkSession, root: str, name: str, after: int | None, upto: int,
                columns: list[str]) -> DataFrame | None:
    """What the table gained and lost from version `after` (exclusive; None: from its start) to
    `upto`, on `columns`, from its change data feed: one row per distinct row of `columns` whose
    count changed, with `_net` = copies gained (negative: lost). An update that left `columns` as
    they were (a new citizen key, say) nets to nothing. None when the feed does not cover the
    range (the table was made before the contract turned it on, or its log or change files
    have been cleaned up since): the caller then rebuilds from the whole table.
    """
    start = 0 if after is None else after + 1
    versions = delta_log.feed_versions(spark, path(root, name), start, upto) if start <= upto else []
    if versions is None:
        return None
    if not versions:  # nothing, or only commits that change no data (a purge's REORG, an OPTIMIZE)
        return no_changes(spark, name, columns)
    gained = F.when(F.col("_change_type").isin("insert", "update_postimage"), 1).otherwise(-1)
    try:
        feed = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", versions[0])
                .option("endingVersion", versions[-1]).load(path(root, name)))
    except AnalysisException as err:
        # the feed was turned on after `start`, or a version before the table's retention of removed files
        if err.getCondition() in ("DELTA_MISSING_CHANGE_DATA",
                                  "DELTA_UNSUPPORTED_TIME_TRAVEL_BEYOND_DELETED_FILE_RETENTION_DURATION"):
            return None
        raise
    return (feed.groupBy(*columns).agg(F.sum(gained).alias("_net")).where(F.col("_net") != 0))


@conflicts.retried
def replace_slice(spark: SparkSession, df: DataFrame, root: str, name: str, scope: DataFrame) -> bool:
    """Make the table's rows that match a row of `scope` (on `scope`'s columns) exactly `df`'s rows,
    leaving every other row alone; `df`'s rows must all fall in the scope.

    One MERGE on the contract's keys carries only what differs: rows new or changed are inserted or
    updated, and rows of the slice that `df` no longer has are deleted. Returns whether anything
    was committed (nothing when the slice already holds `df`).
    """
    keys = list(table(name).keys)
    new = conform(df, name)
    if not exists(spark, root, name):
        return sync(spark, new, root, name)
    current = read(spark, root, name)
    in_scope = current.join(F.broadcast(scope.distinct()), on=scope.columns, how="left_semi")
    changed = new.exceptAll(in_scope).withColumn("_gone", F.lit(False))
    gone = (in_scope.select(*keys).join(new.select(*keys), on=keys, how="left_anti")
            .withColumn("_gone", F.lit(True)))
    source = changed.unionByName(gone, allowMissingColumns=True).cache()
    try:
        if source.isEmpty():
            return False
        others = [c for c in new.columns if c not in keys]
        merge = (DeltaTable.forPath(spark, path(root, name)).alias("t")
                 .merge(source.alias("s"), key_condition(keys))
                 .whenMatchedDelete(condition="s._gone"))
        if others:
            merge = merge.whenMatchedUpdate(condition=rows_differ(others),
                                            set={c: F.col(f"s.`{c}`") for c in others})
        merge.whenNotMatchedInsert(condition="NOT s._gone",
                                   values={c: F.col(f"s.`{c}`") for c in new.columns}).execute()
        return True
    finally:
        source.unpersist()
