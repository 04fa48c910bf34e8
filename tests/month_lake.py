"""A month of generated data built once per test session and shared: the hard cases, the killed
steps and the notebooks read it instead of each running the pipeline over data of their own.

`build_month` lands the first half (4 days, 5 offices, 60 enrollments, seed 11), runs ingest,
silver and gold, copies the lake (its registry database's files included) to `pending`, lands the
second half in both and runs the original again. So:
- `root` is the whole month, run after each half: read it, never write it;
- `pending` is the lake right after the first half's run, with the second half landed (files and
  registry rows) and not yet run: copy it (`copy_pending`) before writing to it.
Each half keeps what its run printed (gold's and silver's progress lines) and its ingest run id.
"""
from __future__ import annotations

import dataclasses
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gold_checks import gold_lines
from pyspark.sql import SparkSession

from lakehouse import app
from lakehouse.config import DatagenConfig, load_config
from lakehouse.datagen import generate
from lakehouse.datagen.generator import GenerationSummary


@dataclass(frozen=True)
class Half:
    summary: GenerationSummary
    gold_lines: list[str]
    silver_lines: list[str]
    ingest_run: str


@dataclass(frozen=True)
class Month:
    root: str
    pending: str
    halves: dict[str, Half]

    def copy_pending(self, destination: Path) -> str:
        """A writable copy of `pending` at `destination`."""
        return _copy(self.pending, str(destination))


def _copy(source: str, destination: str) -> str:
    """The lake with its registry database's files, owners kept (the database server refuses a data
    folder its user does not own)."""
    subprocess.run(["cp", "-a", source, destination], check=True)
    return destination


def _land(root: str, settings: DatagenConfig, part: str) -> GenerationSummary:
    with app.registry(load_config("local", {"storage.root": root})) as endpoint:
        return generate(f"{root}/landing", settings, part=part, registry=endpoint)


def build_month(spark: SparkSession, folder: Path) -> Month:
    root, pending = str(folder / "month"), str(folder / "pending")
    config = load_config("local", {"storage.root": root})
    settings = dataclasses.replace(config.datagen, days=4, offices=5, enrollments=60, seed=11)
    with gold_lines() as gold, gold_lines("silver") as silver:
        def run(summary: GenerationSummary) -> Half:
            reports = app.run_all(spark, config)
            half = Half(summary, list(gold), list(silver), reports[0].run_id)
            gold.clear()
            silver.clear()
            return half

        first = run(_land(root, settings, "1"))
        _copy(root, pending)
        _land(pending, settings, "2")  # the generator is seeded: the same second half
        second = run(_land(root, settings, "2"))  # the run between the halves records the office's move as history
    return Month(root, pending, {"1": first, "2": second})
