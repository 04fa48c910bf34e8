"""The record sources of the silver step, declared: one `RecordFlow` per source.

Each record source goes from its bronze table to silver batch by batch (a Delta stream over the
bronze table): the batch is validated, rows failing an error rule go to the quarantine table, and
valid rows are inserted into the clean targets under their keys (first arrival wins), or, for a
source whose silver table is rebuilt from bronze (latest file wins), the keys the new rows fall
under are rebuilt from all their bronze rows and replace that slice of the table.
`pipeline.silver` runs every flow with one generic batch handler, so adding a source is one entry
in `RECORD_FLOWS` (plus its transforms and rules).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame

from lakehouse.quality import rules
from lakehouse.quality.rules import Rule
from lakehouse.silver import device_logs, events, office_reports


@dataclass(frozen=True)
class SilverSettings:
    """The plain values the silver transforms take (unpacked from config by the app layer)."""

    root: str
    hmac_key: bytes
    future_tolerance_minutes: int

    def __repr__(self) -> str:  # the key never shows
        return f"SilverSettings(root={self.root!r})"


@dataclass(frozen=True)
class CleanTarget:
    """A silver table a flow inserts its valid rows into, batch by batch, new keys only."""

    table: str
    keys: tuple[str, ...]
    rows: Callable[[DataFrame, SilverSettings], DataFrame]  # (validated batch, settings) -> rows
    # Columns a key's copies share, so the insert looks for a key only in its partition: an event's
    # copies are re-sends of the same bytes, so they carry its event_time, hence its event_date.
    within: tuple[str, ...] = ()


@dataclass(frozen=True)
class RebuiltSlice:
    """How a silver table rebuilt from bronze is rebuilt only where new rows arrived: the keys a
    batch's rows fall under, and the bronze rows under given keys (every earlier arrival included,
    so the winner among them can be chosen again)."""

    keys: Callable[[DataFrame], DataFrame]  # bronze rows -> the distinct silver keys they fall under
    rows: Callable[[DataFrame, DataFrame], DataFrame]  # (whole bronze, keys) -> bronze rows under the keys


@dataclass(frozen=True)
class RecordFlow:
    """One record source from bronze to silver.

    Attributes:
        name: names the stream's checkpoint and query (`silver_<name>`).
        bronze: the bronze table read incrementally.
        silver: the silver table the batch's quality metrics are recorded under.
        quarantine: where rows failing an error rule go, keyed by `_source`.
        validate: (bronze batch, settings) -> the batch with `_failed_rules`.
        quarantine_rows: (validated batch, quarantined_at moment) -> quarantine rows.
        rules: (settings, known office ids) -> the rules counted per batch, warn rules included.
        targets: tables the valid rows are inserted into; the first one's new rows are the step's
            rows out, and valid rows it already held count as duplicates dropped.
        rebuild: (bronze rows, settings) -> the silver table's rows for them, rebuilt after a run in
            which new bronze rows arrived (a latest-file-wins table cannot be inserted into): from
            the whole bronze table the first time, then only the keys the new rows fall under.
        rebuilt_slice: finds those keys and their bronze rows (needed with `rebuild`).
        uses_offices: whether `rules` needs the office ids of `silver.offices`.
    """

    name: str
    bronze: str
    silver: str
    quarantine: str
    validate: Callable[[DataFrame, SilverSettings], DataFrame]
    quarantine_rows: Callable[[DataFrame, DataFrame], DataFrame]
    rules: Callable[[SilverSettings, list[str]], list[Rule]]
    targets: tuple[CleanTarget, ...] = ()
    rebuild: Callable[[DataFrame, SilverSettings], DataFrame] | None = None
    rebuilt_slice: RebuiltSlice | None = None
    uses_offices: bool = False


ENROLLMENT_EVENTS = RecordFlow(
    name="enrollment_events",
    bronze="bronze.enrollment_events",
    silver="silver.enrollment_events",
    quarantine="quarantine.enrollment_events",
    validate=lambda batch, s: events.validate_enrollment_events(batch, s.future_tolerance_minutes),
    quarantine_rows=events.quarantine_enrollment_events,
    rules=lambda s, offices: [*rules.enrollment_event_rules(s.future_tolerance_minutes),
                              rules.office_known(offices)],
    targets=(
        CleanTarget("silver.enrollment_events", ("event_id",),
                    lambda validated, s: events.clean_enrollment_events(validated, s.hmac_key), ("event_date",)),
        CleanTarget("silver.biometric_validations", ("validation_id",),
                    lambda validated, s: events.clean_biometric_validations(validated, s.hmac_key), ("event_date",)),
    ),
    uses_offices=True,
)

OFFICE_REPORTS = RecordFlow(
    name="office_reports",
    bronze="bronze.office_reports",
    silver="silver.office_reports",
    quarantine="quarantine.office_reports",
    validate=lambda batch, s: office_reports.validate_office_reports(batch),
    quarantine_rows=office_reports.quarantine_office_reports,
    rules=lambda s, offices: rules.office_report_rules(),
    rebuild=lambda bronze, s: office_reports.clean_office_reports(office_reports.validate_office_reports(bronze)),
    rebuilt_slice=RebuiltSlice(office_reports.report_keys, office_reports.reports_of),
)

DEVICE_LOGS = RecordFlow(
    name="device_logs",
    bronze="bronze.device_logs",
    silver="silver.device_logs",
    quarantine="quarantine.device_logs",
    validate=lambda batch, s: device_logs.validate_device_logs(batch),
    quarantine_rows=device_logs.quarantine_device_logs,
    rules=lambda s, offices: rules.device_log_rules(),
    targets=(CleanTarget("silver.device_logs", ("_source",),
                         lambda validated, s: device_logs.clean_device_logs(validated)),),
)

RECORD_FLOWS = (ENROLLMENT_EVENTS, OFFICE_REPORTS, DEVICE_LOGS)
