"""The data source Spark sees: `KinesisDataSource` (the format) and its `KinesisStreamReader`.

Each micro-batch is planned by reading it: up to maxRecordsPerShard records of every shard that may
be read (parents before their children), the offset saying where each shard stands afterwards.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql.datasource import DataSource, SimpleDataSourceStreamReader

from lakehouse.sources.kinesis.arrow import KINESIS_SCHEMA, record_batches
from lakehouse.sources.kinesis.offsets import Offset, initial_offset, lineage_order, make_offset, parents_finished
from lakehouse.sources.kinesis.options import FORMAT, KinesisOptions
from lakehouse.sources.kinesis.shard_reader import ShardReader


class KinesisStreamReader(SimpleDataSourceStreamReader):
    """Plans each micro-batch by reading it: up to maxRecordsPerShard records of every readable shard."""

    def __init__(self, opts: KinesisOptions) -> None:
        self.opts = opts
        self._shards: ShardReader | None = None

    @property
    def shards(self) -> ShardReader:
        if self._shards is None:  # built on first use, in the Python process that reads
            self._shards = self.open_shards()
        return self._shards

    def open_shards(self) -> ShardReader:
        """The ShardReader this query reads with: one boto3 client for the options' stream.

        A subclass may give the ShardReader another client (a wrapper around this one).
        """
        return ShardReader(self.opts)

    def initialOffset(self) -> Offset:
        return initial_offset(self.opts.start())

    def read(self, start: Offset) -> tuple[Iterator[pa.RecordBatch], Offset]:
        listing = self.shards.list_shards()  # every batch, so shards born of a reshard are picked up
        state = {sid: dict(entry) for sid, entry in start["shards"].items()}
        for sid, entry in list(state.items()):
            if sid in listing:
                continue
            if not entry.get("done"):
                self.shards.data_loss(f"shard '{sid}' is in the checkpoint (read up to sequence number "
                                      f"{entry.get('seq')}) but the stream no longer lists it")
            del state[sid]  # a finished shard that expired needs no more remembering
        read: list[tuple[str, list[dict[str, Any]]]] = []
        for sid in lineage_order(listing):  # parents first: a child may start in the batch its parent ends
            info, entry = listing[sid], state.get(sid, {})
            if entry.get("done") or not parents_finished(info, state, listing):
                continue
            if info.read_to_end(entry.get("seq")):
                state[sid] = {**entry, "done": True}
                continue
            batch = self.shards.read_shard(info, start["start"], entry.get("seq"), self.opts.max_records_per_shard)
            read.append((sid, batch.records))
            new: dict[str, Any] = {} if batch.last_seq is None else {"seq": batch.last_seq}
            if batch.done:
                new["done"] = True
            if new:
                state[sid] = new
        return record_batches(self.opts.stream_name, read), make_offset(start["start"], state)

    def readBetweenOffsets(self, start: Offset, end: Offset) -> Iterator[pa.RecordBatch]:
        """Replays a planned batch after a restart: exactly the records after `start` up to `end`."""
        listing = self.shards.list_shards()
        changed = [
            sid for sid, entry in end["shards"].items()
            if entry.get("seq") is not None and not start["shards"].get(sid, {}).get("done")
            and start["shards"].get(sid, {}).get("seq") != entry["seq"]
        ]
        read: list[tuple[str, list[dict[str, Any]]]] = []
        for sid in [s for s in lineage_order(listing) if s in changed] + [s for s in changed if s not in listing]:
            if sid not in listing:
                self.shards.data_loss(f"shard '{sid}' of a planned batch is no longer listed")
                continue
            until = end["shards"][sid]["seq"]
            after = start["shards"].get(sid, {}).get("seq")
            batch = self.shards.read_shard(listing[sid], start["start"], after, limit=2**62, until=until)
            read.append((sid, batch.records))
        return record_batches(self.opts.stream_name, read)

    def commit(self, end: Offset) -> None:
        """Nothing to do: Kinesis keeps no consumer position; the checkpoint is the position."""

    def stop(self) -> None:
        if self._shards is not None:
            self._shards.stop()


class KinesisDataSource(DataSource):
    """``spark.readStream.format("lakehouse-kinesis")``: one row per Kinesis record (KINESIS_SCHEMA)."""

    @classmethod
    def name(cls) -> str:
        return FORMAT

    def schema(self) -> str:
        KinesisOptions.parse(self.options)  # fail at load(), naming the option, not at the first batch
        return KINESIS_SCHEMA

    def simpleStreamReader(self, schema: Any) -> KinesisStreamReader:
        return KinesisStreamReader(KinesisOptions.parse(self.options))


def register(spark: SparkSession) -> None:
    """Make ``format("lakehouse-kinesis")`` available in this session."""
    spark.dataSource.register(KinesisDataSource)
