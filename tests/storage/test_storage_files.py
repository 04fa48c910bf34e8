"""Small files through Hadoop's file system, and local files written atomically."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lakehouse.storage import files


def test_text_is_written_read_and_renamed(spark: SparkSession, tmp_path: Path) -> None:
    location = str(tmp_path / "a" / "marker")
    assert files.read_text(spark, location) is None and not files.exists(spark, location)
    files.write_text(spark, location, "first ✓")
    files.write_text(spark, location, "second ✓")  # replaced whole
    assert files.read_text(spark, location) == "second ✓"
    assert (tmp_path / "a" / "marker").read_text(encoding="utf-8") == "second ✓"  # read back without Hadoop
    assert not [p for p in os.listdir(tmp_path / "a") if ".tmp-" in p]
    files.rename(spark, str(tmp_path / "a"), str(tmp_path / "b"))
    assert not files.exists(spark, location) and files.read_text(spark, str(tmp_path / "b" / "marker")) == "second ✓"
    assert "marker" in files.list_names(spark, str(tmp_path / "b"))
    assert files.list_names(spark, str(tmp_path / "nowhere")) == []


def test_a_recursive_listing_holds_every_file_with_its_size_and_time(spark: SparkSession, tmp_path: Path) -> None:
    made = {"a.jsonl": b"{}\n", "deep/er/b.csv": b"x,y\n1,2\n", "_hidden.jsonl": b"{}", ".dot": b"z",
            "empty.jsonl": b"", "deep/_part/c.txt": b"c"}
    for name, content in made.items():
        (tmp_path / "land" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "land" / name).write_bytes(content)
    (tmp_path / "land" / "no_files_here").mkdir()
    expected = sorted((f"file:{tmp_path / 'land' / name}", len(content),
                       (tmp_path / "land" / name).stat().st_mtime_ns // 1_000_000) for name, content in made.items())
    assert files.list_recursive(spark, str(tmp_path / "land")) == expected
    assert files.relative_files(spark, str(tmp_path / "land")) == set(made)
    assert files.list_recursive(spark, str(tmp_path / "nowhere")) == []


def test_a_local_file_is_replaced_whole_with_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "out" / "page.html"
    assert files.write_local_text(str(path), "<p>one</p>") == str(path)
    files.write_local_text(str(path), "<p>two</p>")
    assert path.read_text(encoding="utf-8") == "<p>two</p>"
    assert path.stat().st_mode & 0o777 == 0o644
    assert os.listdir(path.parent) == ["page.html"]
    with pytest.raises(ValueError, match="local file path"):
        files.write_local_text("s3://bucket/page.html", "x")
