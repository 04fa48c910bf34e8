"""Scale benchmark: the batch build at two sizes against DuckDB doing the same work, then a late
increment on each, in one run.

For each size (`--events`, about that many event records; `--days`, `--offices`), a lake is
generated into a temporary root (`scale_data.py`: slices for big sets, a period ending yesterday)
and then, in one SparkSession:
1. the full build: `app.run_ingest`, `app.run_silver`, `app.run_gold`, each timed;
2. the peer: DuckDB (`--threads`, 2) doing silver's and gold's work from the same bronze Delta
   tables (`duckdb_peer.py`: validation, first-arrival de-duplication, HMAC citizen keys, the office
   SCD2 and region lookup, dims, facts and the three KPI tables), written out as Parquet, timed;
3. the check: every silver, quarantine and gold table Spark wrote, read from its Delta files by
   DuckDB (`deltalake`), is compared row by row with the peer's (quarantine on `_source` and
   `_failed_rules`; doubles within 1e-9, relative); "match" or the count of differing rows;
4. the increment: late events (`--late-share` of the smallest set's records, the same count at
   every size, a tenth of them duplicates of lines already landed) in new landing files, then
   ingest, silver and gold again, timed; the peer rebuilds from the grown bronze and is checked
   against Spark's incremental result.

Printed: every step's seconds; Spark silver+gold, DuckDB, their ratio (target: within 4x at the
biggest size); per-record cost (seconds / bronze event records) at each size and its ratio biggest /
smallest (target: within 1.2x); the increment's silver+gold as a fraction of its full build (target:
at most 10% at the smallest size) and the ratio of the increment's absolute time on the biggest
history to the smallest (target: within 1.5x).

Before the first size, a tiny lake is built and incremented once, untimed (`--warmup`), so the
first size is not charged the JVM's compiling of Spark and Delta. The leak scan after each step is
off unless `--leak-scan` (its cost is `leak_scan.py`'s subject). Spark runs as `conf/local.yaml`
says (local[2], a 4 GiB driver: `LAKEHOUSE_DRIVER_MEMORY` changes it).

    .venv/bin/python benchmarks/batch_scale.py                 # 1M and 10M events (hours; ~15 GB of disk)
    .venv/bin/python benchmarks/batch_scale.py --quick         # 10k and 20k events, a smoke run
    .venv/bin/python benchmarks/batch_scale.py --events 1000000 3000000 --days 90 --offices 200
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb_peer
import scale_data
from pyspark.sql import SparkSession

from lakehouse import app
from lakehouse.config import Config, DatagenConfig
from lakehouse.contract import schema, tables_in
from lakehouse.contract import table as contract_table
from lakehouse.quality.rules import device_log_rules, enrollment_event_rules, office_report_rules
from lakehouse.storage import delta

BRONZE = ("bronze.enrollment_events", "bronze.office_reports", "bronze.device_logs", "bronze.offices")
KPIS = ("gold.kpi_enrollments_daily", "gold.kpi_validation_times_daily", "gold.kpi_office_daily")
CHECKED = (*duckdb_peer.SILVER, "quarantine.enrollment_events", "quarantine.office_reports",
           "quarantine.device_logs", *(t.full_name for t in tables_in("gold")))


@dataclass
class Build:
    """One build of one lake: Spark's step seconds, the peer's run, the row checks, the records."""

    spark: dict[str, float]
    peer: duckdb_peer.PeerRun
    checks: dict[str, duckdb_peer.Comparison]
    records: int

    @property
    def silver_gold(self) -> float:
        return self.spark["silver"] + self.spark["gold"]


@dataclass
class Size:
    full: Build
    increment: Build
    late: scale_data.LateEvents


def _check_rules(tolerance: int) -> None:
    """The peer's rule lists must be the product's (names and order), or its quarantine differs."""
    pairs = ((enrollment_event_rules(tolerance), duckdb_peer.EVENT_RULES),
             (office_report_rules(), duckdb_peer.REPORT_RULES), (device_log_rules(), duckdb_peer.LOG_RULES))
    for product, peer in pairs:
        names = [r.name for r in product if r.severity == "error" and not r.prerequisite]
        if names != list(peer):
            raise SystemExit(f"the DuckDB peer's rules {list(peer)} are not the product's {names}: "
                             "update duckdb_peer.py")


def spark_steps(spark: SparkSession, config: Config) -> dict[str, float]:
    """Ingest, silver and gold through the app layer, as `lakehouse run` runs them; seconds each."""
    seconds = {}
    for name, step in (("ingest", app.run_ingest), ("silver", app.run_silver), ("gold", app.run_gold)):
        started = time.perf_counter()
        step(spark, config)
        seconds[name] = time.perf_counter() - started
    return seconds


def check(root: str, peer_dir: Path, threads: int, memory_limit: str) -> dict[str, duckdb_peer.Comparison]:
    """Each table Spark wrote against the peer's, read from its Delta files by DuckDB (`deltalake`)."""
    found = {}
    for name in CHECKED:
        fields = schema(name).fields
        columns = ["_source", "_failed_rules"] if name.startswith("quarantine.") else [f.name for f in fields]
        doubles = {f.name for f in fields if f.dataType.simpleString() == "double"}
        keys = contract_table(name).keys or ("_source",)
        found[name] = duckdb_peer.compare(delta.path(root, name), f"{peer_dir}/{name}.parquet", keys, columns,
                                          doubles, threads, memory_limit)
    return found


def build(spark: SparkSession, config: Config, label: str, args: argparse.Namespace) -> Build:
    """Spark's three steps, the peer from the same bronze, the check; printed as they finish."""
    seconds = spark_steps(spark, config)
    records = delta.read(spark, config.root, "bronze.enrollment_events").count()
    print(f"{label}: spark ingest {seconds['ingest']:.1f} s, silver {seconds['silver']:.1f} s, gold "
          f"{seconds['gold']:.1f} s; silver+gold {seconds['silver'] + seconds['gold']:.1f} s over "
          f"{records:,} event records", flush=True)
    peer_dir = Path(config.root) / "_duckdb" / label.replace(" ", "_")
    peer = duckdb_peer.build({name: delta.path(config.root, name) for name in BRONZE}, peer_dir,
                             app.silver_settings(config).hmac_key, config.quality.future_tolerance_minutes,
                             args.threads, args.duckdb_memory)
    phases = ", ".join(f"{k} {v:.1f}" for k, v in peer.seconds.items())
    print(f"{label}: duckdb ({args.threads} threads, from the whole bronze) {peer.total:.1f} s ({phases}); "
          f"spark silver+gold / duckdb = {(seconds['silver'] + seconds['gold']) / peer.total:.2f}", flush=True)
    started = time.perf_counter()
    checks = check(config.root, peer_dir, args.threads, args.duckdb_memory)
    shutil.rmtree(peer_dir, ignore_errors=True)
    print(f"{label}: rows, spark = duckdb ({time.perf_counter() - started:.0f} s): "
          + "; ".join(f"{n} {checks[n].describe()}" for n in KPIS), flush=True)
    others = {n: c for n, c in checks.items() if n not in KPIS}
    differing = "; ".join(f"{n} {c.describe()}" for n, c in others.items() if not c.matches)
    print(f"{label}: other silver, quarantine and gold tables: {sum(c.matches for c in others.values())} of "
          f"{len(others)} match" + (f"; {differing}" if differing else ""), flush=True)
    return Build(seconds, peer, checks, records)


def lake(root: str, events: int, days: int, offices: int, args: argparse.Namespace
         ) -> tuple[Config, DatagenConfig, scale_data.Generated]:
    """A lake of about `events` records generated under `root` (landing files and registry rows)."""
    config = scale_data.lake_config(root, args.leak_scan)
    settings = scale_data.settings_for(config, events, days, offices, args.start_date)
    started = time.perf_counter()
    generated = scale_data.generate_lake(config, settings, args.slice_enrollments)
    print(f"generated {generated.event_lines:,} event lines in {generated.event_files:,} files "
          f"({settings.enrollments:,} enrollments, {days} days, {offices} offices, {generated.slices} slice(s), "
          f"from {settings.start_date}) in {time.perf_counter() - started:.0f} s", flush=True)
    return config, settings, generated


def warm_up(spark: SparkSession, root: str, args: argparse.Namespace) -> None:
    """A tiny lake built, incremented and built again, untimed: the JVM compiles Spark and Delta."""
    started = time.perf_counter()
    config, settings, generated = lake(root, 3_000, min(args.days, 10), min(args.offices, 20), args)
    spark_steps(spark, config)
    scale_data.write_late_events(config, settings, round(0.05 * generated.event_lines), args.seed, "1")
    spark_steps(spark, config)
    print(f"[warm-up] built, incremented and built again: {time.perf_counter() - started:.0f} s (not counted)",
          flush=True)


def run_size(spark: SparkSession, root: str, events: int, late_lines: int | None, args: argparse.Namespace) -> Size:
    """A lake of about `events` records: built, given late events (`late_lines`, by default
    `--late-share` of its records), built again."""
    config, settings, generated = lake(root, events, args.days, args.offices, args)
    label = f"[{generated.event_lines:,}]"
    full = build(spark, config, f"{label} full build", args)
    lines = late_lines if late_lines is not None else round(args.late_share * generated.event_lines)
    late = scale_data.write_late_events(config, settings, lines, args.seed, "1")
    print(f"{label} increment: {late.lines:,} late lines ({late.new_events:,} new events on covered dates, "
          f"{late.duplicates:,} duplicates of landed lines) in {late.files} new files = "
          f"{late.lines / generated.event_lines:.2%} of the set", flush=True)
    increment = build(spark, config, f"{label} increment", args)
    fraction = increment.silver_gold / full.silver_gold
    print(f"{label} increment silver+gold {increment.silver_gold:.1f} s = {fraction:.1%} of the full build's "
          f"{full.silver_gold:.1f} s; ingest {increment.spark['ingest']:.1f} s = "
          f"{increment.spark['ingest'] / full.spark['ingest']:.1%} of the full ingest", flush=True)
    return Size(full, increment, late)


def _per_record(seconds: float, records: int) -> float:
    return seconds / records * 1e6


def summary(sizes: list[Size]) -> None:
    """The table of figures, and the ratios of the targets."""
    print("\nsummary (seconds; µs per event record = seconds / bronze.enrollment_events rows)")
    print(f"{'records':>12} {'ingest':>8} {'silver':>8} {'gold':>8} {'s+g':>8} {'µs/rec':>7} {'duckdb':>8} "
          f"{'µs/rec':>7} {'ratio':>6} | {'late':>7} {'ingest':>7} {'s+g':>7} {'of full':>7} {'duckdb':>7}")
    for s in sizes:
        f, i = s.full, s.increment
        print(f"{f.records:>12,} {f.spark['ingest']:>8.1f} {f.spark['silver']:>8.1f} {f.spark['gold']:>8.1f} "
              f"{f.silver_gold:>8.1f} {_per_record(f.silver_gold, f.records):>7.1f} {f.peer.total:>8.1f} "
              f"{_per_record(f.peer.total, f.records):>7.1f} {f.silver_gold / f.peer.total:>6.2f} | "
              f"{s.late.lines:>7,} {i.spark['ingest']:>7.1f} {i.silver_gold:>7.1f} "
              f"{i.silver_gold / f.silver_gold:>7.1%} {i.peer.total:>7.1f}")
    small, big = sizes[0], sizes[-1]
    mismatches = sum(not c.matches for s in sizes for b in (s.full, s.increment) for c in b.checks.values())
    print("rows, spark = duckdb: " + (f"{mismatches} table(s) differ" if mismatches else
                                      "match in every table of every build"))
    print(f"spark silver+gold / duckdb at {big.full.records:,} records: "
          f"{big.full.silver_gold / big.full.peer.total:.2f} (target <= 4)")
    print(f"increment silver+gold / full build's at {small.full.records:,} records: "
          f"{small.increment.silver_gold / small.full.silver_gold:.1%} (target <= 10%)")
    if len(sizes) < 2:
        return
    scale = f"{big.full.records:,} / {small.full.records:,}"

    def cost_ratio(seconds: float, other: float) -> float:
        return _per_record(seconds, big.full.records) / _per_record(other, small.full.records)

    print(f"per-record cost, {scale}: spark silver+gold {cost_ratio(big.full.silver_gold, small.full.silver_gold):.2f} "
          f"(target <= 1.2), spark ingest {cost_ratio(big.full.spark['ingest'], small.full.spark['ingest']):.2f}, "
          f"duckdb {cost_ratio(big.full.peer.total, small.full.peer.total):.2f}")
    print(f"increment's absolute time, history {scale}: silver+gold "
          f"{big.increment.silver_gold / small.increment.silver_gold:.2f} (target <= 1.5), ingest "
          f"{big.increment.spark['ingest'] / small.increment.spark['ingest']:.2f}, duckdb rebuild "
          f"{big.increment.peer.total / small.increment.peer.total:.2f}")


def main() -> None:
    title, _, details = __doc__.partition("\n\n")
    parser = argparse.ArgumentParser(description=" ".join(title.split()), epilog=details,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000],
                        help="about how many event records each data set holds (default: 1M and 10M)")
    scale_data.add_data_options(parser)
    parser.add_argument("--seed", type=int, default=11, help="seed of the late events")
    parser.add_argument("--late-share", type=float, default=0.01,
                        help="late lines as a share of the smallest set's records, added at every size (default 0.01)")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB's threads (default 2, Spark's local[2])")
    parser.add_argument("--duckdb-memory", default="8GB", help="DuckDB's memory limit (default 8GB; it spills beyond)")
    parser.add_argument("--warmup", action=argparse.BooleanOptionalAction, default=None,
                        help="build a tiny lake first, untimed (default: on, off with --quick)")
    parser.add_argument("--leak-scan", action="store_true", help="keep the leak scan after each step (default off)")
    parser.add_argument("--work-dir", help="where the lakes go (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the lakes (default: each is removed after its size)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: --events 10000 20000 --days 10 --offices 20, no warm-up")
    args = parser.parse_args()
    if args.quick:
        args.events, args.days, args.offices = [10_000, 20_000], 10, 20
    args.events = sorted(args.events)
    work = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=args.work_dir))
    print(f"lakes under {work}; leak scan {'on' if args.leak_scan else 'off'}; duckdb {args.threads} threads, "
          f"{args.duckdb_memory}", flush=True)
    finished = False
    try:
        started = time.perf_counter()
        spark = app.spark(scale_data.lake_config(str(work), args.leak_scan))
        print(f"spark session: {time.perf_counter() - started:.1f} s (not counted)", flush=True)
        _check_rules(scale_data.lake_config(str(work), args.leak_scan).quality.future_tolerance_minutes)
        if args.warmup if args.warmup is not None else not args.quick:
            warm_up(spark, str(work / "warmup"), args)
            shutil.rmtree(work / "warmup", ignore_errors=True)
        sizes: list[Size] = []
        for events in args.events:
            late_lines = sizes[0].late.lines if sizes else None
            sizes.append(run_size(spark, str(work / f"lake-{events}"), events, late_lines, args))
            if not args.keep:
                shutil.rmtree(work / f"lake-{events}", ignore_errors=True)
        summary(sizes)
        finished = True
    finally:
        if not args.keep and finished:
            shutil.rmtree(work, ignore_errors=True)
        elif not finished:  # a 10M lake takes most of an hour to generate and ingest: keep it to look at
            print(f"stopped before the end: the lakes stay under {work}", flush=True)


if __name__ == "__main__":
    main()
