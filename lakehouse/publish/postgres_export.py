"""`lakehouse export`: every gold table into a PostgreSQL schema, atomically and idempotently.

How a run goes, in one PostgreSQL transaction:
1. each gold table whose Delta snapshot (version and commit time) or table definition differs from
   what the bookkeeping table `<schema>._lakehouse_export` recorded is loaded into a staging table
   `<schema>._stage_<name>`, created in the same transaction (so nobody else sees it), with binary
   `COPY ... FROM STDIN (FREEZE)`, then given its primary key, indexes, comments and statistics;
2. the swap: each old table is dropped, its staging table renamed into place, and the bookkeeping
   updated; then the one commit.

Readers never see a half-written table: until the commit they read the previous tables, and the
exclusive locks are taken only for the swap, not during the load. A run killed anywhere before the
commit leaves nothing behind (the transaction rolls back, staging tables included) and the previous
tables in place. All changed tables swap together, so gold stays consistent across tables. A run
with no gold change only reads the bookkeeping: no transaction touches a data table. Caveat of any
swap: a view on an exported table blocks it (the run fails and names the table).

Rows stream from Spark as Arrow record batches, one partition at a time, and are encoded into
PostgreSQL's binary COPY format with Arrow kernels (no per-row Python), which PostgreSQL parses
about twice as fast as text.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession

from lakehouse import contract
from lakehouse.contract import Table, tables_in
from lakehouse.errors import LakehouseError
from lakehouse.ops.runs import StepReport
from lakehouse.sources.postgres import Endpoint, connect
from lakehouse.storage import delta

BOOKKEEPING = "_lakehouse_export"
STAGE = "_stage_"
# Fault injection for the crash test: exit as if killed after this many tables were loaded.
CRASH_AFTER_TABLES = "LAKEHOUSE_CRASH_AFTER_EXPORT_TABLES"

# Spark type -> PostgreSQL type, and the big-endian layout of a fixed-width value in binary COPY
# (None: the value's bytes as they are).
PG_TYPES: dict[str, tuple[str, str | None]] = {
    "string": ("text", None), "binary": ("bytea", None), "boolean": ("boolean", "u1"),
    "tinyint": ("smallint", ">i2"), "smallint": ("smallint", ">i2"), "int": ("integer", ">i4"),
    "bigint": ("bigint", ">i8"), "float": ("real", ">f4"), "double": ("double precision", ">f8"),
    "date": ("date", ">i4"), "timestamp": ("timestamptz", ">i8"), "timestamp_ntz": ("timestamp", ">i8"),
}
_PG_EPOCH_DAYS = 10_957  # PostgreSQL counts dates and times from 2000-01-01, Arrow from 1970-01-01
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400_000_000
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
_COPY_TRAILER = b"\xff\xff"
_NULL = pa.scalar(b"\xff\xff\xff\xff", pa.binary())  # field length -1


class ExportError(LakehouseError):
    """The export cannot go on; the message names the table and the reason."""


@dataclass(frozen=True)
class Snapshot:
    """Which gold data an export holds: the Delta version and when it was committed."""

    version: int
    committed_at: datetime | None


@dataclass(frozen=True)
class Plan:
    """The PostgreSQL table a gold table becomes."""

    table: Table
    columns: tuple[tuple[str, str], ...]  # (name, Spark type)
    indexed: tuple[str, ...]

    @property
    def definition(self) -> str:
        """A digest of everything that shapes the PostgreSQL table: a change re-exports it."""
        t = self.table
        shape = [self.columns, t.keys, self.indexed, t.description, sorted(t.comments.items()), PG_TYPES]
        return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


def plan(t: Table) -> Plan:
    """Columns from the registry schema; indexes on the filter columns: the date columns (or, with
    none, the first timestamp), region and office_id, except one the primary key already leads."""
    if not t.keys:
        raise ExportError(f"{t.full_name} has no key in the table registry: PostgreSQL needs a primary key")
    columns = tuple((f.name, f.dataType.simpleString()) for f in contract.schema(t.full_name).fields)
    for name, kind in columns:
        if kind not in PG_TYPES:
            raise ExportError(f"{t.full_name}.{name}: no PostgreSQL export for Spark type {kind}")
    kinds = dict(columns)
    dates = [c for c, k in columns if k == "date"] or [c for c, k in columns if k.startswith("timestamp")][:1]
    wanted = dates + [c for c in ("region", "office_id") if c in kinds]
    return Plan(t, columns, tuple(c for c in wanted if c != t.keys[0]))


def export_gold(spark: SparkSession, root: str, endpoint: Endpoint, schema: str,
                report: StepReport) -> dict[str, str]:
    """Export every gold table to PostgreSQL schema `schema`; returns each table's outcome:
    "exported", "unchanged" (same Delta snapshot as the last export) or "missing" (no Delta
    table in the lakehouse: skipped, its previous export left as it is)."""
    import psycopg

    snapshots: dict[str, Snapshot] = {}
    for t in tables_in("gold"):
        if (snap := _snapshot(spark, root, t.full_name)) is not None:
            snapshots[t.full_name] = snap
            report.inputs[t.full_name] = snap.version
    plans = {t.full_name: plan(t) for t in tables_in("gold") if t.full_name in snapshots}
    exported: list[str] = []
    try:
        with connect(endpoint, "export database") as conn:
            stale = _stale(conn, schema, plans, snapshots)
            conn.rollback()  # end the read-only transaction: an unchanged gold leaves no trace
            for name in snapshots.keys() - set(stale):
                report.progress(f"{name}: unchanged since the last export (Delta version {snapshots[name].version})")
            if stale:
                exported = _load_and_swap(spark, root, conn, schema, [plans[n] for n in stale], snapshots, report)
    except psycopg.Error as err:
        raise ExportError(f"export to PostgreSQL schema {schema} failed: {_first_line(err)}") from None
    outcomes = {t.full_name: "missing" if t.full_name not in snapshots
                else "exported" if t.full_name in exported else "unchanged" for t in tables_in("gold")}
    if skipped := [n for n, o in outcomes.items() if o == "missing"]:
        report.progress(f"skipped (no Delta table in the lakehouse; their last export stays): {', '.join(skipped)}")
    return outcomes


def _snapshot(spark: SparkSession, root: str, name: str) -> Snapshot | None:
    latest = delta.latest_commit(spark, root, name)
    return Snapshot(*latest) if latest else None


def _stale(conn: Any, schema: str, plans: dict[str, Plan], snapshots: dict[str, Snapshot]) -> list[str]:
    """The gold tables whose export is missing or not of their current snapshot and definition."""
    tables = {row[0] for row in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind = 'r'", (schema,))}
    done: dict[str, tuple[int, datetime | None, str]] = {}
    if BOOKKEEPING in tables:
        done = {row[0]: tuple(row[1:]) for row in conn.execute(_sql(
            "SELECT table_name, delta_version, delta_committed_at, definition FROM {}", schema, BOOKKEEPING))}
    return [name for name, p in plans.items()
            if p.table.name not in tables
            or done.get(name) != (snapshots[name].version, snapshots[name].committed_at, p.definition)]


def _load_and_swap(spark: SparkSession, root: str, conn: Any, schema: str, plans: list[Plan],
                   snapshots: dict[str, Snapshot], report: StepReport) -> list[str]:
    """Load `plans` into staging tables and swap them in, all in one transaction (see the module
    docstring); returns the tables exported (another export may have done some meanwhile)."""
    import psycopg

    _ensure_schema(conn, schema)
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"lakehouse export {schema}",))
    stale = set(_stale(conn, schema, {p.table.full_name: p for p in plans}, snapshots))
    plans = [p for p in plans if p.table.full_name in stale]
    if not plans:  # another export did them while we waited for its lock
        conn.commit()
        return []
    conn.execute("SET LOCAL maintenance_work_mem = '256MB'")  # index builds sort in memory
    rows: dict[str, int] = {}
    for loaded, p in enumerate(plans, start=1):
        try:
            rows[p.table.full_name] = _load(spark, root, conn, schema, p, snapshots[p.table.full_name], report)
        except psycopg.Error as err:
            raise ExportError(f"export of {p.table.full_name} failed: {_first_line(err)}") from None
        report.rows_in += rows[p.table.full_name]
        if os.environ.get(CRASH_AFTER_TABLES) == str(loaded):
            os._exit(137)
    _swap(conn, schema, plans, snapshots, rows)
    conn.commit()
    report.rows_out += sum(rows.values())
    report.progress(f"swapped in {len(plans)} table(s) in one transaction: "
                    + ", ".join(p.table.full_name for p in plans))
    return [p.table.full_name for p in plans]


def _ensure_schema(conn: Any, schema: str) -> None:
    # Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on the database even
    # when the schema is there, and on RDS an administrator may have created it for us.
    if not conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone():
        conn.execute(_sql("CREATE SCHEMA {}", schema))
    conn.execute(_sql(
        "CREATE TABLE IF NOT EXISTS {} (table_name text PRIMARY KEY, delta_version bigint NOT NULL, "
        "delta_committed_at timestamptz, definition text NOT NULL, rows bigint NOT NULL, "
        "exported_at timestamptz NOT NULL)", schema, BOOKKEEPING))


def _load(spark: SparkSession, root: str, conn: Any, schema: str, p: Plan, snapshot: Snapshot,
          report: StepReport) -> int:
    """Create the staging table and COPY the gold rows in, then key, index, comment and analyze it."""
    from psycopg import sql
    from psycopg.copy import QueuedLibpqWriter

    started = time.monotonic()
    staged = STAGE + p.table.name
    columns = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(PG_TYPES[k][0]))
                                 for c, k in p.columns)
    conn.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(schema, staged), columns))
    # Exactly the snapshot the bookkeeping will record, whatever gold commits meanwhile.
    source = (spark.read.format("delta").option("versionAsOf", snapshot.version)
              .load(delta.path(root, p.table.full_name)))
    rows = 0
    # FREEZE: the table is new in this transaction, so its rows can be written already frozen and
    # readers' first scans do not rewrite every page to set hint bits.
    cursor = conn.cursor()
    # The queued writer sends from its own thread: Arrow encodes the next batch meanwhile.
    with cursor.copy(_sql("COPY {} FROM STDIN (FORMAT binary, FREEZE)", schema, staged),
                     writer=QueuedLibpqWriter(cursor)) as copy:
        copy.write(_COPY_HEADER)
        for batch in arrow_batches(contract.conform(source, p.table.full_name)):
            if batch.num_rows:
                copy.write(copy_rows(batch, [k for _, k in p.columns]))
                rows += batch.num_rows
        copy.write(_COPY_TRAILER)
    copied = time.monotonic()
    # Column comments as the Glue catalog has them: the registry's, else the Delta column's own.
    delta_comments = {f.name: f.metadata["comment"] for f in source.schema.fields if f.metadata.get("comment")}
    _finish(conn, schema, p, {c: p.table.comments.get(c) or delta_comments.get(c) for c, _ in p.columns})
    report.progress(f"{p.table.full_name}: {rows:,} rows copied into staging in {copied - started:.1f} s "
                    f"({rows / max(copied - started, 1e-3):,.0f} rows/s), keyed, indexed and analyzed in "
                    f"{time.monotonic() - copied:.1f} s")
    return rows


def _finish(conn: Any, schema: str, p: Plan, comments: dict[str, str | None]) -> None:
    """The staging table's primary key, indexes, comments and statistics (built after the load:
    faster than maintaining them row by row)."""
    from psycopg import sql

    staged = sql.Identifier(schema, STAGE + p.table.name)
    names = _index_names(p, STAGE)
    conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
        staged, sql.Identifier(names[0]), sql.SQL(", ").join(map(sql.Identifier, p.table.keys))))
    for name, column in zip(names[1:], p.indexed, strict=True):
        conn.execute(sql.SQL("CREATE INDEX {} ON {} ({})").format(sql.Identifier(name), staged, sql.Identifier(column)))
    conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(staged, sql.Literal(p.table.description)))
    for column, comment in comments.items():
        if comment:
            conn.execute(sql.SQL("COMMENT ON COLUMN {} IS {}").format(
                sql.Identifier(schema, STAGE + p.table.name, column), sql.Literal(comment)))
    conn.execute(sql.SQL("ANALYZE {}").format(staged))  # readers' plans have statistics from the start


def _index_names(p: Plan, prefix: str = "") -> list[str]:
    """The primary key's name, then the indexes' names, for the table named `prefix + name`."""
    return [f"{prefix}{p.table.name}_pkey"] + [f"{prefix}{p.table.name}_{c}_idx" for c in p.indexed]


def _swap(conn: Any, schema: str, plans: list[Plan], snapshots: dict[str, Snapshot],
          rows: dict[str, int]) -> None:
    """Drop each old table and rename its staging table (and indexes) into place, and record the
    snapshots. A reader's lock can deadlock with ours (it holds one table and wants another we
    hold): the swap alone is retried from a savepoint, the loaded tables are kept."""
    import psycopg

    conn.execute("SET LOCAL lock_timeout = '10s'")
    for attempt in range(1, 4):
        try:
            with conn.transaction():  # a savepoint
                for p in plans:
                    _swap_one(conn, schema, p)
                    snap = snapshots[p.table.full_name]
                    conn.execute(_sql(
                        "INSERT INTO {} VALUES (%s, %s, %s, %s, %s, now()) ON CONFLICT (table_name) DO UPDATE SET "
                        "delta_version = EXCLUDED.delta_version, delta_committed_at = EXCLUDED.delta_committed_at, "
                        "definition = EXCLUDED.definition, rows = EXCLUDED.rows, exported_at = EXCLUDED.exported_at",
                        schema, BOOKKEEPING),
                        (p.table.full_name, snap.version, snap.committed_at, p.definition, rows[p.table.full_name]))
            return
        except (psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable) as err:
            if attempt == 3:
                raise ExportError(f"could not swap the exported tables in: {_first_line(err)}") from None
            time.sleep(attempt)
        except psycopg.errors.DependentObjectsStillExist as err:
            raise ExportError(f"cannot replace a table in schema {schema}: {_first_line(err)}; "
                              "drop the views on it, or point them at another schema") from None


def _swap_one(conn: Any, schema: str, p: Plan) -> None:
    from psycopg import sql

    conn.execute(_sql("DROP TABLE IF EXISTS {}", schema, p.table.name))
    conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(
        sql.Identifier(schema, STAGE + p.table.name), sql.Identifier(p.table.name)))
    staged, final = _index_names(p, STAGE), _index_names(p)
    conn.execute(sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
        sql.Identifier(schema, p.table.name), sql.Identifier(staged[0]), sql.Identifier(final[0])))
    for old, new in zip(staged[1:], final[1:], strict=True):
        conn.execute(sql.SQL("ALTER INDEX {} RENAME TO {}").format(sql.Identifier(schema, old), sql.Identifier(new)))


def _sql(template: str, *qualified_name: str) -> Any:
    """`template` with its one `{}` filled by the (schema-qualified) identifier."""
    from psycopg import sql

    return sql.SQL(template).format(sql.Identifier(*qualified_name))


def _first_line(err: BaseException) -> str:
    return next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)


def arrow_batches(frame: DataFrame) -> Iterator[pa.RecordBatch]:
    """The frame's rows as Arrow record batches, one partition at a time (Spark computes the next
    while this one is consumed), so the driver never holds the whole table.

    `toLocalIterator` for Arrow: PySpark has it for rows only, so this pairs the JVM's own pieces
    (the Arrow batches `toArrow` collects, served the way `toLocalIterator` serves rows).
    """
    from pyspark.serializers import NoOpSerializer
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.util import _local_iterator_from_socket

    spark = frame.sparkSession
    large = spark._jconf.arrowUseLargeVarTypes()  # type: ignore[attr-defined]
    schema = to_arrow_schema(frame.schema, prefers_large_types=large)
    jvm = spark.sparkContext._jvm
    served = jvm.PythonRDD.toLocalIteratorAndServe(frame._jdf.toArrowBatchRdd(), True)  # type: ignore[union-attr]
    for message in _local_iterator_from_socket(served, NoOpSerializer()):
        yield pa.ipc.read_record_batch(pa.py_buffer(message), schema)


def copy_rows(batch: pa.RecordBatch, kinds: list[str]) -> memoryview:
    """The batch's rows in PostgreSQL's binary COPY format (each row: a 2-byte field count, then
    per field a 4-byte length, -1 for null, and the value), built column-wise by Arrow kernels."""
    count = pa.scalar(np.array([batch.num_columns], ">i2").tobytes(), pa.binary())
    fields = [_fields(column, kind) for column, kind in zip(batch.columns, kinds, strict=True)]
    rows = pc.binary_join_element_wise(count, *fields, b"")
    offsets = np.frombuffer(rows.buffers()[1], np.int32, len(rows) + 1, rows.offset * 4)
    return memoryview(rows.buffers()[2])[offsets[0]:offsets[-1]]  # type: ignore[arg-type]


def _fields(column: pa.Array, kind: str) -> pa.Array:
    """One column as binary COPY fields (length-prefixed, big-endian values)."""
    layout = PG_TYPES[kind][1]
    if layout is None:
        data = column.cast(pa.binary())
        lengths = pc.binary_length(data).fill_null(0).to_numpy().astype(">i4")
        fields = pc.binary_join_element_wise(_fixed(lengths.view(np.uint8).reshape(-1, 4)), data, b"")
    else:
        dtype = np.dtype(layout)
        matrix = np.empty((len(column), 4 + dtype.itemsize), np.uint8)
        matrix[:, :4] = np.frombuffer(np.array([dtype.itemsize], ">i4").tobytes(), np.uint8)
        matrix[:, 4:] = _numbers(column, kind).astype(dtype).view(np.uint8).reshape(-1, dtype.itemsize)
        fields = _fixed(matrix)
    return pc.if_else(column.is_null(), _NULL, fields) if column.null_count else fields


def _numbers(column: pa.Array, kind: str) -> np.ndarray:
    if kind == "boolean":
        return column.fill_null(False).to_numpy(zero_copy_only=False)
    if kind == "date":
        return column.cast(pa.int32()).fill_null(0).to_numpy().astype(np.int64) - _PG_EPOCH_DAYS
    if kind.startswith("timestamp"):
        assert column.type.unit == "us", f"Spark sends microseconds, got {column.type}"
        return column.cast(pa.int64()).fill_null(0).to_numpy() - _PG_EPOCH_US
    return column.fill_null(0).to_numpy()


def _fixed(matrix: np.ndarray) -> pa.Array:
    """Each row of a uint8 matrix as one binary value (zero-copy, then one cast)."""
    width = matrix.shape[1]
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(matrix), [None, pa.py_buffer(matrix)]).cast(
        pa.binary())
