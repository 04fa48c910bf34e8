"""Kinesis records as Arrow batches: the source's rows, built column by column for Spark."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from typing import Any

import pyarrow as pa

KINESIS_SCHEMA = (
    "data binary, stream string, shard_id string, sequence_number string, partition_key string, "
    "approximate_arrival_timestamp timestamp"
)

ARROW_SCHEMA = pa.schema([
    ("data", pa.binary()), ("stream", pa.string()), ("shard_id", pa.string()), ("sequence_number", pa.string()),
    ("partition_key", pa.string()), ("approximate_arrival_timestamp", pa.timestamp("us", tz="UTC")),
])


def record_batches(stream: str, read: list[tuple[str, list[dict[str, Any]]]]) -> Iterator[pa.RecordBatch]:
    """The records of each shard read, as one Arrow batch (KINESIS_SCHEMA): Spark takes it as is,
    with no conversion row by row.

    Args:
        stream: the stream's name, the `stream` column.
        read: (shard id, its GetRecords records in order) per shard read.
    """
    records = [(sid, r) for sid, shard_records in read for r in shard_records]
    if not records:
        return iter([])
    # Spark would read a naive datetime as the Python worker's local time; Arrow is told UTC.
    arrived = [r["ApproximateArrivalTimestamp"] for _, r in records]
    arrived = [a.astimezone(UTC) if a.tzinfo else a.replace(tzinfo=UTC) for a in arrived]
    columns = [
        pa.array([r["Data"] for _, r in records], pa.binary()),
        pa.array([stream] * len(records), pa.string()),
        pa.array([sid for sid, _ in records], pa.string()),
        pa.array([str(r["SequenceNumber"]) for _, r in records], pa.string()),
        pa.array([r["PartitionKey"] for _, r in records], pa.string()),
        pa.array(arrived, pa.timestamp("us", tz="UTC")),
    ]
    return iter([pa.RecordBatch.from_arrays(columns, schema=ARROW_SCHEMA)])
