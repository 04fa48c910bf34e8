"""An AWS Lambda handler for S3 `ObjectCreated` notifications on the landing prefix.

Each new object is judged by the landing contract (`lakehouse.sources.landing_contract`) from its
size and first bytes. A bad one is copied to `<root>/rejected/<key under landing>` (SSE-KMS) with a
reason object beside it, then deleted from landing. Good ones either add the batch-ingest EMR step
to the running cluster (one pending step at most: a burst of files adds one step) or are recorded
under `<root>/_trigger/pending/` for the next scheduled run. No Spark: the zip holds only this,
the contract and `lakehouse.errors` (`lakehouse lambda package`); boto3 is the runtime's.

Configuration (environment variables of the function):
    LAKEHOUSE_ROOT          the storage root, ``s3://<bucket>/<prefix>``; landing is ``<prefix>/landing/``
    LAKEHOUSE_TRIGGER_MODE  ``step`` (add the ingest step) or ``record`` (a marker for the next run)
    LAKEHOUSE_CLUSTER_NAME  the EMR cluster's name (step mode)
    LAKEHOUSE_CODE_PREFIX   ``s3://<bucket>/<prefix>`` where `lakehouse emr deploy` put ``jobs/`` (step mode)
    LAKEHOUSE_CONFIG        the step's ``--config`` (default ``emr``)
    LAKEHOUSE_KMS_KEY_ID    the KMS key of what the trigger writes (optional: the bucket's default key)
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from lakehouse.errors import ConfigError
from lakehouse.sources import landing_contract

MODES = ("step", "record")
STEP_NAME = "lakehouse ingest (S3 trigger)"
# A cluster that can take a step (AWS's cluster states before TERMINATING).
LIVE_CLUSTER_STATES = ["STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"]


@dataclass(frozen=True)
class Settings:
    bucket: str
    prefix: str  # the storage root's key prefix, "" or ending in "/"
    mode: str
    cluster_name: str | None = None
    code_prefix: str | None = None
    config_name: str = "emr"
    kms_key_id: str | None = None

    @property
    def landing(self) -> str:
        return f"{self.prefix}landing/"

    def ingest_args(self) -> list[str]:
        return ["spark-submit", f"{self.code_prefix}/jobs/ingest_batch.py", "--config", self.config_name]


def _s3_uri(name: str, value: str) -> tuple[str, str]:
    scheme, _, rest = value.partition("://")
    bucket, _, prefix = rest.partition("/")
    if scheme not in ("s3", "s3a") or not bucket:
        raise ConfigError(f"{name} must be s3://<bucket>/<prefix>, got '{value}'")
    return bucket, prefix.strip("/")


def settings_from(env: Mapping[str, str]) -> Settings:
    """The trigger's settings from the function's environment variables.

    Raises:
        ConfigError: A variable is missing or malformed; the message names it.
    """
    def required(name: str) -> str:
        value = env.get(name, "").strip()
        if not value:
            raise ConfigError(f"environment variable {name} is not set (see lakehouse/trigger/s3_events.py)")
        return value

    bucket, prefix = _s3_uri("LAKEHOUSE_ROOT", required("LAKEHOUSE_ROOT"))
    mode = required("LAKEHOUSE_TRIGGER_MODE")
    if mode not in MODES:
        raise ConfigError(f"LAKEHOUSE_TRIGGER_MODE must be one of {', '.join(MODES)}, got '{mode}'")
    cluster_name = code_prefix = None
    if mode == "step":
        cluster_name = required("LAKEHOUSE_CLUSTER_NAME")
        code_bucket, code_path = _s3_uri("LAKEHOUSE_CODE_PREFIX", required("LAKEHOUSE_CODE_PREFIX"))
        code_prefix = f"s3://{code_bucket}/{code_path}".rstrip("/")
    return Settings(bucket, f"{prefix}/" if prefix else "", mode, cluster_name, code_prefix,
                    env.get("LAKEHOUSE_CONFIG", "").strip() or "emr",
                    env.get("LAKEHOUSE_KMS_KEY_ID", "").strip() or None)


def _log(**fields: Any) -> None:
    # one JSON line per object for CloudWatch: names and verdicts, never content
    print(json.dumps(fields, sort_keys=True), flush=True)


def _encryption(settings: Settings) -> dict[str, str]:
    extra = {"ServerSideEncryption": "aws:kms"}
    if settings.kms_key_id:
        extra["SSEKMSKeyId"] = settings.kms_key_id
    return extra


def _head(s3: Any, bucket: str, key: str) -> tuple[int, bytes] | None:
    """The object's size and first bytes; None when it is gone (a retried event, already moved)."""
    try:
        size = int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
    except s3.exceptions.ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    if size == 0:
        return 0, b""
    body = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{landing_contract.HEAD_BYTES - 1}")["Body"]
    return size, body.read()


def _reject(s3: Any, settings: Settings, relative_key: str, size: int,
            verdict: landing_contract.Verdict, now: datetime) -> str:
    """Copy to rejected/, write the reason object, then delete from landing (a retry redoes it all)."""
    target = landing_contract.rejected_key(settings.prefix, relative_key)
    s3.copy({"Bucket": settings.bucket, "Key": settings.landing + relative_key}, settings.bucket, target,
            ExtraArgs=_encryption(settings))
    s3.put_object(Bucket=settings.bucket, Key=landing_contract.reason_key(settings.prefix, relative_key),
                  Body=landing_contract.reason_document(relative_key, size, verdict, now).encode(),
                  ContentType="application/json", **_encryption(settings))
    s3.delete_object(Bucket=settings.bucket, Key=settings.landing + relative_key)
    return target


def pending_key(prefix: str, relative_key: str) -> str:
    """The marker of a good file left for the next scheduled run."""
    return f"{prefix}_trigger/pending/{relative_key}.json"


def _record(s3: Any, settings: Settings, relative_key: str, size: int, now: datetime) -> str:
    key = pending_key(settings.prefix, relative_key)
    body = json.dumps({"key": relative_key, "size": size, "recorded_at": now.isoformat()}, sort_keys=True)
    s3.put_object(Bucket=settings.bucket, Key=key, Body=body.encode(), ContentType="application/json",
                  **_encryption(settings))
    return key


def _live_cluster(emr: Any, name: str) -> str | None:
    """The id of the newest cluster of that name that can take a step."""
    found = [c for page in emr.get_paginator("list_clusters").paginate(ClusterStates=LIVE_CLUSTER_STATES)
             for c in page["Clusters"] if c["Name"] == name]
    found.sort(key=lambda c: c["Status"]["Timeline"]["CreationDateTime"], reverse=True)
    return found[0]["Id"] if found else None


def ensure_ingest_step(emr: Any, settings: Settings, cluster_id: str) -> str | None:
    """Add the ingest step unless one is already pending (it will see this file too): its id, or None."""
    job = settings.ingest_args()[1]
    for page in emr.get_paginator("list_steps").paginate(ClusterId=cluster_id, StepStates=["PENDING"]):
        if any(job in step["Config"].get("Args", []) for step in page["Steps"]):
            return None
    added = emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[{
        "Name": STEP_NAME,
        "ActionOnFailure": "CONTINUE",
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": settings.ingest_args()},
    }])
    return str(added["StepIds"][0])


def handle(event: Mapping[str, Any], settings: Settings, s3: Any, emr: Any | None,
           now: datetime) -> dict[str, Any]:
    """Judge every object of the event; returns counts and the step added, if any."""
    summary: dict[str, Any] = {"accepted": 0, "rejected": 0, "ignored": 0, "step_id": None, "pending": 0}
    accepted: list[tuple[str, int]] = []
    for record in event.get("Records", []):
        bucket = record.get("s3", {}).get("bucket", {}).get("name")
        key = unquote_plus(record.get("s3", {}).get("object", {}).get("key", ""))
        if (not str(record.get("eventName", "")).startswith("ObjectCreated:") or bucket != settings.bucket
                or not key.startswith(settings.landing) or key.endswith("/")):
            summary["ignored"] += 1
            _log(key=key, verdict="ignored", why="not an object created under the landing prefix")
            continue
        relative_key = key[len(settings.landing):]
        found = _head(s3, bucket, key)
        if found is None:
            summary["ignored"] += 1
            _log(key=relative_key, verdict="ignored", why="no longer in landing")
            continue
        size, head = found
        verdict = landing_contract.check(relative_key, size, head)
        if verdict.ok:
            accepted.append((relative_key, size))
            summary["accepted"] += 1
            _log(key=relative_key, verdict="accepted", kind=verdict.kind, size=size)
        else:
            target = _reject(s3, settings, relative_key, size, verdict, now)
            summary["rejected"] += 1
            _log(key=relative_key, verdict="rejected", kind=verdict.kind, rule=verdict.rule,
                 reason=verdict.reason, size=size, moved_to=target)
    if accepted:
        cluster_id = None
        if settings.mode == "step" and emr is not None and settings.cluster_name:
            cluster_id = _live_cluster(emr, settings.cluster_name)
        if cluster_id is not None:
            summary["step_id"] = ensure_ingest_step(emr, settings, cluster_id)
            _log(cluster_id=cluster_id, step_id=summary["step_id"],
                 action="ingest step added" if summary["step_id"] else "an ingest step is already pending")
        else:
            if settings.mode == "step":
                _log(action="recorded for the next run", why=f"no live EMR cluster named {settings.cluster_name}")
            for relative_key, size in accepted:
                _record(s3, settings, relative_key, size, now)
            summary["pending"] = len(accepted)
    return summary


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (`lakehouse.trigger.s3_events.handler`)."""
    import boto3  # the Lambda runtime's; AWS_ENDPOINT_URL points it at a stand-in in tests

    settings = settings_from(os.environ)
    emr = boto3.client("emr") if settings.mode == "step" else None
    return handle(event, settings, boto3.client("s3"), emr, datetime.now(UTC))
