"""The synthetic data generator: determinism, layout, the event contract, planted cases, parts, registry.

Expectations are re-derived from the files with the contract's rules written out again here, never
taken from the generator's own bookkeeping alone.
"""
from __future__ import annotations

import csv
import json
import re
import secrets
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from lakehouse.config import DatagenConfig
from lakehouse.datagen import PLANTED_KEYS, GenerationSummary, generate

SETTINGS = DatagenConfig(seed=11, days=6, offices=10, enrollments=3200, start_date="2026-10-01")
TINY = DatagenConfig(seed=3, days=2, offices=4, enrollments=20, start_date="2026-10-01")
START = datetime(2026, 10, 1, tzinfo=UTC)
HEADER = ["report_date", "office_id", "staffed_hours", "appointments_scheduled", "appointments_attended", "notes"]
EVENT_KEYS = ["event_id", "event_type", "event_time", "schema_version", "enrollment_id", "national_id",
              "full_name", "birth_date", "office_id", "channel", "operator_id", "validation"]
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$")
NAME_DATE = re.compile(r"(\d{4}-\d\d-\d\d)")


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def file_date(name: str) -> str:
    found = NAME_DATE.search(name)
    assert found, name
    return found.group(1)


def event_lines(root: Path) -> list[tuple[str, int, str]]:
    return [(p.relative_to(root).as_posix(), number, line)
            for p in sorted((root / "events").glob("*.jsonl"))
            for number, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1)]


def failed_rules(event: dict[str, Any]) -> set[str]:
    """The silver quality rules of DESIGN.md, written out independently of the generator."""
    failed = set()
    try:
        uuid.UUID(str(event.get("event_id")))
    except ValueError:
        failed.add("event_id_is_uuid")
    kinds = {"enrollment_started", "enrollment_completed", "enrollment_cancelled", "biometric_validation"}
    if event.get("event_type") not in kinds:
        failed.add("event_type_known")
    if not re.fullmatch(r"\d{8}", str(event.get("national_id"))):
        failed.add("national_id_format")
    if event.get("channel") not in {"web", "mobile", "office"}:
        failed.add("channel_known")
    if not event.get("office_id"):
        failed.add("office_id_present")
    if event.get("event_type") == "biometric_validation":
        body = event.get("validation")
        if not isinstance(body, dict):
            failed.add("validation_present")
        else:
            if body["modality"] not in {"fingerprint", "face", "iris"}:
                failed.add("modality_known")
            if body["result"] not in {"match", "no_match", "error"}:
                failed.add("result_known")
            score = body["score"]
            if (score is None) != (body["result"] == "error") or (score is not None and not 0 <= score <= 1):
                failed.add("score_in_range")
            if parse_time(body["finished_at"]) < parse_time(body["started_at"]):
                failed.add("finished_after_started")
    return failed


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationSummary]:
    root = tmp_path_factory.mktemp("landing")
    return root, generate(root, SETTINGS)


def test_same_settings_give_byte_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", SETTINGS)
    second = generate(tmp_path / "b", SETTINGS)
    other = generate(tmp_path / "c", DatagenConfig(12, 6, 10, 3200, "2026-10-01"))

    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    assert first == second
    assert tree(tmp_path / "a") != tree(tmp_path / "c")
    assert first.expected_valid_event_ids != other.expected_valid_event_ids


def test_rerun_rewrites_nothing(tmp_path: Path) -> None:
    generate(tmp_path, TINY)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}
    generate(tmp_path, TINY)
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


def test_layout(landed: tuple[Path, GenerationSummary]) -> None:
    root, summary = landed
    on_disk = tree(root)
    assert {path.split("/")[0] for path in on_disk} == {"events", "office_reports", "device_logs", "documents"}
    assert sorted(on_disk) == sorted(p for paths in summary.files.values() for p in paths)
    assert all(re.fullmatch(r"events/events-\d{4}-\d\d-\d\d-\d{3}\.jsonl", p) for p in summary.files["events"])
    assert len({file_date(p) for p in summary.files["events"]}) == SETTINGS.days
    assert summary.events_written == len(event_lines(root))
    # Sorting the names sorts by day, and a correction sorts right after the original it replaces.
    reports = sorted(p for p in summary.files["office_reports"] if p.endswith(".csv"))
    revisions = [p for p in reports if "_rev1" in p]
    assert revisions
    for rev in revisions:
        original = rev.replace("_rev1", "")
        assert reports.index(rev) == reports.index(original) + 1
    for kind in ("events", "device_logs"):
        names = summary.files[kind]
        assert [file_date(p) for p in sorted(names)] == sorted(file_date(p) for p in names)
    documents = summary.files["documents"]
    assert any(p.endswith(".png") for p in documents) and any(p.endswith(".pdf") for p in documents)
    for path in documents:
        assert re.fullmatch(r"documents/\d{4}/\d\d/OF-\d{4}/scan-\d{4}\.(png|pdf)", path)
        magic = b"\x89PNG\r\n\x1a\n" if path.endswith(".png") else b"%PDF-"
        assert on_disk[path].startswith(magic)
        assert on_disk[path].rstrip().endswith(b"%%EOF") or path.endswith(".png")


def test_office_reports_have_one_row_per_office_per_day(landed: tuple[Path, GenerationSummary]) -> None:
    root, summary = landed
    seen: Counter[tuple[str, str]] = Counter()
    xlsx = [p for p in summary.files["office_reports"] if p.endswith(".xlsx")]
    assert xlsx
    for path in xlsx:
        book = openpyxl.load_workbook(root / path)
        assert len(book.sheetnames) == 1
        rows = list(book.active.iter_rows(values_only=True))
        assert list(rows[0]) == HEADER
        for row in rows[1:]:
            assert row[0] == file_date(path)
            seen[(row[0], row[1])] += 1
    for path in summary.files["office_reports"]:
        if path.endswith(".csv") and "_rev1" not in path:
            rows = list(csv.reader((root / path).read_text().splitlines()))
            assert rows[0] == HEADER
            for row in rows[1:]:
                seen[(file_date(path), row[1])] += 1
    days = [(START + timedelta(days=d)).date().isoformat() for d in range(SETTINGS.days)]
    offices = [f"OF-{n:04d}" for n in range(1, SETTINGS.offices + 1)]
    assert seen == Counter({(day, office): 1 for day in days for office in offices})


def test_every_event_line_is_planted_malformed_or_follows_the_contract(
        landed: tuple[Path, GenerationSummary]) -> None:
    root, summary = landed
    planted = summary.planted
    malformed = set(planted["malformed_event_lines"])
    extra_field = set(planted["unknown_extra_field"])
    unknown_office = set(planted["unknown_office"])
    valid: set[str] = set()
    by_rule: dict[str, set[str]] = {}
    not_json = set()
    moved = planted["moved_office"][0]
    moved_times = []
    offsets: Counter[str] = Counter()
    for path, number, line in event_lines(root):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            not_json.add((path, number))
            continue
        assert isinstance(event, dict)
        event_id = event["event_id"]
        expected_keys = EVENT_KEYS + (["producer_version"] if event_id in extra_field else [])
        assert list(event) == expected_keys
        shape = TIME_RE.match(event["event_time"])
        assert shape and event["schema_version"] == 1
        offsets[shape.group(1)] += 1
        assert uuid.UUID(event["enrollment_id"]) and event["full_name"] and event["birth_date"]
        assert (event["office_id"] == "OF-9999") == (event_id in unknown_office)
        assert (event["operator_id"] is not None) == (event["channel"] == "office")
        if event["event_type"] == "biometric_validation":
            assert TIME_RE.match(event["validation"]["started_at"])
        else:
            assert event["validation"] is None
        if event["office_id"] == moved.office_id:
            moved_times.append(parse_time(event["event_time"]))
        rules = failed_rules(event)
        if not rules:
            valid.add(event_id)
        for rule in rules:
            by_rule.setdefault(rule, set()).add(event_id)
    assert not_json == malformed
    assert valid == summary.expected_valid_event_ids
    assert by_rule == {
        "national_id_format": set(planted["invalid_national_id"]),
        "event_type_known": set(planted["unknown_event_type"]),
        "finished_after_started": set(planted["finished_before_started"]),
        "score_in_range": set(planted["score_out_of_range"]),
    }
    assert min(moved_times) < moved.changed_at < max(moved_times)
    assert offsets["Z"] > 0 and offsets["+02:00"] + offsets["-05:00"] > 0


def test_planted_event_cases_are_in_the_files(landed: tuple[Path, GenerationSummary]) -> None:
    root, summary = landed
    planted = summary.planted
    lines_of: dict[str, list[tuple[str, int, str]]] = {}
    lines_by_position: dict[tuple[str, int], str] = {}  # event_time of each parseable line
    for path, number, line in event_lines(root):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        lines_of.setdefault(event["event_id"], []).append((path, number, line))
        lines_by_position[(path, number)] = event["event_time"]
    for key in PLANTED_KEYS:
        assert planted[key], f"nothing planted for {key}"
    half = (START + timedelta(days=SETTINGS.days // 2)).date().isoformat()

    def utc_day(line: str) -> str:
        return parse_time(json.loads(line)["event_time"]).astimezone(UTC).date().isoformat()

    for event_id in planted["duplicate_events"]:
        copies = lines_of[event_id]
        assert len(copies) == 2 and copies[0][2] == copies[1][2]
        assert file_date(copies[0][0]) < file_date(copies[1][0])
    assert any(utc_day(lines_of[e][0][2]) < half <= file_date(lines_of[e][1][0]) for e in planted["duplicate_events"])
    for event_id in planted["late_events"]:
        [(path, _, line)] = lines_of[event_id]
        assert utc_day(line) < file_date(path)
    assert any(utc_day(lines_of[e][0][2]) < half <= file_date(lines_of[e][0][0]) for e in planted["late_events"])
    for event_id in planted["out_of_order_events"]:
        [(path, number, line)] = lines_of[event_id]
        before = [parse_time(lines_by_position[(path, n)]) for n in range(1, number)
                  if (path, n) in lines_by_position]
        assert max(before) > parse_time(json.loads(line)["event_time"])
    # Other events sit in their own day's file, once.
    special = {e for key in ("duplicate_events", "late_events") for e in planted[key]}
    for event_id, copies in lines_of.items():
        if event_id not in special:
            assert len(copies) == 1 and utc_day(copies[0][2]) == file_date(copies[0][0])
    invalid_ids = [json.loads(lines_of[e][0][2])["national_id"] for e in planted["invalid_national_id"]]
    assert all(len(n) == 7 or not n.isdigit() for n in invalid_ids)
    assert all(json.loads(lines_of[e][0][2])["validation"]["score"] == 1.7 for e in planted["score_out_of_range"])
    # Each case is in exactly one category.
    event_keys = [k for k in PLANTED_KEYS if planted[k] and isinstance(planted[k][0], str)]
    counted = Counter(e for k in event_keys for e in set(planted[k]))
    assert counted and max(counted.values()) == 1


def test_planted_report_and_log_cases_are_in_the_files(landed: tuple[Path, GenerationSummary]) -> None:
    root, summary = landed
    planted = summary.planted

    def row(ref: Any) -> list[str]:
        return next(csv.reader([(root / ref.file).read_text().splitlines()[ref.line - 1]]))

    assert all(len(row(ref)) < 6 for ref in planted["short_csv_rows"])
    assert all(len(row(ref)) > 6 for ref in planted["long_csv_rows"])
    for ref in planted["negative_counts"]:
        cells = row(ref)
        assert cells[:2] == [ref.report_date, ref.office_id] and min(int(cells[3]), int(cells[4])) < 0
    for ref in planted["attended_above_scheduled"]:
        cells = row(ref)
        assert cells[:2] == [ref.report_date, ref.office_id] and int(cells[4]) > int(cells[3]) >= 0
    for report_date, office_id in planted["replaced_reports"]:
        original = root / f"office_reports/office_reports-{report_date}.csv"
        revision = root / f"office_reports/office_reports-{report_date}_rev1.csv"
        old = [r for r in csv.reader(original.read_text().splitlines()) if r[1] == office_id]
        new = [r for r in csv.reader(revision.read_text().splitlines()) if r[1] == office_id]
        assert len(old) == len(new) == 1 and old[0][2:5] != new[0][2:5]
        assert 0 <= int(new[0][4]) <= int(new[0][3])
    bad_logs = set(planted["malformed_log_lines"])
    for path in summary.files["device_logs"]:
        for number, line in enumerate((root / path).read_text().splitlines(), start=1):
            if (path, number) in bad_logs:
                with pytest.raises(json.JSONDecodeError):
                    json.loads(line)
            else:
                assert list(json.loads(line)) == ["device_id", "office_id", "ts", "level", "message", "firmware"]


def test_part_1_then_part_2_equals_all(tmp_path: Path, landed: tuple[Path, GenerationSummary]) -> None:
    all_root, everything = landed
    first = generate(tmp_path, SETTINGS, part="1")
    assert first.files["events"] and all(file_date(p) < "2026-10-04" for ps in first.files.values() for p in ps
                                         if not p.startswith("documents/"))
    assert first.planted["moved_office"] == []
    second = generate(tmp_path, SETTINGS, part="2")
    assert all(file_date(p) >= "2026-10-04" for p in second.files["events"])
    assert tree(tmp_path) == tree(all_root)
    for kind, paths in everything.files.items():
        assert sorted(first.files[kind] + second.files[kind]) == paths
    for key in PLANTED_KEYS:
        assert Counter(first.planted[key] + second.planted[key]) == Counter(everything.planted[key]), key
    assert first.expected_valid_event_ids | second.expected_valid_event_ids == everything.expected_valid_event_ids
    assert first.events_written + second.events_written == everything.events_written


def test_tiny_settings_still_plant_every_case(tmp_path: Path) -> None:
    summary = generate(tmp_path, TINY)
    assert [key for key in PLANTED_KEYS if not summary.planted[key]] == []


def test_rejects_an_unknown_part_and_settings_too_small(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="part"):
        generate(tmp_path, TINY, part="3")
    with pytest.raises(ValueError, match="days >= 2"):
        generate(tmp_path, DatagenConfig(1, 1, 4, 20, "2026-10-01"))
    assert not any(tmp_path.iterdir())


def _snapshot(endpoint: Any) -> dict[str, list[tuple[Any, ...]]]:
    from lakehouse.sources.postgres import connect

    with connect(endpoint) as conn:
        return {
            "offices": conn.execute("SELECT office_id, name, region, district, opened_on, updated_at, xmin::text "
                                    "FROM offices ORDER BY office_id").fetchall(),
            "operators": conn.execute("SELECT operator_id, office_id, full_name, role, updated_at, xmin::text "
                                      "FROM operators ORDER BY operator_id").fetchall(),
        }


def test_registry_rows_and_the_office_that_moves(tmp_path: Path) -> None:
    from lakehouse.local.postgres import EmbeddedPostgres

    server = EmbeddedPostgres(str(tmp_path / "pg"), "registry", "lakehouse", secrets.token_hex(16), secrets.token_hex(16))
    endpoint = server.start()
    try:
        first = generate(tmp_path / "landing", SETTINGS, part="1", registry=endpoint)
        assert first.registry_written
        before = _snapshot(endpoint)
        offices = {row[0]: row for row in before["offices"]}
        assert sorted(offices) == [f"OF-{n:04d}" for n in range(1, SETTINGS.offices + 1)]
        assert 4 <= len({row[2] for row in offices.values()}) <= 6
        assert all(row[5] < START for row in before["offices"])
        assert all(row[4] < START for row in before["operators"])
        operators = before["operators"]
        assert 2 * SETTINGS.offices <= len(operators) <= 4 * SETTINGS.offices
        assert [row[0] for row in operators] == [f"OP-{n:05d}" for n in range(1, len(operators) + 1)]
        assert {row[1] for row in operators} == set(offices)

        generate(tmp_path / "landing", SETTINGS, part="1", registry=endpoint)
        assert _snapshot(endpoint) == before  # xmin too: no row was rewritten

        second = generate(tmp_path / "landing", SETTINGS, part="2", registry=endpoint)
        [moved] = second.planted["moved_office"]
        [changed] = second.planted["changed_operator"]
        assert offices[moved.office_id][2] == moved.old_region != moved.new_region
        after = _snapshot(endpoint)
        moved_row = next(row for row in after["offices"] if row[0] == moved.office_id)
        assert moved_row[2] == moved.new_region and moved_row[5] == moved.changed_at
        assert START + timedelta(days=2) < moved.changed_at < START + timedelta(days=4)
        changed_row = next(row for row in after["operators"] if row[0] == changed.operator_id)
        assert changed_row[3] == "supervisor" and changed_row[4] == changed.changed_at
        untouched = [r for r in after["offices"] if r[0] != moved.office_id]
        assert untouched == [r for r in before["offices"] if r[0] != moved.office_id]

        generate(tmp_path / "landing", SETTINGS, part="2", registry=endpoint)
        assert _snapshot(endpoint) == after
    finally:
        server.stop()
