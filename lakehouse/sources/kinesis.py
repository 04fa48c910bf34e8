"""A Kinesis Data Streams source for Spark 4.1 Structured Streaming, written in Python.

No open-source Kinesis connector supports Spark 4.1 outside EMR, so this one uses PySpark's Python
data source API (`SimpleDataSourceStreamReader`: reads run on the driver, which suits a few shards)
and boto3::

    register(spark)
    events = (spark.readStream.format("lakehouse-kinesis")
              .option("streamName", "enrollment-events").option("region", "eu-west-1").load())

Offsets hold the last sequence number read per shard (see `kinesis_shards`), so the checkpoint alone
resumes a query. Drain-and-stop runs should use a processingTime trigger with
`query.processAllAvailable()` then `query.stop()`: in Spark 4.1 a Trigger.AvailableNow run of a
Python source plans a single micro-batch (at most maxRecordsPerShard per shard) and stops.

On EMR, AWS's own connector (format ``aws-kinesis``) reads the same stream; the stream job picks
the format from `StreamConfig.format` and keeps one code path above the source.

Options (all strings): streamName (required), region, endpointUrl (a local stand-in; uses
LOCAL_CREDENTIALS), startingPosition TRIM_HORIZON|LATEST|AT_TIMESTAMP (+ startingTimestamp),
maxRecordsPerShard (per micro-batch, default 2000), failOnDataLoss (default true), maxRetries
(default 8), retryBaseMillis / retryMaxMillis (back-off, default 100 / 5000), and for tests and
chaos runs: faults (a `parse_faults` spec) and faultsTrimBefore (JSON shard id -> oldest retained
sequence number). Between micro-batches a thread reads open shards ahead (prefetch, default true;
at most maxRecordsPerShard records and prefetchMaxBytes, default 64 MiB, per shard; a shard at its
tip polled every prefetchIntervalMillis, default 500), so a batch finds its records already read.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import pyarrow as pa
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotoConnectionError
from pyspark.sql import SparkSession
from pyspark.sql.datasource import DataSource, SimpleDataSourceStreamReader

from lakehouse.errors import SourceError
from lakehouse.sources.kinesis_faults import FaultInjectingKinesis
from lakehouse.sources.kinesis_shards import (
    FORMAT,
    KinesisOptions,
    Offset,
    ShardInfo,
    backoff_seconds,
    checkpoint_lost,
    initial_offset,
    iterator_args,
    lineage_order,
    make_offset,
    parents_finished,
    seq_key,
)

KINESIS_SCHEMA = (
    "data binary, stream string, shard_id string, sequence_number string, partition_key string, "
    "approximate_arrival_timestamp timestamp"
)

log = logging.getLogger(__name__)

_THROTTLED = {"ProvisionedThroughputExceededException", "LimitExceededException"}
# Transient server-side failures: every call this reader makes only reads (a GetRecords iterator
# is a token, not a cursor), so retrying them is safe.
_TRANSIENT = {"InternalFailure", "ServiceUnavailable", "InternalServerError", "KMSThrottlingException"}
_PAGE_LIMIT = 10_000  # GetRecords' own maximum
# Kinesis may answer empty pages while still behind the tip. A micro-batch gives up after a few
# (the next batch goes on); seeking a known position (a replay, the oldest record) keeps going.
_EMPTY_POLLS = 3
# The read-ahead thread stops after this long without a micro-batch (a stopped query, a test).
_IDLE_SECONDS = 60.0
_SEEK_POLLS = 100


class KinesisDataLossError(SourceError):
    """The checkpoint points at records the stream no longer retains."""


@dataclass
class _Ahead:
    """A shard's open read: the records fetched ahead of the next micro-batch (those right after
    sequence number `after`, in order) and the iterator that goes on after them."""

    after: str | None
    iterator: str
    records: list[dict[str, Any]]
    size: int = 0  # bytes of data held in `records`
    closed: bool = False  # a closed shard is read to its end by micro-batches alone
    caught_up: bool = False
    polled: float = 0.0  # time.monotonic() of the last fetch
    stalled: bool = False  # a fetch failed: the next read takes over (retries, reopens or fails)


@dataclass
class ShardBatch:
    """What one read of one shard gave: its records, the last number read, and whether it ended."""

    records: list[dict[str, Any]]
    last_seq: str | None
    done: bool


class ShardReader:
    """Reads one stream's shards with boto3: bounded retries with back-off, fresh iterators after
    expiry, and the data-loss check whenever a shard is opened from a checkpoint."""

    def __init__(self, opts: KinesisOptions, client: Any = None) -> None:
        self.opts = opts
        self.client = client if client is not None else _kinesis_client(opts)
        self._rng = random.Random()
        # shard id -> its open read: the next micro-batch goes on without a GetShardIterator call
        # (5 per second per shard on AWS), and with the records fetched ahead meanwhile.
        self._live: dict[str, _Ahead] = {}
        self._lock = threading.Lock()
        self._fetcher: threading.Thread | None = None
        self._stopped = threading.Event()
        self._last_read = time.monotonic()

    def call(self, operation: str, **kwargs: Any) -> Any:
        """One Kinesis call, retried with full-jitter back-off while throttled or failing transiently
        (a 5xx answer, a dropped connection), at most maxRetries times."""
        for attempt in range(self.opts.max_retries + 1):
            try:
                return getattr(self.client, operation)(**kwargs)
            except (BotoConnectionError, ReadTimeoutError) as err:
                failure: Exception = err
                code = type(err).__name__
            except ClientError as err:
                code = err.response.get("Error", {}).get("Code", "")
                status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
                if code not in _THROTTLED and code not in _TRANSIENT and status < 500:
                    raise
                failure, code = err, code or f"HTTP {status}"
            if attempt == self.opts.max_retries:
                raise SourceError(
                    f"Kinesis {operation} on stream '{self.opts.stream_name}' still failed with {code} "
                    f"after {self.opts.max_retries} retries (option maxRetries): throttled or unavailable"
                ) from failure
            pause = backoff_seconds(attempt, self.opts.retry_base_seconds, self.opts.retry_max_seconds, self._rng)
            time.sleep(pause)
        raise AssertionError("unreachable")

    def list_shards(self) -> dict[str, ShardInfo]:
        """Every shard the stream lists (open and closed), following NextToken pages."""
        shards: dict[str, ShardInfo] = {}
        kwargs: dict[str, Any] = {"StreamName": self.opts.stream_name}
        while True:
            try:
                page = self.call("list_shards", **kwargs)
            except ClientError as err:
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

    def _records(self, iterator: str, limit: int, reopen: Any) -> dict[str, Any]:
        """GetRecords; an expired iterator is replaced by `reopen()` (bounded like throttling)."""
        for _ in range(self.opts.max_retries + 1):
            try:
                return dict(self.call("get_records", ShardIterator=iterator, Limit=limit))
            except ClientError as err:
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
        that number, and neither uses nor keeps live iterators.
        """
        sid = info.shard_id
        with self._lock:
            live = None if until is not None else self._live.pop(sid, None)
            self._last_read = time.monotonic()
        origin, after = start, last_seq
        records: list[dict[str, Any]] = []
        newest: str | None = None  # last number read in this call
        if live is not None and live.after == last_seq:
            iterator: str | None = live.iterator
            records = live.records[:limit]
            newest = str(records[-1]["SequenceNumber"]) if records else None
            if len(live.records) > limit:  # more than a batch fetched ahead: the rest waits its turn
                rest = live.records[limit:]
                with self._lock:
                    self._live[sid] = _Ahead(newest, live.iterator, rest, sum(len(r["Data"]) for r in rest),
                                             closed=live.closed)
                return ShardBatch(records, newest, info.read_to_end(newest))
        else:
            origin, after = self._resume_point(info, start, last_seq)
            iterator = self._iterator(sid, origin, after)
        done, empty_polls = info.read_to_end(newest) if newest is not None else False, 0

        def reopen() -> str:  # right after the last record read, so an expired iterator costs no gap, no repeat
            return self._iterator(sid, origin, newest if newest is not None else after)

        while not done and iterator is not None and len(records) < limit:
            page = self._records(iterator, min(_PAGE_LIMIT, limit - len(records)), reopen)
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
            with self._lock:
                self._live[sid] = _Ahead(final, iterator, [], closed=info.ending_seq is not None)
            self._fetch_ahead()
        return ShardBatch(records, final, done)

    def _fetch_ahead(self) -> None:
        """Start the thread that reads open shards ahead of the next micro-batch (option prefetch)."""
        with self._lock:
            if not self.opts.prefetch or self._fetcher is not None:
                return
            self._fetcher = threading.Thread(target=self._fetch_loop, name="kinesis-fetch-ahead", daemon=True)
        self._fetcher.start()

    def stop(self) -> None:
        self._stopped.set()

    def _fetch_loop(self) -> None:
        """Keep each open shard's records coming while Spark writes the last batch.

        Up to maxRecordsPerShard records (and prefetchMaxBytes) wait per shard; a shard at its tip
        is polled every prefetchIntervalMillis; after a minute without a micro-batch the thread
        ends. A shard iterator is a token, not a cursor: if a micro-batch takes the shard while a
        fetch is under way, the page is dropped and the micro-batch reads the same records itself.
        Any failure hands the shard to the next micro-batch, whose read retries, reopens the
        iterator or fails loudly.
        """
        cap = self.opts.max_records_per_shard
        while not self._stopped.is_set():
            with self._lock:
                if time.monotonic() - self._last_read > _IDLE_SECONDS:
                    self._fetcher = None  # no micro-batch for a while: stop; the next read starts it again
                    return
                due = [(sid, a) for sid, a in self._live.items()
                       if not a.stalled and not a.closed and len(a.records) < cap
                       and a.size < self.opts.prefetch_max_bytes]
            fetched = False
            for sid, ahead in due:
                if ahead.caught_up and time.monotonic() - ahead.polled < self.opts.prefetch_interval_seconds:
                    continue
                try:
                    page = self.client.get_records(ShardIterator=ahead.iterator,
                                                   Limit=min(_PAGE_LIMIT, cap - len(ahead.records)))
                except Exception as err:  # noqa: BLE001 (the next micro-batch meets it and decides)
                    log.debug("fetch ahead of shard %s stopped: %s", sid, err)
                    with self._lock:
                        ahead.stalled = True
                    continue
                with self._lock:
                    if self._live.get(sid) is not ahead:
                        continue  # a micro-batch took the shard meanwhile: it reads these itself
                    ahead.records += page["Records"]
                    ahead.size += sum(len(r["Data"]) for r in page["Records"])
                    ahead.caught_up = page.get("MillisBehindLatest", 0) == 0 or not page["Records"]
                    ahead.polled = time.monotonic()
                    if page.get("NextShardIterator"):
                        ahead.iterator = page["NextShardIterator"]
                    else:
                        ahead.stalled = True  # the shard ended: the micro-batch's read finds out
                fetched = fetched or bool(page["Records"])
            if not fetched:
                self._stopped.wait(min(0.05, self.opts.prefetch_interval_seconds))

    def data_loss(self, what: str) -> None:
        """Records the query should have read are gone: fail, or (failOnDataLoss=false) warn."""
        message = f"Kinesis stream '{self.opts.stream_name}': {what}"
        if self.opts.fail_on_data_loss:
            raise KinesisDataLossError(message + ". Set failOnDataLoss=false to go on without them.")
        log.warning("%s; failOnDataLoss=false: going on", message)


def _kinesis_client(opts: KinesisOptions) -> Any:
    from lakehouse.aws.clients import client
    from lakehouse.config import AwsConfig

    kinesis = client("kinesis", AwsConfig(region=opts.region), opts.endpoint_url)
    return FaultInjectingKinesis(kinesis, opts.faults) if opts.faults is not None else kinesis


_ARROW_SCHEMA = pa.schema([
    ("data", pa.binary()), ("stream", pa.string()), ("shard_id", pa.string()), ("sequence_number", pa.string()),
    ("partition_key", pa.string()), ("approximate_arrival_timestamp", pa.timestamp("us", tz="UTC")),
])


def _batches(stream: str, read: list[tuple[str, list[dict[str, Any]]]]) -> Iterator[pa.RecordBatch]:
    """The records of each shard read, as one Arrow batch (KINESIS_SCHEMA): Spark takes it as is,
    with no conversion row by row."""
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
    return iter([pa.RecordBatch.from_arrays(columns, schema=_ARROW_SCHEMA)])


class KinesisStreamReader(SimpleDataSourceStreamReader):
    """Plans each micro-batch by reading it: up to maxRecordsPerShard records of every readable shard."""

    def __init__(self, opts: KinesisOptions) -> None:
        self.opts = opts
        self._shards: ShardReader | None = None

    @property
    def shards(self) -> ShardReader:
        if self._shards is None:  # built on first use, in the Python process that reads
            self._shards = ShardReader(self.opts)
        return self._shards

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
        return _batches(self.opts.stream_name, read), make_offset(start["start"], state)

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
        return _batches(self.opts.stream_name, read)

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
