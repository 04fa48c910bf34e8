"""Leases on stream checkpoints: which process runs the query of a checkpoint, across processes.

Spark guards a checkpoint against a second query only inside one driver. Two processes on one
checkpoint (a running `lakehouse stream` and a batch `lakehouse silver`, both reading bronze into
silver through `_checkpoints/silver_enrollment_events`) race for the same offset-log entries: one
of them fails (Spark: "Multiple streaming queries are concurrently using ..."), after both may have
run the same batch. A lease is a small file beside the checkpoint, `<checkpoint>.lease`, naming
its holder (host, process, a random id), what it does (`follow`: a continuous query; `drain`: an
`availableNow` run) and until when it holds. The holder renews it every third of its time to live
from a daemon thread and deletes it when done; a lease whose time has passed, or whose holder was a
process of this host that is no longer alive, is stale and taken over.

The file system's create-if-absent decides between two takers: atomic on HDFS, a check then a create
on local disk and on S3, where two takers in the same instant could both win; then one of the two
queries fails with Spark's error, and the data stays right (every silver write inserts only new
keys, and conflicting commits are retried: `storage.conflicts`). What a caller does when the lease
is held is the pipeline's choice (`pipeline.silver.own_checkpoint`).
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass

from pyspark.sql import SparkSession

from lakehouse.storage import files

TTL_SECONDS = 60.0


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: `owner` (host:pid:id), `mode` (`follow` or `drain`), until `expires_at`
    (epoch seconds)."""

    owner: str
    mode: str
    expires_at: float

    @property
    def host(self) -> str:
        return self.owner.split(":")[0]

    def alive(self, now: float) -> bool:
        """Not expired, and, when held by a process of this host, that process still runs."""
        if now >= self.expires_at:
            return False
        parts = self.owner.split(":")
        if len(parts) >= 2 and parts[0] == socket.gethostname() and parts[1].isdigit():
            try:
                os.kill(int(parts[1]), 0)
            except ProcessLookupError:
                return False
            except PermissionError:  # another user's process: alive
                return True
        return True

    def describe(self) -> str:
        left = max(0, int(self.expires_at - time.time()))
        return f"{self.mode} by {self.owner}, for {left} s more unless renewed"


def _parse(text: str, now: float, ttl: float) -> Holder:
    try:
        data = json.loads(text)
        return Holder(str(data["owner"]), str(data["mode"]), float(data["expires_at"]))
    except (ValueError, KeyError, TypeError):  # being written this instant: held, for a while
        return Holder("unknown", "drain", now + ttl)


class Lease:
    """A claim on `checkpoint` by this process, for one query (`mode`: `follow` or `drain`)."""

    def __init__(self, spark: SparkSession, checkpoint: str, mode: str, ttl_seconds: float = TTL_SECONDS) -> None:
        self.spark, self.mode, self.ttl = spark, mode, ttl_seconds
        self.location = checkpoint.rstrip("/") + ".lease"
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _text(self) -> str:
        return json.dumps({"owner": self.owner, "mode": self.mode, "expires_at": time.time() + self.ttl})

    def holder(self) -> Holder | None:
        """Who holds the lease now, alive (None when nobody does)."""
        text = files.read_text(self.spark, self.location)
        if text is None:
            return None
        now = time.time()
        found = _parse(text, now, self.ttl)
        return found if found.alive(now) else None

    def acquire(self) -> Holder | None:
        """Take the lease if nobody alive holds it: None when this process holds it now (and renews
        it until `release`), else the holder."""
        for _ in range(3):  # a taker that loses a race reads the lease again
            text = files.read_text(self.spark, self.location)
            if text is not None:
                now = time.time()
                found = _parse(text, now, self.ttl)
                if found.alive(now):
                    return found
                # Stale: set aside under a name of our own (only one taker's rename succeeds).
                aside = f"{self.location}.stale-{uuid.uuid4().hex[:8]}"
                try:
                    files.rename(self.spark, self.location, aside)
                except Exception:  # noqa: BLE001 (another taker set it aside first)
                    continue
                files.delete(self.spark, aside)
            if files.create_text(self.spark, self.location, self._text()):
                self._renewer = threading.Thread(target=self._renew, name=f"lease {self.location}", daemon=True)
                self._renewer.start()
                return None
        return self.holder() or Holder("unknown", "drain", time.time() + self.ttl)

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                files.create_text(self.spark, self.location, self._text(), replace=True)
            except Exception:  # noqa: BLE001 (the session is stopping: the lease will expire)
                return

    def release(self) -> None:
        """Stop renewing and delete the lease, if it is still this process's."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=10)
        text = files.read_text(self.spark, self.location)
        if text is not None and _parse(text, time.time(), self.ttl).owner == self.owner:
            files.delete(self.spark, self.location)
