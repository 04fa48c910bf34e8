"""The silver step: bronze -> silver + quarantine, incrementally.

Record sources (events, office reports, device logs) are read as a Delta stream over their bronze
table with an `availableNow` trigger: each run processes exactly the bronze rows added since the
previous run (the checkpoint under `<root>/_checkpoints/` remembers where it stopped), then stops.
Every write inside a batch is an insert of keys not yet present, so a batch retried after a crash
writes nothing twice. Small reference tables (offices, documents, the latest office reports) are
rebuilt from their whole bronze table and synced, which commits only real changes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from lakehouse.ops.runs import QualityMetric, StepReport
from lakehouse.pipeline.clock import moment
from lakehouse.quality import rules as R
from lakehouse.silver import device_logs, documents, events, office_reports, offices
from lakehouse.storage import delta


@dataclass(frozen=True)
class SilverSettings:
    root: str
    hmac_key: bytes
    future_tolerance_minutes: int

    def __repr__(self) -> str:  # the key never shows
        return f"SilverSettings(root={self.root!r})"


def checkpoint(root: str, name: str) -> str:
    return f"{root.rstrip('/')}/_checkpoints/{name}"


def _increments(spark: SparkSession, root: str, source: str, name: str,
                handle: Callable[[DataFrame, int], None], every_seconds: int | None = None) -> StreamingQuery:
    """Run `handle` over the bronze rows added since the last run, in micro-batches.

    By default it drains what bronze holds and stops (`availableNow`); with `every_seconds` it keeps
    following bronze and the caller gets the running query.
    """
    return delta.increments(spark, root, source, checkpoint(root, name), handle, name, every_seconds)


def _rule_metrics(validated: DataFrame, rules: list[R.Rule], table: str) -> list[QualityMetric]:
    return [QualityMetric(table, r["rule"], r["severity"], int(r["passed"]), int(r["failed"]))
            for r in R.rule_counts(validated, rules).collect()]


@dataclass(frozen=True)
class BatchCounts:
    rows: int
    valid: int
    unknown_office: int
    rules: list[tuple[str, str, int, int]]


class KnownOffices:
    """The office ids of `silver.offices`, read again only when the table has a new version.

    A stream's batches would otherwise each read (and join) the table for a warning count.
    """

    def __init__(self, spark: SparkSession, root: str) -> None:
        self.spark, self.root = spark, root
        self.version: int | None = None
        self.ids: list[str] = []

    def __call__(self) -> list[str]:
        """The known ids (none while there is no `silver.offices`: every office is unknown then)."""
        current = delta.version(self.spark, self.root, "silver.offices")
        if current is None:
            return []
        if current != self.version:
            offices = delta.read(self.spark, self.root, "silver.offices").select("office_id").distinct()
            self.ids, self.version = sorted(r["office_id"] for r in offices.collect() if r["office_id"]), current
        return self.ids


def _batch_counts(validated: DataFrame, rules: list[R.Rule], known_offices: list[str]) -> BatchCounts:
    """Rows in, valid rows, valid rows naming an unknown office and the rule counts, in one pass."""
    is_valid = F.size("_failed_rules") == 0
    unknown = ~F.coalesce(F.col("office_id").isin(known_offices), F.lit(False))
    row = validated.agg(F.count(F.lit(1)).alias("rows"), F.count_if(is_valid).alias("valid"),
                        F.count_if(is_valid & unknown).alias("unknown"),
                        *R.rule_aggregates(rules, validated.columns)).collect()[0]
    return BatchCounts(int(row["rows"]), int(row["valid"]), int(row["unknown"]), R.rule_results(row, rules))


def _quarantine(spark: SparkSession, root: str, rows: DataFrame, table: str, report: StepReport) -> int:
    """Quarantine rows keyed by their source position: a retried batch inserts nothing twice."""
    inserted = delta.insert_new(spark, rows, root, table, ("_source",))
    if inserted:
        report.versions[table] = delta.version(spark, root, table) or 0
    report.rows_quarantined += inserted
    return inserted


def _totals(table: str, out: int, quarantined: int, duplicates: int) -> QualityMetric:
    """The table's line in `ops.quality_metrics`: rule '*', passed = rows out, failed = quarantined."""
    return QualityMetric(table, "*", "total", out, quarantined, duplicates)


def build_events(spark: SparkSession, s: SilverSettings, report: StepReport,
                 every_seconds: int | None = None) -> StreamingQuery:
    """bronze.enrollment_events -> silver.enrollment_events, silver.biometric_validations, quarantine.

    Drains and stops by default; with `every_seconds`, returns the query that keeps following bronze.
    """
    rules = R.enrollment_event_rules(s.future_tolerance_minutes)
    known_offices = KnownOffices(spark, s.root)
    table = "silver.enrollment_events"

    def handle(batch: DataFrame, batch_id: int) -> None:
        validated = events.validate_enrollment_events(batch, s.future_tolerance_minutes).persist()
        try:
            counts = _batch_counts(validated, rules, known_offices())
            quarantined = 0
            if counts.valid < counts.rows:
                quarantined = _quarantine(spark, s.root, events.quarantine_enrollment_events(validated, moment(spark)),
                                          "quarantine.enrollment_events", report)
            else:  # nothing to quarantine: no MERGE, but the table exists as after any silver run
                delta.ensure(spark, s.root, "quarantine.enrollment_events")
            inserted = delta.insert_new(spark, events.clean_enrollment_events(validated, s.hmac_key), s.root,
                                     table, ("event_id",))
            delta.insert_new(spark, events.clean_biometric_validations(validated, s.hmac_key), s.root,
                          "silver.biometric_validations", ("validation_id",))
            report.quality.extend(QualityMetric(table, *r) for r in counts.rules)
            report.quality.append(QualityMetric(table, "office_known", "warn",
                                                counts.valid - counts.unknown_office, counts.unknown_office))
            report.quality.append(_totals(table, inserted, quarantined, counts.valid - inserted))
            report.rows_in += counts.rows
            report.rows_out += inserted
            for name in (table, "silver.biometric_validations"):
                report.versions[name] = delta.version(spark, s.root, name) or 0
            report.progress(f"events batch {batch_id}: {counts.rows:,} in, {inserted:,} new, "
                            f"{quarantined:,} quarantined, {counts.valid - inserted:,} duplicates")
        finally:
            validated.unpersist()

    return _increments(spark, s.root, "bronze.enrollment_events", "silver_enrollment_events", handle, every_seconds)


def build_office_reports(spark: SparkSession, s: SilverSettings, report: StepReport) -> None:
    """Quarantine the new bronze report rows; rebuild the latest-file-wins silver table if any arrived."""
    rules = R.office_report_rules()
    arrived: list[int] = []

    def handle(batch: DataFrame, batch_id: int) -> None:
        validated = office_reports.validate_office_reports(batch).persist()
        rows_in = validated.count()
        quarantined = _quarantine(spark, s.root, office_reports.quarantine_office_reports(validated, moment(spark)),
                                  "quarantine.office_reports", report)
        report.quality.extend(_rule_metrics(validated, rules, "silver.office_reports"))
        report.quality.append(_totals("silver.office_reports", rows_in - quarantined, quarantined, 0))
        report.rows_in += rows_in
        arrived.append(rows_in)
        validated.unpersist()

    _increments(spark, s.root, "bronze.office_reports", "silver_office_reports", handle)
    if arrived or not delta.exists(spark, s.root, "silver.office_reports"):
        latest = office_reports.clean_office_reports(
            office_reports.validate_office_reports(delta.read(spark, s.root, "bronze.office_reports")))
        _sync(spark, s.root, latest, "silver.office_reports", report)


def build_device_logs(spark: SparkSession, s: SilverSettings, report: StepReport) -> None:
    rules = R.device_log_rules()

    def handle(batch: DataFrame, batch_id: int) -> None:
        validated = device_logs.validate_device_logs(batch).persist()
        rows_in = validated.count()
        quarantined = _quarantine(spark, s.root, device_logs.quarantine_device_logs(validated, moment(spark)),
                                  "quarantine.device_logs", report)
        inserted = delta.insert_new(spark, device_logs.clean_device_logs(validated), s.root,
                                 "silver.device_logs", ("_source",))
        report.quality.extend(_rule_metrics(validated, rules, "silver.device_logs"))
        report.quality.append(_totals("silver.device_logs", inserted, quarantined, 0))
        report.rows_in += rows_in
        report.rows_out += inserted
        report.versions["silver.device_logs"] = delta.version(spark, s.root, "silver.device_logs") or 0
        validated.unpersist()

    _increments(spark, s.root, "bronze.device_logs", "silver_device_logs", handle)


def _sync(spark: SparkSession, root: str, df: DataFrame, table: str, report: StepReport) -> None:
    if delta.sync(spark, df, root, table):
        report.versions[table] = delta.version(spark, root, table) or 0
        report.progress(f"{table}: updated")


def build_reference(spark: SparkSession, s: SilverSettings, report: StepReport) -> None:
    """silver.offices (SCD2) and silver.documents, rebuilt from bronze and synced."""
    _sync(spark, s.root, offices.offices_scd2(delta.read(spark, s.root, "bronze.offices")), "silver.offices", report)
    _sync(spark, s.root, documents.clean_documents(delta.read(spark, s.root, "bronze.documents")),
          "silver.documents", report)


def build_silver(spark: SparkSession, s: SilverSettings, report: StepReport) -> None:
    """All of silver; offices first, so the `office_known` warning sees this run's offices."""
    build_reference(spark, s, report)
    build_events(spark, s, report)
    build_office_reports(spark, s, report)
    build_device_logs(spark, s, report)
