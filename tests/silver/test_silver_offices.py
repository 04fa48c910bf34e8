"""Silver offices: SCD type 2 versions from the captured registry changes."""
from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import SparkSession

from lakehouse.contract import BRONZE_OFFICES, schema
from lakehouse.silver.offices import offices_scd2

UTC = dt.UTC
JAN, MAR, JUN = (dt.datetime(2026, m, 1, 9, 0, tzinfo=UTC) for m in (1, 3, 6))
OPENED = dt.date(2025, 6, 1)
INGESTED = dt.datetime(2026, 7, 1, tzinfo=UTC)


def test_offices_scd2_versions(spark: SparkSession) -> None:
    bronze = spark.createDataFrame([
        # captured out of order, and the March change captured twice (second capture a day later)
        ("OF-1", "Central", "South", "S-1", OPENED, MAR, "{}", "registry:offices", INGESTED, "b1"),
        ("OF-1", "Central", "North", "N-4", OPENED, JAN, "{}", "registry:offices", INGESTED, "b1"),
        ("OF-1", "Central", "South", "S-1", OPENED, MAR, "{}", "registry:offices",
         INGESTED + dt.timedelta(days=1), "b2"),
        ("OF-1", "Central Plaza", "South", "S-1", OPENED, JUN, "{}", "registry:offices", INGESTED, "b1"),
        ("OF-2", "Harbour", "West", "W-2", None, MAR, "{}", "registry:offices", INGESTED, "b1"),
    ], BRONZE_OFFICES)
    expected = spark.createDataFrame([
        ("OF-1", "Central", "North", "N-4", OPENED, JAN, JAN, MAR, False),
        ("OF-1", "Central", "South", "S-1", OPENED, MAR, MAR, JUN, False),
        ("OF-1", "Central Plaza", "South", "S-1", OPENED, JUN, JUN, None, True),
        ("OF-2", "Harbour", "West", "W-2", None, MAR, MAR, None, True),
    ], schema("silver.offices"))
    assert_df_equality(offices_scd2(bronze), expected, ignore_nullable=True, ignore_row_order=True)


def test_offices_scd2_of_nothing_is_empty(spark: SparkSession) -> None:
    out = offices_scd2(spark.createDataFrame([], BRONZE_OFFICES))
    assert [(f.name, f.dataType.simpleString()) for f in out.schema.fields] == [
        ("office_id", "string"), ("name", "string"), ("region", "string"), ("district", "string"),
        ("opened_on", "date"), ("updated_at", "timestamp"), ("valid_from", "timestamp"),
        ("valid_to", "timestamp"), ("is_current", "boolean")]
    assert out.isEmpty()
