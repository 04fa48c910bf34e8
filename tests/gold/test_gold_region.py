"""with_region_at: the office's region as of a point in time."""
from __future__ import annotations

from datetime import UTC, datetime

from chispa import assert_df_equality
from pyspark.sql import SparkSession

from lakehouse.contract import table
from lakehouse.gold.region import with_region_at

OFFICES = table("silver.offices").schema


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _offices(spark: SparkSession):
    north, south = ts("2026-01-01 00:00:00"), ts("2026-01-10 12:00:00")
    east = ts("2026-01-05 00:00:00")
    a, b, c = ts("2026-01-01 00:00:00"), ts("2026-01-05 00:00:00"), ts("2026-01-09 00:00:00")
    return spark.createDataFrame(
        [
            # OF-1 moves from North to South at noon on 2026-01-10
            ("OF-1", "Central", "North", "D1", None, north, north, south, False),
            ("OF-1", "Central", "South", "D9", None, south, south, None, True),
            # OF-2 has a single version, first known on 2026-01-05
            ("OF-2", "Harbour", "East", "D2", None, east, east, None, True),
            # OF-3 has three versions; the middle one must be bounded on both sides
            ("OF-3", "Hill", "A", "D3", None, a, a, b, False),
            ("OF-3", "Hill", "B", "D3", None, b, b, c, False),
            ("OF-3", "Hill", "C", "D3", None, c, c, None, True),
        ],
        OFFICES,
    )


def test_region_is_the_version_valid_at_the_time(spark: SparkSession) -> None:
    schema = "row_id string, office_id string, at timestamp"
    df = spark.createDataFrame(
        [
            ("before-first-version", "OF-1", ts("2025-12-31 23:00:00")),
            ("just-before-move", "OF-1", ts("2026-01-10 11:59:59.999999")),
            ("at-move", "OF-1", ts("2026-01-10 12:00:00")),
            ("after-move-same-day", "OF-1", ts("2026-01-10 18:00:00")),
            ("after-move-same-day-twin", "OF-1", ts("2026-01-10 18:00:00")),
            ("single-version-before", "OF-2", ts("2026-01-01 00:00:00")),
            ("single-version-after", "OF-2", ts("2026-03-01 00:00:00")),
            ("middle-version", "OF-3", ts("2026-01-07 00:00:00")),
            ("last-version", "OF-3", ts("2026-02-01 00:00:00")),
            ("unknown-office", "OF-404", ts("2026-01-10 12:00:00")),
            ("null-office", None, ts("2026-01-10 12:00:00")),
            ("null-time", "OF-1", None),
        ],
        schema,
    )
    expected = spark.createDataFrame(
        [
            ("before-first-version", "OF-1", ts("2025-12-31 23:00:00"), "North"),
            ("just-before-move", "OF-1", ts("2026-01-10 11:59:59.999999"), "North"),
            ("at-move", "OF-1", ts("2026-01-10 12:00:00"), "South"),  # [valid_from, valid_to)
            ("after-move-same-day", "OF-1", ts("2026-01-10 18:00:00"), "South"),
            ("after-move-same-day-twin", "OF-1", ts("2026-01-10 18:00:00"), "South"),
            ("single-version-before", "OF-2", ts("2026-01-01 00:00:00"), "East"),
            ("single-version-after", "OF-2", ts("2026-03-01 00:00:00"), "East"),
            ("middle-version", "OF-3", ts("2026-01-07 00:00:00"), "B"),
            ("last-version", "OF-3", ts("2026-02-01 00:00:00"), "C"),
            ("unknown-office", "OF-404", ts("2026-01-10 12:00:00"), "UNKNOWN"),
            ("null-office", None, ts("2026-01-10 12:00:00"), "UNKNOWN"),
            ("null-time", "OF-1", None, "UNKNOWN"),
        ],
        f"{schema}, region string",
    )

    actual = with_region_at(df, _offices(spark), time_col="at")

    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_keeps_duplicate_input_rows_and_replaces_an_existing_region(spark: SparkSession) -> None:
    # Identical input rows stay two rows, never more (no fan-out over the office's versions).
    schema = "shop string, region string, seen timestamp"
    df = spark.createDataFrame(
        [("OF-1", "stale", ts("2026-01-10 13:00:00")), ("OF-1", "stale", ts("2026-01-10 13:00:00"))],
        schema,
    )
    expected = spark.createDataFrame(
        [(ts("2026-01-10 13:00:00"), "OF-1", "South")] * 2,
        "seen timestamp, shop string, region string",
    ).select("shop", "seen", "region")

    actual = with_region_at(df, _offices(spark), time_col="seen", office_col="shop")

    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_no_offices_means_unknown(spark: SparkSession) -> None:
    df = spark.createDataFrame([("OF-1", ts("2026-01-10 13:00:00"))], "office_id string, at timestamp")
    expected = spark.createDataFrame(
        [("OF-1", ts("2026-01-10 13:00:00"), "UNKNOWN")], "office_id string, at timestamp, region string"
    )

    actual = with_region_at(df, spark.createDataFrame([], OFFICES), time_col="at")

    assert_df_equality(actual, expected, ignore_nullable=True)
