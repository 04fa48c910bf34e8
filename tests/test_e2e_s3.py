"""The whole pipeline with its root on S3 (the suite's moto server), SSE-KMS end to end.

Two lakes are built from the same generated data and the same Kinesis records, one in a local
folder and one under `s3a://`: generate, run, the second half, the stream drained, run, then
(on S3) publish, export and the dashboard. The S3 bucket is made here with no default encryption,
so an object carries the lake's key only if S3A wrote it with it. The gold tables of both lakes
are read back with delta-rs (`deltalake`), a reader independent of Spark, and must be equal.
Then both lakes move (another folder; another bucket, through the CLI and its session builder),
and a run on the moved copy changes nothing.

The S3 lake is built through a faulty network: its bucket's S3A endpoint is a proxy on loopback
(`tests/faults/s3_proxy.py`) that answers some requests with `503 SlowDown`, resets connections
before and after moto performed the request, and stalls answers past S3A's socket timeout. Both
lakes must still be equal, table by table: the faults slow the run and lose nothing.
"""
from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable
from faults.s3_proxy import FaultyS3Proxy, S3Faults
from pyspark.sql import SparkSession

from lakehouse import app, deployment
from lakehouse.aws.clients import client
from lakehouse.config import Config, load_config
from lakehouse.contract import tables_in
from lakehouse.datagen import generate
from lakehouse.datagen.generator import registry_world
from lakehouse.datagen.producer import ensure_stream, produce
from lakehouse.local.aws import LocalAws
from lakehouse.storage import delta

pytestmark = pytest.mark.slow

BUCKET, MOVED_BUCKET, PREFIX = "e2e-lake", "e2e-lake-moved", "registry/lake"
STREAM = "e2e-s3-events"
SMALL = {"datagen.enrollments": 400, "datagen.days": 8, "datagen.offices": 6}
GOLD = [t.full_name for t in tables_in("gold")]
# silver.documents' `path` is where the lake's landing is: it differs between the lakes by design
SILVER = [t.full_name for t in tables_in("silver") if t.full_name != "silver.documents"]
# The share of S3A's requests failed, per kind: rare enough that S3A's retries (at most 7, and 20
# for throttling) get through, frequent enough that every kind happens many times in one build.
FAULTS = S3Faults(slowdown=0.02, reset_before=0.005, reset_after=0.005, stall=0.001, stall_seconds=30, seed=12)
# The faulty bucket's S3A settings: a stalled answer is given up after 5 s (the default is 200 s),
# and retries start after 100 ms (not 500 ms), so the faults cost seconds, not minutes.
FAULTY_BUCKET_S3A = {"endpoint": None, "connection.timeout": "5s", "retry.interval": "100ms",
                     "retry.throttle.interval": "100ms"}


@dataclasses.dataclass
class Lakes:
    local: Config
    s3: Config
    overrides: dict[str, Any]
    kms_key: str
    url: str
    reports: list[Any]
    proxy: FaultyS3Proxy


def _config(root: str, local_dir: Path, shared: dict[str, Any]) -> Config:
    return load_config("local", {"storage.root": root, "storage.local_dir": str(local_dir), **shared})


def _generate(config: Config, part: str) -> None:
    remote = config.root.startswith("s3a://")
    landing = f"{config.local_dir}/_generated/landing" if remote else f"{config.root}/landing"
    with app.registry(config) as endpoint:
        generate(landing, config.datagen, part=part, registry=endpoint)
    if remote:
        deployment.upload_landing(config, landing)


@pytest.fixture(scope="module")
def faulty_s3(spark: SparkSession, local_aws: LocalAws) -> Iterator[FaultyS3Proxy]:
    """S3A reaches BUCKET (only) through the fault-injecting proxy, set before S3A first opens it."""
    proxy = FaultyS3Proxy(local_aws.url.removeprefix("http://"), FAULTS)
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[union-attr]
    for key, value in {**FAULTY_BUCKET_S3A, "endpoint": proxy.url}.items():
        hadoop.set(f"fs.s3a.bucket.{BUCKET}.{key}", value)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def lakes(spark: SparkSession, local_aws: LocalAws, lake_kms_key: str, faulty_s3: FaultyS3Proxy,
          tmp_path_factory: pytest.TempPathFactory) -> Lakes:
    tmp = tmp_path_factory.mktemp("e2e-s3")
    key_file = tmp / "citizen_hmac.key"
    key_file.write_text(secrets.token_hex(32))  # one HMAC key for both lakes: equal citizen keys
    shared = {"aws.endpoint_url": local_aws.url, "storage.kms_key": lake_kms_key,
              "security.hmac_key.file": str(key_file), "stream.name": STREAM, "stream.shards": 2, **SMALL}
    s3 = client("s3", "us-east-1", local_aws.url)
    s3.create_bucket(Bucket=BUCKET)  # no default encryption: S3A must name the key on every write
    local = _config(str(tmp / "local-lake"), tmp / "local-state", shared)
    remote = _config(f"s3a://{BUCKET}/{PREFIX}", tmp / "s3-state", shared)
    reports = []
    for config in (local, remote):
        _generate(config, "1")
        reports += app.run_all(spark, config)
        _generate(config, "2")
    kinesis = client("kinesis", "us-east-1", local_aws.url)
    ensure_stream(kinesis, STREAM, 2)
    produce(kinesis, STREAM, rate=2000, seconds=1, events=300, world=registry_world(remote.datagen))
    for config in (local, remote):  # both drain the same records, each with its own checkpoint
        reports.append(app.run_stream(spark, config, available_now=True))
        reports += app.run_all(spark, config)
    reports += [app.run_publish(spark, remote), app.run_export(spark, remote)]
    app.write_dashboard(spark, remote)
    return Lakes(local, remote, shared, lake_kms_key, local_aws.url, reports, faulty_s3)


def _storage_options(url: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": url, "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}


def _rows(location: str, options: dict[str, str] | None = None, lineage: bool = True) -> list[tuple[Any, ...]]:
    """The table's rows, sorted; without `lineage`, without the columns that differ between two lakes
    by design (`_ingested_at`, `_file`, `_batch_id`: when and from where a record was read)."""
    table = DeltaTable(location, storage_options=options).to_pyarrow_table()
    if not lineage:
        table = table.select([c for c in table.column_names if not c.startswith("_")])
    return sorted((tuple(row.values()) for row in table.to_pylist()), key=repr)


def test_every_step_on_s3_succeeds(lakes: Lakes) -> None:
    """Every step that builds a table changed it; the alerts step changes `gold.alerts` only when an
    incident opens or resolves, so on these small, healthy lakes it may well report no change."""
    builders = [r.status for r in lakes.reports if r.step != "alerts"]
    assert builders == ["succeeded"] * len(builders)
    alerts = [r.status for r in lakes.reports if r.step == "alerts"]
    assert alerts and set(alerts) <= {"succeeded", "no_change"}, alerts


def test_s3a_met_every_kind_of_fault_and_got_through(lakes: Lakes) -> None:
    counts = dict(lakes.proxy.counts)
    assert all(counts.get(kind, 0) > 0 for kind in ("slowdown", "reset_before", "reset_after", "stall")), counts
    assert counts["passed"] > 20 * sum(v for k, v in counts.items() if k != "passed"), counts


@pytest.mark.parametrize("name", ["bronze.enrollment_events", "bronze.office_reports", *SILVER])
def test_bronze_and_silver_on_s3_hold_each_record_once_as_the_local_lakes_do(lakes: Lakes, name: str) -> None:
    layer, table = name.split(".")
    on_s3 = _rows(f"s3://{BUCKET}/{PREFIX}/{layer}/{table}", _storage_options(lakes.url), lineage=False)
    on_disk = _rows(f"{lakes.local.root}/{layer}/{table}", lineage=False)
    assert on_s3, name
    assert on_s3 == on_disk


def test_every_object_under_the_root_is_sse_kms_with_the_lakes_key(lakes: Lakes) -> None:
    s3 = client("s3", "us-east-1", lakes.url)
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX)
            for o in page.get("Contents", [])]
    kinds = {k.split("/")[2] for k in keys}
    assert {"bronze", "silver", "gold", "ops", "landing", "dashboard"} <= kinds, kinds
    assert any("/_delta_log/" in k for k in keys) and any(k.endswith(".parquet") for k in keys)
    wrong = []
    for k in keys:
        head = s3.head_object(Bucket=BUCKET, Key=k)
        if (head.get("ServerSideEncryption"), head.get("SSEKMSKeyId")) != ("aws:kms", lakes.kms_key):
            wrong.append((k, head.get("ServerSideEncryption"), head.get("SSEKMSKeyId")))
    assert wrong == [], f"{len(wrong)} of {len(keys)} objects not SSE-KMS with the lake's key: {wrong[:5]}"


@pytest.mark.parametrize("name", GOLD)
def test_gold_read_back_from_s3_by_another_reader_equals_the_local_lakes(lakes: Lakes, name: str) -> None:
    layer, table = name.split(".")
    on_s3 = _rows(f"s3://{BUCKET}/{PREFIX}/{layer}/{table}", _storage_options(lakes.url))
    on_disk = _rows(f"{lakes.local.root}/{layer}/{table}")
    assert on_s3 or name == "gold.alerts", name  # no incident on a healthy lake is a legitimate empty table
    assert on_s3 == on_disk


def test_the_dashboard_is_written_to_s3(lakes: Lakes) -> None:
    s3 = client("s3", "us-east-1", lakes.url)
    page = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/dashboard/index.html")["Body"].read().decode()
    assert page.startswith("<!DOCTYPE html>") and "Enrollments" in page


def _versions(spark: SparkSession, root: str) -> dict[str, int | None]:
    names = [t.full_name for layer in ("bronze", "silver", "gold") for t in tables_in(layer)]
    return {n: delta.version(spark, root, n) for n in names if delta.exists(spark, root, n)}


def test_a_lake_moved_to_another_folder_changes_nothing_on_its_next_run(spark: SparkSession, lakes: Lakes,
                                                                          tmp_path: Path) -> None:
    moved_root = tmp_path / "moved-lake"
    shutil.copytree(lakes.local.root, moved_root)
    moved = _config(str(moved_root), tmp_path / "moved-state", lakes.overrides)
    before = _versions(spark, str(moved_root))
    reports = app.run_all(spark, moved)
    assert [(r.step, r.status) for r in reports] == [("ingest", "no_change"), ("silver", "no_change"),
                                                     ("gold", "no_change"), ("alerts", "no_change")]
    assert _versions(spark, str(moved_root)) == before


def test_a_lake_moved_to_another_bucket_changes_nothing_on_its_next_run(spark: SparkSession, lakes: Lakes,
                                                                          tmp_path: Path) -> None:
    """Copied object by object (as `aws s3 sync` would) and run by the CLI, whose session builder sets S3A."""
    s3 = client("s3", "us-east-1", lakes.url)
    s3.create_bucket(Bucket=MOVED_BUCKET)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX):
        for o in page.get("Contents", []):
            s3.copy_object(Bucket=MOVED_BUCKET, Key=o["Key"], CopySource={"Bucket": BUCKET, "Key": o["Key"]},
                           ServerSideEncryption="aws:kms", SSEKMSKeyId=lakes.kms_key)
    moved_root = f"s3a://{MOVED_BUCKET}/{PREFIX}"
    before = _versions(spark, moved_root)
    settings = [f"--set={k}={v}" for k, v in {**lakes.overrides, "storage.local_dir": tmp_path / "state"}.items()]
    env = {**os.environ, "LAKEHOUSE_DRIVER_MEMORY": "1g"}
    done = subprocess.run([sys.executable, "-m", "lakehouse.cli", "--root", moved_root, *settings, "run", "--no-summary"],
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Nothing new: every table is unchanged" in done.stdout, done.stdout[-3000:]
    assert _versions(spark, moved_root) == before
