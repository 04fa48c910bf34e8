"""Judging a rule: each key of its grain, its value against the threshold, as `Judgement`s.

A key is judged when its value is known and, with `volume` and `min_volume`, its volume reaches the
minimum; a key that is not judged (a quiet day, a missing row) keeps whatever incident it has.
`falls_by` and `rises_by` compare the value with its baseline: the mean of the same key's values on
the `window_days` dates before, each of those judged itself (so a quiet day is not a baseline).

Example (match_rate below 0.80, volume validations, min_volume 20):
    (2026-10-05, North, face, 34 validations, 0.72) -> judged, breaking the rule;
    (2026-10-05, South, face, 3 validations, 0.33) -> not judged.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.config import AlertRule
from lakehouse.errors import ConfigError

DATE = "date"


@dataclass(frozen=True)
class Judgement:
    """One key of a rule's grain, judged."""

    key: tuple[tuple[str, str], ...]  # (column, value as text), in the grain's order
    date: date | None
    region: str | None
    value: float
    baseline: float | None
    volume: int | None
    breaking: bool

    @property
    def text(self) -> str:
        return ", ".join(f"{c}={v}" for c, v in self.key)


def grain(rule: AlertRule, name: str, keys: tuple[str, ...], frame: DataFrame) -> tuple[str, ...]:
    """The rule's grain, checked against the measure's key and columns (one-line config errors)."""
    where = f"alerts.rules.{name}"
    chosen = rule.grain or keys
    if not set(chosen) <= set(keys):
        raise ConfigError(f"{where}.grain: {list(chosen)} must be columns of the key of {rule.table}: {list(keys)}")
    for column, what in ((rule.column, "column"), (rule.volume, "volume")):
        if column is not None and column not in frame.columns:
            raise ConfigError(f"{where}.{what}: {rule.table} has no column '{column}'")
    for column in rule.only:
        if column not in keys:
            raise ConfigError(f"{where}.only: '{column}' is not a key column of {rule.table}: {list(keys)}")
    if set(chosen) != set(keys) and rule.volume is None:
        raise ConfigError(f"{where}: a grain coarser than {rule.table}'s key needs `volume` to weight by")
    if rule.condition in ("falls_by", "rises_by") and DATE not in chosen:
        raise ConfigError(f"{where}: {rule.condition} compares dates, so its grain needs 'date'")
    return tuple(chosen)


def _at_grain(frame: DataFrame, rule: AlertRule, chosen: tuple[str, ...], keys: tuple[str, ...]) -> DataFrame:
    """value, volume and region per key of the grain: the measure's rows, or their volume-weighted mean."""
    region = F.col("region") if "region" in frame.columns else F.lit(None).cast("string")
    volume = F.col(rule.volume).cast("bigint") if rule.volume else F.lit(None).cast("bigint")
    rows = frame.select(*chosen, F.col(rule.column).cast("double").alias("value"), volume.alias("volume"),
                        region.alias("_region"))
    if set(chosen) == set(keys):
        return rows
    weighted = F.when(F.col("value").isNotNull(), F.col("volume"))
    return rows.groupBy(*chosen).agg(
        F.try_divide(F.sum(F.col("value") * weighted), F.sum(weighted).cast("double")).alias("value"),
        F.sum("volume").alias("volume"),
        F.max("_region").alias("_region"),
    )


def judge(frame: DataFrame, rule: AlertRule, name: str, keys: tuple[str, ...]) -> list[Judgement]:
    """Every judged key of `frame` under `rule`, breaking it or not."""
    chosen = grain(rule, name, keys, frame)
    for column, values in rule.only.items():
        frame = frame.where(F.col(column).cast("string").isin(*values))
    rows = _at_grain(frame, rule, chosen, keys)
    judged: Column = F.col("value").isNotNull()
    if rule.volume is not None:
        judged = judged & (F.coalesce(F.col("volume"), F.lit(0)) >= rule.min_volume)
    rows = rows.withColumn("judged", judged)
    baseline = F.lit(None).cast("double")
    if rule.condition in ("falls_by", "rises_by"):
        others = [c for c in chosen if c != DATE]
        days = Window.partitionBy(*others).orderBy(F.unix_date(F.col(DATE))).rangeBetween(-rule.window_days, -1)
        baseline = F.avg(F.when(F.col("judged"), F.col("value"))).over(days)
    rows = rows.withColumn("baseline", baseline)
    value, base, threshold = F.col("value"), F.col("baseline"), F.lit(rule.threshold)
    breaking = {
        "below": value < threshold,
        "above": value > threshold,
        "falls_by": (base - value) > threshold,
        "rises_by": (value - base) > threshold,
    }[rule.condition]
    if rule.condition in ("falls_by", "rises_by"):
        rows = rows.where(base.isNotNull())
    out = rows.where("judged").select(*[F.col(c).cast("string").alias(c) for c in chosen],
                                      *([F.col(DATE).alias("_date")] if DATE in chosen else []),
                                      "_region", "value", "baseline", "volume", breaking.alias("breaking"))
    return [Judgement(tuple((c, row[c]) for c in chosen), row["_date"] if DATE in chosen else None, row["_region"],
                      row["value"], row["baseline"], row["volume"], bool(row["breaking"]))
            for row in out.collect()]
