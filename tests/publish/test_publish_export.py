"""Gold -> PostgreSQL export against real Delta tables and the real embedded PostgreSQL."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from lakehouse import app, contract
from lakehouse.config import ExportConfig, SecretRef, load_config
from lakehouse.errors import SourceError
from lakehouse.local.postgres import EmbeddedPostgres
from lakehouse.ops.results import Progress, no_progress
from lakehouse.publish.export import ExportError, ExportResult, export_gold
from lakehouse.sources.postgres import Endpoint, connect
from lakehouse.storage import delta

SCHEMA = "gold"


def ts(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


D1, D2, OLD = date(2026, 10, 1), date(2026, 10, 2), date(1999, 12, 31)  # OLD: before PostgreSQL's epoch
NAME = 'Centro\t1 "norte" \\ 中心\nsegunda línea'  # tab, quote, backslash, newline, non-ASCII

# Every gold table of the registry, a few rows each, in the registry's column order.
GOLD: dict[str, list[tuple[Any, ...]]] = {
    "gold.dim_date": [
        (D1, 2026, 4, 10, 1, 4, "Thursday", 40, False),
        (date(2026, 10, 3), 2026, 4, 10, 3, 6, "Saturday", 40, True),
        (OLD, 1999, 4, 12, 31, 5, "Friday", 52, False),
    ],
    "gold.dim_office": [
        ("OF-0001@1", "OF-0001", NAME, "CENTRO", "D1", ts(2020, 1, 1), ts(2026, 10, 5, 12, 30, 0, 123456), False),
        ("OF-0001@2", "OF-0001", "Centro 1", "NORTE", "", ts(2026, 10, 5, 12, 30, 0, 123456), None, True),
        ("UNKNOWN", "UNKNOWN", "Unknown office", "UNKNOWN", None, None, None, True),
    ],
    "gold.fct_enrollments": [
        ("en-1", "OF-0001", "NORTE", "office", ts(2026, 10, 1, 9, 0, 0, 1), ts(2026, 10, 1, 9, 12, 30),
         None, "completed", 12.500016666666667),
        ("en-2", None, "UNKNOWN", "web", ts(1999, 12, 31, 23, 59, 59, 999999), None, ts(2000, 1, 1),
         "cancelled", None),
        ("en-3", "OF-0002", "SUR", "mobile", ts(2026, 10, 2), None, None, "started", None),
    ],
    "gold.fct_biometric_validations": [
        ("va-1", "en-1", "OF-0001", "NORTE", "office", ts(2026, 10, 1, 9, 5), D1, "face", "match",
         0.987654321012345, 1234),
        ("va-2", "en-1", "OF-0001", "NORTE", "office", ts(2026, 10, 1, 9, 6), D1, "iris", "error", None,
         2**40 + 7),
        ("va-3", "en-3", "OF-0002", "SUR", "mobile", ts(2026, 10, 2, 0, 0, 1), D2, "fingerprint", "no_match",
         1e-300, 0),
    ],
    "gold.kpi_enrollments_daily": [
        (D1, "NORTE", "office", 10, 7, 1, 0.7),
        (D1, "SUR", "web", 0, 0, 2, None),
        (D2, "NORTE", "office", 3, 1, 0, 1 / 3),
    ],
    "gold.kpi_validation_times_daily": [
        (D1, "NORTE", "face", 4, 2, 1, 1, 2 / 3, 1500.5, 2950.25, 1700.0),
        (D1, "SUR", "iris", 1, 0, 0, 1, None, None, None, None),
    ],
    "gold.kpi_office_daily": [
        (D1, "OF-0001", "NORTE", 20, 18, 0.9, 7.5, 6, 0.8),
        (D1, "OF-0002", "SUR", 0, 0, None, 0.0, 0, None),
        (D2, "OF-0001", "NORTE", 25, 20, 0.8, 8.0, 9, -1.125e-7),
    ],
    "gold.alerts": [
        ("al-0123456789abcdef", "match_rate_low", "critical", "open", "gold.kpi_validation_times_daily",
         "match_rate", "date=2026-10-01, region=NORTE", D1, "NORTE", 0.5, None, 0.7, 40,
         "match_rate 0.5 below 0.7", ts(2026, 10, 2, 1), ts(2026, 10, 2, 1), None, ts(2026, 10, 2, 1, 0, 2), None),
        ("al-fedcba9876543210", "batch_stale", "warning", "resolved", "ops.freshness", "age_minutes", "step=gold",
         None, None, 130.0, None, 120.0, None, "age_minutes 130 above 120", ts(2026, 10, 1, 5), ts(2026, 10, 1, 6),
         ts(2026, 10, 1, 6), ts(2026, 10, 1, 5), ts(2026, 10, 1, 6)),
    ],
}
KEYS = {  # primary keys and indexed filter columns, as the export should make them
    "dim_date": (["date"], []),
    "dim_office": (["office_key"], ["valid_from", "region", "office_id"]),
    "fct_enrollments": (["enrollment_id"], ["started_at", "region", "office_id"]),
    "fct_biometric_validations": (["validation_id"], ["event_date", "region", "office_id"]),
    "kpi_enrollments_daily": (["date", "region", "channel"], ["region"]),
    "kpi_validation_times_daily": (["date", "region", "modality"], ["region"]),
    "kpi_office_daily": (["date", "office_id"], ["region", "office_id"]),
    "alerts": (["incident_id"], ["date", "region"]),
}
DESCRIPTIONS = {
    "dim_date": "Calendar dimension covering every date the facts use.",
    "fct_enrollments": "One row per enrollment: started, completed, cancelled times, status, minutes to complete.",
    "kpi_office_daily": "Office operations per day: reports joined with completed enrollments.",
}
# fct_enrollments changed: en-3 completed, en-4 new.
CHANGED_ENROLLMENTS = [
    *GOLD["gold.fct_enrollments"][:2],
    ("en-3", "OF-0002", "SUR", "mobile", ts(2026, 10, 2), ts(2026, 10, 2, 0, 45), None, "completed", 45.0),
    ("en-4", "OF-0001", "NORTE", "web", ts(2026, 10, 2, 8), None, None, "started", None),
]


def _write(spark: SparkSession, root: Path, name: str, rows: list[tuple[Any, ...]]) -> None:
    delta.overwrite(spark.createDataFrame(rows, contract.schema(name)), str(root), name)


def _write_gold(spark: SparkSession, root: Path) -> None:
    for name, rows in GOLD.items():
        _write(spark, root, name, rows)


def _export(spark: SparkSession, root: Path, endpoint: Endpoint) -> dict[str, str]:
    return _export_result(spark, root, endpoint).outcomes


def _export_result(spark: SparkSession, root: Path, endpoint: Endpoint, progress: Progress = no_progress) -> ExportResult:
    return export_gold(spark, str(root), endpoint, SCHEMA, progress)


def _rows(endpoint: Endpoint, name: str) -> list[tuple[Any, ...]]:
    with connect(endpoint) as conn:
        return sorted(conn.execute(f"SELECT * FROM {SCHEMA}.{name}").fetchall(), key=_key)


def _key(row: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(str(v) for v in row[:3])


def _assert_equal(endpoint: Endpoint, gold: dict[str, list[tuple[Any, ...]]]) -> None:
    for full, rows in gold.items():
        assert _rows(endpoint, full.split(".")[1]) == sorted(rows, key=_key), full


def _physical(endpoint: Endpoint) -> dict[str, tuple[Any, ...]]:
    """Each relation's file node, and each table's row versions (xmin): a rewrite changes one."""
    with connect(endpoint) as conn:
        relations = conn.execute(
            "SELECT c.relname, c.relkind, c.relfilenode FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s", (SCHEMA,)).fetchall()
        return {name: (node, conn.execute(f"SELECT array_agg(xmin::text ORDER BY xmin::text) FROM {SCHEMA}.{name}")
                       .fetchone()[0] if kind == "r" else None)
                for name, kind, node in relations}


@pytest.fixture
def export_db(pg_server: EmbeddedPostgres) -> Endpoint:
    return pg_server.database_endpoint(f"x_{uuid.uuid4().hex[:12]}")


def test_gold_arrives_row_for_row_with_keys_indexes_comments_and_types(
        spark: SparkSession, tmp_path: Path, export_db: Endpoint) -> None:
    _write_gold(spark, tmp_path)
    path = delta.path(str(tmp_path), "gold.fct_enrollments")
    spark.sql(f"ALTER TABLE delta.`{path}` ALTER COLUMN minutes_to_complete COMMENT 'From start to completion'")

    progress: list[str] = []
    result = _export_result(spark, tmp_path, export_db, progress.append)

    assert result.outcomes == {name: "exported" for name in GOLD}
    # each written once; fct_enrollments' column comment is a second commit
    assert result.versions == {name: 1 if name == "gold.fct_enrollments" else 0 for name in GOLD}
    assert result.rows == {name: len(rows) for name, rows in GOLD.items()}
    assert progress[-1].startswith("swapped in 8 table(s) in one transaction: gold.dim_date, gold.dim_office, ")
    _assert_equal(export_db, GOLD)
    with connect(export_db) as conn:
        keys = conn.execute(
            "SELECT t.relname, i.indisprimary, array_agg(a.attname::text ORDER BY k.ord) FROM pg_index i "
            "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
            "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
            "WHERE n.nspname = %s AND t.relname <> '_lakehouse_export' GROUP BY t.relname, i.indexrelid, i.indisprimary",
            (SCHEMA,)).fetchall()
        for table, (primary, indexed) in KEYS.items():
            assert [cols for t, pk, cols in keys if t == table and pk] == [primary], table
            assert sorted(cols[0] for t, pk, cols in keys if t == table and not pk) == sorted(indexed), table
        described = dict(conn.execute(
            "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
            (SCHEMA,)).fetchall())
        assert {t: described[t] for t in DESCRIPTIONS} == DESCRIPTIONS
        assert conn.execute("SELECT col_description('gold.fct_enrollments'::regclass, 9)").fetchone() == \
            ("From start to completion",)
        types = dict(((t, c), ty) for t, c, ty in conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = %s",
            (SCHEMA,)).fetchall())
        assert types[("fct_enrollments", "started_at")] == "timestamp with time zone"
        assert types[("fct_enrollments", "minutes_to_complete")] == "double precision"
        assert types[("dim_date", "date")] == "date"
        assert types[("dim_date", "year")] == "integer"
        assert types[("dim_date", "is_weekend")] == "boolean"
        assert types[("fct_biometric_validations", "duration_ms")] == "bigint"
        assert types[("dim_office", "name")] == "text"
        # nothing of the staging is left
        assert not conn.execute("SELECT relname FROM pg_class WHERE relname LIKE '\\_stage\\_%'").fetchall()


def test_unchanged_gold_changes_nothing_and_a_changed_table_alone_is_rewritten(
        spark: SparkSession, tmp_path: Path, export_db: Endpoint) -> None:
    _write_gold(spark, tmp_path)
    _export(spark, tmp_path, export_db)
    before = _physical(export_db)

    unchanged = _export_result(spark, tmp_path, export_db)
    assert set(unchanged.outcomes.values()) == {"unchanged"}
    assert unchanged.rows == {}
    assert _physical(export_db) == before

    _write(spark, tmp_path, "gold.fct_enrollments", CHANGED_ENROLLMENTS)
    result = _export_result(spark, tmp_path, export_db)
    assert result.outcomes == {name: "exported" if name == "gold.fct_enrollments" else "unchanged" for name in GOLD}
    assert result.versions == {name: 1 if name == "gold.fct_enrollments" else 0 for name in GOLD}
    assert result.rows == {"gold.fct_enrollments": 4}
    _assert_equal(export_db, {**GOLD, "gold.fct_enrollments": CHANGED_ENROLLMENTS})
    after = _physical(export_db)
    rewritten = {name for name in before if after.get(name) != before[name]}
    assert rewritten == {"fct_enrollments", "fct_enrollments_pkey", "fct_enrollments_started_at_idx",
                         "fct_enrollments_region_idx", "fct_enrollments_office_id_idx", "_lakehouse_export"}
    with connect(export_db) as conn:
        versions = dict(conn.execute(f"SELECT table_name, delta_version FROM {SCHEMA}._lakehouse_export").fetchall())
    assert versions == {name: 1 if name == "gold.fct_enrollments" else 0 for name in GOLD}


def test_missing_gold_tables_are_skipped_and_their_export_kept(
        spark: SparkSession, tmp_path: Path, export_db: Endpoint) -> None:
    _write_gold(spark, tmp_path)
    _export(spark, tmp_path, export_db)
    other = tmp_path / "other"
    _write(spark, other, "gold.dim_date", GOLD["gold.dim_date"][:1])
    result = _export_result(spark, other, export_db)
    assert result.outcomes == {name: "exported" if name == "gold.dim_date" else "missing" for name in GOLD}
    assert (result.versions, result.rows) == ({"gold.dim_date": 0}, {"gold.dim_date": 1})
    _assert_equal(export_db, {**GOLD, "gold.dim_date": GOLD["gold.dim_date"][:1]})


def test_a_failing_table_fails_the_whole_export_and_changes_nothing(
        spark: SparkSession, tmp_path: Path, export_db: Endpoint) -> None:
    _write_gold(spark, tmp_path)
    _export(spark, tmp_path, export_db)
    before = _physical(export_db)
    _write(spark, tmp_path, "gold.dim_date", GOLD["gold.dim_date"][:1])  # a good change, exported first
    duplicate = GOLD["gold.kpi_office_daily"] + [(D1, "OF-0001", "NORTE", 1, 1, 1.0, 1.0, 1, 1.0)]
    _write(spark, tmp_path, "gold.kpi_office_daily", duplicate)

    with pytest.raises(ExportError, match=r"^export of gold.kpi_office_daily failed: could not create unique index"):
        _export(spark, tmp_path, export_db)
    _assert_equal(export_db, GOLD)  # dim_date too: the tables swap together or not at all
    assert _physical(export_db) == before


KILLED = """
import os
import sys
from lakehouse.config import load_config
from lakehouse.publish.export import export_gold
from lakehouse.sources.postgres import Endpoint
from lakehouse.spark import get_spark


def killed_after_two_tables(loaded: int) -> None:
    if loaded == 2:
        os._exit(137)  # as a kill would: no clean-up, no rollback sent, the connection just drops


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


root, port, database = sys.argv[1], int(sys.argv[2]), sys.argv[3]
spark = get_spark(load_config("local", {"storage.root": root}).spark)
endpoint = Endpoint("127.0.0.1", port, database, "lakehouse", os.environ["LAKEHOUSE_TEST_PG_PASSWORD"])
export_gold(spark, root, endpoint, "gold", progress,
            after_table_loaded=killed_after_two_tables)
"""


def test_a_killed_export_leaves_the_previous_tables_and_a_rerun_completes(
        spark: SparkSession, tmp_path: Path, export_db: Endpoint) -> None:
    _write_gold(spark, tmp_path)
    _export(spark, tmp_path, export_db)
    before = _physical(export_db)
    changed = {
        "gold.dim_date": [*GOLD["gold.dim_date"], (D2, 2026, 4, 10, 2, 5, "Friday", 40, False)],
        "gold.fct_enrollments": CHANGED_ENROLLMENTS,
        "gold.kpi_office_daily": GOLD["gold.kpi_office_daily"][1:],
    }
    for name, rows in changed.items():
        _write(spark, tmp_path, name, rows)

    # Three tables to export; the process dies after loading two of them, before the swap.
    env = {**os.environ, "LAKEHOUSE_DRIVER_MEMORY": "1g", "LAKEHOUSE_TEST_PG_PASSWORD": export_db.password or ""}
    killed = subprocess.run([sys.executable, "-c", KILLED, str(tmp_path), str(export_db.port), export_db.database],
                            env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == 137, killed.stderr[-2000:]
    assert "rows copied into staging" in killed.stderr

    _assert_equal(export_db, GOLD)
    assert _physical(export_db) == before
    with connect(export_db) as conn:
        assert not conn.execute("SELECT relname FROM pg_class WHERE relname LIKE '\\_stage\\_%'").fetchall()

    outcomes = _export(spark, tmp_path, export_db)
    assert sorted(n for n, o in outcomes.items() if o == "exported") == sorted(changed)
    _assert_equal(export_db, {**GOLD, **changed})


def test_run_export_records_what_the_export_did(
        spark: SparkSession, tmp_path: Path, pg_server: EmbeddedPostgres, pg_secrets: dict[str, SecretRef],
        export_db: Endpoint) -> None:
    _write_gold(spark, tmp_path)
    _write(spark, tmp_path, "gold.dim_date", GOLD["gold.dim_date"][:1])  # its version 1, one row
    config = dataclasses.replace(load_config("local", {"storage.root": str(tmp_path)}), export=ExportConfig(
        "embedded", export_db.database, "lakehouse", schema=SCHEMA, embedded_dir=str(pg_server.data_dir),
        **pg_secrets))

    first, second = app.run_export(spark, config), app.run_export(spark, config)

    runs = {r["run_id"]: r for r in delta.read(spark, str(tmp_path), "ops.pipeline_runs").collect()}
    read = {name: 1 if name == "gold.dim_date" else 0 for name in GOLD}
    exported = runs[first.run_id]
    # rows: dim_date 1, dim_office 3, fct_enrollments 3, fct_biometric_validations 3, kpi_enrollments_daily 3,
    # kpi_validation_times_daily 2, kpi_office_daily 3, alerts 2
    assert (exported["step"], exported["status"], exported["rows_in"], exported["rows_out"]) == (
        "export", "succeeded", 20, 20)
    assert exported["input_versions"] == read
    assert exported["delta_versions"] == {f"postgres:{name}": version for name, version in read.items()}
    again = runs[second.run_id]
    assert (again["status"], again["rows_in"], again["rows_out"], again["delta_versions"]) == ("no_change", 0, 0, {})
    assert again["input_versions"] == read


def test_export_endpoint_embedded_reuses_the_server_and_jdbc_fails_in_one_line(
        pg_server: EmbeddedPostgres, pg_secrets: dict[str, SecretRef], monkeypatch: pytest.MonkeyPatch) -> None:
    database = f"x_{uuid.uuid4().hex[:12]}"
    embedded = ExportConfig("embedded", database, "lakehouse", schema=SCHEMA, embedded_dir=str(pg_server.data_dir),
                            **pg_secrets)
    with app.database("export", embedded) as endpoint:
        assert (endpoint.port, endpoint.database) == (pg_server.port, database)
        with connect(endpoint) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (database,)
    assert pg_server._running_port() == pg_server.port  # not stopped: this call did not start it

    monkeypatch.setenv("LAKEHOUSE_TEST_EXPORT_PASSWORD", "not-a-real-password")
    unreachable = ExportConfig("jdbc", "analytics", "lakehouse", schema=SCHEMA,
                               jdbc_url="jdbc:postgresql://127.0.0.1:1/analytics",
                               password=SecretRef(env="LAKEHOUSE_TEST_EXPORT_PASSWORD"))
    with pytest.raises(SourceError, match=r"^export database unreachable at 127.0.0.1:1: ") as err:
        with app.database("export", unreachable):
            pass
    assert "\n" not in str(err.value) and "not-a-real-password" not in str(err.value)


# --- the staging zone: each exported version as Parquet under <root>/staging/<table>/v<version>/ ----------

def _staged(root: Path) -> dict[str, list[str]]:
    """Each table's staged version folders, by name."""
    return {t.name: sorted(v.name for v in t.iterdir()) for t in sorted((root / "staging").iterdir())}


def _staged_rows(root: Path, table: str, version: int) -> list[tuple[Any, ...]]:
    """A staged version read with pyarrow alone (no Spark, no Delta), in the contract's column order."""
    staged = pq.read_table(root / "staging" / table / f"v{version}")
    assert staged.column_names == contract.schema(f"gold.{table}").fieldNames()
    return sorted((tuple(row.values()) for row in staged.to_pylist()), key=_key)


def test_the_export_stages_each_version_as_parquet_and_loads_postgresql_from_it(
        spark: SparkSession, tmp_path: Path, export_db: Endpoint) -> None:
    _write_gold(spark, tmp_path)
    progress: list[str] = []
    _export_result(spark, tmp_path, export_db, progress.append)

    assert _staged(tmp_path) == {name.split(".")[1]: ["v0"] for name in GOLD}
    for name, rows in GOLD.items():
        table = name.split(".")[1]
        assert _staged_rows(tmp_path, table, 0) == sorted(rows, key=_key), name  # the hand-written rows
        assert (tmp_path / "staging" / table / "v0" / "_SUCCESS").exists()
    staged_types = pq.read_schema(next((tmp_path / "staging" / "fct_enrollments" / "v0").glob("*.parquet")))
    assert staged_types.field("started_at").type == pa.timestamp("us", tz="UTC")  # not INT96
    assert f"gold.dim_date: version 0 staged at {tmp_path}/staging/dim_date/v0" in progress
    _assert_equal(export_db, GOLD)


def test_postgresql_is_loaded_from_the_staged_copy_not_the_delta_table_and_a_stale_copy_is_rewritten(
        spark: SparkSession, tmp_path: Path, export_db: Endpoint) -> None:
    # A complete staged version of dim_date 0 holding one row, as a killed export would have left it
    # (it wrote the version, then died before the commit): the next export loads it as it is.
    _write_gold(spark, tmp_path)
    staged = tmp_path / "staging" / "dim_date" / "v0"
    staged.mkdir(parents=True)
    types = [pa.date32(), *[pa.int32()] * 5, pa.string(), pa.int32(), pa.bool_()]
    schema = pa.schema(list(zip(contract.schema("gold.dim_date").fieldNames(), types, strict=True)))
    pq.write_table(pa.Table.from_pylist([dict(zip(schema.names, GOLD["gold.dim_date"][0], strict=True))],
                                        schema), staged / "part-0.parquet")
    (staged / "_SUCCESS").touch()
    # A complete one with other columns than the contract's (staged before the contract changed): rewritten.
    other = tmp_path / "staging" / "kpi_office_daily" / "v0"
    other.mkdir(parents=True)
    pq.write_table(pa.table({"date": [D1]}), other / "part-0.parquet")
    (other / "_SUCCESS").touch()

    progress: list[str] = []
    _export_result(spark, tmp_path, export_db, progress.append)

    assert f"gold.dim_date: version 0 already staged at {tmp_path}/staging/dim_date/v0" in progress
    assert f"gold.kpi_office_daily: version 0 staged at {tmp_path}/staging/kpi_office_daily/v0" in progress
    assert _rows(export_db, "dim_date") == GOLD["gold.dim_date"][:1]
    _assert_equal(export_db, {n: r for n, r in GOLD.items() if n != "gold.dim_date"})
    assert _staged_rows(tmp_path, "kpi_office_daily", 0) == sorted(GOLD["gold.kpi_office_daily"], key=_key)


def test_staging_keeps_the_last_two_exported_versions_and_an_unchanged_rerun_writes_nothing(
        spark: SparkSession, tmp_path: Path, export_db: Endpoint) -> None:
    _write_gold(spark, tmp_path)
    _export(spark, tmp_path, export_db)
    third = [*CHANGED_ENROLLMENTS, ("en-5", "OF-0002", "SUR", "office", ts(2026, 10, 3, 8), None, None, "started", None)]
    progress: list[str] = []
    for rows in (CHANGED_ENROLLMENTS, third):  # fct_enrollments versions 1 and 2, each exported
        _write(spark, tmp_path, "gold.fct_enrollments", rows)
        _export_result(spark, tmp_path, export_db, progress.append)

    # The third export removed version 0 (older than the last two exported: 1 and 2); the other
    # tables were exported once.
    assert _staged(tmp_path) == {**{name.split(".")[1]: ["v0"] for name in GOLD}, "fct_enrollments": ["v1", "v2"]}
    assert "gold.fct_enrollments: removed staged version(s) 0" in progress
    assert _staged_rows(tmp_path, "fct_enrollments", 1) == sorted(CHANGED_ENROLLMENTS, key=_key)
    assert _staged_rows(tmp_path, "fct_enrollments", 2) == sorted(third, key=_key)
    _assert_equal(export_db, {**GOLD, "gold.fct_enrollments": third})

    files_before = {p: p.stat().st_mtime_ns for p in (tmp_path / "staging").rglob("*")}
    again = _export_result(spark, tmp_path, export_db)
    assert set(again.outcomes.values()) == {"unchanged"} and again.rows == {}
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "staging").rglob("*")} == files_before
