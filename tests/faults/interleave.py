"""Test scaffolding: hold a Delta write between its read and its commit while another writer commits.

A write's input gets a pass-through UDF (`Gate.column`) that, in the Python worker, marks the write
as started and waits for the test to open the gate. Delta has taken the write's snapshot by then
(a MERGE or an append evaluates its input inside its transaction), so whatever the other writer
commits meanwhile lands between the write's read and its commit: the conflict is provoked for
real, deterministically. Once open, the gate stays open: a retry of the same write runs through.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T


class Gate:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.started, self.go = folder / "started", folder / "go"

    def column(self, name: str, data_type: T.DataType) -> Column:
        """`name`, unchanged, once the gate is open (the write's input must be one partition)."""
        started, go = str(self.started), str(self.go)

        def wait(value):  # type: ignore[no-untyped-def]  (no hints: pyspark would read them as a pandas UDF's)
            import os
            import time

            open(started, "a").close()
            deadline = time.monotonic() + 120
            while not os.path.exists(go) and time.monotonic() < deadline:
                time.sleep(0.02)
            return value

        return F.udf(wait, data_type)(F.col(name)).alias(name)

    def wait_started(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not self.started.exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the gated write never started")
            time.sleep(0.02)

    def open(self) -> None:
        self.go.touch()


def interleave(gate: Gate, write: Callable[[], Any], concurrent: Callable[[], Any]) -> Any:
    """Run `write` (whose input goes through `gate`); once it has started, run `concurrent` to its
    commit, then open the gate. Returns what `write` returned, or raises what it raised."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = write()
        except BaseException as err:  # handed to the test's thread
            outcome["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    try:
        gate.wait_started()
        concurrent()
    finally:
        gate.open()
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def commits_meanwhile(gate: Gate, concurrent: Callable[[], Any]) -> threading.Thread:
    """A thread that, once the gated write has started, runs `concurrent` and opens the gate (for a
    write that runs in the test's own thread)."""
    def run() -> None:
        try:
            gate.wait_started()
            concurrent()
        finally:
            gate.open()

    thread = threading.Thread(target=run)
    thread.start()
    return thread
