"""The API's database role: it logs in, reads the export's schema, and can do nothing else.

`reader_statements` are the grants, run as the role that owns the exported schema (the export's
own role), so they hold for the tables every later export creates (default privileges): USAGE on
the schema, SELECT on its tables now and to come, CONNECT on the database; PUBLIC loses the public
schema of that database and its temporary tables. The role itself is made by someone who may create roles (the embedded
server's superuser here, the RDS master user on AWS: README, "API"), NOSUPERUSER, NOCREATEDB,
NOCREATEROLE, NOINHERIT, read-only by default (`default_transaction_read_only`). Other databases
of the embedded server (the registry, with personal data in clear) are closed to it: their CONNECT
is taken from PUBLIC.
"""
from __future__ import annotations

from typing import Any

from psycopg import sql


def create_role_statements(role: str, password_verifier: str, statement_timeout_ms: int) -> list[sql.Composed]:
    """Run by a role that may create roles: the reader, its SCRAM verifier, its read-only defaults."""
    r = sql.Identifier(role)
    return [
        sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS "
                "PASSWORD {}").format(r, sql.Literal(password_verifier)),
        sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(r),
        sql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(r, sql.Literal(statement_timeout_ms)),
    ]


def reader_statements(database: str, schema: str, owner: str, role: str) -> list[sql.Composable]:
    """Run in the export's database by its owner (or a superuser): the reader's grants."""
    r, s, o = sql.Identifier(role), sql.Identifier(schema), sql.Identifier(owner)
    return [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(s, o),
        sql.SQL("REVOKE ALL ON SCHEMA public FROM PUBLIC"),
        sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)),
        sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC").format(s),
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), r),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(s, r),
        sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(o, s, r),
    ]


def ensure_reader(admin: Any, database: str, schema: str, owner: str, role: str, password: str,
                  statement_timeout_ms: int) -> None:
    """With `admin`, a superuser's autocommit connection to `database`: the role made (or its
    password and settings refreshed), its grants, and every other database's CONNECT taken from PUBLIC."""
    if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
        admin.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
    verifier = admin.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
    for statement in [*create_role_statements(role, verifier, statement_timeout_ms),
                      *reader_statements(database, schema, owner, role)]:
        admin.execute(statement)
    others = admin.execute("SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> %s",
                           (database,)).fetchall()
    for (name,) in others:
        admin.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))
