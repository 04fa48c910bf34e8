"""A Kinesis Data Streams source for Spark 4.1 Structured Streaming, written in Python.

No open-source Kinesis connector supports Spark 4.1 outside EMR, so this one uses PySpark's Python
data source API (`SimpleDataSourceStreamReader`: reads run on the driver, which suits a few shards)
and boto3::

    register(spark)
    events = (spark.readStream.format("lakehouse-kinesis")
              .option("streamName", "enrollment-events").option("region", "eu-west-1").load())

Offsets hold the last sequence number read per shard (see `offsets`), so the checkpoint alone
resumes a query. Drain-and-stop runs should use a processingTime trigger with
`query.processAllAvailable()` then `query.stop()`: in Spark 4.1 a Trigger.AvailableNow run of a
Python source plans a single micro-batch (at most maxRecordsPerShard per shard) and stops.

On EMR, AWS's own connector (format ``aws-kinesis``) reads the same stream; the stream job picks
the format from `StreamConfig.format` and keeps one code path above the source.

Options (all strings): streamName (required), region, endpointUrl (a local stand-in; uses
LOCAL_CREDENTIALS), startingPosition TRIM_HORIZON|LATEST|AT_TIMESTAMP (+ startingTimestamp),
maxRecordsPerShard (per micro-batch, default 2000), failOnDataLoss (default true), maxRetries
(default 8), retryBaseMillis / retryMaxMillis (back-off, default 100 / 5000). Between micro-batches
a thread reads open shards ahead (prefetch, default true; at most maxRecordsPerShard records and
prefetchMaxBytes, default 64 MiB, per shard; a shard at its tip polled every prefetchIntervalMillis,
default 500), so a batch finds its records already read.

The rooms: `options` (parsing them), `offsets` (offsets, shard lineage, end-of-shard rules),
`client` (the boto3 client, calls retried with back-off), `shard_reader` (reading one shard: iterators,
expiry, resume point, data-loss check), `read_ahead` (the fetch-ahead thread), `arrow` (records ->
Arrow batches) and `data_source` (what Spark sees).
"""
from lakehouse.sources.kinesis.arrow import KINESIS_SCHEMA
from lakehouse.sources.kinesis.data_source import register
from lakehouse.sources.kinesis.options import FORMAT
from lakehouse.sources.kinesis.shard_reader import KinesisDataLossError

__all__ = ["FORMAT", "KINESIS_SCHEMA", "KinesisDataLossError", "register"]
