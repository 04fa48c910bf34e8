"""Delta I/O: written under tmp_path and read back."""
from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from lakehouse.errors import LakehouseError
from lakehouse.storage import delta, delta_changes

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
    # the table is made first with its contract properties (the change data feed): the append is v1
    assert version == 1 and committed_at is not None
    assert before <= committed_at <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert delta.commit_rows(spark, root, NAME, version) == 2


def test_read_as_of_a_version(spark: SparkSession, tmp_path) -> None:
    root = str(tmp_path)
    delta.append(_rows(spark, [(D1, "OF-1", 8.0, 10, 9, "a.csv:2", T0)]), root, NAME)
    first = delta.version(spark, root, NAME)
    delta.append(_rows(spark, [(D2, "OF-1", 8.0, 10, 9, "a.csv:3", T0)]), root, NAME)
    assert sorted(r["_source"] for r in delta.read(spark, root, NAME, version=first).collect()) == ["a.csv:2"]
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


def test_net_changes_are_what_rows_gained_and_lost_on_the_columns_asked(spark: SparkSession, tmp_path) -> None:
    """silver.office_reports has the change data feed on (its contract layout)."""
    root, columns = str(tmp_path), ["report_date", "office_id", "staffed_hours"]
    delta.sync(spark, _rows(spark, [(D1, "OF-1", 8.0, 10, 9, "a.csv:2", T0), (D2, "OF-1", 6.0, 5, 5, "a.csv:3", T0)]),
               root, NAME)
    first = delta.version(spark, root, NAME)
    assert first is not None
    # OF-1 on D1: only its source changes (not a column asked for); on D2: its hours; OF-2 arrives
    delta.sync(spark, _rows(spark, [(D1, "OF-1", 8.0, 10, 9, "b.csv:2", T0), (D2, "OF-1", 7.0, 5, 5, "a.csv:3", T0),
                                    (D2, "OF-2", 4.0, 1, 1, "b.csv:3", T0)]), root, NAME)
    latest = delta.version(spark, root, NAME) or 0
    changes = delta_changes.net_changes(spark, root, NAME, first, latest, columns)
    assert changes is not None
    assert sorted(tuple(r) for r in changes.collect()) == [
        (D2, "OF-1", 6.0, -1), (D2, "OF-1", 7.0, 1), (D2, "OF-2", 4.0, 1)]
    nothing = delta_changes.net_changes(spark, root, NAME, latest, latest, columns)
    assert nothing is not None and nothing.isEmpty() and nothing.columns == [*columns, "_net"]
    whole = delta_changes.net_changes(spark, root, NAME, None, latest, columns)
    assert whole is not None and whole.count() == 3  # from the start: the three rows the table holds


def test_net_changes_are_none_once_a_vacuum_took_the_change_files(spark: SparkSession, tmp_path) -> None:
    root = str(tmp_path)
    delta.sync(spark, _rows(spark, [(D1, "OF-1", 8.0, 10, 9, "a.csv:2", T0)]), root, NAME)
    first = delta.version(spark, root, NAME)
    delta.sync(spark, _rows(spark, [(D1, "OF-1", 9.0, 10, 9, "a.csv:2", T0)]), root, NAME)
    delta.purge(spark, root, NAME, 0)  # VACUUM RETAIN 0 HOURS: the update's change file goes
    assert delta_changes.net_changes(spark, root, NAME, first, delta.version(spark, root, NAME) or 0,
                             ["report_date", "staffed_hours"]) is None


def test_replace_slice_rewrites_only_the_scope(spark: SparkSession, tmp_path) -> None:
    root = str(tmp_path)
    delta.sync(spark, _rows(spark, [(D1, "OF-1", 8.0, 10, 9, "a.csv:2", T0), (D1, "OF-2", 8.0, 4, 4, "a.csv:3", T0),
                                    (D2, "OF-1", 6.0, 5, 5, "a.csv:4", T0)]), root, NAME)
    scope = spark.createDataFrame([(D1,)], "report_date date")
    # D1: OF-1 changes, OF-2 goes, OF-3 comes; D2 is outside the scope and stays as it is
    slice_ = _rows(spark, [(D1, "OF-1", 7.5, 10, 9, "b.csv:2", T0), (D1, "OF-3", 3.0, 2, 2, "b.csv:3", T0)])
    assert delta_changes.replace_slice(spark, slice_, root, NAME, scope) is True
    held = sorted((r["report_date"], r["office_id"], r["staffed_hours"]) for r in delta.read(spark, root, NAME).collect())
    assert held == [(D1, "OF-1", 7.5), (D1, "OF-3", 3.0), (D2, "OF-1", 6.0)]
    version = delta.version(spark, root, NAME)
    assert delta_changes.replace_slice(spark, slice_, root, NAME, scope) is False
    assert delta.version(spark, root, NAME) == version
