"""The Kinesis source's options: parsed from Spark's strings and checked once, at load().

Nothing here talks to Kinesis, so it is tested without a stream or a SparkSession.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from lakehouse.errors import SourceError

FORMAT = "lakehouse-kinesis"
_POSITIONS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")


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
