"""Reading the exported gold schema in PostgreSQL: the resources, their keyset pages, one object.

Every statement is composed with psycopg's `sql` (identifiers quoted) and every value is a bound
parameter: a filter, a page token's key, a region. A caller's regions are a condition of every
statement (`region = ANY(...)`), so an object of another region is simply not found.

The rows of a page and the exported Delta versions come from one transaction, versions read after
the rows: the export swaps its tables in with exclusive locks, so while this transaction holds its
read locks it sees no swap, and a swap that lands before the rows query is already in the versions
(the `ETag` always names the data the answer holds).
"""
from __future__ import annotations

import datetime as dt
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from lakehouse.api import models

BOOKKEEPING = "_lakehouse_export"  # lakehouse.publish.export.ddl.BOOKKEEPING (the export's, kept in step by a test)
# The PostgreSQL type a key value from a page token is cast to, by the model field's Python type.
_CASTS = {dt.date: "date", str: "text", dt.datetime: "timestamptz"}


@dataclass(frozen=True)
class Resource:
    """A paged gold table: its model's fields are the columns, `key` the keyset order (its primary key)."""

    table: str
    model: type[models.Model]
    key: tuple[str, ...]
    filters: tuple[str, ...] = ()
    date_column: str | None = "date"
    columns: tuple[str, ...] = field(init=False)
    casts: dict[str, str] = field(init=False)  # key column -> the PostgreSQL type a token's value is cast to

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.model.model_fields))
        hints = typing.get_type_hints(self.model)
        kinds = {c: (typing.get_args(hints[c]) or (hints[c],))[0] for c in self.key}
        object.__setattr__(self, "casts", {c: _CASTS[kind] for c, kind in kinds.items()})

    @property
    def full_name(self) -> str:
        return f"gold.{self.table}"


ENROLLMENTS_DAILY = Resource("kpi_enrollments_daily", models.EnrollmentsDaily, ("date", "region", "channel"),
                             ("region", "channel"))
VALIDATION_TIMES_DAILY = Resource("kpi_validation_times_daily", models.ValidationTimesDaily,
                                  ("date", "region", "modality"), ("region", "modality"))
OFFICE_DAILY = Resource("kpi_office_daily", models.OfficeDaily, ("date", "office_id"), ("region", "office_id"))
OFFICES = Resource("dim_office", models.Office, ("office_id",), ("region",), date_column=None)
ALERTS = Resource("alerts", models.Alert, ("incident_id",), ("status", "severity", "rule", "region"))
ENROLLMENT_COLUMNS = tuple(c for c in models.Enrollment.model_fields if c != "validations")
VALIDATION_COLUMNS = tuple(models.Validation.model_fields)
FRESHNESS_COLUMNS = ("table_name", "delta_version", "delta_committed_at", "exported_at", "rows")


@dataclass(frozen=True)
class Conditions:
    """One page's conditions: equality filters, a date range, the caller's regions (None: all)."""

    filters: Mapping[str, str]
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    regions: frozenset[str] | None = None
    as_of: dt.datetime | None = None  # offices: the version valid then; None: the current one


class Gold:
    """The exported schema through `pool`, opened at the first use if the app's lifespan did not
    (on Lambda, where Mangum runs no lifespan: the pool lives in the instance's event loop)."""

    def __init__(self, pool: AsyncConnectionPool, schema: str) -> None:
        self._pool = pool
        self.schema = schema
        self._opened = False

    def connection(self) -> Any:
        return _Opening(self)

    async def open(self) -> None:
        if not self._opened:
            await self._pool.open(wait=False)
            self._opened = True

    async def close(self) -> None:
        if self._opened:
            await self._pool.close()
            self._opened = False

    def _table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    def _versions_sql(self) -> sql.Composed:
        return sql.SQL("SELECT table_name, delta_version FROM {}").format(self._table(BOOKKEEPING))

    async def versions(self) -> dict[str, int]:
        """The Delta version each exported gold table holds (the bookkeeping table alone)."""
        async with self.connection() as conn:
            rows = await (await conn.execute(self._versions_sql())).fetchall()
        return {name: version for name, version in rows}

    async def page(self, r: Resource, q: Conditions, after: Sequence[str | None] | None,
                   limit: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """Up to `limit` rows of `r` after key `after`, in key order, and the versions read with them."""
        where, params = self._conditions(r, q)
        if after is not None:
            casts = [sql.SQL("CAST({} AS {})").format(sql.Placeholder(), sql.SQL(r.casts[c])) for c in r.key]
            where.append(sql.SQL("({}) > ({})").format(sql.SQL(", ").join(map(sql.Identifier, r.key)),
                                                       sql.SQL(", ").join(casts)))
            params += list(after)
        statement = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT {}").format(
            sql.SQL(", ").join(map(sql.Identifier, r.columns)), self._table(r.table),
            sql.SQL(" AND ").join(where) if where else sql.SQL("true"),
            sql.SQL(", ").join(map(sql.Identifier, r.key)), sql.Literal(limit))
        async with self.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            rows = await (await cursor.execute(statement, params)).fetchall()
            versions = {n: v for n, v in await (await conn.execute(self._versions_sql())).fetchall()}
        return rows, versions

    def _conditions(self, r: Resource, q: Conditions) -> tuple[list[sql.Composable], list[Any]]:
        where: list[sql.Composable] = []
        params: list[Any] = []
        for column, value in q.filters.items():
            where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
        if r.date_column and q.date_from is not None and q.date_to is not None:
            where.append(sql.SQL("{} BETWEEN %s AND %s").format(sql.Identifier(r.date_column)))
            params += [q.date_from, q.date_to]
        if r is OFFICES:
            if q.as_of is None:
                where.append(sql.SQL("is_current"))
            else:
                where.append(sql.SQL("(valid_from IS NULL OR valid_from <= %s) "
                                     "AND (valid_to IS NULL OR valid_to > %s)"))
                params += [q.as_of, q.as_of]
        if q.regions is not None:
            where.append(sql.SQL("region = ANY(%s)"))
            params.append(sorted(q.regions))
        return where, params

    async def office(self, office_id: str, q: Conditions) -> tuple[dict[str, Any] | None, dict[str, int]]:
        """One office's version (current, or as of `q.as_of`), if the caller's regions hold it."""
        one = Conditions({"office_id": office_id}, regions=q.regions, as_of=q.as_of)
        rows, versions = await self.page(OFFICES, one, None, 1)
        return (rows[0] if rows else None), versions

    async def enrollment(self, enrollment_id: str,
                         regions: frozenset[str] | None) -> tuple[dict[str, Any] | None, dict[str, int]]:
        """One enrollment with its validations (those in the caller's regions), if its region is the caller's."""
        region = sql.SQL(" AND region = ANY(%s)") if regions is not None else sql.SQL("")
        extra = [sorted(regions)] if regions is not None else []
        one = sql.SQL("SELECT {} FROM {} WHERE enrollment_id = %s{}").format(
            sql.SQL(", ").join(map(sql.Identifier, ENROLLMENT_COLUMNS)), self._table("fct_enrollments"), region)
        validations = sql.SQL("SELECT {} FROM {} WHERE enrollment_id = %s{} ORDER BY event_time, validation_id").format(
            sql.SQL(", ").join(map(sql.Identifier, VALIDATION_COLUMNS)), self._table("fct_biometric_validations"),
            region)
        async with self.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            found = await (await cursor.execute(one, [enrollment_id, *extra])).fetchone()
            if found is not None:
                found["validations"] = await (await cursor.execute(validations, [enrollment_id, *extra])).fetchall()
            versions = {n: v for n, v in await (await conn.execute(self._versions_sql())).fetchall()}
        return found, versions

    async def freshness(self) -> list[dict[str, Any]]:
        statement = sql.SQL("SELECT {} FROM {} ORDER BY table_name").format(
            sql.SQL(", ").join(map(sql.Identifier, FRESHNESS_COLUMNS)), self._table(BOOKKEEPING))
        async with self.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            return await (await cursor.execute(statement)).fetchall()

    async def ping(self) -> None:
        async with self.connection() as conn:
            await conn.execute("SELECT 1")


class _Opening:
    """`async with gold.connection() as conn`: the pool's connection, the pool opened first."""

    def __init__(self, gold: Gold) -> None:
        self._gold = gold
        self._context: Any = None

    async def __aenter__(self) -> Any:
        await self._gold.open()
        self._context = self._gold._pool.connection()
        return await self._context.__aenter__()

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._context.__aexit__(*exc)
