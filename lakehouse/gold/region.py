"""The office's region as of a point in time (SCD2 lookup shared by the gold tables)."""
from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

UNKNOWN = "UNKNOWN"

# Prefixed so the lookup's columns never collide with the caller's.
_ID, _FROM, _TO, _REGION = "_region_office_id", "_region_from", "_region_to", "_region_region"


def _region_validity(offices: DataFrame) -> DataFrame:
    """One row per office version with the half-open interval [from, to) it covers.

    The intervals are rebuilt from `valid_from` alone (to = the next version's `valid_from`), and the
    first version's start is opened to the past, so the versions of one office tile the whole
    timeline: every instant falls in exactly one of them.
    """
    by_office = Window.partitionBy("office_id").orderBy("valid_from")
    return offices.select(
        F.col("office_id").alias(_ID),
        F.when(F.row_number().over(by_office) > 1, F.col("valid_from")).alias(_FROM),
        F.lead("valid_from").over(by_office).alias(_TO),
        F.col("region").alias(_REGION),
    )


def with_region_at(df: DataFrame, offices: DataFrame, time_col: str,
                   office_col: str = "office_id") -> DataFrame:
    """Add `region`: the region of the office version valid at `df[time_col]`.

    Grain: unchanged, one output row per input row. An office version (silver.offices) is valid on
    [valid_from, next version's valid_from); the first known version also covers everything before
    it. An unknown or null office, a null time, or a version without a region gives "UNKNOWN".
    A `region` column already on `df` is replaced.

    Example:
        offices: (OF-1, North, valid_from 2026-01-01), (OF-1, South, valid_from 2026-01-10 12:00)
        df: (OF-1, 2025-12-31), (OF-1, 2026-01-10 12:00), (OF-9, 2026-01-02)
        -> regions North, South, UNKNOWN

    Args:
        df: Any DataFrame with an office id column and a timestamp column.
        offices: silver.offices (one row per office version).
        time_col: The timestamp column of `df` to look the region up at.
        office_col: The office id column of `df`.

    Returns:
        `df`'s columns (without any previous `region`) followed by `region` (string).
    """
    base = df.drop("region")
    versions = _region_validity(offices)
    at = base[time_col]
    matches = (
        (base[office_col] == versions[_ID])
        & at.isNotNull()
        & (versions[_FROM].isNull() | (at >= versions[_FROM]))
        & (versions[_TO].isNull() | (at < versions[_TO]))
    )
    return (
        base.join(versions, on=matches, how="left")
        .select(*base.columns, F.coalesce(versions[_REGION], F.lit(UNKNOWN)).alias("region"))
    )
