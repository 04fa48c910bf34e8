"""Gold dimensions: dim_date and dim_office."""
from __future__ import annotations

from datetime import UTC, date, datetime

from chispa import assert_df_equality
from pyspark.sql import SparkSession

from lakehouse.contract import schema, table
from lakehouse.gold.dimensions import dim_date, dim_office

EVENTS = table("silver.enrollment_events").schema
REPORTS = table("silver.office_reports").schema
OFFICES = table("silver.offices").schema


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _event(event_date: date) -> tuple:
    at = datetime(event_date.year, event_date.month, event_date.day, 9, tzinfo=UTC)
    return ("e", "enrollment_started", at, event_date, 1, "E", "k", 1990, "OF-1", "office",
            None, None, "s", at, "b")


def _report(report_date: date) -> tuple:
    return (report_date, "OF-1", 8.0, 10, 9, "r.csv:2", ts("2026-02-01 00:00:00"))


def test_dim_date_fills_every_date_between_both_sources(spark: SparkSession) -> None:
    # Events span 12-30..01-02, reports 12-28..01-05: the calendar is 2025-12-28..2026-01-05.
    events = spark.createDataFrame([_event(date(2026, 1, 2)), _event(date(2025, 12, 30))], EVENTS)
    reports = spark.createDataFrame([_report(date(2026, 1, 5)), _report(date(2025, 12, 28))], REPORTS)
    # 2026-01-01 is a Thursday, so ISO week 1 of 2026 starts on Monday 2025-12-29 and
    # Sunday 2025-12-28 closes ISO week 52 of 2025.
    expected = spark.createDataFrame(
        [
            (date(2025, 12, 28), 2025, 4, 12, 28, 7, "Sunday", 52, True),
            (date(2025, 12, 29), 2025, 4, 12, 29, 1, "Monday", 1, False),
            (date(2025, 12, 30), 2025, 4, 12, 30, 2, "Tuesday", 1, False),
            (date(2025, 12, 31), 2025, 4, 12, 31, 3, "Wednesday", 1, False),
            (date(2026, 1, 1), 2026, 1, 1, 1, 4, "Thursday", 1, False),
            (date(2026, 1, 2), 2026, 1, 1, 2, 5, "Friday", 1, False),
            (date(2026, 1, 3), 2026, 1, 1, 3, 6, "Saturday", 1, True),
            (date(2026, 1, 4), 2026, 1, 1, 4, 7, "Sunday", 1, True),
            (date(2026, 1, 5), 2026, 1, 1, 5, 1, "Monday", 2, False),
        ],
        schema("gold.dim_date"),
    )

    actual = dim_date(events, reports)

    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_dim_date_with_one_source_empty(spark: SparkSession) -> None:
    events = spark.createDataFrame([], EVENTS)
    reports = spark.createDataFrame([_report(date(2026, 4, 1))], REPORTS)
    expected = spark.createDataFrame(
        [(date(2026, 4, 1), 2026, 2, 4, 1, 3, "Wednesday", 14, False)], schema("gold.dim_date")
    )

    assert_df_equality(dim_date(events, reports), expected, ignore_nullable=True)


def test_dim_date_of_empty_inputs_is_empty(spark: SparkSession) -> None:
    actual = dim_date(spark.createDataFrame([], EVENTS), spark.createDataFrame([], REPORTS))

    assert_df_equality(actual, spark.createDataFrame([], schema("gold.dim_date")), ignore_nullable=True)


def test_dim_office_keeps_every_version_and_adds_unknown(spark: SparkSession) -> None:
    v1, v2 = ts("2026-01-01 00:00:00"), ts("2026-01-10 12:00:00.123456")
    offices = spark.createDataFrame(
        [
            ("OF-1", "Central", "North", "D1", date(2020, 1, 1), v1, v1, v2, False),
            ("OF-1", "Central", "South", "D9", date(2020, 1, 1), v2, v2, None, True),
        ],
        OFFICES,
    )
    expected = spark.createDataFrame(
        [
            ("OF-1@2026-01-01T00:00:00.000000", "OF-1", "Central", "North", "D1", v1, v2, False),
            ("OF-1@2026-01-10T12:00:00.123456", "OF-1", "Central", "South", "D9", v2, None, True),
            ("UNKNOWN", "UNKNOWN", "Unknown office", "UNKNOWN", "UNKNOWN", None, None, True),
        ],
        schema("gold.dim_office"),
    )

    assert_df_equality(dim_office(offices), expected, ignore_row_order=True, ignore_nullable=True)


def test_dim_office_of_no_offices_is_the_unknown_member(spark: SparkSession) -> None:
    expected = spark.createDataFrame(
        [("UNKNOWN", "UNKNOWN", "Unknown office", "UNKNOWN", "UNKNOWN", None, None, True)],
        schema("gold.dim_office"),
    )

    assert_df_equality(dim_office(spark.createDataFrame([], OFFICES)), expected, ignore_nullable=True)
