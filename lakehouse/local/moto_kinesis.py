"""Kinesis shards of the moto stand-in made cheap enough to stream through.

moto 5.2.5 keeps a shard's records in an ordered dict. Per record put it copies every key
(`list(self.records.keys())[-1]`) to find the last sequence number; GetRecords walks the records in
Python from the first one until it has `limit` past the iterator's position, so a reader near the
tip walks the whole shard. Both grow with the shard, so a local stream slows to a crawl after some
100,000 records, which Kinesis does not. These replacements keep moto's data structure and answers
(same records, same order, same MillisBehindLatest) and change only the cost. A put reads the last
key in O(1). moto numbers a shard's records 1, 2, 3, ... with no gaps, so GetRecords looks the
records after its position up by number: O(limit), wherever the reader is. Should a shard ever
hold a gap, the read falls back to bisecting a copy of the keys (linear in the shard, at C speed).
A lock makes puts safe under moto's threaded server.
"""
from __future__ import annotations

import threading
from bisect import bisect_right
from typing import Any

# The moto release whose `Shard` these functions replace; setup.py pins it, and the stand-in refuses
# to start on another (`lakehouse.local.aws`): a later release may keep records differently.
MOTO_VERSION = "5.2.5"

_PUT = threading.Lock()


def _put_record(self: Any, partition_key: str, data: str, explicit_hash_key: str) -> str:
    from moto.kinesis.models import Record

    with _PUT:
        sequence_number = (next(reversed(self.records)) if self.records else 0) + 1
        self.records[sequence_number] = Record(partition_key, data, sequence_number, explicit_hash_key)
    return str(sequence_number)


def _get_records(self: Any, last_sequence_id: str, limit: int | None) -> tuple[list[Any], int, int]:
    """The records after `last_sequence_id`, at most `limit`, as moto's own method answers them."""
    if not self.records:
        return [], int(last_sequence_id), 0
    lowest, highest = next(iter(self.records)), next(reversed(self.records))
    if highest - lowest + 1 == len(self.records):  # numbered without gaps: look the records up
        start = max(int(last_sequence_id) + 1, lowest)
        stop = highest if limit is None else min(highest, start + limit - 1)
        if start > stop:
            return [], int(last_sequence_id), 0
        results = [self.records[k] for k in range(start, stop + 1)]
        behind = self.records[highest].created_at - results[-1].created_at
        return results, stop, int(behind * 1000)
    keys = list(self.records)  # a gap: one C-level copy per call, not a Python loop over the shard
    first = bisect_right(keys, int(last_sequence_id))
    chosen = keys[first:] if limit is None else keys[first:first + limit]
    if not chosen:
        return [], int(last_sequence_id), 0
    results = [self.records[k] for k in chosen]
    behind = self.records[keys[-1]].created_at - results[-1].created_at
    return results, chosen[-1], int(behind * 1000)


def _min_sequence_number(self: Any) -> int:
    return next(iter(self.records)) if self.records else 0


def _max_sequence_number(self: Any) -> int:
    return next(reversed(self.records)) if self.records else 0


def install() -> None:
    """Patch moto's Shard in this process (the one that runs the moto server); idempotent."""
    from moto.kinesis.models import Shard

    Shard.put_record = _put_record  # type: ignore[method-assign]
    Shard.get_records = _get_records  # type: ignore[method-assign]
    Shard.get_min_sequence_number = _min_sequence_number  # type: ignore[method-assign]
    Shard.get_max_sequence_number = _max_sequence_number  # type: ignore[method-assign]
