"""Quality rules: which rules each edge row fails, prerequisites, warnings and rule counts."""
from __future__ import annotations

import datetime as dt
from typing import Any

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.contract import BRONZE_DEVICE_LOGS, BRONZE_EVENTS, BRONZE_OFFICE_REPORTS, schema
from lakehouse.functions import is_present
from lakehouse.quality import (
    Rule,
    device_log_rules,
    enrollment_event_rules,
    office_report_rules,
    rule_counts,
    with_failed_rules,
)

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 20, 14, 5, tzinfo=UTC)  # ingestion time of every row below
META = {"_raw": "{}", "_ingested_at": T0, "_batch_id": "b1", "_file": "f", "_file_modified_at": T0,
        "_arrived_at": None,
        "_parse_error": None}
EVENT = {
    **META,
    "event_id": "8c1f2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b", "event_type": "enrollment_started",
    "event_time": "2026-11-20T14:03:11.123Z", "schema_version": "1",
    "enrollment_id": "0e0e0e0e-1111-4222-8333-444455556666", "national_id": "40718231",
    "full_name": "Ana Pérez", "birth_date": "1990-05-01", "office_id": "OF-0007", "channel": "office",
    "operator_id": "OP-00031", "validation": None,
}
GOOD_VALIDATION = ("v-1", "face", "match", "0.93", "2026-11-20T14:00:00.000Z", "2026-11-20T14:00:01.250Z")
NULLED = {c: None for c in ("event_id", "event_type", "event_time", "schema_version", "enrollment_id",
                            "national_id", "full_name", "birth_date", "office_id", "channel", "operator_id")}


def _rows(spark: SparkSession, ddl: str, base: dict[str, Any], rows: list[dict[str, Any]]) -> DataFrame:
    columns = spark.createDataFrame([], ddl).columns
    return spark.createDataFrame([tuple({**base, **r}[c] for c in columns) for r in rows], ddl)


def _validation(**changes: str | None) -> tuple[str | None, ...]:
    names = ("validation_id", "modality", "result", "score", "started_at", "finished_at")
    values = dict(zip(names, GOOD_VALIDATION))
    return tuple({**values, **changes}[n] for n in names)


def _biometric(source: str, **changes: str | None) -> dict[str, Any]:
    return {"_source": source, "event_type": "biometric_validation", "validation": _validation(**changes)}


def _failed(validated: DataFrame) -> DataFrame:
    return validated.select("_source", "_failed_rules")


def _expected(spark: SparkSession, rows: list[tuple[str, list[str]]]) -> DataFrame:
    return spark.createDataFrame(rows, "_source string, _failed_rules array<string>")


def test_event_rules_name_each_defect(spark: SparkSession) -> None:
    bronze = _rows(spark, BRONZE_EVENTS, EVENT, [
        {"_source": "good"},
        {"_source": "good_biometric", "event_type": "biometric_validation", "validation": GOOD_VALIDATION},
        {"_source": "unparseable", **NULLED, "_parse_error": "Unexpected end of JSON input"},
        {"_source": "bad_id_and_channel", "event_id": "e-1", "channel": "fax"},
        {"_source": "unknown_type", "event_type": "enrollment_paused"},
        {"_source": "bad_time", "event_time": "yesterday"},
        {"_source": "offset_at_tolerance", "event_time": "2026-11-20T16:10:00+02:00"},
        {"_source": "future", "event_time": "2026-11-20T14:10:00.001Z"},
        {"_source": "seven_digits", "national_id": "4071823"},
        {"_source": "letters_in_id", "national_id": "4071823A"},
        {"_source": "no_national_id", "national_id": None},
        {"_source": "blank_office", "office_id": "  "},
        {"_source": "no_validation", "event_type": "biometric_validation", "validation": None},
        _biometric("unknown_modality", modality="retina"),
        _biometric("unknown_result", result="maybe"),
        _biometric("score_above_one", score="1.5"),
        _biometric("score_not_a_number", score="high"),
        _biometric("null_score_with_match", score=None),
        _biometric("null_score_with_error", score=None, result="error"),
        _biometric("finished_before_started", finished_at="2026-11-20T13:59:59.999Z"),
        _biometric("finished_same_instant_other_offset", finished_at="2026-11-20T16:00:00+02:00"),
        _biometric("started_unparseable", started_at="soon"),
    ])
    validated = with_failed_rules(bronze, enrollment_event_rules(future_tolerance_minutes=5))
    all_validation_rules = ["validation_present", "modality_known", "result_known", "score_in_range",
                            "finished_after_started"]
    assert_df_equality(_failed(validated), _expected(spark, [
        ("good", []),
        ("good_biometric", []),
        ("unparseable", ["record_parseable"]),
        ("bad_id_and_channel", ["event_id_is_uuid", "channel_known"]),
        ("unknown_type", ["event_type_known"]),
        ("bad_time", ["event_time_parseable", "event_time_not_future"]),
        ("offset_at_tolerance", []),
        ("future", ["event_time_not_future"]),
        ("seven_digits", ["national_id_format"]),
        ("letters_in_id", ["national_id_format"]),
        ("no_national_id", ["national_id_format"]),
        ("blank_office", ["office_id_present"]),
        ("no_validation", all_validation_rules),
        ("unknown_modality", ["modality_known"]),
        ("unknown_result", ["result_known"]),
        ("score_above_one", ["score_in_range"]),
        ("score_not_a_number", ["score_in_range"]),
        ("null_score_with_match", ["score_in_range"]),
        ("null_score_with_error", []),
        ("finished_before_started", ["finished_after_started"]),
        ("finished_same_instant_other_offset", []),
        ("started_unparseable", ["finished_after_started"]),
    ]), ignore_nullable=True, ignore_row_order=True)


def test_future_tolerance_is_a_parameter(spark: SparkSession) -> None:
    bronze = _rows(spark, BRONZE_EVENTS, EVENT, [
        {"_source": "at_ingestion", "event_time": "2026-11-20T14:05:00Z"},
        {"_source": "one_minute_ahead", "event_time": "2026-11-20T14:06:00Z"},
    ])
    validated = with_failed_rules(bronze, enrollment_event_rules(future_tolerance_minutes=0))
    assert_df_equality(_failed(validated), _expected(spark, [
        ("at_ingestion", []),
        ("one_minute_ahead", ["event_time_not_future"]),
    ]), ignore_nullable=True, ignore_row_order=True)


REPORT = {**META, "report_date": "2026-11-20", "office_id": "OF-0007", "staffed_hours": "7.5",
          "appointments_scheduled": "10", "appointments_attended": "9", "notes": None, "_dialect": "csv-comma"}


def test_office_report_rules(spark: SparkSession) -> None:
    bronze = _rows(spark, BRONZE_OFFICE_REPORTS, REPORT, [
        {"_source": "good"},
        {"_source": "excel_style_counts", "appointments_scheduled": "10.0", "appointments_attended": "0"},
        {"_source": "wrong_column_count", "_parse_error": "expected 6 columns, got 5",
         "report_date": None, "office_id": None, "appointments_scheduled": None},
        {"_source": "bad_date", "report_date": "20/11/2026"},
        {"_source": "no_office", "office_id": None},
        {"_source": "negative_hours", "staffed_hours": "-2"},
        {"_source": "text_count", "appointments_scheduled": "ten"},
        {"_source": "fractional_count", "appointments_attended": "8.5"},
        {"_source": "attended_above_scheduled", "appointments_attended": "11"},
    ])
    validated = with_failed_rules(bronze, office_report_rules())
    assert_df_equality(_failed(validated), _expected(spark, [
        ("good", []),
        ("excel_style_counts", []),
        ("wrong_column_count", ["record_parseable"]),
        ("bad_date", ["report_date_parseable"]),
        ("no_office", ["office_id_present"]),
        ("negative_hours", ["counts_non_negative"]),
        ("text_count", ["counts_non_negative", "attended_not_above_scheduled"]),
        ("fractional_count", ["counts_non_negative", "attended_not_above_scheduled"]),
        ("attended_above_scheduled", ["attended_not_above_scheduled"]),
    ]), ignore_nullable=True, ignore_row_order=True)


LOG = {**META, "device_id": "DEV-1", "office_id": "OF-0007", "ts": "2026-11-20T14:00:00Z", "level": "INFO",
       "message": "ok", "firmware": "1.2.3"}


def test_device_log_rules(spark: SparkSession) -> None:
    bronze = _rows(spark, BRONZE_DEVICE_LOGS, LOG, [
        {"_source": "good"},
        {"_source": "unparseable", "_parse_error": "bad json", "device_id": None, "ts": None},
        {"_source": "blank_device", "device_id": ""},
        {"_source": "bad_ts", "ts": "2026-13-01T00:00:00Z"},
    ])
    validated = with_failed_rules(bronze, device_log_rules())
    assert_df_equality(_failed(validated), _expected(spark, [
        ("good", []),
        ("unparseable", ["record_parseable"]),
        ("blank_device", ["device_id_present"]),
        ("bad_ts", ["ts_parseable"]),
    ]), ignore_nullable=True, ignore_row_order=True)


def _notes_present() -> Rule:
    return Rule("notes_present", is_present(F.col("notes")), severity="warn")


def test_warn_rules_never_quarantine(spark: SparkSession) -> None:
    bronze = _rows(spark, BRONZE_OFFICE_REPORTS, REPORT, [{"_source": "no_notes", "notes": None}])
    validated = with_failed_rules(bronze, [*office_report_rules(), _notes_present()])
    assert_df_equality(_failed(validated), _expected(spark, [("no_notes", [])]), ignore_nullable=True)


def test_rule_counts_count_rows_per_rule(spark: SparkSession) -> None:
    rules = [*office_report_rules(), _notes_present()]
    bronze = _rows(spark, BRONZE_OFFICE_REPORTS, REPORT, [
        {"_source": "good", "notes": "all fine"},
        {"_source": "wrong_column_count", "_parse_error": "expected 6 columns, got 7", "report_date": None},
        {"_source": "bad_date", "report_date": "2026-11-31"},
        {"_source": "attended_above_scheduled", "appointments_attended": "11"},
    ])
    validated = with_failed_rules(bronze, rules)
    counts = rule_counts(validated, rules)
    # Counted from `_failed_rules` or by evaluating every rule again: the same numbers.
    evaluated = rule_counts(validated.drop("_failed_rules"), rules)
    assert sorted(map(tuple, counts.collect())) == sorted(map(tuple, evaluated.collect()))
    expected = spark.createDataFrame([
        ("record_parseable", "error", 3, 1),
        # the others are evaluated on the 3 parseable rows only
        ("report_date_parseable", "error", 2, 1),
        ("office_id_present", "error", 3, 0),
        ("counts_non_negative", "error", 3, 0),
        ("attended_not_above_scheduled", "error", 2, 1),
        ("notes_present", "warn", 1, 2),
    ], "rule string, severity string, passed long, failed long")
    assert_df_equality(counts, expected, ignore_nullable=True, ignore_row_order=True)


def test_rule_counts_of_no_rows_are_zero(spark: SparkSession) -> None:
    rules = device_log_rules()
    empty = with_failed_rules(spark.createDataFrame([], schema("bronze.device_logs")), rules)
    counts = rule_counts(empty, rules)
    assert sorted(tuple(r) for r in counts.collect()) == [
        ("device_id_present", "error", 0, 0), ("record_parseable", "error", 0, 0), ("ts_parseable", "error", 0, 0),
    ]
