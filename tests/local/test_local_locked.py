"""The local stand-ins are locked: PostgreSQL takes SCRAM passwords on 127.0.0.1 only (generated into
the local secrets folder, mode 0600), a folder made the old way (trust) is locked on start, and the
moto server listens on 127.0.0.1 only.

"Bound to loopback only" is checked twice over: what the process itself listens on (psutil reads
the kernel's socket table), and a connection to each of the machine's other addresses, refused.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import secrets
import socket
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
from pyspark.sql import SparkSession

from lakehouse import app
from lakehouse.config import Config, load_config
from lakehouse.local import aws
from lakehouse.local.aws import LocalAws
from lakehouse.local.postgres import EmbeddedPostgres, _embedded_postgres_commands
from lakehouse.sources.postgres import Endpoint, connect
from lakehouse.sources.registry import REGISTRY_DDL, read_changes

NO_PASSWORD = "no password supplied"  # libpq's words when the server asks for one and none is given
WRONG_PASSWORD = 'password authentication failed for user "{}"'  # SQLSTATE 28P01's message
NO_PASSFILE = "/nonexistent/.pgpass"  # so no ~/.pgpass lends a password


def _other_addresses() -> list[str]:
    """The machine's addresses other than loopback (IPv4 and IPv6, link-local left out)."""
    found = []
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                found.append(address.address)
            elif address.family == socket.AF_INET6 and address.address not in ("::1",) \
                    and not address.address.lower().startswith("fe80"):
                found.append(address.address)
    if not found:
        warnings.warn("this machine has no address but loopback: only the listening sockets are checked",
                      stacklevel=2)
    return found


def _connect_errno(address: str, port: int) -> int:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family) as s:
        s.settimeout(3)
        return s.connect_ex((address, port))


def _listening(pid: int) -> set[tuple[str, int]]:
    """The TCP addresses and ports process `pid` listens on."""
    return {(c.laddr.ip, c.laddr.port) for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN}


def _assert_loopback_only(pid: int, port: int) -> None:
    assert _listening(pid) == {("127.0.0.1", port)}
    assert _connect_errno("127.0.0.1", port) == 0
    for address in _other_addresses():
        assert _connect_errno(address, port) == errno.ECONNREFUSED, address
    if socket.has_ipv6:
        with contextlib.suppress(OSError):  # a machine without IPv6 loopback cannot be reached there at all
            assert _connect_errno("::1", port) != 0


def _hba_lines(data: Path) -> list[list[str]]:
    """The fields of each line of `pg_hba.conf` that is not a comment."""
    text = (data / "pg_hba.conf").read_text()
    return [line.split() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def _refused(endpoint: Endpoint, password: str | None) -> str:
    """The one-line refusal of a connection with `password` (None: no password; no ~/.pgpass either)."""
    with pytest.raises(psycopg.OperationalError) as err:
        psycopg.connect(endpoint.conninfo(), password=password, passfile=NO_PASSFILE, connect_timeout=10).close()
    return str(err.value)


# -- a fresh folder, through config and the app layer, as every command reaches it

@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Config, Endpoint, Endpoint]]:
    """A local config's registry server in a new folder: (config, the registry endpoint, the superuser's)."""
    config = load_config("local", {"storage.root": str(tmp_path_factory.mktemp("lake"))})
    with app.database("registry", config.registry, REGISTRY_DDL) as endpoint:
        admin_ref = config.registry.embedded_admin_password
        assert admin_ref and admin_ref.file
        admin = Endpoint(endpoint.host, endpoint.port, "postgres", "postgres", Path(admin_ref.file).read_text().strip())
        yield config, endpoint, admin


def test_the_passwords_are_generated_into_the_secrets_folder_mode_0600(
        locked: tuple[Config, Endpoint, Endpoint]) -> None:
    config, endpoint, admin = locked
    refs = [config.registry.password, config.registry.embedded_admin_password]
    files = [Path(ref.file) for ref in refs if ref and ref.file]
    assert [f.parent for f in files] == [Path(config.storage.local_dir or "") / "_secrets"] * 2
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert (endpoint.password, admin.password) == tuple(f.read_text().strip() for f in files)
    assert endpoint.password != admin.password
    assert all(len(p or "") >= 32 for p in (endpoint.password, admin.password))
    # the export reaches the same server as the same role: the same references
    assert (config.export.embedded_dir, config.export.password, config.export.embedded_admin_password) == (
        config.registry.embedded_dir, config.registry.password, config.registry.embedded_admin_password)


def test_no_password_or_a_wrong_one_is_refused(locked: tuple[Config, Endpoint, Endpoint]) -> None:
    config, endpoint, admin = locked
    wrong = secrets.token_hex(16)
    for who in (endpoint, admin):
        assert NO_PASSWORD in _refused(who, None)
        assert WRONG_PASSWORD.format(who.user) in _refused(who, wrong)
        with psycopg.connect(who.conninfo(), password=who.password, passfile=NO_PASSFILE) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (who.user,)
    log = (Path(config.registry.embedded_dir or "") / "server.log").read_text()
    assert log.count(WRONG_PASSWORD.format("lakehouse")) >= 1  # the server refused it, not only the client
    for value in (endpoint.password, admin.password, wrong):
        assert value and value not in log


def test_the_password_stays_out_of_repr_and_travels_as_the_jdbc_password_property(
        locked: tuple[Config, Endpoint, Endpoint]) -> None:
    _, endpoint, _ = locked
    assert endpoint.password
    assert endpoint.password not in repr(endpoint) and endpoint.password not in str(endpoint)
    assert endpoint.password not in endpoint.jdbc_url and endpoint.password not in endpoint.conninfo()
    assert endpoint.jdbc_properties()["password"] == endpoint.password


def test_pg_hba_has_one_scram_line_and_no_trust(locked: tuple[Config, Endpoint, Endpoint]) -> None:
    config, _, admin = locked
    assert _hba_lines(Path(config.registry.embedded_dir or "")) == [
        ["host", "all", "all", "127.0.0.1/32", "scram-sha-256"]]  # no trust, no local (socket) line
    with psycopg.connect(admin.conninfo(), password=admin.password, passfile=NO_PASSFILE) as conn:
        # what the server itself loaded, and how it keeps the roles' passwords
        assert conn.execute("SELECT type, address, netmask, auth_method, error FROM pg_hba_file_rules").fetchall() == [
            ("host", "127.0.0.1", "255.255.255.255", "scram-sha-256", None)]
        assert conn.execute("SHOW password_encryption").fetchone() == ("scram-sha-256",)
        stored = dict(conn.execute("SELECT rolname, rolpassword FROM pg_authid WHERE rolname IN "
                                   "('postgres', 'lakehouse')").fetchall())
    assert sorted(stored) == ["lakehouse", "postgres"]
    assert all(value.startswith("SCRAM-SHA-256$") for value in stored.values())


def test_the_server_listens_on_127_0_0_1_only_and_has_no_socket(locked: tuple[Config, Endpoint, Endpoint]) -> None:
    config, endpoint, admin = locked
    data = Path(config.registry.embedded_dir or "")
    with psycopg.connect(admin.conninfo(), password=admin.password, passfile=NO_PASSFILE) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW unix_socket_directories").fetchone() == ("",)
    postmaster = int((data / "postmaster.pid").read_text().splitlines()[0])
    _assert_loopback_only(postmaster, endpoint.port)
    assert not [c for c in psutil.Process(postmaster).net_connections(kind="unix") if c.laddr]
    assert not list(data.glob(".s.PGSQL.*"))


@pytest.mark.slow
def test_a_jdbc_read_carries_the_password_and_no_conf_or_plan_shows_it(
        spark: SparkSession, registry_db: Endpoint, capsys: pytest.CaptureFixture[str]) -> None:
    with connect(registry_db) as conn:
        conn.execute("INSERT INTO offices VALUES ('OF-0001', 'Centro 1', 'CENTRO', 'D1', DATE '2020-01-01', now())")
    offices = read_changes(spark, registry_db, "offices", ["office_id", "region"], None)
    assert [tuple(row) for row in offices.collect()] == [("OF-0001", "CENTRO")]
    # the same read without the `password` property is refused by the server
    with pytest.raises(Exception, match="SCRAM-based authentication, but no password was provided"):
        read_changes(spark, dataclasses.replace(registry_db, password=None), "offices", ["office_id"], None).collect()
    offices.explain(mode="extended")
    shown = capsys.readouterr().out
    assert "offices" in shown.lower()
    password = registry_db.password or ""
    assert password and password not in shown
    conf = [*spark.sparkContext.getConf().getAll(), *spark.conf.getAll.items()]
    assert password not in repr(conf)


# -- a folder an earlier version made: initdb --auth=trust, started with -h 127.0.0.1 -k <data>

def _old_way(data: Path) -> tuple[EmbeddedPostgres, int]:
    """A trust folder with the role and a row, as an earlier version left it, running (the old options)."""
    pg = _embedded_postgres_commands()
    server = EmbeddedPostgres(str(data), "registry", "lakehouse", "unused", "unused")
    data.mkdir(parents=True)
    user = server._run_as()
    if user:
        server._prepare_permissions(user)
    pg.initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=data, user=user)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    pg.pg_ctl(["-w", "-t", "60", "-o", f"-h 127.0.0.1 -p {port} -k {data}", "-l", str(data / "server.log"), "start"],
              pgdata=data, user=user, timeout=90)
    with psycopg.connect(host="127.0.0.1", port=port, dbname="postgres", user="postgres", passfile=NO_PASSFILE,
                         autocommit=True) as conn:  # no password: trust
        conn.execute("CREATE ROLE lakehouse LOGIN")
        conn.execute("CREATE DATABASE registry OWNER lakehouse")
    with psycopg.connect(host="127.0.0.1", port=port, dbname="registry", user="lakehouse", passfile=NO_PASSFILE) as conn:
        conn.execute("CREATE TABLE kept (n int)")
        conn.execute("INSERT INTO kept VALUES (7)")
    return server, port


def _stop(server: EmbeddedPostgres) -> None:
    with contextlib.suppress(Exception):
        _embedded_postgres_commands().pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.data_dir,
                                             user=server._run_as())


def _assert_locked_and_kept(endpoint: Endpoint, data: Path) -> None:
    assert NO_PASSWORD in _refused(endpoint, None)
    assert NO_PASSWORD in _refused(Endpoint(endpoint.host, endpoint.port, "postgres", "postgres"), None)
    with psycopg.connect(endpoint.conninfo(), password=endpoint.password, passfile=NO_PASSFILE) as conn:
        assert conn.execute("SELECT n FROM kept").fetchall() == [(7,)]
    assert _hba_lines(data) == [["host", "all", "all", "127.0.0.1/32", "scram-sha-256"]]


def test_a_stopped_trust_folder_is_locked_on_start(tmp_path: Path) -> None:
    data = tmp_path / "pg"
    old, _ = _old_way(data)
    _stop(old)
    server = EmbeddedPostgres(str(data), "registry", "lakehouse", secrets.token_hex(16), secrets.token_hex(16))
    endpoint = server.start()
    try:
        _assert_locked_and_kept(endpoint, data)
        postmaster = int((data / "postmaster.pid").read_text().splitlines()[0])
        _assert_loopback_only(postmaster, endpoint.port)
        assert not list(data.glob(".s.PGSQL.*"))  # the old socket in the data folder is gone
    finally:
        server.stop()
    again = EmbeddedPostgres(str(data), "registry", "lakehouse", endpoint.password or "", server._admin_password)
    try:
        _assert_locked_and_kept(again.start(), data)  # a locked folder starts as any other
    finally:
        again.stop()


def test_a_trust_server_still_running_is_locked_in_place(tmp_path: Path) -> None:
    data = tmp_path / "pg"
    old, port = _old_way(data)
    try:
        server = EmbeddedPostgres(str(data), "registry", "lakehouse", secrets.token_hex(16), secrets.token_hex(16))
        endpoint = server.start()
        assert endpoint.port == port  # found running, not restarted
        _assert_locked_and_kept(endpoint, data)
        # its Unix socket stays until a restart, but the reloaded pg_hba.conf has no line for it
        with pytest.raises(psycopg.OperationalError, match="no pg_hba.conf entry"):
            psycopg.connect(host=str(data), port=port, dbname="registry", user="lakehouse", passfile=NO_PASSFILE,
                            connect_timeout=10).close()
    finally:
        _stop(old)


# -- the moto server

def test_the_in_process_moto_server_listens_on_127_0_0_1_only(local_aws: LocalAws) -> None:
    assert local_aws.url.startswith("http://127.0.0.1:")
    _assert_loopback_only_port(os.getpid(), int(local_aws.url.rsplit(":", 1)[1]))


def test_the_detached_moto_server_listens_on_127_0_0_1_only(tmp_path: Path) -> None:
    started = aws.start_detached(str(tmp_path))
    try:
        assert started.url.startswith("http://127.0.0.1:") and started.pid
        _assert_loopback_only(started.pid, int(started.url.rsplit(":", 1)[1]))
    finally:
        assert aws.stop_detached(str(tmp_path))


def _assert_loopback_only_port(pid: int, port: int) -> None:
    """As `_assert_loopback_only` for a process that listens on other ports too (this one: Spark, PostgreSQL)."""
    assert {ip for ip, p in _listening(pid) if p == port} == {"127.0.0.1"}
    assert _connect_errno("127.0.0.1", port) == 0
    for address in _other_addresses():
        assert _connect_errno(address, port) == errno.ECONNREFUSED, address
