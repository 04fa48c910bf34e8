"""Silver documents: the latest inventory row of each path."""
from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import SparkSession

from lakehouse.contract import BRONZE_DOCUMENTS, schema
from lakehouse.silver.documents import clean_documents

UTC = dt.UTC
DAY1, DAY2 = dt.datetime(2026, 11, 20, tzinfo=UTC), dt.datetime(2026, 11, 21, tzinfo=UTC)
M1, M2 = dt.datetime(2026, 11, 19, 10, tzinfo=UTC), dt.datetime(2026, 11, 19, 11, tzinfo=UTC)


def test_latest_row_per_path(spark: SparkSession) -> None:
    bronze = spark.createDataFrame([
        ("docs/a.pdf", 10, "application/pdf", "aa", M1, "{}", "docs/a.pdf", DAY1, "b1"),
        ("docs/a.pdf", 12, "application/pdf", "ab", M2, "{}", "docs/a.pdf", DAY2, "b2"),
        # the same ingestion saw two modification times: the later one wins
        ("docs/b.png", 5, "image/png", "b1", M2, "{}", "docs/b.png", DAY1, "b1"),
        ("docs/b.png", 4, "image/png", "b0", M1, "{}", "docs/b.png", DAY1, "b1"),
    ], BRONZE_DOCUMENTS)
    expected = spark.createDataFrame([
        ("docs/a.pdf", 12, "application/pdf", "ab", M2, DAY2),
        ("docs/b.png", 5, "image/png", "b1", M2, DAY1),
    ], schema("silver.documents"))
    assert_df_equality(clean_documents(bronze), expected, ignore_nullable=True, ignore_row_order=True)
