"""Enrollment events as a well-behaved producer would send them (hard cases come later).

Each enrollment: `enrollment_started`, one to three `biometric_validation` attempts (stopping at the
first match), then `enrollment_completed` minutes later, `enrollment_cancelled`, or nothing (still in
progress, or its end falls after the period).
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from lakehouse.datagen.world import World, full_name, iso_ms, new_uuid

SCHEMA_VERSION = 1
_CHANNELS = (("web", 0.35), ("mobile", 0.25), ("office", 0.40))
_MODALITIES = (("fingerprint", 0.55), ("face", 0.35), ("iris", 0.10))
_OFFSETS = (120, -300)  # a few producers stamp local time: +02:00 and -05:00


@dataclass
class Event:
    """One event: its UTC instant (for placing it in files) and its JSON object, in contract order."""

    event_id: str
    time: datetime
    payload: dict[str, Any]

    def line(self) -> str:
        return json.dumps(self.payload, ensure_ascii=False)


@dataclass(frozen=True)
class Citizen:
    national_id: str
    full_name: str
    birth_date: date


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _weighted(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def random_channel(rng: random.Random) -> str:
    """A channel drawn with the share each one has of enrollments (web, mobile, office)."""
    return _weighted(rng, _CHANNELS)


def new_citizen(rng: random.Random) -> Citizen:
    birth = date(1940, 1, 1) + timedelta(days=rng.randrange(68 * 365))
    return Citizen(str(rng.randint(10_000_000, 99_999_999)), full_name(rng), birth)


def make_event(rng: random.Random, event_type: str, moment: datetime, enrollment_id: str, citizen: Citizen,
               office_id: str, channel: str, operator_id: str | None,
               validation: dict[str, Any] | None = None) -> Event:
    offset = rng.choice(_OFFSETS) if rng.random() < 0.04 else 0
    event_id = new_uuid(rng)
    payload: dict[str, Any] = {
        "event_id": event_id,
        "event_type": event_type,
        "event_time": iso_ms(moment, offset),
        "schema_version": SCHEMA_VERSION,
        "enrollment_id": enrollment_id,
        "national_id": citizen.national_id,
        "full_name": citizen.full_name,
        "birth_date": citizen.birth_date.isoformat(),
        "office_id": office_id,
        "channel": channel,
        "operator_id": operator_id,
        "validation": validation,
    }
    return Event(event_id, moment, payload)


def _validation(rng: random.Random, started: datetime, modality: str) -> tuple[dict[str, Any], datetime, str]:
    duration_ms = int(min(9_000, max(150, rng.lognormvariate(math.log(1_200), 0.6))))
    finished = started + timedelta(milliseconds=duration_ms)
    roll = rng.random()
    result = "error" if roll < 0.03 else "no_match" if roll < 0.15 else "match"
    score = None if result == "error" else round(
        rng.uniform(0.72, 0.999) if result == "match" else rng.uniform(0.05, 0.6), 4)
    body = {"validation_id": new_uuid(rng), "modality": modality, "result": result, "score": score,
            "started_at": iso_ms(started), "finished_at": iso_ms(finished)}
    return body, finished, result


def enrollment(rng: random.Random, world: World, start: datetime, office_id: str, channel: str,
               citizen: Citizen | None = None) -> list[Event]:
    """The events of one enrollment that starts at `start`, cut at the end of the period."""
    citizen = citizen or new_citizen(rng)
    staff = world.operators_of(office_id)
    operator_id = rng.choice(staff).operator_id if channel == "office" and staff else None
    enrollment_id = new_uuid(rng)

    def event(event_type: str, moment: datetime, validation: dict[str, Any] | None = None) -> Event:
        return make_event(rng, event_type, moment, enrollment_id, citizen, office_id, channel, operator_id,
                          validation)

    events = [event("enrollment_started", start)]
    moment, matched = start, False
    modality = _weighted(rng, _MODALITIES)
    for attempt in range(3):
        moment = _ms(moment + timedelta(seconds=rng.uniform(20, 240) if attempt == 0 else rng.uniform(10, 90)))
        body, moment, result = _validation(rng, moment, modality)
        events.append(event("biometric_validation", moment, body))
        if result == "match":
            matched = True
            break
        if rng.random() < 0.3:
            modality = _weighted(rng, _MODALITIES)
    roll = rng.random()
    if matched and roll < 0.90:
        events.append(event("enrollment_completed", _ms(moment + timedelta(minutes=rng.uniform(2, 25)))))
    elif (matched and roll < 0.95) or (not matched and roll < 0.7):
        events.append(event("enrollment_cancelled", _ms(moment + timedelta(minutes=rng.uniform(1, 15)))))
    return [e for e in events if e.time < world.period.end]


def start_time(rng: random.Random, world: World, day: int, channel: str) -> datetime:
    hours = rng.uniform(8, 18) if channel == "office" else rng.uniform(6, 23.9)
    return _ms(world.period.start + timedelta(days=day, hours=hours))


def normal_enrollments(rng: random.Random, world: World, count: int) -> list[list[Event]]:
    """`count` enrollments spread over the period and the offices (some offices busier than others).

    The first two belong to the office that moves region, one before and one after the move, so
    its history always shows up in the facts.
    """
    period = world.period
    weights = [rng.uniform(0.5, 1.5) for _ in world.offices]
    moved = world.moved_office
    out: list[list[Event]] = []
    for index in range(count):
        channel = random_channel(rng)
        if index == 0:
            office_id, start = moved.office_id, start_time(rng, world, rng.randrange(period.half), channel)
        elif index == 1:
            office_id, start = moved.office_id, _ms(moved.changed_at + timedelta(hours=rng.uniform(1, 5)))
        else:
            office_id = rng.choices(world.offices, weights=weights)[0].office_id
            start = start_time(rng, world, rng.randrange(period.days), channel)
        out.append(enrollment(rng, world, start, office_id, channel))
    return out
