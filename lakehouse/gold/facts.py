"""Gold facts: enrollments and biometric validations."""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.contract import conform
from lakehouse.gold.region import with_region_at

STARTED, COMPLETED, CANCELLED = "enrollment_started", "enrollment_completed", "enrollment_cancelled"
LIFECYCLE_EVENTS = (STARTED, COMPLETED, CANCELLED)


def _first_time(event_type: str) -> Column:
    return F.min(F.when(F.col("event_type") == event_type, F.col("event_time")))


def fct_enrollments(events: DataFrame, offices: DataFrame) -> DataFrame:
    """One row per enrollment: its lifecycle times, status and minutes to complete.

    Grain: one row per enrollment_id that has at least one enrollment_started, enrollment_completed
    or enrollment_cancelled event; biometric_validation events alone make no row (they are in
    fct_biometric_validations). started_at / completed_at / cancelled_at are the earliest event_time
    of each type, so a retried or late duplicate changes nothing. office_id and channel come from
    the earliest started event, else from the earliest lifecycle event (ties broken by event_id);
    region is the office's region at that event's time. status is "completed" when completed_at is
    set, else "cancelled" when cancelled_at is set, else "in_progress". minutes_to_complete is
    (completed_at - started_at) in milliseconds / 60000, null unless both are set (negative when
    the source clocks put completion first).

    Example:
        (E1, enrollment_started, 10:00, OF-1, office), (E1, enrollment_completed, 10:30, OF-1, office),
        (E2, enrollment_cancelled, 11:00, OF-2, web)
        -> (E1, OF-1, <region>, office, 10:00, 10:30, null, completed, 30.0),
           (E2, OF-2, <region>, web, null, null, 11:00, cancelled, null)

    Args:
        events: silver.enrollment_events.
        offices: silver.offices.

    Returns:
        gold.fct_enrollments.
    """
    # The started event wins the office and channel; among equals, the earliest, then event_id.
    preference = F.struct(
        (F.col("event_type") != STARTED).alias("not_started"), "event_time", "event_id"
    )
    enrollments = (
        events.where(F.col("event_type").isin(*LIFECYCLE_EVENTS))
        .groupBy("enrollment_id")
        .agg(
            _first_time(STARTED).alias("started_at"),
            _first_time(COMPLETED).alias("completed_at"),
            _first_time(CANCELLED).alias("cancelled_at"),
            F.min_by(F.struct("office_id", "channel", "event_time"), preference).alias("origin"),
        )
        .select("enrollment_id", "started_at", "completed_at", "cancelled_at", "origin.*")
        .transform(with_region_at, offices=offices, time_col="event_time")
    )
    status = (
        F.when(F.col("completed_at").isNotNull(), F.lit("completed"))
        .when(F.col("cancelled_at").isNotNull(), F.lit("cancelled"))
        .otherwise(F.lit("in_progress"))
    )
    # Null when either end is null; the divisor is a constant, so ANSI mode has nothing to raise.
    minutes = (F.unix_millis("completed_at") - F.unix_millis("started_at")) / F.lit(60000.0)
    return conform(
        enrollments.withColumns({"status": status, "minutes_to_complete": minutes}),
        "gold.fct_enrollments",
    )


def fct_biometric_validations(validations: DataFrame, offices: DataFrame) -> DataFrame:
    """One row per biometric validation, with the office's region at validation time.

    Grain: one row per silver.biometric_validations row (one per validation_id); region is looked
    up at event_time, "UNKNOWN" for an unknown office.

    Example:
        (V1, E1, OF-1, office, 2026-01-10 13:00, face, match, 0.97, 1200 ms), OF-1 in South since
        2026-01-10 12:00 -> (V1, E1, OF-1, South, office, 2026-01-10 13:00, 2026-01-10, face,
        match, 0.97, 1200)

    Args:
        validations: silver.biometric_validations.
        offices: silver.offices.

    Returns:
        gold.fct_biometric_validations.
    """
    return conform(
        validations.transform(with_region_at, offices=offices, time_col="event_time"),
        "gold.fct_biometric_validations",
    )
