"""The dashboard's aggregations on inline rows; every expected value worked out by hand in the comments."""
from __future__ import annotations

from datetime import UTC, date, datetime

from chispa import assert_df_equality
from pyspark.sql import SparkSession

from lakehouse.publish.dashboard.queries import (
    attendance_by_region,
    enrollments_by_channel,
    enrollments_by_region,
    rule_failures_latest_run,
    validation_times,
)

D1, D2 = date(2026, 10, 1), date(2026, 10, 2)

ENROLLMENTS = "date date, region string, channel string, enrollments_started bigint, enrollments_completed bigint"
ENROLLMENT_ROWS = [
    (D1, "NORTE", "web", 10, 6),
    (D1, "NORTE", "office", 4, 3),
    (D1, "SUR", "web", 0, 1),  # a completion whose start was the day before: nothing started
    (D2, "NORTE", "web", 8, 8),
    (None, "NORTE", "web", 5, 5),  # no date: left out
]


def test_enrollments_by_region(spark: SparkSession) -> None:
    kpi = spark.createDataFrame(ENROLLMENT_ROWS, ENROLLMENTS)

    expected = spark.createDataFrame([
        (D1, "NORTE", 14, 9, 9 / 14),  # 10 + 4 started, 6 + 3 completed
        (D1, "SUR", 0, 1, None),  # nothing started: no rate
        (D2, "NORTE", 8, 8, 1.0),
    ], "date date, region string, started bigint, completed bigint, completion_rate double")

    assert_df_equality(enrollments_by_region(kpi), expected, ignore_row_order=True, ignore_nullable=True)


def test_enrollments_by_channel(spark: SparkSession) -> None:
    kpi = spark.createDataFrame(ENROLLMENT_ROWS, ENROLLMENTS)

    expected = spark.createDataFrame([
        (D1, "web", 10, 7, 0.7),  # NORTE 10 + SUR 0 started, 6 + 1 completed
        (D1, "office", 4, 3, 0.75),
        (D2, "web", 8, 8, 1.0),
    ], "date date, channel string, started bigint, completed bigint, completion_rate double")

    assert_df_equality(enrollments_by_channel(kpi), expected, ignore_row_order=True, ignore_nullable=True)


def test_validation_times_weight_each_region_by_its_timed_validations(spark: SparkSession) -> None:
    kpi = spark.createDataFrame([
        (D1, "NORTE", "fingerprint", 3, 0, 100.0, 200.0),
        (D1, "SUR", "fingerprint", 0, 1, 400.0, 500.0),
        (D1, "CENTRO", "fingerprint", 0, 0, None, None),  # errors only: no time, weighs nothing
        (D1, "NORTE", "face", 0, 0, None, None),
        (D1, "SUR", "face", 0, 0, 999.0, 999.0),  # a time over nothing timed weighs nothing either
        (D2, "NORTE", "iris", None, 2, 50.0, 90.0),  # matches unknown: no matches still timed 2
        (D2, "SUR", "iris", 1, 1, 10.0, None),  # no p95
        (None, "NORTE", "face", 5, 5, 1.0, 1.0),  # no date: left out
    ], "date date, region string, modality string, matches bigint, no_matches bigint, p50_ms double, p95_ms double")

    expected = spark.createDataFrame([
        # matches 3 of 3 + 1 timed; p50 (100*3 + 400*1) / 4 = 175, p95 (200*3 + 500*1) / 4 = 275
        (D1, "fingerprint", 0.75, 175.0, 275.0),
        (D1, "face", None, None, None),  # nothing timed: no rate, no time
        # matches 1 (the unknown count adds nothing) of 2 + 2 timed; p50 (50*2 + 10*2) / 4 = 30; p95 NORTE's alone
        (D2, "iris", 0.25, 30.0, 90.0),
    ], "date date, modality string, match_rate double, p50_ms double, p95_ms double")

    assert_df_equality(validation_times(kpi), expected, ignore_row_order=True, ignore_nullable=True)


def test_attendance_by_region(spark: SparkSession) -> None:
    kpi = spark.createDataFrame([
        (D1, "OF-1", "NORTE", 10, 8),
        (D1, "OF-2", "NORTE", 10, 5),
        (D1, "OF-3", "SUR", 4, 4),
        (D2, "OF-1", "NORTE", 0, 0),  # a closed day: nothing scheduled
        (D2, "OF-3", "SUR", None, None),  # completions but no office report
        (None, "OF-1", "NORTE", 1, 1),  # no date: left out
    ], "date date, office_id string, region string, appointments_scheduled int, appointments_attended int")

    expected = spark.createDataFrame([
        (D1, "NORTE", 20, 13, 0.65),  # 8 + 5 of 10 + 10
        (D1, "SUR", 4, 4, 1.0),
        (D2, "NORTE", 0, 0, None),
        (D2, "SUR", None, None, None),
    ], "date date, region string, scheduled bigint, attended bigint, attendance_rate double")

    assert_df_equality(attendance_by_region(kpi), expected, ignore_row_order=True, ignore_nullable=True)


def test_rule_failures_of_each_tables_latest_run(spark: SparkSession) -> None:
    t1, t2, t3 = (datetime(2026, 10, 2, h, tzinfo=UTC) for h in (6, 7, 8))
    metrics = spark.createDataFrame([
        ("r1", t1, "silver.a", "rule_x", "error", 10, 5, 0),
        ("r2", t2, "silver.a", "rule_x", "error", 7, 2, 0),  # silver.a's latest run, in two batches
        ("r2", t3, "silver.a", "rule_x", "error", 3, 1, 0),
        ("r2", t3, "silver.a", "rule_w", "warn", 9, 1, 0),
        ("r2", t3, "silver.a", "*", "total", 9, 3, 2),  # the table's totals: not a rule
        ("r1", t1, "silver.b", "rule_y", "error", 4, 0, 0),  # silver.b's latest run is r1
    ], "run_id string, recorded_at timestamp, table_name string, rule string, severity string, passed bigint, "
       "failed bigint, duplicates_dropped bigint")

    expected = spark.createDataFrame([
        ("r2", "silver.a", "rule_x", "error", 3),  # 2 + 1 over the batches; r1's 5 are an older run
        ("r2", "silver.a", "rule_w", "warn", 1),
        ("r1", "silver.b", "rule_y", "error", 0),
    ], "run_id string, table_name string, rule string, severity string, failed bigint")

    assert_df_equality(rule_failures_latest_run(metrics), expected, ignore_row_order=True, ignore_nullable=True)
