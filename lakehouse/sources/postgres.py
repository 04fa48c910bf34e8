"""PostgreSQL databases the lakehouse reads (the registry) and writes (the export): how to reach one.

On AWS a database is RDS, named by a `jdbc_url` in config, its password from Secrets Manager;
locally the app layer starts the embedded server of `lakehouse.local.postgres` instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

from lakehouse.errors import ConfigError, SourceError

# libpq's and pgJDBC's sslmode values that refuse a connection without TLS.
TLS_SSLMODES = ("require", "verify-ca", "verify-full")


@dataclass(frozen=True)
class Endpoint:
    """How to reach the database, for JDBC (Spark) and for psycopg (set-up and tests)."""

    host: str
    port: int
    database: str
    user: str
    password: str | None = None
    sslmode: str | None = None  # the JDBC URL's; None: the driver's default

    @property
    def jdbc_url(self) -> str:
        tls = f"?sslmode={self.sslmode}" if self.sslmode else ""
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.database}{tls}"

    def jdbc_properties(self) -> dict[str, str]:
        props = {"user": self.user, "driver": "org.postgresql.Driver"}
        if self.password:
            props["password"] = self.password
        return props

    def conninfo(self) -> str:
        # psycopg takes the password separately (see `connect`) so it never sits in a string.
        tls = f" sslmode={self.sslmode}" if self.sslmode else ""
        return f"host={self.host} port={self.port} dbname={self.database} user={self.user}{tls}"

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
                        password, sslmode(jdbc_url))
    connect(endpoint, f"{section} database").close()
    return endpoint


def sslmode(jdbc_url: str | None) -> str | None:
    """The `sslmode` a JDBC URL names (`...?sslmode=require`), if any."""
    query = parse_qs(urlparse((jdbc_url or "").removeprefix("jdbc:")).query)
    return query.get("sslmode", [None])[-1]


def require_encrypted_rds(rds: Any, instance: str, jdbc_url: str | None, section: str) -> None:
    """Refuse an RDS instance that is not encrypted at rest (`StorageEncrypted`), or a JDBC URL
    that would reach it without TLS (`sslmode` other than require, verify-ca, verify-full).

    Raises:
        ConfigError: The URL allows plain text, or the instance's storage is not encrypted.
        SourceError: The instance cannot be described (missing, no permission).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from lakehouse.errors import describe

    if sslmode(jdbc_url) not in TLS_SSLMODES:
        raise ConfigError(f"{section}.jdbc_url must say sslmode=require (or verify-ca, verify-full): "
                          f"the RDS instance '{instance}' of {section}.rds_instance is reached over TLS only")
    try:
        found = rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"]
    except (BotoCoreError, ClientError) as err:
        raise SourceError(f"cannot describe RDS instance '{instance}' of {section}.rds_instance: "
                          f"{describe(err)}") from None
    if not found or found[0].get("StorageEncrypted") is not True:
        raise ConfigError(f"RDS instance '{instance}' of {section}.rds_instance is not encrypted at rest "
                          "(StorageEncrypted is false): restore it from an encrypted snapshot copy, or name another")
