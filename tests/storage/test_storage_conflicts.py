"""Delta commit conflicts, provoked for real: a write held between its read and its commit
(`faults.interleave.Gate`) while another writer commits, then retried from a fresh snapshot or stopped
with the project's error."""
from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path

import pytest
from faults.interleave import Gate, commits_meanwhile, interleave
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from lakehouse.storage import conflicts, delta
from lakehouse.storage.conflicts import ConcurrentWriteError

NAME = "silver.office_reports"  # key (report_date, office_id)
SCHEMA = (
    "report_date date, office_id string, staffed_hours double, appointments_scheduled int, "
    "appointments_attended int, _source string, _ingested_at timestamp"
)
KEYS = ("report_date", "office_id")
T0 = dt.datetime(2026, 11, 1, 8, 0)
D1, D2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)


def _rows(spark: SparkSession, offices: list[str], source: str, gate: Gate | None = None) -> DataFrame:
    df = spark.createDataFrame([(D1, o, 8.0, 10, 9, source, T0) for o in offices], SCHEMA).coalesce(1)
    if gate is None:
        return df
    return df.select(*[gate.column(c, T.DoubleType()) if c == "staffed_hours" else c for c in df.columns])


def _held(spark: SparkSession, root: str) -> dict[str, str]:
    return {r["office_id"]: r["_source"] for r in delta.read(spark, root, NAME).collect()}


def _retries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == conflicts.__name__]


@pytest.fixture(autouse=True)
def _log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=conflicts.__name__)


def test_a_merge_insert_whose_snapshot_went_stale_is_retried_and_inserts_each_key_once(
        spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """ConcurrentAppendException: another MERGE inserted (OF-2 among them) after ours read."""
    root, gate = str(tmp_path / "lake"), Gate(tmp_path / "gate")
    delta.insert_new(spark, _rows(spark, ["OF-1"], "first"), root, NAME, KEYS)
    inserted = interleave(
        gate, lambda: delta.insert_new(spark, _rows(spark, ["OF-2", "OF-3"], "ours", gate), root, NAME, KEYS),
        lambda: delta.insert_new(spark, _rows(spark, ["OF-2", "OF-4"], "theirs"), root, NAME, KEYS))
    assert _held(spark, root) == {"OF-1": "first", "OF-2": "theirs", "OF-3": "ours", "OF-4": "theirs"}
    assert inserted == 1  # OF-3 only: the retry saw the winner's OF-2
    assert [m.split(" (")[0] for m in _retries(caplog)] == [f"insert_new on {NAME}: ConcurrentAppendException"]


def test_a_merge_that_read_files_a_concurrent_delete_removed_is_retried(
        spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """ConcurrentDeleteReadException: every row of the file ours read was deleted meanwhile."""
    root, gate = str(tmp_path / "lake"), Gate(tmp_path / "gate")
    delta.insert_new(spark, _rows(spark, ["OF-1", "OF-2"], "first"), root, NAME, KEYS)
    everything = _rows(spark, ["OF-1", "OF-2"], "first").select(*KEYS)
    interleave(
        gate, lambda: delta.upsert(spark, _rows(spark, ["OF-2", "OF-3"], "ours", gate), root, NAME, list(KEYS)),
        lambda: delta.delete_matching(spark, root, NAME, everything,
                                      "t.report_date = s.report_date AND t.office_id = s.office_id"))
    assert _held(spark, root) == {"OF-2": "ours", "OF-3": "ours"}  # OF-2 inserted again, as the retry saw it gone
    assert [m.split(" (")[0] for m in _retries(caplog)] == [f"upsert on {NAME}: ConcurrentDeleteReadException"]


def test_an_append_is_retried_when_the_metadata_changed_meanwhile(
        spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """MetadataChangedException: a table property set (as `purge` and `ensure` do) after ours read."""
    root, gate = str(tmp_path / "lake"), Gate(tmp_path / "gate")
    delta.append(_rows(spark, ["OF-1"], "first"), root, NAME)
    location = delta.path(root, NAME)
    interleave(gate, lambda: delta.append(_rows(spark, ["OF-2"], "ours", gate), root, NAME),
               lambda: spark.sql(f"ALTER TABLE delta.`{location}` SET TBLPROPERTIES ('delta.logRetentionDuration' = "
                                 "'interval 30 days')"))
    assert _held(spark, root) == {"OF-1": "first", "OF-2": "ours"}
    assert delta.properties(spark, root, NAME)["delta.logRetentionDuration"] == "interval 30 days"
    assert [m.split(" (")[0] for m in _retries(caplog)] == [f"append on {NAME}: MetadataChangedException"]


# No contract properties: its first append creates the table itself (silver.office_reports is made
# by `ensure` first, for its change data feed).
BARE = "gold.kpi_office_daily"
BARE_SCHEMA = ("date date, office_id string, region string, appointments_scheduled int, appointments_attended int, "
               "attendance_rate double, staffed_hours double, enrollments_completed bigint, "
               "completed_per_staffed_hour double")


def test_two_writers_creating_one_table_both_land(spark: SparkSession, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """ProtocolChangedException: the table did not exist when ours started; another writer created it."""
    root, gate = str(tmp_path / "lake"), Gate(tmp_path / "gate")

    def rows(office: str, marker: str, gated: Gate | None = None) -> DataFrame:
        df = spark.createDataFrame([(D1, office, marker, 10, 9, 0.9, 8.0, 1, 0.125)], BARE_SCHEMA).coalesce(1)
        return df if gated is None else df.select(
            *[gated.column(c, T.DoubleType()) if c == "staffed_hours" else c for c in df.columns])

    interleave(gate, lambda: delta.append(rows("OF-1", "ours", gate), root, BARE),
               lambda: delta.append(rows("OF-2", "theirs"), root, BARE))
    assert {r["office_id"]: r["region"] for r in delta.read(spark, root, BARE).collect()} == {
        "OF-1": "ours", "OF-2": "theirs"}
    assert [m.split(" (")[0] for m in _retries(caplog)] == [f"append on {BARE}: ProtocolChangedException"]


def _remove_every_file(spark: SparkSession, location: str, before_commit: Gate | None) -> None:
    """A commit that removes the table's files without reading them (as Delta's own compaction
    re-commits): no write of `storage.delta` does that, each reads what it removes, so for them Delta
    reports a ConcurrentDeleteReadException first. Through Delta's transaction API (JVM)."""
    jvm = spark._jvm
    assert jvm is not None
    log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, location)
    txn = log.startTransaction()
    removes = jvm.java.util.ArrayList()
    for added in txn.snapshot().allFiles().collectAsList():
        removes.add(added.remove())
    if before_commit is not None:  # the other writer commits now; the gate opens when it has
        before_commit.started.touch()
        while not before_commit.go.exists():
            time.sleep(0.02)
    manual = getattr(getattr(jvm.org.apache.spark.sql.delta, "DeltaOperations$ManualUpdate$"), "MODULE$")
    txn.commit(jvm.scala.jdk.javaapi.CollectionConverters.asScala(removes).toSeq(), manual)


def test_a_delete_of_files_another_writer_deleted_is_retried(spark: SparkSession, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """ConcurrentDeleteDeleteException: both removed the same file; the retry removes what is left."""
    root, gate = str(tmp_path / "lake"), Gate(tmp_path / "gate")
    delta.append(_rows(spark, ["OF-1"], "first"), root, NAME)
    delta.append(_rows(spark, ["OF-2"], "second"), root, NAME)
    first = _rows(spark, ["OF-1"], "first").select(*KEYS)
    location = delta.path(root, NAME)
    attempts: list[int] = []

    def remove_everything() -> None:
        attempts.append(1)
        _remove_every_file(spark, location, gate if len(attempts) == 1 else None)

    other = commits_meanwhile(gate, lambda: delta.delete_matching(
        spark, root, NAME, first, "t.report_date = s.report_date AND t.office_id = s.office_id"))
    conflicts.retrying(remove_everything, NAME, "remove")
    other.join()
    assert _held(spark, root) == {}
    assert len(attempts) == 2
    assert [m.split(" (")[0] for m in _retries(caplog)] == [f"remove on {NAME}: ConcurrentDeleteDeleteException"]


def test_two_writers_with_one_idempotency_token_stop_with_a_clear_error_at_once(
        spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """ConcurrentTransactionException (two queries on one checkpoint): not retried."""
    root, gate = str(tmp_path / "lake"), Gate(tmp_path / "gate")
    delta.append(_rows(spark, ["OF-1"], "first"), root, NAME)
    with pytest.raises(ConcurrentWriteError) as raised:
        interleave(gate, lambda: delta.append(_rows(spark, ["OF-2"], "ours", gate), root, NAME, "query-1", 7),
                   lambda: delta.append(_rows(spark, ["OF-3"], "theirs"), root, NAME, "query-1", 8))
    message = str(raised.value)
    assert message.startswith(f"append on {NAME}: another writer committed with the same idempotency token")
    assert "two streaming queries are running on one checkpoint" in message and "Stop the other" in message
    assert _held(spark, root) == {"OF-1": "first", "OF-3": "theirs"}
    assert _retries(caplog) == []


def test_conflicts_that_outlast_the_retries_end_in_the_projects_error(spark: SparkSession, tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    root = str(tmp_path / "lake")
    delta.insert_new(spark, _rows(spark, ["OF-0"], "first"), root, NAME, KEYS)
    attempts: list[int] = []

    def always_overtaken() -> int:  # every attempt, another MERGE commits between our read and commit
        attempts.append(1)
        gate = Gate(tmp_path / f"gate-{len(attempts)}")
        other = commits_meanwhile(gate, lambda: delta.insert_new(
            spark, _rows(spark, [f"OF-{len(attempts)}x"], "theirs"), root, NAME, KEYS))
        try:
            return delta.insert_new(spark, _rows(spark, ["OF-9"], "ours", gate), root, NAME, KEYS)
        finally:
            other.join()

    with pytest.raises(ConcurrentWriteError) as raised:
        conflicts.retrying(always_overtaken, NAME, "insert_new", attempts=3, first_wait=0.01, max_wait=0.05)
    assert str(raised.value) == (
        f"insert_new on {NAME}: concurrent writers kept it from committing 3 times (ConcurrentAppendException); "
        "nothing was written by this attempt. Run the step again once the other writers are done "
        "(or run fewer writers on this table at once)")
    assert len(attempts) == 3  # the inner insert_new did not retry on its own: the whole operation did
    assert "OF-9" not in _held(spark, root)
    assert [m.split(": ", 1)[1].split(";")[0] for m in _retries(caplog)] == [
        "ConcurrentAppendException (attempt 1 of 3)", "ConcurrentAppendException (attempt 2 of 3)"]


def test_an_unconverted_jvm_conflict_is_still_recognised_by_its_delta_class(spark: SparkSession) -> None:
    """A Delta conflict inside another JVM error (as a cause) counts too, by its JVM class."""
    from py4j.protocol import Py4JJavaError

    jvm = spark._jvm
    assert jvm is not None
    conflict = jvm.io.delta.exceptions.ConcurrentAppendException("a concurrent MERGE added data")
    wrapper = jvm.java.lang.RuntimeException("while writing", conflict)
    try:
        jvm.java.util.Objects.requireNonNull(None, "x")  # any JVM failure, to have a Py4JJavaError to dress
    except Py4JJavaError as err:
        err.java_exception = wrapper
        assert conflicts.conflict_kind(err) == "ConcurrentAppendException"
    assert conflicts.conflict_kind(ValueError("not Delta's")) is None
