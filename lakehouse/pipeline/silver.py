"""The silver step: bronze -> silver + quarantine, incrementally.

Record sources (`flows.RECORD_FLOWS`) are read as a Delta stream over their bronze table with an
`availableNow` trigger: each run processes exactly the bronze rows added since the previous run
(the checkpoint under `<root>/_checkpoints/` remembers where it stopped), then stops. Every write
inside a batch is an insert of keys not yet present, so a batch retried after a crash writes
nothing twice. Small reference tables (offices, documents) and the latest-file-wins office reports
are rebuilt from their whole bronze table and synced, which commits only real changes.
"""
from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from lakehouse.ops.results import Progress, QualityMetric, StepResult
from lakehouse.pipeline.clock import moment
from lakehouse.pipeline.flows import RECORD_FLOWS, RecordFlow, SilverSettings
from lakehouse.quality.rules import batch_summary, rule_results
from lakehouse.silver import documents, offices
from lakehouse.storage import delta


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

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        spark, flow, root = self.spark, self.flow, self.settings.root
        validated = flow.validate(batch, self.settings).persist()
        try:
            rules = flow.rules(self.settings, self.known_offices() if flow.uses_offices else [])
            summary = batch_summary(validated, rules).collect()[0]
            rows, valid = int(summary["rows"]), int(summary["valid"])
            if rows == 0:  # a bronze commit that added no row (an erasure's delete, skipped): nothing to do
                return
            done = StepResult(rows_in=rows)
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


def follow_flow(spark: SparkSession, flow: RecordFlow, settings: SilverSettings, progress: Progress,
                every_seconds: int) -> tuple[StreamingQuery, BatchHandler]:
    """Keep following `flow`'s bronze table every `every_seconds`; returns the running query and its
    handler, whose `result` grows batch by batch."""
    handler = BatchHandler(spark, flow, settings, progress)
    query = delta.increments(spark, settings.root, flow.bronze, checkpoint(settings.root, f"silver_{flow.name}"),
                             handler, f"silver_{flow.name}", every_seconds)
    return query, handler


def run_flow(spark: SparkSession, flow: RecordFlow, settings: SilverSettings, progress: Progress) -> StepResult:
    """Drain what `flow`'s bronze table gained since the last run, then rebuild its silver table if
    it is rebuilt from bronze and anything arrived (or it does not exist yet)."""
    handler = BatchHandler(spark, flow, settings, progress)
    delta.increments(spark, settings.root, flow.bronze, checkpoint(settings.root, f"silver_{flow.name}"),
                     handler, f"silver_{flow.name}")
    result = handler.result
    if flow.rebuild is not None and (handler.batches or not delta.exists(spark, settings.root, flow.silver)):
        rebuilt = flow.rebuild(delta.read(spark, settings.root, flow.bronze), settings)
        result.add(_sync(spark, settings.root, rebuilt, flow.silver, progress))
    return result


def _sync(spark: SparkSession, root: str, df: DataFrame, table: str, progress: Progress) -> StepResult:
    if not delta.sync(spark, df, root, table):
        return StepResult()
    progress(f"{table}: updated")
    return StepResult(versions={table: delta.version(spark, root, table) or 0})


def build_reference(spark: SparkSession, root: str, progress: Progress) -> StepResult:
    """silver.offices (SCD2) and silver.documents, rebuilt from bronze and synced."""
    result = _sync(spark, root, offices.offices_scd2(delta.read(spark, root, "bronze.offices")), "silver.offices",
                   progress)
    return result.add(_sync(spark, root, documents.clean_documents(delta.read(spark, root, "bronze.documents")),
                            "silver.documents", progress))


def build_silver(spark: SparkSession, settings: SilverSettings, progress: Progress) -> StepResult:
    """All of silver; offices first, so the `office_known` warning sees this run's offices."""
    result = build_reference(spark, settings.root, progress)
    for flow in RECORD_FLOWS:
        result.add(run_flow(spark, flow, settings, progress))
    return result
