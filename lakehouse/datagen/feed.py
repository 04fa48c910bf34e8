"""An endless, seeded feed of enrollment events as the web and mobile APIs would send them.

The enrollments themselves come from the batch generator (`lakehouse.datagen.events.enrollment`):
they start as a Poisson process from `start`, and their events are sent in event-time order, the way
a live API emits them. On top of that a small share of records is planted on purpose:

- ``duplicate``: an event already sent goes out again later (same bytes, same ``event_id``), half
  the time under another partition key, so it may land on another shard;
- ``late``: an event held back and sent well after the events that followed it;
- ``malformed``: not JSON (a cut event, or garbage from a broken client);
- ``invalid_national_id``: an ``enrollment_started`` whose national ID is not 8 digits;
- ``unknown_event_type``: an ``enrollment_paused`` inside a real enrollment.

Everything derives from `seed`: the same seed and start always give the same records.
"""
from __future__ import annotations

import dataclasses
import heapq
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from lakehouse.datagen.event_files import GARBAGE_LINES
from lakehouse.datagen.events import Citizen, Event, enrollment, make_event, new_citizen, random_channel
from lakehouse.datagen.world import Period, World, build_world, new_uuid

KINDS = ("event", "late", "duplicate", "malformed", "invalid_national_id", "unknown_event_type")
BAD_KINDS = frozenset({"malformed", "invalid_national_id", "unknown_event_type"})

# Enrollments per second of event time: with about 3.1 records per enrollment an hour of event time
# is ~22,000 records, so most enrollments end within one run.
ENROLLMENTS_PER_SECOND = 2.0
_RECORDS_PER_ENROLLMENT = 3.0  # a slight underestimate of the steady mean (about 3.1)
_RAMP = timedelta(minutes=10)  # the first half hour has fewer records per enrollment: none has ended yet

_DUPLICATE_SHARE = 0.02  # of events sent: sent again later
_LATE_SHARE = 0.01  # of events: held back
_MALFORMED_SHARE = 0.005  # of events: followed by a record that is not JSON
_BAD_ID_SHARE = 0.005  # of enrollments: a lone started event with a bad national ID next to it
_PAUSED_SHARE = 0.005  # of started events: an unknown event type follows within seconds
_DELAY_RECORDS = (20, 2_000)  # how many records later a late event or a duplicate goes out
_OFFICES = 40  # the default world's offices: OF-0001 .. OF-0040, as in the default registry


def event_time_span(records: int, enrollments_per_second: float = ENROLLMENTS_PER_SECOND) -> timedelta:
    """An upper bound of the event time the first `records` records of a feed cover.

    A producer starts its feed this long before now, so no event lies in the future.
    """
    return timedelta(seconds=records / (enrollments_per_second * _RECORDS_PER_ENROLLMENT)) + _RAMP


@dataclass(frozen=True)
class SyntheticRecord:
    """One Kinesis record: `data` is the UTF-8 JSON of `event`, or raw text when `kind` is malformed."""

    data: bytes
    partition_key: str
    kind: str
    event: dict[str, Any] | None = None


def synthetic_events(seed: int, start: datetime, *, world: World | None = None,
                     enrollments_per_second: float = ENROLLMENTS_PER_SECOND) -> Iterator[dict[str, Any]]:
    """The JSON objects of `synthetic_records`, duplicates and planted bad events included.

    A malformed record has no object to give, so this feed skips it; `synthetic_records` carries
    its raw text.
    """
    for record in synthetic_records(seed, start, world=world, enrollments_per_second=enrollments_per_second):
        if record.event is not None:
            yield record.event


def synthetic_records(seed: int, start: datetime, *, world: World | None = None,
                      enrollments_per_second: float = ENROLLMENTS_PER_SECOND) -> Iterator[SyntheticRecord]:
    """An endless feed of records whose events happen from `start` on (late ones excepted).

    Args:
        seed: everything is derived from it.
        start: the event time of the first enrollment (an aware datetime; naive means UTC).
        world: offices and operators to draw from (e.g. `datagen.generator.registry_world`), so the
            events name the registry's offices; by default a world of 40 offices built from `seed`.
        enrollments_per_second: how fast enrollments start, in event time.
    """
    if enrollments_per_second <= 0:
        raise ValueError(f"enrollments_per_second must be positive; got {enrollments_per_second}")
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    # Salted: the batch generator draws its event ids from `Random(seed)` too, and the same seed
    # must not make the stream repeat the landing files' event ids.
    root = random.Random(f"stream:{seed}")
    world_rng, events_rng, cases_rng = (random.Random(root.getrandbits(64)) for _ in range(3))
    world = world or build_world(world_rng, start, 2, _OFFICES)
    # `enrollment` cuts events at the end of the world's period: push it out of reach.
    world = dataclasses.replace(world, period=Period(start, 36_500))
    return _Feed(world, start, enrollments_per_second, events_rng, cases_rng).records()


class _Feed:
    """Enrollments in event-time order (a heap of pending events) plus records held for later."""

    def __init__(self, world: World, start: datetime, per_second: float, events_rng: random.Random,
                 cases_rng: random.Random) -> None:
        self.world, self.per_second = world, per_second
        self.rng, self.cases = events_rng, cases_rng
        self.office_ids = [office.office_id for office in world.offices]
        self.office_weights = [events_rng.uniform(0.5, 1.5) for _ in world.offices]
        self.next_start = start
        self.pending: list[tuple[datetime, int, str, Event]] = []  # (time, order, kind, event)
        self.held: list[tuple[int, int, SyntheticRecord]] = []  # (send at record number, order, record)
        self.order = 0
        self.sent = 0

    def records(self) -> Iterator[SyntheticRecord]:
        while True:
            if self.held and self.held[0][0] <= self.sent:
                yield self._send(heapq.heappop(self.held)[2])
                continue
            while not self.pending or self.pending[0][0] > self.next_start:
                self._start_enrollment()
            _, _, kind, event = heapq.heappop(self.pending)
            if kind == "event" and self.cases.random() < _LATE_SHARE:
                self._hold(_record(event, "late"))
                continue
            yield self._send(_record(event, kind))
            if kind == "event" and self.cases.random() < _DUPLICATE_SHARE:
                key = event.payload["enrollment_id"] if self.cases.random() < 0.5 else new_uuid(self.cases)
                self._hold(dataclasses.replace(_record(event, "duplicate"), partition_key=key))
            if self.cases.random() < _MALFORMED_SHARE:
                yield self._send(self._malformed(event.time))

    def _send(self, record: SyntheticRecord) -> SyntheticRecord:
        self.sent += 1
        return record

    def _push(self, kind: str, event: Event) -> None:
        self.order += 1
        heapq.heappush(self.pending, (event.time, self.order, kind, event))

    def _hold(self, record: SyntheticRecord) -> None:
        self.order += 1
        heapq.heappush(self.held, (self.sent + self.cases.randint(*_DELAY_RECORDS), self.order, record))

    def _start_enrollment(self) -> None:
        moment = self.next_start
        self.next_start = _ms(moment + timedelta(seconds=self.rng.expovariate(self.per_second)))
        channel = random_channel(self.rng)
        office_id = self.rng.choices(self.office_ids, weights=self.office_weights)[0]
        events = enrollment(self.rng, self.world, moment, office_id, channel)
        for event in events:
            self._push("event", event)
        if self.cases.random() < _PAUSED_SHARE:
            self._push("unknown_event_type", _paused(self.cases, events[0]))
        if self.cases.random() < _BAD_ID_SHARE:
            self._push("invalid_national_id", self._bad_national_id(moment, channel, office_id))

    def _bad_national_id(self, moment: datetime, channel: str, office_id: str) -> Event:
        """A started event whose national ID has 7 digits or a letter; nothing follows it."""
        citizen = new_citizen(self.cases)
        national_id = citizen.national_id
        bad = national_id[:7] if self.cases.random() < 0.5 else national_id[:3] + "A" + national_id[4:]
        operator = next((op.operator_id for op in self.world.operators_of(office_id)), None)
        return make_event(self.cases, "enrollment_started", moment, new_uuid(self.cases),
                          dataclasses.replace(citizen, national_id=bad), office_id, channel,
                          operator if channel == "office" else None)

    def _malformed(self, moment: datetime) -> SyntheticRecord:
        """A cut JSON object (the client died mid-write) or a piece of garbage."""
        if self.cases.random() < 0.5:
            whole = make_event(self.cases, "enrollment_started", moment, new_uuid(self.cases),
                               new_citizen(self.cases), self.office_ids[0], "web", None).line()
            text = whole[: self.cases.randint(20, len(whole) - 5)]
        else:
            text = self.cases.choice(GARBAGE_LINES)
        return SyntheticRecord(text.encode("utf-8"), new_uuid(self.cases), "malformed")


def _paused(rng: random.Random, started: Event) -> Event:
    """`enrollment_paused`, a type no consumer knows, a few seconds into a real enrollment."""
    host = started.payload
    citizen = Citizen(host["national_id"], host["full_name"], date.fromisoformat(host["birth_date"]))
    return make_event(rng, "enrollment_paused", started.time + timedelta(seconds=rng.randint(5, 15)),
                      host["enrollment_id"], citizen, host["office_id"], host["channel"], host["operator_id"])


def _record(event: Event, kind: str) -> SyntheticRecord:
    line = event.line()  # the object is parsed back from it: a copy no later change can reach
    return SyntheticRecord(line.encode("utf-8"), event.payload["enrollment_id"], kind, json.loads(line))


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
