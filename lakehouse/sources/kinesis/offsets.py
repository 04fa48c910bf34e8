"""Offsets and shard lineage: where a query stands, which shards it may read, when a shard ends.

Nothing here talks to Kinesis, so all of it is tested without a stream or a SparkSession.

An offset is a JSON-serialisable dict that is enough on its own to resume a query::

    {"start": {"type": "TRIM_HORIZON"},                 # or {"type": "AT_TIMESTAMP", "timestamp": ISO-8601}
     "shards": {"shardId-000000000000": {"seq": "41"},  # read up to and including 41
                "shardId-000000000001": {"done": True, "seq": "9"}}}  # read to its end

A shard missing from "shards" has not been read yet and starts at "start". A shard marked "done"
was read to its end (closed by a split or merge), so its children may be read; done shards are
dropped once Kinesis no longer lists them, which keeps the offset small.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Offset = dict[str, Any]


def seq_key(sequence_number: str) -> int:
    """Sequence numbers are decimal strings of up to 128 bits; compare them as integers, not text.

    >>> seq_key("10") > seq_key("9")
    True
    """
    return int(sequence_number)


@dataclass(frozen=True)
class ShardInfo:
    """What ListShards says about one shard: its parents and, once it is closed, its last number."""

    shard_id: str
    parents: tuple[str, ...] = ()
    ending_seq: str | None = None

    @classmethod
    def from_listing(cls, shard: Mapping[str, Any]) -> ShardInfo:
        parents = tuple(p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p)
        ending = shard.get("SequenceNumberRange", {}).get("EndingSequenceNumber")
        return cls(shard["ShardId"], parents, ending)

    def read_to_end(self, last_seq: str | None) -> bool:
        """A closed shard whose last record has been read has nothing left to give."""
        return self.ending_seq is not None and last_seq is not None and seq_key(last_seq) >= seq_key(self.ending_seq)


def initial_offset(start: Mapping[str, str]) -> Offset:
    """The offset of a query that has read nothing: every shard starts at `start`."""
    return {"start": dict(start), "shards": {}}


def make_offset(start: Mapping[str, str], shards: Mapping[str, Mapping[str, Any]]) -> Offset:
    """An offset with its shards in id order: Spark compares offsets by their JSON text."""
    return {"start": dict(start), "shards": {sid: dict(sorted(shards[sid].items())) for sid in sorted(shards)}}


def iterator_args(start: Mapping[str, str], last_seq: str | None) -> dict[str, Any]:
    """GetShardIterator arguments that continue right after `last_seq`, or at the query's start."""
    if last_seq is not None:
        return {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": last_seq}
    if start["type"] == "AT_TIMESTAMP":
        return {"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": datetime.fromisoformat(start["timestamp"])}
    return {"ShardIteratorType": "TRIM_HORIZON"}


def lineage_order(listing: Mapping[str, ShardInfo]) -> list[str]:
    """Shard ids with every parent before its children (ids break ties), so one pass over the list
    can finish a parent and start its children in the same micro-batch."""
    ordered: list[str] = []
    placed: set[str] = set()
    pending = sorted(listing)
    while pending:
        ready = [s for s in pending if all(p in placed or p not in listing for p in listing[s].parents)]
        if not ready:  # a cycle cannot happen in Kinesis; keep the rest rather than loop forever
            ready = pending
        ordered += ready
        placed.update(ready)
        pending = [s for s in pending if s not in placed]
    return ordered


def parents_finished(
    info: ShardInfo, shards: Mapping[str, Mapping[str, Any]], listing: Mapping[str, ShardInfo]
) -> bool:
    """A child shard may be read once each parent is done, or gone from the stream without ever
    having been read (expired before this query started, so there is nothing of it to wait for)."""
    for parent in info.parents:
        state = shards.get(parent)
        if state is not None and state.get("done"):
            continue
        if state is None and parent not in listing:
            continue
        return False
    return True


def checkpoint_lost(checkpoint_seq: str, oldest_retained_seq: str | None, ending_seq: str | None = None) -> bool:
    """True when records after the checkpoint may have been trimmed: the checkpoint is older than
    the oldest record the shard still holds, or the shard holds none and closed after the checkpoint.
    (An open shard holding no records gives no evidence either way.)"""
    if oldest_retained_seq is None:
        return ending_seq is not None and seq_key(checkpoint_seq) < seq_key(ending_seq)
    return seq_key(checkpoint_seq) < seq_key(oldest_retained_seq)
