"""Delta commit conflicts between concurrent writers: retried from a fresh snapshot, or a clear error.

The stream and the batch steps write `bronze.enrollment_events`, silver and quarantine at the same
time. Delta commits optimistically: a write that read version N and finds that a concurrent commit
changed what it read (files it should have seen, files it read or deletes that are gone, the
metadata or the protocol) fails with a conflict and commits nothing. Such a write is re-run whole
(`DeltaTable.forPath` and every read resolved again, so it sees the winner's rows), after a bounded
exponential back-off with full jitter, `ATTEMPTS` attempts in all. Re-running is safe because
every write of `storage.delta` is idempotent against the winner: a MERGE inserts only keys not yet
present, a sync or upsert converges on its input, a delete deletes what is still there, and an
append that conflicted committed nothing (with `txnAppId`/`txnVersion`, Delta skips it if the
same batch did commit).

`ConcurrentTransactionException` is different: two writers committed with one idempotency token
(`txnAppId`), which means two streaming queries run on one checkpoint. Retrying cannot fix that; it
stops at once with `ConcurrentWriteError`, as do conflicts that outlast the retries.

How the conflicts are recognised: delta-spark converts Delta's JVM conflicts into the Python
classes of `delta.exceptions` only once `delta.exceptions.captured` is imported (until then they
arrive as a bare `Py4JJavaError`); this module imports it, and for a conflict that still arrives
wrapped it looks for Delta's JVM class in the Java cause chain. The five retried classes share no
Python base class but `PySparkException`, so they are named one by one.
"""
from __future__ import annotations

import functools
import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

import delta.exceptions.captured  # noqa: F401  (installs delta-spark's JVM -> Python conversion)
from delta.exceptions import (
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    MetadataChangedException,
    ProtocolChangedException,
)
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from lakehouse.errors import LakehouseError
from lakehouse.storage import files

log = logging.getLogger(__name__)
T = TypeVar("T")
Write = TypeVar("Write", bound=Callable[..., Any])

ATTEMPTS = 8  # the first and up to 7 retries
FIRST_WAIT_SECONDS = 0.5  # the back-off's scale: waits up to 0.5, 1, 2, 4, ... seconds (full jitter)
MAX_WAIT_SECONDS = 15.0  # no single wait longer than this: 8 attempts stay within about a minute

# Delta's conflict classes, the Python one delta-spark raises and the JVM class (for a conflict
# that arrives unconverted, inside another JVM exception). ConcurrentWriteException (a write after
# this transaction read the whole table) is the same kind of conflict as the five of the issue.
RETRIED: dict[type[BaseException], str] = {
    ConcurrentAppendException: "io.delta.exceptions.ConcurrentAppendException",
    ConcurrentDeleteReadException: "io.delta.exceptions.ConcurrentDeleteReadException",
    ConcurrentDeleteDeleteException: "io.delta.exceptions.ConcurrentDeleteDeleteException",
    MetadataChangedException: "io.delta.exceptions.MetadataChangedException",
    ProtocolChangedException: "io.delta.exceptions.ProtocolChangedException",
    ConcurrentWriteException: "io.delta.exceptions.ConcurrentWriteException",
}
SAME_TOKEN: tuple[type[BaseException], str] = (ConcurrentTransactionException,
                                               "io.delta.exceptions.ConcurrentTransactionException")


class ConcurrentWriteError(LakehouseError):
    """A Delta write that concurrent writers kept from committing, or two writers sharing one
    idempotency token (two queries on one checkpoint)."""


def conflict_kind(err: BaseException) -> str | None:
    """The name of the Delta conflict `err` is (`ConcurrentAppendException`, ...), or None.

    By the Python class delta-spark converted it to; else, for a JVM error, by the Delta class of
    it or of one of its causes."""
    for cls in (*RETRIED, SAME_TOKEN[0]):
        if isinstance(err, cls):
            return cls.__name__
    found = files.java_class_of(err, [*RETRIED.values(), SAME_TOKEN[1]])
    return found.rsplit(".", 1)[1] if found else None


def _retried(err: BaseException) -> bool:
    kind = conflict_kind(err)
    return kind is not None and kind != SAME_TOKEN[0].__name__


# Set while a retried operation runs in this thread: a write that calls another (`sync` calls
# `ensure`, `append` calls `ensure`) is retried once, whole, by the outermost one.
_inside = threading.local()


def retrying(operation: Callable[[], T], table: str, what: str, attempts: int = ATTEMPTS,
             first_wait: float = FIRST_WAIT_SECONDS, max_wait: float = MAX_WAIT_SECONDS) -> T:
    """Run `operation` (one Delta write of `table`, named `what` in messages), re-running it whole
    on a Delta commit conflict.

    Each retry is logged as one line naming the table, the operation, the conflict's class and the
    attempt: never a value. Raises `ConcurrentWriteError` when `attempts` attempts all conflicted,
    and at once on `ConcurrentTransactionException`.
    """
    if getattr(_inside, "active", False):
        return operation()

    def before_sleep(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning("%s on %s: %s (attempt %d of %d); retrying from a fresh snapshot in %.1f s",
                    what, table, conflict_kind(failure) if failure else "conflict", state.attempt_number, attempts,
                    wait)

    retry = Retrying(retry=retry_if_exception(_retried), stop=stop_after_attempt(attempts),
                     wait=wait_random_exponential(multiplier=first_wait, max=max_wait),
                     before_sleep=before_sleep, reraise=True)
    _inside.active = True
    try:
        return retry(operation)
    except Exception as err:
        kind = conflict_kind(err)
        if kind is None:
            raise
        if kind == SAME_TOKEN[0].__name__:
            raise ConcurrentWriteError(
                f"{what} on {table}: another writer committed with the same idempotency token "
                f"({kind}): two streaming queries are running on one checkpoint. Stop the other "
                "`lakehouse stream` (or the other query on this checkpoint), then run this one again") from err
        raise ConcurrentWriteError(
            f"{what} on {table}: concurrent writers kept it from committing {attempts} times ({kind}); "
            "nothing was written by this attempt. Run the step again once the other writers are done "
            "(or run fewer writers on this table at once)") from err
    finally:
        _inside.active = False


def retried(fn: Write) -> Write:
    """Decorate a `storage.delta` write whose table is its `name` argument: `retrying` it whole."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        table = signature.bind(*args, **kwargs).arguments.get("name", "a Delta table")
        return retrying(lambda: fn(*args, **kwargs), str(table), fn.__name__)

    return cast(Write, wrapper)
