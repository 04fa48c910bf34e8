"""`lakehouse run` end to end, on a small data set written by hand.

The scenario (three UTC days, 2026-10-01 .. 2026-10-03; regions NORTE, SUR, CENTRO):
- registry: OF-0001 NORTE, OF-0002 SUR (first known from 2026-10-01 10:00, after its first event),
  OF-0003 CENTRO, OF-0004 NORTE (moves to CENTRO at
  2026-10-02 12:00 UTC, between the first and the second run); events also name OF-0099, which the
  registry does not know (region UNKNOWN, kept).
- events: 49 lines in three files, of which 5 fail a rule (a malformed line, a non-UUID id with an
  unknown channel, a 7-digit national id, a validation that finishes before it starts, an event in
  2099) and 1 is a duplicate (the same JSON in another file): 43 valid events, 26 lifecycle events
  of 14 enrollments and 17 biometric validations with known durations. Some times carry +02:00 or
  -05:00 offsets that put them on another UTC date than their local one.
- office reports: two CSV files (one row with attended > scheduled, one row with too few columns),
  one Excel file, and a replacement file for (2026-10-02, OF-0003) that arrives in the second run.
- one device log file (one line not JSON) and one document.

Runs (the real CLI, in-process, on the session's SparkSession):
  1. "first": everything above but the office move and the replacement report;
  2. "moved": OF-0004 moves region in the registry, the replacement report lands;
  3. "rerun": nothing new (idempotence);
  4. "late": a file with late events for 2026-10-01 and a re-sent duplicate (incrementality).
Every expected value below is worked out by hand from these records (arithmetic in comments);
percentiles are checked against numpy's linear interpolation over the hand-listed durations.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pytest
from chispa import assert_approx_df_equality
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse import app
from lakehouse.cli import main
from lakehouse.config import load_config
from lakehouse.contract import tables_in
from lakehouse.sources.postgres import connect
from lakehouse.storage import delta

STAGES = ("first", "moved", "rerun", "late")
CHECKED_LAYERS = ("bronze", "silver", "quarantine", "gold")  # ops.* log every run by design
D1, D2, D3 = date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def epoch(text: str) -> float:
    return utc(text).timestamp()


# --- the hand-written data set -------------------------------------------------------------

def eid(label: str) -> str:
    """A stable, valid UUID per event label."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"e2e/{label}"))


# enrollment -> (office, channel); every event of an enrollment carries these
ENROLLMENTS = {
    "E01": ("OF-0001", "office"), "E02": ("OF-0001", "web"), "E03": ("OF-0002", "office"),
    "E04": ("OF-0003", "mobile"), "E05": ("OF-0004", "office"), "E06": ("OF-0099", "office"),
    "E07": ("OF-0004", "office"), "E08": ("OF-0001", "mobile"), "E09": ("OF-0002", "web"),
    "E10": ("OF-0003", "office"), "E11": ("OF-0001", "office"), "E12": ("OF-0004", "office"),
    "E13": ("OF-0002", "office"), "E14": ("OF-0003", "web"), "E15": ("OF-0002", "office"),
    "E97": ("OF-0001", "office"), "E98": ("OF-0001", "office"),
}
# enrollment -> (national_id, full_name, birth_date): the raw personal data silver must not keep
CITIZENS = {e: (f"4071{n:04d}", f"Citizen Number{n}", f"{1960 + n}-05-0{1 + n % 9}")
            for n, e in enumerate(ENROLLMENTS, start=1)}
OPERATORS = {"OF-0001": "OP-0001", "OF-0002": "OP-0002", "OF-0003": "OP-0003", "OF-0004": "OP-0004",
             "OF-0099": "OP-0099"}
TYPES = {"started": "enrollment_started", "completed": "enrollment_completed",
         "cancelled": "enrollment_cancelled", "bio": "biometric_validation"}


def validation(vid: str, modality: str, result: str, score: float | None, started: str,
               finished: str) -> dict[str, Any]:
    return {"validation_id": vid, "modality": modality, "result": result, "score": score,
            "started_at": started, "finished_at": finished}


def event(label: str, kind: str, at: str, enrollment: str, check: dict[str, Any] | None = None,
          **overrides: Any) -> str:
    office, channel = ENROLLMENTS[enrollment]
    national_id, name, birth = CITIZENS[enrollment]
    record = {
        "event_id": eid(label), "event_type": TYPES[kind], "event_time": at, "schema_version": 1,
        "enrollment_id": enrollment, "national_id": national_id, "full_name": name, "birth_date": birth,
        "office_id": office, "channel": channel, "operator_id": OPERATORS[office] if channel == "office" else None,
        "validation": check,
    }
    record.update(overrides)
    return json.dumps(record)


def bio(vid: str, at: str, enrollment: str, modality: str, result: str, score: float | None,
        started: str, finished: str) -> str:
    return event(vid, "bio", at, enrollment, validation(vid, modality, result, score, started, finished))


E11_STARTED = event("e11s", "started", "2026-10-02T15:00:00Z", "E11")
E01_STARTED = event("e01s", "started", "2026-10-01T09:00:00Z", "E01")

EVENTS_DAY1 = [  # landing/events/events-2026-10-01.jsonl (line numbers on the right)
    E01_STARTED,  # 1
    bio("V01", "2026-10-01T09:05:00Z", "E01", "fingerprint", "match", 0.91,
        "2026-10-01T09:04:58.800Z", "2026-10-01T09:05:00.000Z"),  # 2: 1200 ms
    bio("V02", "2026-10-01T09:06:00Z", "E01", "fingerprint", "no_match", 0.35,
        "2026-10-01T09:05:59.200Z", "2026-10-01T09:06:00.000Z"),  # 3: 800 ms
    bio("V03", "2026-10-01T09:07:00Z", "E01", "fingerprint", "match", 0.88,
        "2026-10-01T09:06:58.500Z", "2026-10-01T09:07:00.000Z"),  # 4: 1500 ms
    bio("V05", "2026-10-01T09:08:00Z", "E01", "fingerprint", "error", None,
        "2026-10-01T09:07:51.000Z", "2026-10-01T09:08:00.000Z"),  # 5: error, 9000 ms (not timed)
    bio("V06", "2026-10-01T09:09:00Z", "E01", "face", "match", 0.97,
        "2026-10-01T09:08:59.400Z", "2026-10-01T09:09:00.000Z"),  # 6: 600 ms
    event("e01c", "completed", "2026-10-01T09:30:00Z", "E01"),  # 7
    event("e02s", "started", "2026-10-01T10:00:00Z", "E02"),  # 8
    event("e02x", "cancelled", "2026-10-01T10:20:00Z", "E02"),  # 9
    event("e03s", "started", "2026-10-01T11:00:00+02:00", "E03"),  # 10: 09:00 UTC
    bio("V07", "2026-10-01T11:10:00+02:00", "E03", "fingerprint", "match", 0.9,
        "2026-10-01T11:09:59.000+02:00", "2026-10-01T09:10:00.950Z"),  # 11: 1950 ms across offsets
    bio("V08", "2026-10-01T11:12:00+02:00", "E03", "fingerprint", "no_match", 0.2,
        "2026-10-01T09:11:58.950Z", "2026-10-01T09:12:00.000Z"),  # 12: 1050 ms
    bio("V10", "2026-10-01T11:14:00+02:00", "E03", "fingerprint", "match", 0.9,
        "2026-10-01T09:14:00.000Z", "2026-10-01T09:13:59.000Z"),  # 13: finished < started -> quarantine
    event("e03c", "completed", "2026-10-01T12:45:00+02:00", "E03"),  # 14: 10:45 UTC
    event("e06s", "started", "2026-10-01T14:00:00Z", "E06"),  # 15: unknown office OF-0099
    bio("V09", "2026-10-01T14:10:00Z", "E06", "iris", "match", 0.99,
        "2026-10-01T14:09:57.000Z", "2026-10-01T14:10:00.000Z"),  # 16: 3000 ms
    event("e06c", "completed", "2026-10-01T14:50:00Z", "E06"),  # 17
    '{"event_id": "' + eid("cut") + '", "event_type": "enrollment_started", "event_time": ',  # 18: malformed
    event("fax", "started", "2026-10-01T15:00:00Z", "E98", event_id="evt-0001", channel="fax"),  # 19
    event("e04s", "started", "2026-10-01T18:50:00-05:00", "E04"),  # 20: 23:50 UTC on 10-01
]
EVENTS_DAY2 = [  # landing/events/events-2026-10-02.jsonl
    event("e05s", "started", "2026-10-02T01:10:00+02:00", "E05"),  # 1: 2026-10-01 23:10 UTC
    bio("V04", "2026-10-02T01:15:00+02:00", "E05", "fingerprint", "match", 0.95,
        "2026-10-01T23:14:58.000Z", "2026-10-02T01:15:00.300+02:00"),  # 2: 10-01 23:15 UTC, 2300 ms
    event("e05c", "completed", "2026-10-02T01:40:00+02:00", "E05"),  # 3: 2026-10-01 23:40 UTC
    bio("V14", "2026-10-01T19:10:00-05:00", "E04", "face", "match", 0.93,
        "2026-10-01T19:09:58.900-05:00", "2026-10-02T00:10:00.000Z"),  # 4: 10-02 00:10 UTC, 1100 ms
    event("e04c", "completed", "2026-10-01T19:20:00-05:00", "E04"),  # 5: 2026-10-02 00:20 UTC
    event("e08s", "started", "2026-10-02T08:00:00Z", "E08"),  # 6
    event("e09s", "started", "2026-10-02T09:00:00Z", "E09"),  # 7
    bio("V16", "2026-10-02T09:05:00Z", "E09", "iris", "error", None,
        "2026-10-02T09:04:58.000Z", "2026-10-02T09:05:00.000Z"),  # 8: error only
    event("e09c", "completed", "2026-10-02T09:10:00Z", "E09"),  # 9
    event("e10s", "started", "2026-10-02T10:00:00Z", "E10", national_id="4071823"),  # 10: 7 digits
    bio("V12", "2026-10-02T10:20:00Z", "E10", "face", "match", 0.9,
        "2026-10-02T10:19:59.100Z", "2026-10-02T10:20:00.000Z"),  # 11: 900 ms
    bio("V13", "2026-10-02T10:25:00Z", "E10", "face", "error", None,
        "2026-10-02T10:24:55.000Z", "2026-10-02T10:25:00.000Z"),  # 12: error, 5000 ms
    event("e10c", "completed", "2026-10-02T10:40:00Z", "E10"),  # 13
    event("e07s", "started", "2026-10-02T11:00:00Z", "E07"),  # 14: OF-0004 still NORTE
    bio("V15", "2026-10-02T11:30:00Z", "E07", "face", "no_match", 0.1,
        "2026-10-02T11:29:59.600Z", "2026-10-02T11:30:00.000Z"),  # 15: 400 ms, NORTE
    bio("V11", "2026-10-02T12:30:00Z", "E07", "face", "match", 0.96,
        "2026-10-02T12:29:59.300Z", "2026-10-02T12:30:00.000Z"),  # 16: 700 ms, CENTRO after the move
    event("e07c", "completed", "2026-10-02T13:00:00Z", "E07"),  # 17: CENTRO
    E11_STARTED,  # 18
    event("e11c", "completed", "2026-10-02T15:20:00Z", "E11"),  # 19
    event("future", "started", "2099-01-01T00:00:00Z", "E97"),  # 20
]
EVENTS_DAY3 = [  # landing/events/events-2026-10-03.jsonl
    E11_STARTED,  # 1: the same JSON again (producer retry)
    event("e12s", "started", "2026-10-03T09:00:00Z", "E12"),  # 2
    bio("V17", "2026-10-03T09:10:00Z", "E12", "fingerprint", "match", 0.9,
        "2026-10-03T09:09:59.000Z", "2026-10-03T09:10:00.000Z"),  # 3: 1000 ms
    bio("V18", "2026-10-03T09:20:00Z", "E12", "fingerprint", "match", 0.92,
        "2026-10-03T09:19:57.000Z", "2026-10-03T09:20:00.000Z"),  # 4: 3000 ms
    event("e12c", "completed", "2026-10-03T09:45:00Z", "E12"),  # 5
    event("e13s", "started", "2026-10-03T10:00:00Z", "E13"),  # 6
    event("e13x", "cancelled", "2026-10-03T10:05:00Z", "E13"),  # 7
    event("e14s", "started", "2026-10-03T12:00:00Z", "E14", client_version="5.2.0"),  # 8: extra field
    event("e14c", "completed", "2026-10-03T12:15:00Z", "E14"),  # 9
]
EVENTS_LATE = [  # landing/events/events-2026-10-05-late.jsonl, arrives before the 4th run
    event("e15s", "started", "2026-10-01T15:00:00Z", "E15"),  # 1: late, for 10-01
    event("e15c", "completed", "2026-10-01T17:30:00+02:00", "E15"),  # 2: 10-01 15:30 UTC
    bio("V19", "2026-10-01T09:10:00Z", "E01", "fingerprint", "match", 0.9,
        "2026-10-01T09:09:59.000Z", "2026-10-01T09:10:00.000Z"),  # 3: late, 1000 ms
    E01_STARTED,  # 4: a retry days later
]

VALID_LABELS = [  # the events silver must hold once each after the second run
    "e01s", "V01", "V02", "V03", "V05", "V06", "e01c", "e02s", "e02x", "e03s", "V07", "V08", "e03c",
    "e06s", "V09", "e06c", "e04s",
    "e05s", "V04", "e05c", "V14", "e04c", "e08s", "e09s", "V16", "e09c", "V12", "V13", "e10c", "e07s",
    "V15", "V11", "e07c", "e11s", "e11c",
    "e12s", "V17", "V18", "e12c", "e13s", "e13x", "e14s", "e14c",
]
LATE_LABELS = ["e15s", "e15c", "V19"]

REPORT_HEADER = "report_date,office_id,staffed_hours,appointments_scheduled,appointments_attended,notes"
REPORTS_DAY1 = [  # office_reports-2026-10-01.csv
    REPORT_HEADER,  # 1
    "2026-10-01,OF-0001,8,20,18,",  # 2
    "2026-10-01,OF-0002,7.5,16,12,ok",  # 3
    "2026-10-01,OF-0003,8,10,12,overbooked",  # 4: attended > scheduled
    "2026-10-01,OF-0004,8",  # 5: 3 columns
]
REPORTS_DAY2 = [  # office_reports-2026-10-02.csv
    REPORT_HEADER,
    "2026-10-02,OF-0001,8,22,20,",
    "2026-10-02,OF-0002,6,12,9,",
    "2026-10-02,OF-0003,8,14,10,",  # replaced by the rev1 file in the second run
    "2026-10-02,OF-0004,8,16,14,",
]
REPORTS_DAY2_REV1 = [REPORT_HEADER, "2026-10-02,OF-0003,7,14,13,corrected"]

DEVICE_LOGS = [  # device_logs/devices-2026-10-01.jsonl
    json.dumps({"device_id": "DEV-01", "office_id": "OF-0001", "ts": "2026-10-01T08:00:00Z", "level": "INFO",
                "message": "boot", "firmware": "1.2.3"}),
    json.dumps({"device_id": "DEV-02", "office_id": "OF-0002", "ts": "2026-10-02T01:15:00+02:00",
                "level": "WARN", "message": "camera slow", "firmware": "1.2.3"}),
    "device DEV-03 says hello",  # 3: not JSON
]
DOCUMENT = b"%PDF-1.4\n% scanned enrollment form\n"

V1_AT = "2026-09-01T00:00:00+00:00"
MOVED_AT = "2026-10-02T12:00:00+00:00"
OFFICES_V1 = [
    ("OF-0001", "Norte Uno", "NORTE", "D-N1", "2019-03-01", V1_AT),
    # first captured after E03 started (09:00): the first version also covers the time before it
    ("OF-0002", "Sur Uno", "SUR", "D-S1", "2018-06-15", "2026-10-01T10:00:00+00:00"),
    ("OF-0003", "Centro Uno", "CENTRO", "D-C1", "2020-01-10", V1_AT),
    ("OF-0004", "Norte Dos", "NORTE", "D-N2", "2021-09-01", V1_AT),
]
OPERATOR_ROWS = [(op, office, f"Operator {office}", "clerk", V1_AT)
                 for office, op in OPERATORS.items() if office != "OF-0099"]


def _write(path: Path, content: bytes, modified: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    os.utime(path, (epoch(modified), epoch(modified)))


def _lines(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def _workbook(path: Path, modified: str) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(REPORT_HEADER.split(","))
    sheet.append([datetime(2026, 10, 3), "OF-0004", 6, 15, 15, None])  # a real date cell, numbers
    sheet.append(["2026-10-03", "OF-0001", 8.0, 18, 17, "ok"])
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    os.utime(path, (epoch(modified), epoch(modified)))


def _first_delivery(root: Path) -> None:
    land = root / "landing"
    at = "2026-10-04 01:00:00"
    _write(land / "events" / "events-2026-10-01.jsonl", _lines(EVENTS_DAY1), at)
    _write(land / "events" / "events-2026-10-02.jsonl", _lines(EVENTS_DAY2), at)
    _write(land / "events" / "events-2026-10-03.jsonl", _lines(EVENTS_DAY3), at)
    _write(land / "office_reports" / "office_reports-2026-10-01.csv", _lines(REPORTS_DAY1), at)
    _write(land / "office_reports" / "office_reports-2026-10-02.csv", _lines(REPORTS_DAY2), at)
    _workbook(land / "office_reports" / "office_reports-2026-10-03.xlsx", at)
    _write(land / "device_logs" / "devices-2026-10-01.jsonl", _lines(DEVICE_LOGS), at)
    _write(land / "documents" / "2026" / "10" / "scan-0001.pdf", DOCUMENT, at)


# --- running the scenario ------------------------------------------------------------------

@dataclass
class Stage:
    code: int
    versions: dict[str, int | None]
    rows: dict[str, list[str]]


@dataclass
class Scenario:
    root: str
    stages: dict[str, Stage]

    def at(self, spark: SparkSession, name: str, stage: str) -> DataFrame:
        """The table as the given stage left it (Delta time travel)."""
        version = self.stages[stage].versions[name]
        assert version is not None, f"{name} does not exist after stage {stage}"
        return spark.read.format("delta").option("versionAsOf", version).load(delta.path(self.root, name))


CHECKED_TABLES = [t.full_name for layer in CHECKED_LAYERS for t in tables_in(layer)]


def _run(spark: SparkSession, root: Path, *options: str) -> Stage:
    code = main(["--root", str(root), "--verbose", "run", *options])
    assert code == 0, f"lakehouse run exited {code}"
    versions = {name: delta.version(spark, str(root), name) for name in CHECKED_TABLES}
    rows = {name: sorted(repr(r) for r in delta.read(spark, str(root), name).collect()) for name in CHECKED_TABLES}
    return Stage(code, versions, rows)


@pytest.fixture(scope="module")
def scenario(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    root = tmp_path_factory.mktemp("e2e") / "lake"
    config = load_config("local", {"storage.root": str(root)})
    partitions = spark.conf.get("spark.sql.shuffle.partitions")  # the CLI's session settings apply to ours
    stages: dict[str, Stage] = {}
    try:
        _first_delivery(root)
        with app.registry(config) as endpoint, connect(endpoint) as conn:
            conn.cursor().executemany("INSERT INTO offices VALUES (%s, %s, %s, %s, %s, %s)", OFFICES_V1)
            conn.cursor().executemany("INSERT INTO operators VALUES (%s, %s, %s, %s, %s)", OPERATOR_ROWS)
        stages["first"] = _run(spark, root)  # with the summary the CLI prints

        with app.registry(config) as endpoint, connect(endpoint) as conn:
            conn.execute("UPDATE offices SET region = 'CENTRO', district = 'D-C2', updated_at = %s "
                         "WHERE office_id = 'OF-0004'", (MOVED_AT,))
        _write(root / "landing" / "office_reports" / "office_reports-2026-10-02-rev1.csv",
               _lines(REPORTS_DAY2_REV1), "2026-10-05 08:00:00")
        stages["moved"] = _run(spark, root, "--no-summary")

        stages["rerun"] = _run(spark, root, "--no-summary")

        _write(root / "landing" / "events" / "events-2026-10-05-late.jsonl", _lines(EVENTS_LATE),
               "2026-10-05 09:00:00")
        stages["late"] = _run(spark, root, "--no-summary")
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", partitions)
    return Scenario(str(root), stages)


# --- expected gold, worked out by hand -----------------------------------------------------

KPI_ENROLLMENTS = ("date date, region string, channel string, enrollments_started bigint, "
                   "enrollments_completed bigint, enrollments_cancelled bigint, completion_rate double")
KPI_TIMES = ("date date, region string, modality string, validations bigint, matches bigint, "
             "no_matches bigint, errors bigint, match_rate double, p50_ms double, p95_ms double, avg_ms double")
KPI_OFFICE = ("date date, office_id string, region string, appointments_scheduled int, appointments_attended int, "
              "attendance_rate double, staffed_hours double, enrollments_completed bigint, "
              "completed_per_staffed_hour double")
FCT_ENROLLMENTS = ("enrollment_id string, office_id string, region string, channel string, started_at timestamp, "
                   "completed_at timestamp, cancelled_at timestamp, status string, minutes_to_complete double")


def expected_kpi_enrollments(late: bool) -> list[tuple]:
    # Region at event time; OF-0004 is NORTE before 2026-10-02 12:00 UTC and CENTRO from then on.
    return [
        # 10-01: e01s, e05s (OF-0004, 23:10 UTC) started; e01c, e05c completed -> 2 / 2
        (D1, "NORTE", "office", 2, 2, 0, 1.0),
        (D1, "NORTE", "web", 1, 0, 1, 0.0),  # E02 started and cancelled: 0 / 1
        # E03 (+ late E15, started 15:00 and completed 15:30 UTC) -> 1/1, then 2/2; e03s (09:00) is
        # before OF-0002's first known version (10:00), which also covers it: SUR
        (D1, "SUR", "office", 2, 2, 0, 1.0) if late else (D1, "SUR", "office", 1, 1, 0, 1.0),
        (D1, "UNKNOWN", "office", 1, 1, 0, 1.0),  # E06 at OF-0099, kept
        (D1, "CENTRO", "mobile", 1, 0, 0, 0.0),  # e04s 18:50-05:00 = 23:50 UTC on 10-01
        # 10-02
        (D2, "CENTRO", "mobile", 0, 1, 0, None),  # e04c 19:20-05:00 = 00:20 UTC on 10-02; started 0
        (D2, "NORTE", "mobile", 1, 0, 0, 0.0),  # E08, never completed
        (D2, "SUR", "web", 1, 1, 0, 1.0),  # E09
        # e10c (its start was quarantined) and e07c (13:00, after the move): 0 started -> null
        (D2, "CENTRO", "office", 0, 2, 0, None),
        # e07s (11:00, before the move) and e11s (its duplicate counted once) started; e11c -> 1 / 2
        (D2, "NORTE", "office", 2, 1, 0, 0.5),
        # 10-03
        (D3, "CENTRO", "office", 1, 1, 0, 1.0),  # E12 at OF-0004, now CENTRO
        (D3, "SUR", "office", 1, 0, 1, 0.0),  # E13 cancelled
        (D3, "CENTRO", "web", 1, 1, 0, 1.0),  # E14 (its extra field is ignored)
    ]


def timed(durations_ms: list[int]) -> tuple[float, float, float]:
    """p50, p95 and mean by an independent method: numpy's linear interpolation."""
    return (float(np.percentile(durations_ms, 50, method="linear")),
            float(np.percentile(durations_ms, 95, method="linear")), float(np.mean(durations_ms)))


# the non-error durations per (date, region, modality), listed by hand from the event files
NORTE_FINGERPRINT_D1 = [1200, 800, 1500, 2300]  # V01, V02, V03, V04 (OF-0004 at 23:15 UTC); V05 is an error
NORTE_FINGERPRINT_D1_LATE = NORTE_FINGERPRINT_D1 + [1000]  # + V19
SUR_FINGERPRINT_D1 = [1950, 1050]  # V07, V08; V10 quarantined
CENTRO_FACE_D2 = [1100, 900, 700]  # V14 (00:10 UTC), V12, V11 (OF-0004 after the move); V13 is an error
CENTRO_FINGERPRINT_D3 = [1000, 3000]  # V17, V18


def expected_kpi_times(late: bool) -> list[tuple]:
    norte = (
        # 6 validations: V01, V02, V03, V04, V05, V19 -> 4 match, 1 no_match, 1 error; 4 / 5
        (D1, "NORTE", "fingerprint", 6, 4, 1, 1, 0.8, *timed(NORTE_FINGERPRINT_D1_LATE)) if late else
        # 5 validations: 3 match, 1 no_match, 1 error; match_rate 3 / 4
        (D1, "NORTE", "fingerprint", 5, 3, 1, 1, 0.75, *timed(NORTE_FINGERPRINT_D1))
    )
    return [
        norte,
        (D1, "NORTE", "face", 1, 1, 0, 0, 1.0, 600.0, 600.0, 600.0),  # V06
        (D1, "SUR", "fingerprint", 2, 1, 1, 0, 0.5, *timed(SUR_FINGERPRINT_D1)),
        (D1, "UNKNOWN", "iris", 1, 1, 0, 0, 1.0, 3000.0, 3000.0, 3000.0),  # V09 at OF-0099
        (D2, "CENTRO", "face", 4, 3, 0, 1, 1.0, *timed(CENTRO_FACE_D2)),
        (D2, "NORTE", "face", 1, 0, 1, 0, 0.0, 400.0, 400.0, 400.0),  # V15 before the move
        (D2, "SUR", "iris", 1, 0, 0, 1, None, None, None, None),  # V16: errors only
        (D3, "CENTRO", "fingerprint", 2, 2, 0, 0, 1.0, *timed(CENTRO_FINGERPRINT_D3)),
    ]


def expected_kpi_office(late: bool) -> list[tuple]:
    # Region at 00:00 UTC of the date; completions per (UTC date, office).
    return [
        (D1, "OF-0001", "NORTE", 20, 18, 0.9, 8.0, 1, 0.125),  # 18/20; e01c: 1/8
        # SUR at 00:00 (first version, from 10:00, covers the time before); 12/16;
        # e03c (+ late e15c): 1/7.5 -> 2/7.5
        (D1, "OF-0002", "SUR", 16, 12, 0.75, 7.5, 2 if late else 1, (2 if late else 1) / 7.5),
        (D1, "OF-0004", "NORTE", None, None, None, None, 1, None),  # e05c; its report row was malformed
        (D1, "OF-0099", "UNKNOWN", None, None, None, None, 1, None),  # e06c, no report
        # (10-01, OF-0003): report quarantined (12 > 10) and no completion -> no row
        (D2, "OF-0001", "NORTE", 22, 20, 20 / 22, 8.0, 1, 1 / 8),  # e11c
        (D2, "OF-0002", "SUR", 12, 9, 0.75, 6.0, 1, 1 / 6),  # e09c
        (D2, "OF-0003", "CENTRO", 14, 13, 13 / 14, 7.0, 2, 2 / 7),  # rev1 report; e04c (00:20 UTC) + e10c
        (D2, "OF-0004", "NORTE", 16, 14, 0.875, 8.0, 1, 1 / 8),  # NORTE at 00:00; e07c
        (D3, "OF-0001", "NORTE", 18, 17, 17 / 18, 8.0, 0, 0.0),  # Excel row, no completion: 0/8
        (D3, "OF-0003", "CENTRO", None, None, None, None, 1, None),  # e14c, no report
        (D3, "OF-0004", "CENTRO", 15, 15, 1.0, 6.0, 1, 1 / 6),  # Excel row with a date cell; e12c
    ]


def expected_fct_enrollments(late: bool) -> list[tuple]:
    def t(text: str | None) -> datetime | None:
        return utc(text) if text else None

    rows = [
        ("E01", "OF-0001", "NORTE", "office", t("2026-10-01 09:00"), t("2026-10-01 09:30"), None, "completed", 30.0),
        ("E02", "OF-0001", "NORTE", "web", t("2026-10-01 10:00"), None, t("2026-10-01 10:20"), "cancelled", None),
        # 11:00+02:00 -> 12:45+02:00 = 09:00 -> 10:45 UTC: 105 minutes
        ("E03", "OF-0002", "SUR", "office", t("2026-10-01 09:00"), t("2026-10-01 10:45"), None, "completed", 105.0),
        # 18:50-05:00 -> 19:20-05:00 = 23:50 -> 00:20 UTC next day: 30 minutes
        ("E04", "OF-0003", "CENTRO", "mobile", t("2026-10-01 23:50"), t("2026-10-02 00:20"), None, "completed", 30.0),
        # 01:10+02:00 -> 01:40+02:00 on 10-02 = 23:10 -> 23:40 UTC on 10-01
        ("E05", "OF-0004", "NORTE", "office", t("2026-10-01 23:10"), t("2026-10-01 23:40"), None, "completed", 30.0),
        ("E06", "OF-0099", "UNKNOWN", "office", t("2026-10-01 14:00"), t("2026-10-01 14:50"), None, "completed", 50.0),
        # region at its start (11:00, before the move): NORTE; 11:00 -> 13:00 = 120 minutes
        ("E07", "OF-0004", "NORTE", "office", t("2026-10-02 11:00"), t("2026-10-02 13:00"), None, "completed", 120.0),
        ("E08", "OF-0001", "NORTE", "mobile", t("2026-10-02 08:00"), None, None, "in_progress", None),
        ("E09", "OF-0002", "SUR", "web", t("2026-10-02 09:00"), t("2026-10-02 09:10"), None, "completed", 10.0),
        # its start was quarantined: completed, no duration, office from the completed event
        ("E10", "OF-0003", "CENTRO", "office", None, t("2026-10-02 10:40"), None, "completed", None),
        ("E11", "OF-0001", "NORTE", "office", t("2026-10-02 15:00"), t("2026-10-02 15:20"), None, "completed", 20.0),
        ("E12", "OF-0004", "CENTRO", "office", t("2026-10-03 09:00"), t("2026-10-03 09:45"), None, "completed", 45.0),
        ("E13", "OF-0002", "SUR", "office", t("2026-10-03 10:00"), None, t("2026-10-03 10:05"), "cancelled", None),
        ("E14", "OF-0003", "CENTRO", "web", t("2026-10-03 12:00"), t("2026-10-03 12:15"), None, "completed", 15.0),
        # E97 (2099) and E98 (bad id, fax) were quarantined: no row
    ]
    if late:
        # 15:00 UTC -> 17:30+02:00 = 15:30 UTC: 30 minutes
        rows.append(("E15", "OF-0002", "SUR", "office", t("2026-10-01 15:00"), t("2026-10-01 15:30"), None,
                     "completed", 30.0))
    return rows


def assert_table(spark: SparkSession, actual: DataFrame, rows: list[tuple], ddl: str) -> None:
    expected = spark.createDataFrame(rows, ddl)
    assert_approx_df_equality(actual.select(*expected.columns), expected, 1e-9,
                              ignore_nullable=True, ignore_row_order=True)
    assert actual.columns == expected.columns


@pytest.mark.slow
# --- the tests ----------------------------------------------------------------------------

def _file_position(source: str) -> str:
    return source.rsplit("/", 1)[-1]


@pytest.mark.slow
def test_every_run_succeeds_and_the_rerun_reports_no_change(spark: SparkSession, scenario: Scenario) -> None:
    assert [scenario.stages[s].code for s in STAGES] == [0, 0, 0, 0]
    runs = delta.read(spark, scenario.root, "ops.pipeline_runs").where(F.col("step").isin("ingest", "silver", "gold"))
    by_run = sorted(
        (r["started"], r["run_id"], r["statuses"])
        for r in runs.groupBy("run_id").agg(F.min("started_at").alias("started"),
                                            F.sort_array(F.collect_list(F.struct("step", "status")))
                                            .alias("statuses")).collect()
    )
    assert len(by_run) == 4
    statuses = [{s["step"]: s["status"] for s in run[2]} for run in by_run]
    assert statuses[0] == {"ingest": "succeeded", "silver": "succeeded", "gold": "succeeded"}
    assert statuses[1] == {"ingest": "succeeded", "silver": "succeeded", "gold": "succeeded"}
    assert statuses[2] == {"ingest": "no_change", "silver": "no_change", "gold": "no_change"}
    assert statuses[3] == {"ingest": "succeeded", "silver": "succeeded", "gold": "succeeded"}


@pytest.mark.slow
@pytest.mark.parametrize("table, expected, ddl", [
    ("gold.kpi_enrollments_daily", expected_kpi_enrollments, KPI_ENROLLMENTS),
    ("gold.kpi_validation_times_daily", expected_kpi_times, KPI_TIMES),
    ("gold.kpi_office_daily", expected_kpi_office, KPI_OFFICE),
    ("gold.fct_enrollments", expected_fct_enrollments, FCT_ENROLLMENTS),
])
def test_gold_tables_match_the_hand_worked_values(spark: SparkSession, scenario: Scenario, table: str,
                                                  expected: Any, ddl: str) -> None:
    assert_table(spark, scenario.at(spark, table, "moved"), expected(late=False), ddl)


@pytest.mark.slow
def test_office_move_is_history_and_regions_follow_it(spark: SparkSession, scenario: Scenario) -> None:
    # before the move was captured, every OF-0004 event counted in NORTE
    first = {(r["date"], r["region"], r["channel"]): tuple(r[3:])
             for r in scenario.at(spark, "gold.kpi_enrollments_daily", "first").collect()}
    assert first[(D2, "NORTE", "office")] == (2, 2, 0, 1.0)  # e07s, e11s; e07c, e11c
    assert first[(D2, "CENTRO", "office")] == (0, 1, 0, None)  # e10c only
    assert first[(D3, "NORTE", "office")] == (1, 1, 0, 1.0)  # E12
    assert (D3, "CENTRO", "office") not in first

    bronze = scenario.at(spark, "bronze.offices", "moved").where("office_id = 'OF-0004'")
    assert sorted(r["region"] for r in bronze.collect()) == ["CENTRO", "NORTE"]
    assert scenario.at(spark, "bronze.offices", "moved").count() == 5  # 4 first versions + 1 change
    assert scenario.at(spark, "bronze.operators", "moved").count() == 4

    dim = scenario.at(spark, "gold.dim_office", "moved").select(
        "office_key", "office_id", "region", "district", "valid_from", "valid_to", "is_current")
    v1, moved = utc("2026-09-01 00:00"), utc("2026-10-02 12:00")
    assert_approx_df_equality(
        dim,
        spark.createDataFrame(
            [
                ("OF-0001@2026-09-01T00:00:00.000000", "OF-0001", "NORTE", "D-N1", v1, None, True),
                ("OF-0002@2026-10-01T10:00:00.000000", "OF-0002", "SUR", "D-S1", utc("2026-10-01 10:00"), None,
                 True),
                ("OF-0003@2026-09-01T00:00:00.000000", "OF-0003", "CENTRO", "D-C1", v1, None, True),
                ("OF-0004@2026-09-01T00:00:00.000000", "OF-0004", "NORTE", "D-N2", v1, moved, False),
                ("OF-0004@2026-10-02T12:00:00.000000", "OF-0004", "CENTRO", "D-C2", moved, None, True),
                ("UNKNOWN", "UNKNOWN", "UNKNOWN", "UNKNOWN", None, None, True),
            ],
            "office_key string, office_id string, region string, district string, valid_from timestamp, "
            "valid_to timestamp, is_current boolean",
        ),
        1e-9, ignore_nullable=True, ignore_row_order=True,
    )


@pytest.mark.slow
def test_quarantine_holds_exactly_the_bad_records(spark: SparkSession, scenario: Scenario) -> None:
    def held(name: str) -> list[tuple[str, tuple[str, ...]]]:
        rows = scenario.at(spark, name, "moved").collect()
        return sorted((_file_position(r["_source"]), tuple(r["_failed_rules"])) for r in rows)

    assert held("quarantine.enrollment_events") == [
        ("events-2026-10-01.jsonl:13", ("finished_after_started",)),
        ("events-2026-10-01.jsonl:18", ("record_parseable",)),
        ("events-2026-10-01.jsonl:19", ("event_id_is_uuid", "channel_known")),
        ("events-2026-10-02.jsonl:10", ("national_id_format",)),
        ("events-2026-10-02.jsonl:20", ("event_time_not_future",)),
    ]
    assert held("quarantine.office_reports") == [
        ("office_reports-2026-10-01.csv:4", ("attended_not_above_scheduled",)),
        ("office_reports-2026-10-01.csv:5", ("record_parseable",)),
    ]
    assert held("quarantine.device_logs") == [("devices-2026-10-01.jsonl:3", ("record_parseable",))]
    # the raw payload is kept, as it arrived
    raw = {_file_position(r["_source"]): r["_raw"]
           for r in scenario.at(spark, "quarantine.enrollment_events", "moved").collect()}
    assert raw["events-2026-10-01.jsonl:18"] == EVENTS_DAY1[17]
    assert raw["events-2026-10-02.jsonl:10"] == EVENTS_DAY2[9]
    # the late delivery brought no bad record: the quarantine is as it was
    assert scenario.stages["late"].rows["quarantine.enrollment_events"] == \
        scenario.stages["moved"].rows["quarantine.enrollment_events"]


@pytest.mark.slow
def test_silver_holds_each_valid_event_once_and_every_record_is_accounted_for(
        spark: SparkSession, scenario: Scenario) -> None:
    silver = scenario.at(spark, "silver.enrollment_events", "moved")
    ids = [r["event_id"] for r in silver.select("event_id").collect()]
    assert sorted(ids) == sorted(eid(label) for label in VALID_LABELS)  # each once, duplicate included
    assert len(VALID_LABELS) == 43  # 17 from day 1, 18 from day 2, 8 from day 3
    validations = scenario.at(spark, "silver.biometric_validations", "moved")
    assert validations.count() == 17  # V01..V18 without the quarantined V10
    durations = {r["validation_id"]: r["duration_ms"] for r in validations.collect()}
    assert (durations["V04"], durations["V07"], durations["V14"], durations["V05"]) == (2300, 1950, 1100, 9000)

    # the duplicate keeps its first arrival: same batch, so the smaller source position (day-2 file)
    first_copy = silver.where(F.col("event_id") == eid("e11s")).first()
    assert _file_position(first_copy["_source"]) == "events-2026-10-02.jsonl:18"

    # records in = silver + quarantine + duplicates: 49 lines = 43 + 5 + 1 ...
    def count(name: str, stage: str) -> int:
        return scenario.at(spark, name, stage).count()

    assert (count("bronze.enrollment_events", "moved"), count("silver.enrollment_events", "moved"),
            count("quarantine.enrollment_events", "moved")) == (49, 43, 5)
    # the one line in neither is the second copy of e11s: the valid bronze rows hold it twice
    quarantined = scenario.at(spark, "quarantine.enrollment_events", "moved").select("_source")
    kept = scenario.at(spark, "bronze.enrollment_events", "moved").join(quarantined, "_source", how="left_anti")
    copies = kept.groupBy("event_id").agg(F.count("*").alias("copies")).where("copies > 1").collect()
    assert [(r["event_id"], r["copies"]) for r in copies] == [(eid("e11s"), 2)]
    # ... and after the late file (4 lines: 3 new events + the re-sent e01s): 53 = 46 + 5 + 2
    assert (count("bronze.enrollment_events", "late"), count("silver.enrollment_events", "late"),
            count("quarantine.enrollment_events", "late")) == (53, 46, 5)
    late_ids = {r["event_id"] for r in scenario.at(spark, "silver.enrollment_events", "late").collect()}
    assert late_ids == {eid(label) for label in VALID_LABELS + LATE_LABELS}
    # the run metrics count the two duplicates dropped
    totals = (delta.read(spark, scenario.root, "ops.quality_metrics")
              .where("table_name = 'silver.enrollment_events' AND rule = '*'")
              .agg(F.sum("passed"), F.sum("failed"), F.sum("duplicates_dropped")).first())
    assert tuple(totals) == (46, 5, 2)


@pytest.mark.slow
def test_silver_office_reports_latest_file_wins(spark: SparkSession, scenario: Scenario) -> None:
    rows = sorted(
        (r["report_date"], r["office_id"], r["staffed_hours"], r["appointments_scheduled"],
         r["appointments_attended"], _file_position(r["_source"]))
        for r in scenario.at(spark, "silver.office_reports", "moved").collect()
    )
    assert rows == [
        (D1, "OF-0001", 8.0, 20, 18, "office_reports-2026-10-01.csv:2"),
        (D1, "OF-0002", 7.5, 16, 12, "office_reports-2026-10-01.csv:3"),
        (D2, "OF-0001", 8.0, 22, 20, "office_reports-2026-10-02.csv:2"),
        (D2, "OF-0002", 6.0, 12, 9, "office_reports-2026-10-02.csv:3"),
        (D2, "OF-0003", 7.0, 14, 13, "office_reports-2026-10-02-rev1.csv:2"),  # replaced 8 h, 10 attended
        (D2, "OF-0004", 8.0, 16, 14, "office_reports-2026-10-02.csv:5"),
        (D3, "OF-0001", 8.0, 18, 17, "office_reports-2026-10-03.xlsx:3"),
        (D3, "OF-0004", 6.0, 15, 15, "office_reports-2026-10-03.xlsx:2"),
    ]
    # before the replacement landed, the first file's figures stood
    before = scenario.at(spark, "silver.office_reports", "first").where(
        "report_date = DATE'2026-10-02' AND office_id = 'OF-0003'").first()
    assert (before["staffed_hours"], before["appointments_attended"]) == (8.0, 10)


@pytest.mark.slow
def test_device_logs_and_documents(spark: SparkSession, scenario: Scenario) -> None:
    logs = sorted((r["device_id"], r["log_date"], r["level"])
                  for r in scenario.at(spark, "silver.device_logs", "moved").collect())
    assert logs == [("DEV-01", D1, "INFO"), ("DEV-02", D1, "WARN")]  # 01:15+02:00 = 23:15 UTC on 10-01
    docs = scenario.at(spark, "silver.documents", "moved").collect()
    assert [(_file_position(d["path"]), d["size"], d["content_type"], d["sha256"]) for d in docs] == [
        ("scan-0001.pdf", len(DOCUMENT), "application/pdf", hashlib.sha256(DOCUMENT).hexdigest())]


@pytest.mark.slow
def test_no_raw_personal_data_in_silver_or_gold(spark: SparkSession, scenario: Scenario) -> None:
    personal = {"national_id", "full_name", "birth_date"}
    raw_values = {v for citizen in CITIZENS.values() for v in citizen} | {"4071823"}
    for layer in ("silver", "gold"):
        for t in tables_in(layer):
            frame = scenario.at(spark, t.full_name, "late")
            assert not personal & set(frame.columns), t.full_name
            strings = [f.name for f in frame.schema.fields if f.dataType.simpleString() == "string"]
            seen = {v for r in frame.select(*strings).collect() for v in r if v is not None}
            assert not seen & raw_values, t.full_name
    # citizen_key = HMAC-SHA256 of the national id under the key file the run created
    key = (Path(scenario.root) / "_secrets" / "citizen_hmac.key").read_text().strip().encode()
    row = scenario.at(spark, "silver.enrollment_events", "moved").where(F.col("event_id") == eid("e01s")).first()
    national_id, _, birth = CITIZENS["E01"]
    assert row["citizen_key"] == hmac.new(key, national_id.encode(), hashlib.sha256).hexdigest()
    assert row["birth_year"] == int(birth[:4])


@pytest.mark.slow
def test_a_run_with_no_new_input_changes_no_table(scenario: Scenario) -> None:
    moved, rerun = scenario.stages["moved"], scenario.stages["rerun"]
    assert len(CHECKED_TABLES) == 23  # 6 bronze, 3 quarantine, 6 silver, 8 gold (with gold.alerts)
    assert all(v is not None for v in moved.versions.values())
    changed_versions = [t for t in CHECKED_TABLES if moved.versions[t] != rerun.versions[t]]
    changed_rows = [t for t in CHECKED_TABLES if moved.rows[t] != rerun.rows[t]]
    assert changed_versions == [] and changed_rows == []


def _last_merge(spark: SparkSession, root: str, name: str) -> tuple[str, dict[str, str]]:
    row = DeltaTable.forPath(spark, delta.path(root, name)).history(1).select("operation", "operationMetrics").first()
    return row["operation"], dict(row["operationMetrics"])


@pytest.mark.slow
def test_late_events_change_only_the_rows_of_their_date(spark: SparkSession, scenario: Scenario) -> None:
    rerun, late = scenario.stages["rerun"], scenario.stages["late"]
    changed = sorted(t for t in CHECKED_TABLES if rerun.versions[t] != late.versions[t])
    assert changed == sorted([
        "bronze.enrollment_events", "silver.enrollment_events", "silver.biometric_validations",
        "gold.fct_enrollments", "gold.fct_biometric_validations", "gold.kpi_enrollments_daily",
        "gold.kpi_validation_times_daily", "gold.kpi_office_daily",
    ])
    assert_table(spark, scenario.at(spark, "gold.kpi_enrollments_daily", "late"),
                 expected_kpi_enrollments(late=True), KPI_ENROLLMENTS)
    assert_table(spark, scenario.at(spark, "gold.kpi_validation_times_daily", "late"),
                 expected_kpi_times(late=True), KPI_TIMES)
    assert_table(spark, scenario.at(spark, "gold.kpi_office_daily", "late"),
                 expected_kpi_office(late=True), KPI_OFFICE)
    assert_table(spark, scenario.at(spark, "gold.fct_enrollments", "late"),
                 expected_fct_enrollments(late=True), FCT_ENROLLMENTS)

    # rows of the other dates are the very same rows; on 10-01 exactly one KPI row per table moved
    for name, key in (("gold.kpi_enrollments_daily", (D1, "SUR", "office")),
                      ("gold.kpi_validation_times_daily", (D1, "NORTE", "fingerprint")),
                      ("gold.kpi_office_daily", (D1, "OF-0002"))):
        before = {tuple(r) for r in scenario.at(spark, name, "rerun").collect()}
        after = {tuple(r) for r in scenario.at(spark, name, "late").collect()}
        assert {r for r in before if r[0] != D1} == {r for r in after if r[0] != D1}, name
        assert [r[:len(key)] for r in before - after] == [key], name
        assert [r[:len(key)] for r in after - before] == [key], name
        assert late.versions[name] == (rerun.versions[name] or 0) + 1, name
        operation, metrics = _last_merge(spark, scenario.root, name)
        assert operation == "MERGE", name
        assert (metrics["numTargetRowsUpdated"], metrics["numTargetRowsInserted"],
                metrics["numTargetRowsDeleted"]) == ("1", "0", "0"), name


@pytest.mark.slow
def test_gold_reaches_glue_postgresql_and_the_dashboard_once(spark: SparkSession, scenario: Scenario,
                                                             local_aws: Any) -> None:
    """`lakehouse publish`, `export` and `dashboard` on the scenario's gold; a second round changes nothing."""
    import boto3

    from lakehouse.aws.clients import LOCAL_CREDENTIALS

    suffix = uuid.uuid4().hex[:8]
    common = ["--root", scenario.root, "--set", f"aws.endpoint_url={local_aws.url}",
              "--set", f"catalog.silver_database=silver_{suffix}", "--set", f"catalog.gold_database=gold_{suffix}"]
    for _ in range(2):
        assert [main([*common, command]) for command in ("publish", "export", "dashboard")] == [0, 0, 0]

    glue = boto3.client("glue", endpoint_url=local_aws.url, region_name="us-east-1", **LOCAL_CREDENTIALS)
    published = {t["Name"]: t for t in glue.get_tables(DatabaseName=f"gold_{suffix}")["TableList"]}
    assert set(published) == {t.name for t in tables_in("gold")}
    columns = [(c["Name"], c["Type"]) for c in published["kpi_enrollments_daily"]["StorageDescriptor"]["Columns"]]
    assert columns == [("date", "date"), ("region", "string"), ("channel", "string"),
                       ("enrollments_started", "bigint"), ("enrollments_completed", "bigint"),
                       ("enrollments_cancelled", "bigint"), ("completion_rate", "double")]

    config = load_config("local", {"storage.root": scenario.root})
    with app.export_database(config) as endpoint, connect(endpoint) as conn:
        exported = conn.execute("SELECT date, region, channel, enrollments_started, enrollments_completed, "
                                "enrollments_cancelled, completion_rate FROM gold.kpi_enrollments_daily").fetchall()
    assert sorted(exported, key=repr) == sorted(expected_kpi_enrollments(late=True), key=repr)

    runs = (delta.read(spark, scenario.root, "ops.pipeline_runs").where(F.col("step").isin("publish", "export"))
            .orderBy("started_at").select("step", "status").collect())
    assert [(r["step"], r["status"]) for r in runs] == [
        ("publish", "succeeded"), ("export", "succeeded"), ("publish", "no_change"), ("export", "no_change")]
    page = (Path(scenario.root) / "dashboard" / "index.html").read_text()
    assert 'data-chart="enrollments_by_region" data-state="ok"' in page
