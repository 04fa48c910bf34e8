"""`lakehouse maintain` on real Delta tables: small files compacted (and Z-ordered where the
contract says so), deletion vectors purged, files no version needs vacuumed with the configured
retention, a checkpoint written, and not one row changed (nor a row in the change data feed)."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from lakehouse.cli import main
from lakehouse.config import load_config
from lakehouse.contract import conform, schema
from lakehouse.errors import ConfigError
from lakehouse.storage import delta, maintenance

EVENTS = "silver.enrollment_events"  # partitioned by event_date, Z-ordered by enrollment_id
REPORTS = "silver.office_reports"    # one folder, compaction only
DATES = (dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3))
APPENDS = 3


def _events(spark: SparkSession, batch: int) -> DataFrame:
    rows = [(f"E-{batch}-{i}", "enrollment_started", dt.datetime.combine(d, dt.time(9, i)), d, 1, f"EN-{i % 5}",
             f"k{i}", 1980, "OF-1", "web", "OP-1", None, "f.jsonl", dt.datetime(2026, 11, 4), f"b{batch}")
            for i, d in enumerate(DATES * 3)]
    return conform(spark.createDataFrame(rows, schema(EVENTS)), EVENTS)


def _reports(spark: SparkSession, batch: int) -> DataFrame:
    rows = [(DATES[0], f"OF-{batch}", 8.0, 10, 9, "r.csv", dt.datetime(2026, 11, 4))]
    return conform(spark.createDataFrame(rows, schema(REPORTS)), REPORTS)


def _on_disk(location: Path) -> set[str]:
    return {str(p.relative_to(location)) for p in location.rglob("*.parquet") if "_delta_log" not in p.parts}


def _snapshot_files(spark: SparkSession, location: Path) -> set[str]:
    return {f.split(str(location) + "/", 1)[1] for f in spark.read.format("delta").load(str(location)).inputFiles()}


def _rows(spark: SparkSession, root: str, name: str) -> list[tuple]:
    return sorted(tuple(r) for r in delta.read(spark, root, name).collect())


def _optimizes(spark: SparkSession, root: str, name: str) -> list[dict]:
    """The commit infos of the table's OPTIMIZE commits, oldest first."""
    infos = [delta.commit_info(spark, root, name, v) for v in range((delta.version(spark, root, name) or 0) + 1)]
    return [i for i in infos if i.get("operation") == "OPTIMIZE"]


def _lake(spark: SparkSession, root: str) -> None:
    for batch in range(APPENDS):
        delta.append(_events(spark, batch).coalesce(1), root, EVENTS)
        delta.append(_reports(spark, batch).coalesce(1), root, REPORTS)


def test_maintain_compacts_zorders_vacuums_and_checkpoints_without_changing_a_row(
        spark: SparkSession, tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    _lake(spark, root)
    location = Path(delta.path(root, EVENTS))
    rows, version = _rows(spark, root, EVENTS), delta.version(spark, root, EVENTS)
    assert version is not None
    assert len(_snapshot_files(spark, location)) == APPENDS * len(DATES)  # one file per append and date

    done = maintenance.maintain(spark, root, [EVENTS, REPORTS, "gold.dim_office"], 0, True, print)

    assert set(done) == {EVENTS, REPORTS}  # gold.dim_office: no table yet
    assert _rows(spark, root, EVENTS) == rows
    assert len(_snapshot_files(spark, location)) == len(DATES)  # one file per date folder
    assert _on_disk(location) == _snapshot_files(spark, location)  # retention 0: the small files are gone
    assert (done[EVENTS].files_before, done[EVENTS].files_after) == (APPENDS * len(DATES), len(DATES))
    assert done[REPORTS].files_after == 1 and len(_rows(spark, root, REPORTS)) == APPENDS

    assert [json.loads(c["operationParameters"]["zOrderBy"]) for c in _optimizes(spark, root, EVENTS)] == [
        ["enrollment_id"]]
    assert [json.loads(c["operationParameters"]["zOrderBy"]) for c in _optimizes(spark, root, REPORTS)] == [[]]
    latest = delta.version(spark, root, EVENTS)
    feed = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", version + 1)
            .load(str(location)))
    assert feed.count() == 0  # the change data feed gold follows saw no change
    last = json.loads((location / "_delta_log" / "_last_checkpoint").read_text())
    assert last["version"] == latest == done[EVENTS].checkpoint_version

    again = maintenance.maintain(spark, root, [EVENTS], 0, True, print)[EVENTS]
    assert not again.optimized and again.files_after == len(DATES)
    assert len(_optimizes(spark, root, EVENTS)) == 1  # nothing left to compact: no second OPTIMIZE


def test_a_week_of_retention_keeps_the_replaced_files_for_older_readers(spark: SparkSession, tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    _lake(spark, root)
    location = Path(delta.path(root, REPORTS))
    before = _snapshot_files(spark, location)
    version = delta.version(spark, root, REPORTS)
    maintenance.maintain(spark, root, [REPORTS], 168, True, print)
    assert _on_disk(location) == before | _snapshot_files(spark, location)
    assert len(delta.read(spark, root, REPORTS, version=version).collect()) == APPENDS  # time travel still reads
    assert "delta.deletedFileRetentionDuration" not in delta.properties(spark, root, REPORTS)


def test_deletion_vectors_are_purged(spark: SparkSession, tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    _lake(spark, root)
    location = delta.path(root, REPORTS)
    spark.sql(f"ALTER TABLE delta.`{location}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    maintenance.maintain(spark, root, [REPORTS], 0, False, print)  # one file, then a DV on it
    spark.sql(f"DELETE FROM delta.`{location}` WHERE office_id = 'OF-2'")

    def vectors() -> int:
        log = Path(location) / "_delta_log"
        live: dict[str, bool] = {}
        for commit in sorted(log.glob("*.json")):
            actions = [json.loads(line) for line in commit.read_text().splitlines()]
            for action in actions:  # a DV commit removes a file and adds it back with its vector
                if "remove" in action:
                    live.pop(action["remove"]["path"], None)
            for action in actions:
                if "add" in action:
                    live[action["add"]["path"]] = action["add"].get("deletionVector") is not None
        return sum(live.values())

    assert vectors() == 1
    maintenance.maintain(spark, root, [REPORTS], 0, True, print)
    assert vectors() == 0
    assert sorted(r["office_id"] for r in delta.read(spark, root, REPORTS).collect()) == [
        f"OF-{b}" for b in range(APPENDS) if b != 2]


def test_maintain_command_names_a_wrong_table_in_one_line(
        spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(tmp_path), "maintain", "--tables", "silver.nope"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["lakehouse maintain: error: maintain: not a table of the lakehouse: silver.nope "
                   "(tables are named layer.name, e.g. silver.enrollment_events)"]
    assert not (tmp_path / "ops").exists()


def test_maintain_command_reports_each_table(spark: SparkSession, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    root = str(tmp_path / "lake")
    _lake(spark, root)
    assert main(["--root", root, "maintain", "--no-vacuum"]) == 0
    captured = capsys.readouterr()
    out = captured.out + captured.err  # progress lines go to stderr, the run's summary to stdout
    assert f"{EVENTS}: {APPENDS * len(DATES)} -> {len(DATES)} data files (Z-ordered by enrollment_id), not vacuumed" in out
    assert f"{REPORTS}: {APPENDS} -> 1 data files (compacted), not vacuumed" in out
    assert "gold.kpi_enrollments_daily: no table yet" in out
    assert "maintain succeeded" in out
    assert len(_on_disk(Path(delta.path(root, EVENTS)))) == APPENDS * len(DATES) + len(DATES)  # nothing deleted


def test_a_negative_retention_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'maintenance.vacuum_retention_hours' must be at least 0, got -1"):
        load_config("local", {"maintenance.vacuum_retention_hours": -1})
