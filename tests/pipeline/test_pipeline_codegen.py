"""Micro-batches reuse their compiled code: a batch after the first compiles nothing new.

Spark compiles each query stage to JVM bytecode and caches it by source text. A value that changes
every batch and lands in the source (a `current_timestamp()` literal) or a cache too small for a
stream's stages makes every batch compile again, and the JIT compile the new classes again: on two
cores that was most of the stream's CPU.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from pyspark.sql import SparkSession

from lakehouse.bronze.kinesis_records import bronze_kinesis_events
from lakehouse.pipeline.clock import moment
from lakehouse.silver.events import quarantine_enrollment_events, validate_enrollment_events
from lakehouse.storage import delta

RECORDS = ("data binary, stream string, shard_id string, sequence_number string, partition_key string, "
           "approximate_arrival_timestamp timestamp")


def _compilations(spark: SparkSession) -> int:
    metrics = spark.sparkContext._jvm.org.apache.spark.metrics.source.CodegenMetrics  # type: ignore[union-attr]
    return int(metrics.METRIC_COMPILATION_TIME().getCount())


def _records(batch: int) -> list[tuple]:
    arrived = dt.datetime(2026, 11, 20, 10, 0, batch)
    no_national_id = {"event_id": f"00000000-0000-4000-8000-{batch:012d}", "event_type": "enrollment_started",
                      "event_time": "2026-11-20T10:00:00Z", "channel": "web", "office_id": "OF-001"}
    return [  # both fail a rule, so every batch writes to quarantine too
        (json.dumps(no_national_id).encode(), "s", "shardId-0", f"{batch}01", "k", arrived),
        (b"{not json", "s", "shardId-0", f"{batch}02", "k", arrived),
    ]


def test_a_micro_batch_after_the_first_compiles_no_new_code(spark: SparkSession, tmp_path: Path) -> None:
    root = str(tmp_path)

    def batch(n: int) -> None:
        records = spark.createDataFrame(_records(n), RECORDS)
        delta.append(bronze_kinesis_events(records, f"stream-{n}", moment(spark)), root, "bronze.enrollment_events",
                     app_id="test", txn_version=n)
        bronze = delta.read(spark, root, "bronze.enrollment_events").filter(f"_batch_id = 'stream-{n}'")
        quarantine = quarantine_enrollment_events(validate_enrollment_events(bronze, 10), moment(spark))
        delta.insert_new(spark, quarantine, root, "quarantine.enrollment_events", ("_source",))

    for n in range(3):  # the first commits of a new table take paths of their own
        batch(n)
    before = _compilations(spark)
    batch(3)
    batch(4)
    assert _compilations(spark) == before
    assert delta.read(spark, root, "quarantine.enrollment_events").count() == 10
    assert delta.read(spark, root, "bronze.enrollment_events").count() == 10
