"""Bronze shaping of Kinesis records (enrollment events from the stream)."""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.bronze.json_lines import parse_json_records

# The columns every Kinesis reader gives, whichever connector is configured.
KINESIS_COLUMNS = ("data", "stream", "shard_id", "sequence_number", "partition_key",
                   "approximate_arrival_timestamp")


def from_aws_connector(records: DataFrame) -> DataFrame:
    """Records of AWS's own connector (format `aws-kinesis`, on EMR) under `KINESIS_COLUMNS`.

    That connector does not expose the shard id: it stays null.

    Example: (data, streamName "s", sequenceNumber "49", partitionKey "p", approximateArrivalTimestamp t)
    -> (data, stream "s", shard_id null, sequence_number "49", partition_key "p", t).
    """
    return records.select(
        F.col("data"),
        F.col("streamName").alias("stream"),
        F.lit(None).cast("string").alias("shard_id"),
        F.col("sequenceNumber").alias("sequence_number"),
        F.col("partitionKey").alias("partition_key"),
        F.col("approximateArrivalTimestamp").alias("approximate_arrival_timestamp"),
    )


def bronze_kinesis_events(records: DataFrame, batch_id: str, ingested_at: DataFrame) -> DataFrame:
    """Kinesis records -> bronze.enrollment_events; grain: one row per Kinesis record.

    `_source` is "kinesis:<stream>/<shard>/<sequence number>", `_arrived_at` the record's
    approximate arrival time. Bytes that are not UTF-8 are kept (made valid for `_raw`) and flagged.

    Example:
        ``data=b'{"event_id": "e1"}', stream="s", shard_id="shardId-0", sequence_number="49"`` ->
        ``event_id="e1", _source="kinesis:s/shardId-0/49", _parse_error=null``.
    """
    valid_utf8 = F.is_valid_utf8(F.col("data").cast("string"))
    return parse_json_records(
        records.select(
            F.make_valid_utf8(F.col("data").cast("string")).alias("line"),
            F.concat(F.lit("kinesis:"), F.col("stream"), F.lit("/"), F.coalesce(F.col("shard_id"), F.lit("-")),
                     F.lit("/"), F.col("sequence_number")).alias("_source"),
            F.lit(None).cast("string").alias("_file"),
            F.lit(None).cast("timestamp").alias("_file_modified_at"),
            F.col("approximate_arrival_timestamp").alias("_arrived_at"),
            F.when(~valid_utf8, F.lit("not valid UTF-8")).alias("_parse_error"),
        ),
        "bronze.enrollment_events",
        batch_id,
        ingested_at,
    )
