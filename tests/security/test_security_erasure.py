"""Erasure end to end: a citizen planted in files (plain and gzip, a line that cannot be parsed) and
on the Kinesis stream, and an operator planted in the registry database, built into every layer,
the PostgreSQL export, then erased: their IDs and names are in no byte under the storage root, in
no PostgreSQL row of the export, and no earlier version of any table returns them; a later change
to the operator's registry row does not bring them back. (The registry database is the source
system, which the lake only reads: the operator's row stays there.)"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import hmac
import json
import uuid
from functools import reduce
from pathlib import Path
from typing import Any

import pytest
from gold_checks import gold_lines, gold_mismatches
from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse import app, protection
from lakehouse.aws.clients import client
from lakehouse.config import load_config
from lakehouse.contract import TABLES, schema
from lakehouse.datagen import generate
from lakehouse.datagen.producer import ensure_stream
from lakehouse.local.aws import LocalAws
from lakehouse.security.leak_scan import LeakError
from lakehouse.security.secret_refs import resolve
from lakehouse.sources.postgres import connect
from lakehouse.storage import delta

pytestmark = pytest.mark.slow

CITIZEN_ID, CITIZEN_NAME = "31415926", "Zacarías Erasmo Olvidado"
OTHER_ID, OTHER_NAME = "27182818", "Berta Queda Presente"
OPERATOR_ID, OPERATOR_NAME = "OP-ERASE-1", "Casimira Borrada Registro"
STREAM = "erasure-events"
ENROLLMENT_FILE, ENROLLMENT_STREAM, ENROLLMENT_OTHER = (str(uuid.uuid5(uuid.NAMESPACE_URL, f"erase/{n}"))
                                                        for n in ("file", "stream", "other"))


def _event(label: str, event_type: str, enrollment: str, national_id: str, name: str, time: str,
           validation: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"erase/{label}")), "event_type": event_type,
            "event_time": time, "schema_version": "1", "enrollment_id": enrollment, "national_id": national_id,
            "full_name": name, "birth_date": "1971-03-14", "office_id": "OF-0001", "channel": "web",
            "operator_id": None, "validation": validation}


def _lifecycle(prefix: str, enrollment: str, national_id: str, name: str) -> list[dict[str, Any]]:
    validation = {"validation_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"erase/{prefix}/v")), "modality": "face",
                  "result": "match", "score": "0.97", "started_at": "2026-10-02T10:05:00.000Z",
                  "finished_at": "2026-10-02T10:05:02.500Z"}
    return [_event(f"{prefix}/s", "enrollment_started", enrollment, national_id, name, "2026-10-02T10:00:00.000Z"),
            _event(f"{prefix}/b", "biometric_validation", enrollment, national_id, name, "2026-10-02T10:05:02.500Z",
                   validation),
            _event(f"{prefix}/c", "enrollment_completed", enrollment, national_id, name, "2026-10-02T10:20:00.000Z")]


@dataclasses.dataclass
class Lake:
    config: Any
    root: Path
    before: dict[str, int]
    reports: list[Any]


def _bytes_with(root: Path, needles: list[bytes]) -> list[str]:
    """Every file under `root` holding one of `needles` (the embedded PostgreSQL's folder aside:
    its rows are checked through SQL)."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if "_registry_pg" in path.parts:
            continue
        data = path.read_bytes()
        if path.suffix == ".gz":
            data += gzip.decompress(data)
        if any(n in data for n in needles):
            found.append(str(path.relative_to(root)))
    return found


NEEDLES = [CITIZEN_ID.encode(), CITIZEN_NAME.encode(), json.dumps(CITIZEN_NAME)[1:-1].encode(),
           OPERATOR_NAME.encode(), json.dumps(OPERATOR_NAME)[1:-1].encode()]


@pytest.fixture(scope="module")
def lake(spark: SparkSession, local_aws: LocalAws, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("erasure_lake")
    config = load_config("local", {"storage.root": str(root), "export.schema": "erase_gold",
                                   "aws.endpoint_url": local_aws.url, "stream.name": STREAM, "stream.shards": 1})
    settings = dataclasses.replace(config.datagen, days=3, offices=4, enrollments=40, seed=3)
    with app.registry(config) as endpoint:
        generate(f"{root}/landing", settings, registry=endpoint)
        with connect(endpoint) as conn:
            conn.execute("INSERT INTO operators VALUES (%s, 'OF-0001', %s, 'enroller', %s)",
                         (OPERATOR_ID, OPERATOR_NAME, "2026-10-01T08:00:00+00:00"))
    events = root / "landing" / "events"
    planted = _lifecycle("file", ENROLLMENT_FILE, CITIZEN_ID, CITIZEN_NAME)
    # a whole file of the citizen's, a truncated line that only _raw keeps, and a gzip file shared with another
    truncated = json.dumps({"national_id": CITIZEN_ID, "full_name": CITIZEN_NAME, **planted[2]})[:90]
    (events / "planted.jsonl").write_text("\n".join(json.dumps(e) for e in planted[:2]) + "\n" + truncated + "\n")
    shared = [planted[2], *_lifecycle("other", ENROLLMENT_OTHER, OTHER_ID, OTHER_NAME)]
    (events / "shared.jsonl.gz").write_bytes(gzip.compress(("\n".join(json.dumps(e) for e in shared) + "\n").encode()))
    kinesis = client("kinesis", "us-east-1", local_aws.url)
    ensure_stream(kinesis, STREAM, 1)
    streamed = _lifecycle("stream", ENROLLMENT_STREAM, CITIZEN_ID, CITIZEN_NAME)
    kinesis.put_records(StreamName=STREAM, Records=[{"Data": json.dumps(e).encode(), "PartitionKey": e["event_id"]}
                                                    for e in streamed])
    reports = app.run_all(spark, config)
    reports.append(app.run_stream(spark, config, available_now=True))
    reports += [app.run_gold(spark, config), app.run_export(spark, config)]
    app.write_dashboard(spark, config)  # each step above ran the leak scan: a clean build passes it
    before = {name: delta.read(spark, str(root), name).count() for name in TABLES
              if delta.exists(spark, str(root), name)}
    return Lake(config, root, before, reports)


def test_the_citizen_was_everywhere_before(spark: SparkSession, lake: Lake) -> None:
    steps = [r.step for r in lake.reports if r.status == "succeeded"]
    assert steps == ["ingest", "silver", "gold", "alerts", "stream", "gold", "export"], steps
    root = str(lake.root)
    bronze = delta.read(spark, root, "bronze.enrollment_events")
    assert bronze.where(F.col("national_id") == CITIZEN_ID).count() == 2 + 1 + 3  # plain file, gzip, stream
    assert delta.read(spark, root, "quarantine.enrollment_events").where(
        F.col("_raw").contains(CITIZEN_ID)).count() == 1  # the truncated line
    assert delta.read(spark, root, "gold.fct_enrollments").where(
        F.col("enrollment_id").isin(ENROLLMENT_FILE, ENROLLMENT_STREAM)).count() == 2
    assert delta.read(spark, root, "bronze.operators").where(F.col("full_name") == OPERATOR_NAME).count() == 1
    found = _bytes_with(lake.root, NEEDLES)
    assert any(p.startswith("landing/") for p in found) and any(p.startswith("bronze/") for p in found)


REFUSED = ("DELTA_UNSUPPORTED_TIME_TRAVEL_BEYOND_DELETED_FILE_RETENTION_DURATION", "FileNotFound",
           "DELTA_FILE_NOT_FOUND", "FAILED_READ_FILE.FILE_NOT_EXIST")


def _versions_holding(spark: SparkSession, root: str, name: str, condition: Any) -> list[int]:
    """The versions of a table that can be read and hold a row matching `condition`. Delta refuses
    a version older than the table's `deletedFileRetentionDuration` (its files may be vacuumed),
    and a vacuumed one has no files (the scan fails in a task, hence a Py4JJavaError): both hold
    nothing."""
    holding = []
    for version in range(0, (delta.version(spark, root, name) or 0) + 1):
        try:
            if not delta.read(spark, root, name, version=version).where(condition).isEmpty():
                holding.append(version)
        except (PySparkException, Py4JJavaError) as err:
            assert any(r in str(err) for r in REFUSED), f"{name} v{version}: {str(err)[:300]}"
    return holding


def test_erasure_reaches_every_byte_row_and_version(spark: SparkSession, lake: Lake) -> None:
    root, config = str(lake.root), lake.config
    with gold_lines() as lines:
        reports = protection.run_erase(spark, config, [CITIZEN_ID], "test-dpo", [OPERATOR_ID])
    assert [r.step for r in reports] == ["erase", "gold", "export"]
    assert all(r.status == "succeeded" for r in reports)
    # gold followed the deletions from silver's change feed (before the purge removed its files),
    # and is what a build from the whole of silver gives
    assert any(line.startswith("recomputing what changed") for line in lines)
    mismatches = gold_mismatches(spark, root)
    assert mismatches == dict.fromkeys(mismatches, 0)

    assert _bytes_with(lake.root, NEEDLES) == []
    key = resolve(config.security.hmac_key)
    citizen_key = hmac.new(key, CITIZEN_ID.encode(), hashlib.sha256).hexdigest()
    marks = {"national_id": [CITIZEN_ID], "citizen_key": [citizen_key],
             "enrollment_id": [ENROLLMENT_FILE, ENROLLMENT_STREAM], "full_name": [CITIZEN_NAME, OPERATOR_NAME]}
    for name in TABLES:
        columns = [c for c in marks if c in schema(name).fieldNames()]
        if columns and delta.exists(spark, root, name):
            condition = reduce(lambda a, b: a | b, [F.col(c).isin(marks[c]) for c in columns])
            assert _versions_holding(spark, root, name, condition) == [], name
    with app.export_database(config) as endpoint, connect(endpoint) as conn:
        rows = conn.execute("SELECT count(*) FROM erase_gold.fct_enrollments WHERE enrollment_id = ANY(%s)",
                            ([ENROLLMENT_FILE, ENROLLMENT_STREAM],)).fetchone()
        others = conn.execute("SELECT count(*) FROM erase_gold.fct_enrollments WHERE enrollment_id = %s",
                              (ENROLLMENT_OTHER,)).fetchone()
    assert rows == (0,) and others == (1,)

    # what was not the citizen's stays: the other person's lines in the shared file, and their rows
    shared = gzip.decompress((lake.root / "landing" / "events" / "shared.jsonl.gz").read_bytes()).decode()
    assert [json.loads(line)["national_id"] for line in shared.splitlines() if line.strip()] == [OTHER_ID] * 3
    assert not (lake.root / "landing" / "events" / "planted.jsonl").exists()
    bronze = delta.read(spark, root, "bronze.enrollment_events")
    assert bronze.count() == lake.before["bronze.enrollment_events"] - 7  # with the truncated line
    assert bronze.where(F.col("national_id") == OTHER_ID).count() == 3
    assert delta.read(spark, root, "quarantine.enrollment_events").count() \
        == lake.before["quarantine.enrollment_events"] - 1
    assert delta.read(spark, root, "silver.enrollment_events").count() \
        == lake.before["silver.enrollment_events"] - 6

    audit = delta.read(spark, root, "ops.erasures").collect()
    assert len(audit) == 1 and audit[0]["requested_by"] == "test-dpo"
    assert dict(audit[0]["rows"]) == {"bronze.enrollment_events": 7, "quarantine.enrollment_events": 1,
                                      "silver.enrollment_events": 6, "silver.biometric_validations": 2,
                                      "bronze.operators": 1}
    assert (audit[0]["files_rewritten"], audit[0]["files_deleted"]) == (1, 1)
    requests = delta.read(spark, root, "ops.erasure_requests").orderBy("kind").collect()
    assert [(r["kind"], r["status"], r["subject"]) for r in requests] == [
        ("citizen", "done", None), ("operator", "done", OPERATOR_ID)]
    assert audit[0]["request_ids"] == sorted(r["request_id"] for r in requests)
    operators = delta.read(spark, root, "bronze.operators")
    assert operators.count() == lake.before["bronze.operators"] - 1


def test_erasing_again_and_rebuilding_bring_nothing_back(spark: SparkSession, lake: Lake) -> None:
    root, config = str(lake.root), lake.config
    again = protection.run_erase(spark, config, [CITIZEN_ID], "test-dpo", [OPERATOR_ID])
    assert [r.step for r in again] == ["erase"]
    assert dict(delta.read(spark, root, "ops.erasures").orderBy("started_at").collect()[-1]["rows"]) == {
        "bronze.enrollment_events": 0, "quarantine.enrollment_events": 0, "silver.enrollment_events": 0,
        "silver.biometric_validations": 0, "bronze.operators": 0}
    with app.registry(config) as endpoint, connect(endpoint) as conn:  # the registry changes the operator again
        conn.execute("UPDATE operators SET role = 'supervisor', updated_at = now() WHERE operator_id = %s",
                     (OPERATOR_ID,))
    reports = [*app.run_all(spark, config), app.run_stream(spark, config, available_now=True)]
    assert [(r.step, r.status) for r in reports] == [(step, "no_change") for step in
                                                     ("ingest", "silver", "gold", "alerts", "stream")]
    assert delta.read(spark, root, "bronze.operators").where(F.col("operator_id") == OPERATOR_ID).isEmpty()
    assert _bytes_with(lake.root, NEEDLES) == []


def test_smuggled_ids_and_names_fail_the_step_that_wrote_them(spark: SparkSession, lake: Lake) -> None:
    """The leak scan, on the same lake (after the erasure: other people are still in bronze)."""
    config, root = lake.config, str(lake.root)
    bronze = delta.read(spark, root, "bronze.enrollment_events").where("national_id RLIKE '^[0-9]{8}$'")
    person = bronze.select("national_id", "full_name").first()
    national_id, full_name = person["national_id"], person["full_name"]

    # 1. an export whose gold table carries a name (a bug that skipped the policy)
    offices = delta.read(spark, root, "gold.dim_office")
    delta.overwrite(offices.withColumn("name", F.when(F.col("office_id") == "UNKNOWN", F.lit(full_name))
                                       .otherwise(F.col("name"))), root, "gold.dim_office")
    with pytest.raises(LeakError) as caught:
        app.run_export(spark, config)
    assert str(caught.value) == ("personal data outside bronze and quarantine: "
                                 "postgres:erase_gold.dim_office.name (name)")

    # 2. a dashboard showing an ID as a region
    kpis = delta.read(spark, root, "gold.kpi_enrollments_daily")
    delta.overwrite(kpis.withColumn("region", F.lit(national_id)), root, "gold.kpi_enrollments_daily")
    with pytest.raises(LeakError, match=r"dashboard/index.html \(national-id\)$"):
        app.write_dashboard(spark, config)

    # 3. a source that carries an ID where the policy does not expect one: a device log's message
    line = {"device_id": "DEV-X-1", "office_id": "OF-0001", "ts": "2026-10-02T10:00:00.000Z", "level": "ERROR",
            "message": f"card reader: document {national_id} unreadable", "firmware": "1.0"}
    Path(root, "landing", "device_logs", "device_logs-smuggled.jsonl").write_text(json.dumps(line) + "\n")
    app.run_ingest(spark, config)
    with pytest.raises(LeakError, match=r": silver.device_logs.message \(national-id\)$"):
        app.run_silver(spark, config)
    runs = delta.read(spark, root, "ops.pipeline_runs").where("step = 'silver' AND status = 'failed'").collect()
    assert [r["message"] for r in runs] == ["personal data outside bronze and quarantine: "
                                            "silver.device_logs.message (national-id)"]
    for text in (str(caught.value), runs[0]["message"]):
        assert national_id not in text and full_name not in text
