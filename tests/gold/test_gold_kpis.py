"""Gold KPIs: daily enrollments, validation times and office figures."""
from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from lakehouse.contract import schema, table
from lakehouse.gold.kpis import kpi_enrollments_daily, kpi_office_daily, kpi_validation_times_daily

EVENTS = table("silver.enrollment_events").schema
VALIDATIONS = table("silver.biometric_validations").schema
REPORTS = table("silver.office_reports").schema
OFFICES = table("silver.offices").schema
D10, D11 = date(2026, 1, 10), date(2026, 1, 11)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)




def _event(event_id: str, event_type: str, at: str, office_id: str, channel: str,
           ingested: str | None = None) -> tuple:
    when = ts(at)
    return (event_id, event_type, when, when.date(), 1, f"E-{event_id}", "k", 1990, office_id, channel,
            None, None, "s", ts(ingested) if ingested else when, "b")


def _validation(vid: str, office_id: str, at: str, modality: str, result: str, duration_ms: int) -> tuple:
    when = ts(at)
    score = None if result == "error" else 0.5
    return (vid, f"ev-{vid}", "E1", "k", office_id, "office", when, when.date(), modality, result, score,
            when, when, duration_ms, when)


def _report(day: date, office_id: str, staffed: float | None, scheduled: int | None,
            attended: int | None) -> tuple:
    return (day, office_id, staffed, scheduled, attended, "r.csv:2", ts("2026-02-01 00:00:00"))


def test_kpi_enrollments_daily(spark: SparkSession, gold_offices: DataFrame) -> None:
    events = spark.createDataFrame(
        [
            # 2026-01-10, OF-1 office, before the noon move (North): 3 started, 2 completed
            _event("a1", "enrollment_started", "2026-01-10 09:30:00", "OF-1", "office"),
            _event("a2", "enrollment_started", "2026-01-10 10:00:00", "OF-1", "office"),
            _event("a3", "enrollment_started", "2026-01-10 11:00:00", "OF-1", "office"),
            _event("a4", "enrollment_completed", "2026-01-10 11:30:00", "OF-1", "office"),
            _event("a5", "enrollment_completed", "2026-01-10 09:00:00", "OF-1", "office",
                   ingested="2026-01-15 08:00:00"),  # late: counts on its event date
            _event("a6", "biometric_validation", "2026-01-10 10:05:00", "OF-1", "office"),
            # same office and day after the move (South)
            _event("b1", "enrollment_started", "2026-01-10 13:00:00", "OF-1", "office"),
            _event("b2", "enrollment_cancelled", "2026-01-10 14:00:00", "OF-1", "office"),
            # started = 0 but completed > 0
            _event("c1", "enrollment_completed", "2026-01-10 15:00:00", "OF-1", "web"),
            # a key with only a biometric validation makes no row
            _event("d1", "biometric_validation", "2026-01-10 15:00:00", "OF-2", "mobile"),
            _event("e1", "enrollment_started", "2026-01-11 08:00:00", "OF-404", "mobile"),
            # before OF-1's first known version: North
            _event("f1", "enrollment_started", "2025-12-31 23:00:00", "OF-1", "web"),
        ],
        EVENTS,
    )
    expected = spark.createDataFrame(
        [
            (D10, "North", "office", 3, 2, 0, 2 / 3),
            (D10, "South", "office", 1, 0, 1, 0.0),  # 0 / 1
            (D10, "South", "web", 0, 1, 0, None),  # started = 0
            (D11, "UNKNOWN", "mobile", 1, 0, 0, 0.0),
            (date(2025, 12, 31), "North", "web", 1, 0, 0, 0.0),
        ],
        schema("gold.kpi_enrollments_daily"),
    )

    actual = kpi_enrollments_daily(events, gold_offices)

    assert_approx_df_equality(actual, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


def test_kpi_validation_times_daily(spark: SparkSession, gold_offices: DataFrame) -> None:
    north_face = [("match", 120), ("match", 340), ("match", 150), ("no_match", 900), ("no_match", 410)]
    unknown_fingerprint = [("no_match", 700), ("match", 500)]
    validations = spark.createDataFrame(
        [
            *[_validation(f"n{i}", "OF-1", "2026-01-10 09:00:00", "face", r, ms) for i, (r, ms) in
              enumerate(north_face)],
            _validation("n-err", "OF-1", "2026-01-10 10:00:00", "face", "error", 5000),  # not timed
            _validation("s1", "OF-1", "2026-01-10 12:00:00", "face", "match", 200),  # after the move
            _validation("i-err", "OF-1", "2026-01-10 09:00:00", "iris", "error", 7000),  # errors only
            *[_validation(f"u{i}", "OF-404", "2026-01-11 09:00:00", "fingerprint", r, ms) for i, (r, ms) in
              enumerate(unknown_fingerprint)],
            _validation("early", "OF-2", "2026-01-01 09:00:00", "face", "match", 1000),  # before 1st version
        ],
        VALIDATIONS,
    )

    def times(rows: list[tuple[str, int]]) -> tuple[float, float, float]:
        # independent reference: numpy's linear interpolation
        ms = [d for _, d in rows]
        return (float(np.percentile(ms, 50, method="linear")), float(np.percentile(ms, 95, method="linear")),
                float(np.mean(ms)))

    expected = spark.createDataFrame(
        [
            # 6 validations: 3 match, 2 no_match, 1 error; match_rate 3 / 5; avg (120+340+150+900+410)/5 = 384
            (D10, "North", "face", 6, 3, 2, 1, 0.6, *times(north_face)),
            (D10, "South", "face", 1, 1, 0, 0, 1.0, 200.0, 200.0, 200.0),
            (D10, "North", "iris", 1, 0, 0, 1, None, None, None, None),
            # p50 of {500, 700} = 600; p95 = 500 + 0.95 * 200 = 690
            (D11, "UNKNOWN", "fingerprint", 2, 1, 1, 0, 0.5, *times(unknown_fingerprint)),
            (date(2026, 1, 1), "East", "face", 1, 1, 0, 0, 1.0, 1000.0, 1000.0, 1000.0),
        ],
        schema("gold.kpi_validation_times_daily"),
    )
    assert times(north_face)[2] == 384.0 and times(unknown_fingerprint)[:2] == (600.0, 690.0)

    actual = kpi_validation_times_daily(validations, gold_offices)

    assert_approx_df_equality(actual, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


def test_kpi_office_daily(spark: SparkSession, gold_offices: DataFrame) -> None:
    reports = spark.createDataFrame(
        [
            _report(D10, "OF-1", 8.0, 10, 8),
            _report(D11, "OF-1", 0.0, 0, 0),  # nobody staffed: both rates null
            _report(date(2026, 1, 13), "OF-1", 4.0, 5, 5),  # staffed, no completions
            _report(date(2026, 1, 12), "OF-2", None, None, None),
        ],
        REPORTS,
    )
    events = spark.createDataFrame(
        [
            _event("a1", "enrollment_completed", "2026-01-10 10:00:00", "OF-1", "office"),
            _event("a2", "enrollment_completed", "2026-01-10 13:00:00", "OF-1", "office"),  # after the move
            _event("a3", "enrollment_started", "2026-01-10 09:00:00", "OF-1", "office"),  # not counted
            _event("b1", "enrollment_completed", "2026-01-11 23:59:59", "OF-1", "web"),
            _event("c1", "enrollment_completed", "2026-01-01 10:00:00", "OF-2", "office"),  # no report
            _event("d1", "enrollment_completed", "2026-01-10 10:00:00", "OF-404", "mobile"),
        ],
        EVENTS,
    )
    expected = spark.createDataFrame(
        [
            # region at 00:00 UTC: North on 01-10 although the office moved at noon; 8/10; 2 / 8.0 h
            (D10, "OF-1", "North", 10, 8, 0.8, 8.0, 2, 0.25),
            (D11, "OF-1", "South", 0, 0, None, 0.0, 1, None),
            (date(2026, 1, 13), "OF-1", "South", 5, 5, 1.0, 4.0, 0, 0.0),  # 5/5; 0 / 4.0 h
            (date(2026, 1, 12), "OF-2", "East", None, None, None, None, 0, None),
            (date(2026, 1, 1), "OF-2", "East", None, None, None, None, 1, None),  # before 1st version
            (D10, "OF-404", "UNKNOWN", None, None, None, None, 1, None),
        ],
        schema("gold.kpi_office_daily"),
    )

    actual = kpi_office_daily(reports, events, gold_offices)

    assert_approx_df_equality(actual, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


def test_kpis_of_empty_inputs_are_empty(spark: SparkSession) -> None:
    events, offices = spark.createDataFrame([], EVENTS), spark.createDataFrame([], OFFICES)

    for actual, name in [
        (kpi_enrollments_daily(events, offices), "gold.kpi_enrollments_daily"),
        (kpi_validation_times_daily(spark.createDataFrame([], VALIDATIONS), offices),
         "gold.kpi_validation_times_daily"),
        (kpi_office_daily(spark.createDataFrame([], REPORTS), events, offices), "gold.kpi_office_daily"),
    ]:
        assert_df_equality(actual, spark.createDataFrame([], schema(name)), ignore_nullable=True)
