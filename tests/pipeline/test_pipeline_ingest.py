"""The ingest step against real files, real Delta and a real PostgreSQL registry."""
from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import os
import shutil
import zlib
from datetime import datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.errors import SourceError
from lakehouse.ops.results import StepResult, no_progress
from lakehouse.pipeline.ingest import ingest
from lakehouse.sources import landing
from lakehouse.sources.postgres import Endpoint, connect
from lakehouse.storage import delta

EVENT = ('{"event_id": "%s", "event_type": "enrollment_started", "event_time": "2026-10-01T10:00:00.000Z", '
         '"schema_version": 1, "enrollment_id": "en-1", "national_id": "12345678", "full_name": "A B", '
         '"birth_date": "1990-01-01", "office_id": "OF-0001", "channel": "office", "operator_id": "OP-1", '
         '"validation": null}')
HEADER = "report_date,office_id,staffed_hours,appointments_scheduled,appointments_attended,notes"


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())


def _landing(root: Path) -> None:
    land = root / "landing"
    _write(land / "events" / "e-001.jsonl", "\n".join([EVENT % "a1", EVENT % "a2", "{oops"]) + "\n")
    _write(land / "office_reports" / "r-001.csv", f"{HEADER}\n2026-10-01,OF-0001,8,20,18,\n2026-10-01,OF-0002,8\n")
    _write(land / "office_reports" / "r-002.xlsx", b"this is not a workbook")
    _write(land / "device_logs" / "d-001.jsonl", '{"device_id": "D1", "ts": "2026-10-01T08:00:00Z"}\n')
    _write(land / "documents" / "2026" / "scan.pdf", b"%PDF-1.4 tiny")


def _offices(endpoint: Endpoint, rows: list[tuple]) -> None:
    with connect(endpoint) as conn:
        conn.cursor().executemany(
            "INSERT INTO offices VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (office_id) DO UPDATE "
            "SET region = EXCLUDED.region, updated_at = EXCLUDED.updated_at", rows)


def _ingest(spark: SparkSession, root: Path, endpoint: Endpoint | None, run: str) -> StepResult:
    return ingest(spark, str(root), endpoint, run, no_progress)


def test_every_record_once_and_a_rerun_ingests_nothing(spark: SparkSession, tmp_path: Path,
                                                       registry_db: Endpoint) -> None:
    _landing(tmp_path)
    _offices(registry_db, [("OF-0001", "Centro 1", "CENTRO", "D1", "2020-01-01", "2026-09-01T00:00:00+00")])
    first = _ingest(spark, tmp_path, registry_db, "run-1")
    # 3 event lines + 2 CSV rows + 1 log + 1 document + 1 office = 8; the "workbook" that is no zip is rejected
    assert first.rows_in == 8
    events = delta.read(spark, str(tmp_path), "bronze.enrollment_events")
    assert events.count() == 3
    assert events.where(F.col("_parse_error").isNotNull()).count() == 1
    reports = delta.read(spark, str(tmp_path), "bronze.office_reports").orderBy("_source").collect()
    assert [r["_parse_error"] is None for r in reports] == [True, False]
    assert (tmp_path / "rejected" / "office_reports" / "r-002.xlsx").exists()

    versions = {t: delta.version(spark, str(tmp_path), t) for t in
                ("bronze.enrollment_events", "bronze.office_reports", "bronze.offices", "bronze.documents")}
    second = _ingest(spark, tmp_path, registry_db, "run-2")
    assert second.rows_in == 0 and not second.changed
    assert {t: delta.version(spark, str(tmp_path), t) for t in versions} == versions


def test_new_files_and_registry_changes_are_picked_up_incrementally(spark: SparkSession, tmp_path: Path,
                                                                    registry_db: Endpoint) -> None:
    _landing(tmp_path)
    _offices(registry_db, [("OF-0001", "Centro 1", "CENTRO", "D1", "2020-01-01", "2026-09-01T00:00:00+00"),
                           ("OF-0002", "Sur 2", "SUR", "D2", "2020-01-01", "2026-09-01T00:00:00+00")])
    _ingest(spark, tmp_path, registry_db, "run-1")
    _write(tmp_path / "landing" / "events" / "e-002.jsonl", EVENT % "b1" + "\n")
    _offices(registry_db, [("OF-0002", "Sur 2", "NORTE", "D2", "2020-01-01", "2026-10-15T12:00:00+00")])
    report = _ingest(spark, tmp_path, registry_db, "run-2")
    assert report.rows_in == 2  # one new event line, one office change
    offices = delta.read(spark, str(tmp_path), "bronze.offices").where("office_id = 'OF-0002'")
    assert sorted((r["region"], r["updated_at"]) for r in offices.collect()) == [
        ("NORTE", datetime(2026, 10, 15, 12, 0)), ("SUR", datetime(2026, 9, 1, 0, 0))]
    sources = delta.read(spark, str(tmp_path), "bronze.enrollment_events").where("_batch_id = 'run-2'")
    assert [r["event_id"] for r in sources.collect()] == ["b1"]


def test_missing_landing_folder_is_a_clear_error(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="landing folder not found"):
        _ingest(spark, tmp_path / "nowhere", None, "run-x")


def test_compressed_text_files_are_ingested_under_their_keys(spark: SparkSession, tmp_path: Path) -> None:
    land = tmp_path / "landing"
    _write(land / "events" / "2026" / "e-001.jsonl.gz", gzip.compress(f"{EVENT % 'g1'}\n{EVENT % 'g2'}\n".encode()))
    _write(land / "events" / "e-002.jsonl.bz2", bz2.compress(f"{EVENT % 'z1'}\n".encode()))
    _write(land / "office_reports" / "r-001.csv.gz", gzip.compress(f"{HEADER}\n2026-10-01,OF-0001,8,20,18,\n".encode()))
    _write(land / "device_logs" / "d-001.jsonl.deflate", zlib.compress(b'{"device_id": "D1"}\n'))
    first = _ingest(spark, tmp_path, None, "run-1")
    assert first.rows_in == 5  # 3 event lines, 1 report row, 1 log line
    events = delta.read(spark, str(tmp_path), "bronze.enrollment_events")
    assert sorted((r["event_id"], r["_file"], r["_parse_error"]) for r in events.collect()) == [
        ("g1", "events/2026/e-001.jsonl.gz", None), ("g2", "events/2026/e-001.jsonl.gz", None),
        ("z1", "events/e-002.jsonl.bz2", None)]
    report = delta.read(spark, str(tmp_path), "bronze.office_reports").collect()
    assert [(r["office_id"], r["appointments_attended"], r["_source"]) for r in report] == [
        ("OF-0001", "18", "office_reports/r-001.csv.gz:2")]
    manifest = delta.read(spark, str(tmp_path), "ops.ingested_files")
    assert sorted(r["path"] for r in manifest.collect()) == [
        "device_logs/d-001.jsonl.deflate", "events/2026/e-001.jsonl.gz", "events/e-002.jsonl.bz2",
        "office_reports/r-001.csv.gz"]
    assert _ingest(spark, tmp_path, None, "run-2").rows_in == 0


def test_reports_in_each_dialect_land_in_bronze_with_it(spark: SparkSession, tmp_path: Path) -> None:
    """Written as offices' Excel writes them: `;` and a decimal comma (a Spanish locale), a tab, a comma."""
    land = tmp_path / "landing" / "office_reports"
    _write(land / "es.csv", "\ufeff" + HEADER.replace(",", ";") + "\r\n2026-10-01;OF-0001;8,5;20;18;\r\n")
    _write(land / "tab.csv", HEADER.replace(",", "\t") + "\n2026-10-01\tOF-0002\t7,25\t10\t9\t\n")
    _write(land / "en.csv", f"{HEADER}\n2026-10-01,OF-0003,6.5,5,5,\n")
    _write(land / "bad.csv", HEADER.replace(",", ";") + "\n2026-10-01;OF-0004;8\n")  # a short row: flagged
    assert _ingest(spark, tmp_path, None, "run-1").rows_in == 4
    rows = delta.read(spark, str(tmp_path), "bronze.office_reports").orderBy("_source").collect()
    assert [(r["_source"], r["office_id"], r["staffed_hours"], r["_dialect"], r["_parse_error"]) for r in rows] == [
        ("office_reports/bad.csv:2", None, None, "csv-semicolon", "expected 6 columns, got 3"),
        ("office_reports/en.csv:2", "OF-0003", "6.5", "csv-comma", None),
        ("office_reports/es.csv:2", "OF-0001", "8.5", "csv-semicolon", None),
        ("office_reports/tab.csv:2", "OF-0002", "7.25", "csv-tab", None)]


@pytest.mark.parametrize(("location", "key"), [
    ("file:/srv/lake/landing/events/a.jsonl", "events/a.jsonl"),
    ("s3a://bucket/prefix/landing/events/2026/a.jsonl.gz", "events/2026/a.jsonl.gz"),
    ("s3://bucket/landing/documents/landing/events/x.pdf", "documents/landing/events/x.pdf"),
    ("events/a.jsonl", "events/a.jsonl"),  # a key already
])
def test_a_landing_file_is_known_by_its_path_under_the_landing_root(spark: SparkSession, location: str,
                                                                     key: str) -> None:
    assert landing.landing_key(location) == key
    assert spark.createDataFrame([(location,)], "p string").select(
        landing.landing_key_column(F.col("p"))).first()[0] == key


def test_rows_recorded_under_a_full_uri_count_as_their_key(spark: SparkSession, tmp_path: Path) -> None:
    """A lake ingested before keys (bronze holding `file:/old/place/landing/...`) moved here ingests nothing again."""
    _write(tmp_path / "landing" / "events" / "e-001.jsonl", EVENT % "a1" + "\n")
    _ingest(spark, tmp_path, None, "run-1")
    table = delta.path(str(tmp_path), "bronze.enrollment_events")
    spark.sql(f"UPDATE delta.`{table}` SET _file = 'file:/old/place/landing/' || _file")
    shutil.rmtree(delta.path(str(tmp_path), "ops.ingested_files"))  # a lake older than the manifest: bronze read whole
    assert _ingest(spark, tmp_path, None, "run-2").rows_in == 0
    manifest = delta.read(spark, str(tmp_path), "ops.ingested_files").collect()
    assert [(r["path"], r["batch_id"], r["records"]) for r in manifest] == [("events/e-001.jsonl", "run-1", 1)]


def test_a_crash_between_an_append_and_its_manifest_rows_ingests_nothing_twice(
        spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch's rows are in bronze but the manifest never heard of them: the next run finds them
    among bronze's rows newer than the manifest, records them, and every later run knows them."""
    _write(tmp_path / "landing" / "events" / "e-001.jsonl", "\n".join([EVENT % "a1", EVENT % "a2"]) + "\n")

    def crash(*args: object) -> None:
        raise RuntimeError("killed before the manifest was written")

    with monkeypatch.context() as patch:
        patch.setattr("lakehouse.pipeline.ingest._manifest", crash)
        with pytest.raises(RuntimeError):
            _ingest(spark, tmp_path, None, "run-1")
    assert _ingest(spark, tmp_path, None, "run-2").rows_in == 0
    _write(tmp_path / "landing" / "events" / "e-002.jsonl", EVENT % "b1" + "\n")
    assert _ingest(spark, tmp_path, None, "run-3").rows_in == 1
    assert _ingest(spark, tmp_path, None, "run-4").rows_in == 0
    events = delta.read(spark, str(tmp_path), "bronze.enrollment_events")
    assert sorted(r["event_id"] for r in events.collect()) == ["a1", "a2", "b1"]
    manifest = delta.read(spark, str(tmp_path), "ops.ingested_files").where("target = 'bronze.enrollment_events'")
    assert sorted((r["path"], r["batch_id"], r["records"]) for r in manifest.collect()) == [
        ("events/e-001.jsonl", "run-1", 2), ("events/e-002.jsonl", "run-3", 1)]


def test_a_document_is_its_bytes_not_its_modification_time(spark: SparkSession, tmp_path: Path) -> None:
    scan = tmp_path / "landing" / "documents" / "scan.pdf"
    _write(scan, b"%PDF-1.4 one")
    _ingest(spark, tmp_path, None, "run-1")
    os.utime(scan, (1_900_000_000, 1_900_000_000))  # touched, or copied elsewhere: same bytes, a new time
    touched = _ingest(spark, tmp_path, None, "run-2")
    assert not touched.changed
    assert delta.read(spark, str(tmp_path), "bronze.documents").count() == 1
    manifest = delta.read(spark, str(tmp_path), "ops.ingested_files").where("target = 'bronze.documents'")
    assert sorted((r["batch_id"], r["records"]) for r in manifest.collect()) == [("run-1", 1), ("run-2", 0)]
    assert _ingest(spark, tmp_path, None, "run-3").rows_in == 0
    assert manifest.count() == 2  # the new time was recorded: not looked at again
    _write(scan, b"%PDF-1.4 two")  # same size, other bytes: a changed document
    changed = _ingest(spark, tmp_path, None, "run-4")
    assert changed.rows_in == 1
    assert sorted(r["sha256"] for r in delta.read(spark, str(tmp_path), "bronze.documents").collect()) == sorted(
        hashlib.sha256(b).hexdigest() for b in (b"%PDF-1.4 one", b"%PDF-1.4 two"))


def test_files_no_contract_accepts_are_rejected_by_name_never_skipped(spark: SparkSession, tmp_path: Path) -> None:
    land = tmp_path / "landing"
    _write(land / "events" / "e-001.jsonl", EVENT % "a1" + "\n")
    _write(land / "events" / "notes.txt", "not a source file\n")  # a name events/ does not take
    _write(land / "events" / "e-002.jsonl.gz", EVENT % "a2" + "\n")  # named .gz, not gzip
    _write(land / "office_reports" / "r-001.csv", "date,office\n2026-10-01,OF-1\n")  # not the contract's header
    _write(land / "device_logs" / "d-001.jsonl", b"")  # empty
    _write(land / "payments" / "p-001.csv", "x\n")  # a folder no source has
    lines: list[str] = []
    first = ingest(spark, str(tmp_path), None, "run-1", lines.append)
    assert first.rows_in == 1 and "ops.rejected_files" in first.versions
    expected = {"events/notes.txt": "name_pattern", "events/e-002.jsonl.gz": "not_compressed_as_named",
                "office_reports/r-001.csv": "csv_header", "device_logs/d-001.jsonl": "empty_file",
                "payments/p-001.csv": "unknown_folder"}
    rejected = delta.read(spark, str(tmp_path), "ops.rejected_files").collect()
    assert {r["path"]: r["rule"] for r in rejected} == expected
    for key, rule in expected.items():
        assert not (land / key).exists() and (tmp_path / "rejected" / key).exists(), key
        reason = json.loads((tmp_path / "rejected" / f"{key}.reason.json").read_text())
        assert (reason["key"], reason["rule"]) == (key, rule)
        assert any(line.startswith(f"landing/{key}: rejected") for line in lines), key
    second = ingest(spark, str(tmp_path), None, "run-2", no_progress)
    assert second.rows_in == 0 and not second.changed
