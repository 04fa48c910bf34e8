"""The IAM documents of `conf/iam/`: current, linted, least privilege by evaluation.

Who may reach what is written here by hand from the roles' rules (README, "IAM and KMS"), never read
from lakehouse.security.iam. S3 object and service access is evaluated with moto's IAM policy
evaluator (`moto.iam.access_control.IAMPolicy`, the one its server applies in IAM mode). moto skips
condition operators other than StringEquals, so who may *list* a prefix (s3:ListBucket's
`StringLike` on `s3:prefix`) is evaluated by the small matcher below.
"""
from __future__ import annotations

import contextlib
import copy
import fnmatch
import io
import json
import uuid
from pathlib import Path
from typing import Any

import parliament
import pytest
import yaml
from botocore.exceptions import ClientError
from moto.iam.access_control import IAMPolicy, PermissionResult
from parliament import analyze_policy_string

from lakehouse import deployment
from lakehouse.aws.clients import client
from lakehouse.cli import main
from lakehouse.config import load_config
from lakehouse.errors import ConfigError
from lakehouse.local.aws import LocalAws

PROJECT = Path(__file__).resolve().parents[2]
# conf/emr.yaml and base.yaml, by hand.
ACCOUNT, REGION, BUCKET, ROOT = "111122223333", "us-east-1", "lakehouse-registry-data", "lakehouse"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"
ROLES = ("ingestion", "publisher", "exporter", "analyst", "api", "erasure")
ZONES = ("landing", "bronze", "quarantine", "silver", "gold", "ops", "_checkpoints", "staging", "rejected", "dashboard")
PERSONAL = ("landing", "bronze", "quarantine", "_checkpoints", "rejected")  # raw records rest there
ERASED = ("landing", "bronze", "quarantine", "silver", "gold", "ops", "_checkpoints", "staging", "rejected")

# The rules: which zones each role reads, writes and deletes in.
READS = {"ingestion": set(ZONES), "publisher": {"ops"}, "exporter": {"gold", "staging", "ops"}, "analyst": {"gold"},
         "api": set(), "erasure": set(ERASED)}
WRITES = {"ingestion": set(ZONES) - {"landing"}, "publisher": {"ops"}, "exporter": {"staging", "ops"},
          "analyst": set(), "api": set(), "erasure": set(ERASED)}
DELETES = {**WRITES, "ingestion": set(ZONES)}  # a rejected landing file moves away
SECRETS = {"ingestion": {"registry/reader-password", "citizen-hmac-key"}, "publisher": set(),
           "exporter": {"analytics/writer-password"}, "analyst": set(), "api": {"analytics/reader-password"},
           "erasure": {"citizen-hmac-key", "analytics/writer-password"}}


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return deployment.iam_documents(load_config("emr"))


def _policy(documents: dict[str, dict[str, Any]], role: str) -> IAMPolicy:
    # moto matches a pattern as a regular expression once `*` is `.*`; IAM's other wildcard, `?`
    # (one character, in the Secrets Manager ARNs' random suffix), is regex's `.`.
    return IAMPolicy(json.dumps(documents[f"{role}-role.json"]).replace("?", "."))


def _allowed(documents: dict[str, dict[str, Any]], role: str, action: str, resource: str) -> bool:
    return _policy(documents, role).is_action_permitted(action, resource) == PermissionResult.PERMITTED


def _object(zone: str, name: str = "enrollment_events/part-00000.snappy.parquet") -> str:
    return f"arn:aws:s3:::{BUCKET}/{ROOT}/{zone}/{name}"


def test_conf_iam_is_what_the_generator_writes_now(tmp_path: Path) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--config", "emr", "iam", "write", "--output", str(tmp_path)]) == 0
    assert out.getvalue().startswith(f"wrote 8 IAM documents to {tmp_path}: ")
    generated = {p.name: p.read_text() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_text() for p in (PROJECT / "conf" / "iam").iterdir()}
    assert sorted(generated) == sorted([f"{r}-role.json" for r in ROLES] + ["kms-key-policy.json",
                                                                              "bucket-policy.json"])
    assert committed == generated, "conf/iam/ is stale: run `lakehouse --config emr iam write`"


def test_write_removes_a_stale_document_only(tmp_path: Path) -> None:
    (tmp_path / "retired-role.json").write_text("{}")
    (tmp_path / "notes.json").write_text("{}")
    deployment.write_iam(load_config("emr"), tmp_path)
    assert not (tmp_path / "retired-role.json").exists()
    assert (tmp_path / "notes.json").exists()


def _severities() -> dict[str, str]:
    overrides = Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml"
    found = {issue: settings["severity"] for issue, settings in parliament.config.items()}
    found.update({issue: s["severity"] for issue, s in yaml.safe_load(overrides.read_text()).items()})
    return found


def _serious(document: dict[str, Any]) -> list[tuple[str, str, Any]]:
    severities = _severities()
    findings = analyze_policy_string(json.dumps(document), include_community_auditors=True).findings
    return [(f.issue, f.detail, sorted(f.location.get("actions") or [])) for f in findings
            if severities[f.issue] in ("MEDIUM", "HIGH", "CRITICAL")]


def test_every_document_passes_parliament(documents: dict[str, dict[str, Any]]) -> None:
    for name, document in documents.items():
        serious = _serious(document)
        if name == "kms-key-policy.json":
            # The key's administrator must keep kms:PutKeyPolicy (KMS refuses a key policy that would
            # lock its author out), and EMR's EBS encryption needs grants for the volumes (only for
            # AWS resources: the EmrServiceEbsGrants statement). Nothing else of it is a finding.
            assert serious == [("PERMISSIONS_MANAGEMENT_ACTIONS", "",
                                ["kms:creategrant", "kms:putkeypolicy", "kms:revokegrant"])], name
        elif name == "bucket-policy.json":
            # parliament's false positives on s3:TlsVersion (tests/aws/test_aws_buckets.py) only.
            assert all(issue in ("MISMATCHED_TYPE", "UNKNOWN_CONDITION_FOR_ACTION") and "s3:TlsVersion" in detail
                       for issue, detail, _ in serious), name
        else:
            assert serious == [], name


def test_parliament_does_find_a_mismatched_resource() -> None:
    """The lint above can fail: an object action on the bucket's ARN is a MEDIUM finding."""
    broken = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}"}]}
    assert [issue for issue, _, _ in _serious(broken)] == ["RESOURCE_MISMATCH"]


def _allow_statements(documents: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, s) for name, d in documents.items() for s in d["Statement"] if s["Effect"] == "Allow"]


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def test_iam_takes_every_role_policy(local_aws: LocalAws, documents: dict[str, dict[str, Any]]) -> None:
    """The moto server's IAM validates a policy document as IAM does its grammar (version, statement
    elements, action and ARN forms, condition operators): each role's is accepted, a broken one not."""
    iam = client("iam", REGION, local_aws.url)
    run = uuid.uuid4().hex[:8]
    for role in ROLES:
        created = iam.create_policy(PolicyName=f"lakehouse-{role}-{run}",
                                    PolicyDocument=json.dumps(documents[f"{role}-role.json"]))["Policy"]
        version = iam.get_policy_version(PolicyArn=created["Arn"], VersionId=created["DefaultVersionId"])
        assert version["PolicyVersion"]["Document"] == documents[f"{role}-role.json"]
    broken = copy.deepcopy(documents["analyst-role.json"])
    broken["Statement"][0]["Resource"] = ["lakehouse-registry-data/lakehouse/gold/*"]  # not an ARN
    with pytest.raises(ClientError, match="MalformedPolicyDocument"):
        iam.create_policy(PolicyName=f"lakehouse-broken-{run}", PolicyDocument=json.dumps(broken))


def test_no_statement_grants_every_action_or_every_resource(documents: dict[str, dict[str, Any]]) -> None:
    for name, statement in _allow_statements(documents):
        assert "*" not in "".join(_listed(statement["Action"])), (name, statement["Sid"])
        resources = _listed(statement["Resource"])
        if name == "kms-key-policy.json":
            assert resources == ["*"]  # in a key policy, "*" is the key itself
            continue
        assert "*" not in resources, (name, statement["Sid"])
        for resource in resources:
            assert not resource.endswith(":*"), (name, resource)
            if resource.startswith("arn:aws:s3:::"):
                # an object grant names a zone of the root (or the Athena results' prefix), never the bucket
                zone = resource.removeprefix(f"arn:aws:s3:::{BUCKET}/").split("/")[:2]
                assert resource == f"arn:aws:s3:::{BUCKET}" or zone == ["athena-results", "*"] or (
                    zone[0] == ROOT and zone[1] in ZONES), (name, resource)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_the_objects_its_rules_say_and_no_others(documents: dict[str, dict[str, Any]],
                                                                   role: str) -> None:
    for zone in ZONES:
        obj = _object(zone)
        assert _allowed(documents, role, "s3:GetObject", obj) == (zone in READS[role]), (zone, "read")
        assert _allowed(documents, role, "s3:PutObject", obj) == (zone in WRITES[role]), (zone, "write")
        assert _allowed(documents, role, "s3:DeleteObject", obj) == (zone in DELETES[role]), (zone, "delete")
        assert _allowed(documents, role, "s3:DeleteObjectVersion", obj) == (role == "erasure" and zone in ERASED)
    # nothing outside the root's zones: not the root itself, not another prefix of the bucket
    for elsewhere in (f"arn:aws:s3:::{BUCKET}/{ROOT}/x.parquet", f"arn:aws:s3:::{BUCKET}/other/gold/x",
                      f"arn:aws:s3:::{BUCKET}/deploy/conf/emr.yaml"):
        for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
            assert not _allowed(documents, role, action, elsewhere), (elsewhere, action)


S3_OBJECT_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject",
                     "s3:DeleteObjectVersion", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
                     "s3:GetObjectAcl", "s3:PutObjectAcl", "s3:RestoreObject")


def _may_list(documents: dict[str, dict[str, Any]], role: str, prefix: str) -> bool:
    """s3:ListBucket on the lake's bucket for `prefix`, its StringLike `s3:prefix` evaluated (IAM's
    `*` matches any characters, `/` included, as fnmatch's does)."""
    for statement in documents[f"{role}-role.json"]["Statement"]:
        if "s3:ListBucket" not in _listed(statement["Action"]) or \
                f"arn:aws:s3:::{BUCKET}" not in _listed(statement["Resource"]):
            continue
        patterns = statement.get("Condition", {}).get("StringLike", {}).get("s3:prefix")
        if patterns is None or any(fnmatch.fnmatchcase(prefix, p) for p in _listed(patterns)):
            return True
    return False


def test_only_ingestion_and_erasure_reach_bronze_and_quarantine(documents: dict[str, dict[str, Any]]) -> None:
    for zone in ("bronze", "quarantine"):
        for name in ("enrollment_events/part-00000.snappy.parquet", "enrollment_events/_delta_log/00000.json",
                     "operators/_delta_log/00000000000000000010.checkpoint.parquet"):
            reach = {role for role in ROLES
                     if any(_allowed(documents, role, a, _object(zone, name)) for a in S3_OBJECT_ACTIONS)}
            assert reach == {"ingestion", "erasure"}, (zone, name)
        listing = {role for role in ROLES if _may_list(documents, role, f"{ROOT}/{zone}/enrollment_events/")}
        assert listing == {"ingestion", "erasure"}, zone


def test_raw_records_are_reached_by_ingestion_and_erasure_alone(documents: dict[str, dict[str, Any]]) -> None:
    for zone in PERSONAL:
        reach = {role for role in ROLES if any(_allowed(documents, role, a, _object(zone)) for a in S3_OBJECT_ACTIONS)}
        assert reach == {"ingestion", "erasure"}, zone


def test_the_analyst_cannot_read_silver(documents: dict[str, dict[str, Any]]) -> None:
    for name in ("enrollment_events/part-00000.snappy.parquet", "enrollment_events/_delta_log/00000.json"):
        assert not any(_allowed(documents, "analyst", a, _object("silver", name)) for a in S3_OBJECT_ACTIONS)
    assert not _may_list(documents, "analyst", f"{ROOT}/silver/")
    silver_table = f"arn:aws:glue:{REGION}:{ACCOUNT}:table/lakehouse_silver/enrollment_events"
    assert not _allowed(documents, "analyst", "glue:GetTable", silver_table)
    # what it may do: gold through Athena
    assert _allowed(documents, "analyst", "glue:GetTable", f"arn:aws:glue:{REGION}:{ACCOUNT}:table/lakehouse_gold/x")
    assert _allowed(documents, "analyst", "athena:StartQueryExecution",
                    f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/primary")
    assert not _allowed(documents, "analyst", "athena:StartQueryExecution",
                        f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/admin")
    assert _allowed(documents, "analyst", "s3:PutObject", f"arn:aws:s3:::{BUCKET}/athena-results/q1.csv")


def test_the_publisher_reads_delta_logs_not_rows(documents: dict[str, dict[str, Any]]) -> None:
    for zone in ("silver", "gold"):
        assert _allowed(documents, "publisher", "s3:GetObject", _object(zone, "t/_delta_log/00000.json"))
        assert not _allowed(documents, "publisher", "s3:GetObject", _object(zone, "t/part-00000.snappy.parquet"))
        assert not _allowed(documents, "publisher", "s3:PutObject", _object(zone, "t/_delta_log/00001.json"))
    glue = f"arn:aws:glue:{REGION}:{ACCOUNT}"
    for database in ("lakehouse_silver", "lakehouse_gold"):
        assert _allowed(documents, "publisher", "glue:CreateTable", f"{glue}:table/{database}/t")
    assert not _allowed(documents, "publisher", "glue:DeleteDatabase", f"{glue}:database/lakehouse_gold")
    assert not _allowed(documents, "publisher", "glue:CreateTable", f"{glue}:table/other/t")


def test_the_evaluator_does_see_a_grant_too_wide() -> None:
    """The reach checks above can fail: a bucket-wide grant reaches bronze."""
    wide = IAMPolicy(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{BUCKET}/{ROOT}/*"]}]}))
    assert wide.is_action_permitted("s3:GetObject", _object("bronze")) == PermissionResult.PERMITTED


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reads_only_its_secrets(documents: dict[str, dict[str, Any]], role: str) -> None:
    granted = set()
    for statement in documents[f"{role}-role.json"]["Statement"]:
        if any(a.startswith("secretsmanager:") for a in _listed(statement["Action"])):
            assert statement["Action"] == ["secretsmanager:GetSecretValue"]
            prefix = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:lakehouse/"
            granted |= {r.removeprefix(prefix).removesuffix("-??????") for r in statement["Resource"]}
    assert granted == SECRETS[role]


@pytest.mark.parametrize("role", ROLES)
def test_the_roles_using_an_rds_database_may_check_its_encryption(documents: dict[str, dict[str, Any]],
                                                                    role: str) -> None:
    instances = {"ingestion": {"lakehouse-registry"}, "exporter": {"lakehouse-analytics"},
                 "erasure": {"lakehouse-analytics"}}.get(role, set())
    for name in ("lakehouse-registry", "lakehouse-analytics"):
        arn = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{name}"
        assert _allowed(documents, role, "rds:DescribeDBInstances", arn) == (name in instances), name


def test_the_api_may_read_its_secret_and_nothing_else(documents: dict[str, dict[str, Any]]) -> None:
    secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:lakehouse/analytics/reader-password-AbC123"
    assert _allowed(documents, "api", "secretsmanager:GetSecretValue", secret)
    assert not _allowed(documents, "api", "secretsmanager:GetSecretValue", secret.replace("reader", "writer"))
    actions = {a for s in documents["api-role.json"]["Statement"] for a in _listed(s["Action"])}
    assert actions == {"secretsmanager:GetSecretValue"}


def test_the_key_policy_lets_each_role_use_the_key_only_through_s3_or_kinesis(
        documents: dict[str, dict[str, Any]]) -> None:
    policy = documents["kms-key-policy.json"]
    usage = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo"}
    principals: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        principal = statement["Principal"]["AWS"]
        assert principal.startswith(f"arn:aws:iam::{ACCOUNT}:role/"), principal  # never the root
        role = principal.rsplit("/", 1)[1].removeprefix("lakehouse-")
        actions = set(_listed(statement["Action"]))
        principals.setdefault(role, set()).update(actions)
        if role == "key-admin":
            assert not actions & usage and "kms:CreateGrant" not in actions
            continue
        if role == "EMR_DefaultRole":  # the cluster's service role, for its EBS volumes only
            assert statement["Condition"] in ({"StringEquals": {"kms:ViaService": f"ec2.{REGION}.amazonaws.com"}},
                                              {"Bool": {"kms:GrantIsForAWSResource": "true"}})
            continue
        assert "kms:CreateGrant" not in actions
        via = statement.get("Condition", {}).get("StringEquals", {})
        if statement["Sid"] == "IngestionLakeKeyForLocalDisks":  # the EMR nodes' own disks
            continue
        assert via["kms:ViaService"] in (f"s3.{REGION}.amazonaws.com", f"kinesis.{REGION}.amazonaws.com")
        if via["kms:ViaService"].startswith("s3."):
            # the bucket (objects under a Bucket Key), else an object of the role's own zones
            contexts = statement["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]
            assert contexts[0] == f"arn:aws:s3:::{BUCKET}"
            zones = {c.removeprefix(f"arn:aws:s3:::{BUCKET}/{ROOT}/").removesuffix("/*") for c in contexts[1:]
                     if c.startswith(f"arn:aws:s3:::{BUCKET}/{ROOT}/")}
            assert zones <= READS[role] | WRITES[role] | {"silver", "gold"}, role  # the publisher's Delta logs
            assert "silver" not in zones or role in ("ingestion", "erasure", "publisher"), role
        else:
            assert role == "ingestion"
            assert via["kms:EncryptionContext:aws:kinesis:arn"] == \
                f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/enrollment-events"
    assert set(principals) == {"key-admin", "ingestion", "publisher", "exporter", "analyst", "erasure",
                               "EMR_DefaultRole"}
    assert principals["analyst"] == {"kms:Decrypt", "kms:GenerateDataKey"}  # Athena's results are written too
    analyst = next(s for s in policy["Statement"] if s["Sid"] == "AnalystLakeKeyThroughS3")
    assert analyst["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"] == [
        f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/{ROOT}/gold/*", f"arn:aws:s3:::{BUCKET}/athena-results/*"]
    assert "kms:GenerateDataKey" in principals["ingestion"]


def test_each_role_policy_fits_iams_size_quota(documents: dict[str, dict[str, Any]]) -> None:
    for role in ROLES:  # a managed policy holds at most 6,144 characters, white space not counted
        assert len(json.dumps(documents[f"{role}-role.json"], separators=(",", ":"))) <= 6144, role


@pytest.mark.parametrize(("overrides", "message"), [
    ({}, "iam.account_id is not set: the policies name the account's roles and resources"),
    ({"iam.account_id": "123456789012", "storage.kms_key": KEY}, "not an S3 location: "),
    ({"iam.account_id": "123456789012", "storage.root": "s3://b/p"},
     "storage.kms_key must be the lake key's ARN for the IAM documents, got None"),
    ({"iam.account_id": "123456789012", "storage.root": "s3://b/p", "storage.kms_key": KEY,
      "catalog.athena_output": "s3://results/"}, "catalog.athena_output must name a prefix, not a whole bucket"),
], ids=["no account", "local root", "no key", "results bucket-wide"])
def test_what_the_documents_need_is_named(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{message}"):
        deployment.iam_documents(load_config("local", overrides))
