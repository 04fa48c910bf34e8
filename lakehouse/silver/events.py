"""Enrollment events: validation, the clean event and validation entities, and the quarantine.

`event_date` is `to_date` of the UTC `event_time`: the session time zone is UTC (lakehouse.spark).
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.contract import conform
from lakehouse.functions import parse_number, parse_timestamp
from lakehouse.personal import pseudonymize
from lakehouse.quality.rules import enrollment_event_rules, with_failed_rules
from lakehouse.silver import bronze_columns, first_arrival, first_per_key, quarantine_rows, valid_rows

BRONZE = "bronze.enrollment_events"


def validate_enrollment_events(bronze: DataFrame, future_tolerance_minutes: int) -> DataFrame:
    """Judge every bronze event against the event rules.

    Grain: one row per bronze row (nothing is dropped or merged).

    Args:
        bronze: rows in the `bronze.enrollment_events` schema.
        future_tolerance_minutes: how far after `_ingested_at` an `event_time` may lie.

    Returns:
        The bronze columns unchanged, plus `_failed_rules` (error rules failed, in rule order).
        Example: (event_id "e-1" [not a UUID], channel "fax", ...) -> same row +
        ["event_id_is_uuid", "channel_known"]; a good row -> same row + [].
    """
    return (
        bronze.transform(bronze_columns, BRONZE)
        .transform(with_failed_rules, enrollment_event_rules(future_tolerance_minutes))
    )


def clean_enrollment_events(validated: DataFrame, hmac_key: bytes) -> DataFrame:
    """Typed, pseudonymized events that passed every error rule.

    Grain: one row per `event_id`; of its copies, the first arrival wins (earliest `_ingested_at`,
    then `_source`). Personal columns are treated as `lakehouse.personal` declares: the national
    ID becomes `citizen_key`, the birth date `birth_year`, the name is dropped.

    Args:
        validated: the output of `validate_enrollment_events`.
        hmac_key: the secret key of `citizen_key`.

    Returns:
        Rows in the `silver.enrollment_events` schema. Example: two copies of event e1
        ("2026-11-20T01:30:00+02:00", ingested 08:00 and 09:00) -> one row, event_time
        2026-11-19 23:30:00 UTC, event_date 2026-11-19, from the 08:00 copy.
    """
    event_time = parse_timestamp(F.col("event_time"))
    return conform(
        valid_rows(validated)
        .transform(first_per_key, ["event_id"], first_arrival())
        .transform(pseudonymize, BRONZE, hmac_key)
        .select(
            "event_id",
            "event_type",
            event_time.alias("event_time"),
            F.to_date(event_time).alias("event_date"),
            F.col("schema_version").try_cast("int").alias("schema_version"),
            "enrollment_id",
            "citizen_key",
            "birth_year",
            "office_id",
            "channel",
            "operator_id",
            F.col("validation.validation_id").alias("validation_id"),
            "_source",
            "_ingested_at",
            "_batch_id",
        ),
        "silver.enrollment_events",
    )


def clean_biometric_validations(validated: DataFrame, hmac_key: bytes) -> DataFrame:
    """Typed biometric validations from the valid `biometric_validation` events.

    Grain: one row per `validation_id`; the first arrival wins (earliest `_ingested_at`, then
    `_source`). `duration_ms` = finished_at - started_at in whole milliseconds.

    Args:
        validated: the output of `validate_enrollment_events`.
        hmac_key: the secret key of `citizen_key`.

    Returns:
        Rows in the `silver.biometric_validations` schema. Example: validation v1, started
        "2026-11-20T10:00:00.100Z", finished "2026-11-20T12:00:01.350+02:00", score "0.93" ->
        (v1, ..., score 0.93, duration_ms 1250).
    """
    event_time = parse_timestamp(F.col("event_time"))
    started_at = parse_timestamp(F.col("validation.started_at"))
    finished_at = parse_timestamp(F.col("validation.finished_at"))
    return conform(
        valid_rows(validated)
        .filter(F.col("event_type") == "biometric_validation")
        .withColumn("validation_id", F.col("validation.validation_id"))
        .transform(first_per_key, ["validation_id"], first_arrival())
        .transform(pseudonymize, BRONZE, hmac_key)
        .select(
            "validation_id",
            "event_id",
            "enrollment_id",
            "citizen_key",
            "office_id",
            "channel",
            event_time.alias("event_time"),
            F.to_date(event_time).alias("event_date"),
            F.col("validation.modality").alias("modality"),
            F.col("validation.result").alias("result"),
            parse_number(F.col("validation.score")).alias("score"),
            started_at.alias("started_at"),
            finished_at.alias("finished_at"),
            (F.unix_millis(finished_at) - F.unix_millis(started_at)).alias("duration_ms"),
            "_ingested_at",
        ),
        "silver.biometric_validations",
    )


def quarantine_enrollment_events(validated: DataFrame, quarantined_at: DataFrame) -> DataFrame:
    """The events that failed an error rule, with their raw payload and the rules they failed.

    Grain: one row per failing bronze row (duplicates are kept: every arrival is accounted for).

    Returns:
        Rows in the `quarantine.enrollment_events` schema, `_quarantined_at` from `quarantined_at`. Example:
        (event_id "e-1", ..., _failed_rules ["event_id_is_uuid"]) -> the same row + _quarantined_at;
        rows with `_failed_rules` [] are left out.
    """
    return quarantine_rows(validated, "quarantine.enrollment_events", quarantined_at)
