"""The producer against the moto server's Kinesis API on loopback.

What a test expects comes from its own reading of the stream (boto3 `get_records` over every shard)
and from its own parsing of the payloads, never from the producer's summary alone. Faults come from
`faults.kinesis` (tests/faults: tests/ is on sys.path through its conftest).
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import pytest
from faults.kinesis import FaultInjectingKinesis, FaultPlan

from lakehouse.aws import clients
from lakehouse.datagen.feed import SyntheticRecord, synthetic_events, synthetic_records
from lakehouse.datagen.producer import BACKOFF_CAP_SECONDS, ProduceError, ensure_stream, produce
from lakehouse.local.aws import LocalAws

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
CONTRACT_FIELDS = {"event_id", "event_type", "event_time", "schema_version", "enrollment_id", "national_id",
                   "full_name", "birth_date", "office_id", "channel", "operator_id", "validation"}
EVENT_TYPES = {"enrollment_started", "enrollment_completed", "enrollment_cancelled", "biometric_validation"}
VALIDATION_FIELDS = {"validation_id", "modality", "result", "score", "started_at", "finished_at"}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class FakeClock:
    """A clock that moves only when the code under test sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


class Recording:
    """Wraps a Kinesis client; keeps every PutRecords request and answer (and when it was made)."""

    def __init__(self, client: Any, clock: FakeClock | None = None, seconds_per_call: float = 0.0) -> None:
        self._client, self._clock, self._cost = client, clock, seconds_per_call
        self.calls: list[tuple[float, list[dict[str, Any]], dict[str, Any] | None]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_records(self, **kwargs: Any) -> Any:
        at = self._clock.now if self._clock else 0.0
        try:
            answer = self._client.put_records(**kwargs)
        except Exception:
            self.calls.append((at, kwargs["Records"], None))
            raise
        finally:
            if self._clock:
                self._clock.now += self._cost
        self.calls.append((at, kwargs["Records"], answer))
        return answer


@pytest.fixture
def kinesis(local_aws: LocalAws) -> Any:
    return clients.client("kinesis", "us-east-1", local_aws.url)


@pytest.fixture
def stream(kinesis: Any) -> str:
    name = f"producer-{uuid.uuid4().hex[:10]}"
    ensure_stream(kinesis, name, 3)
    return name


def read_stream(client: Any, name: str) -> list[dict[str, Any]]:
    """Every record on every shard, read from TRIM_HORIZON, in sequence order per shard."""
    shards, token = [], None
    while True:
        page = client.list_shards(NextToken=token) if token else client.list_shards(StreamName=name)
        shards += [s["ShardId"] for s in page["Shards"]]
        token = page.get("NextToken")
        if not token:
            break
    out = []
    for shard in shards:
        iterator = client.get_shard_iterator(StreamName=name, ShardId=shard,
                                             ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = client.get_records(ShardIterator=iterator, Limit=10_000)
            out += [{"shard": shard, "seq": r["SequenceNumber"], "data": r["Data"], "key": r["PartitionKey"]}
                    for r in page["Records"]]
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return out


def parsed(data: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def is_bad(data: bytes) -> bool:
    """The test's own reading of a bad record: not a JSON object, bad national ID, unknown type."""
    event = parsed(data)
    return (event is None or event["event_type"] not in EVENT_TYPES
            or not re.fullmatch(r"\d{8}", event["national_id"]))


def expected_records(seed: int, count: int) -> list[SyntheticRecord]:
    return list(islice(synthetic_records(seed, START), count))


def test_the_stream_holds_exactly_the_records_produced(kinesis: Any, stream: str) -> None:
    clock = FakeClock()
    summary = produce(kinesis, stream, rate=5_000, seconds=0, seed=3, clock=clock, sleep=clock.sleep,
                      events=900, start=START)

    read = read_stream(kinesis, stream)
    assert len(read) == 900
    assert {(r["shard"], r["seq"]) for r in read} == set(summary.sequence_numbers)
    assert len(summary.sequence_numbers) == 900 and summary.records_sent == 900 == summary.records_attempted
    assert len({r["shard"] for r in read}) == 3  # the enrollments spread over every shard
    expected = expected_records(3, 900)
    assert Counter(r["data"] for r in read) == Counter(r.data for r in expected)
    # The planted cases, counted by the test's own reading of the payloads.
    repeats = sum(n - 1 for n in Counter(r["data"] for r in read).values())
    assert repeats > 0 and summary.duplicates_sent == repeats
    bad = sum(is_bad(r["data"]) for r in read)
    assert bad > 0 and summary.bad_records_sent == bad
    assert summary.retries == 0 and summary.failed_entries_retried == 0


def test_an_enrollment_stays_in_order_on_one_shard(kinesis: Any, stream: str) -> None:
    produce(kinesis, stream, rate=5_000, seconds=0, seed=5, events=700, start=START,
            clock=FakeClock(), sleep=lambda _: None)

    read = read_stream(kinesis, stream)
    shards_of_key: dict[str, set[str]] = defaultdict(set)
    on_stream: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
    for r in read:
        shards_of_key[r["key"]].add(r["shard"])
        on_stream[r["key"]].append((int(r["seq"]), r["data"]))
    assert all(len(shards) == 1 for shards in shards_of_key.values())
    sent: dict[str, list[bytes]] = defaultdict(list)
    for record in expected_records(5, 700):
        sent[record.partition_key].append(record.data)
    assert {key: [data for _, data in sorted(pairs)] for key, pairs in on_stream.items()} == sent


def test_partial_failures_retry_only_the_failed_entries(kinesis: Any, stream: str) -> None:
    faulty = FaultInjectingKinesis(kinesis, FaultPlan(partial_fail_every=2, seed=4))
    recorder = Recording(faulty)
    clock = FakeClock()
    summary = produce(recorder, stream, rate=5_000, seconds=0, seed=9, clock=clock, sleep=clock.sleep,
                      events=1_500, start=START)

    read = read_stream(kinesis, stream)
    assert len(read) == 1_500
    # No record twice beyond the planted duplicates: the payloads read are exactly the payloads made.
    assert Counter(r["data"] for r in read) == Counter(r.data for r in expected_records(9, 1_500))
    assert {(r["shard"], r["seq"]) for r in read} == set(summary.sequence_numbers)
    injected = faulty.faults["partial_failure_entries"]
    assert injected > 0 and summary.failed_entries_retried == injected
    # Each call after a partial failure sends exactly the failed entries, in their original order.
    retried_calls = 0
    for (_, sent, answer), (_, sent_next, _) in zip(recorder.calls, recorder.calls[1:], strict=False):
        assert answer is not None
        failed = [entry for entry, result in zip(sent, answer["Records"], strict=True) if "ErrorCode" in result]
        if failed:
            assert sent_next == failed
            retried_calls += 1
    assert retried_calls == summary.retries > 0
    assert len(clock.sleeps) >= summary.retries  # every retry waited first


def test_a_stream_that_always_throttles_ends_in_a_clear_error(kinesis: Any, stream: str) -> None:
    faulty = FaultInjectingKinesis(kinesis, FaultPlan(throttle_every=1))
    clock = FakeClock()
    with pytest.raises(ProduceError, match=r"1,200 records were not delivered .*after 3 retries") as caught:
        produce(faulty, stream, rate=5_000, seconds=0, max_retries=3, clock=clock, sleep=clock.sleep,
                events=1_200, start=START)

    assert "500 in the failing call, 700 never attempted" in str(caught.value)
    assert faulty.calls["put_records"] == 4  # the first try and three retries, then it gives up
    assert len(clock.sleeps) == 3 and all(0 < s <= BACKOFF_CAP_SECONDS for s in clock.sleeps)
    assert caught.value.summary.records_sent == 0
    assert read_stream(kinesis, stream) == []


def test_entries_that_always_fail_end_in_a_clear_error(kinesis: Any, stream: str) -> None:
    faulty = FaultInjectingKinesis(kinesis, FaultPlan(partial_fail_every=1, partial_fail_fraction=1.0))
    clock = FakeClock()
    with pytest.raises(ProduceError, match=r"40 records were not delivered .*after 2 retries"):
        produce(faulty, stream, rate=1_000, seconds=0, max_retries=2, clock=clock, sleep=clock.sleep,
                events=40, start=START)
    assert faulty.calls["put_records"] == 3
    assert read_stream(kinesis, stream) == []


def test_backoff_grows_and_stays_bounded(kinesis: Any, stream: str) -> None:
    faulty = FaultInjectingKinesis(kinesis, FaultPlan(throttle_every=1))
    clock = FakeClock()
    with pytest.raises(ProduceError):
        produce(faulty, stream, rate=1_000, seconds=0, max_retries=10, clock=clock, sleep=clock.sleep,
                events=5, start=START)
    steps = [0.05 * 2 ** n for n in range(10)]
    for slept, step in zip(clock.sleeps, steps, strict=True):
        bound = min(step, BACKOFF_CAP_SECONDS)
        assert bound / 2 <= slept <= bound
    assert sum(clock.sleeps) < 15


def test_pacing_follows_the_rate_on_a_fake_clock(kinesis: Any, stream: str) -> None:
    clock = FakeClock()
    recorder = Recording(kinesis, clock)
    summary = produce(recorder, stream, rate=1_000, seconds=3, clock=clock, sleep=clock.sleep, start=START)

    assert summary.records_attempted == 3_000 == summary.records_sent
    assert len(read_stream(kinesis, stream)) == 3_000
    assert clock.now == pytest.approx(3.0) and sum(clock.sleeps) == pytest.approx(3.0)
    assert summary.seconds == pytest.approx(3.0) and summary.rate_achieved == pytest.approx(1_000)
    # Never ahead of the schedule, never more than a tick behind it, and a call every 0.1 s.
    before = 0
    for at, records, _ in recorder.calls:
        assert before <= 1_000 * at + 1e-6
        assert before + len(records) <= 1_000 * (at + 0.1) + 1e-6
        before += len(records)
    assert len(recorder.calls) == 30 and max(clock.sleeps) <= 0.1 + 1e-9


def test_a_producer_behind_schedule_stops_at_the_end_of_its_time(kinesis: Any, stream: str) -> None:
    clock = FakeClock()
    slow = Recording(kinesis, clock, seconds_per_call=0.5)  # each call takes half a second
    summary = produce(slow, stream, rate=1_000, seconds=3, clock=clock, sleep=clock.sleep, start=START)

    assert len(slow.calls) == 6  # calls start at 0.0, 0.5, ... 2.5 s; at 3.0 s the time is up
    assert summary.records_sent == 600 == len(read_stream(kinesis, stream))
    assert summary.rate_achieved == pytest.approx(200)


def test_calls_stay_under_five_mib(kinesis: Any, stream: str) -> None:
    key = str(uuid.uuid4())
    big = [SyntheticRecord(bytes([65 + n]) * (1024 * 1024 - len(key)), key, "event") for n in range(12)]
    recorder = Recording(kinesis)
    summary = produce(recorder, stream, rate=5_000, seconds=0, events=12, records=big,
                      clock=FakeClock(), sleep=lambda _: None)

    sizes = [sum(len(r["Data"]) + len(r["PartitionKey"]) for r in records) for _, records, _ in recorder.calls]
    assert len(sizes) == 3 and max(sizes) <= 5 * 1024 * 1024
    assert [r["data"] for r in read_stream(kinesis, stream)] == [r.data for r in big]
    assert summary.records_sent == 12


def test_a_record_over_one_mib_is_refused_before_sending(kinesis: Any, stream: str) -> None:
    too_big = SyntheticRecord(b"x" * (1024 * 1024), "key", "event")
    with pytest.raises(ValueError, match="over Kinesis' limit"):
        produce(kinesis, stream, rate=10, seconds=0, events=1, records=[too_big],
                clock=FakeClock(), sleep=lambda _: None)
    assert read_stream(kinesis, stream) == []


def test_a_missing_stream_is_a_clear_error(kinesis: Any) -> None:
    with pytest.raises(ProduceError, match="10 records were not delivered .*does not exist"):
        produce(kinesis, f"missing-{uuid.uuid4().hex[:8]}", rate=100, seconds=0, events=10,
                clock=FakeClock(), sleep=lambda _: None)


def test_by_default_no_event_lies_in_the_future(kinesis: Any, stream: str) -> None:
    before = datetime.now(UTC)
    produce(kinesis, stream, rate=10_000, seconds=0, events=3_000, clock=FakeClock(), sleep=lambda _: None)
    after = datetime.now(UTC)

    times = [datetime.fromisoformat(e["event_time"]) for r in read_stream(kinesis, stream)
             if (e := parsed(r["data"])) is not None]
    assert max(times) <= after
    assert min(times) >= before - timedelta(days=1)  # late events included: still recent


def test_ensure_stream_creates_once_and_keeps_an_existing_stream(kinesis: Any,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    name = f"ensure-{uuid.uuid4().hex[:10]}"
    ensure_stream(kinesis, name, 2)
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["StreamStatus"] == "ACTIVE" and summary["OpenShardCount"] == 2

    with caplog.at_level(logging.WARNING, logger="lakehouse.datagen.producer"):
        ensure_stream(kinesis, name, 5)
    assert "2 open shards, not 5" in caplog.text
    assert len(kinesis.list_shards(StreamName=name)["Shards"]) == 2


def test_ensure_stream_encrypts_a_new_stream_with_the_key(kinesis: Any, lake_kms_key: str) -> None:
    name = f"encrypted-{uuid.uuid4().hex[:10]}"
    ensure_stream(kinesis, name, 1, kms_key=lake_kms_key)
    description = kinesis.describe_stream(StreamName=name)["StreamDescription"]
    assert (description["EncryptionType"], description["KeyId"]) == ("KMS", lake_kms_key)
    assert description["StreamStatus"] == "ACTIVE"


def test_ensure_stream_encrypts_an_existing_plain_stream_and_moves_one_to_the_configured_key(
        kinesis: Any, lake_kms_key: str) -> None:
    name = f"plain-{uuid.uuid4().hex[:10]}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    assert kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["EncryptionType"] == "NONE"
    ensure_stream(kinesis, name, 1, kms_key="alias/aws/kinesis")
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert (summary["EncryptionType"], summary["KeyId"]) == ("KMS", "alias/aws/kinesis")
    ensure_stream(kinesis, name, 1, kms_key=lake_kms_key)
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert (summary["EncryptionType"], summary["KeyId"]) == ("KMS", lake_kms_key)


@pytest.mark.parametrize("lake_key", [True, False], ids=["the lake's key", "no lake key"])
def test_produce_creates_the_stream_encrypted(local_aws: LocalAws, kinesis: Any, lake_kms_key: str,
                                              lake_key: bool) -> None:
    """`lakehouse produce`: the lake's key when config names one, else Kinesis' AWS-managed key."""
    from lakehouse.cli import main

    name = f"produced-{uuid.uuid4().hex[:10]}"
    settings = ["--set", f"aws.endpoint_url={local_aws.url}", "--set", f"stream.name={name}",
                "--set", "stream.shards=1"]
    if lake_key:
        settings += ["--set", f"storage.kms_key={lake_kms_key}"]
    assert main([*settings, "produce", "--events", "3"]) == 0
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert (summary["EncryptionType"], summary["KeyId"]) == ("KMS", lake_kms_key if lake_key else "alias/aws/kinesis")
    assert len(read_stream(kinesis, name)) == 3


def test_the_local_stand_in_streams_under_its_own_key(local_aws: LocalAws) -> None:
    """No lake key locally (a folder root): the stream still rests under KMS, the stand-in's key."""
    from lakehouse.app import stream_kms_key
    from lakehouse.config import load_config

    config = load_config("local")
    assert (config.aws.endpoint_url, config.storage.kms_key) == ("local", None)
    key = stream_kms_key(config, local_aws.url)
    kms = clients.client("kms", "us-east-1", local_aws.url)
    alias = next(a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == "alias/lakehouse-local")
    assert key == kms.describe_key(KeyId=alias["TargetKeyId"])["KeyMetadata"]["Arn"]


def test_synthetic_events_follow_the_contract() -> None:
    records = list(islice(synthetic_records(11, START), 6_000))
    own_kinds: Counter[str] = Counter()
    seen: set[bytes] = set()
    latest = START
    for record in records:
        event = parsed(record.data)
        if event is None:
            own_kinds["malformed"] += 1
            assert record.kind == "malformed" and record.event is None
            continue
        assert record.event == event
        assert set(event) == CONTRACT_FIELDS
        assert UUID.match(event["event_id"]) and UUID.match(event["enrollment_id"])
        assert event["schema_version"] == 1 and event["channel"] in {"web", "mobile", "office"}
        assert (event["operator_id"] is None) == (event["channel"] != "office")
        assert re.fullmatch(r"OF-\d{4}", event["office_id"])
        moment = datetime.fromisoformat(event["event_time"])
        assert START <= moment <= START + timedelta(hours=4)
        if event["event_type"] not in EVENT_TYPES:
            own_kinds["unknown_event_type"] += 1
            assert record.kind == "unknown_event_type" and event["event_type"] == "enrollment_paused"
        elif not re.fullmatch(r"\d{8}", event["national_id"]):
            own_kinds["invalid_national_id"] += 1
            assert record.kind == "invalid_national_id" and event["event_type"] == "enrollment_started"
        elif record.data in seen:
            own_kinds["duplicate"] += 1
            assert record.kind == "duplicate"
        elif moment < latest:
            own_kinds["late"] += 1
            assert record.kind == "late"
        else:
            assert record.kind == "event"
        if record.kind != "duplicate":
            assert record.partition_key == event["enrollment_id"]
        latest = max(latest, moment)
        seen.add(record.data)
        validation = event["validation"]
        if event["event_type"] != "biometric_validation":
            assert validation is None
            continue
        assert set(validation) == VALIDATION_FIELDS
        assert validation["modality"] in {"fingerprint", "face", "iris"}
        assert validation["result"] in {"match", "no_match", "error"}
        assert (validation["score"] is None) == (validation["result"] == "error")
        assert validation["score"] is None or 0 <= validation["score"] <= 1
        assert validation["started_at"] <= validation["finished_at"]
    # The kinds the test found on its own are the kinds the feed says it planted; all are there.
    assert own_kinds == Counter(r.kind for r in records if r.kind != "event")
    assert set(own_kinds) == {"malformed", "unknown_event_type", "invalid_national_id", "duplicate", "late"}
    assert sum(own_kinds.values()) < 0.06 * len(records)  # a small share
    assert sum(own_kinds[k] for k in ("duplicate", "late")) > sum(own_kinds.values()) / 2


def test_synthetic_enrollments_have_the_contract_lifecycle() -> None:
    by_enrollment: dict[str, list[dict[str, Any]]] = defaultdict(list)
    first_seen: dict[str, int] = {}
    for position, record in enumerate(islice(synthetic_records(12, START), 25_000)):
        if record.kind in {"event", "late"} and record.event is not None:
            first_seen.setdefault(record.event["enrollment_id"], position)
            by_enrollment[record.event["enrollment_id"]].append(record.event)
    # A late event is held back: an enrollment seen only near the end may have events past the window.
    by_enrollment = {k: v for k, v in by_enrollment.items() if first_seen[k] < 20_000}
    last = max(datetime.fromisoformat(e["event_time"]) for events in by_enrollment.values() for e in events)
    old, ended = 0, 0
    for events in by_enrollment.values():
        events.sort(key=lambda e: datetime.fromisoformat(e["event_time"]))
        types = [e["event_type"] for e in events]
        assert types.count("enrollment_started") == 1 and types[0] == "enrollment_started"
        assert types.count("biometric_validation") <= 3
        terminal = [t for t in types if t in {"enrollment_completed", "enrollment_cancelled"}]
        assert len(terminal) <= 1 and (not terminal or types[-1] == terminal[0])
        assert "enrollment_completed" not in types or events[-2]["validation"]["result"] == "match"
        assert len({(e["national_id"], e["office_id"], e["channel"], e["operator_id"]) for e in events}) == 1
        # An enrollment lasts well under 45 minutes: one that began earlier is over, bar the abandoned few.
        if datetime.fromisoformat(events[0]["event_time"]) < last - timedelta(minutes=45):
            old += 1
            ended += bool(terminal)
    assert old > 1_000 and ended > 0.85 * old


def test_synthetic_feeds_are_deterministic() -> None:
    first = [r.data for r in islice(synthetic_records(21, START), 300)]
    assert first == [r.data for r in islice(synthetic_records(21, START), 300)]
    assert first != [r.data for r in islice(synthetic_records(22, START), 300)]
    events = list(islice(synthetic_events(21, START), 100))
    assert events == [e for e in (parsed(d) for d in first) if e is not None][:100]


def test_the_summary_describes_the_run(kinesis: Any, stream: str) -> None:
    summary = produce(kinesis, stream, rate=2_000, seconds=0, events=200, start=START,
                      clock=FakeClock(), sleep=lambda _: None)
    text = summary.describe()
    assert f"stream {stream}: 200 records sent (200 attempted)" in text
    assert f"{summary.duplicates_sent:,} duplicates" in text and "shards: shardId-" in text
