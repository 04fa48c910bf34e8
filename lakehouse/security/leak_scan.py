"""The leak scan: personal data that reached a place it may not live.

After every step that writes outside bronze and quarantine (silver, gold, the stream, the export,
the dashboard), the app layer runs this: it reads the national IDs and full names that bronze and
quarantine hold (the columns `lakehouse.personal` declares, `national-id` and `name`), and looks for
any of them in what the step wrote:

- a Delta table: every string cell, whole (a name) and split into tokens at anything but letters,
  digits, `_` and `-` (an ID inside a message; a UUID stays one token);
- a PostgreSQL schema: the same, in SQL, against a temporary table of the values;
- a text (the dashboard file, an API answer): tokens, and runs of two to four words (a name).

It also checks that no table keeps statistics on a personal column: the columns Delta indexes
(`delta.dataSkippingStatsColumns`, else the first `dataSkippingNumIndexedCols`, 32) are read from
the table's metadata.

A finding names the place and the column, never the value. Birth dates are not scanned: a date
in gold is a date, not a person.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.contract import TABLES, table
from lakehouse.errors import LakehouseError
from lakehouse.personal import ERASURE_REQUESTS, PERSONAL_LAYERS, column_of_kind, personal_names, tables_with
from lakehouse.storage import delta

SCANNED_KINDS = ("national-id", "name")
TOKEN_SEPARATORS = r"[^0-9A-Za-z_-]+"
_WORDS = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")
_TOKENS = re.compile(r"[0-9A-Za-z_-]+")
DEFAULT_INDEXED_COLUMNS = 32


@dataclass(frozen=True, order=True)
class Leak:
    """Personal data found where it may not live: `where` (a table, `postgres:<schema>.<table>`, a
    file), `column` (or `text`, or `statistics`), and the kind of value (never the value)."""

    where: str
    column: str
    kind: str

    def describe(self) -> str:
        return f"{self.where}.{self.column} ({self.kind})" if self.column != "text" else f"{self.where} ({self.kind})"


class LeakError(LakehouseError):
    """Personal data outside bronze and quarantine: the run fails, naming where (never what)."""

    def __init__(self, leaks: list[Leak]) -> None:
        self.leaks = leaks
        places = "; ".join(sorted({leak.describe() for leak in leaks}))
        super().__init__(f"personal data outside bronze and quarantine: {places}")


def may_hold_personal_data(name: str) -> bool:
    """Whether table `name` may hold personal data in clear (bronze, quarantine, pending erasures)."""
    return table(name).layer in PERSONAL_LAYERS or name == ERASURE_REQUESTS


def personal_values(spark: SparkSession, root: str) -> DataFrame:
    """(value, kind): every distinct national ID and full name bronze and quarantine hold."""
    parts = []
    for kind in SCANNED_KINDS:
        for source in tables_with(kind):
            column = column_of_kind(source, kind)
            for name in (source, source.replace("bronze.", "quarantine.", 1)):
                if name in TABLES and delta.exists(spark, root, name):
                    parts.append(delta.read(spark, root, name)
                                 .select(F.col(column).alias("value"), F.lit(kind).alias("kind")))
    if not parts:
        return spark.createDataFrame([], "value string, kind string")
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    return union.where(F.col("value").isNotNull() & (F.trim("value") != "")).distinct()


def _string_columns(df: DataFrame) -> list[str]:
    return [f.name for f in df.schema.fields if isinstance(f.dataType, T.StringType)]


def _cells(df: DataFrame, where: str) -> DataFrame | None:
    """(where, column, cell) for every non-null string cell of `df`; None without string columns."""
    columns = _string_columns(df)
    if not columns:
        return None
    return (df.select(F.explode(F.array(*[F.struct(F.lit(where).alias("where"), F.lit(c).alias("column"),
                                                   F.col(c).alias("cell")) for c in columns])).alias("c"))
            .select("c.where", "c.column", "c.cell").where(F.col("cell").isNotNull()))


def scan_frames(frames: dict[str, DataFrame], values: DataFrame) -> list[Leak]:
    """The (place, column, kind) of every string cell of the frames (by place) that equals, or holds
    a token equal to, a value: one Spark job for all of them."""
    parts = [cells for where, df in frames.items() if (cells := _cells(df, where)) is not None]
    if not parts:
        return []
    cells = parts[0]
    for part in parts[1:]:
        cells = cells.unionAll(part)
    candidates = cells.select("where", "column", F.explode(
        F.array_union(F.array("cell"), F.split("cell", TOKEN_SEPARATORS))).alias("value"))
    hits = candidates.join(F.broadcast(values), "value").select("where", "column", "kind").distinct().collect()
    return sorted(Leak(r["where"], r["column"], r["kind"]) for r in hits)


def scan_frame(df: DataFrame, where: str, values: DataFrame) -> list[Leak]:
    """`scan_frames` of one frame."""
    return scan_frames({where: df}, values)


def indexed_columns(spark: SparkSession, root: str, name: str) -> list[str]:
    """The columns whose min/max Delta writes into every commit of table `name` (its metadata)."""
    settings = delta.properties(spark, root, name)
    if settings.get("delta.dataSkippingStatsColumns"):
        return [c.strip().strip("`") for c in settings["delta.dataSkippingStatsColumns"].split(",")]
    count = int(settings.get("delta.dataSkippingNumIndexedCols", DEFAULT_INDEXED_COLUMNS))
    names = delta.table_schema(spark, root, name).fieldNames()
    return names if count < 0 else names[:count]


def scan_statistics(spark: SparkSession, root: str, names: Iterable[str]) -> list[Leak]:
    """A leak for every personal column among the statistics columns of the tables `names`."""
    personal = personal_names()
    return [Leak(name, column, "statistics") for name in names if delta.exists(spark, root, name)
            for column in indexed_columns(spark, root, name) if column in personal]


def scan_tables(spark: SparkSession, root: str, names: Iterable[str], values: DataFrame | None = None) -> list[Leak]:
    """Leaks in the tables `names`: personal values outside bronze and quarantine, and personal
    statistics columns anywhere. `values` defaults to `personal_values` (read once per call)."""
    names = [n for n in names if delta.exists(spark, root, n)]
    leaks = scan_statistics(spark, root, names)
    outside = [n for n in names if not may_hold_personal_data(n)]
    if outside:
        values = values if values is not None else personal_values(spark, root)
        leaks += scan_frames({name: delta.read(spark, root, name) for name in outside}, values)
    return leaks


def text_candidates(text: str) -> set[str]:
    """The tokens of a text and its runs of two to four words: what a value would show up as.

    Example: "Ana María López, 40718231" -> {"Ana", "Mar", "a", ..., "40718231",
    "Ana María", "María López", "Ana María López", ...}."""
    found = set(_TOKENS.findall(text))
    words = _WORDS.findall(text)
    for n in (2, 3, 4):
        found.update(" ".join(words[i:i + n]) for i in range(len(words) - n + 1))
    return found


def scan_text(text: str, where: str, values: dict[str, str]) -> list[Leak]:
    """Leaks in a text (`values`: value -> kind, e.g. from `collect_values`)."""
    kinds = {values[c] for c in text_candidates(text) if c in values}
    return [Leak(where, "text", kind) for kind in sorted(kinds)]


def collect_values(spark: SparkSession, root: str) -> dict[str, str]:
    """`personal_values` on the driver, value -> kind (for texts and PostgreSQL)."""
    return {r["value"]: r["kind"] for r in personal_values(spark, root).collect()}


def scan_postgres(conn: Any, schema: str, values: dict[str, str]) -> list[Leak]:
    """Leaks in every table of a PostgreSQL schema (a psycopg connection): each text column's
    values, whole and split into tokens, joined with a temporary table of `values`."""
    from psycopg import sql

    if not values:
        return []
    with conn.transaction():
        conn.execute("CREATE TEMPORARY TABLE _leak_scan_values (value text PRIMARY KEY, kind text) ON COMMIT DROP")
        with conn.cursor().copy("COPY _leak_scan_values (value, kind) FROM STDIN") as copy:
            for value, kind in values.items():
                copy.write_row((value, kind))
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s "
            "AND data_type IN ('text', 'character varying', 'character') ORDER BY table_name, column_name",
            (schema,)).fetchall()
        leaks = []
        for table_name, column in columns:
            query = sql.SQL(
                "SELECT DISTINCT v.kind FROM {table} x CROSS JOIN LATERAL "
                "(SELECT x.{column} AS value UNION SELECT regexp_split_to_table(x.{column}, %s)) t "
                "JOIN _leak_scan_values v ON v.value = t.value"
            ).format(table=sql.Identifier(schema, table_name), column=sql.Identifier(column))
            found = conn.execute(query, (TOKEN_SEPARATORS,)).fetchall()
            leaks += [Leak(f"postgres:{schema}.{table_name}", column, kind) for (kind,) in sorted(found)]
    return leaks
