"""The cluster and its steps: the RunJobFlow request from `conf/emr/cluster.yaml`, the security
configuration from `conf/emr/security.yaml`, and the pipeline's steps as `command-runner.jar` runs
of `spark-submit`.

The YAML files are the request in the EMR API's own names. A string may hold placeholders:
`{prefix}`, `{wheel}`, `{kms_key}`, `{cluster_name}`, `{security_configuration}`,
`{idle_timeout_seconds}`, `{subnet_id}`, `{tls_certificates}`; a string that is one placeholder alone takes the value's
own type (an integer stays an integer), and a key whose placeholder is null (only `{subnet_id}` may
be) is left out. The filled request is checked against botocore's model of RunJobFlow before it
is sent, so a wrong name or type stops with one line naming the field; the security configuration,
a JSON string to the API, is also checked against the structure the EMR docs give it.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
import yaml
from botocore.exceptions import ClientError
from botocore.model import ShapeResolver
from botocore.validate import ParamValidator

from lakehouse.errors import ConfigError, LakehouseError, describe

# The steps `lakehouse emr submit` knows, in the pipeline's order: the name, the job under
# `<prefix>/jobs/`, and whether it reads the registry through JDBC (and needs the driver's jar).
STEPS = {
    "ingest": ("ingest_batch.py", True),
    "silver": ("build_silver.py", False),
    "gold": ("build_gold.py", False),
    "publish": ("publish_catalog.py", False),
    "export": ("export_postgres.py", False),
    "erase": ("erase_requests.py", False),  # not in the pipeline: its own schedule (`--steps erase`)
    "maintain": ("maintain_tables.py", False),  # not in the pipeline: off-peak (`--steps maintain`)
}
PIPELINE = ("ingest", "silver", "gold", "publish", "export")
# Each step works on what the one before wrote: when one fails, the later ones are cancelled (never
# run on a stale or half-built input) and the cluster stays up for a look at the logs and for the
# notebooks; the idle timeout ends it. CONTINUE would publish and export yesterday's gold as if it
# were today's; TERMINATE_CLUSTER would end the notebooks' cluster too.
ACTION_ON_FAILURE = "CANCEL_AND_WAIT"
# Cluster deploy mode: the driver runs on a core node under YARN, so the primary node stays free for
# Livy and the notebooks, and a step survives the client that submitted it. One attempt: YARN would
# otherwise start a failed driver again, doubling the time to fail and burying the first error (the
# steps are idempotent, so a retry is safe, but it is the step's retry to decide, not YARN's).
SPARK_SUBMIT = ["spark-submit", "--deploy-mode", "cluster", "--conf", "spark.yarn.maxAppAttempts=1"]
MAY_BE_NULL = {"subnet_id"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def read_spec(path: Path, values: dict[str, Any], origins: dict[str, str] | None = None) -> dict[str, Any]:
    """The mapping in the YAML file `path` with its placeholders filled from `values`; `origins`
    names where each value comes from (a config key), for the messages.

    Raises:
        ConfigError: The file is missing or not a YAML mapping, or names a placeholder that `values`
            lacks or holds as null (the message names the file and the placeholder).
    """
    if not path.exists():
        raise ConfigError(f"EMR spec not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    filled: dict[str, Any] = _fill(data, values, path, origins or {})
    return filled


_LEAVE_OUT = object()


def _fill(node: Any, values: dict[str, Any], path: Path, origins: dict[str, str]) -> Any:
    if isinstance(node, dict):
        pairs = ((k, _fill(v, values, path, origins)) for k, v in node.items())
        return {k: v for k, v in pairs if v is not _LEAVE_OUT}
    if isinstance(node, list):
        return [v for v in (_fill(item, values, path, origins) for item in node) if v is not _LEAVE_OUT]
    if not isinstance(node, str):
        return node
    for name in _PLACEHOLDER.findall(node):
        if name not in values:
            raise ConfigError(f"{path}: unknown placeholder {{{name}}} (known: {', '.join(sorted(values))})")
        if values[name] is None and name not in MAY_BE_NULL:
            raise ConfigError(f"{path}: {{{name}}} is used but {origins.get(name, 'its value')} is null")
    whole = _PLACEHOLDER.fullmatch(node)
    if whole:
        value = values[whole.group(1)]
        return _LEAVE_OUT if value is None else value
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), node)


def validate(request: dict[str, Any], operation: str, source: str) -> None:
    """Check `request` against botocore's model of the EMR `operation` (names, types, required keys).

    Raises:
        ConfigError: One line naming `source` and every field that is wrong.
    """
    model = botocore.session.get_session().get_service_model("emr").operation_model(operation)
    report = ParamValidator().validate(request, model.input_shape)
    if report.has_errors():
        problems = "; ".join(line.strip() for line in report.generate_report().splitlines() if line.strip())
        raise ConfigError(f"{source}: not a valid {operation} request: {problems}")


# The security configuration document's structure, from the EMR docs' reference of its parameters
# (emr-create-security-configuration.html), as botocore shapes so that botocore's own validator
# checks names, types and required keys as it does the API's requests; `enum` values and `max`
# are checked by `_enums_and_maxima` (botocore leaves them to the service).
_STRING = {"type": "string"}
_BOOLEAN = {"type": "boolean"}
SECURITY_CONFIGURATION_SHAPES: dict[str, dict[str, Any]] = {
    "SecurityConfiguration": {"type": "structure", "required": ["EncryptionConfiguration"], "members": {
        "EncryptionConfiguration": {"shape": "EncryptionConfiguration"},
        "InstanceMetadataServiceConfiguration": {"shape": "InstanceMetadataServiceConfiguration"}}},
    "EncryptionConfiguration": {"type": "structure", "required": [
        "EnableAtRestEncryption", "EnableInTransitEncryption"], "members": {
        "EnableAtRestEncryption": {"shape": "Boolean"}, "EnableInTransitEncryption": {"shape": "Boolean"},
        "AtRestEncryptionConfiguration": {"shape": "AtRestEncryptionConfiguration"},
        "InTransitEncryptionConfiguration": {"shape": "InTransitEncryptionConfiguration"}}},
    "AtRestEncryptionConfiguration": {"type": "structure", "members": {
        "S3EncryptionConfiguration": {"shape": "S3EncryptionConfiguration"},
        "LocalDiskEncryptionConfiguration": {"shape": "LocalDiskEncryptionConfiguration"}}},
    "S3EncryptionConfiguration": {"type": "structure", "required": ["EncryptionMode"], "members": {
        "EncryptionMode": {"shape": "S3EncryptionMode"}, "AwsKmsKey": {"shape": "String"},
        "S3Object": {"shape": "String"}, "EncryptionKeyProviderClass": {"shape": "String"}}},
    "S3EncryptionMode": {"type": "string", "enum": ["SSE-S3", "SSE-KMS", "CSE-KMS", "CSE-Custom"]},
    "LocalDiskEncryptionConfiguration": {"type": "structure", "required": ["EncryptionKeyProviderType"], "members": {
        "EncryptionKeyProviderType": {"shape": "KeyProviderType"}, "AwsKmsKey": {"shape": "String"},
        "S3Object": {"shape": "String"}, "EncryptionKeyProviderClass": {"shape": "String"},
        "EnableEbsEncryption": {"shape": "Boolean"}}},
    "KeyProviderType": {"type": "string", "enum": ["AwsKms", "Custom"]},
    "InTransitEncryptionConfiguration": {"type": "structure", "required": ["TLSCertificateConfiguration"],
                                         "members": {"TLSCertificateConfiguration": {"shape": "TLSCertificates"}}},
    "TLSCertificates": {"type": "structure", "required": ["CertificateProviderType", "S3Object"], "members": {
        "CertificateProviderType": {"shape": "CertificateProviderType"}, "S3Object": {"shape": "String"},
        "CertificateProviderClass": {"shape": "String"}}},
    "CertificateProviderType": {"type": "string", "enum": ["PEM", "Custom"]},
    "InstanceMetadataServiceConfiguration": {"type": "structure", "required": [
        "MinimumInstanceMetadataServiceVersion"], "members": {
        "MinimumInstanceMetadataServiceVersion": {"shape": "ImdsVersion"},
        "HttpPutResponseHopLimit": {"shape": "HopLimit"}}},
    "ImdsVersion": {"type": "integer", "min": 1, "max": 2},
    "HopLimit": {"type": "integer", "min": 1, "max": 64},
    "String": _STRING,
    "Boolean": _BOOLEAN,
}


def validate_security_configuration(name: str, document: dict[str, Any], source: str) -> None:
    """Check the CreateSecurityConfiguration request against botocore's model, its document against
    the structure of the EMR docs, and that it protects what the lake needs: S3 SSE-KMS and local
    disks (EBS included) under the lake's key, TLS between nodes, IMDSv2 required.

    Raises:
        ConfigError: One line naming `source` and what is wrong.
    """
    validate({"Name": name, "SecurityConfiguration": json.dumps(document)}, "CreateSecurityConfiguration", source)
    shape = ShapeResolver(SECURITY_CONFIGURATION_SHAPES).get_shape_by_name("SecurityConfiguration")
    report = ParamValidator().validate(document, shape)
    problems = [line.strip() for line in report.generate_report().splitlines() if line.strip()]
    problems += _enums_and_maxima(document, shape, "")
    if problems:
        raise ConfigError(f"{source}: not a valid EMR security configuration: {'; '.join(problems)}")
    missing = _unprotected(document)
    if missing:
        raise ConfigError(f"{source}: the security configuration must {', '.join(missing)}")


def _enums_and_maxima(value: Any, shape: Any, where: str) -> list[str]:
    if shape.type_name == "structure" and isinstance(value, dict):
        return [p for key, inner in value.items() if key in shape.members
                for p in _enums_and_maxima(inner, shape.members[key], f"{where}.{key}".lstrip("."))]
    enum = getattr(shape, "enum", None)  # string shapes only
    if enum and value not in enum:
        return [f"{where} must be one of {', '.join(enum)}, got {value!r}"]
    maximum = shape.metadata.get("max")
    if shape.type_name == "integer" and isinstance(value, int) and maximum is not None and value > maximum:
        return [f"{where} must be at most {maximum}, got {value}"]
    return []


def _unprotected(document: dict[str, Any]) -> list[str]:
    encryption = document["EncryptionConfiguration"]
    at_rest = encryption.get("AtRestEncryptionConfiguration", {})
    s3 = at_rest.get("S3EncryptionConfiguration", {})
    disks = at_rest.get("LocalDiskEncryptionConfiguration", {})
    imds = document.get("InstanceMetadataServiceConfiguration", {})
    needs = {
        "encrypt at rest (EnableAtRestEncryption)": encryption["EnableAtRestEncryption"] is True,
        "write S3 with SSE-KMS": s3.get("EncryptionMode") == "SSE-KMS" and bool(s3.get("AwsKmsKey")),
        "encrypt local disks and EBS with KMS": disks.get("EncryptionKeyProviderType") == "AwsKms"
        and disks.get("EnableEbsEncryption") is True,
        "encrypt in transit with TLS certificates (EnableInTransitEncryption, InTransitEncryptionConfiguration)":
        encryption["EnableInTransitEncryption"] is True and "InTransitEncryptionConfiguration" in encryption,
        "require IMDSv2 (MinimumInstanceMetadataServiceVersion: 2)": imds.get("MinimumInstanceMetadataServiceVersion")
        == 2,
    }
    return [need for need, met in needs.items() if not met]


@dataclass(frozen=True)
class SecurityConfiguration:
    name: str
    created: bool  # False: one of that name already existed with the same document


def ensure_security_configuration(emr: Any, name: str, document: dict[str, Any]) -> SecurityConfiguration:
    """The security configuration `name` with `document`, created if absent. One that exists with
    another document is an error: EMR cannot change one in place, and a cluster must not start with
    encryption settings other than those in conf/emr/security.yaml."""
    try:
        found = emr.describe_security_configuration(Name=name)
    except ClientError as err:
        error = err.response.get("Error", {})
        # moto says ResourceNotFoundException; EMR itself InvalidRequestException "... does not exist."
        if error.get("Code") != "ResourceNotFoundException" and "does not exist" not in str(error.get("Message")):
            raise LakehouseError(f"cannot read EMR security configuration '{name}': {describe(err)}") from None
        emr.create_security_configuration(Name=name, SecurityConfiguration=json.dumps(document))
        return SecurityConfiguration(name, created=True)
    if json.loads(found["SecurityConfiguration"]) != document:
        raise LakehouseError(f"EMR security configuration '{name}' exists with other settings than "
                             "conf/emr/security.yaml: delete it or set another emr.security_configuration")
    return SecurityConfiguration(name, created=False)


def run_job_flow(emr: Any, request: dict[str, Any]) -> str:
    """Send the (validated) RunJobFlow request; the new cluster's id."""
    try:
        return str(emr.run_job_flow(**request)["JobFlowId"])
    except ClientError as err:
        raise LakehouseError(f"EMR refused the cluster: {describe(err)}") from None


def step_names(text: str | None) -> list[str]:
    """The step names of `--steps a,b,c` (the pipeline's five, in order, when not given; `erase`
    only when named).

    Raises:
        ConfigError: A name is unknown or given twice; the message lists the known ones.
    """
    if text is None:
        return list(PIPELINE)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in STEPS]
    if unknown or not names:
        raise ConfigError(f"unknown step {', '.join(repr(n) for n in unknown) or '(none given)'}: "
                          f"the steps are {', '.join(STEPS)}")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"step given twice: {', '.join(twice)}")
    return names


def step_requests(names: list[str], jobs_uri: str, jdbc_jar_uri: str, config_name: str) -> list[dict[str, Any]]:
    """The AddJobFlowSteps entries of `names`, in that order."""
    steps = []
    for name in names:
        job, reads_jdbc = STEPS[name]
        jars = ["--jars", jdbc_jar_uri] if reads_jdbc else []
        args = [*SPARK_SUBMIT, *jars, f"{jobs_uri}/{job}", "--config", config_name]
        steps.append({"Name": f"lakehouse {name}", "ActionOnFailure": ACTION_ON_FAILURE,
                      "HadoopJarStep": {"Jar": "command-runner.jar", "Args": args}})
    return steps


def add_steps(emr: Any, cluster_id: str, steps: list[dict[str, Any]]) -> list[str]:
    """Add `steps` to the cluster in their order; their ids."""
    request = {"JobFlowId": cluster_id, "Steps": steps}
    validate(request, "AddJobFlowSteps", "the steps")
    try:
        return [str(s) for s in emr.add_job_flow_steps(**request)["StepIds"]]
    except ClientError as err:
        raise LakehouseError(f"cannot add steps to cluster {cluster_id}: {describe(err)}") from None

