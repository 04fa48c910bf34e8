"""A Kinesis client wrapper that injects the faults real Kinesis produces and moto does not.

moto never throttles, never expires a shard iterator, never fails part of a PutRecords call, and
never trims old records. Tests (and a chaos run) wrap a boto3 client in `FaultInjectingKinesis` with
a `FaultPlan` to get those faults on a fixed, repeatable schedule. A plan can also be written as a
string for the stream source's `faults` option, e.g. ``"throttle_every=5,expire_every=7"``.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, fields
from typing import Any

from botocore.exceptions import ClientError


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


def parse_faults(spec: str) -> FaultPlan:
    """``"throttle_every=5,expire_every=7"`` -> FaultPlan(throttle_every=5, expire_every=7)."""
    known = {f.name: f.type for f in fields(FaultPlan)}
    values: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key, _, value = item.partition("=")
        if key not in known or key == "trim_before":
            raise ValueError(f"unknown fault '{key}' (known: {', '.join(k for k in known if k != 'trim_before')})")
        values[key] = float(value) if key == "partial_fail_fraction" else int(value)
    return FaultPlan(**values)


def _error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"injected {code}"}}, operation)


class FaultInjectingKinesis:
    """Wraps a boto3 Kinesis client; counts calls and injected faults in `calls` and `faults`."""

    def __init__(self, client: Any, plan: FaultPlan) -> None:
        self._client = client
        self.plan = plan
        self.calls: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self._rng = random.Random(plan.seed)
        self._expired: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _due(self, every: int, operation: str) -> bool:
        return every > 0 and self.calls[operation] % every == 0

    def _fail(self, code: str, operation: str) -> None:
        self.faults[code] += 1
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
        self.faults["partial_failure_entries"] += len(failing)
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
