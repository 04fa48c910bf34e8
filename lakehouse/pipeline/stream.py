"""The stream step: Kinesis -> bronze.enrollment_events -> silver, exactly once.

Two queries, the medallion way. The bronze query appends each Kinesis micro-batch with a Delta
idempotency token (`txnAppId` fixed per checkpoint, `txnVersion` = the batch id): Spark replays an
unfinished batch after a crash with the same id and the same records, and Delta skips the append
it already committed. The silver query is the silver step's own incremental read of bronze, so
silver and quarantine follow the stream; gold catches up on its next run.

Two modes: continuous (both queries on a `processingTime` trigger) and drain-and-stop: micro-batches
until the stream has nothing new (`processAllAvailable`), then one silver increment, then stop,
which suits a scheduled EMR step.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from lakehouse.bronze.kinesis_records import KINESIS_COLUMNS, bronze_kinesis_events, from_aws_connector
from lakehouse.errors import LakehouseError, SourceError
from lakehouse.ops.results import Progress, StepResult
from lakehouse.pipeline.clock import moment
from lakehouse.pipeline.flows import ENROLLMENT_EVENTS, SilverSettings
from lakehouse.pipeline.silver import checkpoint, follow_flow, own_checkpoint, run_flow
from lakehouse.sources.kinesis.connectors import AWS_CONNECTOR, StreamSettings, read_stream
from lakehouse.storage import delta, files

TABLE = "bronze.enrollment_events"


def kinesis_records(spark: SparkSession, settings: StreamSettings) -> DataFrame:
    """The stream as a streaming DataFrame with the columns of `KINESIS_COLUMNS`, whichever connector
    `settings` names (AWS's own has its columns renamed to the same names)."""
    records = read_stream(spark, settings)
    if settings.connector == AWS_CONNECTOR:
        return from_aws_connector(records)
    return records.select(*KINESIS_COLUMNS)


def stream_checkpoint(root: str) -> str:
    return checkpoint(root, "stream_enrollment_events")


def check_stream_identity(spark: SparkSession, root: str, identity: str, fail_on_data_loss: bool,
                          progress: Progress) -> None:
    """A checkpoint belongs to one stream: refuse one written for a stream since deleted and re-created.

    Kinesis sequence numbers start over in a re-created stream, so an old checkpoint would skip its
    records silently. `identity` is the stream's ARN and creation time; it is kept beside the
    checkpoint. With `fail_on_data_loss` false, the old checkpoint is set aside and reading starts
    over from the stream's start position.
    """
    location, marker = stream_checkpoint(root), stream_checkpoint(root) + ".stream"
    known = files.read_text(spark, marker)
    if known is not None:
        if known == identity:
            return
        message = (f"the stream's checkpoint {stream_checkpoint(root)} was written for {known}, but the stream "
                   f"now is {identity} (deleted and re-created): its positions point at data the stream no "
                   "longer holds")
        if fail_on_data_loss:
            raise SourceError(message + "; set stream.fail_on_data_loss: false to start over")
        progress("warning: " + message + "; starting over from the stream's start position")
        files.rename(spark, location, f"{location}.replaced-{int(time.time())}")
    elif files.exists(spark, location):
        progress("stream checkpoint has no stream identity yet; recording it")
    files.write_text(spark, marker, identity)


def run_stream(spark: SparkSession, records: DataFrame, settings: SilverSettings, progress: Progress,
               available_now: bool, trigger_seconds: int, timeout_seconds: float | None = None,
               after_bronze_commit: Callable[[int], None] | None = None) -> StepResult:
    """Run the stream into bronze and silver until drained (`available_now`) or for `timeout_seconds`.

    Args:
        records: the Kinesis records as a streaming frame (`kinesis_records`).
        after_bronze_commit: called with the batch id after each bronze append, before Spark
            commits the batch (the tests crash the process there).

    Returns:
        Rows in: Kinesis records appended to bronze; rows out and quarantined: silver's. Nothing
        when another process's stream is following the same checkpoint and this one drains: a
        second stream on one checkpoint would race it for the offset log, so the checkpoint's lease
        decides (`pipeline.silver.own_checkpoint`: a drain skips, a second continuous one stops).
    """
    lease = own_checkpoint(spark, stream_checkpoint(settings.root), "drain" if available_now else "follow", progress)
    if lease is None:
        return StepResult()
    try:
        return _run_stream(spark, records, settings, progress, available_now, trigger_seconds, timeout_seconds,
                           after_bronze_commit)
    finally:
        lease.release()


def _run_stream(spark: SparkSession, records: DataFrame, settings: SilverSettings, progress: Progress,
                available_now: bool, trigger_seconds: int, timeout_seconds: float | None,
                after_bronze_commit: Callable[[int], None] | None) -> StepResult:
    root = settings.root
    location = stream_checkpoint(root)
    delta.ensure(spark, root, TABLE)
    bronze = StepResult()
    app_ids: list[str] = []

    def app_id() -> str:
        # The idempotency token names the checkpoint's own query id (written when the checkpoint
        # is created): a checkpoint deleted and started over counts batches from 0 again, and
        # must not have them skipped as already committed.
        if not app_ids:
            metadata = json.loads(files.read_text(spark, f"{location}/metadata") or "{}")
            app_ids.append("lakehouse-stream-" + str(metadata.get("id") or location))
        return app_ids[0]

    failures: list[LakehouseError] = []

    def handle(batch: DataFrame, batch_id: int) -> None:
        if batch.isEmpty():  # an empty batch commits nothing
            return
        before = delta.version(spark, root, TABLE)
        try:
            delta.append(bronze_kinesis_events(batch, f"stream-{batch_id}", moment(spark)), root, TABLE,
                         app_id=app_id(), txn_version=batch_id)
        except LakehouseError as err:  # our own message, which Spark would bury in its query failure
            failures.append(err)
            raise
        after = delta.version(spark, root, TABLE)
        if after is not None and after != before:
            records_in = delta.commit_rows(spark, root, TABLE, after)  # from the log: no second pass
            bronze.add(StepResult(rows_in=records_in, versions={TABLE: after}))
            progress(f"stream batch {batch_id}: {records_in:,} records -> bronze")
        else:
            progress(f"stream batch {batch_id}: already in bronze (replayed batch)")
        if after_bronze_commit is not None:
            after_bronze_commit(batch_id)

    trigger = "0 seconds" if available_now else f"{trigger_seconds} seconds"
    query = (
        records.writeStream.foreachBatch(handle)
        .option("checkpointLocation", location)
        .trigger(processingTime=trigger)
        .queryName("stream_enrollment_events")
        .start()
    )
    if available_now:
        try:
            query.processAllAvailable()
        finally:
            query.stop()
        _raise_failure(query, failures)
        return bronze.add(_silver_part(run_flow(spark, ENROLLMENT_EVENTS, settings, progress)))
    # Silver follows bronze less often than the stream triggers: on a small cluster it would
    # otherwise take the cores the stream needs to keep up; its own checkpoint keeps it exact.
    try:
        silver, handler, silver_lease = follow_flow(spark, ENROLLMENT_EVENTS, settings, progress,
                                                    max(10, 5 * trigger_seconds))
    except BaseException:
        stop_between_batches(query)
        raise
    try:
        query.awaitTermination(None if timeout_seconds is None else int(timeout_seconds))
    finally:
        stop_between_batches(query)
        stop_between_batches(silver)
        silver_lease.release()
    _raise_failure(query, failures)
    _raise_failure(silver)
    return bronze.add(_silver_part(handler.result))


def _silver_part(silver: StepResult) -> StepResult:
    """Silver's part of the stream step: its rows in are bronze rows, not Kinesis records again."""
    return StepResult(rows_out=silver.rows_out, rows_quarantined=silver.rows_quarantined,
                      versions=silver.versions, quality=silver.quality)


def stop_between_batches(query: StreamingQuery, patience_seconds: float = 120.0) -> None:
    """Stop a query once its current micro-batch is done (waiting at most `patience_seconds`).

    Stopping interrupts a running batch: nothing is lost (the batch is replayed on the next start),
    but Spark then matches the interrupted foreachBatch call's long error text against a regex that
    recurses per character and dies with a StackOverflowError in the query thread.
    """
    deadline = time.monotonic() + patience_seconds
    while query.isActive and query.status.get("isTriggerActive") and time.monotonic() < deadline:
        time.sleep(0.1)
    query.stop()


def _raise_failure(query: StreamingQuery, ours: list[LakehouseError] | None = None) -> None:
    failure = query.exception()
    if failure is not None:
        if ours:
            raise ours[0] from failure
        raise failure
