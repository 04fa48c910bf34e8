"""Bronze shaping of JSON-lines sources (enrollment event files, device logs)."""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.io import schema

_META = {"_raw", "_source", "_ingested_at", "_batch_id", "_file", "_file_modified_at", "_parse_error"}


def source_fields(table_name: str) -> T.StructType:
    """The source's own fields of a bronze table (its schema without the metadata columns)."""
    return T.StructType([f for f in schema(table_name).fields if f.name not in _META])


def bronze_json_lines(lines: DataFrame, table_name: str, batch_id: str) -> DataFrame:
    """Parse JSON lines into a bronze table's shape; a line that is not a JSON object is kept, flagged.

    Grain: one row per non-blank line. Fields are read as text (typing happens in silver), so a
    value of an unexpected type is never lost; fields the contract does not name stay in `_raw`.

    Example:
        ``_file=a.jsonl, line_no=2, line='{"event_id": "e1", "x": 1}'`` ->
        ``event_id="e1", _source="a.jsonl:2", _raw='{"event_id": "e1", "x": 1}', _parse_error=null``;
        ``line='{oops'`` -> all fields null, ``_parse_error="malformed JSON: not a JSON object"``.
    """
    fields = source_fields(table_name)
    is_object = F.ltrim("line").startswith("{") & F.try_parse_json("line").isNotNull()
    parsed = (
        lines.withColumn("_parsed", F.when(is_object, F.from_json("line", fields)))
        .withColumn("_parse_error", F.when(~is_object, F.lit("malformed JSON: not a JSON object")))
    )
    return parsed.select(
        *[F.col(f"_parsed.{f.name}").alias(f.name) for f in fields],
        F.col("line").alias("_raw"),
        F.concat_ws(":", "_file", F.col("line_no").cast("string")).alias("_source"),
        F.current_timestamp().alias("_ingested_at"),
        F.lit(batch_id).alias("_batch_id"),
        "_file",
        "_file_modified_at",
        "_parse_error",
    )
