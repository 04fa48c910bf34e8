"""A Kinesis client wrapper that injects the faults real Kinesis produces and moto does not, and the
stream source reading through it.

moto never throttles, never expires a shard iterator, never fails part of a PutRecords call, and
never trims old records. Tests wrap a boto3 client in `FaultInjectingKinesis` with a `FaultPlan` to
get those faults on a fixed, repeatable schedule. For a Spark query, `register_faulty` registers the
product's Kinesis data source under a test-only format name, its reader's client so wrapped.

Spark runs a Python data source in its Python worker processes, which cannot import `tests/`: this
module is shipped to them by value (cloudpickle), and the faults injected there are counted in a
journal file, one line per fault, for the test to read.
"""
from __future__ import annotations

import random
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from pyspark import cloudpickle
from pyspark.sql import SparkSession

from lakehouse.sources.kinesis.client import kinesis_client
from lakehouse.sources.kinesis.data_source import KinesisDataSource, KinesisStreamReader
from lakehouse.sources.kinesis.options import KinesisOptions
from lakehouse.sources.kinesis.shard_reader import ShardReader

FAULTY_FORMAT = "lakehouse-kinesis-faulty"


@dataclass(frozen=True)
class FaultPlan:
    """Every n-th call of a kind fails (0 = never)."""

    throttle_every: int = 0  # get_records / get_shard_iterator / put_records: ProvisionedThroughputExceeded
    limit_every: int = 0  # list_shards / get_shard_iterator: LimitExceededException
    expire_every: int = 0  # get_records: ExpiredIteratorException
    partial_fail_every: int = 0  # put_records: some entries fail with ProvisionedThroughputExceeded
    partial_fail_fraction: float = 0.3
    trim_before: dict[str, str] | None = None  # shard_id -> oldest retained sequence number
    seed: int = 0


def _error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"injected {code}"}}, operation)


class FaultInjectingKinesis:
    """Wraps a boto3 Kinesis client; counts calls and injected faults in `calls` and `faults`.

    Args:
        client: the boto3 Kinesis client to wrap.
        plan: which calls fail.
        journal: a file that gets one line per injected fault (its code), also from another process.
    """

    def __init__(self, client: Any, plan: FaultPlan, journal: Path | None = None) -> None:
        self._client = client
        self.plan = plan
        self.journal = journal
        self.calls: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self._rng = random.Random(plan.seed)
        self._expired: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _due(self, every: int, operation: str) -> bool:
        return every > 0 and self.calls[operation] % every == 0

    def _count(self, code: str, n: int = 1) -> None:
        self.faults[code] += n
        if self.journal is not None and n:
            with self.journal.open("a") as journal:  # one short append per fault: processes do not mix lines
                journal.write(f"{code}\n" * n)

    def _fail(self, code: str, operation: str) -> None:
        self._count(code)
        raise _error(code, operation)

    def list_shards(self, **kwargs: Any) -> Any:
        self.calls["list_shards"] += 1
        if self._due(self.plan.limit_every, "list_shards"):
            self._fail("LimitExceededException", "ListShards")
        return self._client.list_shards(**kwargs)

    def get_shard_iterator(self, **kwargs: Any) -> Any:
        self.calls["get_shard_iterator"] += 1
        if self._due(self.plan.throttle_every, "get_shard_iterator"):
            self._fail("ProvisionedThroughputExceededException", "GetShardIterator")
        if self._due(self.plan.limit_every, "get_shard_iterator"):
            self._fail("LimitExceededException", "GetShardIterator")
        trimmed = (self.plan.trim_before or {}).get(kwargs.get("ShardId", ""))
        if trimmed is not None and kwargs.get("ShardIteratorType") == "TRIM_HORIZON":
            # The records before `trimmed` are gone: TRIM_HORIZON starts at the oldest retained one.
            kwargs = {**kwargs, "ShardIteratorType": "AT_SEQUENCE_NUMBER", "StartingSequenceNumber": trimmed}
        answer = self._client.get_shard_iterator(**kwargs)
        # A fresh iterator is valid even when moto spells it like one expired earlier (its
        # iterators encode stream, shard and position), else a refresh could never succeed.
        self._expired.discard(answer["ShardIterator"])
        return answer

    def get_records(self, **kwargs: Any) -> Any:
        self.calls["get_records"] += 1
        iterator = kwargs.get("ShardIterator", "")
        if iterator in self._expired:
            self._fail("ExpiredIteratorException", "GetRecords")
        if self._due(self.plan.expire_every, "get_records"):
            self._expired.add(iterator)
            self._fail("ExpiredIteratorException", "GetRecords")
        if self._due(self.plan.throttle_every, "get_records"):
            self._fail("ProvisionedThroughputExceededException", "GetRecords")
        return self._client.get_records(**kwargs)

    def put_records(self, **kwargs: Any) -> Any:
        self.calls["put_records"] += 1
        if self._due(self.plan.throttle_every, "put_records"):
            self._fail("ProvisionedThroughputExceededException", "PutRecords")
        records = kwargs["Records"]
        if not self._due(self.plan.partial_fail_every, "put_records"):
            return self._client.put_records(**kwargs)
        failing = {i for i in range(len(records)) if self._rng.random() < self.plan.partial_fail_fraction}
        self._count("partial_failure_entries", len(failing))
        sent = [r for i, r in enumerate(records) if i not in failing]
        answer = self._client.put_records(**{**kwargs, "Records": sent}) if sent else {"Records": []}
        results = iter(answer["Records"])
        entries = [
            {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "injected"}
            if i in failing else next(results)
            for i in range(len(records))
        ]
        failed = sum(1 for e in entries if "ErrorCode" in e)
        return {**answer, "FailedRecordCount": failed, "Records": entries}


def journal_counts(journal: Path) -> Counter[str]:
    """The faults a journal holds, by code (none if it was never written)."""
    return Counter(journal.read_text().split()) if journal.exists() else Counter()


class FaultyKinesisStreamReader(KinesisStreamReader):
    """The product's stream reader, reading through a `FaultInjectingKinesis` (`shards.client`)."""

    def __init__(self, opts: KinesisOptions, plan: FaultPlan, journal: Path | None = None) -> None:
        super().__init__(opts)
        self.plan, self.journal = plan, journal

    def open_shards(self) -> ShardReader:
        return ShardReader(self.opts, FaultInjectingKinesis(kinesis_client(self.opts), self.plan, self.journal))


def faulty_source(plan: FaultPlan, journal: Path | None = None) -> type[KinesisDataSource]:
    """The product's data source under FAULTY_FORMAT, its reader injecting `plan`'s faults.

    Spark builds the data source from its class alone (and the query's options), in a worker: the
    plan travels in the class.
    """

    class FaultyKinesisDataSource(KinesisDataSource):
        @classmethod
        def name(cls) -> str:
            return FAULTY_FORMAT

        def simpleStreamReader(self, schema: Any) -> KinesisStreamReader:
            return FaultyKinesisStreamReader(KinesisOptions.parse(self.options), plan, journal)

    return FaultyKinesisDataSource


def register_faulty(spark: SparkSession, plan: FaultPlan, journal: Path | None = None) -> str:
    """Make ``format(FAULTY_FORMAT)`` read with `plan`'s faults in this session; returns the format.

    The product's ``lakehouse-kinesis`` stays as it is. Re-registering replaces the last plan.
    """
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    spark.dataSource.register(faulty_source(plan, journal))
    return FAULTY_FORMAT
