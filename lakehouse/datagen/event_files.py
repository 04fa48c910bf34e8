"""Event files under `events/`, with the hard cases planted on purpose.

Each hard case lives in exactly one category: the events moved late, duplicated or shuffled are
otherwise valid and untouched; the broken ones (bad national ID, bad validation, unknown type) are
placed in their own day's file, in order.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from lakehouse.datagen.events import Citizen, Event, enrollment, make_event, new_citizen, normal_enrollments, start_time
from lakehouse.datagen.world import UNKNOWN_OFFICE, World, new_uuid

LINES_PER_FILE = 400
GARBAGE_LINES = ("%%% producer buffer overflow %%%", "<html><body>502 Bad Gateway</body></html>",
            "event_id=?;event_type=enrollment_started", "}{")


@dataclass
class Item:
    """One line of an event file: an event (valid or not) or a malformed line."""

    text: str
    event_id: str | None = None
    time: datetime | None = None
    valid: bool = False
    malformed: bool = False


@dataclass
class EventFile:
    day: int
    name: str
    items: list[Item] = field(default_factory=list)


@dataclass
class EventPlan:
    files: list[EventFile]
    # (key, landing day, identifying value) for every planted case
    planted: list[tuple[str, int, object]]


def _item(event: Event, valid: bool) -> Item:
    return Item(event.line(), event.event_id, event.time, valid)


def plan_events(rng: random.Random, world: World, enrollments: int, per_case: int) -> EventPlan:
    period = world.period
    normal = [e for events in normal_enrollments(rng, world, enrollments) for e in events]
    planted: list[tuple[str, int, object]] = []
    invalid: set[str] = set()
    extra: list[Event] = []
    plain = list(normal)  # valid events no hard case has touched yet
    rng.shuffle(plain)

    def take(condition: Callable[[Event], bool]) -> Event:
        for index, event in enumerate(plain):
            if condition(event):
                return plain.pop(index)
        raise ValueError("the settings are too small to plant every hard case; raise datagen.enrollments")

    def plant(key: str, event: Event, valid: bool = True) -> None:
        planted.append((key, period.day_of(event.time), event.event_id))
        if not valid:
            invalid.add(event.event_id)

    for n in range(per_case):
        # Alternate between the parts, so a demo that runs the pipeline in between meets most cases twice.
        part_days = period.days_of("1" if n % 2 == 0 else "2")

        def in_part(event: Event) -> bool:
            return period.day_of(event.time) in part_days  # noqa: B023 (used within this iteration)

        # A whole enrollment at an office the registry does not know: a warning, not an error.
        channel = rng.choice(("web", "mobile"))
        for event in enrollment(rng, world, start_time(rng, world, rng.choice(part_days), channel),
                                UNKNOWN_OFFICE, channel):
            extra.append(event)
            plant("unknown_office", event)
        # A started event whose national ID is 7 digits or has a letter; nothing follows it.
        citizen = new_citizen(rng)
        bad_id = citizen.national_id[:7] if n % 2 == 0 else citizen.national_id[:3] + "A" + citizen.national_id[4:]
        office = rng.choice(world.offices).office_id
        event = make_event(rng, "enrollment_started", start_time(rng, world, rng.choice(part_days), "web"),
                           new_uuid(rng), Citizen(bad_id, citizen.full_name, citizen.birth_date), office, "web", None)
        extra.append(event)
        plant("invalid_national_id", event, valid=False)
        # An event type no consumer knows, inside a real enrollment.
        host = take(lambda e: in_part(e) and e.payload["event_type"] == "enrollment_started"
                    and e.time < period.end - timedelta(minutes=1))
        moment = host.time + timedelta(seconds=rng.randint(5, 15))
        same = Citizen(host.payload["national_id"], host.payload["full_name"],
                       date.fromisoformat(host.payload["birth_date"]))
        paused = make_event(rng, "enrollment_paused", moment, host.payload["enrollment_id"], same,
                            host.payload["office_id"], host.payload["channel"], host.payload["operator_id"])
        plain.append(host)
        extra.append(paused)
        plant("unknown_event_type", paused, valid=False)
        # A validation that finished before it started (clock skew on the device).
        event = take(lambda e: in_part(e) and (e.payload["validation"] or {}).get("result") in ("match", "no_match"))
        body = event.payload["validation"]
        body["started_at"], body["finished_at"] = body["finished_at"], body["started_at"]
        plant("finished_before_started", event, valid=False)
        # A score above 1.
        event = take(lambda e: in_part(e) and (e.payload["validation"] or {}).get("result") == "match")
        event.payload["validation"]["score"] = 1.7
        plant("score_out_of_range", event, valid=False)
        # A newer producer adds a field the contract does not name: still valid.
        event = take(in_part)
        event.payload["producer_version"] = "2.4.0"
        plant("unknown_extra_field", event)

    # Late events and duplicates: the first of each crosses from part 1 into part 2 (a part-2 file
    # carrying a part-1 date); the others stay within part 2 (odd) or part 1 (even) when they can.
    def lag(n: int) -> tuple[range, int]:
        """The days a source event may come from, and the last day its file may be on."""
        half, days = period.half, period.days
        if n == 0:
            return range(0, half), half + min(2, days - half - 1)
        if n % 2 == 1 and days - half >= 2:
            return range(half, days - 1), days - 1
        if n % 2 == 0 and half >= 2:
            return range(0, half - 1), half - 1
        return range(0, days - 1), days - 1

    late: dict[str, int] = {}
    copies: list[tuple[Event, int]] = []
    for n in range(per_case):
        sources, last = lag(n)
        for key in ("late_events", "duplicate_events"):
            event = take(lambda e: period.day_of(e.time) in sources)  # noqa: B023 (called right here)
            day = period.day_of(event.time)
            target = rng.randint(period.half, last) if n == 0 else min(last, day + rng.randint(1, 3))
            planted.append((key, target, event.event_id))
            if key == "late_events":
                late[event.event_id] = target
            else:
                copies.append((event, target))

    files = _day_files(world, [e for e in normal + extra if e.event_id not in late], invalid)
    by_day: dict[int, list[EventFile]] = {}
    for f in files:
        by_day.setdefault(f.day, []).append(f)
    _shuffle_some(rng, files, {e.event_id for e in plain}, per_case, planted)
    for event in normal:
        if event.event_id in late:
            _insert(rng, by_day[late[event.event_id]], _item(event, True))
    for event, day in copies:
        _insert(rng, by_day[day], _item(event, True))
    _plant_malformed(rng, world, files, per_case, planted)
    return EventPlan(files, planted)


def _day_files(world: World, events: list[Event], invalid: set[str]) -> list[EventFile]:
    period = world.period
    files: list[EventFile] = []
    for day in range(period.days):
        todays = sorted((e for e in events if period.day_of(e.time) == day), key=lambda e: (e.time, e.event_id))
        chunks = [todays[i:i + LINES_PER_FILE] for i in range(0, len(todays), LINES_PER_FILE)] or [[]]
        for number, chunk in enumerate(chunks, start=1):
            name = f"events/events-{period.date_of(day).isoformat()}-{number:03d}.jsonl"
            files.append(EventFile(day, name, [_item(e, e.event_id not in invalid) for e in chunk]))
    return files


def _insert(rng: random.Random, candidates: list[EventFile], item: Item) -> None:
    target = rng.choice(candidates)
    target.items.insert(rng.randint(0, len(target.items)), item)


def _shuffle_some(rng: random.Random, files: list[EventFile], eligible: set[str], count: int,
                  planted: list[tuple[str, int, object]]) -> None:
    """Move a few untouched events forward in their file, after events that happened later."""
    moved = 0
    for f in rng.sample(files, len(files)):
        spots = [i for i, item in enumerate(f.items[:-2]) if item.event_id in eligible]
        if not spots:
            continue
        i = rng.choice(spots)
        j = min(len(f.items) - 1, i + rng.randint(2, 5))
        later, earlier = f.items[j].time, f.items[i].time
        if later is None or earlier is None or later <= earlier:
            continue
        f.items.insert(j, f.items.pop(i))
        planted.append(("out_of_order_events", f.day, f.items[j].event_id))
        moved += 1
        if moved == count:
            return
    if moved == 0:
        raise ValueError("the settings are too small to plant out-of-order events; raise datagen.enrollments")


def _plant_malformed(rng: random.Random, world: World, files: list[EventFile], count: int,
                     planted: list[tuple[str, int, object]]) -> None:
    for n in range(max(2, count)):  # at least one cut object and one piece of garbage
        office = rng.choice(world.offices)
        if n % 2 == 0:  # the producer died mid-write: a cut JSON object (never written whole)
            whole = make_event(rng, "enrollment_started", start_time(rng, world, 0, "web"), new_uuid(rng),
                               new_citizen(rng), office.office_id, "web", None).line()
            text = whole[: rng.randint(20, len(whole) - 5)]
        else:
            text = GARBAGE_LINES[(n // 2) % len(GARBAGE_LINES)]
        _insert(rng, files, Item(text, malformed=True))


def malformed_positions(files: list[EventFile]) -> list[tuple[str, int, int]]:
    """(file, 1-based line, day) of every malformed line, once the files are final."""
    return [(f.name, number, f.day) for f in files for number, item in enumerate(f.items, start=1) if item.malformed]
