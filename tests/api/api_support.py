"""What the API tests share beside their fixtures: the test issuer, tokens' helpers, queries."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from fastapi.testclient import TestClient

from lakehouse.api.app import ApiSettings, create_app
from lakehouse.sources.postgres import Endpoint, connect

ISSUER = "https://issuer.test/lakehouse"
AUDIENCE = "lakehouse-api-tests"
REGION_CLAIM = "lakehouse_regions"
READER = "lakehouse_api"
READER_PASSWORD = "reader-" + uuid.uuid4().hex
ALL_SCOPES = ["kpi:read", "enrollment:read", "freshness:read"]


@dataclass(frozen=True)
class Gold:
    """The exported month: its lake (a copy), the owner's and the reader's endpoints, the admin's."""

    root: str
    owner: Endpoint
    reader: Endpoint
    admin: Endpoint

    def rows(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """An independent query, as the owner (the export's role)."""
        with connect(self.owner) as conn:
            return conn.execute(statement, params).fetchall()


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def client_with(settings: ApiSettings, **changes: Any) -> TestClient:
    """Another app over the same database, some settings changed (use it as a context manager)."""
    return TestClient(create_app(replace(settings, **changes)), raise_server_exceptions=False)


def month_range(gold: Gold, table: str = "kpi_enrollments_daily") -> tuple[str, str]:
    (first, last), = gold.rows(f"SELECT min(date), max(date) FROM gold.{table}")
    return first.isoformat(), last.isoformat()


def regions(gold: Gold) -> list[str]:
    """The month's regions, the one with the most enrollments first."""
    return [r for r, in gold.rows("SELECT region FROM gold.fct_enrollments GROUP BY region ORDER BY count(*) DESC, region")]
