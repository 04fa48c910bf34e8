"""Shared silver inputs for the gold tests."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pyspark.sql import DataFrame, SparkSession

from lakehouse.contract import table


@pytest.fixture
def gold_offices(spark: SparkSession) -> DataFrame:
    """OF-1: North from 2026-01-01, South from noon on 2026-01-10. OF-2: East from 2026-01-05."""
    north, south, east = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 10, 12, tzinfo=UTC),
                          datetime(2026, 1, 5, tzinfo=UTC))
    return spark.createDataFrame(
        [
            ("OF-1", "Central", "North", "D1", None, north, north, south, False),
            ("OF-1", "Central", "South", "D9", None, south, south, None, True),
            ("OF-2", "Harbour", "East", "D2", None, east, east, None, True),
        ],
        table("silver.offices").schema,
    )
