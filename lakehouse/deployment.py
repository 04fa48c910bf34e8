"""The app layer of deployment: landing files up to S3, and Amazon EMR (artifacts, cluster, steps,
schedule), config in.

`lakehouse.app` runs the steps; this module puts the project where the steps run. The requests are
built and validated by `lakehouse.deploy`; here config is unpacked and the clients are chosen (AWS,
or the project's moto server when `aws.endpoint_url` is "local").
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import json
from pathlib import Path
from typing import Any

from lakehouse.app import aws_endpoint, object_store
from lakehouse.config import PROJECT_ROOT, Config
from lakehouse.deploy import artifacts, emr
from lakehouse.deploy.artifacts import Prefix, Upload


def upload_landing(config: Config, folder: str) -> tuple[int, int]:
    """The files of a local landing `folder` uploaded to the lake's landing zone on S3 (with its key)."""
    from lakehouse.aws.buckets import sync_folder
    from lakehouse.aws.clients import client

    store = object_store(config)
    return sync_folder(client("s3", config.aws.region, store.endpoint), folder, f"{config.root}/landing",
                       store.kms_key)



@dataclasses.dataclass(frozen=True)
class EmrTarget:
    """Where `lakehouse emr` works: the S3 prefix of the artifacts and the boto3 clients (AWS, or
    the project's moto server when `aws.endpoint_url` is "local")."""

    prefix: Prefix
    s3: Any
    emr: Any


def emr_target(config: Config, prefix: str | None = None) -> EmrTarget:
    """The artifacts' prefix (`prefix`, else `emr.prefix`) and the S3 and EMR clients config names."""
    from lakehouse.aws.clients import client

    endpoint = aws_endpoint(config)
    return EmrTarget(Prefix.parse(prefix or config.emr.prefix), client("s3", config.aws.region, endpoint),
                     client("emr", config.aws.region, endpoint))


def emr_deploy(config: Config, prefix: str | None = None, wheel: Path | None = None) -> list[Upload]:
    """Build the wheel (unless `wheel` names one) and upload it, the JDBC driver, jobs/, conf/ and
    bootstrap_actions/ under the prefix, SSE-KMS with `storage.kms_key` when set."""
    target = emr_target(config, prefix)
    artifacts.require_bucket(target.s3, target.prefix)
    jar = artifacts.jdbc_jar(PROJECT_ROOT / ".jars")
    with contextlib.ExitStack() as stack:
        built = wheel or stack.enter_context(artifacts.built_wheel(PROJECT_ROOT))
        files = artifacts.layout(PROJECT_ROOT, built, jar)
        return artifacts.upload(target.s3, target.prefix, files, config.storage.kms_key)


EMR_SPECS = PROJECT_ROOT / "conf" / "emr"


def emr_cluster_request(config: Config, prefix: Prefix, specs: Path = EMR_SPECS) -> dict[str, Any]:
    """The RunJobFlow request of `specs`/cluster.yaml, filled from config and validated."""
    path = specs / "cluster.yaml"
    request = emr.read_spec(path, _emr_values(config, prefix), EMR_VALUE_ORIGINS)
    emr.validate(request, "RunJobFlow", str(path))
    return request


EMR_VALUE_ORIGINS = {"prefix": "emr.prefix (or --prefix)", "wheel": "the installed package's version",
                     "kms_key": "storage.kms_key", **{k: f"emr.{k}" for k in (
                         "cluster_name", "security_configuration", "idle_timeout_seconds", "subnet_id")}}


def _emr_values(config: Config, prefix: Prefix) -> dict[str, Any]:
    """What the placeholders of conf/emr/*.yaml stand for."""
    e = config.emr
    return {"prefix": prefix.uri(), "wheel": artifacts.wheel_name(importlib.metadata.version("lakehouse")),
            "kms_key": config.storage.kms_key, "cluster_name": e.cluster_name,
            "security_configuration": e.security_configuration, "idle_timeout_seconds": e.idle_timeout_seconds,
            "subnet_id": e.subnet_id}


def emr_create_cluster(config: Config, prefix: str | None = None,
                       specs: Path = EMR_SPECS) -> tuple[str, emr.SecurityConfiguration]:
    """Launch the cluster of `specs` (conf/emr/): the security configuration first (created if absent),
    then RunJobFlow. Refuses before sending anything when the request is invalid or nothing is deployed."""
    target = emr_target(config, prefix)
    request = emr_cluster_request(config, target.prefix, specs)
    document = emr.read_spec(specs / "security.yaml", _emr_values(config, target.prefix), EMR_VALUE_ORIGINS)
    bootstrap = request["BootstrapActions"][0]["ScriptBootstrapAction"]
    artifacts.require_objects(target.s3, [bootstrap["Path"], *bootstrap["Args"]])
    security = emr.ensure_security_configuration(target.emr, config.emr.security_configuration, document)
    return emr.run_job_flow(target.emr, request), security


def emr_submit(config: Config, cluster_id: str, steps: str | None = None, prefix: str | None = None,
               step_config: str = "emr") -> list[tuple[str, str]]:
    """Add the pipeline's steps (`steps`: "ingest,silver,...", default all five) to the cluster, in
    that order, each running its job from `<prefix>/jobs/` with `--config step_config`; (name, step id)."""
    target = emr_target(config, prefix)
    names = emr.step_names(steps)
    jar = artifacts.jdbc_jar(PROJECT_ROOT / ".jars")
    requests = emr.step_requests(names, target.prefix.uri("jobs"), target.prefix.uri(f"jars/{jar.name}"), step_config)
    artifacts.require_objects(target.s3, sorted({arg for r in requests for arg in r["HadoopJarStep"]["Args"]
                                                 if arg.startswith("s3://")}))
    return list(zip(names, emr.add_steps(target.emr, cluster_id, requests), strict=True))


def emr_schedule(config: Config, expression: str, role_arn: str, steps: str | None = None,
                 prefix: str | None = None, name: str = "lakehouse-pipeline") -> tuple[str, str]:
    """A schedule (EventBridge Scheduler) that launches a transient cluster of `conf/emr/` running the
    steps and ending after them: its target is the RunJobFlow API itself (a universal target), so
    the schedule needs no Lambda and no cluster kept up between runs. Created, or updated in place.

    Returns:
        ("created" or "updated", the schedule's ARN).
    """
    from botocore.exceptions import ClientError

    from lakehouse.aws.clients import client

    target = emr_target(config, prefix)
    request = emr_cluster_request(config, target.prefix)
    names = emr.step_names(steps)
    jar = artifacts.jdbc_jar(PROJECT_ROOT / ".jars")
    request["Steps"] = emr.step_requests(names, target.prefix.uri("jobs"), target.prefix.uri(f"jars/{jar.name}"),
                                         "emr")
    request["Instances"]["KeepJobFlowAliveWhenNoSteps"] = False  # transient: it ends when its steps are done
    emr.validate(request, "RunJobFlow", "the scheduled cluster")
    bootstrap = request["BootstrapActions"][0]["ScriptBootstrapAction"]
    artifacts.require_objects(target.s3, [bootstrap["Path"], *bootstrap["Args"]])
    document = emr.read_spec(EMR_SPECS / "security.yaml", _emr_values(config, target.prefix), EMR_VALUE_ORIGINS)
    emr.ensure_security_configuration(target.emr, config.emr.security_configuration, document)
    scheduler = client("scheduler", config.aws.region, aws_endpoint(config))
    schedule = {"Name": name, "ScheduleExpression": expression, "ScheduleExpressionTimezone": "UTC",
                "FlexibleTimeWindow": {"Mode": "OFF"},
                "Target": {"Arn": "arn:aws:scheduler:::aws-sdk:emr:runJobFlow", "RoleArn": role_arn,
                           "Input": json.dumps(request, sort_keys=True)}}
    try:
        scheduler.get_schedule(Name=name)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        return "created", str(scheduler.create_schedule(**schedule)["ScheduleArn"])
    return "updated", str(scheduler.update_schedule(**schedule)["ScheduleArn"])
