"""RDS instances named in config (`registry.rds_instance`, `export.rds_instance`) are used only when
encrypted at rest and reached over TLS, against RDS instances of the suite's moto server.

No connection is made: the checks come first, so an unencrypted instance is refused before its
password is read (the encrypted case is shown by the check passing; moto's instances take no
connections).
"""
from __future__ import annotations

import contextlib
import io
import uuid
from typing import Any

import pytest

from lakehouse import app
from lakehouse.aws.clients import client
from lakehouse.cli import main
from lakehouse.config import load_config
from lakehouse.errors import ConfigError, SourceError
from lakehouse.local.aws import LocalAws
from lakehouse.sources.postgres import Endpoint, jdbc_endpoint, require_encrypted_rds, sslmode

URL = "jdbc:postgresql://db.example.internal:5432/registry?sslmode=require"


@pytest.fixture(scope="module")
def rds(local_aws: LocalAws) -> Any:
    return client("rds", "us-east-1", local_aws.url)


def _instance(rds: Any, encrypted: bool) -> str:
    name = f"lakehouse-{'enc' if encrypted else 'plain'}-{uuid.uuid4().hex[:8]}"
    rds.create_db_instance(DBInstanceIdentifier=name, DBInstanceClass="db.t4g.micro", Engine="postgres",
                           AllocatedStorage=20, MasterUsername="admin_user", MasterUserPassword=uuid.uuid4().hex,
                           StorageEncrypted=encrypted)
    return name


def test_an_encrypted_instance_reached_with_tls_passes(rds: Any) -> None:
    name = _instance(rds, encrypted=True)
    assert rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]["StorageEncrypted"] is True
    require_encrypted_rds(rds, name, URL, "registry")  # no error
    require_encrypted_rds(rds, name, URL.replace("require", "verify-full"), "registry")


def test_an_unencrypted_instance_is_refused(rds: Any) -> None:
    name = _instance(rds, encrypted=False)
    with pytest.raises(ConfigError, match=f"^RDS instance '{name}' of export.rds_instance is not encrypted at rest"):
        require_encrypted_rds(rds, name, URL, "export")


@pytest.mark.parametrize("url", [URL.removesuffix("?sslmode=require"), URL.replace("require", "prefer"),
                                 URL.replace("require", "disable")], ids=["no sslmode", "prefer", "disable"])
def test_a_url_that_allows_plain_text_is_refused(rds: Any, url: str) -> None:
    name = _instance(rds, encrypted=True)
    with pytest.raises(ConfigError, match=r"^registry\.jdbc_url must say sslmode=require"):
        require_encrypted_rds(rds, name, url, "registry")


def test_a_missing_instance_is_named(rds: Any) -> None:
    with pytest.raises(SourceError, match="^cannot describe RDS instance 'no-such-db' of registry.rds_instance: "):
        require_encrypted_rds(rds, "no-such-db", URL, "registry")


def test_the_urls_sslmode_reaches_jdbc_and_psycopg() -> None:
    assert sslmode(URL) == "require" and sslmode("jdbc:postgresql://h/db") is None
    endpoint = Endpoint("db.example.internal", 5432, "registry", "reader", None, "require")
    assert endpoint.jdbc_url == URL
    assert endpoint.conninfo().endswith(" sslmode=require")
    with pytest.raises(SourceError, match="unreachable at 127.0.0.1:1"):  # parsed, then tried
        jdbc_endpoint("jdbc:postgresql://127.0.0.1:1/registry?sslmode=require", "registry", "reader", None,
                      "registry")


def test_generate_refuses_an_unencrypted_registry_before_reading_its_password(
        local_aws: LocalAws, rds: Any, tmp_path: Any) -> None:
    name = _instance(rds, encrypted=False)
    argv = ["--root", str(tmp_path / "lake"), "--set", f"aws.endpoint_url={local_aws.url}",
            "--set", "registry.mode=jdbc", "--set", f"registry.jdbc_url={URL}",
            "--set", f"registry.rds_instance={name}",
            "--set", "registry.password={env: LAKEHOUSE_TEST_UNSET_PASSWORD}", "generate", "--days", "1"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(argv) == 1
    assert err.getvalue().strip() == (f"lakehouse generate: error: RDS instance '{name}' of registry.rds_instance is "
                                      "not encrypted at rest (StorageEncrypted is false): restore it from an "
                                      "encrypted snapshot copy, or name another")


def test_the_export_database_is_checked_too(local_aws: LocalAws, rds: Any) -> None:
    name = _instance(rds, encrypted=False)
    config = load_config("local", {"aws.endpoint_url": local_aws.url, "export.mode": "jdbc",
                                   "export.jdbc_url": URL.replace("registry", "analytics"),
                                   "export.rds_instance": name})
    with pytest.raises(ConfigError, match=f"RDS instance '{name}' of export.rds_instance is not encrypted"), \
            app.export_database(config):
        pass
