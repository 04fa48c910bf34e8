"""The stand-in for the web and mobile APIs: synthetic enrollment events put on a Kinesis stream.

`produce` paces `PutRecords` calls to a target rate with an injected clock and sleep (tests never
wait in real time). Kinesis may accept only part of a call: the failed entries, and only those, are
sent again in their original order, with bounded exponential backoff and jitter; a throttled call is
retried whole. No record is sent twice by the producer itself: the only duplicates on the stream are
the ones `synthetic_records` plants on purpose.
"""
from __future__ import annotations

import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from botocore.exceptions import ClientError

from lakehouse.datagen.feed import BAD_KINDS, SyntheticRecord, event_time_span, synthetic_records
from lakehouse.datagen.world import World
from lakehouse.errors import LakehouseError, SourceError

log = logging.getLogger(__name__)

MAX_RECORDS_PER_CALL = 500  # Kinesis PutRecords limits
MAX_BYTES_PER_CALL = 5 * 1024 * 1024  # data and partition keys of the whole call
MAX_BYTES_PER_RECORD = 1024 * 1024  # data and partition key of one record
TICK_SECONDS = 0.1  # at most one call per tick unless a batch fills up: a steady flow, not bursts
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 2.0
RETRYABLE = frozenset({"ProvisionedThroughputExceededException", "LimitExceededException", "ThrottlingException",
                       "KMSThrottlingException", "InternalFailure", "ServiceUnavailable"})


class ProduceError(LakehouseError):
    """Records could not be delivered; `summary` tells what was delivered before the failure."""

    def __init__(self, message: str, summary: ProduceSummary) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass
class ProduceSummary:
    """What one `produce` call delivered.

    Attributes:
        records_sent: records Kinesis accepted, each counted once however many attempts it took.
        records_attempted: records handed to PutRecords at least once.
        retries: PutRecords calls repeated after a partial failure or a throttled call.
        failed_entries_retried: entries sent again after a partial failure (an entry failing twice
            counts twice).
        duplicates_sent, bad_records_sent: accepted records planted as duplicates or as bad records.
        seconds: wall time of the run (by the injected clock); rate_achieved = records_sent / seconds.
        sequence_numbers: (shard_id, sequence_number) of every accepted record, in acceptance order.
    """

    stream: str
    rate_target: float
    records_sent: int = 0
    records_attempted: int = 0
    retries: int = 0
    failed_entries_retried: int = 0
    duplicates_sent: int = 0
    bad_records_sent: int = 0
    seconds: float = 0.0
    rate_achieved: float = 0.0
    sequence_numbers: list[tuple[str, str]] = field(default_factory=list)

    def describe(self) -> str:
        """A few lines for the command line."""
        shards = Counter(shard for shard, _ in self.sequence_numbers)
        per_shard = ", ".join(f"{shard} {count:,}" for shard, count in sorted(shards.items()))
        return "\n".join([
            f"stream {self.stream}: {self.records_sent:,} records sent ({self.records_attempted:,} attempted) "
            f"in {self.seconds:.1f} s: {self.rate_achieved:,.0f} records/s (target {self.rate_target:,.0f})",
            f"planted: {self.duplicates_sent:,} duplicates, {self.bad_records_sent:,} bad records",
            f"retries: {self.retries:,} ({self.failed_entries_retried:,} failed entries sent again)",
            f"shards: {per_shard or 'none'}",
        ])


def ensure_stream(client: Any, name: str, shards: int, *, kms_key: str | None = None, timeout: float = 60.0,
                  clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
    """Create the stream with `shards` shards unless it exists, wait until it is ACTIVE, and, with
    `kms_key`, make sure its records are encrypted at rest with that key.

    CreateStream takes no encryption: a new stream is encrypted by StartStreamEncryption once it
    is ACTIVE (records put before that are not, so the producer puts none until then). A stream
    that is not encrypted, or under another key, is switched to `kms_key` (only records put from
    then on are encrypted with it). A stream that exists with another number of open shards is used
    as it is (with a warning): resharding is an operator's decision, not a producer's.

    Args:
        kms_key: A KMS key ARN or alias (`alias/aws/kinesis` is Kinesis' AWS-managed key).

    Raises:
        SourceError: the stream is being deleted, or is not ACTIVE within `timeout` seconds.
    """
    if shards < 1:
        raise ValueError(f"a stream needs at least one shard; got {shards}")
    if _summary(client, name) is None:
        try:
            client.create_stream(StreamName=name, ShardCount=shards)
            log.info("created stream %s with %d shards", name, shards)
        except ClientError as err:
            if _code(err) != "ResourceInUseException":  # else another producer created it just now
                raise
    summary = _until_active(client, name, clock() + timeout, timeout, sleep, clock)
    if kms_key and (summary.get("EncryptionType") != "KMS" or summary.get("KeyId") != kms_key):
        client.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId=kms_key)
        log.info("stream %s: records encrypted with KMS key %s from now on", name, kms_key)
        summary = _until_active(client, name, clock() + timeout, timeout, sleep, clock)  # UPDATING meanwhile
    open_shards = summary.get("OpenShardCount")
    if open_shards is not None and open_shards != shards:
        log.warning("stream %s exists with %d open shards, not %d; using it as it is", name, open_shards, shards)


def _until_active(client: Any, name: str, deadline: float, timeout: float, sleep: Callable[[float], None],
                  clock: Callable[[], float]) -> dict[str, Any]:
    while (summary := _summary(client, name)) is None or summary["StreamStatus"] != "ACTIVE":
        status = "missing" if summary is None else summary["StreamStatus"]
        if status == "DELETING":
            raise SourceError(f"stream '{name}' is being deleted; create it again once it is gone")
        if clock() > deadline:
            raise SourceError(f"stream '{name}' is still {status} after {timeout:.0f} s")
        sleep(0.2)
    return summary


def produce(client: Any, stream: str, rate: float, seconds: float, seed: int = 7, batch_size: int = 500,
            max_retries: int = 8, clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep, *, events: int | None = None,
            start: datetime | None = None, world: World | None = None,
            records: Iterable[SyntheticRecord] | None = None) -> ProduceSummary:
    """Put about `rate` records per second on `stream` for `seconds` seconds, or exactly `events` records.

    Records go out in calls of at most `batch_size` records (and 5 MiB), one call per 0.1 s tick
    or per full batch, keyed by enrollment ID so an enrollment stays in order on one shard. When
    the producer falls behind its schedule it sends as fast as it can and, in timed runs, stops at
    `seconds`; a run never ends before its schedule does.

    Args:
        client: a boto3 Kinesis client (or a wrapper such as `FaultInjectingKinesis`).
        events: send exactly this many records (planted duplicates and bad records included), as
            fast as `rate` allows; `seconds` is then ignored.
        start: the event time the feed starts at; by default far enough before now that the last
            event is not in the future.
        world: offices and operators for the events (see `synthetic_records`).
        records: send these instead of `synthetic_records(seed, start, world=world)`.

    Raises:
        ProduceError: records still failing after `max_retries` retries, or a call Kinesis refused
            outright (a missing stream, a bad request); the message says how many were not
            delivered and `error.summary` what was.
        ValueError: bad arguments, or a record over Kinesis' 1 MiB limit.
    """
    _check_arguments(rate, seconds, batch_size, max_retries, events)
    planned = events if events is not None else round(rate * seconds)
    if records is None:
        first = start or datetime.now(UTC) - event_time_span(planned)
        records = synthetic_records(seed, first, world=world)
    summary = ProduceSummary(stream=stream, rate_target=rate)
    sender = _Sender(client, stream, max_retries, sleep, random.Random(seed), summary, planned)
    per_tick = min(batch_size, max(1, math.ceil(rate * TICK_SECONDS)))
    began = clock()
    scheduled = 0
    for chunk in _chunks(islice(records, planned), per_tick):
        elapsed = clock() - began
        if events is None and elapsed >= seconds:
            break  # behind schedule and out of time
        if scheduled / rate > elapsed:
            sleep(scheduled / rate - elapsed)
        for call in _calls(chunk):
            sender.put(call)
        scheduled += len(chunk)
    rest = scheduled / rate - (clock() - began)
    if rest > 0:
        sleep(rest)  # the last call left early in its tick: the run still lasts as long as its schedule
    summary.seconds = clock() - began
    summary.rate_achieved = summary.records_sent / summary.seconds if summary.seconds > 0 else 0.0
    return summary


class _Sender:
    """PutRecords with retries of only the failed entries; keeps the summary's counts."""

    def __init__(self, client: Any, stream: str, max_retries: int, sleep: Callable[[float], None],
                 jitter: random.Random, summary: ProduceSummary, planned: int) -> None:
        self.client, self.stream, self.max_retries, self.sleep = client, stream, max_retries, sleep
        self.jitter, self.summary, self.planned = jitter, summary, planned

    def put(self, batch: list[SyntheticRecord]) -> None:
        self.summary.records_attempted += len(batch)
        pending = batch
        last_error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.summary.retries += 1
                self.sleep(self._backoff(attempt))
            try:
                answer = self.client.put_records(
                    StreamName=self.stream,
                    Records=[{"Data": r.data, "PartitionKey": r.partition_key} for r in pending])
            except ClientError as err:
                if _code(err) == "ResourceNotFoundException":
                    raise self._error(len(pending), "the stream does not exist (ensure_stream creates it)") from err
                if _code(err) not in RETRYABLE:
                    raise self._error(len(pending), f"PutRecords failed: {_code(err)}: {_message(err)}") from err
                last_error = _code(err)
                log.debug("PutRecords on %s throttled (%s); retrying %d records", self.stream, last_error, len(pending))
                continue
            failed = []
            for record, entry in zip(pending, answer["Records"], strict=True):
                if entry.get("ErrorCode"):
                    failed.append(record)
                    last_error = entry["ErrorCode"]
                else:
                    self._accepted(record, entry)
            if not failed:
                return
            if attempt < self.max_retries:
                self.summary.failed_entries_retried += len(failed)
            log.debug("PutRecords on %s: %d of %d entries failed", self.stream, len(failed), len(pending))
            pending = failed
        raise self._error(len(pending), f"PutRecords still failing after {self.max_retries} retries ({last_error})")

    def _accepted(self, record: SyntheticRecord, entry: dict[str, Any]) -> None:
        summary = self.summary
        summary.records_sent += 1
        summary.sequence_numbers.append((entry["ShardId"], entry["SequenceNumber"]))
        summary.duplicates_sent += record.kind == "duplicate"
        summary.bad_records_sent += record.kind in BAD_KINDS

    def _backoff(self, attempt: int) -> float:
        """Exponential, capped, with 'equal jitter': between half and all of the step."""
        step = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
        return step / 2 + self.jitter.uniform(0, step / 2)

    def _error(self, failing: int, reason: str) -> ProduceError:
        summary = self.summary
        never = self.planned - summary.records_attempted
        return ProduceError(
            f"{failing + never:,} records were not delivered to stream '{self.stream}': {reason}; "
            f"{failing:,} in the failing call, {never:,} never attempted; {summary.records_sent:,} delivered",
            summary)


def _chunks(records: Iterable[SyntheticRecord], size: int) -> Iterator[list[SyntheticRecord]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _calls(records: list[SyntheticRecord]) -> Iterator[list[SyntheticRecord]]:
    """Split `records` (at most 500) into PutRecords calls of at most 5 MiB."""
    call: list[SyntheticRecord] = []
    size = 0
    for record in records:
        key = len(record.partition_key.encode("utf-8"))
        if not 1 <= len(record.partition_key) <= 256:
            raise ValueError(f"a partition key must have 1 to 256 characters; got {len(record.partition_key)}")
        if key + len(record.data) > MAX_BYTES_PER_RECORD:
            raise ValueError(f"a record of {key + len(record.data):,} bytes (data and partition key) is over "
                             f"Kinesis' limit of {MAX_BYTES_PER_RECORD:,}")
        if call and size + key + len(record.data) > MAX_BYTES_PER_CALL:
            yield call
            call, size = [], 0
        call.append(record)
        size += key + len(record.data)
    if call:
        yield call


def _check_arguments(rate: float, seconds: float, batch_size: int, max_retries: int, events: int | None) -> None:
    if rate <= 0:
        raise ValueError(f"rate must be positive; got {rate}")
    if events is None and seconds < 0:
        raise ValueError(f"seconds must not be negative; got {seconds}")
    if events is not None and events < 0:
        raise ValueError(f"events must not be negative; got {events}")
    if not 1 <= batch_size <= MAX_RECORDS_PER_CALL:
        raise ValueError(f"batch_size must be 1 to {MAX_RECORDS_PER_CALL}; got {batch_size}")
    if max_retries < 0:
        raise ValueError(f"max_retries must not be negative; got {max_retries}")


def _summary(client: Any, name: str) -> dict[str, Any] | None:
    try:
        return client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]  # type: ignore[no-any-return]
    except ClientError as err:
        if _code(err) == "ResourceNotFoundException":
            return None
        raise


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _message(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Message", ""))
