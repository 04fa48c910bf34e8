"""`lakehouse emr deploy | create-cluster | submit` against the project's moto server (S3, KMS, EMR).

Expected values are written here from conf/emr/cluster.yaml, conf/emr/security.yaml and the layout
the README gives, never read back through lakehouse.deploy. What moto keeps of a cluster is checked
through its own describe and list calls; what it drops (the auto-termination policy, the log key)
is checked in the request as it went over the wire, caught by a botocore event handler.
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import shutil
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.validate import ParamValidator

from lakehouse import deployment
from lakehouse.aws.clients import client
from lakehouse.cli import main
from lakehouse.config import Config, load_config
from lakehouse.deploy.artifacts import Prefix
from lakehouse.errors import ConfigError
from lakehouse.local.aws import LocalAws

PROJECT = Path(__file__).resolve().parents[2]
BUCKET = "lakehouse-deploy-test"
PREFIX = f"s3://{BUCKET}/releases/current"
WHEEL = f"lakehouse-{importlib.metadata.version('lakehouse')}-py3-none-any.whl"
SUBNET = "subnet-0123456789abcdef0"
IDLE_SECONDS = 5400  # not the base.yaml value (3600), so the test sees the override arrive
CERTIFICATES = "security/emr-tls-certs.zip"  # the self-signed PEM zip deploy makes (README)


@dataclass
class Deployed:
    aws: LocalAws
    kms_key: str
    output: str  # what the first deploy printed
    wheel: Path  # the uploaded wheel, downloaded again

    def args(self, *more: str, kms: bool = True) -> list[str]:
        settings = ["--set", f"aws.endpoint_url={self.aws.url}", "--set", f"emr.subnet_id={SUBNET}",
                    "--set", f"emr.idle_timeout_seconds={IDLE_SECONDS}"]
        if kms:
            settings += ["--set", f"storage.kms_key={self.kms_key}"]
        return [*settings, "emr", *more]

    def client(self, service: str) -> Any:
        return client(service, "us-east-1", self.aws.url)


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _project_files() -> dict[str, Path]:
    """Name under the prefix -> local file, for the folders deploy uploads as they are."""
    files = {f"jobs/{p.name}": p for p in (PROJECT / "jobs").glob("*.py")}
    for folder in ("conf", "bootstrap_actions"):
        files.update({f"{folder}/{p.relative_to(PROJECT / folder).as_posix()}": p
                      for p in (PROJECT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts})
    return files


@pytest.fixture(scope="module")
def deployed(local_aws: LocalAws, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    """One deploy (the wheel built once for the module) into a bucket of the moto server."""
    kms = client("kms", "us-east-1", local_aws.url)
    key = kms.create_key(Description="lakehouse deploy test")["KeyMetadata"]["Arn"]
    s3 = client("s3", "us-east-1", local_aws.url)
    s3.create_bucket(Bucket=BUCKET)
    done = Deployed(local_aws, key, "", Path())
    code, out, err = _run(done.args("deploy", "--prefix", PREFIX))
    assert code == 0, err
    wheel = tmp_path_factory.mktemp("downloaded") / WHEEL
    wheel.write_bytes(s3.get_object(Bucket=BUCKET, Key=f"releases/current/artifacts/{WHEEL}")["Body"].read())
    done.output, done.wheel = out, wheel
    return done


def _keys(s3: Any, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


@pytest.mark.slow
def test_deploy_uploads_every_file_under_its_name(deployed: Deployed) -> None:
    s3 = deployed.client("s3")
    names = sorted(k.removeprefix("releases/current/") for k in _keys(s3, "releases/current/"))
    expected = sorted([f"artifacts/{WHEEL}", "jars/postgresql-42.7.8.jar", CERTIFICATES, *_project_files()])
    assert names == expected
    # The names the cluster and the steps use, spelled out.
    assert {"bootstrap_actions/install_lakehouse.sh", "jobs/build_gold.py", "jobs/ingest_batch.py",
            "conf/base.yaml", "conf/emr.yaml", "conf/emr/cluster.yaml", "conf/emr/security.yaml"} <= set(names)
    for name, path in _project_files().items():
        body = s3.get_object(Bucket=BUCKET, Key=f"releases/current/{name}")["Body"].read()
        assert body == path.read_bytes(), name
    jar = s3.get_object(Bucket=BUCKET, Key="releases/current/jars/postgresql-42.7.8.jar")["Body"].read()
    assert jar == (PROJECT / ".jars" / "postgresql-42.7.8.jar").read_bytes()
    assert f"{len(expected)} of {len(expected)} files uploaded to {PREFIX}" in deployed.output


@pytest.mark.slow
def test_the_uploaded_wheel_is_the_package(deployed: Deployed) -> None:
    with zipfile.ZipFile(deployed.wheel) as wheel:
        names = set(wheel.namelist())
        assert {"lakehouse/app.py", "lakehouse/deploy/emr.py", "lakehouse/conf/base.yaml",
                "lakehouse/conf/emr.yaml"} <= names
        assert wheel.read("lakehouse/app.py") == (PROJECT / "lakehouse" / "app.py").read_bytes()
        assert wheel.read("lakehouse/conf/emr.yaml") == (PROJECT / "conf" / "emr.yaml").read_bytes()
        assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]


@pytest.mark.slow
def test_every_object_is_sse_kms_under_the_configured_key(deployed: Deployed) -> None:
    s3 = deployed.client("s3")
    for key in _keys(s3, "releases/current/"):
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", deployed.kms_key), key


@pytest.mark.slow
def test_without_a_key_the_objects_take_the_bucket_default(deployed: Deployed) -> None:
    s3 = deployed.client("s3")
    code, _, err = _run(deployed.args("deploy", "--prefix", f"s3://{BUCKET}/plain", "--wheel", str(deployed.wheel),
                                      kms=False))
    assert code == 0, err
    keys = _keys(s3, "plain/")
    assert len(keys) == len(_project_files()) + 3  # the wheel, the JDBC jar, the TLS certificates
    assert all(s3.head_object(Bucket=BUCKET, Key=k).get("ServerSideEncryption") != "aws:kms" for k in keys)


@pytest.mark.slow
def test_a_second_deploy_of_the_same_files_uploads_nothing(deployed: Deployed, tmp_path: Path) -> None:
    s3 = deployed.client("s3")
    before = {k: s3.head_object(Bucket=BUCKET, Key=k)["LastModified"] for k in _keys(s3, "releases/current/")}
    code, out, err = _run(deployed.args("deploy", "--prefix", PREFIX, "--wheel", str(deployed.wheel)))
    assert code == 0, err
    assert f"0 of {len(before)} files uploaded" in out and out.count("unchanged") == len(before) + 1
    assert {k: s3.head_object(Bucket=BUCKET, Key=k)["LastModified"] for k in before} == before
    # Other bytes under the same name are uploaded again, and only they.
    changed = tmp_path / WHEEL
    changed.write_bytes(deployed.wheel.read_bytes() + b"\0")
    code, out, err = _run(deployed.args("deploy", "--prefix", PREFIX, "--wheel", str(changed)))
    assert code == 0, err
    assert [line.split()[-1] for line in out.splitlines() if line.startswith("uploaded ")] == [f"artifacts/{WHEEL}"]
    _run(deployed.args("deploy", "--prefix", PREFIX, "--wheel", str(deployed.wheel)))  # put the real one back


@pytest.mark.slow
def test_the_wheel_builds_to_the_same_bytes_again(deployed: Deployed) -> None:
    from lakehouse.deploy.artifacts import built_wheel

    with built_wheel(PROJECT) as wheel:
        assert wheel.read_bytes() == deployed.wheel.read_bytes()


def test_deploy_to_a_missing_bucket_says_so(local_aws: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--set", f"aws.endpoint_url={local_aws.url}", "emr", "deploy", "--prefix", "s3://no-such-bucket-x/p"])
    assert code == 1
    assert capsys.readouterr().err.strip() == "lakehouse emr: error: bucket 'no-such-bucket-x' of emr.prefix does not exist"


@contextlib.contextmanager
def sent(operation: str) -> Iterator[list[dict[str, Any]]]:
    """The JSON bodies of `operation` requests the EMR clients send meanwhile (clients made after this)."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    assert session is not None
    bodies: list[dict[str, Any]] = []

    def capture(request: Any, **_: Any) -> None:
        bodies.append(json.loads(request.body))

    event = f"before-send.emr.{operation}"
    session.events.register(event, capture)
    try:
        yield bodies
    finally:
        session.events.unregister(event, capture)


# conf/emr/cluster.yaml, filled by hand: the prefix, the wheel, the key, base.yaml's emr section with
# the test's subnet and idle timeout.
def expected_request(kms_key: str) -> dict[str, Any]:
    return {
        "Name": "lakehouse",
        "ReleaseLabel": "emr-spark-8.1.0",
        "Applications": [{"Name": "Hadoop"}, {"Name": "Spark"}, {"Name": "Livy"}, {"Name": "JupyterEnterpriseGateway"}],
        "LogUri": f"{PREFIX}/logs/",
        "LogEncryptionKmsKeyId": kms_key,
        "ServiceRole": "EMR_DefaultRole",
        "JobFlowRole": "EMR_EC2_DefaultRole",
        "VisibleToAllUsers": True,
        "SecurityConfiguration": "lakehouse-at-rest-kms",
        "AutoTerminationPolicy": {"IdleTimeout": IDLE_SECONDS},
        "StepConcurrencyLevel": 1,
        "EbsRootVolumeSize": 32,
        "Instances": {
            "KeepJobFlowAliveWhenNoSteps": True,
            "TerminationProtected": False,
            "Ec2SubnetId": SUBNET,
            "InstanceGroups": [
                {"Name": "primary", "InstanceRole": "MASTER", "InstanceType": "m7g.xlarge", "InstanceCount": 1,
                 "Market": "ON_DEMAND"},
                {"Name": "core", "InstanceRole": "CORE", "InstanceType": "m7g.2xlarge", "InstanceCount": 2,
                 "Market": "ON_DEMAND", "EbsConfiguration": {"EbsBlockDeviceConfigs": [
                     {"VolumeSpecification": {"VolumeType": "gp3", "SizeInGB": 128}, "VolumesPerInstance": 1}]}},
            ],
        },
        "BootstrapActions": [{"Name": "install lakehouse", "ScriptBootstrapAction": {
            "Path": f"{PREFIX}/bootstrap_actions/install_lakehouse.sh", "Args": [f"{PREFIX}/artifacts/{WHEEL}"]}}],
        "Configurations": CLASSIFICATIONS,
        "Tags": [{"Key": "project", "Value": "lakehouse"}, {"Key": "data-classification", "Value": "personal"}],
    }


CLASSIFICATIONS = [
    {"Classification": "delta-defaults", "Properties": {"delta.enabled": "true"}},
    {"Classification": "spark-hive-site", "Properties": {
        "hive.metastore.client.factory.class":
            "com.amazonaws.glue.catalog.metastore.AWSGlueDataCatalogHiveClientFactory"}},
    {"Classification": "spark-defaults", "Properties": {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC"}},
]


@dataclass
class Cluster:
    id: str
    request: dict[str, Any]  # as sent
    output: str


@pytest.fixture(scope="module")
def cluster(deployed: Deployed) -> Cluster:
    with sent("RunJobFlow") as bodies:
        code, out, err = _run(deployed.args("create-cluster", "--prefix", PREFIX))
    assert code == 0, err
    assert len(bodies) == 1
    return Cluster(out.strip().splitlines()[-1], bodies[0], out)


@pytest.mark.slow
def test_create_cluster_sends_what_conf_emr_says(deployed: Deployed, cluster: Cluster) -> None:
    assert cluster.request == expected_request(deployed.kms_key)
    assert cluster.id.startswith("j-")
    assert "security configuration lakehouse-at-rest-kms: created" in cluster.output


@pytest.mark.slow
def test_the_request_as_sent_is_valid_for_botocore(cluster: Cluster) -> None:
    model = boto3.session.Session().client("emr", region_name="us-east-1").meta.service_model
    report = ParamValidator().validate(cluster.request, model.operation_model("RunJobFlow").input_shape)
    assert not report.has_errors(), report.generate_report()


@pytest.mark.slow
def test_the_cluster_emr_describes(deployed: Deployed, cluster: Cluster) -> None:
    emr = deployed.client("emr")
    found = emr.describe_cluster(ClusterId=cluster.id)["Cluster"]
    assert found["Name"] == "lakehouse"
    assert found["ReleaseLabel"] == "emr-spark-8.1.0"
    assert [a["Name"] for a in found["Applications"]] == ["Hadoop", "Spark", "Livy", "JupyterEnterpriseGateway"]
    assert found["LogUri"] == f"{PREFIX}/logs/"
    assert found["ServiceRole"] == "EMR_DefaultRole"
    assert found["Ec2InstanceAttributes"]["IamInstanceProfile"] == "EMR_EC2_DefaultRole"
    assert found["Ec2InstanceAttributes"]["Ec2SubnetId"] == SUBNET
    assert found["SecurityConfiguration"] == "lakehouse-at-rest-kms"
    assert found["Configurations"] == CLASSIFICATIONS
    assert (found["AutoTerminate"], found["TerminationProtected"], found["VisibleToAllUsers"]) == (False, False, True)
    assert (found["StepConcurrencyLevel"], found["EbsRootVolumeSize"]) == (1, 32)
    assert sorted((t["Key"], t["Value"]) for t in found["Tags"]) == [("data-classification", "personal"),
                                                                    ("project", "lakehouse")]
    actions = emr.list_bootstrap_actions(ClusterId=cluster.id)["BootstrapActions"]
    assert actions == [{"Name": "install lakehouse", "ScriptPath": f"{PREFIX}/bootstrap_actions/install_lakehouse.sh",
                        "Args": [f"{PREFIX}/artifacts/{WHEEL}"]}]
    groups = sorted(emr.list_instance_groups(ClusterId=cluster.id)["InstanceGroups"], key=lambda g: g["Name"])
    assert [(g["Name"], g["InstanceGroupType"], g["InstanceType"], g["RequestedInstanceCount"], g["Market"])
            for g in groups] == [("core", "CORE", "m7g.2xlarge", 2, "ON_DEMAND"),
                                 ("primary", "MASTER", "m7g.xlarge", 1, "ON_DEMAND")]
    assert [d["VolumeSpecification"] for d in groups[0]["EbsBlockDevices"]] == [{"VolumeType": "gp3", "SizeInGB": 128}]
    assert groups[1]["EbsBlockDevices"] == []


@pytest.mark.slow
def test_the_security_configuration_encrypts_at_rest_and_in_transit_and_requires_imdsv2(
        deployed: Deployed, cluster: Cluster) -> None:
    found = deployed.client("emr").describe_security_configuration(Name="lakehouse-at-rest-kms")
    assert json.loads(found["SecurityConfiguration"]) == {"EncryptionConfiguration": {
        "EnableAtRestEncryption": True,
        "AtRestEncryptionConfiguration": {
            "S3EncryptionConfiguration": {"EncryptionMode": "SSE-KMS", "AwsKmsKey": deployed.kms_key},
            "LocalDiskEncryptionConfiguration": {"EncryptionKeyProviderType": "AwsKms", "AwsKmsKey": deployed.kms_key,
                                                 "EnableEbsEncryption": True}},
        "EnableInTransitEncryption": True,
        "InTransitEncryptionConfiguration": {"TLSCertificateConfiguration": {
            "CertificateProviderType": "PEM", "S3Object": f"{PREFIX}/{CERTIFICATES}"}}},
        "InstanceMetadataServiceConfiguration": {"MinimumInstanceMetadataServiceVersion": 2,
                                                 "HttpPutResponseHopLimit": 1}}


@pytest.mark.slow
def test_deploy_puts_a_self_signed_pem_zip_for_tls_once(deployed: Deployed) -> None:
    from cryptography import x509

    s3 = deployed.client("s3")
    head = s3.head_object(Bucket=BUCKET, Key=f"releases/current/{CERTIFICATES}")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", deployed.kms_key)
    body = s3.get_object(Bucket=BUCKET, Key=f"releases/current/{CERTIFICATES}")["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert sorted(archive.namelist()) == ["certificateChain.pem", "privateKey.pem", "trustedCertificates.pem"]
        certificate = x509.load_pem_x509_certificate(archive.read("certificateChain.pem"))
    common_name = certificate.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)[0].value
    assert common_name == "*.ec2.internal"  # the nodes' names in us-east-1
    code, out, err = _run(deployed.args("deploy", "--prefix", PREFIX, "--wheel", str(deployed.wheel)))
    assert code == 0, err
    assert f"unchanged  {len(body):>12,}  {CERTIFICATES}" in out  # kept, not made again
    assert s3.get_object(Bucket=BUCKET, Key=f"releases/current/{CERTIFICATES}")["Body"].read() == body


@pytest.mark.slow
def test_a_cluster_naming_missing_certificates_is_refused(deployed: Deployed,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    emr = deployed.client("emr")
    clusters = len(emr.list_clusters()["Clusters"])
    missing = f"s3://{BUCKET}/own-ca/missing-certs.zip"
    argv = ["--set", f"emr.tls_certificates={missing}", *deployed.args("create-cluster", "--prefix", PREFIX)]
    assert main(argv) == 1
    assert f"not deployed: {missing}" in capsys.readouterr().err
    assert len(emr.list_clusters()["Clusters"]) == clusters


@pytest.mark.slow
def test_a_second_cluster_reuses_the_security_configuration(deployed: Deployed, cluster: Cluster) -> None:
    code, out, err = _run(deployed.args("create-cluster", "--prefix", PREFIX))
    assert code == 0, err
    assert "security configuration lakehouse-at-rest-kms: exists, unchanged" in out
    assert out.strip().splitlines()[-1] != cluster.id


@pytest.mark.slow
def test_a_security_configuration_with_other_settings_is_refused(deployed: Deployed,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    emr = deployed.client("emr")
    emr.create_security_configuration(Name="other-settings", SecurityConfiguration=json.dumps(
        {"EncryptionConfiguration": {"EnableAtRestEncryption": False, "EnableInTransitEncryption": False}}))
    clusters = len(emr.list_clusters()["Clusters"])
    argv = ["--set", "emr.security_configuration=other-settings", *deployed.args("create-cluster", "--prefix", PREFIX)]
    assert main(argv) == 1
    assert "'other-settings' exists with other settings than conf/emr/security.yaml" in capsys.readouterr().err
    assert len(emr.list_clusters()["Clusters"]) == clusters


def _broken_specs(tmp_path: Path, edit: Callable[[str], str]) -> Path:
    specs = tmp_path / "emr"
    shutil.copytree(PROJECT / "conf" / "emr", specs)
    path = specs / "cluster.yaml"
    text = path.read_text()
    assert edit(text) != text
    path.write_text(edit(text))
    return specs


@pytest.mark.slow
def test_a_wrong_type_stops_before_anything_is_sent(deployed: Deployed, tmp_path: Path) -> None:
    # An unquoted true is a YAML boolean; the EMR API wants the string "true".
    specs = _broken_specs(tmp_path, lambda t: t.replace('delta.enabled: "true"', "delta.enabled: true"))
    config = load_config("local", {"aws.endpoint_url": deployed.aws.url, "storage.kms_key": deployed.kms_key,
                                   "emr.security_configuration": "never-created"})
    emr = deployed.client("emr")
    clusters = len(emr.list_clusters()["Clusters"])
    with pytest.raises(ConfigError) as raised:
        deployment.emr_create_cluster(config, PREFIX, specs)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{specs / 'cluster.yaml'}: not a valid RunJobFlow request: ")
    assert "Invalid type for parameter Configurations[0].Properties.delta.enabled, value: True" in message
    assert len(emr.list_clusters()["Clusters"]) == clusters
    with pytest.raises(emr.exceptions.ClientError, match="does not exist"):
        emr.describe_security_configuration(Name="never-created")


@pytest.mark.parametrize(("old", "new", "message"), [
    ("EbsRootVolumeSize: 32", "EbsRootVolumeSizeGiB: 32",
     r'not a valid RunJobFlow request: Unknown parameter in input: "EbsRootVolumeSizeGiB", must be one of: '),
    ('Name: "{cluster_name}"', 'Name: "{clustername}"',
     r"cluster\.yaml: unknown placeholder \{clustername\} \(known: .*cluster_name"),
], ids=["unknown field", "unknown placeholder"])
def test_a_wrong_name_in_the_spec_is_named(local_aws: LocalAws, tmp_path: Path, old: str, new: str,
                                           message: str) -> None:
    specs = _broken_specs(tmp_path, lambda t: t.replace(old, new))
    with pytest.raises(ConfigError, match=message):
        deployment.emr_cluster_request(_keyed_config(local_aws), Prefix.parse(PREFIX), specs)


def _keyed_config(local_aws: LocalAws) -> Config:
    return load_config("local", {"aws.endpoint_url": local_aws.url, "storage.kms_key": "arn:aws:kms:x"})


def test_a_cluster_without_a_kms_key_is_refused(local_aws: LocalAws) -> None:
    config = load_config("local", {"aws.endpoint_url": local_aws.url})
    with pytest.raises(ConfigError, match=r"cluster\.yaml: \{kms_key\} is used but storage\.kms_key is null$"):
        deployment.emr_cluster_request(config, Prefix.parse(PREFIX))


def test_a_cluster_without_a_deploy_is_refused(local_aws: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    s3 = client("s3", "us-east-1", local_aws.url)
    s3.create_bucket(Bucket="lakehouse-empty-deploy")
    code = main(["--set", f"aws.endpoint_url={local_aws.url}", "--set", "storage.kms_key=arn:aws:kms:x",
                 "emr", "create-cluster", "--prefix", "s3://lakehouse-empty-deploy/p"])
    assert code == 1
    assert capsys.readouterr().err.strip() == (
        "lakehouse emr: error: not deployed: s3://lakehouse-empty-deploy/p/bootstrap_actions/install_lakehouse.sh, "
        f"s3://lakehouse-empty-deploy/p/artifacts/{WHEEL}, s3://lakehouse-empty-deploy/p/{CERTIFICATES} "
        "(run `lakehouse emr deploy` first)")


def _step(name: str, job: str, *jars: str) -> dict[str, Any]:
    args = ["spark-submit", "--deploy-mode", "cluster", "--conf", "spark.yarn.maxAppAttempts=1", *jars,
            f"{PREFIX}/jobs/{job}", "--config", "emr"]
    return {"Name": f"lakehouse {name}", "ActionOnFailure": "CANCEL_AND_WAIT",
            "Config": {"Jar": "command-runner.jar", "Properties": {}, "Args": args}}


ALL_STEPS = [
    _step("ingest", "ingest_batch.py", "--jars", f"{PREFIX}/jars/postgresql-42.7.8.jar"),
    _step("silver", "build_silver.py"),
    _step("gold", "build_gold.py"),
    _step("publish", "publish_catalog.py"),
    _step("export", "export_postgres.py"),
]


def _steps(emr: Any, cluster_id: str) -> list[dict[str, Any]]:
    """The cluster's steps, oldest first (EMR lists the newest first)."""
    steps = list(reversed(emr.list_steps(ClusterId=cluster_id)["Steps"]))
    return [{k: s[k] for k in ("Name", "ActionOnFailure", "Config")} for s in steps]


def _new_cluster(deployed: Deployed) -> str:
    code, out, err = _run(deployed.args("create-cluster", "--prefix", PREFIX))
    assert code == 0, err
    return out.strip().splitlines()[-1]


@pytest.mark.slow
def test_submit_adds_the_five_steps_in_order(deployed: Deployed) -> None:
    cluster_id = _new_cluster(deployed)
    code, out, err = _run(deployed.args("submit", "--cluster-id", cluster_id, "--prefix", PREFIX))
    assert code == 0, err
    emr = deployed.client("emr")
    assert _steps(emr, cluster_id) == ALL_STEPS
    ids = [s["Id"] for s in reversed(emr.list_steps(ClusterId=cluster_id)["Steps"])]
    assert out.splitlines() == [f"{i}  {s['Name']}" for i, s in zip(ids, ALL_STEPS, strict=True)]


@pytest.mark.slow
def test_submit_adds_the_named_steps_in_the_given_order(deployed: Deployed) -> None:
    cluster_id = _new_cluster(deployed)
    code, _, err = _run(deployed.args("submit", "--cluster-id", cluster_id, "--steps", "gold,publish", "--prefix", PREFIX))
    assert code == 0, err
    assert _steps(deployed.client("emr"), cluster_id) == [ALL_STEPS[2], ALL_STEPS[3]]


@pytest.mark.slow
def test_an_unknown_step_lists_the_known_ones_and_adds_nothing(deployed: Deployed) -> None:
    cluster_id = _new_cluster(deployed)
    code, out, err = _run(deployed.args("submit", "--cluster-id", cluster_id, "--steps", "ingest,bronze",
                                        "--prefix", PREFIX))
    assert (code, out) == (1, "")
    assert err.strip() == ("lakehouse emr: error: unknown step 'bronze': "
                           "the steps are ingest, silver, gold, publish, export, erase, maintain")
    assert _steps(deployed.client("emr"), cluster_id) == []


def test_submit_without_a_deploy_adds_nothing(local_aws: LocalAws, capsys: pytest.CaptureFixture[str]) -> None:
    emr = client("emr", "us-east-1", local_aws.url)
    cluster_id = emr.run_job_flow(Name="bare", Instances={"KeepJobFlowAliveWhenNoSteps": True})["JobFlowId"]
    s3 = client("s3", "us-east-1", local_aws.url)
    s3.create_bucket(Bucket="lakehouse-no-jobs")
    code = main(["--set", f"aws.endpoint_url={local_aws.url}", "emr", "submit", "--cluster-id", cluster_id,
                 "--steps", "gold", "--prefix", "s3://lakehouse-no-jobs/p"])
    assert code == 1
    assert capsys.readouterr().err.strip() == ("lakehouse emr: error: not deployed: "
                                               "s3://lakehouse-no-jobs/p/jobs/build_gold.py (run `lakehouse emr deploy` first)")
    assert emr.list_steps(ClusterId=cluster_id)["Steps"] == []



def test_a_null_subnet_leaves_the_key_out(local_aws: LocalAws) -> None:
    instances = deployment.emr_cluster_request(_keyed_config(local_aws), Prefix.parse(PREFIX))["Instances"]
    assert sorted(instances) == ["InstanceGroups", "KeepJobFlowAliveWhenNoSteps", "TerminationProtected"]


@pytest.mark.slow
def test_schedule_launches_a_transient_cluster_running_the_steps(deployed: Deployed) -> None:
    role = "arn:aws:iam::123456789012:role/lakehouse-scheduler"
    code, out, err = _run(deployed.args("schedule", "--expression", "cron(0 2 * * ? *)", "--role-arn", role,
                                        "--prefix", PREFIX))
    assert code == 0, err
    schedule = deployed.client("scheduler").get_schedule(Name="lakehouse-pipeline")
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == ("cron(0 2 * * ? *)", "UTC")
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert (schedule["Target"]["Arn"], schedule["Target"]["RoleArn"]) == (
        "arn:aws:scheduler:::aws-sdk:emr:runJobFlow", role)
    request = json.loads(schedule["Target"]["Input"])
    assert [{"Name": s["Name"], "ActionOnFailure": s["ActionOnFailure"],
             "Config": {"Jar": s["HadoopJarStep"]["Jar"], "Properties": {}, "Args": s["HadoopJarStep"]["Args"]}}
            for s in request["Steps"]] == ALL_STEPS
    assert request["Instances"]["KeepJobFlowAliveWhenNoSteps"] is False
    assert request["ReleaseLabel"] == "emr-spark-8.1.0"
    model = botocore.session.get_session().get_service_model("emr")
    assert not ParamValidator().validate(request, model.operation_model("RunJobFlow").input_shape).has_errors()
    assert "created" in out
    code, out, _ = _run(deployed.args("schedule", "--expression", "rate(6 hours)", "--role-arn", role,
                                      "--steps", "gold,publish", "--prefix", PREFIX))
    assert code == 0 and "updated" in out
    again = deployed.client("scheduler").get_schedule(Name="lakehouse-pipeline")
    assert again["ScheduleExpression"] == "rate(6 hours)"
    assert [s["Name"] for s in json.loads(again["Target"]["Input"])["Steps"]] == ["lakehouse gold", "lakehouse publish"]
