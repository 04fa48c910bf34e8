"""Read-only summaries for people: table sizes, quarantine by rule, KPI samples, quality metrics."""
from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.contract import TABLES
from lakehouse.storage import delta


def table_counts(spark: SparkSession, root: str, layers: tuple[str, ...]) -> list[tuple[str, int, int | None]]:
    """(table, rows, Delta version) for every existing table of the given layers."""
    out = []
    for name, t in TABLES.items():
        if t.layer in layers and delta.exists(spark, root, name):
            out.append((name, delta.read(spark, root, name).count(), delta.version(spark, root, name)))
    return out


def quarantine_by_rule(spark: SparkSession, root: str) -> DataFrame:
    frames = [
        delta.read(spark, root, name).select(F.lit(name).alias("table"), F.explode("_failed_rules").alias("rule"))
        for name, t in TABLES.items() if t.layer == "quarantine" and delta.exists(spark, root, name)
    ]
    if not frames:
        return spark.createDataFrame([], "table string, rule string, records bigint")
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionByName(frame)
    return union.groupBy("table", "rule").agg(F.count("*").alias("records")).orderBy("table", "rule")


def latest_quality(spark: SparkSession, root: str) -> DataFrame:
    """Per table, the quality metrics of the latest run that recorded any (batches summed)."""
    metrics = delta.read(spark, root, "ops.quality_metrics")
    latest = metrics.groupBy("table_name").agg(F.max("recorded_at").alias("recorded_at"))
    runs = metrics.join(latest, ["table_name", "recorded_at"], how="inner").select("table_name", "run_id").distinct()
    return (
        metrics.join(runs, ["table_name", "run_id"], how="inner")
        .groupBy("run_id", "table_name", "rule", "severity")
        .agg(F.sum("passed").alias("passed"), F.sum("failed").alias("failed"),
             F.sum("duplicates_dropped").alias("duplicates_dropped"))
        .orderBy("table_name", F.col("rule") != "*", "rule")
    )


def format_rows(header: list[str], rows: list[tuple]) -> str:
    """A plain text table."""
    cells = [[("" if v is None else f"{v:,}" if isinstance(v, int) and not isinstance(v, bool)
               else f"{v:.3f}" if isinstance(v, float) else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def frame_text(df: DataFrame, limit: int = 50) -> str:
    rows = [tuple(r) for r in df.limit(limit).collect()]
    return format_rows(df.columns, rows)
