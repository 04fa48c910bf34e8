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
from lakehouse.config import Config, DatagenConfig, load_config
from lakehouse.datagen import generate
from lakehouse.datagen.generator import GenerationSummary

# as CLI options, for a test that lands a half through `lakehouse generate`
DATA = ["--days", "4", "--offices", "5", "--enrollments", "60", "--seed", "11"]


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
    settings: DatagenConfig
    halves: dict[str, Half]

    def config(self, root: str | None = None) -> Config:
        return load_config("local", {"storage.root": root or self.root})

    def copy_pending(self, destination: Path) -> str:
        """A writable copy of `pending` at `destination` (file owners kept: the registry database's
        server refuses a data folder its user does not own)."""
        subprocess.run(["cp", "-a", self.pending, str(destination)], check=True)
        return str(destination)


def _land(root: str, settings: DatagenConfig, part: str) -> GenerationSummary:
    with app.registry(load_config("local", {"storage.root": root})) as endpoint:
        return generate(f"{root}/landing", settings, part=part, registry=endpoint)


def build_month(spark: SparkSession, folder: Path) -> Month:
    root, pending = str(folder / "month"), str(folder / "pending")
    config = load_config("local", {"storage.root": root})
    settings = dataclasses.replace(config.datagen, days=4, offices=5, enrollments=60, seed=11)
    halves: dict[str, Half] = {}
    with gold_lines() as gold, gold_lines("silver") as silver:
        for part in ("1", "2"):  # a run between the halves captures the office's move as history
            summary = _land(root, settings, part)
            if part == "2":
                _land(pending, settings, part)  # the generator is seeded: the same second half
            reports = app.run_all(spark, config)
            halves[part] = Half(summary, list(gold), list(silver), reports[0].run_id)
            gold.clear()
            silver.clear()
            if part == "1":
                subprocess.run(["cp", "-a", root, pending], check=True)
    return Month(root, pending, settings, halves)
