"""A Delta table's version and commit metadata, read from its log files (no Spark job)."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import SparkSession

from lakehouse.storage import files


def version_at(spark: SparkSession, location: str) -> int | None:
    """The latest version of the Delta table at `location`, from its log's file names, or None."""
    commits = [int(name[:-5]) for name in files.list_names(spark, f"{location}/_delta_log")
               if name.endswith(".json") and name[:-5].isdigit()]
    return max(commits) if commits else None


def commit_info_at(spark: SparkSession, location: str, version: int) -> dict[str, Any]:
    """The commitInfo of commit `version` of the table at `location`; {} if it has none."""
    for line in (files.read_text(spark, f"{location}/_delta_log/{version:020d}.json") or "").splitlines():
        info = json.loads(line).get("commitInfo") if line.strip() else None
        if info is not None:
            return dict(info)
    return {}


def rows_written(info: dict[str, Any]) -> int:
    """Rows a commit wrote (appends) or inserted (merges), from its commitInfo."""
    metrics = info.get("operationMetrics") or {}
    return int(metrics.get("numOutputRows") or metrics.get("numTargetRowsInserted") or 0)


def committed_at(info: dict[str, Any]) -> datetime | None:
    """When a commit was made (UTC), from its commitInfo."""
    millis = info.get("inCommitTimestamp") or info.get("timestamp")
    return datetime.fromtimestamp(int(millis) / 1000, UTC) if millis else None


def _commit_actions(spark: SparkSession, location: str, version: int) -> list[dict[str, Any]] | None:
    """The actions of commit `version` (None when its log file is gone)."""
    text = files.read_text(spark, f"{location}/_delta_log/{version:020d}.json")
    return None if text is None else [json.loads(line) for line in text.splitlines() if line.strip()]


def feed_files(actions: list[dict[str, Any]]) -> list[str]:
    """The data files the change data feed reads for one commit's actions (paths relative to the
    table): its `cdc` files when it wrote any, else the files it added or removed with a data
    change (an insert-only commit writes no change file: its new files are the change)."""
    cdc = [a["cdc"]["path"] for a in actions if "cdc" in a]
    if cdc:
        return cdc
    return [a[kind]["path"] for a in actions for kind in ("add", "remove")
            if kind in a and a[kind].get("dataChange", True)]  # none for a commit that changes no data


def feed_versions(spark: SparkSession, location: str, start: int, upto: int) -> list[int] | None:
    """The versions from `start` to `upto` whose change data feed holds rows (those with a data
    change: an OPTIMIZE, a REORG or a VACUUM changes none), or None when that feed can no longer be
    read: a commit's log file is gone, or a data file the feed reads for it (a VACUUM removes change
    files and removed files once they pass the retention; an erasure's, at once). Whether the feed
    was on for those versions is Delta's own check, made when the feed is read."""
    from urllib.parse import unquote

    needed: set[str] = set()
    changing = []
    for version in range(start, upto + 1):
        actions = _commit_actions(spark, location, version)
        if actions is None:
            return None
        paths = feed_files(actions)
        if paths:
            changing.append(version)
            needed.update(unquote(p) for p in paths)
    if needed and not needed <= files.relative_files(spark, location):
        return None
    return changing
