"""PostgreSQL databases the lakehouse reads (the registry) and writes (the export): how to reach one.

On AWS a database is RDS, named by a `jdbc_url` in config, its password from Secrets Manager;
locally the app layer starts the embedded server of `lakehouse.local.postgres` instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from lakehouse.errors import SourceError


@dataclass(frozen=True)
class Endpoint:
    """How to reach the database, for JDBC (Spark) and for psycopg (set-up and tests)."""

    host: str
    port: int
    database: str
    user: str
    password: str | None = None

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.database}"

    def jdbc_properties(self) -> dict[str, str]:
        props = {"user": self.user, "driver": "org.postgresql.Driver"}
        if self.password:
            props["password"] = self.password
        return props

    def conninfo(self) -> str:
        # psycopg takes the password separately (see `connect`) so it never sits in a string.
        return f"host={self.host} port={self.port} dbname={self.database} user={self.user}"

    def __repr__(self) -> str:
        return f"Endpoint({self.host}:{self.port}/{self.database} as {self.user})"


def connect(endpoint: Endpoint, what: str = "database"):  # type: ignore[no-untyped-def]
    """A psycopg connection (autocommit off); `what` names the database in the error message."""
    import psycopg

    try:
        return psycopg.connect(endpoint.conninfo(), password=endpoint.password, connect_timeout=10)
    except psycopg.OperationalError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SourceError(f"{what} unreachable at {endpoint.host}:{endpoint.port}: {first}") from None


def jdbc_endpoint(jdbc_url: str | None, database: str, user: str, password: str | None, section: str) -> Endpoint:
    """The database `jdbc_url` names (RDS; `database` when the URL names none), checked to answer
    now, so an unreachable one is a one-line error rather than a JVM trace later. `section` names
    the config section in errors."""
    if not jdbc_url:
        raise SourceError(f"{section}.jdbc_url must be set when {section}.mode is 'jdbc'")
    parsed = urlparse(jdbc_url.removeprefix("jdbc:"))
    endpoint = Endpoint(parsed.hostname or "", parsed.port or 5432, parsed.path.lstrip("/") or database, user,
                        password)
    connect(endpoint, f"{section} database").close()
    return endpoint
