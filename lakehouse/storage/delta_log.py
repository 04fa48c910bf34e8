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
