"""The API's database role: it reads the exported schema and nothing else, and writes nothing."""
from __future__ import annotations

import psycopg
import pytest
from api_support import READER, Gold

from lakehouse.errors import SourceError
from lakehouse.sources.postgres import Endpoint, connect


def test_the_reader_cannot_write(api_gold: Gold) -> None:
    for statement in ("INSERT INTO gold.fct_enrollments (enrollment_id) VALUES ('x')",
                      "UPDATE gold.kpi_enrollments_daily SET enrollments_started = 0",
                      "DELETE FROM gold.dim_office", "CREATE TABLE gold.mine (x int)", "DROP TABLE gold.dim_office",
                      "CREATE TEMP TABLE mine (x int)"):
        with connect(api_gold.reader) as conn, pytest.raises(psycopg.Error):
            conn.execute(statement)
    # refused for want of the privilege too, not only by the read-only default (which a session may change)
    with connect(api_gold.reader) as conn:
        conn.execute("SET default_transaction_read_only = off")
        conn.execute("BEGIN READ WRITE")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO gold.fct_enrollments (enrollment_id) VALUES ('x')")
    (count,), = api_gold.rows("SELECT count(*) FROM gold.fct_enrollments WHERE enrollment_id = 'x'")
    assert count == 0


def test_the_reader_sees_only_the_gold_schema(api_gold: Gold) -> None:
    with connect(api_gold.owner) as conn:  # a table outside gold, in the same database
        conn.execute("CREATE TABLE IF NOT EXISTS public.not_for_the_api (x int)")
        conn.commit()
    with connect(api_gold.reader) as conn:
        schemas = {s for s, in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE has_schema_privilege(%s, oid, 'USAGE')", (READER,))}
        assert schemas - {"pg_catalog", "information_schema"} == {"gold"}
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM public.not_for_the_api")
    registry = Endpoint(api_gold.reader.host, api_gold.reader.port, "registry", READER, api_gold.reader.password)
    with pytest.raises(SourceError, match="permission denied|not permitted"):
        connect(registry, "registry database")
    # and its grants hold for the tables a later export creates (default privileges)
    with connect(api_gold.owner) as conn:
        conn.execute("CREATE TABLE gold._stage_probe (x int)")
        conn.commit()
    try:
        with connect(api_gold.reader) as conn:
            assert conn.execute("SELECT count(*) FROM gold._stage_probe").fetchone() == (0,)
    finally:
        with connect(api_gold.owner) as conn:
            conn.execute("DROP TABLE gold._stage_probe")
            conn.commit()
