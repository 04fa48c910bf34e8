"""The silver step: bronze -> silver + quarantine, incrementally.

Record sources (`flows.RECORD_FLOWS`) are read as a Delta stream over their bronze table with an
`availableNow` trigger: each run processes exactly the bronze rows added since the previous run
(the checkpoint under `<root>/_checkpoints/` remembers where it stopped), then stops. Every write
inside a batch is an insert of keys not yet present, so a batch retried after a crash writes
nothing twice. The latest-file-wins office reports are rebuilt where new rows arrived: the days and
offices the run's batches reported, from all their bronze rows, replace that slice of the table.
The document inventory is rebuilt for the paths bronze gained rows for. The offices' SCD2 is
rebuilt from the whole of `bronze.offices` and synced (it grows with the registry, not the history),
which commits only real changes.

One query at a time per flow checkpoint, across processes. The stream keeps a second query over
`bronze.enrollment_events` on the same checkpoint as the batch step's flow
(`_checkpoints/silver_enrollment_events`). Spark guards a checkpoint only within one driver: two
processes on it race for its offset log (and one fails with Spark's "Multiple streaming queries are
concurrently using ..."). So each query holds a lease on its checkpoint (`storage.leases`): a batch
run finding the flow followed by a running stream skips it (the stream keeps that silver table up to
date, and its own checkpoint makes it exact); a run finding another drain waits for it to end, then
drains what is left; a stream finding the flow followed by another stream stops with a clear error.
Skipping rather than waiting: a continuous stream holds its lease for hours, and everything a
batch drain would do there the stream does anyway.
"""
from __future__ import annotations

import time

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.streaming import StreamingQuery

from lakehouse.errors import LakehouseError
from lakehouse.ops.results import Progress, QualityMetric, StepResult
from lakehouse.pipeline.clock import moment
from lakehouse.pipeline.flows import RECORD_FLOWS, RecordFlow, SilverSettings
from lakehouse.quality.rules import batch_summary, rule_results
from lakehouse.silver import documents, offices
from lakehouse.storage import delta, delta_changes, leases

WAIT_FOR_DRAIN_SECONDS = 900.0  # how long a run waits for another drain of the same flow to end


def checkpoint(root: str, name: str) -> str:
    return f"{root.rstrip('/')}/_checkpoints/{name}"


class KnownOffices:
    """The office ids of `silver.offices`, read again only when the table has a new version.

    A stream's batches would otherwise each read the table for a warning count.
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
            rows = delta.read(self.spark, self.root, "silver.offices").select("office_id").distinct().collect()
            self.ids, self.version = sorted(r["office_id"] for r in rows if r["office_id"]), current
        return self.ids


class BatchHandler:
    """The one micro-batch handler of every record flow; what its batches did adds up in `result`.

    Per batch: validate; quarantine the rows failing an error rule (keyed by `_source`); insert the
    valid rows into each clean target (new keys only); count every rule in one aggregation.
    """

    def __init__(self, spark: SparkSession, flow: RecordFlow, settings: SilverSettings, progress: Progress) -> None:
        self.spark, self.flow, self.settings, self.progress = spark, flow, settings, progress
        self.known_offices = KnownOffices(spark, settings.root)
        self.result = StepResult()
        self.batches = 0
        self.rebuilt_keys: list[Row] = []  # the silver keys the batches' rows fall under (`rebuilt_slice`)
        self.rebuilt_schema: T.StructType | None = None

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        spark, flow, root = self.spark, self.flow, self.settings.root
        # On disk, not in memory: a full build's batch is all of bronze, and a cached partition
        # unrolled in memory before it spills ran a 4 GiB driver out of heap at 10M events.
        validated = flow.validate(batch, self.settings).persist(StorageLevel.DISK_ONLY)
        try:
            rules = flow.rules(self.settings, self.known_offices() if flow.uses_offices else [])
            summary = batch_summary(validated, rules).collect()[0]
            rows, valid = int(summary["rows"]), int(summary["valid"])
            if rows == 0:  # a bronze commit that added no row (an erasure's delete, skipped): nothing to do
                return
            done = StepResult(rows_in=rows)
            if flow.rebuilt_slice is not None:
                keys = flow.rebuilt_slice.keys(validated)
                self.rebuilt_keys += keys.collect()
                self.rebuilt_schema = keys.schema
            if valid < rows:
                done.rows_quarantined = delta.insert_new(
                    spark, flow.quarantine_rows(validated, moment(spark)), root, flow.quarantine, ("_source",))
                if done.rows_quarantined:
                    done.versions[flow.quarantine] = delta.version(spark, root, flow.quarantine) or 0
            else:  # nothing to quarantine: no MERGE, but the table exists as after any silver run
                delta.ensure(spark, root, flow.quarantine)
            inserted = [delta.insert_new(spark, target.rows(validated, self.settings), root, target.table,
                                         target.keys, target.within) for target in flow.targets]
            for target in flow.targets:
                done.versions[target.table] = delta.version(spark, root, target.table) or 0
            done.rows_out = inserted[0] if inserted else 0
            passed = inserted[0] if inserted else valid
            duplicates = valid - inserted[0] if inserted else 0
            done.quality = [QualityMetric(flow.silver, *r) for r in rule_results(summary, rules)]
            done.quality.append(QualityMetric(flow.silver, "*", "total", passed, done.rows_quarantined, duplicates))
        finally:
            validated.unpersist()
        self.result.add(done)
        self.batches += 1
        inserts = f"{done.rows_out:,} new, {duplicates:,} duplicates" if inserted else f"{valid:,} valid"
        self.progress(f"{flow.name} batch {batch_id}: {rows:,} in, {inserts}, {done.rows_quarantined:,} quarantined")


def own_checkpoint(spark: SparkSession, location: str, mode: str, progress: Progress,
                   wait_seconds: float = WAIT_FOR_DRAIN_SECONDS) -> leases.Lease | None:
    """The lease on checkpoint `location` for a query of `mode` (`follow` or `drain`), waiting while
    another process drains it; None when a `drain` finds a running stream following it (skip).

    Raises:
        LakehouseError: a `follow` finds another stream following it, or the wait ran out.
    """
    lease = leases.Lease(spark, location, mode)
    deadline, told = time.monotonic() + wait_seconds, False
    while (holder := lease.acquire()) is not None:
        name = location.rstrip("/").rsplit("/", 1)[-1]
        if holder.mode == "follow":
            if mode == "drain":
                progress(f"{name}: followed by a running stream ({holder.describe()}); skipped, the stream "
                         "keeps it up to date")
                return None
            raise LakehouseError(f"{name}: another stream already follows this checkpoint ({holder.describe()}); "
                                 "stop it before starting this one")
        if time.monotonic() > deadline:
            raise LakehouseError(f"{name}: still being drained by another run after {wait_seconds:.0f} s "
                                 f"({holder.describe()}); run this step again once it has ended")
        if not told:
            progress(f"{name}: another run is draining it ({holder.describe()}); waiting for it to end")
            told = True
        time.sleep(1.0)
    return lease


def follow_flow(spark: SparkSession, flow: RecordFlow, settings: SilverSettings, progress: Progress,
                every_seconds: int) -> tuple[StreamingQuery, BatchHandler, leases.Lease]:
    """Keep following `flow`'s bronze table every `every_seconds`; returns the running query, its
    handler, whose `result` grows batch by batch, and the checkpoint's lease (release it once the
    query has stopped)."""
    location = checkpoint(settings.root, f"silver_{flow.name}")
    lease = own_checkpoint(spark, location, "follow", progress)
    assert lease is not None  # a follow waits or fails; it is never skipped
    handler = BatchHandler(spark, flow, settings, progress)
    try:
        query = delta.increments(spark, settings.root, flow.bronze, location, handler, f"silver_{flow.name}",
                                 every_seconds)
    except BaseException:
        lease.release()
        raise
    return query, handler, lease


def run_flow(spark: SparkSession, flow: RecordFlow, settings: SilverSettings, progress: Progress) -> StepResult:
    """Drain what `flow`'s bronze table gained since the last run, then, for a table rebuilt from
    bronze, rebuild what the new rows reported (all of it when the table does not exist yet). Skipped (nothing done)
    while a running stream follows the flow."""
    location = checkpoint(settings.root, f"silver_{flow.name}")
    lease = own_checkpoint(spark, location, "drain", progress)
    if lease is None:
        return StepResult()
    handler = BatchHandler(spark, flow, settings, progress)
    try:
        delta.increments(spark, settings.root, flow.bronze, location, handler, f"silver_{flow.name}")
    finally:
        lease.release()
    result = handler.result
    if flow.rebuild is None or not (handler.batches or not delta.exists(spark, settings.root, flow.silver)):
        return result
    bronze = delta.read(spark, settings.root, flow.bronze)
    if flow.rebuilt_slice is None or not delta.exists(spark, settings.root, flow.silver):
        return result.add(_sync(spark, settings.root, flow.rebuild(bronze, settings), flow.silver, progress))
    if handler.rebuilt_keys:  # the keys the new rows fall under, from all their bronze rows
        distinct = set(handler.rebuilt_keys)
        keys = spark.createDataFrame(list(distinct), handler.rebuilt_schema)
        rebuilt = flow.rebuild(flow.rebuilt_slice.rows(bronze, keys), settings)
        committed = delta_changes.replace_slice(spark, rebuilt, settings.root, flow.silver, keys)
        result.add(_recorded(spark, settings.root, flow.silver, committed, progress,
                             f"{len(distinct):,} key(s) rebuilt"))
    return result


def _sync(spark: SparkSession, root: str, df: DataFrame, table: str, progress: Progress) -> StepResult:
    return _recorded(spark, root, table, delta.sync(spark, df, root, table), progress)


def _recorded(spark: SparkSession, root: str, table: str, committed: bool, progress: Progress,
              what: str = "updated") -> StepResult:
    """What a write of `table` did, for the step's result (its new version, if it committed)."""
    if not committed:
        return StepResult()
    progress(f"{table}: {what}")
    return StepResult(versions={table: delta.version(spark, root, table) or 0})


def build_reference(spark: SparkSession, root: str, progress: Progress) -> StepResult:
    """silver.offices (SCD2) rebuilt from bronze and synced; silver.documents from what bronze gained."""
    result = _sync(spark, root, offices.offices_scd2(delta.read(spark, root, "bronze.offices")), "silver.offices",
                   progress)
    return result.add(_documents(spark, root, progress))


def _documents(spark: SparkSession, root: str, progress: Progress) -> StepResult:
    """The latest inventory row per path, rebuilt for the paths bronze gained rows for since the
    table's newest `_ingested_at` (a later ingest wins, so an older bronze row cannot change a path's
    winner; rows ingested at that very moment are looked at again, which changes nothing)."""
    bronze, table = delta.read(spark, root, "bronze.documents"), "silver.documents"
    if not delta.exists(spark, root, table):
        return _sync(spark, root, documents.clean_documents(bronze), table, progress)
    newest = delta.read(spark, root, table).agg(F.max("_ingested_at")).collect()[0][0]
    rebuilt = documents.clean_documents(bronze if newest is None else bronze.where(F.col("_ingested_at") >= newest))
    committed = delta_changes.replace_slice(spark, rebuilt, root, table, rebuilt.select("path"))
    return _recorded(spark, root, table, committed, progress)


def build_silver(spark: SparkSession, settings: SilverSettings, progress: Progress) -> StepResult:
    """All of silver; offices first, so the `office_known` warning sees this run's offices."""
    result = build_reference(spark, settings.root, progress)
    for flow in RECORD_FLOWS:
        result.add(run_flow(spark, flow, settings, progress))
    return result
