"""BI views: Trino SQL files, run on Spark against hand-made gold tables, created through moto's Athena."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from pyspark.sql import SparkSession
from sqlglot import exp

from lakehouse import contract
from lakehouse.aws.clients import client
from lakehouse.config import load_config
from lakehouse.errors import LakehouseError
from lakehouse.local.aws import LocalAws
from lakehouse.publish import views
from lakehouse.storage import delta

VIEWS_DIR = Path(views.__file__).parent / "views"
EXPECTED_VIEWS = ["enrollments_monthly", "office_attendance_monthly", "validation_times_by_modality"]

D = date
KPI_ENROLLMENTS = [
    # date, region, channel, started, completed, cancelled, completion_rate
    (D(2026, 10, 1), "North", "web", 4, 2, 1, 0.5),
    (D(2026, 10, 15), "North", "web", 6, 3, 0, 0.5),
    (D(2026, 10, 20), "North", "office", 0, 2, 0, None),  # completions of enrollments started earlier
    (D(2026, 10, 31), "South", "web", 3, 1, 2, 1 / 3),
    (D(2026, 11, 2), "North", "web", 5, 5, 0, 1.0),
]
KPI_VALIDATIONS = [
    # date, region, modality, validations, matches, no_matches, errors, match_rate, p50, p95, avg
    (D(2026, 10, 1), "North", "face", 4, 2, 1, 1, 2 / 3, 150.0, 330.0, 200.0),
    (D(2026, 10, 2), "South", "face", 2, 1, 0, 1, 1.0, 100.0, 100.0, 100.0),
    (D(2026, 10, 3), "North", "face", 1, 0, 0, 1, None, None, None, None),  # errors only: no times
    (D(2026, 10, 1), "North", "iris", 2, 0, 2, 0, 0.0, 500.0, 590.0, 500.0),
    (D(2026, 11, 5), "North", "face", 1, 1, 0, 0, 1.0, 50.0, 50.0, 50.0),
    (D(2026, 12, 1), "North", "fingerprint", 2, 0, 0, 2, None, None, None, None),
]
KPI_OFFICES = [
    # date, office, region, scheduled, attended, attendance_rate, staffed_hours, completed, per_hour
    (D(2026, 10, 1), "OF-1", "North", 10, 8, 0.8, 8.0, 4, 0.5),
    (D(2026, 10, 2), "OF-1", "North", 20, 15, 0.75, 8.0, 6, 0.75),
    (D(2026, 10, 3), "OF-1", "North", None, None, None, None, 3, None),  # completions, no report
    (D(2026, 10, 20), "OF-1", "South", 5, 5, 1.0, 4.0, 2, 0.5),  # the office moved region
    (D(2026, 10, 1), "OF-2", "North", 0, 0, None, 0.0, 0, None),  # a closed day: all zero
    (D(2026, 11, 1), "OF-1", "South", 10, 9, 0.9, 6.0, 3, 0.5),
]


@pytest.fixture(scope="module")
def gold_db(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark database named like a gold Glue database, its tables Delta under a tmp root."""
    root = str(tmp_path_factory.mktemp("gold_views"))
    database = f"gold_views_{uuid.uuid4().hex[:8]}"
    spark.sql(f"CREATE DATABASE {database}")
    for name, rows in (("gold.kpi_enrollments_daily", KPI_ENROLLMENTS),
                       ("gold.kpi_validation_times_daily", KPI_VALIDATIONS),
                       ("gold.kpi_office_daily", KPI_OFFICES)):
        frame = spark.createDataFrame(rows, contract.schema(name))
        frame.write.format("delta").option("path", delta.path(root, name)).saveAsTable(
            f"{database}.{name.split('.')[1]}")
    yield database
    spark.sql(f"DROP DATABASE {database} CASCADE")


def _rows(spark: SparkSession, name: str, database: str) -> list[dict[str, Any]]:
    frame = spark.sql(views.to_spark_sql(name, database))
    return sorted((row.asDict() for row in frame.collect()), key=lambda r: [str(v) for v in r.values()])


def test_every_view_file_is_trino_sql_reading_gold_through_the_placeholder() -> None:
    files = sorted(VIEWS_DIR.glob("*.sql"))
    assert [f.stem for f in files] == EXPECTED_VIEWS
    assert views.view_names() == EXPECTED_VIEWS
    for file in files:
        text = file.read_text()
        assert "${gold}." in text, file.name
        tree = sqlglot.parse_one(text.replace("${gold}", "lakehouse_gold"), read="trino")
        tables = list(tree.find_all(exp.Table))
        assert tables and all(t.db == "lakehouse_gold" and t.name.startswith("kpi_") for t in tables), file.name
        spark_sql = views.to_spark_sql(file.stem, "lakehouse_gold")
        assert "lakehouse_gold.kpi_" in spark_sql and "${gold}" not in spark_sql


def test_unknown_view_names_the_known_ones() -> None:
    with pytest.raises(LakehouseError, match="unknown view 'nope'.*enrollments_monthly"):
        views.view_sql("nope", "g")


def test_enrollments_monthly(spark: SparkSession, gold_db: str) -> None:
    assert _rows(spark, "enrollments_monthly", gold_db) == [
        # October, North, office: nothing started, so no rate
        {"month": D(2026, 10, 1), "region": "North", "channel": "office", "enrollments_started": 0,
         "enrollments_completed": 2, "enrollments_cancelled": 0, "completion_rate": None},
        # October, North, web: started 4+6=10, completed 2+3=5, cancelled 1+0=1, rate 5/10
        {"month": D(2026, 10, 1), "region": "North", "channel": "web", "enrollments_started": 10,
         "enrollments_completed": 5, "enrollments_cancelled": 1, "completion_rate": 0.5},
        # October, South, web: one day, 1/3
        {"month": D(2026, 10, 1), "region": "South", "channel": "web", "enrollments_started": 3,
         "enrollments_completed": 1, "enrollments_cancelled": 2, "completion_rate": pytest.approx(1 / 3)},
        {"month": D(2026, 11, 1), "region": "North", "channel": "web", "enrollments_started": 5,
         "enrollments_completed": 5, "enrollments_cancelled": 0, "completion_rate": 1.0},
    ]


def test_validation_times_by_modality(spark: SparkSession, gold_db: str) -> None:
    assert _rows(spark, "validation_times_by_modality", gold_db) == [
        # October face, both regions: validations 4+2+1=7, matches 2+1+0=3, no_matches 1+0+0=1,
        # errors 1+1+1=3, match_rate 3/(3+1)=0.75; weights (timed) 3, 1, 0:
        # avg (200*3 + 100*1)/4 = 175, p50 (150*3 + 100*1)/4 = 137.5, p95 (330*3 + 100*1)/4 = 272.5
        {"month": D(2026, 10, 1), "modality": "face", "validations": 7, "matches": 3, "no_matches": 1,
         "errors": 3, "match_rate": 0.75, "avg_ms": 175.0, "p50_ms_weighted": 137.5, "p95_ms_weighted": 272.5},
        # October iris: 0/(0+2) = 0.0, one day so its own times
        {"month": D(2026, 10, 1), "modality": "iris", "validations": 2, "matches": 0, "no_matches": 2,
         "errors": 0, "match_rate": 0.0, "avg_ms": 500.0, "p50_ms_weighted": 500.0, "p95_ms_weighted": 590.0},
        {"month": D(2026, 11, 1), "modality": "face", "validations": 1, "matches": 1, "no_matches": 0,
         "errors": 0, "match_rate": 1.0, "avg_ms": 50.0, "p50_ms_weighted": 50.0, "p95_ms_weighted": 50.0},
        # December fingerprint: errors only, so no rate and no times
        {"month": D(2026, 12, 1), "modality": "fingerprint", "validations": 2, "matches": 0, "no_matches": 0,
         "errors": 2, "match_rate": None, "avg_ms": None, "p50_ms_weighted": None, "p95_ms_weighted": None},
    ]


def test_office_attendance_monthly(spark: SparkSession, gold_db: str) -> None:
    assert _rows(spark, "office_attendance_monthly", gold_db) == [
        # October OF-1 North: 3 days, 2 reported; scheduled 10+20=30, attended 8+15=23, rate 23/30;
        # staffed 8+8=16 h; completed 4+6+3=13, per staffed hour over reported days (4+6)/16=0.625
        {"month": D(2026, 10, 1), "office_id": "OF-1", "region": "North", "days": 3, "days_reported": 2,
         "appointments_scheduled": 30, "appointments_attended": 23, "attendance_rate": pytest.approx(23 / 30),
         "staffed_hours": 16.0, "enrollments_completed": 13, "completed_per_staffed_hour": 0.625},
        # October OF-1 South (after the move): 5/5 = 1.0, 2/4.0 = 0.5
        {"month": D(2026, 10, 1), "office_id": "OF-1", "region": "South", "days": 1, "days_reported": 1,
         "appointments_scheduled": 5, "appointments_attended": 5, "attendance_rate": 1.0,
         "staffed_hours": 4.0, "enrollments_completed": 2, "completed_per_staffed_hour": 0.5},
        # October OF-2: zero scheduled and zero hours, so both ratios are null (no division by zero)
        {"month": D(2026, 10, 1), "office_id": "OF-2", "region": "North", "days": 1, "days_reported": 1,
         "appointments_scheduled": 0, "appointments_attended": 0, "attendance_rate": None,
         "staffed_hours": 0.0, "enrollments_completed": 0, "completed_per_staffed_hour": None},
        # November OF-1 South: 9/10 = 0.9, 3/6.0 = 0.5
        {"month": D(2026, 11, 1), "office_id": "OF-1", "region": "South", "days": 1, "days_reported": 1,
         "appointments_scheduled": 10, "appointments_attended": 9, "attendance_rate": 0.9,
         "staffed_hours": 6.0, "enrollments_completed": 3, "completed_per_staffed_hour": 0.5},
    ]


def test_create_views_submits_one_athena_query_per_view(local_aws: LocalAws, tmp_path: Path) -> None:
    database = f"gold_{uuid.uuid4().hex[:8]}"
    config = load_config("local", overrides={"storage.root": str(tmp_path), "catalog.gold_database": database})
    athena = client("athena", config.aws.region, local_aws.url)

    progress: list[str] = []

    created = views.create_views(athena, database, "primary", f"{tmp_path}/_athena_results/", progress.append)

    assert sorted(created) == EXPECTED_VIEWS
    assert progress == [f"view {database}.{name} created (Athena query {created[name]})" for name in EXPECTED_VIEWS]
    ids = athena.list_query_executions(WorkGroup="primary")["QueryExecutionIds"]
    executions = [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]
    ours = {e["QueryExecutionId"]: e for e in executions if f"VIEW {database}." in e["Query"]}
    assert sorted(ours) == sorted(created.values())
    for name, query_id in created.items():
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        assert execution["Status"]["State"] == "SUCCEEDED"
        assert execution["Query"].startswith(f"CREATE OR REPLACE VIEW {database}.{name} AS\n")
        assert "${gold}" not in execution["Query"]
        assert execution["WorkGroup"] == "primary"
        assert execution["QueryExecutionContext"] == {"Database": database}
        assert execution["ResultConfiguration"]["OutputLocation"].startswith(f"{tmp_path}/_athena_results/")


def test_create_views_names_the_view_athena_refused(local_aws: LocalAws, tmp_path: Path) -> None:
    config = load_config("local", overrides={"storage.root": str(tmp_path)})
    athena = client("athena", config.aws.region, local_aws.url)

    with pytest.raises(LakehouseError, match="Athena view 'enrollments_monthly': could not submit"):
        views.create_views(athena, config.catalog.gold_database, "no-such-wg", f"{tmp_path}/_athena_results/")


def test_a_failed_query_raises_with_athena_reason() -> None:
    # GetQueryExecution's answer for a view over a column that does not exist (moto never fails a query).
    failed = {"QueryExecutionId": "q-1", "Status": {
        "State": "FAILED", "StateChangeReason": "COLUMN_NOT_FOUND: line 3:5: Column 'x' cannot be resolved"}}
    with pytest.raises(LakehouseError, match="Athena view 'office_attendance_monthly': query q-1 FAILED: "
                                             "COLUMN_NOT_FOUND"):
        views.query_finished("office_attendance_monthly", failed)
    assert views.query_finished("v", {"Status": {"State": "RUNNING"}}) is False
    assert views.query_finished("v", {"Status": {"State": "SUCCEEDED"}}) is True


def test_a_view_glue_already_holds_with_the_same_select_is_left_alone(local_aws: LocalAws, tmp_path: Path) -> None:
    """On AWS, Athena keeps a view in Glue as a VIRTUAL_VIEW with its SELECT base64-encoded; a view
    unchanged since the last publish gets no query (moto's Athena writes no such entry: it is put by hand)."""
    import base64
    import json

    database = f"gold_{uuid.uuid4().hex[:8]}"
    config = load_config("local", overrides={"storage.root": str(tmp_path), "catalog.gold_database": database})
    athena, glue = client("athena", config.aws.region, local_aws.url), client("glue", config.aws.region, local_aws.url)
    glue.create_database(DatabaseInput={"Name": database})
    select = (resources.files("lakehouse.publish") / "views" / "enrollments_monthly.sql").read_text()
    select = select.replace("${gold}", database).strip().rstrip(";")
    encoded = base64.b64encode(json.dumps({"originalSql": select, "catalog": "awsdatacatalog"}).encode()).decode()
    glue.create_table(DatabaseName=database, TableInput={
        "Name": "enrollments_monthly", "TableType": "VIRTUAL_VIEW",
        "ViewOriginalText": f"/* Presto View: {encoded} */", "ViewExpandedText": "/* Presto View */"})
    stale = base64.b64encode(json.dumps({"originalSql": "SELECT 1"}).encode()).decode()
    glue.create_table(DatabaseName=database, TableInput={
        "Name": "office_attendance_monthly", "TableType": "VIRTUAL_VIEW",
        "ViewOriginalText": f"/* Presto View: {stale} */", "ViewExpandedText": "/* Presto View */"})

    created = views.create_views(athena, database, "primary", f"{tmp_path}/_athena_results/", glue=glue)

    assert created["enrollments_monthly"] == "unchanged"
    assert created["office_attendance_monthly"] != "unchanged"  # its SELECT changed: created again
    assert created["validation_times_by_modality"] != "unchanged"  # not in Glue yet
