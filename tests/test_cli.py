"""The command line: one clear line and a non-zero exit on bad input, never a Java stack trace."""
from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lakehouse.cli import main


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


def test_show_prints_a_table(spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(tmp_path), "show", "gold.kpi_enrollments_daily"]) == 1
    assert "not built yet" in capsys.readouterr().out
