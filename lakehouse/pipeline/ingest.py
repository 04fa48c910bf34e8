"""The ingest step: landing files and registry changes -> bronze, each record exactly once.

Which files are new is read from the manifest of ingested files (`ops.ingested_files`), written
after each append, and from bronze's own rows newer than the manifest (the `_file` of each, a
landing key): a file's rows and the fact that it was ingested commit together in one Delta
append, so a crash between two files, or between an append and its manifest rows, or a re-run,
never ingests a file twice or skips one, and an ingest run does not read all of bronze. Keys are paths under the
landing root, so a lake that moves keeps what it ingested (older rows holding a file's full URI
are read as their key).
"""
from __future__ import annotations

from datetime import UTC, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse import contract
from lakehouse.bronze.documents import bronze_documents
from lakehouse.bronze.json_lines import bronze_json_lines
from lakehouse.bronze.office_reports import PARSED_FIELDS, PARSED_SCHEMA, bronze_office_reports, parse_report_file
from lakehouse.bronze.registry import REGISTRY_COLUMNS, bronze_registry, new_changes
from lakehouse.ops.results import Progress, StepResult
from lakehouse.pipeline.clock import moment
from lakehouse.pipeline.erasure import kept_out
from lakehouse.sources import landing
from lakehouse.sources.landing_contract import Verdict
from lakehouse.sources.postgres import Endpoint
from lakehouse.sources.registry import read_changes
from lakehouse.storage import delta

JSON_SOURCES = {"events": "bronze.enrollment_events", "device_logs": "bronze.device_logs"}

# a listing of landing/ made once for an ingest run (`landing.list_everything`), or None: list anew
Landed = list[landing.LandedFile] | None


def _known_files(spark: SparkSession, root: str, table: str, listed: list[landing.LandedFile]) -> set[str]:
    """The keys of the landing files `table` holds rows of, without reading all of bronze.

    The manifest (`ops.ingested_files`) records each file once its rows are appended. Bronze rows
    newer than the manifest's latest row for the table are a batch whose manifest rows a crash
    kept from being written: their files are read from bronze (its `_ingested_at` statistics cut
    the read to those files) and recorded now, so the manifest is whole again. A table with rows
    but no manifest row at all (a lake older than the manifest) is read whole, once.
    """
    manifest = (delta.read(spark, root, "ops.ingested_files").where(F.col("target") == table)
                .select("path", "ingested_at").collect())
    known = {r["path"] for r in manifest}
    last = max((r["ingested_at"] for r in manifest), default=None)
    bronze = delta.read(spark, root, table).where(F.col("_file").isNotNull())
    if last is not None:
        bronze = bronze.where(F.col("_ingested_at") > F.lit(last) - F.expr(f"INTERVAL {_CLOCK_SLACK_MINUTES} MINUTES"))
    held = {landing.landing_key(r["_file"]) for r in bronze.select("_file").distinct().collect()}
    unrecorded = held - known
    if unrecorded:
        by_key = {f.key: f for f in listed}
        batches = {landing.landing_key(r["_file"]): (r["_batch_id"], r["count"]) for r in
                   bronze.groupBy("_file", "_batch_id").count().collect()}
        ingested_at = datetime.now(UTC).replace(tzinfo=None)
        rows = [(key, by_key[key].size if key in by_key else None, by_key[key].modified_at if key in by_key else None,
                 table, batches[key][0], ingested_at, batches[key][1]) for key in sorted(unrecorded)]
        delta.append(spark.createDataFrame(rows, contract.schema("ops.ingested_files")), root, "ops.ingested_files")
    return known | held


# Bronze's `_ingested_at` is stamped before a batch's append and the manifest's `ingested_at` after
# it, on the same driver; the slack only guards against the clock being set back between them.
_CLOCK_SLACK_MINUTES = 10


def _append(spark: SparkSession, root: str, table: str, df: DataFrame, progress: Progress, what: str) -> StepResult:
    delta.append(df, root, table)
    version = delta.version(spark, root, table) or 0
    written = delta.commit_rows(spark, root, table, version)
    progress(f"{table}: {written:,} records from {what}")
    return StepResult(rows_in=written, rows_out=written, versions={table: version})


def _manifest(spark: SparkSession, root: str, table: str, batch_id: str, files: list[landing.LandedFile]) -> None:
    """`ops.ingested_files`: which file went where, with its record count (for people, not for logic)."""
    counts = {
        r["_file"]: r["count"]
        for r in delta.read(spark, root, table).where(F.col("_batch_id") == batch_id)
        .groupBy("_file").count().collect()
    }
    ingested_at = datetime.now(UTC).replace(tzinfo=None)
    rows = [(f.key, f.size, f.modified_at, table, batch_id, ingested_at, counts.get(f.key, 0)) for f in files]
    delta.append(spark.createDataFrame(rows, contract.schema("ops.ingested_files")), root, "ops.ingested_files")


def _accepted(spark: SparkSession, root: str, new: list[landing.LandedFile], batch_id: str,
              progress: Progress) -> list[landing.LandedFile]:
    """The new files the landing contract accepts; the others are moved to rejected/ and recorded."""
    taken: list[tuple[landing.LandedFile, Verdict]] = []
    refused: list[tuple[landing.LandedFile, Verdict]] = []
    for landed, verdict in zip(new, landing.judge_all(spark, new), strict=True):
        (taken if verdict.ok else refused).append((landed, verdict))
    _record_rejections(spark, root, refused, batch_id, progress)
    return [landed for landed, _ in taken]


def _record_rejections(spark: SparkSession, root: str, refused: list[tuple[landing.LandedFile, Verdict]],
                       batch_id: str, progress: Progress) -> None:
    if not refused:
        return
    rejected_at = datetime.now(UTC).replace(tzinfo=None)
    rows = []
    for landed, verdict in refused:
        landing.reject(spark, root, landed, verdict, rejected_at)
        progress(f"landing/{landed.key}: rejected to rejected/{landed.key} ({verdict.reason})")
        rows.append((landed.key, landed.size, verdict.kind, verdict.rule, verdict.reason, batch_id, rejected_at))
    delta.append(spark.createDataFrame(rows, contract.schema("ops.rejected_files")), root, "ops.rejected_files")


def reject_strays(spark: SparkSession, root: str, batch_id: str, progress: Progress,
                  landed: Landed = None) -> None:
    """Files in landing/ that no source takes by folder or name: rejected, never skipped silently."""
    strays = landing.unmatched(landing.list_everything(spark, root) if landed is None else landed)
    judged = list(zip(strays, landing.judge_all(spark, strays), strict=True))
    _record_rejections(spark, root, judged, batch_id, progress)


def ingest_json_files(spark: SparkSession, root: str, kind: str, batch_id: str, progress: Progress,
                      landed: Landed = None) -> StepResult:
    """New JSON-lines files of landing/<kind> into their bronze table."""
    table = JSON_SOURCES[kind]
    listed = landing.list_files(spark, root, kind, landed)
    known = _known_files(spark, root, table, listed)
    new = _accepted(spark, root, [f for f in listed if f.key not in known], batch_id, progress)
    if not new:
        progress(f"{table}: no new files")
        return StepResult()
    progress(f"{table}: reading {len(new)} new file(s)")
    lines = landing.read_lines(spark, [f.path for f in new])
    result = _append(spark, root, table, bronze_json_lines(lines, table, batch_id, moment(spark)), progress,
                     f"{len(new)} file(s)")
    _manifest(spark, root, table, batch_id, new)
    return result


def ingest_office_reports(spark: SparkSession, root: str, batch_id: str, progress: Progress,
                          landed: Landed = None) -> StepResult:
    """New office report files (CSV, Excel), parsed on the driver, into bronze."""
    table = "bronze.office_reports"
    listed = landing.list_files(spark, root, "office_reports", landed)
    known = _known_files(spark, root, table, listed)
    new = _accepted(spark, root, [f for f in listed if f.key not in known], batch_id, progress)
    if not new:
        progress(f"{table}: no new files")
        return StepResult()
    rows = []
    for key, modified_at, content in landing.read_bytes(spark, [f.path for f in new]):
        rows.extend(parse_report_file(key, modified_at, content))
    parsed = spark.createDataFrame([tuple(r[f] for f in PARSED_FIELDS) for r in rows], PARSED_SCHEMA)
    result = _append(spark, root, table, bronze_office_reports(parsed, batch_id, moment(spark)), progress,
                     f"{len(new)} file(s)")
    _manifest(spark, root, table, batch_id, new)
    return result


def ingest_documents(spark: SparkSession, root: str, batch_id: str, progress: Progress,
                     landed: Landed = None) -> StepResult:
    """The inventory of new or changed document files into bronze.

    A document is its key, size and SHA-256. Its modification time only spares reading it again:
    a file whose (key, size, modified time) bronze or the manifest already holds is not read; one
    with a new time is hashed, and if its bytes are known (a lake copied elsewhere gets new times)
    only the manifest records that it was looked at, so it is not hashed again.
    """
    table = "bronze.documents"
    held = delta.read(spark, root, table).select("path", "size", "sha256", "modified_at").collect()
    looked_at = {(landing.landing_key(r["path"]), r["size"], r["modified_at"]) for r in held}
    looked_at |= {(r["path"], r["size"], r["modified_at"]) for r in
                  delta.read(spark, root, "ops.ingested_files").where(F.col("target") == table)
                  .select("path", "size", "modified_at").collect()}
    candidates = _accepted(spark, root, [f for f in landing.list_files(spark, root, "documents", landed)
                                         if (f.key, f.size, f.modified_at) not in looked_at], batch_id, progress)
    if not candidates:
        progress(f"{table}: no new or changed documents")
        return StepResult()
    contents = {(landing.landing_key(r["path"]), r["size"], r["sha256"]) for r in held}
    inventory = landing.read_inventory(spark, [f.path for f in candidates]).collect()
    new = [r for r in inventory if (r["path"], r["size"], r["sha256"]) not in contents]
    result = StepResult()
    if new:
        frame = spark.createDataFrame([tuple(r) for r in new], landing.INVENTORY_DDL)
        result = _append(spark, root, table, bronze_documents(frame, batch_id, moment(spark)), progress,
                         f"{len(new)} document(s)")
    else:
        progress(f"{table}: {len(candidates)} document(s) with a new modification time, their bytes known")
    new_keys = {r["path"] for r in new}
    ingested_at = datetime.now(UTC).replace(tzinfo=None)
    rows = [(f.key, f.size, f.modified_at, table, batch_id, ingested_at, int(f.key in new_keys)) for f in candidates]
    delta.append(spark.createDataFrame(rows, contract.schema("ops.ingested_files")), root, "ops.ingested_files")
    return result


def ingest_registry(spark: SparkSession, root: str, endpoint: Endpoint, batch_id: str,
                    progress: Progress) -> StepResult:
    """Registry rows changed since bronze's own watermark (its latest `updated_at`) into bronze,
    but none of an erased person (`erasure.kept_out`)."""
    result = StepResult()
    for source in REGISTRY_COLUMNS:
        table = f"bronze.{source}"
        current = delta.read(spark, root, table)
        since = current.agg(F.max("updated_at").alias("watermark")).collect()[0]["watermark"]
        changes = read_changes(spark, endpoint, source, REGISTRY_COLUMNS[source], since)
        new = new_changes(changes, current, source)
        erased = kept_out(spark, root, table)
        if erased is not None:  # people erased from the lake whose registry rows changed again
            new = new.join(F.broadcast(erased), REGISTRY_COLUMNS[source][0], "left_anti")
        if new.isEmpty():
            progress(f"{table}: no changes since {since or 'the beginning'}")
            continue
        result.add(_append(spark, root, table, bronze_registry(new, source, batch_id, moment(spark)), progress,
                           "the registry"))
    return result


def ingest(spark: SparkSession, root: str, endpoint: Endpoint | None, batch_id: str, progress: Progress) -> StepResult:
    """Everything new in the landing folder and the registry, into bronze, under `batch_id`."""
    landing.check_landing(spark, root)
    rejections = delta.version(spark, root, "ops.rejected_files")
    # one listing for the whole run: what a source sees is its folder's share of it (a file landing
    # meanwhile waits for the next run), and the strays rejected first are no source's files
    landed = landing.list_everything(spark, root)
    reject_strays(spark, root, batch_id, progress, landed)
    result = StepResult()
    for kind in JSON_SOURCES:
        result.add(ingest_json_files(spark, root, kind, batch_id, progress, landed))
    result.add(ingest_office_reports(spark, root, batch_id, progress, landed))
    result.add(ingest_documents(spark, root, batch_id, progress, landed))
    if endpoint is not None:
        result.add(ingest_registry(spark, root, endpoint, batch_id, progress))
    if delta.version(spark, root, "ops.rejected_files") != rejections:  # files were rejected: a change
        result.versions["ops.rejected_files"] = delta.version(spark, root, "ops.rejected_files") or 0
    return result
