"""Reading one shard: where to open it, fresh iterators after expiry, and the data-loss check.

A shard opened from a checkpoint is first checked against the oldest record the stream still
retains (`checkpoint_lost`): records trimmed in between fail the query, or with failOnDataLoss=false
are skipped with a warning. A replay of a planned batch (`until`) reads exactly its records again.
"""
from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from lakehouse.errors import SourceError
from lakehouse.sources.kinesis.client import PAGE_LIMIT, call, kinesis_client
from lakehouse.sources.kinesis.offsets import ShardInfo, checkpoint_lost, iterator_args, seq_key
from lakehouse.sources.kinesis.options import KinesisOptions
from lakehouse.sources.kinesis.read_ahead import Ahead, ReadAhead

log = logging.getLogger(__name__)

# Kinesis may answer empty pages while still behind the tip. A micro-batch gives up after a few
# (the next batch goes on); seeking a known position (a replay, the oldest record) keeps going.
_EMPTY_POLLS = 3
_SEEK_POLLS = 100


class KinesisDataLossError(SourceError):
    """The checkpoint points at records the stream no longer retains."""


@dataclass
class ShardBatch:
    """What one read of one shard gave: its records, the last number read, and whether it ended."""

    records: list[dict[str, Any]]
    last_seq: str | None
    done: bool


class ShardReader:
    """Reads one stream's shards with boto3: bounded retries with back-off, fresh iterators after
    expiry, and the data-loss check whenever a shard is opened from a checkpoint.

    Args:
        opts: the source's options.
        client: the Kinesis client to read with (default: a boto3 client built from `opts`).
    """

    def __init__(self, opts: KinesisOptions, client: Any = None) -> None:
        self.opts = opts
        self.client = client if client is not None else kinesis_client(opts)
        self._rng = random.Random()
        # The read-ahead thread reads through whatever `client` is now, like every other call.
        self.ahead = ReadAhead(opts, lambda iterator, limit: self.client.get_records(ShardIterator=iterator,
                                                                                     Limit=limit))

    def call(self, operation: str, **kwargs: Any) -> Any:
        """One Kinesis call with this reader's client, retried while throttled (see `client.call`)."""
        return call(self.client, self.opts, self._rng, operation, **kwargs)

    def list_shards(self) -> dict[str, ShardInfo]:
        """Every shard the stream lists (open and closed), following NextToken pages."""
        shards: dict[str, ShardInfo] = {}
        kwargs: dict[str, Any] = {"StreamName": self.opts.stream_name}
        while True:
            try:
                page = self.call("list_shards", **kwargs)
            except botocore.exceptions.ClientError as err:
                if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    raise SourceError(f"Kinesis stream '{self.opts.stream_name}' does not exist") from err
                raise
            shards.update((s["ShardId"], ShardInfo.from_listing(s)) for s in page["Shards"])
            if not page.get("NextToken"):
                return shards
            kwargs = {"NextToken": page["NextToken"]}  # ListShards refuses StreamName with NextToken

    def _iterator(self, shard_id: str, start: Mapping[str, str], after: str | None) -> str:
        args = iterator_args(start, after)
        answer = self.call("get_shard_iterator", StreamName=self.opts.stream_name, ShardId=shard_id, **args)
        return str(answer["ShardIterator"])

    def _records(self, iterator: str, limit: int, reopen: Callable[[], str]) -> dict[str, Any]:
        """GetRecords; an expired iterator is replaced by `reopen()` (bounded like throttling)."""
        for _ in range(self.opts.max_retries + 1):
            try:
                return dict(self.call("get_records", ShardIterator=iterator, Limit=limit))
            except botocore.exceptions.ClientError as err:
                if err.response.get("Error", {}).get("Code") != "ExpiredIteratorException":
                    raise
                iterator = reopen()
        raise SourceError(
            f"Kinesis stream '{self.opts.stream_name}': shard iterators kept expiring "
            f"{self.opts.max_retries + 1} times in a row (option maxRetries)"
        )

    def oldest_retained(self, shard_id: str) -> str | None:
        """The sequence number of the oldest record the shard still holds (None: it holds none)."""
        horizon = {"type": "TRIM_HORIZON"}
        iterator = self._iterator(shard_id, horizon, None)
        for _ in range(_SEEK_POLLS):
            page = self._records(iterator, 1, lambda: self._iterator(shard_id, horizon, None))
            if page["Records"]:
                return str(page["Records"][0]["SequenceNumber"])
            if not page.get("NextShardIterator") or page.get("MillisBehindLatest", 0) == 0:
                return None
            iterator = page["NextShardIterator"]
        return None

    def _resume_point(
        self, info: ShardInfo, start: Mapping[str, str], last_seq: str | None
    ) -> tuple[Mapping[str, str], str | None]:
        """Where to open a shard whose checkpoint says `last_seq`: right after it, unless the stream
        no longer retains the records after it (then fail, or warn and go to TRIM_HORIZON)."""
        if last_seq is None:
            return start, None
        oldest = self.oldest_retained(info.shard_id)
        if not checkpoint_lost(last_seq, oldest, info.ending_seq):
            return start, last_seq
        message = (
            f"Kinesis stream '{self.opts.stream_name}' shard '{info.shard_id}': the checkpoint resumes after "
            f"sequence number {last_seq}, but the oldest record the stream still retains is "
            f"{oldest or f'none (the shard ended at {info.ending_seq})'}; the records in between are gone "
            "(retention or trimming)"
        )
        if self.opts.fail_on_data_loss:
            raise KinesisDataLossError(f"{message}. Set failOnDataLoss=false to go on from the oldest retained record.")
        log.warning("%s; failOnDataLoss=false: continuing from TRIM_HORIZON", message)
        return {"type": "TRIM_HORIZON"}, None

    def read_shard(
        self, info: ShardInfo, start: Mapping[str, str], last_seq: str | None, limit: int, until: str | None = None
    ) -> ShardBatch:
        """Up to `limit` records after `last_seq` (or from `start`), in sequence order.

        With `until` (a replay of a planned batch) it reads exactly the records up to and including
        that number, and neither uses nor keeps open reads (see `read_ahead`).
        """
        sid = info.shard_id
        if until is None:
            live = self.ahead.take(sid)
        else:
            self.ahead.touch()
            live = None
        origin, after = start, last_seq
        records: list[dict[str, Any]] = []
        newest: str | None = None  # last number read in this call
        if live is not None and live.after == last_seq:
            iterator: str | None = live.iterator
            records = live.records[:limit]
            newest = str(records[-1]["SequenceNumber"]) if records else None
            if len(live.records) > limit:  # more than a batch fetched ahead: the rest waits its turn
                rest = live.records[limit:]
                self.ahead.keep(sid, Ahead(newest, live.iterator, rest, sum(len(r["Data"]) for r in rest),
                                           closed=live.closed))
                return ShardBatch(records, newest, info.read_to_end(newest))
        else:
            origin, after = self._resume_point(info, start, last_seq)
            iterator = self._iterator(sid, origin, after)
        done, empty_polls = info.read_to_end(newest) if newest is not None else False, 0

        def reopen() -> str:  # right after the last record read, so an expired iterator costs no gap, no repeat
            return self._iterator(sid, origin, newest if newest is not None else after)

        while not done and iterator is not None and len(records) < limit:
            page = self._records(iterator, min(PAGE_LIMIT, limit - len(records)), reopen)
            fresh = [r for r in page["Records"] if until is None or seq_key(r["SequenceNumber"]) <= seq_key(until)]
            records += fresh
            newest = str(fresh[-1]["SequenceNumber"]) if fresh else newest
            position = newest if newest is not None else after
            iterator = page.get("NextShardIterator")
            caught_up = page.get("MillisBehindLatest", 0) == 0
            # A closed shard ends at a null iterator; moto never returns one, so a closed shard also
            # ends once its last number is read, or when an empty page at the tip shows nothing is left.
            drained = not page["Records"] and caught_up and info.ending_seq is not None
            if iterator is None or info.read_to_end(position) or drained:
                done = True
                break
            if until is not None and position is not None and seq_key(position) >= seq_key(until):
                break
            if not page["Records"]:
                empty_polls += 1
                if caught_up or empty_polls > (_EMPTY_POLLS if until is None else _SEEK_POLLS):
                    break
            elif caught_up and until is None:
                break  # at the tip: another call now would only come back empty
        final = newest if newest is not None else last_seq
        if until is not None and (final is None or seq_key(final) < seq_key(until)):
            self.data_loss(
                f"shard '{sid}' no longer holds the records up to sequence number {until} of a planned batch"
            )
        if until is None and not done and iterator is not None:
            self.ahead.keep(sid, Ahead(final, iterator, [], closed=info.ending_seq is not None))
            self.ahead.start()
        return ShardBatch(records, final, done)

    def stop(self) -> None:
        """Stop reading ahead (the query stops)."""
        self.ahead.stop()

    def data_loss(self, what: str) -> None:
        """Records the query should have read are gone: fail, or (failOnDataLoss=false) warn."""
        message = f"Kinesis stream '{self.opts.stream_name}': {what}"
        if self.opts.fail_on_data_loss:
            raise KinesisDataLossError(message + ". Set failOnDataLoss=false to go on without them.")
        log.warning("%s; failOnDataLoss=false: going on", message)
