"""Registry offices as a slowly changing dimension (type 2)."""
from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.contract import conform
from lakehouse.silver import first_arrival, first_per_key


def offices_scd2(bronze_offices: DataFrame) -> DataFrame:
    """Office versions with their validity intervals.

    Grain: one row per `(office_id, updated_at)`; a change captured twice is kept once (its first
    arrival). A version is valid from its `updated_at` until the next version's; the last
    version has `valid_to` null and `is_current` true.

    Args:
        bronze_offices: rows in the `bronze.offices` schema (one per captured change).

    Returns:
        Rows in the `silver.offices` schema. Example: ("OF-1", region "North", updated 01-01),
        ("OF-1", "South", 03-01), and the 03-01 change captured again -> ("OF-1", "North",
        valid_from 01-01, valid_to 03-01, is_current false), ("OF-1", "South", 03-01, null, true).
    """
    next_version = F.lead("updated_at").over(Window.partitionBy("office_id").orderBy("updated_at"))
    return conform(
        bronze_offices.transform(first_per_key, ["office_id", "updated_at"], first_arrival())
        .select(
            "office_id",
            "name",
            "region",
            "district",
            "opened_on",
            "updated_at",
            F.col("updated_at").alias("valid_from"),
            next_version.alias("valid_to"),
        )
        .withColumn("is_current", F.col("valid_to").isNull()),
        "silver.offices",
    )
