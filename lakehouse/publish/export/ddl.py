"""The SQL the export runs: staging tables, their key, indexes, comments and statistics, the swap,
and the bookkeeping table. Statements only (psycopg `sql` compositions); `run` executes them.

Every name is quoted as an identifier, schema-qualified where it names a table.
"""
from __future__ import annotations

from psycopg import sql

from lakehouse.publish.export.plan import PG_TYPES, Plan

BOOKKEEPING = "_lakehouse_export"
STAGE = "_stage_"

SCHEMA_EXISTS = "SELECT 1 FROM pg_namespace WHERE nspname = %s"
TABLES_IN_SCHEMA = ("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relkind = 'r'")
# One export per schema at a time; the lock ends with the transaction. Parameter: `lock_key(schema)`.
EXPORT_LOCK = "SELECT pg_advisory_xact_lock(hashtext(%s))"
LOAD_SETTINGS = "SET LOCAL maintenance_work_mem = '256MB'"  # index builds sort in memory
SWAP_SETTINGS = "SET LOCAL lock_timeout = '10s'"  # a swap waits for readers this long, then retries


def lock_key(schema: str) -> str:
    """The text whose hash is the advisory lock of exports to `schema`."""
    return f"lakehouse export {schema}"


def create_schema(schema: str) -> sql.Composed:
    return qualified("CREATE SCHEMA {}", schema)


def create_bookkeeping(schema: str) -> sql.Composed:
    """The table recording, per gold table, the snapshot and definition its export holds."""
    return qualified(
        "CREATE TABLE IF NOT EXISTS {} (table_name text PRIMARY KEY, delta_version bigint NOT NULL, "
        "delta_committed_at timestamptz, definition text NOT NULL, rows bigint NOT NULL, "
        "exported_at timestamptz NOT NULL)", schema, BOOKKEEPING)


def select_bookkeeping(schema: str) -> sql.Composed:
    return qualified("SELECT table_name, delta_version, delta_committed_at, definition FROM {}", schema, BOOKKEEPING)


def record_export(schema: str) -> sql.Composed:
    """Upsert one table's bookkeeping row. Parameters: table, Delta version, commit time, definition, rows."""
    return qualified(
        "INSERT INTO {} VALUES (%s, %s, %s, %s, %s, now()) ON CONFLICT (table_name) DO UPDATE SET "
        "delta_version = EXCLUDED.delta_version, delta_committed_at = EXCLUDED.delta_committed_at, "
        "definition = EXCLUDED.definition, rows = EXCLUDED.rows, exported_at = EXCLUDED.exported_at",
        schema, BOOKKEEPING)


def create_staging(schema: str, p: Plan) -> sql.Composed:
    columns = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(PG_TYPES[k])) for c, k in p.columns)
    return sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(schema, STAGE + p.table.name), columns)


def copy_into_staging(schema: str, p: Plan) -> sql.Composed:
    # FREEZE: the table is new in this transaction, so its rows can be written already frozen and
    # readers' first scans do not rewrite every page to set hint bits.
    return qualified("COPY {} FROM STDIN (FORMAT binary, FREEZE)", schema, STAGE + p.table.name)


def finish_staging(schema: str, p: Plan, comments: dict[str, str | None]) -> list[sql.Composed]:
    """The staging table's primary key, indexes, comments and statistics, in that order (built after
    the load: faster than maintaining them row by row; statistics so readers' plans have them from
    the start)."""
    staged = sql.Identifier(schema, STAGE + p.table.name)
    names = index_names(p, STAGE)
    statements = [sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
        staged, sql.Identifier(names[0]), sql.SQL(", ").join(map(sql.Identifier, p.table.keys)))]
    statements += [sql.SQL("CREATE INDEX {} ON {} ({})").format(sql.Identifier(name), staged, sql.Identifier(column))
                   for name, column in zip(names[1:], p.indexed, strict=True)]
    statements.append(sql.SQL("COMMENT ON TABLE {} IS {}").format(staged, sql.Literal(p.table.description)))
    statements += [sql.SQL("COMMENT ON COLUMN {} IS {}").format(
        sql.Identifier(schema, STAGE + p.table.name, column), sql.Literal(comment))
        for column, comment in comments.items() if comment]
    statements.append(sql.SQL("ANALYZE {}").format(staged))
    return statements


def swap_in(schema: str, p: Plan) -> list[sql.Composed]:
    """Drop the old table and rename the staging table, its key and its indexes into place."""
    staged, final = index_names(p, STAGE), index_names(p)
    return [
        qualified("DROP TABLE IF EXISTS {}", schema, p.table.name),
        sql.SQL("ALTER TABLE {} RENAME TO {}").format(
            sql.Identifier(schema, STAGE + p.table.name), sql.Identifier(p.table.name)),
        sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
            sql.Identifier(schema, p.table.name), sql.Identifier(staged[0]), sql.Identifier(final[0])),
        *[sql.SQL("ALTER INDEX {} RENAME TO {}").format(sql.Identifier(schema, old), sql.Identifier(new))
          for old, new in zip(staged[1:], final[1:], strict=True)],
    ]


def index_names(p: Plan, prefix: str = "") -> list[str]:
    """The primary key's name, then the indexes' names, for the table named `prefix + name`."""
    return [f"{prefix}{p.table.name}_pkey"] + [f"{prefix}{p.table.name}_{c}_idx" for c in p.indexed]


def qualified(template: str, *name: str) -> sql.Composed:
    """`template` with its one `{}` filled by the (schema-qualified) identifier `name`."""
    return sql.SQL(template).format(sql.Identifier(*name))
