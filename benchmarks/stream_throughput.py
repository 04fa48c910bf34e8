"""Stream benchmark: sustained Kinesis -> bronze consumption against the producer, in one run.

The producer (the peer) puts synthetic enrollment events on a 4-shard stream of the local Kinesis
stand-in at a target rate (default 4,000 records/s: four shards at Kinesis' write limit of 1,000
records/s each) for a fixed time, while `lakehouse stream` runs continuously with its trigger
interval. Printed: the producer's achieved rate, the consumer's sustained rate and their ratio,
the lag (records put but not yet in bronze) in the first and second half of the run, and the p50 /
p95 latency from each record's `approximate_arrival_timestamp` to the bronze commit that holds it,
with the ratio of p50 to the trigger interval.

A stream job runs for hours; its first minute is the JVM compiling Spark and Delta (on two cores the
JIT alone takes a third of a core for minutes). `--warmup` seconds of the same load run first and
are reported apart; the figures that count are those of the `--seconds` that follow.

    .venv/bin/python benchmarks/stream_throughput.py [--rate 4000] [--seconds 120] [--warmup 60] [--trigger 5]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta

from pyspark.sql import SparkSession

from lakehouse.app import silver_settings, stream_kms_key, stream_settings
from lakehouse.aws.clients import client
from lakehouse.config import load_config
from lakehouse.datagen.producer import ensure_stream
from lakehouse.local.aws import start_detached, stop_detached
from lakehouse.ops.results import no_progress
from lakehouse.pipeline.stream import kinesis_records, run_stream, stop_between_batches
from lakehouse.spark import get_spark
from lakehouse.storage import delta

PRODUCER = """
import json, sys
from lakehouse.aws.clients import client
from lakehouse.config import load_config
from lakehouse.datagen.producer import produce
url, stream, rate, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 11
config = load_config("local", {"aws.endpoint_url": url})
summary = produce(client("kinesis", config.aws.region, url), stream, rate=rate, seconds=seconds, seed=seed)
print(json.dumps({"sent": summary.records_sent, "rate": summary.rate_achieved, "retries": summary.retries}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=4000)
    parser.add_argument("--seconds", type=float, default=120.0, help="measured seconds, after the warm-up")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds of the same load before measuring")
    parser.add_argument("--trigger", type=int, default=5, help="trigger interval in seconds")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--max-per-shard", type=int, default=20000)
    args = parser.parse_args()

    root = tempfile.mkdtemp(prefix="lakehouse-bench-")
    aws = start_detached(root)  # its own process: the stand-in must not share this one's GIL
    config = load_config("local", {"storage.root": root, "aws.endpoint_url": aws.url,
                                   "stream.max_records_per_shard": args.max_per_shard})
    spark = get_spark(config.spark)
    ensure_stream(client("kinesis", config.aws.region, aws.url), config.stream.name, args.shards,
                  kms_key=stream_kms_key(config, aws.url))  # as `lakehouse produce` makes it

    # Each bronze commit's time and rows, noted as the stream makes it (from the table's log: no Spark job).
    commits: dict[str, datetime] = {}
    batches: list[tuple[datetime, int]] = []

    def committed(batch_id: int) -> None:
        commits[f"stream-{batch_id}"] = datetime.now(UTC).replace(tzinfo=None)
        version = delta.version(spark, root, "bronze.enrollment_events") or 0
        batches.append((commits[f"stream-{batch_id}"], delta.commit_rows(spark, root, "bronze.enrollment_events",
                                                                          version)))

    records = kinesis_records(spark, stream_settings(config, aws.url))
    consumer = threading.Thread(
        target=run_stream,
        args=(spark, records, silver_settings(config), no_progress, False, args.trigger,
              args.warmup + args.seconds + 60, committed),
        daemon=True,
    )
    consumer.start()
    while not any(q.name == "stream_enrollment_events" and q.lastProgress for q in spark.streams.active):
        time.sleep(0.5)  # the query is up and has run its first (empty) batch
    started = time.monotonic()
    producer = subprocess.Popen(
        [sys.executable, "-c", PRODUCER, aws.url, config.stream.name, str(args.rate), str(args.warmup + args.seconds)],
        stdout=subprocess.PIPE, text=True,
    )
    # Progress comes from the stream's own batch reports (commit time, rows), so measuring costs
    # the two cores nothing: no Spark job polls the table while the stream runs.
    sent: int | None = None
    wall_started = datetime.now(UTC) - timedelta(seconds=time.monotonic() - started)
    while True:
        time.sleep(2)
        elapsed = time.monotonic() - started
        in_bronze = sum(rows for _, rows in batches)
        print(f"  t={elapsed:5.1f}s bronze={in_bronze:,}", file=sys.stderr, flush=True)
        if sent is None and producer.poll() is not None:
            produced = json.loads(producer.stdout.read())  # type: ignore[union-attr]
            sent, producer_rate = produced["sent"], produced["rate"]
        if (sent is not None and in_bronze >= sent) or elapsed > args.warmup + args.seconds + 120:
            break
    phases = _phases(spark)
    silver = next((q for q in spark.streams.active if q.name == "silver_enrollment_events"), None)
    silver_batches = [p for p in (silver.recentProgress if silver else []) if p["numInputRows"]]
    for query in spark.streams.active:
        stop_between_batches(query)
    consumer.join(timeout=120)
    stop_detached(root)
    samples, total = [], 0
    for committed, rows in sorted(batches):
        total += rows
        samples.append(((committed.replace(tzinfo=UTC) - wall_started).total_seconds(), total))

    arrivals = delta.read(spark, root, "bronze.enrollment_events").select("_batch_id", "_arrived_at").collect()
    latencies = [((commits[r["_batch_id"]] - r["_arrived_at"]).total_seconds(),
                  (r["_arrived_at"].replace(tzinfo=UTC) - wall_started).total_seconds())
                 for r in arrivals if r["_batch_id"] in commits and r["_arrived_at"] is not None]
    # The measured window: [warmup, warmup + seconds] after the producer started, in two halves.
    start, end = args.warmup, args.warmup + args.seconds
    half = start + args.seconds / 2
    measured = [lat for lat, at in latencies if start <= at <= end]
    if len(measured) < 2:
        print(f"no records arrived in the measured window ({start:.0f}-{end:.0f} s after the producer started): "
              "nothing to report; give --seconds more time", file=sys.stderr)
        return 1
    warming = [lat for lat, at in latencies if at < start]
    consumed = samples[-1][1]
    drain_time = next(t for t, n in samples if n >= consumed)
    # Sustained: the records of the commits in the second half of the window, over the time they
    # took (from the commit before the first of them to the last).
    steady = [(t, n) for t, n in samples if half <= t <= end]
    before = [(t, n) for t, n in samples if t < half]
    sustained = ((steady[-1][1] - before[-1][1]) / (steady[-1][0] - before[-1][0])
                 if steady and before else float("nan"))
    # Lag after each commit (records put by then, minus records in bronze): its mean per half of
    # the window says whether it grows; its max says how far behind the stream ever was.
    lag = [(t, min(sent, producer_rate * t) - n) for t, n in samples if start <= t <= end]  # type: ignore[type-var]
    first_half = [x for t, x in lag if t <= half] or [float("nan")]
    second_half = [x for t, x in lag if t > half] or [float("nan")]
    p50 = statistics.median(measured)
    p95 = statistics.quantiles(measured, n=20)[18]

    print(f"producer (peer): {sent:,} records in {args.warmup + args.seconds:.0f} s = {producer_rate:,.0f} records/s "
          f"(target {args.rate:,}, {args.shards} shards); measured: the {args.seconds:.0f} s after a "
          f"{args.warmup:.0f} s warm-up")
    print(f"consumer: {consumed:,} records in bronze {drain_time:.1f} s after the producer started; sustained in "
          f"the second half of the window {sustained:,.0f} records/s, ratio consumer/producer = "
          f"{sustained / producer_rate:.2f}")
    print(f"lag after each commit (records put, not yet in bronze): mean {statistics.mean(first_half):,.0f} / "
          f"max {max(first_half):,.0f} in the first half of the window, mean {statistics.mean(second_half):,.0f} / "
          f"max {max(second_half):,.0f} in the second")
    print(f"micro-batches: {len(batches)}, mean {phases['rows']:,.0f} records; mean seconds per batch: "
          + ", ".join(f"{k} {v:.2f}" for k, v in phases.items() if k != "rows"))
    if silver_batches:
        print(f"silver query (same cores): {len(silver_batches)} batches, mean "
              f"{statistics.mean(p['numInputRows'] for p in silver_batches):,.0f} rows in "
              f"{statistics.mean(p['durationMs']['triggerExecution'] for p in silver_batches) / 1000:.2f} s")
    if warming:
        print(f"warm-up (not counted): latency p50 {statistics.median(warming):.2f} s "
              f"= {statistics.median(warming) / args.trigger:.2f} x the trigger")
    print(f"latency arrival -> bronze commit: p50 {p50:.2f} s, p95 {p95:.2f} s; trigger {args.trigger} s; "
          f"p50 / trigger = {p50 / args.trigger:.2f} (target < 1.5)")
    return 0


def _phases(spark: SparkSession) -> dict[str, float]:
    """Mean rows and seconds per phase of the stream query's non-empty micro-batches."""
    query = next(q for q in spark.streams.active if q.name == "stream_enrollment_events")
    batches = [p for p in query.recentProgress if p["numInputRows"]]
    means = {"rows": statistics.mean(p["numInputRows"] for p in batches)}
    for phase in ("latestOffset", "addBatch", "walCommit", "commitOffsets", "triggerExecution"):
        means[phase] = statistics.mean(p["durationMs"].get(phase, 0) for p in batches) / 1000
    return means


if __name__ == "__main__":
    sys.exit(main())
