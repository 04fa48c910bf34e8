"""The stream job, exactly once: Kinesis (moto on loopback) -> bronze -> silver, across a crash.

The stream runs in real processes. The first one, the stream step driven by a script, dies between
a bronze commit and Spark's batch commit (the worst moment: its `after_bronze_commit` callback exits
the process); a second `lakehouse stream` is killed at a random moment, and a third drains the rest.
Expected values come from what the producer put on the stream.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.aws.clients import client
from lakehouse.config import load_config
from lakehouse.datagen.producer import ensure_stream, produce
from lakehouse.local.aws import LocalAws
from lakehouse.storage import delta

pytestmark = pytest.mark.slow

# Both kinds of stream process read the same stream the same way.
SETTINGS = {"stream.shards": 2, "stream.max_records_per_shard": 40}

# The stream step as `app.run_stream` runs it, but exiting (as if killed: 137) right after the bronze
# commit of batch 2. argv: the storage root, the AWS endpoint, the stream name, SETTINGS as JSON.
CRASHING_STREAM = """
import json, os, sys

from lakehouse import app
from lakehouse.config import load_config
from lakehouse.pipeline.stream import check_stream_identity, kinesis_records, run_stream
from lakehouse.spark import get_spark

root, url, name, settings = sys.argv[1:]
config = load_config("local", {"storage.root": root, "aws.endpoint_url": url, "stream.name": name,
                               **json.loads(settings)})
spark = get_spark(config.spark)
progress = print
check_stream_identity(spark, config.root, app.stream_identity(config, url), config.stream.fail_on_data_loss, progress)


def crash(batch_id):
    if batch_id == 2:
        os._exit(137)


records = kinesis_records(spark, app.stream_settings(config, url))
run_stream(spark, records, app.silver_settings(config), progress, True, config.stream.trigger_seconds,
           after_bronze_commit=crash)
"""


def _stream_command(root: Path, url: str, stream: str) -> list[str]:
    settings = [arg for key, value in SETTINGS.items() for arg in ("--set", f"{key}={value}")]
    return [sys.executable, "-m", "lakehouse.cli", "--root", str(root),
            "--set", f"aws.endpoint_url={url}", "--set", f"stream.name={stream}", *settings,
            "stream", "--available-now"]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYSPARK_PYTHON": sys.executable, "LAKEHOUSE_DRIVER_MEMORY": "1g", **extra}


@pytest.fixture(scope="module")
def streamed(spark: SparkSession, local_aws: LocalAws, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("stream")
    name = f"events-{uuid.uuid4().hex[:8]}"
    config = load_config("local", {"storage.root": str(root), "aws.endpoint_url": local_aws.url})
    kinesis = client("kinesis", config.aws.region, local_aws.url)
    ensure_stream(kinesis, name, 2)
    summary = produce(kinesis, name, rate=5000, seconds=1, seed=5, events=600)

    command = _stream_command(root, local_aws.url, name)
    crashing = [sys.executable, "-c", CRASHING_STREAM, str(root), local_aws.url, name, json.dumps(SETTINGS)]
    crashed = subprocess.run(crashing, env=_env(), capture_output=True, text=True, timeout=600)
    bronze_after_crash = delta.read(spark, str(root), "bronze.enrollment_events").count()

    killed = subprocess.Popen(command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(random.Random(5).uniform(15, 25))
    if killed.poll() is None:
        killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)

    final = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600)
    return {"root": str(root), "name": name, "summary": summary, "crashed": crashed,
            "bronze_after_crash": bronze_after_crash, "final": final}


def test_the_crash_happened_after_a_bronze_commit(streamed: dict[str, Any]) -> None:
    assert streamed["crashed"].returncode == 137, streamed["crashed"].stderr[-2000:]  # the callback's exit
    assert streamed["bronze_after_crash"] > 0
    assert streamed["final"].returncode == 0, streamed["final"].stderr[-2000:]


def test_bronze_holds_each_kinesis_record_exactly_once(spark: SparkSession, streamed: dict[str, Any]) -> None:
    bronze = delta.read(spark, streamed["root"], "bronze.enrollment_events")
    sources = [r["_source"] for r in bronze.select("_source").collect()]
    expected = {f"kinesis:{streamed['name']}/{shard}/{seq}" for shard, seq in streamed["summary"].sequence_numbers}
    assert len(sources) == len(set(sources)), "a Kinesis record is in bronze twice"
    assert set(sources) == expected
    assert len(sources) == streamed["summary"].records_sent


def test_silver_holds_each_event_once_and_every_record_is_accounted_for(spark: SparkSession,
                                                                        streamed: dict[str, Any]) -> None:
    """The producer knows what it planted: its bad records are quarantined, its duplicates dropped,
    and every other record is one silver row."""
    root, summary = streamed["root"], streamed["summary"]
    silver = delta.read(spark, root, "silver.enrollment_events")
    ids = [r["event_id"] for r in silver.select("event_id").collect()]
    assert len(ids) == len(set(ids))
    assert summary.bad_records_sent > 0 and summary.duplicates_sent > 0
    assert delta.read(spark, root, "quarantine.enrollment_events").count() == summary.bad_records_sent
    assert len(ids) == summary.records_sent - summary.bad_records_sent - summary.duplicates_sent
    bronze = delta.read(spark, root, "bronze.enrollment_events")
    assert bronze.where(F.col("_arrived_at").isNull()).isEmpty()


def test_poison_records_go_to_quarantine_and_the_stream_goes_on(spark: SparkSession, local_aws: LocalAws,
                                                                tmp_path: Path) -> None:
    from lakehouse import app

    name = f"poison-{uuid.uuid4().hex[:8]}"
    config = load_config("local", {"storage.root": str(tmp_path), "aws.endpoint_url": local_aws.url,
                                   "stream.name": name, "stream.shards": 1})
    kinesis = client("kinesis", config.aws.region, local_aws.url)
    ensure_stream(kinesis, name, 1)
    good = ('{"event_id": "5b0c8a52-7f0e-4d7e-9c43-2f1f4c1b9a10", "event_type": "enrollment_started", '
            '"event_time": "2026-11-20T10:00:00.000Z", "schema_version": 1, "enrollment_id": "en-1", '
            '"national_id": "12345678", "full_name": "A B", "birth_date": "1990-01-01", "office_id": "OF-0001", '
            '"channel": "web", "operator_id": null, "validation": null}')
    payloads = {
        "not_json": b"this is not json at all",
        "not_utf8": b'{"event_id": "\xff\xfe\xfa"}',
        "huge": b'{"event_id": "' + b"x" * (1024 * 1024 - 200),  # near the 1 MiB limit, cut short
        "good": good.encode(),
    }
    put = {kind: kinesis.put_record(StreamName=name, Data=data, PartitionKey="p") for kind, data in payloads.items()}
    report = app.run_stream(spark, config, available_now=True)
    assert report.status == "succeeded"

    quarantine = delta.read(spark, str(tmp_path), "quarantine.enrollment_events")
    rules = {r["_source"]: list(r["_failed_rules"]) for r in quarantine.collect()}
    for kind in ("not_json", "not_utf8", "huge"):
        source = f"kinesis:{name}/{put[kind]['ShardId']}/{put[kind]['SequenceNumber']}"
        assert rules.get(source) == ["record_parseable"], kind
    errors = {r["_source"].rsplit("/", 1)[1]: r["_parse_error"] for r in quarantine.collect()}
    assert errors[put["not_utf8"]["SequenceNumber"]] == "not valid UTF-8"
    silver = delta.read(spark, str(tmp_path), "silver.enrollment_events").collect()
    assert [r["event_id"] for r in silver] == ["5b0c8a52-7f0e-4d7e-9c43-2f1f4c1b9a10"]


def test_a_checkpoint_started_over_reads_the_stream_again_rather_than_skipping_it(
    spark: SparkSession, local_aws: LocalAws, tmp_path: Path
) -> None:
    """Deleting the stream's checkpoint restarts its batch ids at 0: the bronze appends must not be
    taken for batches Delta already committed (their idempotency token names the checkpoint)."""
    import shutil

    from lakehouse import app
    from lakehouse.pipeline.stream import stream_checkpoint

    name = f"restart-{uuid.uuid4().hex[:8]}"
    config = load_config("local", {"storage.root": str(tmp_path), "aws.endpoint_url": local_aws.url,
                                   "stream.name": name, "stream.shards": 1, "stream.max_records_per_shard": 20})
    kinesis = client("kinesis", config.aws.region, local_aws.url)
    ensure_stream(kinesis, name, 1)
    summary = produce(kinesis, name, rate=5000, seconds=1, seed=9, events=50)
    assert app.run_stream(spark, config, available_now=True).status == "succeeded"
    assert delta.read(spark, str(tmp_path), "bronze.enrollment_events").count() == 50

    shutil.rmtree(stream_checkpoint(str(tmp_path)))
    assert app.run_stream(spark, config, available_now=True).status == "succeeded"
    sources = delta.read(spark, str(tmp_path), "bronze.enrollment_events").groupBy("_source").count().collect()
    expected = {f"kinesis:{name}/{shard}/{seq}" for shard, seq in summary.sequence_numbers}
    assert {r["_source"] for r in sources} == expected
    assert {r["count"] for r in sources} == {2}  # read again from TRIM_HORIZON, as bronze records arrivals


def test_continuous_mode_follows_records_put_while_it_runs_and_stops_cleanly(
    spark: SparkSession, local_aws: LocalAws, tmp_path: Path
) -> None:
    import threading

    from lakehouse import app

    name = f"continuous-{uuid.uuid4().hex[:8]}"
    config = load_config("local", {"storage.root": str(tmp_path), "aws.endpoint_url": local_aws.url,
                                   "stream.name": name, "stream.shards": 2})
    kinesis = client("kinesis", config.aws.region, local_aws.url)
    ensure_stream(kinesis, name, 2)
    first = produce(kinesis, name, rate=5000, seconds=1, seed=21, events=100)
    later: list[Any] = []
    putter = threading.Timer(8, lambda: later.append(produce(kinesis, name, rate=5000, seconds=1, seed=22,
                                                             events=100)))
    putter.start()
    report = app.run_stream(spark, config, available_now=False, trigger_seconds=1, timeout_seconds=30)
    putter.join()
    assert report.status == "succeeded"
    assert not [q.name for q in spark.streams.active if q.name in ("stream_enrollment_events",
                                                                     "silver_enrollment_events")]
    sources = [r["_source"] for r in delta.read(spark, str(tmp_path), "bronze.enrollment_events").collect()]
    expected = {f"kinesis:{name}/{shard}/{seq}" for summary in (first, *later)
                for shard, seq in summary.sequence_numbers}
    assert len(later) == 1 and len(sources) == len(expected) == 200 and set(sources) == expected
    # Silver followed bronze while the stream ran (every 10 s): the events put first are there.
    silver = delta.read(spark, str(tmp_path), "silver.enrollment_events").select("_source").collect()
    assert {r["_source"] for r in silver} & {f"kinesis:{name}/{s}/{q}" for s, q in first.sequence_numbers}
