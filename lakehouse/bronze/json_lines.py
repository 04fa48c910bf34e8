"""Bronze shaping of JSON-lines sources (enrollment event files, device logs)."""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.contract import schema
from lakehouse.functions import stamp

_CORRUPT = "_corrupt_record"
_META = {"_raw", "_source", "_ingested_at", "_batch_id", "_file", "_file_modified_at", "_arrived_at", "_parse_error"}


def source_fields(table_name: str) -> T.StructType:
    """The source's own fields of a bronze table (its schema without the metadata columns)."""
    return T.StructType([f for f in schema(table_name).fields if f.name not in _META])


def bronze_json_lines(lines: DataFrame, table_name: str, batch_id: str, ingested_at: DataFrame) -> DataFrame:
    """JSON lines of files (`_file`, `_file_modified_at`, `line_no`, `line`) in a bronze table's shape.

    Grain: one row per non-blank line; `_source` is "<file>:<line number>". Fields are read as text
    (typing happens in silver), so a value of an unexpected type is never lost; fields the contract
    does not name stay in `_raw`.

    Example:
        ``_file=a.jsonl, line_no=2, line='{"event_id": "e1", "x": 1}'`` ->
        ``event_id="e1", _source="a.jsonl:2", _raw='{"event_id": "e1", "x": 1}', _parse_error=null``;
        ``line='{oops'`` -> all fields null, ``_parse_error="malformed JSON: not a JSON object"``.
    """
    records = lines.select(
        "line",
        F.concat_ws(":", "_file", F.col("line_no").cast("string")).alias("_source"),
        "_file",
        "_file_modified_at",
        F.lit(None).cast("timestamp").alias("_arrived_at"),
        F.lit(None).cast("string").alias("_parse_error"),
    )
    return parse_json_records(records, table_name, batch_id, ingested_at)


def parse_json_records(records: DataFrame, table_name: str, batch_id: str, ingested_at: DataFrame) -> DataFrame:
    """Records (`line`, `_source`, `_file`, `_file_modified_at`, `_arrived_at`, `_parse_error`) -> bronze.

    A record already flagged (`_parse_error` set, e.g. bytes that are not UTF-8) keeps its reason;
    one that is not a JSON object is flagged here. Fields are read as text (typing happens in
    silver), so a value of an unexpected type is never lost.
    """
    fields = source_fields(table_name)
    # One parse: a line that is not a JSON object (malformed, an array, a bare value) lands whole
    # in the corrupt-record field.
    parsing = T.StructType([*fields.fields, T.StructField(_CORRUPT, T.StringType())])
    parsed = records.withColumn("_parsed", F.from_json("line", parsing, {"columnNameOfCorruptRecord": _CORRUPT}))
    is_object = F.col("_parsed").isNotNull() & F.col(f"_parsed.{_CORRUPT}").isNull()
    error = F.coalesce(F.col("_parse_error"), F.when(~is_object, F.lit("malformed JSON: not a JSON object")))
    parsed = (
        parsed.withColumn("_parse_error", error)
        .withColumn("_parsed", F.when(F.col("_parse_error").isNull(), F.col("_parsed")))
    )
    return parsed.transform(stamp, "_ingested_at", ingested_at).select(
        *[F.col(f"_parsed.{f.name}").alias(f.name) for f in fields],
        F.col("line").alias("_raw"),
        "_source",
        "_ingested_at",
        F.lit(batch_id).alias("_batch_id"),
        "_file",
        "_file_modified_at",
        *(["_arrived_at"] if "_arrived_at" in schema(table_name).fieldNames() else []),
        "_parse_error",
    )
