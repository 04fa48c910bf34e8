"""The command line: one clear line and a non-zero exit on bad input, never a Java stack trace."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lakehouse.cli import main
from lakehouse.storage import delta


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "expected an error line"
    last = err[-1]
    assert "Traceback" not in "\n".join(err) and "java." not in last and "\tat " not in last
    return last


def test_missing_landing_folder(spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(tmp_path / "empty"), "ingest"]) == 1
    assert _error(capsys).startswith("lakehouse ingest: error: landing folder not found:")
    assert not (tmp_path / "empty" / "_registry_pg").exists()


def test_unreachable_database(spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "landing").mkdir()
    argv = ["--root", str(tmp_path), "--set", "registry.mode=jdbc",
            "--set", "registry.jdbc_url=jdbc:postgresql://127.0.0.1:1/registry", "ingest"]
    assert main(argv) == 1
    assert _error(capsys).startswith("lakehouse ingest: error: registry database unreachable at 127.0.0.1:1")


def test_bad_config_value_names_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--set", "spark.shuffle_partitions=lots", "dq"]) == 1
    assert "'spark.shuffle_partitions' must be an integer" in _error(capsys)


def test_unknown_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "gold.nope"]) == 1
    assert "unknown table 'gold.nope'" in _error(capsys)


def test_show_of_a_table_not_built_yet(spark: SparkSession, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(tmp_path), "show", "gold.kpi_enrollments_daily"]) == 1
    assert "gold.kpi_enrollments_daily: not built yet" in capsys.readouterr().out


def test_show_prints_the_filtered_rows_as_a_table(spark: SparkSession, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    rows = [(dt.date(2026, 10, 1), "NORTE", "web", 1200, 900, 3, 0.75),
            (dt.date(2026, 10, 1), "SUR", "web", 10, 5, 0, 0.5),
            (dt.date(2026, 10, 2), "NORTE", "mobile", 4, 1, 0, 0.25)]
    delta.overwrite(spark.createDataFrame(rows, "date date, region string, channel string, enrollments_started bigint, "
                                                "enrollments_completed bigint, enrollments_cancelled bigint, "
                                                "completion_rate double"), str(tmp_path), "gold.kpi_enrollments_daily")
    argv = ["--root", str(tmp_path), "show", "gold.kpi_enrollments_daily", "--where", "region = 'NORTE'"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    # the NORTE rows only, thousands separated, rates to 3 decimals, columns padded to the widest cell
    assert len(lines[0]) == len(lines[1]) == len(lines[2]) == len(lines[3])
    assert [line.split() for line in lines[:2]] + sorted(line.split() for line in lines[2:]) == [
        ["date", "region", "channel", "enrollments_started", "enrollments_completed", "enrollments_cancelled",
         "completion_rate"],
        ["----------", "------", "-------", "-------------------", "---------------------", "---------------------",
         "---------------"],
        ["2026-10-01", "NORTE", "web", "1,200", "900", "3", "0.750"],
        ["2026-10-02", "NORTE", "mobile", "4", "1", "0", "0.250"]]
