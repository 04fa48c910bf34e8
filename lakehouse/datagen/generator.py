"""Synthetic landing data and registry rows, seeded and deterministic, in two parts.

The whole period is planned in memory from `random.Random(settings.seed)` first; a part only
chooses which of the planned files to write (those arriving in its half of the period) and which
registry changes to apply. So the same settings always give byte-identical files, part 1 then
part 2 gives exactly what `"all"` gives, and re-running writes nothing new.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from lakehouse.config import DatagenConfig
from lakehouse.datagen.devices import plan_device_logs, plan_documents
from lakehouse.datagen.event_files import EventPlan, malformed_positions, plan_events
from lakehouse.datagen.landing import LandingFile, Planted, RowRef, write_if_changed
from lakehouse.datagen.registry import write_registry
from lakehouse.datagen.reports import plan_reports
from lakehouse.datagen.world import World, build_world
from lakehouse.sources.postgres import Endpoint

PARTS = ("1", "2", "all")
KINDS = ("events", "office_reports", "device_logs", "documents")

# Every planted category, always present in `GenerationSummary.planted` (empty when a part has none).
# Values: event ids (str), RowRef(file, line), ReportRow(file, line, report_date, office_id),
# (report_date, office_id), MovedOffice, ChangedOperator.
PLANTED_KEYS = (
    "duplicate_events", "late_events", "out_of_order_events", "unknown_extra_field",  # valid events
    "unknown_office",  # valid, with the warning rule office_known
    "invalid_national_id", "unknown_event_type", "finished_before_started", "score_out_of_range",
    "malformed_event_lines",
    "short_csv_rows", "long_csv_rows", "negative_counts", "attended_above_scheduled", "replaced_reports",
    "malformed_log_lines",
    "moved_office", "changed_operator",
)

# The quality rule (DESIGN.md) each planted event case fails.
FAILED_RULE = {
    "invalid_national_id": "national_id_format",
    "unknown_event_type": "event_type_known",
    "finished_before_started": "finished_after_started",
    "score_out_of_range": "score_in_range",
    "unknown_office": "office_known",  # a warning: the event stays valid
}


@dataclass
class GenerationSummary:
    """What one `generate` call wrote and which hard cases landed in it.

    Attributes:
        part: "1", "2" or "all".
        period_start, period_end: the whole period (UTC); `window_start`, `window_end`: this part's.
        files: relative paths written by this call, by kind (events, office_reports, device_logs,
            documents), each list sorted.
        events_written: lines written to event files (malformed and duplicate lines included).
        planted: for each key of PLANTED_KEYS, the cases landing in this part's files.
        expected_valid_event_ids: distinct event ids in this part's files that pass every
            quarantine rule (unknown-office events included: `office_known` only warns).
        registry_written: whether the registry database was written.
    """

    part: str
    period_start: datetime
    period_end: datetime
    window_start: datetime
    window_end: datetime
    files: dict[str, list[str]]
    events_written: int
    planted: dict[str, list[Any]]
    expected_valid_event_ids: set[str] = field(default_factory=set)
    registry_written: bool = False

    @property
    def files_written(self) -> int:
        return sum(len(paths) for paths in self.files.values())

    def describe(self) -> str:
        """A few lines for the command line."""
        last_day = (self.window_end - timedelta(days=1)).date()
        kinds = ", ".join(f"{kind} {len(paths)}" for kind, paths in self.files.items())
        cases = ", ".join(f"{key} {len(found)}" for key, found in self.planted.items() if found)
        return "\n".join([
            f"part {self.part}: {self.window_start.date()} .. {last_day} (UTC)",
            f"files: {self.files_written} ({kinds}); event lines: {self.events_written:,}; "
            f"valid event ids: {len(self.expected_valid_event_ids):,}",
            f"planted: {cases or 'none'}",
            f"registry: {'written' if self.registry_written else 'not written'}",
        ])


@dataclass
class _Plan:
    world: World
    files: list[LandingFile]
    planted: list[Planted]
    valid_landings: list[tuple[int, str]]  # (day, event_id)
    event_lines: dict[str, int]


def cases_per_kind(settings: DatagenConfig) -> int:
    """A handful of each hard case: 1 at tiny sizes, 6 at the default 9000 enrollments, at most 10."""
    return max(1, min(10, settings.enrollments // 1500))


def _check(settings: DatagenConfig, part: str) -> datetime:
    if part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}; got {part!r}")
    if settings.days < 2 or settings.offices < 4 or settings.enrollments < 20:
        raise ValueError("datagen needs days >= 2 (two parts), offices >= 4 and enrollments >= 20; got "
                         f"days={settings.days}, offices={settings.offices}, enrollments={settings.enrollments}")
    if settings.offices > 9998:
        raise ValueError("datagen.offices must be below 9999 (OF-9999 is the planted unknown office)")
    try:
        given: Any = settings.start_date  # YAML may have parsed an unquoted date already
        start = given if isinstance(given, date) else date.fromisoformat(given)
    except (TypeError, ValueError):
        raise ValueError(f"datagen.start_date must be YYYY-MM-DD; got {settings.start_date!r}") from None
    return datetime.combine(start, time(0), tzinfo=UTC)


def _source_rngs(seed: int) -> list[random.Random]:
    """One child generator per source (world, events, reports, logs, documents), so a change in
    one never shifts the others."""
    rng = random.Random(seed)
    return [random.Random(rng.getrandbits(64)) for _ in range(5)]


def registry_world(settings: DatagenConfig) -> World:
    """The offices and operators `generate` writes to the registry for these settings.

    The stream producer draws its events from this world, so they name the registry's offices
    and operators.
    """
    return build_world(_source_rngs(settings.seed)[0], _check(settings, "all"), settings.days, settings.offices)


def _plan(settings: DatagenConfig, start: datetime) -> _Plan:
    world_rng, events_rng, reports_rng, logs_rng, docs_rng = _source_rngs(settings.seed)
    world = build_world(world_rng, start, settings.days, settings.offices)
    per_case = cases_per_kind(settings)
    events: EventPlan = plan_events(events_rng, world, settings.enrollments, per_case)
    report_files, report_cases = plan_reports(reports_rng, world, per_case)
    log_files, log_cases = plan_device_logs(logs_rng, world, per_case)
    files = [LandingFile("events", f.name, f.day, "".join(item.text + "\n" for item in f.items).encode("utf-8"))
             for f in events.files]
    files += report_files + log_files + plan_documents(docs_rng, world, settings.enrollments)
    planted = [Planted(*case) for case in events.planted] + report_cases + log_cases
    planted += [Planted("malformed_event_lines", day, RowRef(name, line))
                for name, line, day in malformed_positions(events.files)]
    planted += [Planted("moved_office", world.period.half, world.moved_office),
                Planted("changed_operator", world.period.half, world.changed_operator)]
    valid = [(f.day, item.event_id) for f in events.files for item in f.items if item.valid and item.event_id]
    lines = {f.name: len(f.items) for f in events.files}
    return _Plan(world, files, planted, valid, lines)


def generate(landing_dir: str | Path, settings: DatagenConfig, part: str = "all",
             registry: Endpoint | None = None) -> GenerationSummary:
    """Write the landing files of `part` under `landing_dir` and, given `registry`, the registry rows.

    Part "1" is the first half of the period (settings.days // 2 days from settings.start_date,
    UTC) and inserts the offices and operators; part "2" is the rest, and moves one office to
    another region mid-period; "all" is part 1 then part 2. A file belongs to the part of the day
    it arrives on, so a late event or a correction in a part-2 file can carry a part-1 date.

    Raises:
        ValueError: for an unknown part or settings too small to plant every hard case.
    """
    start = _check(settings, part)
    plan = _plan(settings, start)
    period = plan.world.period
    days = set(period.days_of(part))
    root = Path(landing_dir)
    chosen = sorted((f for f in plan.files if f.day in days), key=lambda f: f.path)
    for item in chosen:
        write_if_changed(root, item)
    if registry is not None:
        write_registry(registry, plan.world, part)
    planted: dict[str, list[Any]] = {key: [] for key in PLANTED_KEYS}
    for case in plan.planted:
        if case.day in days:
            planted[case.key].append(case.value)
    window = period.days_of(part)
    return GenerationSummary(
        part=part,
        period_start=period.start,
        period_end=period.end,
        window_start=datetime.combine(period.date_of(window.start), time(0), tzinfo=UTC),
        window_end=datetime.combine(period.date_of(window.stop), time(0), tzinfo=UTC),
        files={kind: [f.path for f in chosen if f.kind == kind] for kind in KINDS},
        events_written=sum(plan.event_lines[f.path] for f in chosen if f.kind == "events"),
        planted=planted,
        expected_valid_event_ids={event_id for day, event_id in plan.valid_landings if day in days},
        registry_written=registry is not None,
    )
