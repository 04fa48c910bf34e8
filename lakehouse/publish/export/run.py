"""Running an export: which gold tables changed, loading them into staging tables, the swap.

How a run goes, in one PostgreSQL transaction:
1. each gold table whose Delta snapshot (version and commit time) or table definition differs from
   what the bookkeeping table `<schema>._lakehouse_export` recorded is loaded into a staging table
   `<schema>._stage_<name>`, created in the same transaction (so nobody else sees it), with binary
   `COPY ... FROM STDIN (FREEZE)`, then given its primary key, indexes, comments and statistics. The
   rows come from the staging zone: the exact Delta version is first written as Parquet to
   `<root>/staging/<name>/v<version>/` (`lakehouse.storage.staging`), and PostgreSQL is loaded from
   those files, so what partners load from the staging zone is what PostgreSQL holds;
2. the swap: each old table is dropped, its staging table renamed into place, and the bookkeeping
   updated; then the one commit. After it, each exported table's staged versions older than the
   last two exported (this one and the one it replaced) are removed.

Readers never see a half-written table: until the commit they read the previous tables, and the
exclusive locks are taken only for the swap, not during the load. A run killed anywhere before the
commit leaves nothing behind in PostgreSQL (the transaction rolls back, staging tables included) and
the previous tables in place; a version it staged in the staging zone stays, complete or not, and the
next run reuses or rewrites it. All changed tables swap together, so gold stays consistent across
tables. A run with no gold change only reads the bookkeeping: no transaction touches a data table
and nothing is staged. Caveat of any swap: a view on an exported table blocks it (the run fails and
names the table).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.copy import QueuedLibpqWriter
from pyspark.sql import SparkSession

from lakehouse import contract
from lakehouse.contract import tables_in
from lakehouse.ops.results import Progress, no_progress
from lakehouse.publish.export import ddl
from lakehouse.publish.export.arrow_stream import arrow_batches
from lakehouse.publish.export.copy_codec import COPY_HEADER, COPY_TRAILER, copy_rows
from lakehouse.publish.export.plan import ExportError, Plan, Snapshot, plan
from lakehouse.sources.postgres import Endpoint, connect
from lakehouse.storage import delta, staging


@dataclass(frozen=True)
class ExportResult:
    """What an export did."""

    outcomes: dict[str, str]  # every gold table: "exported", "unchanged" or "missing"
    versions: dict[str, int]  # every gold table with a Delta table: the version the export compared or read
    rows: dict[str, int]  # every table exported by this run: the rows loaded

    @property
    def rows_loaded(self) -> int:
        return sum(self.rows.values())


def gold_snapshots(spark: SparkSession, root: str) -> dict[str, Snapshot]:
    """The latest Delta snapshot of every gold table that exists, from the Delta logs (no Spark job)."""
    snapshots = {}
    for t in tables_in("gold"):
        if (latest := delta.latest_commit(spark, root, t.full_name)) is not None:
            snapshots[t.full_name] = Snapshot(*latest)
    return snapshots


def export_gold(spark: SparkSession, root: str, endpoint: Endpoint, schema: str, progress: Progress = no_progress,
                after_table_loaded: Callable[[int], None] | None = None,
                snapshots: Mapping[str, Snapshot] | None = None) -> ExportResult:
    """Export every gold table to PostgreSQL schema `schema` (see the module docstring).

    Args:
        spark: the session that reads the gold tables.
        root: the lakehouse's storage root.
        endpoint: the PostgreSQL database.
        schema: the schema the tables go to (created if missing).
        progress: where progress lines go.
        after_table_loaded: called with the number of tables loaded so far after each one is
            loaded into staging, before the swap (the crash test kills the process from here).
        snapshots: the gold snapshots to export, from `gold_snapshots` (default: read now). A caller
            that records them before the export passes them, so a failed export still says what it read.

    Returns:
        Each gold table's outcome: "exported", "unchanged" (same Delta snapshot and definition as the
        last export) or "missing" (no Delta table in the lakehouse: skipped, its previous export left
        as it is); the Delta versions; the rows loaded.

    Raises:
        ExportError: a table cannot be exported, or PostgreSQL refused; nothing was changed.
        SourceError: the database does not answer.
    """
    snapshots = dict(gold_snapshots(spark, root) if snapshots is None else snapshots)
    plans = {t.full_name: plan(t) for t in tables_in("gold") if t.full_name in snapshots}
    rows: dict[str, int] = {}
    try:
        with connect(endpoint, "export database") as conn:
            stale = _stale(conn, schema, plans, snapshots)
            conn.rollback()  # end the read-only transaction: an unchanged gold leaves no trace
            for name in [n for n in snapshots if n not in stale]:
                progress(f"{name}: unchanged since the last export (Delta version {snapshots[name].version})")
            if stale:
                rows = _load_and_swap(spark, root, conn, schema, [plans[n] for n in stale], snapshots, progress,
                                      after_table_loaded)
    except psycopg.Error as err:
        raise ExportError(f"export to PostgreSQL schema {schema} failed: {_first_line(err)}") from None
    outcomes = {t.full_name: "missing" if t.full_name not in snapshots
                else "exported" if t.full_name in rows else "unchanged" for t in tables_in("gold")}
    if skipped := [n for n, o in outcomes.items() if o == "missing"]:
        progress(f"skipped (no Delta table in the lakehouse; their last export stays): {', '.join(skipped)}")
    return ExportResult(outcomes, {name: s.version for name, s in snapshots.items()}, rows)


def _stale(conn: Any, schema: str, plans: dict[str, Plan], snapshots: Mapping[str, Snapshot]) -> list[str]:
    """The gold tables whose export is missing or not of their current snapshot and definition."""
    tables = {row[0] for row in conn.execute(ddl.TABLES_IN_SCHEMA, (schema,))}
    done: dict[str, tuple[int, datetime | None, str]] = {}
    if ddl.BOOKKEEPING in tables:
        done = {row[0]: tuple(row[1:]) for row in conn.execute(ddl.select_bookkeeping(schema))}
    return [name for name, p in plans.items()
            if p.table.name not in tables
            or done.get(name) != (snapshots[name].version, snapshots[name].committed_at, p.definition)]


def _load_and_swap(spark: SparkSession, root: str, conn: Any, schema: str, plans: list[Plan],
                   snapshots: Mapping[str, Snapshot], progress: Progress,
                   after_table_loaded: Callable[[int], None] | None) -> dict[str, int]:
    """Load `plans` into staging tables and swap them in, all in one transaction (see the module
    docstring); returns the rows of each table exported (another export may have done some meanwhile)."""
    if not conn.execute(ddl.SCHEMA_EXISTS, (schema,)).fetchone():
        # Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on the database even
        # when the schema is there, and on RDS an administrator may have created it for us.
        conn.execute(ddl.create_schema(schema))
    conn.execute(ddl.create_bookkeeping(schema))
    conn.execute(ddl.EXPORT_LOCK, (ddl.lock_key(schema),))
    stale = set(_stale(conn, schema, {p.table.full_name: p for p in plans}, snapshots))
    plans = [p for p in plans if p.table.full_name in stale]
    if not plans:  # another export did them while we waited for its lock
        conn.commit()
        return {}
    replaced = _exported_versions(conn, schema)
    conn.execute(ddl.LOAD_SETTINGS)
    rows: dict[str, int] = {}
    for loaded, p in enumerate(plans, start=1):
        try:
            rows[p.table.full_name] = _load(spark, root, conn, schema, p, snapshots[p.table.full_name], progress)
        except psycopg.Error as err:
            raise ExportError(f"export of {p.table.full_name} failed: {_first_line(err)}") from None
        if after_table_loaded is not None:
            after_table_loaded(loaded)
    _swap(conn, schema, plans, snapshots, rows)
    conn.commit()
    progress(f"swapped in {len(plans)} table(s) in one transaction: " + ", ".join(p.table.full_name for p in plans))
    for p in plans:
        keep = {snapshots[p.table.full_name].version} | ({replaced[p.table.full_name]} if p.table.full_name in replaced
                                                         else set())
        if removed := staging.prune(spark, root, p.table.name, keep):
            progress(f"{p.table.full_name}: removed staged version(s) {', '.join(map(str, removed))}")
    return rows


def _exported_versions(conn: Any, schema: str) -> dict[str, int]:
    """The Delta version each gold table's current export holds, from the bookkeeping."""
    return {row[0]: row[1] for row in conn.execute(ddl.select_bookkeeping(schema))}


def _load(spark: SparkSession, root: str, conn: Any, schema: str, p: Plan, snapshot: Snapshot,
          progress: Progress) -> int:
    """Stage the gold version as Parquet, create the staging table and COPY the staged rows in, then
    key, index, comment and analyze it."""
    # Exactly the snapshot the bookkeeping will record, whatever gold commits meanwhile.
    source = delta.read(spark, root, p.table.full_name, version=snapshot.version)
    staged, written = staging.stage(spark, contract.conform(source, p.table.full_name), root, p.table.name,
                                    snapshot.version)
    where = staging.location(root, p.table.name, snapshot.version)
    progress(f"{p.table.full_name}: version {snapshot.version} {'staged' if written else 'already staged'} at {where}")
    started = time.monotonic()
    conn.execute(ddl.create_staging(schema, p))
    kinds = [k for _, k in p.columns]
    rows = 0
    cursor = conn.cursor()
    # The queued writer sends from its own thread: Arrow encodes the next batch meanwhile.
    with cursor.copy(ddl.copy_into_staging(schema, p), writer=QueuedLibpqWriter(cursor)) as copy:
        copy.write(COPY_HEADER)
        for batch in arrow_batches(staged):
            if batch.num_rows:
                copy.write(copy_rows(batch, kinds))
                rows += batch.num_rows
        copy.write(COPY_TRAILER)
    copied = time.monotonic()
    # Column comments as the Glue catalog has them: the contract's, else the Delta column's own.
    delta_comments = {f.name: f.metadata["comment"] for f in source.schema.fields if f.metadata.get("comment")}
    for statement in ddl.finish_staging(schema, p, {c: p.table.comments.get(c) or delta_comments.get(c)
                                                    for c, _ in p.columns}):
        conn.execute(statement)
    progress(f"{p.table.full_name}: {rows:,} rows copied into staging in {copied - started:.1f} s "
             f"({rows / max(copied - started, 1e-3):,.0f} rows/s), keyed, indexed and analyzed in "
             f"{time.monotonic() - copied:.1f} s")
    return rows


def _swap(conn: Any, schema: str, plans: list[Plan], snapshots: Mapping[str, Snapshot],
          rows: dict[str, int]) -> None:
    """Swap each staging table into place and record the snapshots. A reader's lock can deadlock
    with ours (it holds one table and wants another we hold): the swap alone is retried from a
    savepoint, the loaded tables are kept."""
    conn.execute(ddl.SWAP_SETTINGS)
    for attempt in range(1, 4):
        try:
            with conn.transaction():  # a savepoint
                for p in plans:
                    for statement in ddl.swap_in(schema, p):
                        conn.execute(statement)
                    snap = snapshots[p.table.full_name]
                    conn.execute(ddl.record_export(schema), (p.table.full_name, snap.version, snap.committed_at,
                                                             p.definition, rows[p.table.full_name]))
            return
        except (psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable) as err:
            if attempt == 3:
                raise ExportError(f"could not swap the exported tables in: {_first_line(err)}") from None
            time.sleep(attempt)
        except psycopg.errors.DependentObjectsStillExist as err:
            raise ExportError(f"cannot replace a table in schema {schema}: {_first_line(err)}; "
                              "drop the views on it, or point them at another schema") from None


def _first_line(err: BaseException) -> str:
    return next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)
