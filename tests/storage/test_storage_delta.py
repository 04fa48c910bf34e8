"""Delta I/O: written under tmp_path and read back."""
from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from lakehouse.errors import LakehouseError
from lakehouse.storage import delta

NAME = "silver.office_reports"
SCHEMA = (
    "report_date date, office_id string, staffed_hours double, appointments_scheduled int, "
    "appointments_attended int, _source string, _ingested_at timestamp"
)
T0 = dt.datetime(2026, 11, 1, 8, 0)
D1, D2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)


def _rows(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    return spark.createDataFrame(rows, SCHEMA)


def test_read_missing_table_is_empty_with_schema(spark: SparkSession, tmp_path) -> None:
    df = delta.read(spark, str(tmp_path), NAME)
    assert df.isEmpty()
    assert df.schema == spark.createDataFrame([], SCHEMA).schema  # the contract's columns, written out by hand above


def test_sync_changes_only_what_differs(spark: SparkSession, tmp_path) -> None:
    root = str(tmp_path)
    first = _rows(spark, [(D1, "OF-1", 8.0, 10, 9, "a.csv:2", T0), (D2, "OF-1", 8.0, 5, 5, "a.csv:3", T0)])
    assert delta.sync(spark, first, root, NAME) is True
    v0 = delta.version(spark, root, NAME)
    assert delta.sync(spark, first, root, NAME) is False
    assert delta.version(spark, root, NAME) == v0

    second = _rows(spark, [(D1, "OF-1", 8.0, 10, 9, "a.csv:2", T0), (D2, "OF-2", 7.5, 3, 1, "b.csv:2", T0)])
    assert delta.sync(spark, second, root, NAME) is True
    assert delta.version(spark, root, NAME) == v0 + 1
    assert_df_equality(delta.read(spark, root, NAME), second, ignore_row_order=True)


def test_insert_new_keeps_the_first_arrival(spark: SparkSession, tmp_path) -> None:
    root = str(tmp_path)
    first = _rows(spark, [(D1, "OF-1", 8.0, 10, 9, "a.csv:2", T0)])
    again = _rows(spark, [(D1, "OF-1", 1.0, 1, 1, "b.csv:2", T0), (D2, "OF-1", 8.0, 5, 5, "b.csv:3", T0)])
    assert delta.insert_new(spark, first, root, NAME, ("report_date", "office_id")) == 1
    assert delta.insert_new(spark, again, root, NAME, ("report_date", "office_id")) == 1
    sources = {r["report_date"]: r["_source"] for r in delta.read(spark, root, NAME).collect()}
    assert sources == {D1: "a.csv:2", D2: "b.csv:3"}


def test_append_with_same_token_commits_once(spark: SparkSession, tmp_path) -> None:
    root = str(tmp_path)
    rows = _rows(spark, [(D1, "OF-1", 8.0, 10, 9, "a.csv:2", T0)])
    delta.append(rows, root, NAME, app_id="test-app", txn_version=3)
    delta.append(rows, root, NAME, app_id="test-app", txn_version=3)
    assert delta.read(spark, root, NAME).count() == 1


def test_commit_metadata_is_read_from_the_log(spark: SparkSession, tmp_path) -> None:
    root = str(tmp_path)
    assert delta.latest_commit(spark, root, NAME) is None
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    delta.append(_rows(spark, [(D1, "OF-1", 8.0, 10, 9, "a.csv:2", T0),
                            (D1, "OF-2", 7.5, 12, 11, "a.csv:3", T0)]), root, NAME)
    latest = delta.latest_commit(spark, root, NAME)
    assert latest is not None
    version, committed_at = latest
    assert version == 0 and committed_at is not None
    assert before <= committed_at <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert delta.commit_rows(spark, root, NAME, version) == 2


def test_read_as_of_a_version(spark: SparkSession, tmp_path) -> None:
    root = str(tmp_path)
    delta.append(_rows(spark, [(D1, "OF-1", 8.0, 10, 9, "a.csv:2", T0)]), root, NAME)
    delta.append(_rows(spark, [(D2, "OF-1", 8.0, 10, 9, "a.csv:3", T0)]), root, NAME)
    assert sorted(r["_source"] for r in delta.read(spark, root, NAME, version=0).collect()) == ["a.csv:2"]
    assert sorted(r["_source"] for r in delta.read(spark, root, NAME).collect()) == ["a.csv:2", "a.csv:3"]
    with pytest.raises(LakehouseError, match="silver.office_reports: no Delta table at .* to read version 0 of"):
        delta.read(spark, f"{root}/elsewhere", NAME, version=0)  # never an empty table in its place


def test_increments_hand_each_run_only_the_new_rows(spark: SparkSession, tmp_path) -> None:
    root, seen = str(tmp_path), []
    checkpoint = f"{root}/_checkpoints/test"

    def handle(batch: DataFrame, batch_id: int) -> None:
        seen.append(sorted(r["_source"] for r in batch.collect()))

    delta.append(_rows(spark, [(D1, "OF-1", 8.0, 10, 9, "a.csv:2", T0)]), root, NAME)
    delta.increments(spark, root, NAME, checkpoint, handle, "test_increments")
    delta.append(_rows(spark, [(D2, "OF-1", 8.0, 10, 9, "a.csv:3", T0)]), root, NAME)
    delta.increments(spark, root, NAME, checkpoint, handle, "test_increments")
    delta.increments(spark, root, NAME, checkpoint, handle, "test_increments")  # nothing new: no batch
    assert seen == [["a.csv:2"], ["a.csv:3"]]
