"""The pure part of the Kinesis source: options, offsets, shard lineage, end-of-shard rules, back-off.

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

import dataclasses
import json
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lakehouse.errors import SourceError
from lakehouse.sources.kinesis_faults import FaultPlan, parse_faults

Offset = dict[str, Any]

FORMAT = "lakehouse-kinesis"
_POSITIONS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")


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


def backoff_seconds(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """'Full jitter' back-off: uniform in [0, min(cap, base * 2**attempt)], so many throttled
    readers spread out instead of retrying in lock-step (AWS Architecture Blog, 2015)."""
    return rng.uniform(0.0, min(cap, base * 2.0**attempt))


@dataclass(frozen=True)
class KinesisOptions:
    """The source's options, parsed and checked once."""

    stream_name: str
    region: str
    endpoint_url: str | None = None
    starting_position: str = "TRIM_HORIZON"
    starting_timestamp: str | None = None
    max_records_per_shard: int = 2000
    fail_on_data_loss: bool = True
    max_retries: int = 8
    retry_base_seconds: float = 0.1
    retry_max_seconds: float = 5.0
    faults: FaultPlan | None = None
    prefetch: bool = True
    prefetch_interval_seconds: float = 0.5
    prefetch_max_bytes: int = 64 * 2**20

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> KinesisOptions:
        """Options as Spark passes them (string values, keys in any case) -> KinesisOptions."""
        opts = {k.lower(): v for k, v in options.items() if v is not None}
        if not opts.get("streamname"):
            raise SourceError(f"the {FORMAT} source needs the option streamName (the Kinesis stream to read)")
        position = opts.get("startingposition", "TRIM_HORIZON").upper()
        if position not in _POSITIONS:
            raise SourceError(f"option startingPosition must be one of {', '.join(_POSITIONS)}, not '{position}'")
        if position == "AT_TIMESTAMP" and not opts.get("startingtimestamp"):
            raise SourceError("option startingPosition=AT_TIMESTAMP needs startingTimestamp (ISO-8601)")
        region = opts.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        return cls(
            stream_name=opts["streamname"],
            region=region or "us-east-1",
            endpoint_url=opts.get("endpointurl") or None,
            starting_position=position,
            starting_timestamp=opts.get("startingtimestamp"),
            max_records_per_shard=_int(opts, "maxRecordsPerShard", 2000, minimum=1),
            fail_on_data_loss=opts.get("failondataloss", "true").strip().lower() != "false",
            max_retries=_int(opts, "maxRetries", 8, minimum=0),
            retry_base_seconds=_int(opts, "retryBaseMillis", 100, minimum=0) / 1000,
            retry_max_seconds=_int(opts, "retryMaxMillis", 5000, minimum=0) / 1000,
            faults=_fault_plan(opts.get("faults"), opts.get("faultstrimbefore")),
            prefetch=opts.get("prefetch", "true").strip().lower() != "false",
            prefetch_interval_seconds=_int(opts, "prefetchIntervalMillis", 500, minimum=1) / 1000,
            prefetch_max_bytes=_int(opts, "prefetchMaxBytes", 64 * 2**20, minimum=0),
        )

    def start(self) -> dict[str, str]:
        """Where a new query starts. LATEST becomes AT_TIMESTAMP of now, so the offset is concrete
        and a restarted query (or a shard found later) does not jump to a later 'latest'."""
        if self.starting_position == "TRIM_HORIZON":
            return {"type": "TRIM_HORIZON"}
        moment = datetime.now(UTC)
        if self.starting_position == "AT_TIMESTAMP":
            try:
                moment = datetime.fromisoformat(str(self.starting_timestamp))
            except ValueError as err:
                raise SourceError(f"option startingTimestamp is not ISO-8601: '{self.starting_timestamp}'") from err
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # naive means UTC here
        return {"type": "AT_TIMESTAMP", "timestamp": moment.astimezone(UTC).isoformat()}


def _int(opts: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = opts.get(name.lower())
    try:
        value = default if raw is None else int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise SourceError(f"option {name} must be an integer >= {minimum}, not '{raw}'")
    return value


def _fault_plan(spec: str | None, trim_before: str | None) -> FaultPlan | None:
    if not spec and not trim_before:
        return None
    plan = parse_faults(spec or "")
    if trim_before:
        plan = dataclasses.replace(plan, trim_before={str(k): str(v) for k, v in json.loads(trim_before).items()})
    return plan
