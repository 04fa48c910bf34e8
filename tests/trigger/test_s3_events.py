"""The S3-event trigger against the moto server's S3 and EMR APIs, with S3's own event shape."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from lakehouse.aws.clients import client
from lakehouse.cli import main
from lakehouse.errors import ConfigError
from lakehouse.local.aws import LocalAws
from lakehouse.trigger import package
from lakehouse.trigger.s3_events import Settings, handle, settings_from

REGION = "eu-west-1"
NOW = datetime(2026, 10, 1, 12, 30, tzinfo=UTC)
EVENT_LINE = b'{"event_id": "e1", "event_type": "enrollment_started"}\n'
INGEST_ARGS = ["spark-submit", "s3://code-bucket/lakehouse/jobs/ingest_batch.py", "--config", "emr"]


def s3_record(bucket: str, key: str, size: int, event_name: str = "ObjectCreated:Put") -> dict[str, Any]:
    """One record as S3 sends it (the documented event message structure, version 2.1); the key is
    URL-encoded, a space as '+'."""
    return {
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
        "eventTime": "2026-10-01T12:30:00.000Z", "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.10"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810",
                             "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
        "s3": {
            "s3SchemaVersion": "1.0", "configurationId": "landing-created",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                       "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                       "sequencer": "0055AED6DCD90281E5"},
        },
    }


class Lake:
    """A bucket with a lake under `lake/`, a KMS key, and an EMR cluster with a step running."""

    def __init__(self, aws: LocalAws) -> None:
        self.s3 = client("s3", REGION, aws.url)
        self.emr = client("emr", REGION, aws.url)
        self.bucket = f"lake-{uuid.uuid4().hex[:10]}"
        self.s3.create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        self.key_arn = client("kms", REGION, aws.url).create_key()["KeyMetadata"]["Arn"]
        self.cluster_name = f"lakehouse-{uuid.uuid4().hex[:6]}"
        # a cluster busy with its first step: the ingest steps the trigger adds wait as PENDING
        self.cluster_id = self.emr.run_job_flow(
            Name=self.cluster_name, ReleaseLabel="emr-spark-8.1.0",
            Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
            Steps=[{"Name": "setup", "ActionOnFailure": "CONTINUE",
                    "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["echo", "setup"]}}],
            JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
        )["JobFlowId"]

    def settings(self, mode: str = "step", cluster_name: str | None = None) -> Settings:
        return settings_from({
            "LAKEHOUSE_ROOT": f"s3://{self.bucket}/lake", "LAKEHOUSE_TRIGGER_MODE": mode,
            "LAKEHOUSE_CLUSTER_NAME": cluster_name or self.cluster_name,
            "LAKEHOUSE_CODE_PREFIX": "s3://code-bucket/lakehouse/", "LAKEHOUSE_KMS_KEY_ID": self.key_arn,
        })

    def land(self, key: str, content: bytes) -> dict[str, Any]:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=content)
        return s3_record(self.bucket, key, len(content))

    def keys(self) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=self.bucket)
        return sorted(o["Key"] for o in listing.get("Contents", []))

    def steps(self) -> list[dict[str, Any]]:
        return [s for s in self.emr.list_steps(ClusterId=self.cluster_id)["Steps"] if s["Name"] != "setup"]


@pytest.fixture
def lake(local_aws: LocalAws) -> Lake:
    return Lake(local_aws)


def test_a_good_file_adds_the_ingest_step(lake: Lake, capsys: pytest.CaptureFixture[str]):
    key = "lake/landing/events/2026-10-01/batch 10:30.jsonl.gz"  # a space and a ':'
    record = lake.land(key, gzip.compress(EVENT_LINE * 3))
    assert record["s3"]["object"]["key"] == "lake/landing/events/2026-10-01/batch+10%3A30.jsonl.gz"

    summary = handle({"Records": [record]}, lake.settings(), lake.s3, lake.emr, NOW)

    (step,) = lake.steps()
    assert summary["accepted"] == 1 and summary["step_id"] == step["Id"]
    assert step["Config"]["Jar"] == "command-runner.jar"
    assert step["Config"]["Args"] == INGEST_ARGS
    assert step["Status"]["State"] == "PENDING" and step["ActionOnFailure"] == "CONTINUE"
    assert key in lake.keys()  # left in landing for the step
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert logged[0] == {"key": "events/2026-10-01/batch 10:30.jsonl.gz", "verdict": "accepted",
                         "kind": "events", "size": len(gzip.compress(EVENT_LINE * 3))}


def test_a_burst_adds_one_step(lake: Lake):
    records = [lake.land(f"lake/landing/events/2026-10-01/part-{n:02}.jsonl", EVENT_LINE) for n in range(20)]
    for record in records:  # 20 events of one record each
        handle({"Records": [record]}, lake.settings(), lake.s3, lake.emr, NOW)
    assert [s["Config"]["Args"] for s in lake.steps()] == [INGEST_ARGS]
    handle({"Records": records}, lake.settings(), lake.s3, lake.emr, NOW)  # one event of 20 records
    assert len(lake.steps()) == 1


def test_one_event_with_many_records_adds_at_most_one_step(lake: Lake):
    records = [lake.land(f"lake/landing/device_logs/d-{n}.jsonl", b'{"device_id": "D1"}\n') for n in range(5)]
    summary = handle({"Records": records}, lake.settings(), lake.s3, lake.emr, NOW)
    assert summary["accepted"] == 5
    assert [s["Config"]["Args"] for s in lake.steps()] == [INGEST_ARGS]


def test_a_bad_file_goes_to_rejected_with_its_reason(lake: Lake, capsys: pytest.CaptureFixture[str]):
    content = b"national_id,full_name\n40718231,Maria Perez\n"  # personal data: never in a reason or a log
    key = "lake/landing/office_reports/week 40:a.csv"
    record = lake.land(key, content)

    summary = handle({"Records": [record]}, lake.settings(), lake.s3, lake.emr, NOW)

    moved = "lake/rejected/office_reports/week 40:a.csv"
    assert summary == {"accepted": 0, "rejected": 1, "ignored": 0, "step_id": None, "pending": 0}
    assert lake.keys() == [moved, moved + ".reason.json"]
    assert lake.s3.get_object(Bucket=lake.bucket, Key=moved)["Body"].read() == content
    reason = json.loads(lake.s3.get_object(Bucket=lake.bucket, Key=moved + ".reason.json")["Body"].read())
    assert reason == {"key": "office_reports/week 40:a.csv", "size": len(content), "kind": "office_reports",
                      "rule": "csv_header", "rejected_at": "2026-10-01T12:30:00+00:00",
                      "reason": "csv_header: the header's 2 columns are not the contract's report_date, office_id, "
                                "staffed_hours, appointments_scheduled, appointments_attended, notes"}
    for written in (moved, moved + ".reason.json"):
        head = lake.s3.head_object(Bucket=lake.bucket, Key=written)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", lake.key_arn)
    assert lake.steps() == []
    out = capsys.readouterr().out
    assert "40718231" not in out and "Maria" not in out
    assert json.loads(out.splitlines()[0])["rule"] == "csv_header"


def test_an_empty_file_and_an_unknown_folder_are_rejected(lake: Lake):
    records = [lake.land("lake/landing/events/empty.jsonl", b""),
               lake.land("lake/landing/invoices/a.jsonl", EVENT_LINE)]
    summary = handle({"Records": records}, lake.settings(), lake.s3, lake.emr, NOW)
    assert summary["rejected"] == 2
    reasons = {k: json.loads(lake.s3.get_object(Bucket=lake.bucket, Key=k)["Body"].read())["rule"]
               for k in lake.keys() if k.endswith(".reason.json")}
    assert reasons == {"lake/rejected/events/empty.jsonl.reason.json": "empty_file",
                       "lake/rejected/invoices/a.jsonl.reason.json": "unknown_folder"}
    assert not [k for k in lake.keys() if k.startswith("lake/landing/")]


def test_record_mode_writes_the_pending_marker(lake: Lake):
    record = lake.land("lake/landing/office_reports/r 1.csv",
                       b"report_date,office_id,staffed_hours,appointments_scheduled,appointments_attended,notes\n")
    summary = handle({"Records": [record]}, lake.settings("record"), lake.s3, None, NOW)
    marker = "lake/_trigger/pending/office_reports/r 1.csv.json"
    assert summary["pending"] == 1 and summary["step_id"] is None
    assert json.loads(lake.s3.get_object(Bucket=lake.bucket, Key=marker)["Body"].read()) == {
        "key": "office_reports/r 1.csv", "size": 87, "recorded_at": "2026-10-01T12:30:00+00:00"}
    assert lake.s3.head_object(Bucket=lake.bucket, Key=marker)["SSEKMSKeyId"] == lake.key_arn
    assert lake.steps() == []


def test_no_live_cluster_records_the_file_instead(lake: Lake):
    record = lake.land("lake/landing/events/a.jsonl", EVENT_LINE)
    summary = handle({"Records": [record]}, lake.settings(cluster_name="no-such-cluster"), lake.s3, lake.emr, NOW)
    assert summary["pending"] == 1 and summary["step_id"] is None
    assert "lake/_trigger/pending/events/a.jsonl.json" in lake.keys()


def test_keys_outside_the_landing_prefix_are_ignored(lake: Lake):
    records = [lake.land("lake/bronze/enrollment_events/part-0.parquet", b"PAR1"),
               lake.land("lake/landing-old/events/a.jsonl", b"not json"),
               lake.land("lake/landing/events/", b""),  # a folder marker
               s3_record("another-bucket", "lake/landing/events/a.jsonl", 10),
               {**lake.land("lake/landing/events/b.jsonl", b"not json"), "eventName": "ObjectRemoved:Delete"}]
    before = lake.keys()
    summary = handle({"Records": records}, lake.settings(), lake.s3, lake.emr, NOW)
    assert summary == {"accepted": 0, "rejected": 0, "ignored": 5, "step_id": None, "pending": 0}
    assert lake.keys() == before and lake.steps() == []


def test_a_retried_event_for_a_moved_file_is_ignored(lake: Lake):
    record = lake.land("lake/landing/events/a.jsonl", b"not json\n")
    assert handle({"Records": [record]}, lake.settings(), lake.s3, lake.emr, NOW)["rejected"] == 1
    assert handle({"Records": [record]}, lake.settings(), lake.s3, lake.emr, NOW)["ignored"] == 1


@pytest.mark.parametrize("env, names", [
    ({}, "LAKEHOUSE_ROOT"),
    ({"LAKEHOUSE_ROOT": "/data/lake", "LAKEHOUSE_TRIGGER_MODE": "step"}, "LAKEHOUSE_ROOT"),
    ({"LAKEHOUSE_ROOT": "s3://b/lake"}, "LAKEHOUSE_TRIGGER_MODE"),
    ({"LAKEHOUSE_ROOT": "s3://b/lake", "LAKEHOUSE_TRIGGER_MODE": "now"}, "LAKEHOUSE_TRIGGER_MODE"),
    ({"LAKEHOUSE_ROOT": "s3://b/lake", "LAKEHOUSE_TRIGGER_MODE": "step"}, "LAKEHOUSE_CLUSTER_NAME"),
    ({"LAKEHOUSE_ROOT": "s3://b/lake", "LAKEHOUSE_TRIGGER_MODE": "step", "LAKEHOUSE_CLUSTER_NAME": "c"},
     "LAKEHOUSE_CODE_PREFIX"),
])
def test_a_missing_or_bad_variable_is_named(env: dict[str, str], names: str):
    with pytest.raises(ConfigError, match=names):
        settings_from(env)


def test_settings_of_a_bucket_top_and_the_defaults():
    settings = settings_from({"LAKEHOUSE_ROOT": "s3://b", "LAKEHOUSE_TRIGGER_MODE": "record"})
    assert (settings.bucket, settings.landing, settings.config_name, settings.kms_key_id) == \
        ("b", "landing/", "emr", None)


def test_the_zip_holds_the_handler_and_runs_without_spark(local_aws: LocalAws, lake: Lake, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]):
    output = tmp_path / "dist" / "lakehouse-trigger.zip"
    assert main(["lambda", "package", "--output", str(output)]) == 0
    assert "handler: lakehouse.trigger.s3_events.handler" in capsys.readouterr().out
    names = zipfile.ZipFile(output).namelist()
    assert sorted(names) == ["lakehouse/__init__.py", "lakehouse/errors.py", "lakehouse/sources/__init__.py",
                             "lakehouse/sources/landing_contract.py", "lakehouse/trigger/__init__.py",
                             "lakehouse/trigger/s3_events.py"]
    unpacked = tmp_path / "function"
    zipfile.ZipFile(output).extractall(unpacked)
    good = lake.land("lake/landing/events/x 1.jsonl", EVENT_LINE)
    bad = lake.land("lake/landing/events/y 2.jsonl", b"<html>\n")
    script = f"""
import json, sys
for heavy in ("pyspark", "py4j", "pandas", "pyarrow", "numpy", "yaml", "openpyxl"):
    sys.modules[heavy] = None  # an import of any of these fails
sys.path.insert(0, {str(unpacked)!r})
from lakehouse.trigger.s3_events import handler
import lakehouse
assert lakehouse.__file__.startswith({str(unpacked)!r}), lakehouse.__file__
print(json.dumps(handler(json.loads(sys.stdin.read()), None)))
"""
    env = {**os.environ, "AWS_ENDPOINT_URL": local_aws.url, "AWS_ACCESS_KEY_ID": "local",
           "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": REGION,
           "LAKEHOUSE_ROOT": f"s3://{lake.bucket}/lake", "LAKEHOUSE_TRIGGER_MODE": "step",
           "LAKEHOUSE_CLUSTER_NAME": lake.cluster_name, "LAKEHOUSE_CODE_PREFIX": "s3://code-bucket/lakehouse",
           "LAKEHOUSE_KMS_KEY_ID": lake.key_arn}
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps({"Records": [good, bad]}), env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert (summary["accepted"], summary["rejected"]) == (1, 1)
    assert [s["Config"]["Args"] for s in lake.steps()] == [INGEST_ARGS]
    assert "lake/rejected/events/y 2.jsonl.reason.json" in lake.keys()


def test_the_package_refuses_a_heavy_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    source = tmp_path / "lakehouse" / "trigger"
    source.mkdir(parents=True)
    (tmp_path / "lakehouse" / "__init__.py").write_text("")
    (source / "__init__.py").write_text("")
    (source / "s3_events.py").write_text("from lakehouse.trigger import helper\n")
    (source / "helper.py").write_text("import pyspark.sql\n")
    monkeypatch.setattr(package, "PACKAGE_DIR", tmp_path / "lakehouse")
    with pytest.raises(ConfigError, match=r"lakehouse/trigger/helper.py imports pyspark.sql"):
        package.modules()
