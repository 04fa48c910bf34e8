"""Personal data as policy: declared once, applied by `pseudonymize`, kept out of every table outside
bronze and quarantine and out of every table's file statistics."""
from __future__ import annotations

import ast
import hashlib
import hmac
import json
from pathlib import Path

from pyspark.sql import SparkSession

from lakehouse.contract import BRONZE_EVENTS, TABLES, schema
from lakehouse.personal import PERSONAL_LAYERS, POLICY, personal_names, pseudonymize
from lakehouse.storage import delta

PACKAGE = Path(__file__).resolve().parents[2] / "lakehouse"
KEY = b"test-key-for-pseudonymization"
# What the policy must call personal, written out here from the issue: IDs, names, birth dates,
# operator names, free-text notes, and the raw record that carries them all.
EXPECTED_PERSONAL = {
    "bronze.enrollment_events": {"national_id", "full_name", "birth_date", "_raw"},
    "bronze.operators": {"full_name", "_raw"},
    "bronze.office_reports": {"notes", "_raw"},
}


def test_the_policy_names_every_personal_column_of_every_source(spark: SparkSession) -> None:
    assert {name: {p.column for p in columns} for name, columns in POLICY.items()} == EXPECTED_PERSONAL
    for name, columns in POLICY.items():
        assert {p.column for p in columns} <= set(schema(name).fieldNames()), name


def test_no_table_outside_bronze_and_quarantine_has_a_personal_column(spark: SparkSession) -> None:
    personal = personal_names()
    for name, t in TABLES.items():
        if t.layer not in PERSONAL_LAYERS and name != "ops.erasure_requests":
            assert not personal & set(schema(name).fieldNames()), name


def test_no_silver_gold_or_rule_code_names_a_personal_column() -> None:
    personal = personal_names()
    for folder in ("silver", "gold", "quality"):
        for path in sorted((PACKAGE / folder).rglob("*.py")):
            literals = {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)}
            assert not personal & literals, f"{path.name} names {sorted(personal & literals)}"


def test_pseudonymize_applies_each_treatment(spark: SparkSession) -> None:
    columns = spark.createDataFrame([], BRONZE_EVENTS).columns
    row = dict.fromkeys(columns)
    row.update(event_id="e1", national_id="40718231", full_name="Ana Test", birth_date="1990-05-17",
               _raw='{"national_id": "40718231"}')
    df = spark.createDataFrame([tuple(row[c] for c in columns)], BRONZE_EVENTS)
    out = pseudonymize(df, "bronze.enrollment_events", KEY)
    assert not {"national_id", "full_name", "birth_date", "_raw"} & set(out.columns)
    got = out.select("event_id", "citizen_key", "birth_year").first()
    assert got["citizen_key"] == hmac.new(KEY, b"40718231", hashlib.sha256).hexdigest()
    assert (got["event_id"], got["birth_year"]) == ("e1", 1990)


def _stats_columns(table_path: Path) -> set[str]:
    """Every column named in the file statistics of every commit of a table's `_delta_log`."""
    found: set[str] = set()
    for commit in sorted((table_path / "_delta_log").glob("*.json")):
        for line in commit.read_text().splitlines():
            add = json.loads(line).get("add")
            if add and add.get("stats"):
                stats = json.loads(add["stats"])
                for part in ("minValues", "maxValues", "nullCount"):
                    found |= set(stats.get(part, {}))
    return found


def test_personal_tables_keep_statistics_for_lineage_only(spark: SparkSession, tmp_path: Path) -> None:
    root = str(tmp_path)
    columns = spark.createDataFrame([], BRONZE_EVENTS).columns
    row = dict.fromkeys(columns)
    row.update(event_id="e1", national_id="40718231", full_name="Ana Test", _source="f.jsonl:1", _batch_id="b")
    df = spark.createDataFrame([tuple(row[c] for c in columns)], BRONZE_EVENTS)
    delta.append(df, root, "bronze.enrollment_events")
    stats = _stats_columns(tmp_path / "bronze" / "enrollment_events")
    assert stats and stats <= {"_source", "_ingested_at", "_batch_id"}
    raw = b"".join(p.read_bytes() for p in (tmp_path / "bronze" / "enrollment_events" / "_delta_log").rglob("*")
                   if p.is_file())
    assert b"40718231" not in raw and b"Ana Test" not in raw


def test_a_table_made_without_the_property_gains_it_before_its_next_write(spark: SparkSession,
                                                                         tmp_path: Path) -> None:
    root = str(tmp_path)
    quarantine = schema("quarantine.enrollment_events")
    row = dict.fromkeys(quarantine.fieldNames())
    row.update(event_id="e1", national_id="40718231", _source="f.jsonl:1", _failed_rules=["x"])
    df = spark.createDataFrame([tuple(row[c] for c in quarantine.fieldNames())], quarantine)
    df.write.format("delta").save(delta.path(root, "quarantine.enrollment_events"))  # as an old version did
    delta.append(df.withColumn("_source", df["_source"].substr(1, 2)), root, "quarantine.enrollment_events")
    assert delta.properties(spark, root, "quarantine.enrollment_events")["delta.dataSkippingStatsColumns"] \
        == "_source,_ingested_at,_batch_id"
    latest = sorted((tmp_path / "quarantine" / "enrollment_events" / "_delta_log").glob("*.json"))[-1]
    assert b"40718231" not in latest.read_bytes()
