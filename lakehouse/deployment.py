"""The app layer of deployment: landing files up to S3, Amazon EMR (artifacts, cluster, steps,
schedule), and the IAM documents of `conf/iam/`, config in.

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
from lakehouse.errors import ConfigError
from lakehouse.security import iam
from lakehouse.security.iam import Lake


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
        uploads = artifacts.upload(target.s3, target.prefix, files, config.storage.kms_key)
        if config.emr.tls_certificates is None:
            uploads.append(_self_signed_certificates(config, target, stack))
        return uploads


CERTIFICATES = "security/emr-tls-certs.zip"  # under the prefix, when emr.tls_certificates is null


def _self_signed_certificates(config: Config, target: EmrTarget, stack: contextlib.ExitStack) -> Upload:
    """The self-signed PEM zip of in-transit TLS under the prefix: made once, then kept (a new one
    on every deploy would only churn the nodes' certificates; delete the object to renew it)."""
    import tempfile
    from datetime import UTC, datetime

    from lakehouse.deploy.certificates import self_signed_pem_zip

    found = artifacts.head(target.s3, target.prefix.bucket, target.prefix.key_of(CERTIFICATES))
    if found is not None:
        return Upload(CERTIFICATES, int(found["ContentLength"]), uploaded=False)
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    path = folder / "emr-tls-certs.zip"
    path.write_bytes(self_signed_pem_zip(config.aws.region, datetime.now(UTC)))
    return artifacts.upload(target.s3, target.prefix, [(path, CERTIFICATES)], config.storage.kms_key)[0]


EMR_SPECS = PROJECT_ROOT / "conf" / "emr"


def emr_cluster_request(config: Config, prefix: Prefix, specs: Path = EMR_SPECS) -> dict[str, Any]:
    """The RunJobFlow request of `specs`/cluster.yaml, filled from config and validated."""
    path = specs / "cluster.yaml"
    request = emr.read_spec(path, _emr_values(config, prefix), EMR_VALUE_ORIGINS)
    emr.validate(request, "RunJobFlow", str(path))
    return request


EMR_VALUE_ORIGINS = {"prefix": "emr.prefix (or --prefix)", "wheel": "the installed package's version",
                     "tls_certificates": "emr.tls_certificates",
                     "kms_key": "storage.kms_key", **{k: f"emr.{k}" for k in (
                         "cluster_name", "security_configuration", "idle_timeout_seconds", "subnet_id")}}


def _emr_values(config: Config, prefix: Prefix) -> dict[str, Any]:
    """What the placeholders of conf/emr/*.yaml stand for."""
    e = config.emr
    return {"prefix": prefix.uri(), "wheel": artifacts.wheel_name(importlib.metadata.version("lakehouse")),
            "kms_key": config.storage.kms_key, "cluster_name": e.cluster_name,
            "security_configuration": e.security_configuration, "idle_timeout_seconds": e.idle_timeout_seconds,
            "subnet_id": e.subnet_id, "tls_certificates": e.tls_certificates or prefix.uri(CERTIFICATES)}


def emr_security_document(config: Config, prefix: Prefix, specs: Path = EMR_SPECS) -> dict[str, Any]:
    """The security configuration of `specs`/security.yaml, filled from config and checked (botocore's
    CreateSecurityConfiguration model, the document's structure, the protection the lake needs)."""
    path = specs / "security.yaml"
    document = emr.read_spec(path, _emr_values(config, prefix), EMR_VALUE_ORIGINS)
    emr.validate_security_configuration(config.emr.security_configuration, document, str(path))
    return document


def _certificates_of(document: dict[str, Any]) -> str:
    return str(document["EncryptionConfiguration"]["InTransitEncryptionConfiguration"]
               ["TLSCertificateConfiguration"]["S3Object"])


def emr_create_cluster(config: Config, prefix: str | None = None,
                       specs: Path = EMR_SPECS) -> tuple[str, emr.SecurityConfiguration]:
    """Launch the cluster of `specs` (conf/emr/): the security configuration first (created if absent),
    then RunJobFlow. Refuses before sending anything when the request is invalid or nothing is deployed."""
    target = emr_target(config, prefix)
    request = emr_cluster_request(config, target.prefix, specs)
    document = emr_security_document(config, target.prefix, specs)
    bootstrap = request["BootstrapActions"][0]["ScriptBootstrapAction"]
    artifacts.require_objects(target.s3, [bootstrap["Path"], *bootstrap["Args"], _certificates_of(document)])
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
    document = emr_security_document(config, target.prefix)
    bootstrap = request["BootstrapActions"][0]["ScriptBootstrapAction"]
    artifacts.require_objects(target.s3, [bootstrap["Path"], *bootstrap["Args"], _certificates_of(document)])
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


def iam_lake(config: Config) -> Lake:
    """What the IAM documents name, from config: the root's bucket and prefix, the key, the stream,
    the Glue databases, Athena, the Secrets Manager ids, the account and the roles."""
    from lakehouse.aws.buckets import split_uri

    if not config.iam.account_id:
        raise ConfigError("iam.account_id is not set: the policies name the account's roles and resources")
    key = config.storage.kms_key
    if not key or not key.startswith("arn:"):
        raise ConfigError(f"storage.kms_key must be the lake key's ARN for the IAM documents, got {key!r}")
    bucket, prefix = split_uri(config.root)
    results_bucket, results_prefix = split_uri(config.catalog.athena_output)
    if not results_prefix:
        raise ConfigError("catalog.athena_output must name a prefix, not a whole bucket: the BI role may write there")
    refs = {"hmac_key": config.security.hmac_key, "registry": config.registry.password,
            "export": config.export.password}
    secrets = {use: ref.secrets_manager for use, ref in refs.items() if ref and ref.secrets_manager}
    if config.iam.api_secret:
        secrets["api"] = config.iam.api_secret
    i = config.iam
    roles = {"ingestion": i.ingestion_role, "publisher": i.publisher_role, "exporter": i.exporter_role,
             "analyst": i.analyst_role, "api": i.api_role, "erasure": i.erasure_role, "key_admin": i.key_admin_role,
             "emr_service": i.emr_service_role}
    c = config.catalog
    instances = {use: db.rds_instance for use, db in (("registry", config.registry), ("export", config.export))
                 if db.mode == "jdbc" and db.rds_instance}
    return Lake(i.partition, config.iam.account_id, config.aws.region, bucket, prefix, key, config.stream.name,
                c.silver_database, c.gold_database, c.athena_workgroup, results_bucket, results_prefix, secrets, roles,
                instances)


def iam_documents(config: Config) -> dict[str, dict[str, Any]]:
    """The roles' policies, the KMS key policy and the bucket policy, by file name."""
    from lakehouse.aws.buckets import bucket_policy

    lake = iam_lake(config)
    return {**iam.documents(lake), "bucket-policy.json": bucket_policy(lake.bucket, lake.kms_key)}


def write_iam(config: Config, output: Path) -> list[Path]:
    """Every IAM document as `output/<name>` (2-space JSON). A stale one there (a `*-role.json` or
    `*-policy.json` of a role no longer generated) is removed, so the folder is what config says."""
    found = iam_documents(config)
    output.mkdir(parents=True, exist_ok=True)
    ours = {*output.glob("*-role.json"), *output.glob("*-policy.json")}
    for stale in sorted(ours - {output / name for name in found}):
        stale.unlink()
    written = []
    for name, document in found.items():
        path = output / name
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
