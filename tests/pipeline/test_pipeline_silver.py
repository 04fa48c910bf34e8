"""The silver step's reference tables: the document inventory rebuilt for the paths bronze gained."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from lakehouse.contract import BRONZE_DOCUMENTS
from lakehouse.pipeline.silver import build_reference
from lakehouse.storage import delta

UTC = dt.UTC
DAY1, DAY2 = dt.datetime(2026, 11, 20, tzinfo=UTC), dt.datetime(2026, 11, 21, tzinfo=UTC)
M1, M2 = dt.datetime(2026, 11, 19, 10, tzinfo=UTC), dt.datetime(2026, 11, 19, 11, tzinfo=UTC)


def _merged(spark: SparkSession, root: str) -> dict[str, str]:
    """The row counts of the table's last MERGE: rows inserted, updated, deleted."""
    history = DeltaTable.forPath(spark, delta.path(root, "silver.documents")).history(1).first()
    assert history["operation"] == "MERGE"
    return {k: history["operationMetrics"][f"numTargetRows{k}"] for k in ("Inserted", "Updated", "Deleted")}


def test_the_step_rebuilds_only_the_paths_bronze_gained(spark: SparkSession, tmp_path: Path) -> None:
    root = str(tmp_path)
    delta.ensure(spark, root, "bronze.offices")
    rows = [("docs/a.pdf", 10, "application/pdf", "aa", M1, "{}", "docs/a.pdf", DAY1, "b1"),
            ("docs/b.png", 5, "image/png", "b1", M1, "{}", "docs/b.png", DAY1, "b1")]
    delta.append(spark.createDataFrame(rows, BRONZE_DOCUMENTS), root, "bronze.documents")
    build_reference(spark, root, print)
    first = delta.version(spark, root, "silver.documents")
    # day 2: a.pdf changed, c.txt is new, b.png is as it was
    later = [("docs/a.pdf", 12, "application/pdf", "ab", M2, "{}", "docs/a.pdf", DAY2, "b2"),
             ("docs/c.txt", 3, "text/plain", "c1", M2, "{}", "docs/c.txt", DAY2, "b2")]
    delta.append(spark.createDataFrame(later, BRONZE_DOCUMENTS), root, "bronze.documents")

    build_reference(spark, root, print)

    got = sorted(tuple(r) for r in delta.read(spark, root, "silver.documents").select("path", "size", "sha256")
                 .collect())
    assert got == [("docs/a.pdf", 12, "ab"), ("docs/b.png", 5, "b1"), ("docs/c.txt", 3, "c1")]
    assert delta.version(spark, root, "silver.documents") == (first or 0) + 1
    assert _merged(spark, root) == {"Inserted": "1", "Updated": "1", "Deleted": "0"}  # b.png left alone
    build_reference(spark, root, print)  # nothing new: no commit
    assert delta.version(spark, root, "silver.documents") == (first or 0) + 1
