"""Stream benchmark: sustained Kinesis -> bronze consumption against the producer, in one run.

The producer (the peer) puts synthetic enrollment events on a 4-shard stream of the local Kinesis
stand-in at a target rate (default 4,000 records/s: four shards at Kinesis' write limit of 1,000
records/s each) for a fixed time, while `lakehouse stream` runs continuously with its trigger
interval. Printed: the producer's achieved rate, the consumer's sustained rate and their ratio,
the lag (records put but not yet in bronze) in the first and second half of the run, and the p50 /
p95 latency from each record's `approximate_arrival_timestamp` to the bronze commit that holds it,
with the ratio of p50 to the trigger interval.

    .venv/bin/python benchmarks/stream_throughput.py [--rate 4000] [--seconds 60] [--trigger 2]
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import threading
import time

from lakehouse.streaming.producer import ensure_stream, produce

from lakehouse import io
from lakehouse.aws.clients import client
from lakehouse.aws.local import start
from lakehouse.config import load_config
from lakehouse.ops.runs import StepReport
from lakehouse.pipeline.stream import kinesis_records, run_stream
from lakehouse.spark import get_spark
from lakehouse.steps import silver_settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=4000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--trigger", type=int, default=2, help="trigger interval in seconds")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--max-per-shard", type=int, default=5000)
    args = parser.parse_args()

    aws = start()
    root = tempfile.mkdtemp(prefix="lakehouse-bench-")
    config = load_config("local", {"storage.root": root, "aws.endpoint_url": aws.url,
                                   "stream.max_records_per_shard": args.max_per_shard})
    config = dataclasses.replace(config, stream=dataclasses.replace(config.stream, shards=args.shards))
    spark = get_spark(config.spark)
    kinesis = client("kinesis", config.aws, aws.url)
    ensure_stream(kinesis, config.stream.name, args.shards)

    produced: dict[str, object] = {}

    def producer() -> None:
        produced["summary"] = produce(kinesis, config.stream.name, rate=args.rate, seconds=args.seconds, seed=11)

    report = StepReport("bench", "stream")
    records = kinesis_records(spark, config.stream, config.aws, aws.url)
    consumer = threading.Thread(
        target=run_stream,
        args=(spark, records, silver_settings(config), report, False, args.trigger, args.seconds + 30),
        daemon=True,
    )
    consumer.start()
    time.sleep(5)  # let the first (empty) batches start before load arrives
    started = time.monotonic()
    feeder = threading.Thread(target=producer, daemon=True)
    feeder.start()
    samples: list[tuple[float, int]] = []
    while feeder.is_alive() or time.monotonic() - started < args.seconds + 20:
        time.sleep(2)
        elapsed = time.monotonic() - started
        in_bronze = io.read(spark, root, "bronze.enrollment_events").count()
        samples.append((elapsed, in_bronze))
        print(f"  t={elapsed:5.1f}s bronze={in_bronze:,}", file=sys.stderr, flush=True)
        if not feeder.is_alive() and in_bronze >= getattr(produced.get("summary"), "records_sent", 0) > 0:
            break
    consumer.join(timeout=120)
    summary = produced["summary"]
    sent = summary.records_sent  # type: ignore[attr-defined]
    producer_rate = summary.rate_achieved  # type: ignore[attr-defined]

    bronze = io.read(spark, root, "bronze.enrollment_events").select("_batch_id", "_arrived_at").collect()
    latencies = [(report.commits[r["_batch_id"]] - r["_arrived_at"]).total_seconds()
                 for r in bronze if r["_batch_id"] in report.commits and r["_arrived_at"] is not None]
    consumed = samples[-1][1] if samples else 0
    drain_time = next((t for t, n in samples if n >= sent), samples[-1][0] if samples else float("nan"))
    consumer_rate = consumed / drain_time if drain_time else float("nan")
    half = args.seconds / 2
    lag_first = max((producer_rate * t - n for t, n in samples if t <= half), default=float("nan"))
    lag_second = max((producer_rate * t - n for t, n in samples if half < t <= args.seconds), default=float("nan"))
    p50 = statistics.median(latencies) if latencies else float("nan")
    p95 = statistics.quantiles(latencies, n=20)[18] if len(latencies) > 20 else float("nan")

    print(f"producer (peer): {sent:,} records in {args.seconds:.0f} s = {producer_rate:,.0f} records/s "
          f"(target {args.rate:,})")
    print(f"consumer: {consumed:,} records in bronze after {drain_time:.1f} s = {consumer_rate:,.0f} records/s; "
          f"ratio consumer/producer = {consumer_rate / producer_rate:.2f}")
    print(f"lag (records put, not yet in bronze): max {lag_first:,.0f} in the first half, "
          f"max {lag_second:,.0f} in the second half")
    print(f"latency arrival -> bronze commit: p50 {p50:.2f} s, p95 {p95:.2f} s; trigger {args.trigger} s; "
          f"p50 / trigger = {p50 / args.trigger:.2f} (target < 1.5)")
    aws.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
