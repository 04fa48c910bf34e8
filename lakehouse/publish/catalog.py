"""Registering silver and gold in the Glue Data Catalog, so Athena reads them natively as Delta.

Spark's own Glue registration of a Delta table stores a placeholder schema (one `col array<string>`
column): Athena still reads the data from the Delta log, but BI tools, Lake Formation and Athena
views see no real columns. Each entry written here carries the table's real columns, typed for
Glue/Hive and commented, taken from the Delta log (so a column added by a schema merge shows up),
with the contract's column comments and the table's description.

Publishing is idempotent: an entry whose managed parts (type, parameters, location, columns,
description) already match is left alone, so Glue keeps its version and update time.
"""
from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from lakehouse.contract import Table, tables_in
from lakehouse.errors import LakehouseError
from lakehouse.ops.results import Progress, no_progress
from lakehouse.storage import delta

# What Athena needs to read a Glue entry natively as Delta (table_type, EXTERNAL, the location);
# the provider and the SerDe `path` let Spark on EMR, with Glue as its metastore, read it as Delta too.
PARAMETERS = {
    "table_type": "DELTA",
    "EXTERNAL": "TRUE",
    "classification": "delta",
    "spark.sql.sources.provider": "delta",
}

# Glue's limits: a longer comment or description fails the whole CreateTable/UpdateTable call.
MAX_COMMENT = 255
MAX_DESCRIPTION = 2048

_SIMPLE_TYPES: dict[type[T.DataType], str] = {
    T.StringType: "string",
    T.LongType: "bigint",
    T.IntegerType: "int",
    T.ShortType: "smallint",
    T.ByteType: "tinyint",
    T.DoubleType: "double",
    T.FloatType: "float",
    T.BooleanType: "boolean",
    T.DateType: "date",
    T.TimestampType: "timestamp",
    T.TimestampNTZType: "timestamp",
    T.BinaryType: "binary",
}


def glue_type(data_type: T.DataType, where: str = "column") -> str:
    """The Glue/Hive type name of a Spark type, e.g. `array<struct<a:string,b:bigint>>`.

    Raises:
        LakehouseError: for a type Athena cannot read (interval, variant, ...), naming `where`.
    """
    if isinstance(data_type, T.ArrayType):
        return f"array<{glue_type(data_type.elementType, where)}>"
    if isinstance(data_type, T.MapType):
        return f"map<{glue_type(data_type.keyType, where)},{glue_type(data_type.valueType, where)}>"
    if isinstance(data_type, T.StructType):
        fields = ",".join(f"{f.name}:{glue_type(f.dataType, where)}" for f in data_type.fields)
        return f"struct<{fields}>"
    if isinstance(data_type, T.DecimalType):
        return f"decimal({data_type.precision},{data_type.scale})"
    if isinstance(data_type, T.CharType | T.VarcharType):
        return data_type.simpleString()
    simple = _SIMPLE_TYPES.get(type(data_type))
    if simple is None:
        raise LakehouseError(f"{where}: type {data_type.simpleString()} has no Glue/Athena equivalent")
    return simple


def glue_columns(table: Table, schema: T.StructType) -> list[dict[str, str]]:
    """Glue columns for `schema`: the contract's comment for a column, else the Delta column's own."""
    columns = []
    for f in schema.fields:
        column = {"Name": f.name, "Type": glue_type(f.dataType, f"{table.full_name}.{f.name}")}
        comment = table.comments.get(f.name) or f.metadata.get("comment") or ""
        if comment:
            column["Comment"] = comment[:MAX_COMMENT]
        columns.append(column)
    return columns


def glue_location(location: str) -> str:
    """Athena knows S3 locations as `s3://` only; Hadoop's `s3a://` names the same object."""
    return "s3://" + location.removeprefix("s3a://") if location.startswith("s3a://") else location


def table_input(table: Table, schema: T.StructType, location: str) -> dict[str, Any]:
    """The Glue TableInput registering `table` (at `location`, with `schema`) as a native Delta table."""
    location = glue_location(location)
    return {
        "Name": table.name,
        "Description": table.description[:MAX_DESCRIPTION],
        "TableType": "EXTERNAL_TABLE",
        "Parameters": dict(PARAMETERS),
        "StorageDescriptor": {
            "Columns": glue_columns(table, schema),
            "Location": location,
            "SerdeInfo": {"Parameters": {"path": location}},
        },
    }


def _managed(entry: dict[str, Any]) -> dict[str, Any]:
    """The parts of a Glue entry (a TableInput or GetTable's Table) this module manages, normalized.

    Glue adds fields of its own (CreateTime, VersionId, default storage settings, parameters other
    engines set) and may drop an empty comment or change a type's case; none of that is a change.
    """
    storage = entry.get("StorageDescriptor") or {}
    parameters = entry.get("Parameters") or {}
    serde = (storage.get("SerdeInfo") or {}).get("Parameters") or {}
    return {
        "Description": entry.get("Description") or "",
        "TableType": entry.get("TableType") or "",
        "Parameters": {key: parameters.get(key) for key in PARAMETERS},
        "Location": storage.get("Location") or "",
        "path": serde.get("path"),
        "Columns": [(c["Name"].lower(), c["Type"].replace(" ", "").lower(), c.get("Comment") or "")
                    for c in storage.get("Columns") or []],
    }


def put_table(glue: Any, database: str, desired: dict[str, Any]) -> str:
    """Create or update one Glue entry; "created", "updated" or "unchanged" (no call made)."""
    try:
        current = glue.get_table(DatabaseName=database, Name=desired["Name"])["Table"]
    except glue.exceptions.EntityNotFoundException:
        glue.create_table(DatabaseName=database, TableInput=desired)
        return "created"
    if _managed(current) == _managed(desired):
        return "unchanged"
    glue.update_table(DatabaseName=database, TableInput=desired)
    return "updated"


def ensure_database(glue: Any, database: str, layer: str) -> bool:
    """Create the layer's Glue database if it is missing; whether it was created."""
    try:
        glue.get_database(Name=database)
        return False
    except glue.exceptions.EntityNotFoundException:
        glue.create_database(DatabaseInput={"Name": database, "Description": f"Lakehouse {layer} layer (Delta)."})
        return True


def publish_catalog(spark: SparkSession, root: str, databases: dict[str, str], glue: Any,
                    progress: Progress = no_progress) -> dict[str, str]:
    """Register every existing Delta table of the given layers in the Glue Data Catalog.

    One Glue database per layer. Each table's columns come from its Delta schema as it is now. A
    registered table whose Delta table does not exist yet is not published: its outcome is
    "skipped" and a progress line names it.

    Args:
        spark: the session, to read each table's schema from its Delta log.
        root: the lakehouse's storage root.
        databases: layer ("silver", "gold") -> its Glue database, created if missing; the layers
            are published in this order.
        glue: a boto3 Glue client (on AWS, or the local moto server's).
        progress: where progress lines go.

    Returns:
        `layer.table` -> "created" | "updated" | "unchanged" | "skipped".
    """
    outcomes: dict[str, str] = {}
    for layer, database in databases.items():
        if ensure_database(glue, database, layer):
            progress(f"Glue database {database} created")
        for table in tables_in(layer):
            if not delta.exists(spark, root, table.full_name):
                outcomes[table.full_name] = "skipped"
                continue
            location = delta.path(root, table.full_name)
            schema = delta.table_schema(spark, root, table.full_name)
            outcome = put_table(glue, database, table_input(table, schema, location))
            outcomes[table.full_name] = outcome
            progress(f"{table.full_name} -> {database}.{table.name}: {outcome}")
    skipped = [name for name, outcome in outcomes.items() if outcome == "skipped"]
    if skipped:
        progress(f"not published, no Delta table yet: {', '.join(skipped)}")
    return outcomes
