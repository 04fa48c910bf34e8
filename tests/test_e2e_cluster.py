"""The batch pipeline and the drain-and-stop stream on separate executors: `local-cluster[2,1,1024]`.

A driver and two executor JVMs (each with its own Python workers) catch what only works when driver
and executors share a process: driver-side state read in a task, unpicklable closures, local paths,
the Kinesis data source's partitions read on executors. The suite's shared session is `local[2]`,
so the steps run as `lakehouse` commands in subprocesses, in the order of `make demo`.

Expected values come from elsewhere than the pipeline: bronze from the landing files and from the
records read off the stream with boto3; silver from bronze by a plain-Python check of which record
went where; gold from the same silver rebuilt on the suite's `local[2]` session.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from lakehouse.aws.clients import client
from lakehouse.contract import tables_in
from lakehouse.local import aws
from lakehouse.ops.results import no_progress
from lakehouse.pipeline.gold import SILVER_INPUTS, build_gold
from lakehouse.storage import delta

pytestmark = pytest.mark.slow

MASTER = "local-cluster[2,1,1024]"  # two workers of one core and 1 GiB each, one executor per worker
PRODUCED = 60
STREAM = "enrollment-events"


def _lakehouse(root: Path, *args: str) -> str:
    """Run one command on the cluster; its output (progress lines and Spark's log) goes to a log
    file beside the lake, named on failure."""
    command = [sys.executable, "-m", "lakehouse.cli", "--root", str(root), "--set", f"spark.master={MASTER}", *args]
    env = {**os.environ, "LAKEHOUSE_DRIVER_MEMORY": "1g"}
    log = root.parent / f"{len(list(root.parent.glob('*.log')))}-{args[0]}.log"
    with log.open("w") as out:
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=out, text=True, timeout=2400)
    assert done.returncode == 0, f"lakehouse {' '.join(args)} failed ({log}):\n{done.stdout}"
    return done.stdout


def _stream_records(url: str) -> list[bytes]:
    """Every record on the stream, read with boto3 from each shard's start."""
    kinesis = client("kinesis", "us-east-1", url)
    data: list[bytes] = []
    for shard in kinesis.list_shards(StreamName=STREAM)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=STREAM, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            data += [r["Data"] for r in page["Records"]]
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return data


def _rows(spark: SparkSession, root: Path, name: str) -> list[tuple[Any, ...]]:
    return sorted((tuple(r) for r in delta.read(spark, str(root), name).collect()), key=repr)


def test_the_pipeline_and_the_stream_on_two_executor_jvms(spark: SparkSession, tmp_path: Path) -> None:
    root = tmp_path / "lake"
    try:
        _lakehouse(root, "aws", "start")
        _lakehouse(root, "generate", "--enrollments", "100", "--days", "2", "--offices", "4")
        _lakehouse(root, "run", "--no-summary")
        _lakehouse(root, "produce", "--events", str(PRODUCED))
        streamed = _lakehouse(root, "stream", "--available-now")
        _lakehouse(root, "run", "--no-summary")
        local = aws.running(str(root))
        assert local is not None
        on_stream = _stream_records(local.url)
    finally:
        subprocess.run([sys.executable, "-m", "lakehouse.cli", "--root", str(root), "aws", "stop"], timeout=60)
    assert "stream  succeeded" in streamed

    # Bronze: every landing line and every record on the stream, each exactly once.
    bronze = delta.read(spark, str(root), "bronze.enrollment_events").select("_source", "_raw").collect()
    lines = [line for f in sorted((root / "landing" / "events").iterdir())
             for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(on_stream) == PRODUCED
    assert Counter(r["_raw"] for r in bronze) == Counter(lines) + Counter(d.decode("utf-8") for d in on_stream)
    assert len({r["_source"] for r in bronze}) == len(bronze)
    assert sum(r["_source"].startswith(f"kinesis:{STREAM}/") for r in bronze) == PRODUCED

    # Silver: each bronze record is in silver, or in quarantine, or repeats an event_id silver holds.
    silver = {r["_source"]: r["event_id"] for r in
              delta.read(spark, str(root), "silver.enrollment_events").select("_source", "event_id").collect()}
    quarantined = {r["_source"] for r in
                   delta.read(spark, str(root), "quarantine.enrollment_events").select("_source").collect()}
    assert len(set(silver.values())) == len(silver) > 0 and quarantined and not quarantined & silver.keys()
    for record in bronze:
        if record["_source"] not in silver and record["_source"] not in quarantined:
            assert json.loads(record["_raw"])["event_id"] in set(silver.values()), "a record went nowhere"

    # Gold: the same as the same silver rebuilt on one JVM (local[2]).
    single = tmp_path / "single"
    for name in SILVER_INPUTS:
        shutil.copytree(delta.path(str(root), name), delta.path(str(single), name))
    build_gold(spark, str(single), no_progress)
    for t in tables_in("gold"):
        assert _rows(spark, root, t.full_name) == _rows(spark, single, t.full_name), t.full_name
