"""Gold for Redshift Spectrum: symlink manifests for every gold table, and the DDL over them.

Spectrum cannot read a Delta log; it reads a table through its symlink manifest, a list of the
Parquet files of one version (`GENERATE symlink_format_manifest`). Publishing regenerates every gold
table's manifest, so Spectrum sees the version gold had when it was published, like the Glue
entries. The table property `delta.compatibility.symlinkFormatManifest.enabled` is left off on
purpose: it would rewrite the manifests inside every gold write (each incremental MERGE, each
compaction), a cost and a failure point for every writer for the sake of one reader.

The DDL (`spectrum.sql`) creates an external schema over a Glue database of its own and one
external table per gold table over its manifest folder. It is written only when it differs, so a
re-run leaves the file as it was.
"""
from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from lakehouse.contract import Table, tables_in
from lakehouse.errors import LakehouseError
from lakehouse.ops.results import Progress, no_progress
from lakehouse.publish.catalog import glue_location
from lakehouse.storage import delta

DDL_FILE = "spectrum.sql"
# The DDL runs as written only once this is replaced (redshift.iam_role unset).
IAM_ROLE_PLACEHOLDER = "arn:aws:iam::<account-id>:role/<redshift-spectrum-role>"
# Redshift's longest VARCHAR (bytes): a Spark string has no length of its own.
MAX_VARCHAR = 65535

_SIMPLE_TYPES: dict[type[T.DataType], str] = {
    T.StringType: f"varchar({MAX_VARCHAR})",
    T.LongType: "bigint",
    T.IntegerType: "integer",
    T.ShortType: "smallint",
    T.ByteType: "smallint",
    T.DoubleType: "double precision",
    T.FloatType: "real",
    T.BooleanType: "boolean",
    T.DateType: "date",
    T.TimestampType: "timestamp",
    T.TimestampNTZType: "timestamp",
}

_SYMLINK_STORAGE = (
    "ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'\n"
    "STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'\n"
    "OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'"
)


def spectrum_type(data_type: T.DataType, where: str = "column") -> str:
    """The Redshift Spectrum type of a Spark type, e.g. `decimal(12,2)`, `double precision`.

    Raises:
        LakehouseError: for a type this DDL does not map (nested, binary, interval...), naming `where`.
    """
    if isinstance(data_type, T.DecimalType):
        return f"decimal({data_type.precision},{data_type.scale})"
    if isinstance(data_type, T.VarcharType | T.CharType):
        return f"varchar({data_type.length})"
    simple = _SIMPLE_TYPES.get(type(data_type))
    if simple is None:
        raise LakehouseError(f"{where}: type {data_type.simpleString()} has no Redshift Spectrum mapping here")
    return simple


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _one_line(text: str) -> str:
    """A comment fit for a `--` line: a newline in it would end the comment early."""
    return " ".join(text.split())


def external_schema_ddl(schema: str, glue_database: str, iam_role: str) -> str:
    """`CREATE EXTERNAL SCHEMA` over `glue_database`, which Redshift creates in Glue if missing."""
    return (f"CREATE EXTERNAL SCHEMA IF NOT EXISTS {_quoted(schema)}\n"
            f"FROM DATA CATALOG DATABASE '{glue_database}'\n"
            f"IAM_ROLE '{iam_role}'\n"
            "CREATE EXTERNAL DATABASE IF NOT EXISTS;")


def external_table_ddl(table: Table, schema: T.StructType, manifests: str, external_schema: str) -> str:
    """Drop and create the external table of `table` over its manifest folder `manifests`.

    Redshift has no `CREATE EXTERNAL TABLE IF NOT EXISTS` and no `COMMENT ON` for an external
    table: the drop makes a re-run replace it (a schema change included), and the descriptions
    travel as SQL comments.

    Raises:
        LakehouseError: the table is partitioned (its partitions would need `ADD PARTITION`s this
            DDL does not write; no gold table is), or a column type has no mapping.
    """
    if table.layout.partition_by:
        raise LakehouseError(f"{table.full_name}: partitioned tables are not written to the Spectrum DDL")
    name = f"{_quoted(external_schema)}.{_quoted(table.name)}"
    columns = []
    for i, f in enumerate(schema.fields):
        line = f"  {_quoted(f.name)} {spectrum_type(f.dataType, f'{table.full_name}.{f.name}')}"
        line += "," if i < len(schema.fields) - 1 else ""
        comment = table.comments.get(f.name) or f.metadata.get("comment") or ""
        columns.append(f"{line}  -- {_one_line(comment)}" if comment else line)
    body = "\n".join(columns)
    return (f"-- {table.full_name}: {_one_line(table.description)}\n"
            f"DROP TABLE IF EXISTS {name};\n"
            f"CREATE EXTERNAL TABLE {name} (\n{body}\n)\n{_SYMLINK_STORAGE}\n"
            f"LOCATION '{glue_location(manifests)}';")


def spectrum_ddl(statements: list[str]) -> str:
    """The DDL file: a header, then the statements, one blank line apart."""
    header = ("-- Redshift Spectrum over gold's symlink manifests, written by `lakehouse publish --redshift`.\n"
              "-- Run it in Redshift as a user who may create external schemas; re-running it replaces the tables.")
    return "\n\n".join([header, *statements]) + "\n"


def write_if_changed(target: Path, text: str) -> bool:
    """Write `text` to `target` unless it already holds exactly that; whether it was written."""
    if target.exists() and target.read_text(encoding="utf-8") == text:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return True


def publish_redshift(spark: SparkSession, root: str, external_schema: str, glue_database: str,
                     iam_role: str | None, out_dir: Path, progress: Progress = no_progress) -> list[str]:
    """Regenerate every existing gold table's manifests and write `out_dir/spectrum.sql` over them.

    Args:
        spark: the session, to generate the manifests and read each table's schema.
        root: the lakehouse's storage root.
        external_schema: the Redshift external schema the DDL creates.
        glue_database: the Glue database behind it (Spectrum's own entries).
        iam_role: the role ARN Redshift assumes; None writes `IAM_ROLE_PLACEHOLDER` (and says so).
        out_dir: where the DDL file goes (created if missing).
        progress: where progress lines go.

    Returns:
        The gold tables in the DDL, as `gold.name`; a gold table with no Delta table yet is left out.
    """
    if iam_role is None:
        progress(f"redshift.iam_role is not set: {DDL_FILE} names {IAM_ROLE_PLACEHOLDER}, replace it before running")
    statements = [external_schema_ddl(external_schema, glue_database, iam_role or IAM_ROLE_PLACEHOLDER)]
    published = []
    for table in tables_in("gold"):
        if not delta.exists(spark, root, table.full_name):
            continue
        manifests = delta.generate_manifest(spark, root, table.full_name)
        schema = delta.table_schema(spark, root, table.full_name)
        statements.append(external_table_ddl(table, schema, manifests, external_schema))
        published.append(table.full_name)
        progress(f"{table.full_name}: manifest of version {delta.version(spark, root, table.full_name)}")
    target = out_dir / DDL_FILE
    written = write_if_changed(target, spectrum_ddl(statements))
    progress(f"{target}: {'written' if written else 'unchanged'} ({len(published)} gold tables)")
    return published
