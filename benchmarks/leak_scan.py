"""Leak scan benchmark: what the scan after a step costs, against that step and a plain read, in one run.

A lake is generated (`--enrollments`, `--days`, `--offices`) into a temporary root and built (ingest,
silver, gold) with the scan switched off. Then, `--repeat` times each, side by side:
- the scan (the measured code): `scan_tables` over every silver and gold table, as the app layer
  runs it after silver and gold: bronze's IDs and names read, every string cell of every table
  split and joined with them, every table's statistics columns read from its metadata;
- peer 1: the same tables read whole (`count` of each after a full scan of its string columns);
- peer 2: the gold step, rebuilt from silver (`build_gold` with no previous inputs).

Printed: the median seconds of each and the ratios scan / gold step and scan / read.

    .venv/bin/python benchmarks/leak_scan.py [--enrollments 20000] [--days 30] [--offices 40] [--repeat 3]
"""
from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import tempfile
import time

from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse import app
from lakehouse.config import load_config
from lakehouse.contract import tables_in
from lakehouse.datagen import generate
from lakehouse.pipeline.gold import build_gold
from lakehouse.security.leak_scan import scan_tables
from lakehouse.storage import delta


def _timed(work) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enrollments", type=int, default=20000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--offices", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="bench-leak-")
    try:
        config = load_config("local", {"storage.root": root, "security.leak_scan": False})
        settings = dataclasses.replace(config.datagen, enrollments=args.enrollments, days=args.days,
                                       offices=args.offices)
        with app.registry(config) as endpoint:
            generate(f"{root}/landing", settings, registry=endpoint)
        spark = app.spark(config)
        app.run_all(spark, config)
        names = [t.full_name for layer in ("silver", "gold") for t in tables_in(layer)
                 if delta.exists(spark, root, t.full_name)]
        rows = sum(delta.read(spark, root, n).count() for n in names)
        bronze = delta.read(spark, root, "bronze.enrollment_events").count()
        print(f"lake: {bronze:,} bronze events; {len(names)} silver and gold tables, {rows:,} rows")

        def read_all() -> None:
            for n in names:
                df = delta.read(spark, root, n)
                strings = [f.name for f in df.schema.fields if isinstance(f.dataType, T.StringType)]
                df.select([F.max(F.length(c)) for c in strings] or [F.count("*")]).collect()

        def scan() -> None:
            leaks = scan_tables(spark, root, names)
            assert not leaks, leaks

        def gold() -> None:
            build_gold(spark, root, lambda _: None, None)

        times: dict[str, list[float]] = {"scan": [], "read": [], "gold": []}
        for _ in range(args.repeat):
            times["scan"].append(_timed(scan))
            times["read"].append(_timed(read_all))
            times["gold"].append(_timed(gold))
        median = {k: statistics.median(v) for k, v in times.items()}
        print(f"leak scan of silver + gold: {median['scan']:.2f} s (runs: "
              f"{', '.join(f'{t:.2f}' for t in times['scan'])})")
        print(f"peer, the same tables read whole: {median['read']:.2f} s")
        print(f"peer, the gold step rebuilt: {median['gold']:.2f} s")
        print(f"ratio scan / gold step: {median['scan'] / median['gold']:.2f}; "
              f"scan / read: {median['scan'] / median['read']:.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
