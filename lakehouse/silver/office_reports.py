"""Office daily reports: validation, the clean report per office and day, and the quarantine."""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.contract import conform
from lakehouse.functions import parse_count, parse_date, parse_number
from lakehouse.personal import pseudonymize
from lakehouse.quality.rules import office_report_rules, with_failed_rules
from lakehouse.silver import bronze_columns, first_per_key, quarantine_rows, valid_rows

BRONZE = "bronze.office_reports"


def latest_file() -> list[Column]:
    """A later file replaces an earlier one; ties fall to the later modification, then the names."""
    return [F.col(c).desc() for c in ("_ingested_at", "_file_modified_at", "_file", "_source")]


def validate_office_reports(bronze: DataFrame) -> DataFrame:
    """Judge every bronze report row against the office report rules.

    Grain: one row per bronze row.

    Returns:
        The bronze columns unchanged, plus `_failed_rules`. Example: (report_date "2026-11-20",
        scheduled "5", attended "7", ...) -> same row + ["attended_not_above_scheduled"].
    """
    return bronze.transform(bronze_columns, BRONZE).transform(with_failed_rules, office_report_rules())


def clean_office_reports(validated: DataFrame) -> DataFrame:
    """Typed office reports from the valid rows.

    Grain: one row per `(report_date, office_id)`; among the valid rows, the latest file wins
    (latest `_ingested_at`, then `_file_modified_at`, then `_file`, then `_source`).

    Returns:
        Rows in the `silver.office_reports` schema. Example: ("2026-11-20", "OF-1", "8", "10", "9")
        from a.csv ingested 08:00 and ("2026-11-20", "OF-1", "7.5", "10", "10") from b.xlsx
        ingested 09:00 -> (2026-11-20, "OF-1", 7.5, 10, 10, ..., from b.xlsx).
    """
    return (
        valid_rows(validated)
        .transform(pseudonymize, BRONZE)
        .withColumn("report_date", parse_date(F.col("report_date")))
        .transform(first_per_key, ["report_date", "office_id"], latest_file())
        .select(
            "report_date",
            "office_id",
            parse_number(F.col("staffed_hours")).alias("staffed_hours"),
            parse_count(F.col("appointments_scheduled")).alias("appointments_scheduled"),
            parse_count(F.col("appointments_attended")).alias("appointments_attended"),
            "_source",
            "_ingested_at",
        )
        .transform(conform, "silver.office_reports")
    )


def report_keys(bronze: DataFrame) -> DataFrame:
    """The silver keys bronze report rows fall under: the `(report_date, office_id)` they report.

    Grain: one row per key. Rows whose date cannot be read have no key (they are quarantined).
    Example: ("2026-11-20", "OF-1"), ("20/11/2026", "OF-1"), ("never", "OF-2") -> (2026-11-20, "OF-1").
    """
    return (bronze.select(parse_date(F.col("report_date")).alias("report_date"), "office_id")
            .where(F.col("report_date").isNotNull()).distinct())


def reports_of(bronze: DataFrame, keys: DataFrame) -> DataFrame:
    """The bronze report rows under `keys` (from `report_keys`): every file that reported one of
    those days of an office, so the latest file among them can be chosen again.

    Grain: one row per bronze row. Example: keys (2026-11-20, "OF-1") -> the rows of a.csv and b.xlsx
    for that day and office, not those of other days or offices.
    """
    keyed = bronze.withColumn("_key_date", parse_date(F.col("report_date")))
    on = (keyed["_key_date"] == keys["report_date"]) & (keyed["office_id"] == keys["office_id"])
    return keyed.join(F.broadcast(keys), on=on, how="left_semi").drop("_key_date")


def quarantine_office_reports(validated: DataFrame, quarantined_at: DataFrame) -> DataFrame:
    """The report rows that failed an error rule.

    Grain: one row per failing bronze row.

    Returns:
        Rows in the `quarantine.office_reports` schema, `_quarantined_at` from `quarantined_at`. Example: a row
        with `_parse_error` "expected 6 columns, got 5" -> same row + ["record_parseable"].
    """
    return quarantine_rows(validated, "quarantine.office_reports", quarantined_at)
