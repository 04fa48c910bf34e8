"""Batch steps killed mid-write (SIGKILL, as a lost node or an OOM killer would) and re-run.

Two lakes hold the same generated data. The reference lake is the session's month (`month_lake.py`),
each half run in one go, in-process; the other is a copy of it after the first half (exported to
PostgreSQL), whose second half runs step by step, each step in its own `lakehouse` process killed
at a moment drawn (seeded) just after it started writing:
- ingest, once a data file of the second half's events appears in `bronze.enrollment_events`;
- silver, once its MERGE writes a data file into `silver.enrollment_events`;
- gold, once the incremental MERGE of `gold.kpi_enrollments_daily` writes a data file;
- export, once it has copied a first table into PostgreSQL's staging schema.
The step is then run again (in-process). Right after each kill, the table being written holds
either what it held before the step or everything the step would have written, nothing between;
once all steps are re-run, bronze, silver and gold hold the reference lake's rows (each record
once), and PostgreSQL holds gold.
"""
from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from month_lake import Month
from pyspark.sql import SparkSession

from lakehouse import app
from lakehouse.cli import main
from lakehouse.config import load_config
from lakehouse.contract import tables_in
from lakehouse.sources.postgres import connect
from lakehouse.storage import delta

pytestmark = pytest.mark.slow

LAYERS = ("bronze", "silver", "gold")
# step -> the table whose write the kill interrupts (None: the export, watched through its output)
WATCHED = {"ingest": "bronze.enrollment_events", "silver": "silver.enrollment_events",
           "gold": "gold.kpi_enrollments_daily", "export": None}
STAGED = "rows copied into staging"


def _rows(spark: SparkSession, root: str, name: str) -> list[tuple[Any, ...]]:
    """The table's rows without the columns that say when and from where a record was read
    (`_ingested_at`, `_file`, `_batch_id`...): they differ between two lakes by design."""
    frame = delta.read(spark, root, name)
    kept = [c for c in frame.columns if not c.startswith("_")]
    return sorted((tuple(r) for r in frame.select(kept).collect()), key=repr)


def _data_files(root: str, name: str) -> set[str]:
    folder = Path(delta.path(root, name))
    return {str(p) for p in folder.rglob("*.parquet")} if folder.exists() else set()


def _kill_when(root: str, step: str, log: Path, ready: Callable[[str], bool],
               delay: float) -> subprocess.CompletedProcess[str]:
    """Run `lakehouse --root <root> <step>` in its own process group, its output to `log`; SIGKILL the
    group (the Python driver and its JVM at once, as a lost node) `delay` seconds after
    `ready(output so far)` first holds."""
    command = [sys.executable, "-m", "lakehouse.cli", "--root", root, step]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "LAKEHOUSE_DRIVER_MEMORY": "1g"}
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 600
        while process.poll() is None and time.monotonic() < deadline:
            if ready(log.read_text()):
                time.sleep(delay)
                os.killpg(process.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        process.wait(timeout=60)
    return subprocess.CompletedProcess(command, process.returncode, log.read_text(), "")


def _new_data_file(spark: SparkSession, root: str, name: str) -> Callable[[str], bool]:
    """Whether a data file the table did not hold when asked has appeared (a write under way)."""
    files = _data_files(root, name)
    return lambda _: bool(_data_files(root, name) - files)


def _staged(output: str) -> bool:
    return STAGED in output


@pytest.fixture(scope="module")
def killed(spark: SparkSession, month: Month, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("killed")
    reference = month.root  # the session's month, run in one go after each half
    lake = month.copy_pending(tmp / "lake")  # after the first half's run, the second half landed
    config = load_config("local", {"storage.root": lake})
    assert app.run_export(spark, config).status == "succeeded"
    first_half_gold = {t.full_name: _rows(spark, lake, t.full_name) for t in tables_in("gold")}

    draw = random.Random(20261202)
    kills: dict[str, dict[str, Any]] = {}
    for step, watched in WATCHED.items():
        before = _rows(spark, lake, watched) if watched else None
        ready = _new_data_file(spark, lake, watched) if watched else _staged
        done = _kill_when(lake, step, tmp / f"{step}-killed.log", ready, draw.uniform(0.0, 0.3))
        after_kill = _rows(spark, lake, watched) if watched else None
        kills[step] = {"done": done, "before": before, "after_kill": after_kill,
                       "rerun": main(["--root", lake, step])}
    yield {"reference": reference, "lake": lake, "config": config, "kills": kills,
           "first_half_gold": first_half_gold}
    # a killed step leaves the embedded PostgreSQL it started running (the rerun found it and used
    # it): stopped here, PostgreSQL's fast shutdown, so the suite leaves no server behind
    for pid_file in Path(tmp).glob("**/postmaster.pid"):
        with contextlib.suppress(ValueError, IndexError, ProcessLookupError):
            os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGINT)


@pytest.mark.parametrize("step", list(WATCHED))
def test_the_step_was_killed_mid_run_and_its_rerun_succeeded(killed: dict[str, Any], step: str) -> None:
    kill = killed["kills"][step]
    assert kill["done"].returncode == -signal.SIGKILL, kill["done"].stdout[-3000:]
    assert kill["rerun"] == 0


@pytest.mark.parametrize("step", [s for s, w in WATCHED.items() if w])
def test_right_after_the_kill_the_table_holds_the_old_rows_or_all_the_new_ones(
        spark: SparkSession, killed: dict[str, Any], step: str) -> None:
    kill, name = killed["kills"][step], WATCHED[step]
    complete = _rows(spark, killed["reference"], name)
    assert kill["before"] != complete  # the step had something to write
    assert kill["after_kill"] in (kill["before"], complete), f"{name} half-written by the killed {step}"


@pytest.mark.parametrize("name", [t.full_name for layer in LAYERS for t in tables_in(layer)])
def test_after_the_reruns_each_table_equals_the_reference_lakes(spark: SparkSession, killed: dict[str, Any],
                                                                name: str) -> None:
    if not delta.exists(spark, killed["reference"], name):
        assert not delta.exists(spark, killed["lake"], name)
        return
    assert _rows(spark, killed["lake"], name) == _rows(spark, killed["reference"], name)


def test_postgres_holds_gold_after_the_killed_export_was_rerun(spark: SparkSession, killed: dict[str, Any]) -> None:
    daily = ("SELECT date, region, channel, enrollments_started, enrollments_completed "
             "FROM gold.kpi_enrollments_daily")
    with app.export_database(killed["config"]) as endpoint, connect(endpoint) as conn:
        counts = {t.full_name: conn.execute(f"SELECT count(*) FROM gold.{t.name}").fetchone()[0]
                  for t in tables_in("gold")}
        exported = sorted(conn.execute(daily).fetchall())
    assert counts == {t.full_name: delta.read(spark, killed["lake"], t.full_name).count() for t in tables_in("gold")}
    in_gold = delta.read(spark, killed["lake"], "gold.kpi_enrollments_daily").select(
        "date", "region", "channel", "enrollments_started", "enrollments_completed").collect()
    assert exported == sorted(tuple(r) for r in in_gold)
    assert exported != sorted(r[:5] for r in killed["first_half_gold"]["gold.kpi_enrollments_daily"])
