"""Every hard case the generator plants lands where DESIGN.md says; nothing is lost or counted twice.

Where each case is expected comes from the generator's own manifest of what it planted (it writes
the files, it does not run the pipeline), and the conservation law is checked per source:
records in (bronze) = silver + quarantine + duplicates dropped.

Gold follows the second half incrementally (late events for dates it has, duplicates, an office
that moves region, a replaced report): after each half, gold as the run left it is compared row by
row with gold computed afresh from the whole of silver by the gold transforms (the full build's
functions, not the incremental path). tests/security/test_security_erasure.py does the same after
an erasure.
"""
from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from gold_checks import gold_mismatches
from month_lake import Month
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.datagen.generator import FAILED_RULE
from lakehouse.gold.facts import LIFECYCLE_EVENTS
from lakehouse.silver import office_reports
from lakehouse.storage import delta

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scenario(spark: SparkSession, month: Month) -> dict[str, Any]:
    """The session's month: gold and the office reports checked against a rebuild from silver
    (bronze) after each half, the first on the copy the month keeps of that moment (`pending`,
    whose second half is landed but not run)."""
    gold = {part: {"lines": half.gold_lines, "silver_lines": half.silver_lines, "ingest_run": half.ingest_run,
                   "mismatches": gold_mismatches(spark, root), "reports_mismatch": _reports_mismatch(spark, root)}
            for (part, half), root in zip(month.halves.items(), (month.pending, month.root), strict=True)}
    return {"root": month.root, "summaries": [h.summary for h in month.halves.values()], "gold": gold}


def _reports_mismatch(spark: SparkSession, root: str) -> int:
    """Rows in one of (silver.office_reports as stored, the reports rebuilt from all of bronze by the
    silver transforms) and not in the other."""
    bronze = delta.read(spark, root, "bronze.office_reports")
    want = office_reports.clean_office_reports(office_reports.validate_office_reports(bronze))
    have = delta.read(spark, root, "silver.office_reports")
    return want.exceptAll(have).count() + have.exceptAll(want).count()


def _planted(scenario: dict[str, Any], key: str) -> list[Any]:
    return [case for s in scenario["summaries"] for case in s.planted[key]]


def _table(spark: SparkSession, scenario: dict[str, Any], name: str):  # type: ignore[no-untyped-def]
    return delta.read(spark, scenario["root"], name)


def _quarantined_rules(spark: SparkSession, scenario: dict[str, Any], name: str) -> dict[str, list[str]]:
    rows = _table(spark, scenario, name).select("_source", "_failed_rules").collect()
    return {r["_source"]: list(r["_failed_rules"]) for r in rows}


def _by_suffix(quarantine: dict[str, list[str]], file: str, line: int) -> list[str]:
    # `_source` is the landing key and the line: `events/x.jsonl:43`
    matches = [rules for source, rules in quarantine.items() if source == f"{file}:{line}"]
    assert len(matches) == 1, f"{file}:{line} should be quarantined exactly once, found {len(matches)}"
    return matches[0]


def test_silver_holds_exactly_the_valid_event_ids(spark: SparkSession, scenario: dict[str, Any]) -> None:
    expected = set().union(*(s.expected_valid_event_ids for s in scenario["summaries"]))
    silver = _table(spark, scenario, "silver.enrollment_events")
    ids = [r["event_id"] for r in silver.select("event_id").collect()]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected


def test_duplicates_keep_the_first_arrival(spark: SparkSession, scenario: dict[str, Any]) -> None:
    duplicates = _planted(scenario, "duplicate_events")
    assert duplicates
    bronze = _table(spark, scenario, "bronze.enrollment_events").where(F.col("event_id").isin(duplicates))
    first = {r["event_id"]: r["first"] for r in bronze.groupBy("event_id").agg(
        F.min(F.struct("_ingested_at", "_source"))["_source"].alias("first"), F.count("*").alias("n")).collect()}
    silver = _table(spark, scenario, "silver.enrollment_events").where(F.col("event_id").isin(duplicates))
    assert {r["event_id"]: r["_source"] for r in silver.collect()} == first


@pytest.mark.parametrize("case", ["invalid_national_id", "unknown_event_type", "finished_before_started",
                                  "score_out_of_range"])
def test_invalid_events_are_quarantined_with_their_rule(spark: SparkSession, scenario: dict[str, Any],
                                                        case: str) -> None:
    ids = _planted(scenario, case)
    assert ids
    quarantine = _table(spark, scenario, "quarantine.enrollment_events").where(F.col("event_id").isin(ids))
    rules = {r["event_id"]: list(r["_failed_rules"]) for r in quarantine.collect()}
    assert set(rules) == set(ids)
    assert all(FAILED_RULE[case] in found for found in rules.values())
    assert _table(spark, scenario, "silver.enrollment_events").where(F.col("event_id").isin(ids)).isEmpty()


def test_malformed_lines_are_quarantined_as_unparseable(spark: SparkSession, scenario: dict[str, Any]) -> None:
    for key, table in (("malformed_event_lines", "quarantine.enrollment_events"),
                       ("malformed_log_lines", "quarantine.device_logs"),
                       ("short_csv_rows", "quarantine.office_reports"),
                       ("long_csv_rows", "quarantine.office_reports")):
        quarantine = _quarantined_rules(spark, scenario, table)
        cases = _planted(scenario, key)
        assert cases, key
        for ref in cases:
            assert _by_suffix(quarantine, ref.file, ref.line) == ["record_parseable"], (key, ref)


def test_report_rule_breaks_are_quarantined(spark: SparkSession, scenario: dict[str, Any]) -> None:
    quarantine = _quarantined_rules(spark, scenario, "quarantine.office_reports")
    for key, rule in (("negative_counts", "counts_non_negative"),
                      ("attended_above_scheduled", "attended_not_above_scheduled")):
        cases = _planted(scenario, key)
        assert cases, key
        for row in cases:
            assert rule in _by_suffix(quarantine, row.file, row.line), (key, row)


def test_a_replacement_report_wins(spark: SparkSession, scenario: dict[str, Any]) -> None:
    replaced = _planted(scenario, "replaced_reports")
    assert replaced
    silver = {(str(r["report_date"]), r["office_id"]): r["_source"]
              for r in _table(spark, scenario, "silver.office_reports").collect()}
    for report_date, office_id in replaced:
        assert "_rev1.csv:" in silver[(str(report_date), office_id)], (report_date, office_id)


@pytest.mark.parametrize("part", ["1", "2"])
def test_office_reports_rebuilt_where_reports_arrived_equal_a_rebuild_from_all_of_bronze(
        spark: SparkSession, scenario: dict[str, Any], part: str) -> None:
    assert scenario["gold"][part]["reports_mismatch"] == 0
    rebuilt = [line for line in scenario["gold"][part]["silver_lines"] if line.startswith("silver.office_reports:")]
    # the first run builds the table from all of bronze; the second rebuilds the days and offices it reported
    assert rebuilt == (["silver.office_reports: updated"] if part == "1" else
                       [f"silver.office_reports: {_reported_keys(spark, scenario)} key(s) rebuilt"])


def _reported_keys(spark: SparkSession, scenario: dict[str, Any]) -> int:
    """The (day, office) pairs with an ISO date among the report rows the second half's ingest landed."""
    def iso(text: str | None) -> date | None:
        try:
            return date.fromisoformat(text) if text and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
        except ValueError:  # 2026-02-30
            return None

    rows = (_table(spark, scenario, "bronze.office_reports")
            .where(F.col("_batch_id") == scenario["gold"]["2"]["ingest_run"]).select("report_date", "office_id"))
    return len({(iso(r["report_date"]), r["office_id"]) for r in rows.collect() if iso(r["report_date"])})


def test_unknown_office_is_kept_with_region_unknown(spark: SparkSession, scenario: dict[str, Any]) -> None:
    ids = _planted(scenario, "unknown_office")
    assert ids
    silver = _table(spark, scenario, "silver.enrollment_events").where(F.col("event_id").isin(ids))
    assert silver.count() == len(ids)
    validations = _table(spark, scenario, "gold.fct_biometric_validations").where("office_id = 'OF-9999'")
    enrollments = _table(spark, scenario, "gold.fct_enrollments").where("office_id = 'OF-9999'")
    regions = {r["region"] for r in validations.unionByName(enrollments, allowMissingColumns=True).collect()}
    assert regions == {"UNKNOWN"}
    warned = (_table(spark, scenario, "ops.quality_metrics").where("rule = 'office_known'")
              .agg(F.sum("failed")).first()[0])
    assert warned == len(ids)


def test_the_moved_office_has_history(spark: SparkSession, scenario: dict[str, Any]) -> None:
    (moved,) = _planted(scenario, "moved_office")
    versions = (_table(spark, scenario, "silver.offices").where(F.col("office_id") == moved.office_id)
                .orderBy("valid_from").collect())
    assert [(v["region"], v["is_current"]) for v in versions] == [(moved.old_region, False), (moved.new_region, True)]
    assert versions[0]["valid_to"] == versions[1]["valid_from"]


def test_records_in_equal_silver_plus_quarantine_plus_duplicates(spark: SparkSession,
                                                                 scenario: dict[str, Any]) -> None:
    totals = {r["table_name"]: r for r in _table(spark, scenario, "ops.quality_metrics").where("rule = '*'")
              .groupBy("table_name").agg(F.sum("duplicates_dropped").alias("duplicates")).collect()}
    for bronze, silver, quarantine in (
        ("bronze.enrollment_events", "silver.enrollment_events", "quarantine.enrollment_events"),
        ("bronze.device_logs", "silver.device_logs", "quarantine.device_logs"),
    ):
        records_in = _table(spark, scenario, bronze).count()
        out = _table(spark, scenario, silver).count()
        held = _table(spark, scenario, quarantine).count()
        duplicates = totals[silver]["duplicates"]
        assert records_in == out + held + duplicates, (bronze, records_in, out, held, duplicates)
    # events: the duplicates dropped are exactly the planted duplicate lines
    assert totals["silver.enrollment_events"]["duplicates"] == len(_planted(scenario, "duplicate_events"))
    # office reports: every bronze row is in quarantine or valid; silver keeps one per (date, office)
    reports_in = _table(spark, scenario, "bronze.office_reports").count()
    quarantined = _table(spark, scenario, "quarantine.office_reports").count()
    silver_reports = _table(spark, scenario, "silver.office_reports").count()
    assert reports_in == silver_reports + quarantined + len(_planted(scenario, "replaced_reports"))


@pytest.mark.parametrize("part", ["1", "2"])
def test_gold_after_each_half_equals_a_full_build(scenario: dict[str, Any], part: str) -> None:
    mismatches = scenario["gold"][part]["mismatches"]
    assert mismatches == dict.fromkeys(mismatches, 0)


def test_the_second_half_is_followed_incrementally(spark: SparkSession, scenario: dict[str, Any]) -> None:
    """The first gold run builds everything; the second recomputes the dates the second half
    reached: those of the lifecycle events it brought (the late ones' earlier dates included) and
    those the moved office's new region reaches, worked out here from silver and the manifest."""
    first, second = scenario["gold"]["1"]["lines"], scenario["gold"]["2"]["lines"]
    assert any(line.startswith("full rebuild (no earlier gold run") for line in first)
    assert not any(line.startswith("full rebuild") for line in second)
    (line,) = [x for x in second if x.startswith("recomputing what changed")]
    (moved,) = _planted(scenario, "moved_office")
    events = _table(spark, scenario, "silver.enrollment_events").where(F.col("event_type").isin(*LIFECYCLE_EVENTS))
    new = events.where(F.col("_batch_id") == scenario["gold"]["2"]["ingest_run"])
    after_move = events.where((F.col("office_id") == moved.office_id) & (F.col("event_time") >= moved.changed_at))
    expected = {r[0] for r in new.unionByName(after_move).select("event_date").distinct().collect()}
    late = {r[0] for r in new.where(F.col("event_id").isin(_planted(scenario, "late_events")))
            .select("event_date").collect()}
    assert late and late <= expected
    assert line.startswith(f"recomputing what changed: {len(expected)} event date(s)")
