"""Config paths: relative local paths live under the project folder, whatever the working directory."""
from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.config import load_config

# tests/config/ -> the project folder, found without asking the code under test.
PROJECT = Path(__file__).resolve().parents[2]


def test_relative_paths_resolve_under_the_project_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LAKEHOUSE_ROOT", raising=False)
    config = load_config("local")
    assert config.root == str(PROJECT / "lakehouse-data")
    assert config.registry.embedded_dir == str(PROJECT / "lakehouse-data" / "_registry_pg")
    assert config.dashboard.path == str(PROJECT / "lakehouse-data" / "dashboard" / "index.html")
    assert config.spark.jars_dir == str((PROJECT / ".jars").resolve())


def test_remote_roots_and_absolute_paths_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAKEHOUSE_ROOT", raising=False)
    config = load_config("emr")
    assert config.root == "s3://lakehouse-registry-data/lakehouse"
    assert config.spark.jars_dir is None
    assert config.dashboard.path == "/home/hadoop/lakehouse-dashboard.html"
    assert config.catalog.athena_output == "s3://lakehouse-registry-data/athena-results/"
