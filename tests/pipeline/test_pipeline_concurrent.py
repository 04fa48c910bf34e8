"""Concurrent writers: the continuous stream (its own process) and batch runs (ingest of landing
files, then silver, in the test's process) write `bronze.enrollment_events` and silver at the same
time for about a minute. Afterwards every record is in bronze exactly once and silver holds every
event id exactly once. Expected values come from what the test put on the stream and in landing.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from lakehouse import app
from lakehouse.aws.clients import client
from lakehouse.config import load_config
from lakehouse.datagen.producer import ensure_stream, produce
from lakehouse.local.aws import LocalAws
from lakehouse.pipeline.ingest import ingest
from lakehouse.pipeline.silver import build_silver
from lakehouse.storage import delta

pytestmark = pytest.mark.slow

STREAM_SECONDS = 70  # the continuous stream's --timeout; the batch runs go on while it runs
FILES, EVENTS_PER_FILE = 6, 25


def _event_line(rng_id: str, n: int) -> str:
    return json.dumps({
        "event_id": rng_id, "event_type": "enrollment_started", "event_time": "2026-11-20T10:00:00.000Z",
        "schema_version": 1, "enrollment_id": f"en-file-{n}", "national_id": f"{40000000 + n}",
        "full_name": "File Person", "birth_date": "1990-01-01", "office_id": "OF-0001", "channel": "web",
        "operator_id": None, "validation": None})


def _write_landing_file(root: Path, k: int) -> tuple[str, list[str]]:
    """One events file of EVENTS_PER_FILE valid events with fresh ids; its landing key and the ids."""
    ids = [str(uuid.uuid4()) for _ in range(EVENTS_PER_FILE)]
    key = f"events/concurrent-{k:02d}.jsonl"
    target = root / "landing" / key
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")  # a hidden name: listed only once complete
    tmp.write_text("".join(_event_line(i, k * 100 + n) + "\n" for n, i in enumerate(ids)))
    tmp.rename(target)
    return key, ids


@pytest.fixture(scope="module")
def concurrent_run(spark: SparkSession, local_aws: LocalAws, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("concurrent")
    (root / "landing" / "events").mkdir(parents=True)
    name = f"concurrent-{uuid.uuid4().hex[:8]}"
    overrides = {"storage.root": str(root), "aws.endpoint_url": local_aws.url, "stream.name": name,
                 "stream.shards": 2, "stream.max_records_per_shard": 100}
    config = load_config("local", overrides)
    settings = app.silver_settings(config)  # creates the HMAC key file before two processes need it
    kinesis = client("kinesis", config.aws.region, local_aws.url)
    ensure_stream(kinesis, name, 2)
    summaries = [produce(kinesis, name, rate=5000, seconds=1, seed=31, events=300)]
    later = threading.Timer(25, lambda: summaries.append(produce(kinesis, name, rate=5000, seconds=1, seed=32,
                                                                 events=300)))

    command = [sys.executable, "-m", "lakehouse.cli", "--root", str(root),
               *[arg for key, value in overrides.items() if key != "storage.root" for arg in ("--set", f"{key}={value}")],
               "stream", "--trigger-seconds", "2", "--timeout", str(STREAM_SECONDS)]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "LAKEHOUSE_DRIVER_MEMORY": "1g"}
    log = (root.parent / f"{root.name}-stream.log").open("w")  # a file: a pipe left unread could fill up
    stream = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    later.start()

    messages: list[str] = []
    files: dict[str, list[str]] = {}
    started = time.monotonic()
    k = 0
    # Batch runs while the stream runs: one new landing file each, ingest, then all of silver.
    while stream.poll() is None and (k < FILES or time.monotonic() - started < STREAM_SECONDS - 10):
        if k < FILES:
            key, ids = _write_landing_file(root, k)
            files[key] = ids
            k += 1
        ingest(spark, str(root), None, f"batch-{k}", messages.append)
        build_silver(spark, settings, messages.append)
        time.sleep(2)
    while k < FILES:  # the stream ended first (slow machine): the remaining files, still concurrent-free
        key, ids = _write_landing_file(root, k)
        files[key] = ids
        k += 1
        ingest(spark, str(root), None, f"batch-{k}", messages.append)
    stream.wait(timeout=600)
    log.close()
    output = Path(log.name).read_text()
    later.join()
    # What the continuous stream had not read by its timeout, and silver's last increment.
    drained = app.run_stream(spark, config, available_now=True)
    build_silver(spark, settings, messages.append)
    return {"root": str(root), "name": name, "summaries": summaries, "files": files, "messages": messages,
            "stream": (stream.returncode, output), "drained": drained.status}


def test_both_writers_ran_at_once_and_ended_well(concurrent_run: dict[str, Any]) -> None:
    returncode, output = concurrent_run["stream"]
    assert returncode == 0, output[-3000:]
    assert concurrent_run["drained"] in ("succeeded", "no_change")
    # While the stream followed silver's enrollment flow, the batch runs left it to the stream.
    skipped = [m for m in concurrent_run["messages"] if m.startswith("silver_enrollment_events: followed by")]
    assert skipped, "the batch silver never met the running stream"


def test_every_record_is_in_bronze_exactly_once(spark: SparkSession, concurrent_run: dict[str, Any]) -> None:
    bronze = delta.read(spark, concurrent_run["root"], "bronze.enrollment_events").select("_source").collect()
    sources = [r["_source"] for r in bronze]
    assert len(sources) == len(set(sources)), "a record is in bronze twice"
    name = concurrent_run["name"]
    kinesis = {f"kinesis:{name}/{shard}/{seq}" for s in concurrent_run["summaries"] for shard, seq in s.sequence_numbers}
    from_files = {f"{key}:{line}" for key, ids in concurrent_run["files"].items() for line in range(1, len(ids) + 1)}
    assert len(concurrent_run["summaries"]) == 2 and len(concurrent_run["files"]) == FILES
    assert set(sources) == kinesis | from_files
    assert len(sources) == sum(s.records_sent for s in concurrent_run["summaries"]) + FILES * EVENTS_PER_FILE


def test_silver_holds_every_event_id_exactly_once(spark: SparkSession, concurrent_run: dict[str, Any]) -> None:
    silver = delta.read(spark, concurrent_run["root"], "silver.enrollment_events").select("event_id").collect()
    ids = [r["event_id"] for r in silver]
    assert len(ids) == len(set(ids)), "an event id is in silver twice"
    file_ids = {i for ids_ in concurrent_run["files"].values() for i in ids_}
    assert file_ids <= set(ids)
    streamed = sum(s.records_sent - s.bad_records_sent - s.duplicates_sent for s in concurrent_run["summaries"])
    assert len(ids) == streamed + len(file_ids)
