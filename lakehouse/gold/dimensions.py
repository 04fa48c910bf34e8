"""Gold dimensions: the calendar and the office history."""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.contract import conform
from lakehouse.gold.region import UNKNOWN

OFFICE_KEY_TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"


def dim_date(events: DataFrame, office_reports: DataFrame) -> DataFrame:
    """Calendar dimension covering every date the facts use.

    Grain: one row per date, every date from the earliest to the latest of
    silver.enrollment_events.event_date and silver.office_reports.report_date (gaps filled).
    `day_of_week` is ISO (1 = Monday .. 7 = Sunday), `iso_week` the ISO week number, `is_weekend`
    Saturday and Sunday. Empty inputs give an empty dimension.

    Example:
        events.event_date 2026-01-03, office_reports.report_date 2026-01-05
        -> 2026-01-03 (Saturday, 6, week 1, weekend), 2026-01-04 (Sunday, 7, week 1, weekend),
           2026-01-05 (Monday, 1, week 2, not weekend)

    Args:
        events: silver.enrollment_events.
        office_reports: silver.office_reports.

    Returns:
        gold.dim_date.
    """
    dates = events.select(F.col("event_date").alias("date")).unionByName(
        office_reports.select(F.col("report_date").alias("date"))
    )
    day_of_week = F.weekday("date") + 1  # weekday: 0 = Monday
    calendar = (
        dates.agg(F.min("date").alias("first"), F.max("date").alias("last"))
        # min/max are null on empty input: sequence is then null and explode yields no row
        .select(F.explode(F.sequence("first", "last", F.expr("INTERVAL 1 DAY"))).alias("date"))
    )
    return conform(
        calendar.select(
            "date",
            F.year("date").alias("year"),
            F.quarter("date").alias("quarter"),
            F.month("date").alias("month"),
            F.dayofmonth("date").alias("day"),
            day_of_week.alias("day_of_week"),
            F.date_format("date", "EEEE").alias("day_name"),
            F.weekofyear("date").alias("iso_week"),  # Spark's weekofyear is the ISO 8601 week
            (day_of_week >= 6).alias("is_weekend"),
        ),
        "gold.dim_date",
    )


def dim_office(offices: DataFrame) -> DataFrame:
    """Office dimension with history (SCD2) and an UNKNOWN member.

    Grain: one row per silver.offices version, plus one UNKNOWN member that facts with an unknown
    office point to. `office_key` = office_id + "@" + valid_from as yyyy-MM-dd'T'HH:mm:ss.SSSSSS
    (UTC), readable and stable across runs. valid_from, valid_to and is_current are silver's.

    Example:
        (OF-1, Central Office, North, D1, valid_from 2026-01-01 08:00, valid_to null, current)
        -> (OF-1@2026-01-01T08:00:00.000000, OF-1, Central Office, North, D1, 2026-01-01 08:00,
            null, true), (UNKNOWN, UNKNOWN, Unknown office, UNKNOWN, UNKNOWN, null, null, true)

    Args:
        offices: silver.offices.

    Returns:
        gold.dim_office.
    """
    versions = offices.select(
        F.concat("office_id", F.lit("@"), F.date_format("valid_from", OFFICE_KEY_TIME_FORMAT)).alias("office_key"),
        "office_id", "name", "region", "district", "valid_from", "valid_to", "is_current",
    )
    # A global aggregation gives exactly one row, even over no offices: the UNKNOWN member's.
    unknown = offices.agg(F.count(F.lit(1)).alias("_offices")).select(
        F.lit(UNKNOWN).alias("office_key"), F.lit(UNKNOWN).alias("office_id"), F.lit("Unknown office").alias("name"),
        F.lit(UNKNOWN).alias("region"), F.lit(UNKNOWN).alias("district"), F.lit(None).alias("valid_from"),
        F.lit(None).alias("valid_to"), F.lit(True).alias("is_current"),
    )
    return conform(versions.unionByName(conform(unknown, "gold.dim_office")), "gold.dim_office")
