"""What the generator writes: files with the day they arrive on, and where each hard case lands."""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple


@dataclass(frozen=True)
class LandingFile:
    """One file under the landing folder. `day` is the day it arrives (it decides the part)."""

    kind: str  # events | office_reports | device_logs | documents
    path: str  # relative to the landing folder, with '/'
    day: int
    content: bytes
    mtime: datetime | None = None  # set for documents, whose inventory records the modified time


class Planted(NamedTuple):
    """A hard case: its category, the day of the file it lands in, and what identifies it."""

    key: str
    day: int
    value: object


class RowRef(NamedTuple):
    """A line of a landing file (1-based; a CSV header is line 1)."""

    file: str
    line: int


class ReportRow(NamedTuple):
    """A CSV report row that parses but breaks a quality rule."""

    file: str
    line: int
    report_date: str
    office_id: str


def write_if_changed(root: Path, item: LandingFile) -> None:
    """Write the file unless it already holds exactly these bytes (so re-runs touch nothing)."""
    target = root / item.path
    target.parent.mkdir(parents=True, exist_ok=True)
    if not (target.exists() and target.read_bytes() == item.content):
        target.write_bytes(item.content)
    if item.mtime is not None:
        stamp = item.mtime.timestamp()
        os.utime(target, (stamp, stamp))
