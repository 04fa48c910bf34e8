"""The leak scan: bronze's IDs and names found in silver, gold, PostgreSQL or the dashboard fail the
run, naming the place and the column, never the value."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse import app
from lakehouse.config import load_config
from lakehouse.datagen import generate
from lakehouse.security.leak_scan import Leak, LeakError, scan_frame, scan_statistics, scan_text, text_candidates
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


@pytest.fixture(scope="module")
def lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("leak_lake")
    config = load_config("local", {"storage.root": str(root), "export.schema": "leak_gold"})
    settings = dataclasses.replace(config.datagen, days=3, offices=4, enrollments=40, seed=5)
    with app.registry(config) as endpoint:
        generate(f"{root}/landing", settings, registry=endpoint)
    reports = [*app.run_all(spark, config), app.run_export(spark, config)]
    app.write_dashboard(spark, config)
    return {"config": config, "root": str(root), "reports": reports}


@pytest.mark.slow
def test_a_clean_build_passes_the_scan(lake: dict[str, Any]) -> None:
    assert [r.status for r in lake["reports"]] == ["succeeded"] * 4


@pytest.mark.slow
def test_smuggled_ids_and_names_fail_the_step_that_wrote_them(spark: SparkSession, lake: dict[str, Any]) -> None:
    config, root = lake["config"], lake["root"]
    bronze = delta.read(spark, root, "bronze.enrollment_events").where("national_id RLIKE '^[0-9]{8}$'")
    person = bronze.select("national_id", "full_name").first()
    national_id, full_name = person["national_id"], person["full_name"]

    # 1. an export whose gold table carries a name (a bug that skipped the policy)
    offices = delta.read(spark, root, "gold.dim_office")
    delta.overwrite(offices.withColumn("name", F.when(F.col("office_id") == "UNKNOWN", F.lit(full_name))
                                       .otherwise(F.col("name"))), root, "gold.dim_office")
    with pytest.raises(LeakError) as caught:
        app.run_export(spark, config)
    assert str(caught.value) == ("personal data outside bronze and quarantine: "
                                 "postgres:leak_gold.dim_office.name (name)")

    # 2. a dashboard showing an ID as a region
    kpis = delta.read(spark, root, "gold.kpi_enrollments_daily")
    delta.overwrite(kpis.withColumn("region", F.lit(national_id)), root, "gold.kpi_enrollments_daily")
    with pytest.raises(LeakError, match=r"dashboard/index.html \(national-id\)$"):
        app.write_dashboard(spark, config)

    # 3. a source that carries an ID where the policy does not expect one: a device log's message
    line = {"device_id": "DEV-X-1", "office_id": "OF-0001", "ts": "2026-10-02T10:00:00.000Z", "level": "ERROR",
            "message": f"card reader: document {national_id} unreadable", "firmware": "1.0"}
    Path(root, "landing", "device_logs", "device_logs-smuggled.jsonl").write_text(json.dumps(line) + "\n")
    app.run_ingest(spark, config)
    with pytest.raises(LeakError, match=r": silver.device_logs.message \(national-id\)$"):
        app.run_silver(spark, config)
    runs = delta.read(spark, root, "ops.pipeline_runs").where("step = 'silver' AND status = 'failed'").collect()
    assert [r["message"] for r in runs] == ["personal data outside bronze and quarantine: "
                                            "silver.device_logs.message (national-id)"]
    for text in (str(caught.value), runs[0]["message"]):
        assert national_id not in text and full_name not in text
