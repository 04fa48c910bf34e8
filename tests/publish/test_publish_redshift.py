"""Gold for Redshift Spectrum: manifests checked against delta-rs (an independent Delta reader), the
DDL parsed with sqlglot's Redshift dialect."""
from __future__ import annotations

import os
import uuid
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import sqlglot
from deltalake import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import types as T
from sqlglot import exp

from lakehouse import contract
from lakehouse.cli import main, parser
from lakehouse.errors import LakehouseError
from lakehouse.local.aws import LocalAws
from lakehouse.publish.redshift import IAM_ROLE_PLACEHOLDER, publish_redshift, spectrum_type
from lakehouse.storage import delta

KPI = "gold.kpi_validation_times_daily"
DATES = "gold.dim_date"
ROLE = "arn:aws:iam::123456789012:role/lakehouse-spectrum"


def _local(uri: str) -> str:
    """A local file's path, whether written `file:/x`, `file:///x` or `/x` (and %-escaped or not)."""
    return os.path.normpath(unquote(urlparse(uri).path if uri.startswith("file:") else uri))


def _manifest(root: str, name: str) -> set[str]:
    text = Path(delta.path(root, name), "_symlink_format_manifest", "manifest").read_text(encoding="utf-8")
    return {_local(line) for line in text.splitlines() if line}


def _current_files(root: str, name: str) -> set[str]:
    return {_local(uri) for uri in DeltaTable(delta.path(root, name)).file_uris()}


def _kpi_row(day: int, region: str) -> tuple[object, ...]:
    return (date(2026, 10, day), region, "face", 4, 2, 1, 1, 0.5, 150.0, 330.0, 200.0)


def _tables(ddl: str) -> dict[str, list[tuple[str, str]]]:
    """External table -> its (column, type) pairs, from the parsed DDL."""
    tables = {}
    for statement in sqlglot.parse(ddl, read="redshift"):
        if isinstance(statement, exp.Create) and statement.args.get("kind") == "TABLE":
            schema = statement.this
            assert isinstance(schema, exp.Schema)
            table = schema.this
            assert table.db == "lakehouse_gold"
            tables[table.name] = [(c.name, c.args["kind"].sql(dialect="redshift")) for c in schema.expressions]
            assert "SymlinkTextInputFormat" in statement.sql(dialect="redshift")
    return tables


def test_spectrum_type_maps_spark_types() -> None:
    types = [T.StringType(), T.LongType(), T.IntegerType(), T.DoubleType(), T.DecimalType(12, 2),
             T.DateType(), T.TimestampType(), T.BooleanType()]
    assert [spectrum_type(t) for t in types] == [
        "varchar(65535)", "bigint", "integer", "double precision", "decimal(12,2)", "date", "timestamp", "boolean"]
    with pytest.raises(LakehouseError, match=r"gold\.t\.tags: type array<string>"):
        spectrum_type(T.ArrayType(T.StringType()), "gold.t.tags")


def test_publish_redshift_keeps_manifests_current_and_writes_parseable_ddl(
        spark: SparkSession, tmp_path: Path) -> None:
    root, out = str(tmp_path / "lake"), tmp_path / "redshift"
    delta.append(spark.createDataFrame([_kpi_row(1, "North")], contract.schema(KPI)), root, KPI)
    dates = [(date(2026, 10, d), 2026, 4, 10, d, 4, "Thursday", 40, False) for d in (1, 2)]
    delta.overwrite(spark.createDataFrame(dates, contract.schema(DATES)), root, DATES)
    spark.sql(f"ALTER TABLE delta.`{delta.path(root, KPI)}` ALTER COLUMN region COMMENT 'Region\nname'")
    progress: list[str] = []

    published = publish_redshift(spark, root, "lakehouse_gold", "lakehouse_gold_spectrum", None, out, progress.append)

    assert published == [DATES, KPI]  # the other gold tables do not exist yet: left out
    for name in published:
        assert _manifest(root, name) == _current_files(root, name), name
        assert _manifest(root, name)  # not vacuously equal
    ddl = (out / "spectrum.sql").read_text(encoding="utf-8")
    assert IAM_ROLE_PLACEHOLDER in ddl and any("redshift.iam_role is not set" in line for line in progress)
    schema_statement = sqlglot.parse(ddl, read="redshift")[0]
    assert "FROM DATA CATALOG DATABASE 'lakehouse_gold_spectrum'" in schema_statement.sql(dialect="redshift")
    tables = _tables(ddl)
    assert set(tables) == {"dim_date", "kpi_validation_times_daily"}
    for name in published:
        assert [c for c, _ in tables[contract.table(name).name]] == contract.schema(name).fieldNames()
    kpi_types = dict(tables["kpi_validation_times_daily"])
    assert (kpi_types["date"], kpi_types["region"], kpi_types["validations"], kpi_types["p50_ms"]) == (
        "DATE", "VARCHAR(65535)", "BIGINT", "DOUBLE PRECISION")
    assert '  "region" varchar(65535),  -- Region name\n' in ddl  # the comment kept to its line
    assert f"LOCATION '{delta.path(root, KPI)}/_symlink_format_manifest/'" in ddl

    # Idempotent: the same lake gives the same file, left untouched.
    before = (out / "spectrum.sql").stat().st_mtime_ns
    publish_redshift(spark, root, "lakehouse_gold", "lakehouse_gold_spectrum", None, out, progress.append)
    assert (out / "spectrum.sql").read_text(encoding="utf-8") == ddl
    assert (out / "spectrum.sql").stat().st_mtime_ns == before and progress[-1].endswith("unchanged (2 gold tables)")

    # An append adds a file, an overwrite replaces them all: each manifest follows its new version.
    old_dates = _current_files(root, DATES)
    delta.append(spark.createDataFrame([_kpi_row(2, "South")], contract.schema(KPI)), root, KPI)
    delta.overwrite(spark.createDataFrame(dates[:1], contract.schema(DATES)), root, DATES)
    publish_redshift(spark, root, "lakehouse_gold", "lakehouse_gold_spectrum", ROLE, out, progress.append)
    for name in published:
        assert _manifest(root, name) == _current_files(root, name), name
    assert len(_manifest(root, KPI)) == 2 and not _manifest(root, DATES) & old_dates
    assert f"IAM_ROLE '{ROLE}'" in (out / "spectrum.sql").read_text(encoding="utf-8")


def test_the_publish_command_writes_manifests_and_ddl_only_with_redshift(
        spark: SparkSession, local_aws: LocalAws, tmp_path: Path) -> None:
    root, out = str(tmp_path / "lake"), tmp_path / "ddl"
    delta.append(spark.createDataFrame([_kpi_row(1, "North")], contract.schema(KPI)), root, KPI)
    suffix = uuid.uuid4().hex[:8]  # one moto server serves the whole session
    common = ["--root", root, "--set", f"aws.endpoint_url={local_aws.url}",
              "--set", f"catalog.silver_database=silver_{suffix}", "--set", f"catalog.gold_database=gold_{suffix}",
              "--set", f"redshift.iam_role={ROLE}"]
    manifests = Path(delta.path(root, KPI), "_symlink_format_manifest")

    assert main([*common, "publish", "--redshift-out", str(out)]) == 0
    assert not manifests.exists() and not out.exists()  # without --redshift: Glue and the views only

    assert main([*common, "publish", "--redshift", "--redshift-out", str(out)]) == 0
    assert _manifest(root, KPI) == _current_files(root, KPI)
    assert set(_tables((out / "spectrum.sql").read_text(encoding="utf-8"))) == {"kpi_validation_times_daily"}
    assert parser().parse_args(["publish", "--redshift"]).redshift_out == "conf/redshift"
