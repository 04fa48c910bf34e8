"""Data sets for the scale benchmarks (`batch_scale.py`, `ingest_vs_bare.py`): a generated lake of
about N event records, and late events landing after it.

`lakehouse.datagen.generate` plans a whole data set in memory (about 6.5 KB per enrollment, and its
day files cost days x events), so a 10M-event set (3.2M enrollments, some 21 GB) cannot be planned
in one piece on a 24 GiB machine. A big set is generated in slices of at most `slice_enrollments`
enrollments: slice 0 is the data set of the base seed (its registry rows, office reports, device
logs and documents, and its events); slice k > 0 is generated with seed + k and only its event
files are kept, renamed `<name>-s<k>.jsonl`. Office and operator ids are numbered in order, so every
slice's events name the registry's offices; only slice 0's world (regions, the moved office) is in
the registry, which is the one every lookup uses.

Late events are new enrollments on dates the set already covers, drawn from the same world, and one
line in ten is a copy of a line already landed (a duplicate that silver must drop), written as new
files under `landing/events/`, where ingest takes them as any new file.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import random
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from lakehouse import app
from lakehouse.config import Config, DatagenConfig, load_config
from lakehouse.datagen import generate
from lakehouse.datagen.event_files import LINES_PER_FILE
from lakehouse.datagen.events import enrollment, random_channel, start_time
from lakehouse.datagen.generator import registry_world
from lakehouse.datagen.landing import LandingFile, write_if_changed

# Event lines per enrollment in generated sets (312,426 lines for 100,000 enrollments over 90 days).
EVENTS_PER_ENROLLMENT = 3.12
DUPLICATE_SHARE = 0.1  # of the late lines: copies of lines already landed


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """The options every scale benchmark shares: the data set's shape and how it is generated."""
    parser.add_argument("--days", type=int, default=90, help="days the data sets cover (default 90)")
    parser.add_argument("--offices", type=int, default=200, help="offices in the registry (default 200)")
    parser.add_argument("--start-date", help="first day (YYYY-MM-DD); default: the period ends yesterday")
    parser.add_argument("--slice-enrollments", type=int, default=250_000,
                        help="enrollments generated in one piece (about 1.7 GB of Python memory; default 250000)")


def lake_config(root: str, leak_scan: bool) -> Config:
    """The local config with its storage root at `root` (and the leak scan on or off)."""
    return load_config("local", {"storage.root": root, "security.leak_scan": leak_scan})


def settings_for(config: Config, events: int, days: int, offices: int, start_date: str | None) -> DatagenConfig:
    """Datagen settings for about `events` event lines. Without `start_date` the period ends
    yesterday: events dated after the ingestion would be quarantined as `event_time_not_future`."""
    start = start_date or (date.today() - timedelta(days=days + 1)).isoformat()
    enrollments = max(20, round(events / EVENTS_PER_ENROLLMENT))
    return dataclasses.replace(config.datagen, enrollments=enrollments, days=days, offices=offices, start_date=start)


@dataclass(frozen=True)
class Generated:
    event_lines: int
    event_files: int
    slices: int


def generate_lake(config: Config, settings: DatagenConfig, slice_enrollments: int,
                  registry: bool = True) -> Generated:
    """Landing files (and, with `registry`, the registry rows) of `settings` under the config's root."""
    landing = Path(config.root) / "landing"
    slices = max(1, math.ceil(settings.enrollments / slice_enrollments))
    sizes = [settings.enrollments // slices + (1 if k < settings.enrollments % slices else 0) for k in range(slices)]
    first = dataclasses.replace(settings, enrollments=sizes[0])
    if registry:
        with app.registry(config) as endpoint:
            summary = generate(landing, first, registry=endpoint)
    else:
        summary = generate(landing, first)
    lines, files = summary.events_written, len(summary.files["events"])
    for k in range(1, slices):
        scratch = Path(config.root) / f"_slice-{k}"
        part = generate(scratch, dataclasses.replace(settings, seed=settings.seed + k, enrollments=sizes[k]))
        for key in part.files["events"]:
            target = landing / key.replace(".jsonl", f"-s{k:02d}.jsonl")
            (scratch / key).rename(target)
        shutil.rmtree(scratch)
        lines, files = lines + part.events_written, files + len(part.files["events"])
    return Generated(lines, files, slices)


@dataclass(frozen=True)
class LateEvents:
    new_events: int
    duplicates: int
    files: int

    @property
    def lines(self) -> int:
        return self.new_events + self.duplicates


def write_late_events(config: Config, settings: DatagenConfig, lines: int, seed: int, tag: str) -> LateEvents:
    """`lines` event lines in new files `landing/events/late-<tag>-NNN.jsonl`: new enrollments on the
    dates the set covers, in the registry's world, and a tenth copies of lines already landed."""
    rng = random.Random(seed)
    world = registry_world(settings)
    landed = sorted((Path(config.root) / "landing" / "events").glob("*.jsonl"))
    duplicates = round(lines * DUPLICATE_SHARE)
    copies: list[str] = []
    while len(copies) < duplicates:
        candidates = [line for line in rng.choice(landed).read_text("utf-8").splitlines() if line.startswith("{")]
        copies += rng.sample(candidates, min(len(candidates), duplicates - len(copies), 50))
    fresh: list[str] = []
    while len(fresh) < lines - duplicates:
        channel = random_channel(rng)
        office = rng.choice(world.offices).office_id
        moment = start_time(rng, world, rng.randrange(world.period.days), channel)
        fresh += [event.line() for event in enrollment(rng, world, moment, office, channel)]
    batch = fresh[: lines - duplicates] + copies
    rng.shuffle(batch)
    chunks = [batch[i:i + LINES_PER_FILE] for i in range(0, len(batch), LINES_PER_FILE)]
    for number, chunk in enumerate(chunks, start=1):
        content = "".join(line + "\n" for line in chunk).encode("utf-8")
        write_if_changed(Path(config.root) / "landing",
                         LandingFile("events", f"events/late-{tag}-{number:03d}.jsonl", 0, content))
    return LateEvents(lines - duplicates, duplicates, len(chunks))
