"""Silver device logs: typed lines with their UTC date; bad lines quarantined."""
from __future__ import annotations

import datetime as dt
from typing import Any

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from lakehouse.contract import BRONZE_DEVICE_LOGS, schema
from lakehouse.silver.device_logs import clean_device_logs, quarantine_device_logs, validate_device_logs

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
LOG = {
    "device_id": "DEV-1", "office_id": "OF-1", "ts": None, "level": "INFO", "message": "scan ok",
    "firmware": "1.2.3", "_raw": "{}", "_source": None, "_ingested_at": T0, "_batch_id": "b1",
    "_file": "logs/dev-1.jsonl", "_file_modified_at": T0, "_parse_error": None,
}


def _validated(spark: SparkSession) -> DataFrame:
    rows: list[dict[str, Any]] = [
        {"_source": "logs/dev-1.jsonl:1", "ts": "2026-11-21T01:15:00.5+02:00"},  # UTC date is the day before
        {"_source": "logs/dev-1.jsonl:2", "ts": "2026-11-21T00:00:00Z", "level": "WARN", "office_id": None},
        {"_source": "logs/dev-1.jsonl:3", "ts": "2026-11-21 00:00:00"},
        {"_source": "logs/dev-1.jsonl:4", "ts": "2026-11-21T00:00:01Z", "device_id": " "},
        {"_source": "logs/dev-1.jsonl:5", "_raw": "level=INFO", "_parse_error": "not JSON", "device_id": None},
    ]
    columns = spark.createDataFrame([], BRONZE_DEVICE_LOGS).columns
    bronze = spark.createDataFrame([tuple({**LOG, **r}[c] for c in columns) for r in rows], BRONZE_DEVICE_LOGS)
    return validate_device_logs(bronze)


def test_clean_device_logs(spark: SparkSession) -> None:
    expected = spark.createDataFrame([
        ("DEV-1", "OF-1", dt.datetime(2026, 11, 20, 23, 15, 0, 500000, tzinfo=UTC), dt.date(2026, 11, 20),
         "INFO", "scan ok", "1.2.3", "logs/dev-1.jsonl:1", T0),
        ("DEV-1", None, dt.datetime(2026, 11, 21, tzinfo=UTC), dt.date(2026, 11, 21),
         "WARN", "scan ok", "1.2.3", "logs/dev-1.jsonl:2", T0),
    ], schema("silver.device_logs"))
    assert_df_equality(clean_device_logs(_validated(spark)), expected, ignore_nullable=True, ignore_row_order=True)


def test_quarantine_device_logs(spark: SparkSession) -> None:
    at = dt.datetime(2026, 11, 21, 7, 30)  # the moment of quarantine, pinned (UTC)
    quarantine = quarantine_device_logs(_validated(spark), spark.createDataFrame([(at,)], "moment timestamp"))
    expected = spark.createDataFrame([
        ("logs/dev-1.jsonl:3", "{}", ["ts_parseable"], at),
        ("logs/dev-1.jsonl:4", "{}", ["device_id_present"], at),
        ("logs/dev-1.jsonl:5", "level=INFO", ["record_parseable"], at),
    ], "_source string, _raw string, _failed_rules array<string>, _quarantined_at timestamp")
    assert_df_equality(quarantine.select("_source", "_raw", "_failed_rules", "_quarantined_at"), expected,
                       ignore_nullable=True, ignore_row_order=True)
    assert quarantine.columns == [
        "device_id", "office_id", "ts", "level", "message", "firmware", "_raw", "_source", "_ingested_at",
        "_batch_id", "_file", "_file_modified_at", "_parse_error", "_failed_rules", "_quarantined_at"]
