"""Publishing silver and gold to Glue: real Delta tables under tmp_path, the moto server's Glue."""
from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from lakehouse import contract
from lakehouse.aws.clients import client
from lakehouse.config import Config, load_config
from lakehouse.contract import tables_in
from lakehouse.errors import LakehouseError
from lakehouse.local.aws import LocalAws
from lakehouse.publish.catalog import glue_type, publish_catalog
from lakehouse.storage import delta

PUBLISHED = ("silver.enrollment_events", "silver.offices", "gold.kpi_validation_times_daily")


def _config(root: Path) -> Config:
    suffix = uuid.uuid4().hex[:8]  # one moto server serves the whole session
    return load_config("local", overrides={
        "storage.root": str(root),
        "catalog.silver_database": f"silver_{suffix}",
        "catalog.gold_database": f"gold_{suffix}",
    })


def _glue_entry(glue: Any, database: str, name: str) -> dict[str, Any]:
    return glue.get_table(DatabaseName=database, Name=name)["Table"]


def _databases(config: Config) -> dict[str, str]:
    return {"silver": config.catalog.silver_database, "gold": config.catalog.gold_database}


def _database(config: Config, full_name: str) -> str:
    layer = full_name.split(".")[0]
    return config.catalog.silver_database if layer == "silver" else config.catalog.gold_database


def test_glue_type_maps_spark_types_to_hive_names() -> None:
    schema = T.StructType([
        T.StructField("amount", T.DecimalType(12, 2)),
        T.StructField("tags", T.ArrayType(T.StringType())),
        T.StructField("v", T.StructType([T.StructField("a", T.StringType()),
                                         T.StructField("b", T.ArrayType(T.LongType()))])),
        T.StructField("versions", T.MapType(T.StringType(), T.LongType())),
        T.StructField("local_ts", T.TimestampNTZType()),
        T.StructField("n", T.ShortType()),
    ])
    assert [glue_type(f.dataType) for f in schema.fields] == [
        "decimal(12,2)", "array<string>", "struct<a:string,b:array<bigint>>", "map<string,bigint>",
        "timestamp", "smallint",
    ]
    with pytest.raises(LakehouseError, match=r"gold\.t\.d: type interval day to second"):
        glue_type(T.DayTimeIntervalType(), "gold.t.d")


def test_publish_registers_real_delta_schemas_and_is_idempotent(
    spark: SparkSession, local_aws: LocalAws, tmp_path: Path) -> None:
    config = _config(tmp_path)
    root = config.root
    glue = client("glue", config.aws.region, local_aws.url)
    for name in PUBLISHED:
        delta.ensure(spark, root, name)
    rows = [(date(2026, 10, 1), "North", "face", 4, 2, 1, 1, 2 / 3, 150.0, 330.0, 200.0)]
    delta.append(spark.createDataFrame(rows, contract.schema("gold.kpi_validation_times_daily")), root,
              "gold.kpi_validation_times_daily")
    # A comment set on the Delta column itself, and one where the registry also has a comment (it wins).
    spark.sql(f"ALTER TABLE delta.`{delta.path(root, 'silver.offices')}` ALTER COLUMN region COMMENT 'Region name'")
    spark.sql(f"ALTER TABLE delta.`{delta.path(root, 'silver.enrollment_events')}` "
              "ALTER COLUMN citizen_key COMMENT 'overridden by the registry'")
    # What Spark's own Glue registration leaves behind: the placeholder schema publishing replaces.
    glue.create_database(DatabaseInput={"Name": config.catalog.silver_database})
    glue.create_table(DatabaseName=config.catalog.silver_database, TableInput={
        "Name": "offices", "TableType": "EXTERNAL_TABLE",
        "Parameters": {"spark.sql.sources.provider": "delta"},
        "StorageDescriptor": {"Columns": [{"Name": "col", "Type": "array<string>"}],
                              "Location": delta.path(root, "silver.offices")},
    })
    progress: list[str] = []

    first = publish_catalog(spark, root, _databases(config), glue, progress.append)

    expected_outcomes = {t.full_name: "skipped" for layer in ("silver", "gold") for t in tables_in(layer)}
    expected_outcomes.update({"silver.enrollment_events": "created", "silver.offices": "updated",
                              "gold.kpi_validation_times_daily": "created"})
    assert first == expected_outcomes
    silver = config.catalog.silver_database
    assert f"silver.enrollment_events -> {silver}.enrollment_events: created" in progress
    assert f"silver.offices -> {silver}.offices: updated" in progress
    assert progress[-1].startswith("not published, no Delta table yet: silver.biometric_validations, ")

    for name in PUBLISHED:
        entry = _glue_entry(glue, _database(config, name), name.split(".")[1])
        on_disk = spark.read.format("delta").load(delta.path(root, name)).schema
        columns = entry["StorageDescriptor"]["Columns"]
        # Column by column against the Delta log: these tables only use types whose Spark name is
        # also the Hive name (string, bigint, int, double, boolean, date, timestamp).
        assert [(c["Name"], c["Type"]) for c in columns] == [(f.name, f.dataType.simpleString()) for f in on_disk]
        assert entry["Parameters"]["table_type"] == "DELTA"
        assert entry["Parameters"]["EXTERNAL"] == "TRUE"
        assert entry["TableType"] == "EXTERNAL_TABLE"
        assert entry["StorageDescriptor"]["Location"] == f"{tmp_path}/{name.replace('.', '/')}"

    kpi = _glue_entry(glue, config.catalog.gold_database, "kpi_validation_times_daily")
    assert [(c["Name"], c["Type"]) for c in kpi["StorageDescriptor"]["Columns"]] == [
        ("date", "date"), ("region", "string"), ("modality", "string"), ("validations", "bigint"),
        ("matches", "bigint"), ("no_matches", "bigint"), ("errors", "bigint"), ("match_rate", "double"),
        ("p50_ms", "double"), ("p95_ms", "double"), ("avg_ms", "double"),
    ]
    assert kpi["Description"] == (
        "Biometric validations per UTC day, region and modality; times exclude errors.")
    events = _glue_entry(glue, config.catalog.silver_database, "enrollment_events")
    comments = {c["Name"]: c.get("Comment") for c in events["StorageDescriptor"]["Columns"]}
    assert comments["citizen_key"] == "HMAC-SHA256 of the national ID under the lakehouse secret key"
    assert comments["event_date"] == "UTC date of event_time"
    assert comments["event_id"] is None
    offices = _glue_entry(glue, config.catalog.silver_database, "offices")
    assert [c for c in offices["StorageDescriptor"]["Columns"] if c["Name"] == "region"] == [
        {"Name": "region", "Type": "string", "Comment": "Region name"}]

    before = {name: _glue_entry(glue, _database(config, name), name.split(".")[1]) for name in PUBLISHED}
    second = publish_catalog(spark, root, _databases(config), glue, progress.append)

    assert {name: second[name] for name in PUBLISHED} == {name: "unchanged" for name in PUBLISHED}
    for name in PUBLISHED:
        after = _glue_entry(glue, _database(config, name), name.split(".")[1])
        assert after["VersionId"] == before[name]["VersionId"]
        assert after.get("UpdateTime") == before[name].get("UpdateTime")

    # A producer adds a column with a schema merge: only that entry changes, and it gains the column.
    kpi_path = delta.path(root, "gold.kpi_validation_times_daily")
    wider = spark.read.format("delta").load(kpi_path).selectExpr("*", "CAST(400.0 AS DOUBLE) AS p99_ms")
    wider.write.format("delta").mode("append").option("mergeSchema", "true").save(kpi_path)

    third = publish_catalog(spark, root, _databases(config), glue, progress.append)

    assert {name: third[name] for name in PUBLISHED} == {
        "silver.enrollment_events": "unchanged", "silver.offices": "unchanged",
        "gold.kpi_validation_times_daily": "updated"}
    kpi_after = _glue_entry(glue, config.catalog.gold_database, "kpi_validation_times_daily")
    assert kpi_after["StorageDescriptor"]["Columns"][-1] == {"Name": "p99_ms", "Type": "double"}
    assert len(kpi_after["StorageDescriptor"]["Columns"]) == 12
    assert int(kpi_after["VersionId"]) == int(before["gold.kpi_validation_times_daily"]["VersionId"]) + 1
