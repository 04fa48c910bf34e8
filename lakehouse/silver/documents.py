"""Document inventory: the latest known version of each document file."""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.contract import conform
from lakehouse.silver import first_per_key


def _latest() -> list[Column]:
    return [F.col("_ingested_at").desc(), F.col("modified_at").desc()]


def clean_documents(bronze_documents: DataFrame) -> DataFrame:
    """The latest inventory row of each document path.

    Grain: one row per `path`; the latest `_ingested_at` wins, then the latest `modified_at`.

    Args:
        bronze_documents: rows in the `bronze.documents` schema.

    Returns:
        Rows in the `silver.documents` schema. Example: ("a.pdf", 10 bytes, ingested day 1),
        ("a.pdf", 12 bytes, ingested day 2) -> ("a.pdf", 12, ...).
    """
    return conform(
        bronze_documents.transform(first_per_key, ["path"], _latest()).select(
            "path", "size", "content_type", "sha256", "modified_at", "_ingested_at"
        ),
        "silver.documents",
    )
