"""Reading open shards ahead of the next micro-batch, while Spark writes the last one.

A micro-batch leaves each shard it did not finish here (`keep`): its iterator, and the records a
thread then fetches with it. The next micro-batch `take`s the shard back and goes on from there
without a GetShardIterator call (5 per second per shard on AWS), its records often already read.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lakehouse.sources.kinesis.client import PAGE_LIMIT
from lakehouse.sources.kinesis.options import KinesisOptions

log = logging.getLogger(__name__)

# The read-ahead thread stops after this long without a micro-batch (a stopped query, a test).
_IDLE_SECONDS = 60.0

GetRecords = Callable[[str, int], Mapping[str, Any]]  # (shard iterator, limit) -> a GetRecords answer


@dataclass
class Ahead:
    """A shard's open read: the records fetched ahead of the next micro-batch (those right after
    sequence number `after`, in order) and the iterator that goes on after them."""

    after: str | None
    iterator: str
    records: list[dict[str, Any]]
    size: int = 0  # bytes of data held in `records`
    closed: bool = False  # a closed shard is read to its end by micro-batches alone
    caught_up: bool = False
    polled: float = 0.0  # time.monotonic() of the last fetch
    stalled: bool = False  # a fetch failed: the next read takes over (retries, reopens or fails)


class ReadAhead:
    """The open reads of one stream's shards, and the thread that fills them (option prefetch).

    Args:
        opts: the source's options (prefetch, maxRecordsPerShard, prefetchMaxBytes, prefetchIntervalMillis).
        get_records: one GetRecords call, not retried: a failed fetch leaves the shard to the next
            micro-batch, whose own read retries.
    """

    def __init__(self, opts: KinesisOptions, get_records: GetRecords) -> None:
        self.opts = opts
        self.live: dict[str, Ahead] = {}  # shard id -> its open read
        self._get_records = get_records
        self._lock = threading.Lock()
        self._fetcher: threading.Thread | None = None
        self._stopped = threading.Event()
        self._last_read = time.monotonic()

    def take(self, shard_id: str) -> Ahead | None:
        """Hand a shard's open read (if any) to the micro-batch reading it: the thread lets go of it."""
        with self._lock:
            self._last_read = time.monotonic()
            return self.live.pop(shard_id, None)

    def touch(self) -> None:
        """A micro-batch read without taking an open read (a replay): the thread is still wanted."""
        with self._lock:
            self._last_read = time.monotonic()

    def keep(self, shard_id: str, ahead: Ahead) -> None:
        """Leave a shard's open read for the next micro-batch."""
        with self._lock:
            self.live[shard_id] = ahead

    def start(self) -> None:
        """Start the thread that reads open shards ahead of the next micro-batch (option prefetch)."""
        with self._lock:
            if not self.opts.prefetch or self._fetcher is not None:
                return
            self._fetcher = threading.Thread(target=self._fetch_loop, name="kinesis-fetch-ahead", daemon=True)
        self._fetcher.start()

    def stop(self) -> None:
        self._stopped.set()

    def _fetch_loop(self) -> None:
        """Keep each open shard's records coming while Spark writes the last batch.

        Up to maxRecordsPerShard records (and prefetchMaxBytes) wait per shard; a shard at its tip
        is polled every prefetchIntervalMillis; after a minute without a micro-batch the thread
        ends. A shard iterator is a token, not a cursor: if a micro-batch takes the shard while a
        fetch is under way, the page is dropped and the micro-batch reads the same records itself.
        Any failure hands the shard to the next micro-batch, whose read retries, reopens the
        iterator or fails loudly.
        """
        cap = self.opts.max_records_per_shard
        while not self._stopped.is_set():
            with self._lock:
                if time.monotonic() - self._last_read > _IDLE_SECONDS:
                    self._fetcher = None  # no micro-batch for a while: stop; the next read starts it again
                    return
                due = [(sid, a) for sid, a in self.live.items()
                       if not a.stalled and not a.closed and len(a.records) < cap
                       and a.size < self.opts.prefetch_max_bytes]
            fetched = False
            for sid, ahead in due:
                if ahead.caught_up and time.monotonic() - ahead.polled < self.opts.prefetch_interval_seconds:
                    continue
                try:
                    page = self._get_records(ahead.iterator, min(PAGE_LIMIT, cap - len(ahead.records)))
                except Exception as err:  # noqa: BLE001 (the next micro-batch meets it and decides)
                    log.debug("fetch ahead of shard %s stopped: %s", sid, err)
                    with self._lock:
                        ahead.stalled = True
                    continue
                with self._lock:
                    if self.live.get(sid) is not ahead:
                        continue  # a micro-batch took the shard meanwhile: it reads these itself
                    ahead.records += page["Records"]
                    ahead.size += sum(len(r["Data"]) for r in page["Records"])
                    ahead.caught_up = page.get("MillisBehindLatest", 0) == 0 or not page["Records"]
                    ahead.polled = time.monotonic()
                    if page.get("NextShardIterator"):
                        ahead.iterator = page["NextShardIterator"]
                    else:
                        ahead.stalled = True  # the shard ended: the micro-batch's read finds out
                fetched = fetched or bool(page["Records"])
            if not fetched:
                self._stopped.wait(min(0.05, self.opts.prefetch_interval_seconds))
