"""Device logs: validation, the typed log lines, and the quarantine."""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.contract import conform
from lakehouse.functions import parse_timestamp
from lakehouse.quality.rules import device_log_rules, with_failed_rules
from lakehouse.silver import bronze_columns, quarantine_rows, valid_rows

BRONZE = "bronze.device_logs"


def validate_device_logs(bronze: DataFrame) -> DataFrame:
    """Judge every bronze log line against the device log rules.

    Grain: one row per bronze row.

    Returns:
        The bronze columns unchanged, plus `_failed_rules`. Example: (device_id null,
        ts "yesterday", ...) -> same row + ["device_id_present", "ts_parseable"].
    """
    return bronze.transform(bronze_columns, BRONZE).transform(with_failed_rules, device_log_rules())


def clean_device_logs(validated: DataFrame) -> DataFrame:
    """Typed log lines from the valid rows.

    Grain: one row per valid bronze log line (`_source`); `log_date` is the UTC date of `ts`.

    Returns:
        Rows in the `silver.device_logs` schema. Example: ("DEV-1", "OF-1",
        "2026-11-21T01:15:00+02:00", "INFO", ...) -> ("DEV-1", "OF-1", 2026-11-20 23:15:00,
        2026-11-20, "INFO", ...).
    """
    ts = parse_timestamp(F.col("ts"))
    return conform(
        valid_rows(validated).select(
            "device_id",
            "office_id",
            ts.alias("ts"),
            F.to_date(ts).alias("log_date"),
            "level",
            "message",
            "firmware",
            "_source",
            "_ingested_at",
        ),
        "silver.device_logs",
    )


def quarantine_device_logs(validated: DataFrame, quarantined_at: DataFrame) -> DataFrame:
    """The log lines that failed an error rule.

    Grain: one row per failing bronze row.

    Returns:
        Rows in the `quarantine.device_logs` schema, `_quarantined_at` from `quarantined_at`. Example: a line
        with `_parse_error` set -> same row + ["record_parseable"].
    """
    return quarantine_rows(validated, "quarantine.device_logs", quarantined_at)
