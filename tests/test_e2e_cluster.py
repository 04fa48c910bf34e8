"""The whole pipeline on separate executors (`local-cluster[2,1,1024]`), with distinctive secrets,
and then every byte it wrote searched for them.

A driver and two executor JVMs (each with its own Python workers) catch what only works when driver
and executors share a process: driver-side state read in a task, unpicklable closures, local paths,
the Kinesis data source's partitions read on executors. The suite's shared session is `local[2]`,
so the steps run as `lakehouse` commands in subprocesses, every command of `make demo`, with
`--verbose`, Spark's WARN log and Spark's event log on (uncompressed, so its JSON is what is searched).

Expected values come from elsewhere than the pipeline: bronze from the landing files and from the
records read off the stream with boto3; silver from bronze by a plain-Python check of which record
went where; gold from the same silver rebuilt on the suite's `local[2]` session.

Secrets hygiene: the HMAC key comes through an environment reference (`security.hmac_key.env`);
the embedded PostgreSQL's passwords (its role's and its superuser's, for the registry and the
export) through Secrets Manager references (the moto stand-in's). Every file under the test's
folder (the lake and its local folder: Delta logs, checkpoints, Parquet, stream checkpoints, the
dashboard, the ops tables, the embedded database's folder; the event log, Spark's local dir,
TMPDIR, each command's stdout and stderr) and the executors' work folders (their logs) are
searched for each secret as text, UTF-16, hex and base64, inside gzip files and Parquet values
(`tests/secret_traces.py`).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pyspark
import pytest
from pyspark.sql import SparkSession
from secret_traces import leaks

from lakehouse.aws.clients import LOCAL_CREDENTIALS, client
from lakehouse.contract import tables_in
from lakehouse.local import aws
from lakehouse.ops.results import no_progress
from lakehouse.pipeline.gold import SILVER_INPUTS, build_gold
from lakehouse.storage import delta

pytestmark = pytest.mark.slow

MASTER = "local-cluster[2,1,1024]"  # two workers of one core and 1 GiB each, one executor per worker
PRODUCED = 60
STREAM = "enrollment-events"


KEY_ENV = "LH_HYGIENE_HMAC_KEY"
PASSWORD_SECRET = "lakehouse-test/hygiene/db-password"
ADMIN_SECRET = "lakehouse-test/hygiene/db-admin-password"
# local-cluster's workers keep each executor's folder (its stdout and stderr) under SPARK_HOME/work
WORKER_DIR = Path(pyspark.__file__).parent / "work"


def _environment(tmp_path: Path, key: str, endpoint: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    env.update({KEY_ENV: key, "LAKEHOUSE_DRIVER_MEMORY": "1g", "TMPDIR": str(temp)})
    if endpoint:  # Secrets Manager references resolve against the stand-in (secret_refs)
        env.update({"LAKEHOUSE_AWS_ENDPOINT": endpoint, "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
                    "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"]})
    return env


def _options(tmp_path: Path, root: Path) -> list[str]:
    events, local = tmp_path / "eventlog", tmp_path / "spark-local"
    events.mkdir(exist_ok=True)  # Spark requires the event log's folder to exist
    settings = {
        "spark.master": MASTER,
        "security.hmac_key.file": "null", "security.hmac_key.create_if_missing": "false",
        "security.hmac_key.env": KEY_ENV,
        "spark.log_level": "WARN",  # above local's ERROR; pyspark's console filter stops INFO anyway
        "spark.extra.spark.eventLog.enabled": "true", "spark.extra.spark.eventLog.dir": events.as_uri(),
        "spark.extra.spark.eventLog.compress": "false", "spark.extra.spark.local.dir": str(local),
    }
    for section in ("registry", "export"):  # one embedded server: the same two passwords in both
        for field, secret in (("password", PASSWORD_SECRET), ("embedded_admin_password", ADMIN_SECRET)):
            settings.update({f"{section}.{field}.file": "null", f"{section}.{field}.create_if_missing": "false",
                             f"{section}.{field}.secrets_manager": secret})
    return ["--root", str(root), "--verbose", *[a for k, v in settings.items() for a in ("--set", f"{k}={v}")]]


def _lakehouse(tmp_path: Path, options: list[str], env: dict[str, str], *args: str) -> str:
    """One command; its stdout and stderr kept under the test's folder (they are searched too)."""
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    name = f"{len(list(logs.glob('*.out'))):02d}-{args[0]}"
    done = subprocess.run([sys.executable, "-m", "lakehouse.cli", *options, *args], env=env, text=True,
                          capture_output=True, timeout=2400)
    (logs / f"{name}.out").write_text(done.stdout)
    (logs / f"{name}.err").write_text(done.stderr)
    assert done.returncode == 0, f"lakehouse {' '.join(args)} failed ({logs / name}.err):\n{done.stdout}"
    return done.stdout


def _stream_records(url: str) -> list[bytes]:
    """Every record on the stream, read with boto3 from each shard's start."""
    kinesis = client("kinesis", "us-east-1", url)
    data: list[bytes] = []
    for shard in kinesis.list_shards(StreamName=STREAM)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=STREAM, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            data += [r["Data"] for r in page["Records"]]
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return data


def _rows(spark: SparkSession, root: Path, name: str) -> list[tuple[Any, ...]]:
    return sorted((tuple(r) for r in delta.read(spark, str(root), name).collect()), key=repr)


def test_the_pipeline_and_the_stream_on_two_executor_jvms_leave_no_trace_of_a_secret(
        spark: SparkSession, tmp_path: Path) -> None:
    key = f"hygiene-hmac-{secrets.token_hex(24)}"
    password, admin = f"hygiene-pw-{secrets.token_hex(16)}", f"hygiene-admin-{secrets.token_hex(16)}"
    root = tmp_path / "lake"
    base_env = _environment(tmp_path, key, None)
    executors_before = set(WORKER_DIR.glob("app-*"))
    _lakehouse(tmp_path, ["--root", str(root)], base_env, "aws", "start")
    try:
        stand_in = aws.running(str(root))
        assert stand_in is not None
        sm = client("secretsmanager", "us-east-1", stand_in.url)
        sm.create_secret(Name=PASSWORD_SECRET, SecretString=password)
        sm.create_secret(Name=ADMIN_SECRET, SecretString=admin)
        options, env = _options(tmp_path, root), _environment(tmp_path, key, stand_in.url)
        small = ("--enrollments", "100", "--days", "2", "--offices", "4")
        # Every command of `make demo`, the whole month's files in one run; the stream's events
        # reach gold by the gold step. Publishing is driver-side work (Glue calls, the export's
        # COPY, one HTML file): it runs on `local[2]`, which saves three clusters' start-up.
        driver_only = ["--set", "spark.master=local[2]"]
        outputs = [_lakehouse(tmp_path, options + extra, env, *args) for extra, args in (
            ([], ("generate", "--part", "1", *small)), ([], ("generate", "--part", "2", *small)), ([], ("run",)),
            ([], ("produce", "--events", str(PRODUCED))), ([], ("stream", "--available-now")), ([], ("gold",)),
            (driver_only, ("publish",)), (driver_only, ("export",)), (driver_only, ("dashboard",)))]
        on_stream = _stream_records(stand_in.url)
    finally:
        subprocess.run([sys.executable, "-m", "lakehouse.cli", "--root", str(root), "aws", "stop"], env=base_env,
                       timeout=60, capture_output=True)
    assert "stream  succeeded" in outputs[4] and "gold    succeeded" in outputs[5] and "export  succeeded" in outputs[7]
    executors = sorted(set(WORKER_DIR.glob("app-*")) - executors_before)
    assert executors  # the commands ran on executors of their own

    # Bronze: every landing line and every record on the stream, each exactly once.
    bronze = delta.read(spark, str(root), "bronze.enrollment_events").select("_source", "_raw").collect()
    lines = [line for f in sorted((root / "landing" / "events").iterdir())
             for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(on_stream) == PRODUCED
    assert Counter(r["_raw"] for r in bronze) == Counter(lines) + Counter(d.decode("utf-8") for d in on_stream)
    assert len({r["_source"] for r in bronze}) == len(bronze)
    assert sum(r["_source"].startswith(f"kinesis:{STREAM}/") for r in bronze) == PRODUCED

    # Silver: each bronze record is in silver, or in quarantine, or repeats an event_id silver holds.
    silver = {r["_source"]: r["event_id"] for r in
              delta.read(spark, str(root), "silver.enrollment_events").select("_source", "event_id").collect()}
    quarantined = {r["_source"] for r in
                   delta.read(spark, str(root), "quarantine.enrollment_events").select("_source").collect()}
    assert len(set(silver.values())) == len(silver) > 0 and quarantined and not quarantined & silver.keys()
    for record in bronze:
        if record["_source"] not in silver and record["_source"] not in quarantined:
            assert json.loads(record["_raw"])["event_id"] in set(silver.values()), "a record went nowhere"

    # Gold: the same as the same silver rebuilt on one JVM (local[2]).
    single = tmp_path / "single"
    for name in SILVER_INPUTS:
        shutil.copytree(delta.path(str(root), name), delta.path(str(single), name))
    build_gold(spark, str(single), no_progress)
    for t in tables_in("gold"):
        assert _rows(spark, root, t.full_name) == _rows(spark, single, t.full_name), t.full_name

    # The run really used the key: silver's citizen keys are HMAC-SHA256 under it.
    row = (delta.read(spark, str(root), "bronze.enrollment_events").alias("b")
           .join(delta.read(spark, str(root), "silver.enrollment_events").alias("s"), "_source", how="inner")
           .select("b.national_id", "s.citizen_key").first())
    assert row is not None
    assert row["citizen_key"] == hmac.new(key.encode(), row["national_id"].encode(), hashlib.sha256).hexdigest()

    # The event log is plain JSON, and it holds the silver plans that computed the key.
    event_files = [p for p in (tmp_path / "eventlog").rglob("events_*") if p.is_file()]
    assert event_files
    events = [json.loads(line) for p in event_files for line in p.read_text().splitlines()]
    plans = [e["physicalPlanDescription"] for e in events if e["Event"].endswith(".SparkListenerSQLExecutionStart")]
    assert any("ArrowEvalPython" in plan and "citizen_key(" in plan for plan in plans)

    secrets_by_name = {"hmac key": key, "database password": password, "admin password": admin}
    found = leaks(tmp_path, secrets_by_name) + [f"executor {e.name}/{line}" for e in executors
                                                 for line in leaks(e, secrets_by_name)]
    assert found == [], "secrets found:\n" + "\n".join(found)
    for folder in executors:
        shutil.rmtree(folder, ignore_errors=True)
