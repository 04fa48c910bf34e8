"""Table maintenance (`lakehouse maintain`): compact small files, Z-order where the contract says it
pays, purge deletion vectors, vacuum with the configured retention, and checkpoint the log.

None of it changes a row: every commit it makes has `dataChange = false`, so a reader of the change
data feed (incremental gold) sees nothing new, and a stream reading the table skips it. Each table
is maintained on its own, its commits retried on a conflict like every other write
(`storage.conflicts`), so the stream can keep writing while `maintain` runs.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from lakehouse.contract import TABLES, table
from lakehouse.errors import LakehouseError
from lakehouse.storage import conflicts, delta, files

Progress = Callable[[str], None]
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # the folder of a partition whose value is null


@dataclass(frozen=True)
class Maintained:
    """What `maintain_table` did to one table: its data files before and after, the commits it made."""

    name: str
    files_before: int
    files_after: int
    optimized: bool  # an OPTIMIZE (compaction, or Z-order) committed
    zorder_by: tuple[str, ...]
    vacuumed: bool
    checkpoint_version: int

    def line(self) -> str:
        how = f"Z-ordered by {', '.join(self.zorder_by)}" if self.zorder_by else "compacted"
        done = how if self.optimized else "already compact"
        vacuum = "vacuumed" if self.vacuumed else "not vacuumed"
        return (f"{self.name}: {self.files_before} -> {self.files_after} data files ({done}), {vacuum}, "
                f"checkpoint at version {self.checkpoint_version}")


def folder_files(spark: SparkSession, location: str) -> dict[str, int]:
    """Data files of the table's latest snapshot per folder (partition, relative to the table; ""
    for an unpartitioned table), from the snapshot's file list (no Spark job)."""
    counts: dict[str, int] = {}
    for uri in spark.read.format("delta").load(location).inputFiles():
        relative = unquote(uri.split(location.rstrip("/") + "/", 1)[-1])
        folder = relative.rsplit("/", 1)[0] if "/" in relative else ""
        counts[folder] = counts.get(folder, 0) + 1
    return counts


def _partition_predicate(folder: str) -> str:
    """`a = 'x' AND b = 'y'` for the Hive-style folder `a=x/b=y` (values as Delta wrote them)."""
    parts = [p.split("=", 1) for p in folder.split("/")]
    return "(" + " AND ".join(f"`{k}` IS NULL" if v == HIVE_NULL else f"`{k}` = '{v.replace(chr(39), chr(39) * 2)}'"
                              for k, v in parts) + ")"


def maintain_table(spark: SparkSession, root: str, name: str, retention_hours: int,
                   vacuum: bool = True) -> Maintained:
    """Compact (or Z-order) the table's small files, purge its deletion vectors, vacuum it with
    `retention_hours` (unless `vacuum` is false) and checkpoint it."""
    location, zorder = delta.path(root, name), table(name).layout.zorder_by
    before, version = sum(folder_files(spark, location).values()), delta.version(spark, root, name)

    def optimize() -> None:
        # Only folders holding more than one file: a folder already down to one is left alone, so
        # maintenance costs what the lake gained since the last run, not its history (a Z-order
        # would otherwise rewrite every partition again).
        folders = sorted(f for f, n in folder_files(spark, location).items() if n > 1)
        if not folders:
            return  # nothing to compact, nothing to order
        builder = DeltaTable.forPath(spark, location).optimize()
        if folders != [""]:  # a partitioned table: only the partitions holding more than one file
            builder = builder.where(" OR ".join(_partition_predicate(f) for f in folders))
        builder.executeZOrderBy(*zorder) if zorder else builder.executeCompaction()

    conflicts.retrying(optimize, name, "optimize")
    optimized = delta.version(spark, root, name) != version
    if vacuum:
        delta.purge(spark, root, name, retention_hours)  # REORG ... APPLY (PURGE), then VACUUM
    return Maintained(name, before, sum(folder_files(spark, location).values()), optimized, zorder, vacuum,
                      files.checkpoint_log(spark, location))


def chosen_tables(names: Iterable[str] | None) -> list[str]:
    """The tables to maintain: `names` (each must be a table of the contract), or all of them."""
    if not names:
        return list(TABLES)
    chosen = list(dict.fromkeys(names))
    unknown = [n for n in chosen if n not in TABLES]
    if unknown:
        raise LakehouseError(f"maintain: not a table of the lakehouse: {', '.join(unknown)} "
                             f"(tables are named layer.name, e.g. silver.enrollment_events)")
    return chosen


def maintain(spark: SparkSession, root: str, names: Iterable[str] | None, retention_hours: int,
             vacuum: bool, progress: Progress) -> dict[str, Maintained]:
    """Maintain each chosen table that exists, one at a time, with a progress line for each."""
    done: dict[str, Maintained] = {}
    chosen = chosen_tables(names)
    for i, name in enumerate(chosen, 1):
        if not delta.exists(spark, root, name):
            progress(f"[{i}/{len(chosen)}] {name}: no table yet")
            continue
        done[name] = maintain_table(spark, root, name, retention_hours, vacuum)
        progress(f"[{i}/{len(chosen)}] {done[name].line()}")
    return done
