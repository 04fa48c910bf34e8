"""What a gold table becomes in PostgreSQL: its columns and their types, its key and indexes.

A plan is worked out from the table contract alone, so it is known before any database is
reached, and its digest (`Plan.definition`) tells the export whether an exported table still has
the shape the contract gives it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from lakehouse import contract
from lakehouse.contract import Table
from lakehouse.errors import LakehouseError
from lakehouse.publish.export.copy_codec import LAYOUTS

# Spark type -> PostgreSQL type.
PG_TYPES: dict[str, str] = {
    "string": "text", "binary": "bytea", "boolean": "boolean", "tinyint": "smallint", "smallint": "smallint",
    "int": "integer", "bigint": "bigint", "float": "real", "double": "double precision", "date": "date",
    "timestamp": "timestamptz", "timestamp_ntz": "timestamp",
}


class ExportError(LakehouseError):
    """The export cannot go on; the message names the table and the reason."""


@dataclass(frozen=True)
class Snapshot:
    """Which gold data an export holds: the Delta version and when it was committed."""

    version: int
    committed_at: datetime | None


@dataclass(frozen=True)
class Plan:
    """The PostgreSQL table a gold table becomes."""

    table: Table
    columns: tuple[tuple[str, str], ...]  # (name, Spark type)
    indexed: tuple[str, ...]

    @property
    def definition(self) -> str:
        """A digest of everything that shapes the PostgreSQL table: a change re-exports it.

        The type map enters as (PostgreSQL type, COPY layout) per Spark type, the form the
        bookkeeping's digests were first computed in, so tables exported before stay unchanged.
        """
        t = self.table
        types = {kind: (name, LAYOUTS[kind]) for kind, name in PG_TYPES.items()}
        shape = [self.columns, t.keys, self.indexed, t.description, sorted(t.comments.items()), types]
        return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


def plan(t: Table) -> Plan:
    """The PostgreSQL table for gold table `t`: columns from the contract schema, its key as the
    primary key, and indexes on the filter columns: the date columns (or, with none, the first
    timestamp), region and office_id, except one the primary key already leads with.

    Raises:
        ExportError: the table has no key, or a column has a type with no PostgreSQL export.
    """
    if not t.keys:
        raise ExportError(f"{t.full_name} has no key in the data contract: PostgreSQL needs a primary key")
    columns = tuple((f.name, f.dataType.simpleString()) for f in contract.schema(t.full_name).fields)
    for name, kind in columns:
        if kind not in PG_TYPES:
            raise ExportError(f"{t.full_name}.{name}: no PostgreSQL export for Spark type {kind}")
    kinds = dict(columns)
    dates = [c for c, k in columns if k == "date"] or [c for c, k in columns if k.startswith("timestamp")][:1]
    wanted = dates + [c for c in ("region", "office_id") if c in kinds]
    return Plan(t, columns, tuple(c for c in wanted if c != t.keys[0]))
