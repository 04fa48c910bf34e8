"""Least-privilege IAM as code: the lake's roles' policies and its KMS key policy, from plain values.

Pure: a `Lake` (the bucket and prefix of the storage root, the key, the stream, the Glue databases,
the Athena workgroup, the secrets, the account) in, JSON policy documents out; the app layer fills
the `Lake` from config and `lakehouse iam write` puts the documents into `conf/iam/`.

The roles, and what each may reach (`ACCESS`):
- ingestion: the EMR job (the cluster's instance profile): reads landing (and removes a rejected
  file from it), the stream, the registry secret and the HMAC key; writes bronze, quarantine,
  silver, gold, ops, the stream checkpoints, staging, rejected and the dashboard.
- publisher: Glue on the two databases, the silver and gold Delta logs (a table's schema, not its
  rows), the BI views through Athena, and ops (its run's record).
- exporter: reads gold, writes staging and ops, the export database's secret.
- analyst (BI): reads gold only, through Athena in its workgroup (results under their prefix),
  Glue read on the gold database.
- api: the PostgreSQL read secret, nothing else.
- erasure: deletes and rewrites everywhere the person's data rests (landing, bronze, quarantine,
  silver, gold, ops, checkpoints, staging, rejected, with their non-current versions), the HMAC key
  (to find the person's citizen_key) and the export database's secret (its rows); nothing else.
Each role that uses a database named by an RDS instance may describe that instance (its encryption
is checked before use).

KMS and S3 Bucket Keys: with a Bucket Key, S3 asks KMS for a bucket-level key whose encryption
context is the bucket's ARN, not the object's, so a key policy cannot tell one prefix from another.
The key policy lets each role use the key only through S3 (`kms:ViaService`) and only for the
bucket's ARN or the role's own prefixes (`kms:EncryptionContext:aws:s3:arn`: an object written
without a Bucket Key has its own ARN as context, and for it the key policy tells prefixes apart
too); for the rest the per-prefix part is S3's: the role's own policy says which prefixes S3 serves
it, and a role that may not read silver gets no silver object from S3, so it never holds a silver
ciphertext to decrypt. Kinesis records are under the same key through Kinesis (context
`aws:kinesis:arn`: the stream), the EMR nodes' local disks too (the job role calls KMS itself for
them), and the cluster's EBS volumes through EC2 (the EMR service role, with grants for AWS
resources only).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VERSION = "2012-10-17"
ROLES = ("ingestion", "publisher", "exporter", "analyst", "api", "erasure")

# The storage root's zones (folders under `<root>/`).
ZONES = ("landing", "bronze", "quarantine", "silver", "gold", "ops", "_checkpoints", "staging", "rejected", "dashboard")
READ, WRITE, DELETE, ERASE = "read", "write", "delete", "erase"

# Role -> zone -> what it may do there. "write" includes reading and deleting (a Delta table's
# writer rewrites, checkpoints and vacuums); "delete" is reading and deleting without writing (a
# rejected landing file moves away); "erase" is "write" with the objects' non-current versions.
ACCESS: dict[str, dict[str, str]] = {
    "ingestion": {"landing": DELETE, **{z: WRITE for z in (
        "bronze", "quarantine", "silver", "gold", "ops", "_checkpoints", "staging", "rejected", "dashboard")}},
    "publisher": {"ops": WRITE},
    "exporter": {"gold": READ, "staging": WRITE, "ops": WRITE},
    "analyst": {"gold": READ},
    "api": {},
    "erasure": {z: ERASE for z in (
        "landing", "bronze", "quarantine", "silver", "gold", "ops", "_checkpoints", "staging", "rejected")},
}
# The Delta logs alone: a table's schema and versions for the catalog, none of its rows.
DELTA_LOGS = {"publisher": ("silver", "gold")}

OBJECT_ACTIONS = {
    READ: ["s3:GetObject"],
    DELETE: ["s3:GetObject", "s3:DeleteObject"],
    WRITE: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
            "s3:ListMultipartUploadParts"],
    ERASE: ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
            "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
}
KINESIS_READ = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:ListShards",
                "kinesis:GetShardIterator", "kinesis:GetRecords"]
GLUE_READ = ["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables", "glue:GetPartition",
             "glue:GetPartitions"]
GLUE_WRITE = [*GLUE_READ, "glue:CreateDatabase", "glue:UpdateDatabase", "glue:CreateTable", "glue:UpdateTable"]
ATHENA_QUERY = ["athena:StartQueryExecution", "athena:StopQueryExecution", "athena:GetQueryExecution",
                "athena:GetQueryResults", "athena:GetWorkGroup"]
# Managing the key, never using it (and no grants: a grant is a way around the key policy). The
# administrator keeps kms:PutKeyPolicy: KMS refuses a key policy that would lock its author out.
KEY_ADMIN = ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListKeyPolicies",
             "kms:ListResourceTags", "kms:ListGrants", "kms:PutKeyPolicy", "kms:EnableKey", "kms:DisableKey",
             "kms:EnableKeyRotation", "kms:DisableKeyRotation", "kms:UpdateKeyDescription", "kms:CreateAlias",
             "kms:UpdateAlias", "kms:DeleteAlias", "kms:TagResource", "kms:UntagResource",
             "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"]


@dataclass(frozen=True)
class Lake:
    """What the policies name, as plain values.

    Attributes:
        bucket, prefix: The storage root's bucket and key prefix (no slashes at its ends).
        kms_key: The lake's key ARN.
        results_bucket, results_prefix: Where Athena writes query results (a prefix, not the
            whole bucket).
        secrets: The Secrets Manager ids (names or ARNs) by use: "hmac_key", "registry", "export",
            "api"; one that is not in Secrets Manager is left out (and granted to nobody).
        roles: The roles' names by role (`ROLES`), "key_admin", and "emr_service" (the cluster's
            service role, `ServiceRole` of conf/emr/cluster.yaml).
        rds_instances: The RDS instance ids by database ("registry", "export"), whose encryption the
            roles that use the database check (rds:DescribeDBInstances) before connecting.
    """

    partition: str
    account_id: str
    region: str
    bucket: str
    prefix: str
    kms_key: str
    stream: str
    silver_database: str
    gold_database: str
    athena_workgroup: str
    results_bucket: str
    results_prefix: str
    secrets: dict[str, str] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    rds_instances: dict[str, str] = field(default_factory=dict)  # "registry", "export": checked encrypted

    def role_arn(self, role: str) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:role/{self.roles[role]}"

    def key(self, *parts: str) -> str:
        """The key prefix of `parts` under the root."""
        return "/".join(p for p in (self.prefix, *parts) if p)

    def bucket_arn(self, bucket: str | None = None) -> str:
        return f"arn:{self.partition}:s3:::{bucket or self.bucket}"

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}"

    def secret_arn(self, use: str) -> str | None:
        """The secret's ARN; for a name, with the six random characters Secrets Manager appends."""
        secret = self.secrets.get(use)
        if secret is None:
            return None
        return secret if secret.startswith("arn:") else self.arn("secretsmanager", f"secret:{secret}-??????")


def role_policy(lake: Lake, role: str) -> dict[str, Any]:
    """The permissions policy of `role` (one of `ROLES`)."""
    statements = _s3_statements(lake, role)
    statements += _kms_statements(lake, role)
    statements += _service_statements(lake, role)
    secrets = [arn for use in SECRETS[role] if (arn := lake.secret_arn(use))]
    if secrets:
        statements.append(_allow("ReadSecrets", ["secretsmanager:GetSecretValue"], secrets))
    instances = [lake.arn("rds", f"db:{lake.rds_instances[use]}") for use in SECRETS[role] if use in lake.rds_instances]
    if instances:
        statements.append(_allow("CheckDatabaseEncryption", ["rds:DescribeDBInstances"], instances))
    return {"Version": VERSION, "Statement": statements}


SECRETS = {"ingestion": ("registry", "hmac_key"), "publisher": (), "exporter": ("export",), "analyst": (),
           "api": ("api",), "erasure": ("hmac_key", "export")}


def _allow(sid: str, actions: list[str], resources: list[str], condition: dict[str, Any] | None = None
           ) -> dict[str, Any]:
    statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


def _s3_statements(lake: Lake, role: str) -> list[dict[str, Any]]:
    zones = ACCESS[role]
    statements = []
    for kind in (READ, DELETE, WRITE, ERASE):
        places = [z for z in ZONES if zones.get(z) == kind]
        if places:
            statements.append(_allow(f"{_camel(kind)}Objects", OBJECT_ACTIONS[kind],
                                     [f"{lake.bucket_arn()}/{lake.key(z)}/*" for z in places]))
    logs = DELTA_LOGS.get(role, ())
    if logs:
        statements.append(_allow("ReadDeltaLogs", ["s3:GetObject"],
                                 [f"{lake.bucket_arn()}/{lake.key(z)}/*/_delta_log/*" for z in logs]))
    listed = [z for z in ZONES if z in zones or z in logs]
    if listed:
        prefixes = [p for z in listed for p in (lake.key(z), f"{lake.key(z)}/*")]
        actions = ["s3:ListBucket", *(["s3:ListBucketVersions"] if ERASE in zones.values() else [])]
        statements.append(_allow("ListOwnPrefixes", actions, [lake.bucket_arn()],
                                 {"StringLike": {"s3:prefix": prefixes}}))
        statements.append(_allow("LocateBucket", ["s3:GetBucketLocation"], [lake.bucket_arn()]))
    if role in ATHENA_USERS:
        results = lake.results_prefix
        statements.append(_allow("AthenaResults", OBJECT_ACTIONS[WRITE],
                                 [f"{lake.bucket_arn(lake.results_bucket)}/{results}/*"]))
        statements.append(_allow("ListAthenaResults", ["s3:ListBucket"], [lake.bucket_arn(lake.results_bucket)],
                                 {"StringLike": {"s3:prefix": [results, f"{results}/*"]}}))
        if lake.results_bucket != lake.bucket or not listed:
            statements.append(_allow("LocateResultsBucket", ["s3:GetBucketLocation"],
                                     [lake.bucket_arn(lake.results_bucket)]))
    return statements


ATHENA_USERS = ("publisher", "analyst")


def _camel(kind: str) -> str:
    return {READ: "Read", DELETE: "ReadAndDelete", WRITE: "Write", ERASE: "Erase"}[kind]


def _reads_only(role: str) -> bool:
    return set(ACCESS[role].values()) <= {READ} and role not in ATHENA_USERS


def _kms_statements(lake: Lake, role: str) -> list[dict[str, Any]]:
    """The key through S3 for this bucket (and the results' bucket); through Kinesis for the stream."""
    statements = []
    if ACCESS[role] or role in DELTA_LOGS or role in ATHENA_USERS:
        actions = ["kms:Decrypt"] if _reads_only(role) else ["kms:Decrypt", "kms:GenerateDataKey"]
        statements.append(_allow("LakeKeyThroughS3", actions, [lake.kms_key], _via_s3(lake, role)))
    if role == "ingestion":
        statements.append(_allow("LakeKeyThroughKinesis", ["kms:Decrypt"], [lake.kms_key], _via_kinesis(lake)))
        statements.append(_allow("LakeKeyForLocalDisks", ["kms:Decrypt", "kms:GenerateDataKey"], [lake.kms_key]))
    return statements


def _via_s3(lake: Lake, role: str) -> dict[str, Any]:
    """Through S3 only, for the buckets' ARNs (the context of an object under a Bucket Key) and for
    the role's own prefixes (the context of an object written without one is its own ARN)."""
    contexts = [lake.bucket_arn()]
    if role in ATHENA_USERS and lake.results_bucket != lake.bucket:
        contexts.append(lake.bucket_arn(lake.results_bucket))
    zones = [z for z in ZONES if z in ACCESS[role] or z in DELTA_LOGS.get(role, ())]
    contexts += [f"{lake.bucket_arn()}/{lake.key(z)}/*" for z in zones]
    if role in ATHENA_USERS:
        contexts.append(f"{lake.bucket_arn(lake.results_bucket)}/{lake.results_prefix}/*")
    return {"StringEquals": {"kms:ViaService": f"s3.{lake.region}.amazonaws.com"},
            "StringLike": {"kms:EncryptionContext:aws:s3:arn": contexts}}


def _via_kinesis(lake: Lake) -> dict[str, Any]:
    return {"StringEquals": {"kms:ViaService": f"kinesis.{lake.region}.amazonaws.com",
                             "kms:EncryptionContext:aws:kinesis:arn": lake.arn("kinesis", f"stream/{lake.stream}")}}


def _service_statements(lake: Lake, role: str) -> list[dict[str, Any]]:
    catalog = lake.arn("glue", "catalog")
    gold = [lake.arn("glue", f"database/{lake.gold_database}"), lake.arn("glue", f"table/{lake.gold_database}/*")]
    silver = [lake.arn("glue", f"database/{lake.silver_database}"),
              lake.arn("glue", f"table/{lake.silver_database}/*")]
    workgroup = lake.arn("athena", f"workgroup/{lake.athena_workgroup}")
    if role == "ingestion":
        return [_allow("ReadStream", KINESIS_READ, [lake.arn("kinesis", f"stream/{lake.stream}")])]
    if role == "publisher":
        return [_allow("CatalogLayers", GLUE_WRITE, [catalog, *silver, *gold]),
                _allow("CreateViews", ATHENA_QUERY, [workgroup])]
    if role == "analyst":
        return [_allow("CatalogGold", GLUE_READ, [catalog, *gold]), _allow("QueryGold", ATHENA_QUERY, [workgroup])]
    return []


def key_policy(lake: Lake) -> dict[str, Any]:
    """The lake key's policy: its administrators manage it and cannot use it; each role uses it only
    as `role_policy` says (through S3 for this bucket, through Kinesis for the stream).

    In a key policy `"Resource": "*"` is the key itself. There is no statement for the account's
    root: IAM policies alone grant nothing on this key, so no other principal of the account can be
    given its use by an IAM policy. The EMR service role ("emr_service") uses the key for the
    cluster's EBS volumes (EMR's EBS encryption): through EC2, and grants only for AWS resources
    (the volumes), as EBS needs them.
    """
    statements: list[dict[str, Any]] = [{
        "Sid": "KeyAdministration", "Effect": "Allow", "Principal": {"AWS": lake.role_arn("key_admin")},
        "Action": KEY_ADMIN, "Resource": "*"}]
    for role in ROLES:
        for statement in _kms_statements(lake, role):
            statements.append({"Sid": f"{_title(role)}{statement['Sid']}", "Effect": "Allow",
                               "Principal": {"AWS": lake.role_arn(role)}, "Action": statement["Action"],
                               "Resource": "*", **({"Condition": statement["Condition"]}
                                                   if "Condition" in statement else {})})
    emr_service = {"AWS": lake.role_arn("emr_service")}
    statements.append({"Sid": "EmrServiceEbsVolumes", "Effect": "Allow", "Principal": emr_service,
                       "Action": EBS_USE, "Resource": "*",
                       "Condition": {"StringEquals": {"kms:ViaService": f"ec2.{lake.region}.amazonaws.com"}}})
    statements.append({"Sid": "EmrServiceEbsGrants", "Effect": "Allow", "Principal": emr_service,
                       "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "*",
                       "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}})
    return {"Version": VERSION, "Statement": statements}


EBS_USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKeyWithoutPlaintext",
           "kms:DescribeKey"]


def _title(role: str) -> str:
    return role[:1].upper() + role[1:]


def documents(lake: Lake) -> dict[str, dict[str, Any]]:
    """Every role's policy and the key policy, by file name (`ingestion-role.json`, `kms-key-policy.json`)."""
    found = {f"{role}-role.json": role_policy(lake, role) for role in ROLES}
    found["kms-key-policy.json"] = key_policy(lake)
    return found
