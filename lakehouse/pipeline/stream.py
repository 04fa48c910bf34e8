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
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from lakehouse.bronze.kinesis_records import KINESIS_COLUMNS, bronze_kinesis_events
from lakehouse.config import AwsConfig, StreamConfig
from lakehouse.errors import ConfigError, SourceError
from lakehouse.ops.runs import StepReport, now
from lakehouse.pipeline.clock import moment
from lakehouse.pipeline.silver import SilverSettings, build_events, checkpoint
from lakehouse.storage import delta, files

TABLE = "bronze.enrollment_events"


def kinesis_records(spark: SparkSession, stream: StreamConfig, aws: AwsConfig, endpoint_url: str | None) -> DataFrame:
    """The stream as a streaming DataFrame with the columns of `KINESIS_COLUMNS`, whichever connector.

    `lakehouse-kinesis` is this project's source (Python data source API, any Spark 4.1); on EMR,
    `aws-kinesis` is AWS's own connector, whose columns are renamed to the same names (it does not
    expose the shard id, which stays null).
    """
    if stream.format == "lakehouse-kinesis":
        from lakehouse.sources.kinesis import register

        register(spark)
        reader = (
            spark.readStream.format("lakehouse-kinesis")
            .option("streamName", stream.name)
            .option("region", aws.region)
            .option("startingPosition", stream.starting_position)
            .option("maxRecordsPerShard", str(stream.max_records_per_shard))
            .option("failOnDataLoss", str(stream.fail_on_data_loss).lower())
        )
        if stream.starting_timestamp:
            reader = reader.option("startingTimestamp", stream.starting_timestamp)
        if endpoint_url:
            reader = reader.option("endpointUrl", endpoint_url)
        return reader.load().select(*KINESIS_COLUMNS)
    if stream.format == "aws-kinesis":
        position = stream.starting_position
        if position == "AT_TIMESTAMP":
            position = f"AT_TIMESTAMP {stream.starting_timestamp}"
        reader = (
            spark.readStream.format("aws-kinesis")
            .option("kinesis.streamName", stream.name)
            .option("kinesis.region", aws.region)
            .option("kinesis.endpointUrl", endpoint_url or f"https://kinesis.{aws.region}.amazonaws.com")
            .option("kinesis.startingposition", position)
            .option("kinesis.maxFetchRecordsPerShard", str(stream.max_records_per_shard))
            .option("kinesis.failOnDataLoss", str(stream.fail_on_data_loss).lower())
        )
        return reader.load().select(
            F.col("data"),
            F.col("streamName").alias("stream"),
            F.lit(None).cast("string").alias("shard_id"),
            F.col("sequenceNumber").alias("sequence_number"),
            F.col("partitionKey").alias("partition_key"),
            F.col("approximateArrivalTimestamp").alias("approximate_arrival_timestamp"),
        )
    raise ConfigError(f"stream.format must be 'lakehouse-kinesis' or 'aws-kinesis', got '{stream.format}'")


def stream_checkpoint(root: str) -> str:
    return checkpoint(root, "stream_enrollment_events")


def check_stream_identity(spark: SparkSession, root: str, identity: str, fail_on_data_loss: bool,
                          report: StepReport) -> None:
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
        report.progress("warning: " + message + "; starting over from the stream's start position")
        files.rename(spark, location, f"{location}.replaced-{int(time.time())}")
    elif files.exists(spark, location):
        report.progress("stream checkpoint has no stream identity yet; recording it")
    files.write_text(spark, marker, identity)


def run_stream(spark: SparkSession, records: DataFrame, settings: SilverSettings, report: StepReport,
               available_now: bool, trigger_seconds: int, timeout_seconds: float | None = None,
               after_bronze_commit: Callable[[int], None] | None = None) -> None:
    """Run the stream into bronze and silver until drained (`available_now`) or for `timeout_seconds`.

    `after_bronze_commit` is called with the batch id once a batch's bronze append is done, before
    Spark commits the batch (a test's crash there is the worst moment for exactly-once).
    """
    root = settings.root
    location = stream_checkpoint(root)
    delta.ensure(spark, root, TABLE)
    app_ids: list[str] = []

    def app_id() -> str:
        # The idempotency token names the checkpoint's own query id (written when the checkpoint
        # is created): a checkpoint deleted and started over counts batches from 0 again, and
        # must not have them skipped as already committed.
        if not app_ids:
            metadata = json.loads(files.read_text(spark, f"{location}/metadata") or "{}")
            app_ids.append("lakehouse-stream-" + str(metadata.get("id") or location))
        return app_ids[0]

    def handle(batch: DataFrame, batch_id: int) -> None:
        if batch.isEmpty():  # an empty batch commits nothing
            return
        before = delta.version(spark, root, TABLE)
        delta.append(bronze_kinesis_events(batch, f"stream-{batch_id}", moment(spark)), root, TABLE, app_id=app_id(),
                  txn_version=batch_id)
        report.commits[f"stream-{batch_id}"] = now()
        after = delta.version(spark, root, TABLE)
        if after is not None and after != before:
            records_in = delta.commit_rows(spark, root, TABLE, after)  # from the log: no second pass
            report.batches.append((report.commits[f"stream-{batch_id}"], records_in))
            report.rows_in += records_in
            report.versions[TABLE] = after or 0
            report.progress(f"stream batch {batch_id}: {records_in:,} records -> bronze")
        else:
            report.progress(f"stream batch {batch_id}: already in bronze (replayed batch)")
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
    # Silver reports into its own record: its rows in are bronze rows, not Kinesis records again.
    silver_report = StepReport(report.run_id, "stream", _clock=report._clock)
    try:
        if available_now:
            try:
                query.processAllAvailable()
            finally:
                query.stop()
            _raise_failure(query)
            build_events(spark, settings, silver_report)
            return
        # Silver follows bronze less often than the stream triggers: on a small cluster it would
        # otherwise take the cores the stream needs to keep up; its own checkpoint keeps it exact.
        silver = build_events(spark, settings, silver_report, every_seconds=max(10, 5 * trigger_seconds))
        try:
            query.awaitTermination(None if timeout_seconds is None else int(timeout_seconds))
        finally:
            stop_between_batches(query)
            stop_between_batches(silver)
        _raise_failure(query)
        _raise_failure(silver)
    finally:
        report.rows_out += silver_report.rows_out
        report.rows_quarantined += silver_report.rows_quarantined
        report.versions.update(silver_report.versions)
        report.quality.extend(silver_report.quality)


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


def _raise_failure(query: StreamingQuery) -> None:
    failure = query.exception()
    if failure is not None:
        raise failure
