"""Bronze shaping of registry changes (offices, operators), as read from the registry database."""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.functions import stamp

# The registry columns each bronze table keeps, key first.
REGISTRY_COLUMNS = {
    "offices": ["office_id", "name", "region", "district", "opened_on", "updated_at"],
    "operators": ["operator_id", "office_id", "full_name", "role", "updated_at"],
}


def bronze_registry(changes: DataFrame, table: str, batch_id: str, ingested_at: DataFrame) -> DataFrame:
    """Registry rows of `table` ("offices" or "operators") in its bronze table's shape.

    Grain: one row per captured change (key, updated_at); `_raw` is the row as JSON, `_source`
    "postgresql:<table>:<key>@<updated_at>", `_ingested_at` the one timestamp of `ingested_at`.

    Example: ("OF-1", "Central", ..., updated_at 2026-10-01 08:00) -> the same plus
    ``_source="postgresql:offices:OF-1@2026-10-01T08:00:00.000000"``, ``_raw='{"office_id":"OF-1",...}'``.
    """
    columns = REGISTRY_COLUMNS[table]
    return changes.transform(stamp, "_ingested_at", ingested_at).select(
        *columns,
        F.to_json(F.struct(*columns)).alias("_raw"),
        F.concat(F.lit(f"postgresql:{table}:"), F.col(columns[0]), F.lit("@"),
                 F.date_format("updated_at", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS")).alias("_source"),
        "_ingested_at",
        F.lit(batch_id).alias("_batch_id"),
    )


def new_changes(changes: DataFrame, bronze: DataFrame, table: str) -> DataFrame:
    """The changes read from the registry that bronze does not hold yet: the (key, updated_at)
    pairs not in `bronze` (the read is `updated_at >= watermark`, so the watermark's own rows come
    back and are dropped here).

    Example: changes (OF-1, t1), (OF-1, t2) and bronze (OF-1, t1) -> (OF-1, t2).
    """
    key = REGISTRY_COLUMNS[table][0]
    return changes.join(bronze.select(key, "updated_at"), [key, "updated_at"], how="left_anti")
