"""Ingest benchmark: the events step of `lakehouse ingest` against a bare Spark job over the same
landing files, in one run.

A lake of about `--events` event records is generated (`scale_data.py`; landing files only, no
registry: the events step does not read it). Then, in one SparkSession:
- the measured code: `pipeline.ingest.ingest_json_files(..., "events", ...)`, the events step of
  `lakehouse ingest` as it runs there: bronze's known files, the landing listing, the landing
  contract's verdict on each new file, reading the files whole and splitting them into numbered
  lines, parsing each line with the bronze schema, the Delta append, and the manifest in
  `ops.ingested_files`. Before each repeat its tables are removed, so every run ingests everything;
- the peer: a plain Spark job reading the same files (`spark.read.text`), parsing each line with
  `from_json` into the same fields, and writing Parquet.

Both run once on a tiny lake first, untimed (the JVM compiling Spark and Delta). The bare job then
runs once on the measured files before the timed runs (its cold run, reported apart), and the two
alternate `--repeat` times. Printed: each run's seconds, the medians, the ratio ingest / bare job
(warm; target: within 1.5x), and the ingest step's phases from its progress lines (listing and
judging the files; reading, parsing and appending; the manifest).

    .venv/bin/python benchmarks/ingest_vs_bare.py                # 1M events (90 days, 200 offices)
    .venv/bin/python benchmarks/ingest_vs_bare.py --quick        # 20k events, a smoke run
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import scale_data
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse import app
from lakehouse.bronze.json_lines import source_fields
from lakehouse.pipeline.ingest import ingest_json_files
from lakehouse.storage import delta

# The tables the events step writes; removed before each run so it ingests every file again.
WRITTEN = ("bronze.enrollment_events", "ops.ingested_files", "ops.rejected_files")
# Progress lines that end each phase of the step (`pipeline/ingest.py`), in order.
PHASES = (("list and judge the files", "new file(s)"), ("read, parse, append", "records from"))


def ingest_events(spark: SparkSession, root: str, run: int) -> tuple[float, dict[str, float], int]:
    """The events step on a root whose bronze holds none of its files: seconds, phases, rows."""
    for name in WRITTEN:
        shutil.rmtree(delta.path(root, name), ignore_errors=True)
    said: list[tuple[float, str]] = []
    started = time.perf_counter()
    result = ingest_json_files(spark, root, "events", f"bench-{run}", lambda text: said.append(
        (time.perf_counter(), text)))
    ended = time.perf_counter()
    phases, mark = {}, started
    for phase, ending in PHASES:
        at = next((t for t, text in said if ending in text and t >= mark), None)
        if at is None:
            break
        phases[phase], mark = at - mark, at
    if len(phases) == len(PHASES):
        phases["manifest (ops.ingested_files)"] = ended - mark
    return ended - started, phases, result.rows_out


def bare_job(spark: SparkSession, files: list[str], out: str) -> tuple[float, int]:
    """Read the files as text, parse each line with `from_json`, write Parquet: seconds, rows."""
    started = time.perf_counter()
    (spark.read.text(files)
     .select(F.from_json("value", source_fields("bronze.enrollment_events")).alias("r"), F.col("value").alias("_raw"))
     .select("r.*", "_raw")
     .write.mode("overwrite").parquet(out))
    seconds = time.perf_counter() - started
    return seconds, spark.read.parquet(out).count()


def event_files(root: str) -> list[str]:
    return sorted(str(p) for p in (Path(root) / "landing" / "events").glob("*.jsonl"))


def main() -> None:
    title, _, details = __doc__.partition("\n\n")
    parser = argparse.ArgumentParser(description=" ".join(title.split()), epilog=details,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="about how many event records (default 1M)")
    scale_data.add_data_options(parser)
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each (default 2)")
    parser.add_argument("--work-dir", help="where the lake goes (default: a new temporary folder)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: --events 20000 --days 10 --offices 20")
    args = parser.parse_args()
    if args.quick:
        args.events, args.days, args.offices = 20_000, 10, 20
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=args.work_dir))
    try:
        roots = {"warm-up": str(work / "warmup"), "measured": str(work / "lake")}
        sizes = {"warm-up": (2_000, min(args.days, 10), min(args.offices, 20)),
                 "measured": (args.events, args.days, args.offices)}
        for which, root in roots.items():
            config = scale_data.lake_config(root, leak_scan=False)
            events, days, offices = sizes[which]
            settings = scale_data.settings_for(config, events, days, offices, args.start_date)
            started = time.perf_counter()
            made = scale_data.generate_lake(config, settings, args.slice_enrollments, registry=False)
            print(f"{which}: {made.event_lines:,} event lines in {made.event_files:,} files ({days} days, "
                  f"{offices} offices), generated in {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        spark = app.spark(scale_data.lake_config(roots["measured"], leak_scan=False))
        print(f"spark session: {time.perf_counter() - started:.1f} s (not counted)", flush=True)
        started = time.perf_counter()
        ingest_events(spark, roots["warm-up"], 0)
        bare_job(spark, event_files(roots["warm-up"]), str(work / "bare-warmup"))
        print(f"warm-up (tiny lake, both once): {time.perf_counter() - started:.1f} s (not counted)", flush=True)

        files, out = event_files(roots["measured"]), str(work / "bare")
        cold, bare_rows = bare_job(spark, files, out)
        print(f"bare job, cold (first run on these files): {cold:.1f} s, {bare_rows:,} rows", flush=True)
        ingests: list[float] = []
        bares: list[float] = []
        for run in range(1, args.repeat + 1):
            seconds, phases, rows = ingest_events(spark, roots["measured"], run)
            ingests.append(seconds)
            print(f"run {run}: ingest events step {seconds:.1f} s, {rows:,} rows into bronze ("
                  + (", ".join(f"{k} {v:.1f} s" for k, v in phases.items()) or "phases: n/a") + ")", flush=True)
            seconds, bare_rows = bare_job(spark, files, out)
            bares.append(seconds)
            print(f"run {run}: bare job {seconds:.1f} s, {bare_rows:,} rows", flush=True)
        ingest, bare = statistics.median(ingests), statistics.median(bares)
        print(f"{len(files):,} files, {bare_rows:,} lines: ingest events step {ingest:.1f} s, "
              f"bare job warm {bare:.1f} s "
              f"(cold {cold:.1f} s); ingest / bare warm = {ingest / bare:.2f} (target <= 1.5), "
              f"ingest / bare cold = {ingest / cold:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
