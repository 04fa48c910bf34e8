"""What alert rules judge: a gold KPI table as it is, or one of the operations measures built here.

The ops measures are small frames computed from the ops tables and bronze's lineage at one moment
(`now`), each with its key:

- `ops.quarantine_share` (`table_name`): of each silver table's latest run, the share of rows sent
  to quarantine (`share`) out of all it judged (`records`), from `ops.quality_metrics`.
- `ops.freshness` (`step`): minutes since each step last ended well (succeeded or no change),
  from `ops.pipeline_runs` (`age_minutes`).
- `ops.stream_lag` (`stream`): how far the stream's latest micro-batch ran behind the arrival of
  its oldest record, in seconds (`lag_seconds`: its `_ingested_at` less its earliest Kinesis
  `_arrived_at`), and the batch's `records`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.contract import TABLES
from lakehouse.errors import ConfigError
from lakehouse.ops.summaries import latest_quality
from lakehouse.pipeline.clock import moment
from lakehouse.storage import delta

GOOD_RUNS = ("succeeded", "no_change")
STREAM_TABLE = "bronze.enrollment_events"
# The stream's batches are read from bronze's files committed this long before its latest commit
# (the files' `_ingested_at` statistics skip the rest): a batch is one commit.
STREAM_LOOKBACK = timedelta(hours=1)


@dataclass(frozen=True)
class Measure:
    """A frame an alert rule can judge: its key columns and how it is read (None: nothing to judge)."""

    keys: tuple[str, ...]
    read: Callable[[SparkSession, str, datetime], DataFrame | None]
    ops: bool = False  # judged by the stream too (freshness and lag do not wait for gold)
    # Its values move with the clock (an age): an open incident keeps the figures it opened with,
    # or every evaluation would change it.
    clocked: bool = False


def _gold(name: str) -> Callable[[SparkSession, str, datetime], DataFrame | None]:
    def read(spark: SparkSession, root: str, now: datetime) -> DataFrame | None:
        return delta.read(spark, root, name) if delta.exists(spark, root, name) else None
    return read


def quarantine_share(spark: SparkSession, root: str, now: datetime) -> DataFrame | None:
    """Per silver table, the quarantined share of its latest run's rows (rule '*': the totals)."""
    if not delta.exists(spark, root, "ops.quality_metrics"):
        return None
    totals = latest_quality(delta.read(spark, root, "ops.quality_metrics")).where(F.col("rule") == "*")
    records = F.col("passed") + F.col("failed")
    return totals.select("table_name", F.try_divide(F.col("failed").cast("double"), records.cast("double"))
                         .alias("share"), records.alias("records"))


def freshness(spark: SparkSession, root: str, now: datetime) -> DataFrame | None:
    """Per step, the minutes from its latest good end to `now`."""
    if not delta.exists(spark, root, "ops.pipeline_runs"):
        return None
    runs = delta.read(spark, root, "ops.pipeline_runs").where(F.col("status").isin(*GOOD_RUNS))
    at = moment(spark, now)
    return (runs.groupBy("step").agg(F.max("finished_at").alias("finished_at"))
            .crossJoin(at)
            .select("step", ((F.unix_micros("moment") - F.unix_micros("finished_at")) / 60e6).alias("age_minutes")))


def stream_lag(spark: SparkSession, root: str, now: datetime) -> DataFrame | None:
    """The stream's latest micro-batch: seconds from its oldest record's arrival to its ingestion."""
    latest = delta.latest_commit(spark, root, STREAM_TABLE)
    if latest is None or latest[1] is None:
        return None
    since = latest[1] - STREAM_LOOKBACK
    batches = (delta.read(spark, root, STREAM_TABLE)
               .where(F.col("_ingested_at") >= F.lit(since))
               .where(F.col("_batch_id").startswith("stream-") & F.col("_arrived_at").isNotNull()))
    last = batches.agg(F.max("_ingested_at").alias("_ingested_at"))
    lag = F.unix_micros(F.max("_ingested_at")) - F.unix_micros(F.min("_arrived_at"))
    return (batches.join(last, "_ingested_at", "left_semi")
            .agg((lag / 1e6).alias("lag_seconds"), F.count(F.lit(1)).alias("records"))
            .where(F.col("records") > 0)
            .select(F.lit("kinesis").alias("stream"), "lag_seconds", "records"))


OPS_MEASURES: dict[str, Measure] = {
    "ops.quarantine_share": Measure(("table_name",), quarantine_share),
    "ops.freshness": Measure(("step",), freshness, ops=True, clocked=True),
    "ops.stream_lag": Measure(("stream",), stream_lag, ops=True),
}


def measure(name: str, rule: str) -> Measure:
    """The measure a rule's `table` names: a gold KPI table (its contract key) or an ops measure."""
    if name in OPS_MEASURES:
        return OPS_MEASURES[name]
    if name.startswith("gold.kpi_") and name in TABLES:
        return Measure(TABLES[name].keys, _gold(name))
    known = sorted([n for n in TABLES if n.startswith("gold.kpi_")] + list(OPS_MEASURES))
    raise ConfigError(f"alerts.rules.{rule}.table: unknown table '{name}' (known: {', '.join(known)})")
