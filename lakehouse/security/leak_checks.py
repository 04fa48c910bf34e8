"""The leak scan as the app layer runs it after each step (`lakehouse.security.leak_scan` does the
looking): unless `security.leak_scan` is off, each check raises `LeakError`, naming the place and
column (never the value), when personal data reached a place it may not."""
from __future__ import annotations

import time
from collections.abc import Callable

from pyspark.sql import SparkSession

from lakehouse.config import Config
from lakehouse.security import leak_scan
from lakehouse.sources.postgres import Endpoint, connect
from lakehouse.storage import files


def check_tables(spark: SparkSession, config: Config, names: list[str], progress: Callable[[str], None]) -> None:
    """The Delta tables a step wrote."""
    if not config.security.leak_scan or not names:
        return
    started = time.monotonic()
    leaks = leak_scan.scan_tables(spark, config.root, names)
    if leaks:
        raise leak_scan.LeakError(leaks)
    progress(f"leak scan: no personal data in {len(names)} tables written ({time.monotonic() - started:.1f} s)")


def check_postgres(spark: SparkSession, config: Config, endpoint: Endpoint, progress: Callable[[str], None]) -> None:
    """The exported PostgreSQL schema (`export.schema`)."""
    if not config.security.leak_scan:
        return
    started = time.monotonic()
    values = leak_scan.collect_values(spark, config.root)
    with connect(endpoint, "export database") as conn:
        leaks = leak_scan.scan_postgres(conn, config.export.schema, values)
    if leaks:
        raise leak_scan.LeakError(leaks)
    progress(f"leak scan: no personal data in PostgreSQL schema {config.export.schema} "
             f"({time.monotonic() - started:.1f} s)")


def check_file(spark: SparkSession, config: Config, location: str) -> None:
    """A text file the lake wrote for people to read (the dashboard)."""
    if not config.security.leak_scan:
        return
    leaks = leak_scan.scan_text(files.read_text(spark, location) or "", location, leak_scan.collect_values(
        spark, config.root))
    if leaks:
        raise leak_scan.LeakError(leaks)
