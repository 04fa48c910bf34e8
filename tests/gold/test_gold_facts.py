"""Gold facts: fct_enrollments and fct_biometric_validations."""
from __future__ import annotations

from datetime import UTC, datetime

from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from lakehouse.contract import schema, table
from lakehouse.gold.facts import fct_biometric_validations, fct_enrollments

EVENTS = table("silver.enrollment_events").schema
VALIDATIONS = table("silver.biometric_validations").schema
OFFICES = table("silver.offices").schema


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)




def _event(event_id: str, event_type: str, at: str, enrollment_id: str, office_id: str | None,
           channel: str, ingested: str | None = None) -> tuple:
    when = ts(at)
    return (event_id, event_type, when, when.date(), 1, enrollment_id, "k", 1990, office_id, channel,
            None, None, "s", ts(ingested) if ingested else when, "b")


def test_fct_enrollments(spark: SparkSession, gold_offices: DataFrame) -> None:
    events = spark.createDataFrame(
        [
            # E1: biometric events in between; a second, later completed event does not move completed_at
            _event("1a", "enrollment_started", "2026-01-10 10:00:00", "E1", "OF-1", "office"),
            _event("1b", "biometric_validation", "2026-01-10 10:05:00", "E1", "OF-1", "office"),
            _event("1c", "enrollment_completed", "2026-01-10 10:30:30", "E1", "OF-1", "office"),
            _event("1d", "enrollment_completed", "2026-01-10 11:00:00", "E1", "OF-1", "office"),
            # E2: starts in North, completes after the office moved to South: region at start
            _event("2a", "enrollment_started", "2026-01-10 11:50:00", "E2", "OF-1", "office"),
            _event("2b", "enrollment_completed", "2026-01-10 13:00:00.250", "E2", "OF-1", "office"),
            # E3: cancelled without a start: region at the cancel time (after the move)
            _event("3a", "enrollment_cancelled", "2026-01-10 12:30:00", "E3", "OF-1", "web"),
            # E4: unknown office
            _event("4a", "enrollment_started", "2026-01-10 09:00:00", "E4", "OF-404", "mobile"),
            # E5: the started event wins office and channel even though the cancel came first;
            # both are before OF-1's first known version
            _event("5a", "enrollment_cancelled", "2025-12-31 22:00:00", "E5", "OF-2", "web"),
            _event("5b", "enrollment_started", "2025-12-31 23:00:00", "E5", "OF-1", "office"),
            # E6: only a biometric validation: no row
            _event("6a", "biometric_validation", "2026-01-10 09:00:00", "E6", "OF-1", "office"),
            # E7: cancelled, then completed: completed wins the status
            _event("7a", "enrollment_started", "2026-01-11 08:00:00", "E7", "OF-2", "office"),
            _event("7b", "enrollment_cancelled", "2026-01-11 08:10:00", "E7", "OF-2", "office"),
            _event("7c", "enrollment_completed", "2026-01-11 08:20:00", "E7", "OF-2", "office"),
            # E8: a late event (ingested five days later), completed without a start
            _event("8a", "enrollment_completed", "2026-01-09 15:00:00", "E8", "OF-1", "mobile",
                   ingested="2026-01-14 15:00:00"),
        ],
        EVENTS,
    )
    expected = spark.createDataFrame(
        [
            # 10:00:00 -> 10:30:30 = 1_830_000 ms / 60_000 = 30.5
            ("E1", "OF-1", "North", "office", ts("2026-01-10 10:00:00"), ts("2026-01-10 10:30:30"),
             None, "completed", 30.5),
            # 11:50:00 -> 13:00:00.250 = 4_200_250 ms / 60_000 = 70.0041666...
            ("E2", "OF-1", "North", "office", ts("2026-01-10 11:50:00"), ts("2026-01-10 13:00:00.250"),
             None, "completed", 4_200_250 / 60_000),
            ("E3", "OF-1", "South", "web", None, None, ts("2026-01-10 12:30:00"), "cancelled", None),
            ("E4", "OF-404", "UNKNOWN", "mobile", ts("2026-01-10 09:00:00"), None, None, "in_progress", None),
            ("E5", "OF-1", "North", "office", ts("2025-12-31 23:00:00"), None, ts("2025-12-31 22:00:00"),
             "cancelled", None),
            # 08:00 -> 08:20 = 20 minutes
            ("E7", "OF-2", "East", "office", ts("2026-01-11 08:00:00"), ts("2026-01-11 08:20:00"),
             ts("2026-01-11 08:10:00"), "completed", 20.0),
            ("E8", "OF-1", "North", "mobile", None, ts("2026-01-09 15:00:00"), None, "completed", None),
        ],
        schema("gold.fct_enrollments"),
    )

    actual = fct_enrollments(events, gold_offices)

    assert_approx_df_equality(actual, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


def test_fct_enrollments_of_no_events_is_empty(spark: SparkSession, gold_offices: DataFrame) -> None:
    actual = fct_enrollments(spark.createDataFrame([], EVENTS), gold_offices)

    assert_df_equality(actual, spark.createDataFrame([], schema("gold.fct_enrollments")), ignore_nullable=True)


def test_fct_biometric_validations(spark: SparkSession, gold_offices: DataFrame) -> None:
    def validation(vid: str, office_id: str | None, at: str, result: str, score: float | None,
                   duration_ms: int) -> tuple:
        when = ts(at)
        return (vid, f"ev-{vid}", "E1", "k", office_id, "office", when, when.date(), "face", result, score,
                when, when, duration_ms, when)

    validations = spark.createDataFrame(
        [
            validation("V1", "OF-1", "2026-01-10 11:59:00", "match", 0.97, 1200),
            validation("V2", "OF-1", "2026-01-10 12:01:00", "no_match", 0.20, 800),
            validation("V3", "OF-404", "2026-01-10 12:01:00", "match", 0.91, 950),
            validation("V4", "OF-2", "2025-12-01 08:00:00", "error", None, 30000),
        ],
        VALIDATIONS,
    )
    expected = spark.createDataFrame(
        [
            ("V1", "E1", "OF-1", "North", "office", ts("2026-01-10 11:59:00"), ts("2026-01-10 11:59:00").date(),
             "face", "match", 0.97, 1200),
            ("V2", "E1", "OF-1", "South", "office", ts("2026-01-10 12:01:00"), ts("2026-01-10 12:01:00").date(),
             "face", "no_match", 0.20, 800),
            ("V3", "E1", "OF-404", "UNKNOWN", "office", ts("2026-01-10 12:01:00"),
             ts("2026-01-10 12:01:00").date(), "face", "match", 0.91, 950),
            # before OF-2's first known version: that version covers it
            ("V4", "E1", "OF-2", "East", "office", ts("2025-12-01 08:00:00"), ts("2025-12-01 08:00:00").date(),
             "face", "error", None, 30000),
        ],
        schema("gold.fct_biometric_validations"),
    )

    actual = fct_biometric_validations(validations, gold_offices)

    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
