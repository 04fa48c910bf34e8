"""The data contract: every table's name, layer, key, schema, description and column comments.

The schemas here are the contract between the steps: each layer function ends in `conform`, which
selects and casts to a table's schema, and the Glue catalog and the PostgreSQL export take their
comments from here. Nothing here reads or writes storage (`lakehouse.storage` does; a table lives
at `<storage root>/<layer>/<table>`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.personal import ERASURE_REQUESTS, STATS_COLUMNS

BRONZE_META = "_raw string, _source string, _ingested_at timestamp, _batch_id string"
FILE_META = f"{BRONZE_META}, _file string, _file_modified_at timestamp, _parse_error string"
# Enrollment events also come from Kinesis: `_arrived_at` is the record's approximate arrival time.
EVENT_META = f"{BRONZE_META}, _file string, _file_modified_at timestamp, _arrived_at timestamp, _parse_error string"
QUARANTINE_META = "_failed_rules array<string>, _quarantined_at timestamp"

VALIDATION_STRUCT = (
    "struct<validation_id: string, modality: string, result: string, score: string, "
    "started_at: string, finished_at: string>"
)
BRONZE_EVENTS = (
    "event_id string, event_type string, event_time string, schema_version string, "
    "enrollment_id string, national_id string, full_name string, birth_date string, "
    f"office_id string, channel string, operator_id string, validation {VALIDATION_STRUCT}, "
    f"{EVENT_META}"
)
BRONZE_OFFICE_REPORTS = (
    "report_date string, office_id string, staffed_hours string, appointments_scheduled string, "
    f"appointments_attended string, notes string, _dialect string, {FILE_META}"
)
BRONZE_DEVICE_LOGS = (
    "device_id string, office_id string, ts string, level string, message string, firmware string, "
    f"{FILE_META}"
)
BRONZE_OFFICES = (
    "office_id string, name string, region string, district string, opened_on date, "
    f"updated_at timestamp, {BRONZE_META}"
)
BRONZE_OPERATORS = (
    "operator_id string, office_id string, full_name string, role string, updated_at timestamp, "
    f"{BRONZE_META}"
)
BRONZE_DOCUMENTS = (
    "path string, size bigint, content_type string, sha256 string, modified_at timestamp, "
    f"{BRONZE_META}"
)


@dataclass(frozen=True)
class Layout:
    """How a table's files are laid out, and why (README, "Table layout").

    Attributes:
        partition_by: Hive-style partition columns: a reader filtering on them opens only their
            folders (gold's incremental build reads silver's events by date).
        change_feed: Delta's change data feed on (`delta.enableChangeDataFeed`): the incremental
            gold build reads what the table gained, lost or changed since its last run.
        zorder_by: the columns `lakehouse maintain` Z-orders each partition's files by, so that a
            reader filtering on them (Delta's file statistics) opens few files; empty: compaction only.
        reason: Why this layout, in one line.
    """

    partition_by: tuple[str, ...] = ()
    change_feed: bool = False
    reason: str = ""
    zorder_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    """One Delta table of the lakehouse."""

    layer: str
    name: str
    schema: str
    description: str
    keys: tuple[str, ...] = ()
    comments: dict[str, str] = field(default_factory=dict)
    layout: Layout = field(default_factory=Layout)

    @property
    def full_name(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def properties(self) -> dict[str, str]:
        """Delta table properties set when the table is created (and added to one made without them).

        Bronze and quarantine hold personal data in clear: their commits keep file statistics for
        the lineage columns only (`personal.STATS_COLUMNS`), never a personal column's min/max.
        Nobody filters them by their fields either (silver reads bronze incrementally).
        """
        wanted = {"delta.enableChangeDataFeed": "true"} if self.layout.change_feed else {}
        if self.layer in STATS_COLUMNS:
            wanted["delta.dataSkippingStatsColumns"] = STATS_COLUMNS[self.layer]
        if self.full_name == ERASURE_REQUESTS:  # holds an ID while the request is pending
            wanted["delta.dataSkippingStatsColumns"] = "request_id,kind,status,requested_at"
        return wanted


def _t(full: str, schema: str, description: str, keys: tuple[str, ...] = (),
       comments: dict[str, str] | None = None, layout: Layout | None = None) -> Table:
    layer, name = full.split(".")
    return Table(layer, name, schema, description, keys, comments or {}, layout or Layout())


# What gold reads: its incremental build follows the change data feed of each.
_BY_DATE_ENROLLMENT = Layout(
    ("event_date",), True,
    "gold recomputes the dates that changed: a date's events are one folder; within a date, files "
    "Z-ordered by enrollment_id: an enrollment's rows (its status, its timings) sit in few files",
    ("enrollment_id",))
_FOLLOWED = Layout((), True, "small: gold follows its change data feed")


_TABLES = [
    # bronze: shaped like the source, append-only, every record exactly once
    _t("bronze.enrollment_events", BRONZE_EVENTS, "Enrollment events as they arrived (stream and backfill files)."),
    _t("bronze.office_reports", BRONZE_OFFICE_REPORTS, "Office daily reports (CSV and Excel) as they arrived."),
    _t("bronze.offices", BRONZE_OFFICES, "Registry offices, one row per captured change."),
    _t("bronze.operators", BRONZE_OPERATORS, "Registry operators, one row per captured change."),
    _t("bronze.device_logs", BRONZE_DEVICE_LOGS, "Device logs as they arrived."),
    _t("bronze.documents", BRONZE_DOCUMENTS, "Inventory of document files (not their bytes)."),
    # quarantine: every record that failed a rule
    _t("quarantine.enrollment_events", f"{BRONZE_EVENTS}, {QUARANTINE_META}", "Enrollment events that failed a rule."),
    _t("quarantine.office_reports", f"{BRONZE_OFFICE_REPORTS}, {QUARANTINE_META}",
       "Office report rows that failed a rule."),
    _t("quarantine.device_logs", f"{BRONZE_DEVICE_LOGS}, {QUARANTINE_META}", "Device log lines that failed a rule."),
    # silver: typed, validated, de-duplicated, pseudonymized
    _t(
        "silver.enrollment_events",
        "event_id string, event_type string, event_time timestamp, event_date date, schema_version int, "
        "enrollment_id string, citizen_key string, birth_year int, office_id string, channel string, "
        "operator_id string, validation_id string, _source string, _ingested_at timestamp, _batch_id string",
        "One row per valid event_id (first arrival wins).",
        ("event_id",),
        {"citizen_key": "HMAC-SHA256 of the national ID under the lakehouse secret key",
         "event_date": "UTC date of event_time"},
        _BY_DATE_ENROLLMENT,
    ),
    _t(
        "silver.biometric_validations",
        "validation_id string, event_id string, enrollment_id string, citizen_key string, office_id string, "
        "channel string, event_time timestamp, event_date date, modality string, result string, "
        "score double, started_at timestamp, finished_at timestamp, duration_ms bigint, _ingested_at timestamp",
        "One row per validation_id; duration_ms = finished_at - started_at.",
        ("validation_id",),
        layout=_BY_DATE_ENROLLMENT,
    ),
    _t(
        "silver.office_reports",
        "report_date date, office_id string, staffed_hours double, appointments_scheduled int, "
        "appointments_attended int, _source string, _ingested_at timestamp",
        "One row per (report_date, office_id); the latest file wins (its free-text notes stay in bronze).",
        ("report_date", "office_id"),
        layout=_FOLLOWED,
    ),
    _t(
        "silver.offices",
        "office_id string, name string, region string, district string, opened_on date, "
        "updated_at timestamp, valid_from timestamp, valid_to timestamp, is_current boolean",
        "Offices as SCD type 2: one row per version, valid from updated_at until the next version.",
        ("office_id", "valid_from"),
        layout=_FOLLOWED,
    ),
    _t(
        "silver.device_logs",
        "device_id string, office_id string, ts timestamp, log_date date, level string, message string, "
        "firmware string, _source string, _ingested_at timestamp",
        "Typed device log lines.",
        ("_source",),
    ),
    _t(
        "silver.documents",
        "path string, size bigint, content_type string, sha256 string, modified_at timestamp, "
        "_ingested_at timestamp",
        "Document inventory: the latest version of each path.",
        ("path",),
    ),
    # gold: facts, dimensions and KPIs
    _t(
        "gold.dim_date",
        "date date, year int, quarter int, month int, day int, day_of_week int, day_name string, "
        "iso_week int, is_weekend boolean",
        "Calendar dimension covering every date the facts use.",
        ("date",),
    ),
    _t(
        "gold.dim_office",
        "office_key string, office_id string, name string, region string, district string, "
        "valid_from timestamp, valid_to timestamp, is_current boolean",
        "Office dimension with history (SCD2) and an UNKNOWN member.",
        ("office_key",),
    ),
    _t(
        "gold.fct_enrollments",
        "enrollment_id string, office_id string, region string, channel string, started_at timestamp, "
        "completed_at timestamp, cancelled_at timestamp, status string, minutes_to_complete double",
        "One row per enrollment: started, completed, cancelled times, status, minutes to complete.",
        ("enrollment_id",),
    ),
    _t(
        "gold.fct_biometric_validations",
        "validation_id string, enrollment_id string, office_id string, region string, channel string, "
        "event_time timestamp, event_date date, modality string, result string, score double, "
        "duration_ms bigint",
        "One row per validation, with the office's region at validation time.",
        ("validation_id",),
    ),
    _t(
        "gold.kpi_enrollments_daily",
        "date date, region string, channel string, enrollments_started bigint, "
        "enrollments_completed bigint, enrollments_cancelled bigint, completion_rate double",
        "Enrollment events per UTC day, region and channel; completion_rate = completed / started.",
        ("date", "region", "channel"),
    ),
    _t(
        "gold.kpi_validation_times_daily",
        "date date, region string, modality string, validations bigint, matches bigint, "
        "no_matches bigint, errors bigint, match_rate double, p50_ms double, p95_ms double, avg_ms double",
        "Biometric validations per UTC day, region and modality; times exclude errors.",
        ("date", "region", "modality"),
    ),
    _t(
        "gold.kpi_office_daily",
        "date date, office_id string, region string, appointments_scheduled int, appointments_attended int, "
        "attendance_rate double, staffed_hours double, enrollments_completed bigint, "
        "completed_per_staffed_hour double",
        "Office operations per day: reports joined with completed enrollments.",
        ("date", "office_id"),
    ),
    _t(
        "gold.alerts",
        "incident_id string, rule string, severity string, status string, source_table string, "
        "column_name string, incident_key string, date date, region string, value double, baseline double, "
        "threshold double, volume bigint, message string, opened_at timestamp, updated_at timestamp, "
        "resolved_at timestamp, notified_opened_at timestamp, notified_resolved_at timestamp",
        "KPI and operations alerts as incidents: one row per incident of a rule and key, open until the "
        "key is judged again and no longer breaks the rule, then resolved (kept).",
        ("incident_id",),
        {"incident_id": "al- and 16 hex digits of the rule, the key and the incident's number for that key",
         "incident_key": "the rule's grain as name=value pairs (date=2026-10-05, region=North, modality=face)",
         "status": "open or resolved",
         "value": "the value judged when the incident last changed (the volume-weighted mean for a coarser grain)",
         "baseline": "falls_by and rises_by: the mean of the key's window_days dates before; else null",
         "notified_opened_at": "when the opening went to the SNS topic; null: not sent (no topic, or to retry)",
         "updated_at": "the last run that changed the incident's value, volume or status"},
    ),
    # ops: pipeline runs and quality metrics
    _t(
        "ops.pipeline_runs",
        "run_id string, step string, started_at timestamp, finished_at timestamp, status string, "
        "rows_in bigint, rows_out bigint, rows_quarantined bigint, delta_versions map<string, bigint>, "
        "input_versions map<string, bigint>, message string",
        "One row per pipeline step run: the Delta versions it wrote and the input versions it read.",
        ("run_id", "step"),
    ),
    _t(
        "ops.quality_metrics",
        "run_id string, recorded_at timestamp, table_name string, rule string, severity string, "
        "passed bigint, failed bigint, duplicates_dropped bigint",
        "Rows passing and failing each rule per run; rule '*' carries the table's totals.",
        ("run_id", "table_name", "rule"),
    ),
    _t(
        "ops.ingested_files",
        "path string, size bigint, modified_at timestamp, target string, batch_id string, "
        "ingested_at timestamp, records bigint",
        "Manifest of landing files ingested into bronze: one row per file version (key, size, modified "
        "time); 0 records for a document whose bytes bronze holds already.",
        ("path", "size", "modified_at"),
    ),
    _t(
        "ops.rejected_files",
        "path string, size bigint, kind string, rule string, reason string, batch_id string, rejected_at timestamp",
        "Landing files no source contract accepts, moved to <root>/rejected/ with a reason object beside them.",
        ("path", "rejected_at"),
        {"path": "the file's key under the landing root", "rule": "the landing contract's rule it broke",
         "reason": "why, in one line (never the file's content)"},
    ),
    _t(
        "ops.erasure_requests",
        "request_id string, kind string, subject string, status string, requested_by string, "
        "requested_at timestamp, erased_at timestamp",
        "Requests to erase a person: a citizen (by national ID: pending with the ID, done without it, "
        "the table purged when the erasure has run) or a registry operator (by operator_id, kept: "
        "ingest drops the registry rows of an erased operator).",
        ("request_id",),
        {"request_id": "er- and 16 hex digits of the subject's HMAC: the same person, the same request",
         "kind": "citizen or operator",
         "subject": "the national ID (while pending only) or the operator_id"},
    ),
    _t(
        "ops.erasures",
        "erasure_id string, requested_by string, started_at timestamp, finished_at timestamp, "
        "request_ids array<string>, rows map<string, bigint>, files_rewritten bigint, files_deleted bigint",
        "The audit of erasures: one row per run of `lakehouse erase` (never an ID).",
        ("erasure_id",),
        {"rows": "rows deleted per table", "files_rewritten": "landing files rewritten without the person's lines"},
    ),
]

TABLES: dict[str, Table] = {t.full_name: t for t in _TABLES}


def table(full_name: str) -> Table:
    """Look a table up by `layer.name`; a clear error for an unknown name."""
    try:
        return TABLES[full_name]
    except KeyError:
        known = ", ".join(sorted(TABLES))
        raise KeyError(f"unknown table '{full_name}' (known: {known})") from None


def tables_in(layer: str) -> list[Table]:
    return [t for t in _TABLES if t.layer == layer]


@cache
def schema(full_name: str) -> T.StructType:
    """The table's schema as a StructType, parsed once from its DDL (needs a running session)."""
    parsed = T.DataType.fromDDL(table(full_name).schema)
    assert isinstance(parsed, T.StructType), f"{full_name}: the schema must be a list of columns"
    return parsed


def conform(df: DataFrame, full_name: str) -> DataFrame:
    """Select and cast to the table's schema, in its column order (extra columns are left out).

    Example: columns (b string, a int, x int) for a table `a bigint, b string` -> (a bigint, b string).
    """
    return df.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in schema(full_name).fields])


def empty(spark: SparkSession, full_name: str) -> DataFrame:
    """No rows, the table's schema."""
    return spark.createDataFrame([], schema(full_name))
