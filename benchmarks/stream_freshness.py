"""Freshness benchmark: from an event's arrival on Kinesis to the gold KPI run that counts it, on a
lake that already holds a history, in one run.

A lake of about `--events` event records is generated and built (ingest, silver, gold, timed). Then
`lakehouse stream` runs continuously (Kinesis -> bronze -> silver, trigger `--trigger` s) while a
loop runs `lakehouse gold` (incremental) one run after another, and the producer puts synthetic
events on the stream at `--rate` records/s for `--seconds`. For each streamed event:
- arrival: its Kinesis `approximate_arrival_timestamp` (bronze's `_arrived_at`);
- silver: the commit time of the silver version that inserted it (silver's change data feed);
- gold: the finish of the first gold run whose recorded input version of `silver.enrollment_events`
  holds that version (`ops.pipeline_runs`: what the run read, not when it started).
Printed: p50 / p95 of arrival -> silver and arrival -> gold, the gold runs' mean time, and the
ratio of the p50 to the trigger. Run it at 1M and at 10M history: the cost of freshness should
follow the new data, not the history (the issue's target: 10M within 1.5x of 1M).

    .venv/bin/python benchmarks/stream_freshness.py [--events 1000000] [--rate 1000] [--seconds 180] [--trigger 10]
    .venv/bin/python benchmarks/stream_freshness.py --lake /tmp/bench/bench-scale-XXXX/lake-10000000

`--lake` takes a lake already built (a `batch_scale.py --keep` leaves its lakes built through gold,
the 10M one after an hour of generating and building) as the history instead of generating one.
"""
from __future__ import annotations

import argparse
import ast
import atexit
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime

import scale_data
from stream_throughput import PRODUCER

from lakehouse import app
from lakehouse.aws.clients import client
from lakehouse.config import load_config
from lakehouse.datagen.producer import ensure_stream
from lakehouse.local.aws import start_detached, stop_detached
from lakehouse.ops.results import no_progress
from lakehouse.pipeline.stream import kinesis_records, run_stream, stop_between_batches, stream_checkpoint
from lakehouse.spark import get_spark
from lakehouse.storage import delta, files

SILVER = "silver.enrollment_events"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="event records of history (0: none)")
    parser.add_argument("--rate", type=int, default=1000, help="records/s the producer puts on the stream")
    parser.add_argument("--seconds", type=float, default=180.0, help="how long the producer runs")
    parser.add_argument("--trigger", type=int, default=10, help="the stream's trigger interval in seconds")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--leak-scan", action="store_true", help="keep the leak scan on (off: it reads whole tables)")
    parser.add_argument("--seed", type=int, help="the producer's seed (default: a new one each run, so events "
                                                 "streamed into a reused --lake before are not sent again)")
    parser.add_argument("--lake", help="a lake already built through gold (as `batch_scale.py --keep` leaves its "
                                       "lakes) to use as the history instead of generating --events")
    scale_data.add_data_options(parser)
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 2**31)

    root = args.lake or tempfile.mkdtemp(prefix="lakehouse-fresh-")
    config = scale_data.lake_config(root, args.leak_scan)
    spark = get_spark(config.spark)
    if args.lake:
        if delta.version(spark, root, "gold.kpi_enrollments_daily") is None:
            parser.error(f"--lake {root}: no gold table there; build the lake first (or leave out --lake)")
        args.events = delta.read(spark, root, "bronze.enrollment_events").count()
        print(f"history: the lake at {root}, {args.events:,} event records in bronze", flush=True)
        if files.delete(spark, stream_checkpoint(root)):  # positions in a stream this run's moto server made anew
            print("  an earlier run's stream checkpoint removed: its Kinesis positions name the stream of a "
                  "stand-in that is gone", flush=True)
    elif args.events:
        settings = scale_data.settings_for(config, args.events, args.days, args.offices, args.start_date)
        generated = scale_data.generate_lake(config, settings, args.slice_enrollments)
        seconds = {}
        for name, step in (("ingest", app.run_ingest), ("silver", app.run_silver), ("gold", app.run_gold)):
            started = time.perf_counter()
            step(spark, config)
            seconds[name] = time.perf_counter() - started
        print(f"history: {generated.event_lines:,} event lines, built in ingest {seconds['ingest']:.0f} s, "
              f"silver {seconds['silver']:.0f} s, gold {seconds['gold']:.0f} s", flush=True)

    stop_detached(root)  # one an earlier run left behind (--lake): its stream still holds that run's records
    aws = start_detached(root)  # its own process: the stand-in must not share this one's GIL
    atexit.register(stop_detached, root)  # stopped however this run ends
    config = load_config("local", {"storage.root": root, "aws.endpoint_url": aws.url,
                                   "security.leak_scan": args.leak_scan})
    ensure_stream(client("kinesis", config.aws.region, aws.url), config.stream.name, args.shards,
                  kms_key=app.stream_kms_key(config, aws.url))
    silver_before = delta.version(spark, root, SILVER)

    streamed: list[int] = []  # rows of each bronze commit of the stream, from the table's log (no Spark job)
    bronze_versions: list[int] = []

    def committed(batch_id: int) -> None:
        version = delta.version(spark, root, "bronze.enrollment_events") or 0
        bronze_versions.append(version)
        streamed.append(delta.commit_rows(spark, root, "bronze.enrollment_events", version))

    def silver_read(version: int) -> bool:
        """Whether the stream's silver query has read bronze through `version` (its Delta source's
        end offset is past it): until then silver's latest version may not hold the streamed tail."""
        for query in spark.streams.active:
            if query.name == "silver_enrollment_events" and query.lastProgress:
                end = query.lastProgress["sources"][0]["endOffset"]
                if isinstance(end, str):  # JSON from the JVM's progress, a dict's repr from PySpark's own
                    try:
                        end = json.loads(end)
                    except ValueError:
                        end = ast.literal_eval(end)
                return bool(end) and int(end["reservoirVersion"]) > version
        return False

    records = kinesis_records(spark, app.stream_settings(config, aws.url))
    budget = args.seconds + 600
    consumer = threading.Thread(target=run_stream, daemon=True, args=(
        spark, records, app.silver_settings(config), no_progress, False, args.trigger, budget, committed))
    consumer.start()
    while not any(q.name == "stream_enrollment_events" and q.lastProgress for q in spark.streams.active):
        time.sleep(0.5)

    gold_runs: list[tuple[datetime, int, float]] = []  # (finished, silver version read, seconds)
    stop = threading.Event()

    def gold_loop() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            report = app.run_gold(spark, config)
            read = report.inputs.get(SILVER)
            if report.finished_at is not None and read is not None:
                gold_runs.append((report.finished_at, read, time.perf_counter() - started))

    gold = threading.Thread(target=gold_loop, daemon=True)
    gold.start()
    producer = subprocess.run([sys.executable, "-c", PRODUCER, aws.url, config.stream.name, str(args.rate),
                               str(args.seconds), str(args.seed)], stdout=subprocess.PIPE, text=True, check=True)
    sent = json.loads(producer.stdout)["sent"]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # until a gold run has read a silver holding every streamed event
        time.sleep(5)
        drained = sum(streamed) >= sent and silver_read(max(bronze_versions, default=-1))
        print(f"  bronze streamed {sum(streamed):,} of {sent:,}; silver {'has' if drained else 'has not'} read "
              f"them all; gold runs {len(gold_runs)}", file=sys.stderr, flush=True)
        if drained and gold_runs and gold_runs[-1][1] >= (delta.version(spark, root, SILVER) or 0):
            break
    stop.set()
    gold.join(timeout=600)
    for query in spark.streams.active:
        stop_between_batches(query)
    consumer.join(timeout=120)
    stop_detached(root)

    start = (silver_before + 1) if silver_before is not None else 0
    inserted = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", start)
                .load(delta.path(root, SILVER)).where("_change_type = 'insert'")
                .select("event_id", "_commit_version", "_commit_timestamp"))
    arrived = (delta.read(spark, root, "bronze.enrollment_events").where("_arrived_at IS NOT NULL")
               .groupBy("event_id").agg({"_arrived_at": "min"}).withColumnRenamed("min(_arrived_at)", "arrived"))
    rows = inserted.join(arrived, "event_id").collect()
    to_silver, to_gold = [], []
    for r in rows:
        to_silver.append((r["_commit_timestamp"] - r["arrived"]).total_seconds())
        finished = min((f for f, read, _ in gold_runs if read >= r["_commit_version"]), default=None)
        if finished is not None:
            to_gold.append((finished - r["arrived"]).total_seconds())
    if len(to_gold) < 2:
        print(f"only {len(to_gold)} streamed event(s) reached gold: nothing to report", file=sys.stderr)
        return 1
    history = f"{args.events:,}" if args.events else "no"
    durations = [s for _, _, s in gold_runs]
    p50, p95 = statistics.median(to_gold), statistics.quantiles(to_gold, n=20)[18]
    print(f"streamed: {sent:,} records put at {args.rate:,}/s for {args.seconds:.0f} s (seed {args.seed}); "
          f"{len(rows):,} new events "
          f"inserted into silver, {len(to_gold):,} reached gold; {history} events of history")
    print(f"arrival -> silver commit: p50 {statistics.median(to_silver):.1f} s, "
          f"p95 {statistics.quantiles(to_silver, n=20)[18]:.1f} s (trigger {args.trigger} s)")
    print(f"arrival -> gold run that counts it: p50 {p50:.1f} s, p95 {p95:.1f} s; p50 / trigger = "
          f"{p50 / args.trigger:.2f}")
    print(f"gold runs: {len(gold_runs)}, mean {statistics.mean(durations):.1f} s, max {max(durations):.1f} s "
          f"(incremental, while the stream writes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
