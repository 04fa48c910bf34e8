"""The leak scan: bronze's IDs and names found in silver, gold, PostgreSQL or the dashboard fail the
run, naming the place and the column, never the value."""
from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.security.leak_scan import Leak, scan_frame, scan_statistics, scan_text, text_candidates
from lakehouse.storage import delta

ID, NAME = "40718231", "Ana María López"


def test_a_frame_leaks_whole_values_and_tokens_but_not_uuid_parts(spark: SparkSession) -> None:
    values = spark.createDataFrame([(ID, "national-id"), (NAME, "name")], "value string, kind string")
    df = spark.createDataFrame([
        ("a", "clean", "e7a1c3d2-4071-8231-9abc-0123456789ab"),   # an ID's digits inside a UUID: one token
        ("b", f"lookup failed for {ID}: retry", None),
        ("c", None, NAME),
    ], "k string, message string, who string")
    assert scan_frame(df, "t", values) == [Leak("t", "message", "national-id"), Leak("t", "who", "name")]
    assert scan_frame(df.where("k = 'a'"), "t", values) == []


def test_a_text_leaks_ids_and_names_inside_markup() -> None:
    values = {ID: "national-id", NAME: "name"}
    page = f'<td class="x">{NAME}</td><script>{{"n": "{ID}"}}</script>'
    assert scan_text(page, "dash.html", values) == [Leak("dash.html", "text", "name"),
                                                    Leak("dash.html", "text", "national-id")]
    assert scan_text("<td>Ana María</td> 4071823 407182311", "d", values) == []
    assert {"Ana María López", ID} <= text_candidates(f"{NAME}, {ID}")


def test_a_personal_column_in_statistics_is_a_leak(spark: SparkSession, tmp_path: Path) -> None:
    root = str(tmp_path)
    # silver.documents keeps statistics on its first 32 columns: a personal column there would be in them
    rows = spark.createDataFrame([("p", 1, "t", "s", None, None)],
                                 "path string, size bigint, content_type string, sha256 string, "
                                 "modified_at timestamp, _ingested_at timestamp")
    delta.overwrite(rows, root, "silver.documents")
    assert scan_statistics(spark, root, ["silver.documents"]) == []
    # a writer that went around the contract and added a personal column (schema merge)
    rows.withColumn("full_name", F.lit("x")).write.format("delta").mode("append").option("mergeSchema", "true") \
        .save(delta.path(root, "silver.documents"))
    assert scan_statistics(spark, root, ["silver.documents"]) == [Leak("silver.documents", "full_name", "statistics")]
