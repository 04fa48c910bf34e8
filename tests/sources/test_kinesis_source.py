"""The Kinesis streaming source against the Kinesis API of the local moto server.

Every test makes its own stream and puts records with boto3; the expected records are the
(shard id, sequence number) pairs the put_record answers returned, never the source's own reads.
Queries run with a processingTime trigger and `processAllAvailable()`: Spark 4.1 plans only one
micro-batch per Trigger.AvailableNow run for Python sources, and these tests need the backlog drained.
Faults moto never makes come from `faults.kinesis` (tests/faults: tests/ is on sys.path through its
conftest), injected into the product's reader from here.
"""
from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from faults.kinesis import FaultInjectingKinesis, FaultPlan, FaultyKinesisStreamReader, journal_counts, register_faulty
from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from lakehouse.aws.clients import LOCAL_CREDENTIALS
from lakehouse.errors import SourceError
from lakehouse.local.aws import LocalAws
from lakehouse.sources.kinesis import FORMAT, KinesisDataLossError, register
from lakehouse.sources.kinesis.data_source import KinesisStreamReader
from lakehouse.sources.kinesis.offsets import ShardInfo, make_offset
from lakehouse.sources.kinesis.options import KinesisOptions
from lakehouse.sources.kinesis.shard_reader import ShardReader

Key = tuple[str, str]  # (shard id, sequence number)
LOW, HIGH = "1", str(2**127 + 1)  # explicit hash keys: first and second half of the key space
SHARD = [f"shardId-{i:012d}" for i in range(6)]


# ---------------------------------------------------------------- helpers against the moto server


@pytest.fixture
def kinesis(local_aws: LocalAws) -> Any:
    return boto3.client("kinesis", endpoint_url=local_aws.url, region_name="us-east-1", **LOCAL_CREDENTIALS)


@pytest.fixture
def aws_resharding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto reshard the way Kinesis does. moto routes new records to closed parents too, and
    moves (split) or copies (merge) a parent's records into its children; Kinesis routes new records
    to open shards only and keeps a closed parent's records in the parent. The server runs in this
    process, so its model can be patched for one test."""
    from moto.kinesis.models import Stream

    def open_shard_for_key(self: Any, partition_key: str, explicit_hash_key: str | None) -> Any:
        key = int(explicit_hash_key) if explicit_hash_key else int(hashlib.md5(partition_key.encode()).hexdigest(), 16)
        return next(s for s in self.shards.values() if s.is_open and s.starting_hash <= key <= s.ending_hash)

    def keeping_parent_records(reshard: Callable[..., None]) -> Callable[..., None]:
        def wrapped(self: Any, first: str, second: str) -> None:
            parents = [self.shards[a] for a in (first, second) if a in self.shards]
            kept = [p.records for p in parents]
            for parent in parents:
                parent.records = OrderedDict()
            try:
                reshard(self, first, second)
            finally:
                for parent, records in zip(parents, kept, strict=True):
                    parent.records = records
        return wrapped

    monkeypatch.setattr(Stream, "get_shard_for_key", open_shard_for_key)
    monkeypatch.setattr(Stream, "split_shard", keeping_parent_records(Stream.split_shard))
    monkeypatch.setattr(Stream, "merge_shards", keeping_parent_records(Stream.merge_shards))


def _stream(kinesis: Any, shards: int) -> str:
    name = f"test-{uuid.uuid4().hex[:10]}"
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    return name


def _put(kinesis: Any, stream: str, count: int, hash_keys: tuple[str, ...] = (LOW, HIGH)) -> dict[Key, bytes]:
    """`count` records spread over `hash_keys`; returns what Kinesis said it stored where."""
    stored: dict[Key, bytes] = {}
    for i in range(count):
        data = f"{uuid.uuid4().hex}-{i}".encode()
        answer = kinesis.put_record(StreamName=stream, Data=data, PartitionKey=f"pk-{i}",
                                    ExplicitHashKey=hash_keys[i % len(hash_keys)])
        stored[(answer["ShardId"], answer["SequenceNumber"])] = data
    return stored


def _options(local_aws: LocalAws, stream: str, **extra: str) -> dict[str, str]:
    return {"streamName": stream, "endpointUrl": local_aws.url, "region": "us-east-1", "retryBaseMillis": "1", **extra}


def _start(spark: SparkSession, options: dict[str, str], tmp_path: Path, source: str = FORMAT) -> StreamingQuery:
    """A query appending every micro-batch, with its batch id, to parquet under tmp_path.

    `source` is the format to read: the product's, or one `register_faulty` made.
    """
    register(spark)
    out = str(tmp_path / "out")

    def append(batch: DataFrame, batch_id: int) -> None:
        batch.withColumn("batch_id", F.lit(batch_id)).write.mode("append").parquet(out)

    return (
        spark.readStream.format(source).options(**options).load()
        .writeStream.foreachBatch(append).option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(processingTime="0 seconds").start()
    )


def _drain(spark: SparkSession, options: dict[str, str], tmp_path: Path, source: str = FORMAT) -> StreamingQuery:
    query = _start(spark, options, tmp_path, source)
    try:
        query.processAllAvailable()
    finally:
        query.stop()
    return query


def _rows(spark: SparkSession, tmp_path: Path) -> list[Any]:
    out = tmp_path / "out"
    if not out.exists():
        return []
    return spark.read.parquet(str(out)).select(
        "shard_id", "sequence_number", "batch_id", "data", "stream", "partition_key",
        F.unix_micros("approximate_arrival_timestamp").alias("arrived_us"),
    ).collect()


def _keys(rows: list[Any]) -> Counter[Key]:
    return Counter((r.shard_id, r.sequence_number) for r in rows)


def _exactly(rows: list[Any], expected: dict[Key, bytes]) -> None:
    seen = _keys(rows)
    assert [k for k, n in seen.items() if n > 1] == []  # no duplicate
    assert set(seen) == set(expected)  # no loss, nothing invented
    assert {(r.shard_id, r.sequence_number): bytes(r.data) for r in rows} == expected


# ---------------------------------------------------------------- through Spark


def test_reads_every_record_once_and_resumes_from_the_checkpoint(
    spark: SparkSession, local_aws: LocalAws, kinesis: Any, tmp_path: Path
) -> None:
    stream = _stream(kinesis, 2)
    before_us = int(time.time() * 1e6)
    first = _put(kinesis, stream, 30)
    after_us = int(time.time() * 1e6)
    assert {shard for shard, _ in first} == set(SHARD[:2])
    _drain(spark, _options(local_aws, stream), tmp_path)
    rows = _rows(spark, tmp_path)
    _exactly(rows, first)
    assert {r.stream for r in rows} == {stream}
    assert {r.partition_key for r in rows} == {f"pk-{i}" for i in range(30)}
    # the arrival instant, whatever the time zones of the JVM and the Python workers
    assert all(before_us - 1000 <= r.arrived_us <= after_us + 1000 for r in rows)

    second = _put(kinesis, stream, 20)
    _drain(spark, _options(local_aws, stream), tmp_path)
    _exactly(_rows(spark, tmp_path), first | second)


def test_max_records_per_shard_bounds_each_batch(
    spark: SparkSession, local_aws: LocalAws, kinesis: Any, tmp_path: Path
) -> None:
    stream = _stream(kinesis, 2)
    expected = _put(kinesis, stream, 50)  # 25 per shard
    query = _drain(spark, _options(local_aws, stream, maxRecordsPerShard="10"), tmp_path)
    rows = _rows(spark, tmp_path)
    _exactly(rows, expected)
    per_batch_and_shard = Counter((r.batch_id, r.shard_id) for r in rows)
    assert max(per_batch_and_shard.values()) <= 10
    assert len({r.batch_id for r in rows}) >= 3
    assert sum(p["numInputRows"] for p in query.recentProgress) == 50
    # within a batch, a shard's records come in sequence order (the parquet files keep row order)
    for batch in {r.batch_id for r in rows}:
        for shard in SHARD[:2]:
            seqs = [int(r.sequence_number) for r in rows if r.batch_id == batch and r.shard_id == shard]
            assert seqs == sorted(seqs)


def test_a_restarted_batch_replays_exactly_the_same_records(
    spark: SparkSession, local_aws: LocalAws, kinesis: Any, tmp_path: Path
) -> None:
    stream = _stream(kinesis, 2)
    first = _put(kinesis, stream, 16)
    options = _options(local_aws, stream, maxRecordsPerShard="3")
    _drain(spark, options, tmp_path)
    rows = _rows(spark, tmp_path)
    last = max(r.batch_id for r in rows)
    planned = _keys([r for r in rows if r.batch_id == last])
    # as if the process died after writing the last batch but before committing it
    commits = tmp_path / "checkpoint" / "commits"
    for name in (str(last), f".{last}.crc"):
        (commits / name).unlink(missing_ok=True)
    second = _put(kinesis, stream, 10)
    _drain(spark, options, tmp_path)
    rows = _rows(spark, tmp_path)
    # the sink is a plain append, so the replayed batch shows up twice: each time the same records
    assert _keys([r for r in rows if r.batch_id == last]) == Counter({k: 2 for k in planned})
    replayed_once = {(r.shard_id, r.sequence_number): r for r in rows if r.batch_id == last}
    _exactly([r for r in rows if r.batch_id != last] + list(replayed_once.values()), first | second)


def _parents_before_children(rows: list[Any], lineage: dict[str, tuple[str, ...]]) -> None:
    batches: dict[str, list[int]] = {}
    for r in rows:
        batches.setdefault(r.shard_id, []).append(r.batch_id)
    for child, parents in lineage.items():
        for parent in parents:
            if child in batches and parent in batches:
                assert max(batches[parent]) <= min(batches[child]), f"{child} read before its parent {parent} ended"


def test_resharding_while_stopped_loses_nothing_and_reads_parents_first(
    spark: SparkSession, local_aws: LocalAws, kinesis: Any, tmp_path: Path, aws_resharding: None
) -> None:
    stream = _stream(kinesis, 2)
    options = _options(local_aws, stream, maxRecordsPerShard="4")
    first = _put(kinesis, stream, 10)
    _drain(spark, options, tmp_path)
    unread = _put(kinesis, stream, 14)  # left in the parents when they close
    # shard 0 splits into 2 and 3; then 3 and shard 1 merge into 4
    kinesis.split_shard(StreamName=stream, ShardToSplit=SHARD[0], NewStartingHashKey=str(2**126))
    kinesis.merge_shards(StreamName=stream, ShardToMerge=SHARD[3], AdjacentShardToMerge=SHARD[1])
    after = _put(kinesis, stream, 12, hash_keys=(LOW, str(2**126 + 1), HIGH))
    assert {shard for shard, _ in after} == {SHARD[2], SHARD[4]}
    _drain(spark, options, tmp_path)
    rows = _rows(spark, tmp_path)
    _exactly(rows, first | unread | after)
    _parents_before_children(rows, {SHARD[2]: (SHARD[0],), SHARD[3]: (SHARD[0],), SHARD[4]: (SHARD[3], SHARD[1])})


def test_resharding_between_batches_is_followed_without_a_restart(
    spark: SparkSession, local_aws: LocalAws, kinesis: Any, tmp_path: Path, aws_resharding: None
) -> None:
    stream = _stream(kinesis, 1)
    query = _start(spark, _options(local_aws, stream, maxRecordsPerShard="5"), tmp_path)
    try:
        expected = _put(kinesis, stream, 8)
        query.processAllAvailable()
        expected |= _put(kinesis, stream, 12)  # unread when the shard splits
        kinesis.split_shard(StreamName=stream, ShardToSplit=SHARD[0], NewStartingHashKey=str(2**127))
        expected |= _put(kinesis, stream, 10)  # into the children 1 and 2
        query.processAllAvailable()
        kinesis.merge_shards(StreamName=stream, ShardToMerge=SHARD[1], AdjacentShardToMerge=SHARD[2])
        expected |= _put(kinesis, stream, 6)  # into 3
        query.processAllAvailable()
    finally:
        query.stop()
    rows = _rows(spark, tmp_path)
    assert {shard for shard, _ in expected} == set(SHARD[:4])
    _exactly(rows, expected)
    _parents_before_children(rows, {SHARD[1]: (SHARD[0],), SHARD[2]: (SHARD[0],), SHARD[3]: (SHARD[1], SHARD[2])})


def test_injected_faults_lose_and_repeat_nothing(
    spark: SparkSession, local_aws: LocalAws, kinesis: Any, tmp_path: Path
) -> None:
    stream = _stream(kinesis, 2)
    expected = _put(kinesis, stream, 40)
    journal = tmp_path / "faults"
    faulty = register_faulty(spark, FaultPlan(throttle_every=3, expire_every=4, limit_every=5), journal)
    _drain(spark, _options(local_aws, stream, maxRecordsPerShard="7"), tmp_path, faulty)
    _exactly(_rows(spark, tmp_path), expected)
    # the faults happened where the source reads, in Spark's Python workers, each kind of them
    injected = journal_counts(journal)
    assert set(injected) == {"ProvisionedThroughputExceededException", "ExpiredIteratorException",
                             "LimitExceededException"}


def test_a_stream_that_always_throttles_fails_after_max_retries(
    spark: SparkSession, local_aws: LocalAws, kinesis: Any, tmp_path: Path
) -> None:
    stream = _stream(kinesis, 1)
    _put(kinesis, stream, 3)
    started = time.monotonic()
    with pytest.raises(StreamingQueryException, match="ProvisionedThroughputExceededException after 3 retries"):
        _drain(spark, _options(local_aws, stream, maxRetries="3"), tmp_path,
               register_faulty(spark, FaultPlan(throttle_every=1)))
    assert time.monotonic() - started < 60


def test_data_loss_fails_loudly_or_continues_from_the_oldest_retained_record(
    spark: SparkSession, local_aws: LocalAws, kinesis: Any, tmp_path: Path
) -> None:
    stream = _stream(kinesis, 1)
    first = _put(kinesis, stream, 10)
    _drain(spark, _options(local_aws, stream), tmp_path)
    second = _put(kinesis, stream, 10)
    seqs = sorted((int(seq) for _, seq in second))
    checkpoint, oldest = max(int(seq) for _, seq in first), str(seqs[4])  # five unread records "trimmed"
    trimmed = register_faulty(spark, FaultPlan(trim_before={SHARD[0]: oldest}))
    message = (f"stream '{stream}' shard '{SHARD[0]}': the checkpoint resumes after sequence number "
               f"{checkpoint}, but the oldest record the stream still retains is {oldest}")
    with pytest.raises(StreamingQueryException, match=re.escape(message)):
        _drain(spark, _options(local_aws, stream), tmp_path, trimmed)
    assert _keys(_rows(spark, tmp_path)) == Counter(dict.fromkeys(first, 1))  # nothing skipped silently

    _drain(spark, _options(local_aws, stream, failOnDataLoss="false"), tmp_path, trimmed)
    retained = {k: v for k, v in second.items() if int(k[1]) >= int(oldest)}
    _exactly(_rows(spark, tmp_path), first | retained)


def test_latest_reads_only_records_put_after_the_query_started(
    spark: SparkSession, local_aws: LocalAws, kinesis: Any, tmp_path: Path
) -> None:
    stream = _stream(kinesis, 2)
    _put(kinesis, stream, 6)
    time.sleep(0.05)  # arrival timestamps have millisecond resolution
    query = _start(spark, _options(local_aws, stream, startingPosition="LATEST"), tmp_path)
    try:
        query.processAllAvailable()
        time.sleep(0.05)
        later = _put(kinesis, stream, 8)
        query.processAllAvailable()
    finally:
        query.stop()
    _exactly(_rows(spark, tmp_path), later)


def test_load_without_stream_name_names_the_option(spark: SparkSession) -> None:
    register(spark)
    with pytest.raises(Exception, match="streamName"):
        spark.readStream.format("lakehouse-kinesis").option("region", "us-east-1").load()


# ---------------------------------------------------------------- the reader itself, without Spark


def _reader(local_aws: LocalAws, stream: str, **extra: str) -> KinesisStreamReader:
    return KinesisStreamReader(KinesisOptions.parse(_options(local_aws, stream, **extra)))


Read = tuple[dict[str, Any], list[Any], dict[str, Any]]


def _tuples(batches: Iterator[Any]) -> list[tuple[Any, ...]]:
    """A read's Arrow batches as row tuples in KINESIS_SCHEMA's column order."""
    return [tuple(row.values()) for batch in batches for row in batch.to_pylist()]


def _read_all(reader: KinesisStreamReader, start: dict[str, Any]) -> Iterator[Read]:
    """(start, rows, end) of each read until a read brings nothing new."""
    while True:
        batches, end = reader.read(start)
        rows = _tuples(batches)
        if end == start:
            return
        yield start, rows, end
        start = end


def test_replay_between_offsets_is_deterministic(local_aws: LocalAws, kinesis: Any) -> None:
    stream = _stream(kinesis, 2)
    _put(kinesis, stream, 20)
    reader = _reader(local_aws, stream, maxRecordsPerShard="4")
    reads = list(_read_all(reader, reader.initialOffset()))
    _put(kinesis, stream, 10)  # newer records must not leak into a replay
    fresh = _reader(local_aws, stream, maxRecordsPerShard="4")  # a restarted process
    for start, rows, end in reads:
        assert _tuples(fresh.readBetweenOffsets(start, end)) == rows


def test_reader_survives_injected_faults_and_they_really_happen(local_aws: LocalAws, kinesis: Any) -> None:
    stream = _stream(kinesis, 2)
    expected = _put(kinesis, stream, 30)
    plan = FaultPlan(throttle_every=3, expire_every=4, limit_every=5)
    reader = FaultyKinesisStreamReader(KinesisOptions.parse(_options(local_aws, stream, maxRecordsPerShard="4")), plan)
    reads = list(_read_all(reader, reader.initialOffset()))
    got = [(row[2], row[3]) for _, rows, _ in reads for row in rows]
    assert sorted(got) == sorted(expected) and len(got) == len(set(got))
    faults = reader.shards.client.faults
    assert faults["ProvisionedThroughputExceededException"] and faults["ExpiredIteratorException"]
    assert faults["LimitExceededException"]


def test_records_read_ahead_between_batches_are_read_once_in_order(local_aws: LocalAws, kinesis: Any) -> None:
    stream = _stream(kinesis, 1)
    first = _put(kinesis, stream, 40)
    reader = _reader(local_aws, stream, maxRecordsPerShard="5", prefetchIntervalMillis="20")
    start = reader.initialOffset()
    batches, start = reader.read(start)
    rows = _tuples(batches)
    deadline = time.monotonic() + 10
    while len(reader.shards.ahead.live[SHARD[0]].records) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(reader.shards.ahead.live[SHARD[0]].records) == 5  # the next batch, read ahead; no more
    later = _put(kinesis, stream, 10)
    rows += [row for _, batch_rows, _ in _read_all(reader, start) for row in batch_rows]
    expected = sorted([*first, *later], key=lambda key: int(key[1]))
    assert [(r[2], r[3]) for r in rows] == expected


class _SmallPages:
    """Kinesis may answer fewer records than asked for (its 10 MB page limit); moto never does."""

    def __init__(self, client: Any, size: int) -> None:
        self._client, self._size = client, size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_records(self, **kwargs: Any) -> Any:
        return self._client.get_records(**{**kwargs, "Limit": min(kwargs["Limit"], self._size)})


class _ExpiresOnce:
    """The next GetRecords finds its iterator expired, as after five idle minutes between batches."""

    def __init__(self, client: Any) -> None:
        self._client, self.expired = client, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_records(self, **kwargs: Any) -> Any:
        if not self.expired:
            self.expired = True
            raise ClientError({"Error": {"Code": "ExpiredIteratorException", "Message": "idle"}}, "GetRecords")
        return self._client.get_records(**kwargs)


def test_an_expired_iterator_resumes_right_after_the_last_record(local_aws: LocalAws, kinesis: Any) -> None:
    stream = _stream(kinesis, 1)
    first = _put(kinesis, stream, 20)
    raw = boto3.client("kinesis", endpoint_url=local_aws.url, region_name="us-east-1", **LOCAL_CREDENTIALS)
    faulty = FaultInjectingKinesis(_SmallPages(raw, 3), FaultPlan(expire_every=2))  # expiries within one read
    reader = ShardReader(KinesisOptions.parse(_options(local_aws, stream)), faulty)
    shard, horizon = ShardInfo(SHARD[0]), {"type": "TRIM_HORIZON"}
    batch = reader.read_shard(shard, horizon, None, limit=100)
    assert [r["SequenceNumber"] for r in batch.records] == sorted((seq for _, seq in first), key=int)
    assert faulty.faults["ExpiredIteratorException"] >= 3
    assert (batch.last_seq, batch.done) == (str(max(int(seq) for _, seq in first)), False)

    second = _put(kinesis, stream, 5)
    reader.client = _ExpiresOnce(raw)  # the iterator kept from the last batch has expired
    batch = reader.read_shard(shard, horizon, batch.last_seq, limit=100)
    assert [r["SequenceNumber"] for r in batch.records] == sorted((seq for _, seq in second), key=int)
    assert reader.client.expired


def test_throttling_retries_are_bounded(local_aws: LocalAws, kinesis: Any) -> None:
    stream = _stream(kinesis, 1)
    opts = KinesisOptions.parse(_options(local_aws, stream, maxRetries="4"))
    raw = boto3.client("kinesis", endpoint_url=local_aws.url, region_name="us-east-1", **LOCAL_CREDENTIALS)
    client = FaultInjectingKinesis(raw, FaultPlan(throttle_every=1))
    with pytest.raises(SourceError, match="after 4 retries"):
        ShardReader(opts, client).call("get_shard_iterator", StreamName=stream, ShardId=SHARD[0],
                                       ShardIteratorType="TRIM_HORIZON")
    assert client.calls["get_shard_iterator"] == 5


def test_a_checkpointed_shard_missing_from_the_stream_is_data_loss(
    local_aws: LocalAws, kinesis: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stream = _stream(kinesis, 1)
    expected = _put(kinesis, stream, 3)
    start = make_offset({"type": "TRIM_HORIZON"}, {"shardId-000000000099": {"seq": "5"}})
    with pytest.raises(KinesisDataLossError, match=f"stream '{stream}'.*'shardId-000000000099'.*sequence number 5"):
        _reader(local_aws, stream).read(start)
    batches, end = _reader(local_aws, stream, failOnDataLoss="false").read(start)
    rows = _tuples(batches)
    assert "shardId-000000000099" in caplog.text
    assert {(r[2], r[3]) for r in rows} == set(expected)
    assert "shardId-000000000099" not in end["shards"]


def test_an_empty_parent_finishes_and_its_children_are_read(
    local_aws: LocalAws, kinesis: Any, aws_resharding: None
) -> None:
    stream = _stream(kinesis, 1)
    kinesis.split_shard(StreamName=stream, ShardToSplit=SHARD[0], NewStartingHashKey=str(2**127))
    expected = _put(kinesis, stream, 6)
    reader = _reader(local_aws, stream)
    batches, end = reader.read(reader.initialOffset())
    assert {(r[2], r[3]) for r in _tuples(batches)} == set(expected)
    assert end["shards"][SHARD[0]] == {"done": True}


def test_at_timestamp_starts_at_the_first_record_arrived_since(local_aws: LocalAws, kinesis: Any) -> None:
    stream = _stream(kinesis, 2)
    _put(kinesis, stream, 5)
    time.sleep(0.05)
    since = time.time()
    time.sleep(0.05)
    later = _put(kinesis, stream, 5)
    reader = _reader(local_aws, stream, startingPosition="AT_TIMESTAMP",
                     startingTimestamp=datetime.fromtimestamp(since, UTC).isoformat())
    batches, _ = reader.read(reader.initialOffset())
    assert {(r[2], r[3]) for r in _tuples(batches)} == set(later)
