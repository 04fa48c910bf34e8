"""Bronze shaping of the document inventory (path, size, type, SHA-256; never the bytes)."""
from __future__ import annotations

import mimetypes

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.functions import stamp

_EXTRA_TYPES = {"jsonl": "application/x-ndjson", "heic": "image/heic", "webp": "image/webp"}


def _content_types() -> dict[str, str]:
    types = {ext.lstrip("."): ctype for ext, ctype in mimetypes.types_map.items()}
    return {**types, **_EXTRA_TYPES}


def bronze_documents(inventory: DataFrame, batch_id: str, ingested_at: DataFrame) -> DataFrame:
    """Grain: one row per document file version seen.

    Example: ``path=".../scan-1.png", size=68, sha256="9f..", modified_at=t`` ->
    the same plus ``content_type="image/png"``, ``_source=path``, ``_raw`` the row as JSON.
    """
    mapping = F.create_map(*[F.lit(x) for kv in sorted(_content_types().items()) for x in kv])
    extension = F.lower(F.regexp_extract("path", r"\.([^./]+)$", 1))
    return (
        inventory.transform(stamp, "_ingested_at", ingested_at)
        .withColumn("content_type", F.coalesce(mapping[extension], F.lit("application/octet-stream")))
        .select(
            "path", "size", "content_type", "sha256", "modified_at",
            F.to_json(F.struct("path", "size", "sha256", "modified_at")).alias("_raw"),
            F.col("path").alias("_source"),
            "_ingested_at",
            F.lit(batch_id).alias("_batch_id"),
        )
    )
