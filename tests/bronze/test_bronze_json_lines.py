"""JSON lines shaped into bronze: every line kept, bad ones flagged, unknown fields only in _raw."""
from __future__ import annotations

import datetime as dt

from pyspark.sql import SparkSession

from lakehouse.bronze.json_lines import bronze_json_lines

LINES = "_file string, _file_modified_at timestamp, line_no int, line string"
T = dt.datetime(2026, 10, 2)


def test_events_are_parsed_as_text_and_malformed_lines_are_flagged(spark: SparkSession) -> None:
    lines = spark.createDataFrame([
        ("a.jsonl", T, 1, '{"event_id": "e1", "schema_version": 1, "validation": {"score": 0.25}, "new": [1]}'),
        ("a.jsonl", T, 2, '{"event_id": "e2", "truncat'),
        ("a.jsonl", T, 3, '["an", "array"]'),
        ("a.jsonl", T, 4, "null"),
        ("a.jsonl", T, 5, '"just a string"'),
    ], LINES)
    at = dt.datetime(2026, 10, 2, 6, 0, 0, 500)  # the moment of ingestion, pinned (UTC)
    ingested_at = spark.createDataFrame([(at,)], "moment timestamp")
    rows = {r["_source"]: r for r in bronze_json_lines(lines, "bronze.enrollment_events", "b1", ingested_at).collect()}
    assert set(rows) == {"a.jsonl:1", "a.jsonl:2", "a.jsonl:3", "a.jsonl:4", "a.jsonl:5"}
    good = rows["a.jsonl:1"]
    assert (good["event_id"], good["schema_version"], good["validation"]["score"]) == ("e1", "1", "0.25")
    assert good["_parse_error"] is None and good["_batch_id"] == "b1"
    assert {r["_ingested_at"] for r in rows.values()} == {at}
    assert '"new": [1]' in good["_raw"]
    for bad in ("a.jsonl:2", "a.jsonl:3", "a.jsonl:4", "a.jsonl:5"):
        assert rows[bad]["_parse_error"] == "malformed JSON: not a JSON object"
        assert rows[bad]["event_id"] is None
    assert rows["a.jsonl:2"]["_raw"] == '{"event_id": "e2", "truncat'
