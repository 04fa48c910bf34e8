"""Silver office reports: typed counts, the latest valid file wins, the rest is quarantined."""
from __future__ import annotations

import datetime as dt
from typing import Any

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from lakehouse.contract import BRONZE_OFFICE_REPORTS, schema
from lakehouse.silver.office_reports import clean_office_reports, quarantine_office_reports, validate_office_reports

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
T1 = T0 + dt.timedelta(hours=1)
REPORT = {
    "report_date": "2026-11-20", "office_id": "OF-1", "staffed_hours": "8", "appointments_scheduled": "10",
    "appointments_attended": "9", "notes": None, "_dialect": "csv-comma", "_raw": "", "_source": None, "_ingested_at": T0,
    "_batch_id": "b1", "_file": None, "_file_modified_at": T0, "_parse_error": None,
}


def _bronze(spark: SparkSession, rows: list[dict[str, Any]]) -> DataFrame:
    columns = spark.createDataFrame([], BRONZE_OFFICE_REPORTS).columns
    return spark.createDataFrame([tuple({**REPORT, **r}[c] for c in columns) for r in rows], BRONZE_OFFICE_REPORTS)


def _silver(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(rows, schema("silver.office_reports"))


def test_latest_valid_file_wins_per_office_and_day(spark: SparkSession) -> None:
    bronze = _bronze(spark, [
        # OF-1 on 11-20: a.csv, then b.xlsx ingested an hour later replaces it
        {"_file": "a.csv", "_source": "a.csv:2"},
        {"_file": "b.xlsx", "_source": "b.xlsx:2", "_ingested_at": T1, "staffed_hours": "7.5",
         "appointments_scheduled": "10.0", "appointments_attended": "10", "notes": "late fix"},
        # OF-2 on 11-20: same ingestion, the file modified later wins
        {"office_id": "OF-2", "_file": "c.csv", "_source": "c.csv:2", "_file_modified_at": T1,
         "appointments_attended": "4"},
        {"office_id": "OF-2", "_file": "d.csv", "_source": "d.csv:2", "appointments_attended": "3"},
        # OF-1 on 11-21: a later but invalid file does not replace the valid one
        {"report_date": "2026-11-21", "_file": "e.csv", "_source": "e.csv:2", "appointments_attended": "5"},
        {"report_date": "2026-11-21", "_file": "f.csv", "_source": "f.csv:2", "_ingested_at": T1,
         "appointments_attended": "12"},
        # OF-3 on 11-21: same ingestion and modification, ties fall to the file name
        {"report_date": "2026-11-21", "office_id": "OF-3", "_file": "g.csv", "_source": "g.csv:2",
         "appointments_attended": "1"},
        {"report_date": "2026-11-21", "office_id": "OF-3", "_file": "h.csv", "_source": "h.csv:2",
         "appointments_attended": "2"},
    ])
    actual = clean_office_reports(validate_office_reports(bronze))
    expected = _silver(spark, [
        (dt.date(2026, 11, 20), "OF-1", 7.5, 10, 10, "b.xlsx:2", T1),
        (dt.date(2026, 11, 20), "OF-2", 8.0, 10, 4, "c.csv:2", T0),
        (dt.date(2026, 11, 21), "OF-1", 8.0, 10, 5, "e.csv:2", T0),
        (dt.date(2026, 11, 21), "OF-3", 8.0, 10, 2, "h.csv:2", T0),
    ])
    assert_df_equality(actual, expected, ignore_nullable=True, ignore_row_order=True)


def test_failing_rows_go_to_quarantine(spark: SparkSession) -> None:
    bronze = _bronze(spark, [
        {"_source": "a.csv:2"},
        {"_source": "a.csv:3", "_raw": "2026-11-20,OF-1,8,10", "_parse_error": "expected 6 columns, got 4",
         "report_date": None, "office_id": None, "staffed_hours": None, "appointments_scheduled": None,
         "appointments_attended": None},
        {"_source": "a.csv:4", "office_id": "OF-2", "appointments_scheduled": "-1"},
        {"_source": "a.csv:5", "report_date": "2026-11-31"},
    ])
    validated = validate_office_reports(bronze)
    at = dt.datetime(2026, 11, 21, 7, 0, 1)  # the moment of quarantine, pinned (UTC)
    quarantine = quarantine_office_reports(validated, spark.createDataFrame([(at,)], "moment timestamp"))
    expected = spark.createDataFrame([
        ("a.csv:3", "2026-11-20,OF-1,8,10", ["record_parseable"], at),
        ("a.csv:4", "", ["counts_non_negative", "attended_not_above_scheduled"], at),
        ("a.csv:5", "", ["report_date_parseable"], at),
    ], "_source string, _raw string, _failed_rules array<string>, _quarantined_at timestamp")
    assert_df_equality(quarantine.select("_source", "_raw", "_failed_rules", "_quarantined_at"), expected,
                       ignore_nullable=True, ignore_row_order=True)
    assert quarantine.columns == [
        "report_date", "office_id", "staffed_hours", "appointments_scheduled", "appointments_attended", "notes",
        "_dialect", "_raw", "_source", "_ingested_at", "_batch_id", "_file", "_file_modified_at", "_parse_error",
        "_failed_rules", "_quarantined_at"]
    assert_df_equality(
        clean_office_reports(validated),
        _silver(spark, [(dt.date(2026, 11, 20), "OF-1", 8.0, 10, 9, "a.csv:2", T0)]),
        ignore_nullable=True,
    )
