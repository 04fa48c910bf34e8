"""The lake's bucket: default encryption with the lake's KMS key and a policy that refuses the rest.

`ensure_bucket` creates the bucket if it is missing and sets, every time (idempotently):
- default encryption SSE-KMS with the lake's key, S3 Bucket Keys on (fewer KMS calls, lower cost);
- public access blocked;
- a bucket policy denying any request without TLS (`aws:SecureTransport`) or over TLS older than
  1.2 (`s3:TlsVersion`), and any upload that
  names another algorithm than `aws:kms` or another KMS key than the lake's (an upload that names
  none gets the default encryption, with the same key).
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from lakehouse.errors import ConfigError


def split_uri(location: str) -> tuple[str, str]:
    """(bucket, key prefix without slashes at its ends) of `s3a://bucket/prefix` (or `s3://`)."""
    parsed = urlparse(location)
    if parsed.scheme not in ("s3", "s3a", "s3n") or not parsed.netloc:
        raise ConfigError(f"not an S3 location: '{location}' (expected s3a://bucket/prefix or s3://bucket/prefix)")
    return parsed.netloc, parsed.path.strip("/")


def bucket_policy(bucket: str, kms_key: str) -> dict[str, Any]:
    """The lake bucket's policy: TLS 1.2 or later only, SSE-KMS only, the lake's key only."""
    bucket_arn = f"arn:aws:s3:::{bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            *({"Sid": sid, "Effect": "Deny", "Principal": "*", "Action": "s3:*",
               "Resource": [bucket_arn, f"{bucket_arn}/*"], "Condition": condition}
              for sid, condition in (("DenyRequestsWithoutTLS", {"Bool": {"aws:SecureTransport": "false"}}),
                                     ("DenyTLSBelow12", {"NumericLessThan": {"s3:TlsVersion": "1.2"}}))),
            {
                "Sid": "DenyUploadsWithAnotherAlgorithm",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/*",
                "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}},
            },
            {
                "Sid": "DenyUploadsWithAnotherKey",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/*",
                "Condition": {"ArnNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": kms_key}},
            },
        ],
    }


def bucket_exists(s3: Any, bucket: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise
    return True


def ensure_bucket(s3: Any, bucket: str, region: str, kms_key: str, with_policy: bool = True) -> list[str]:
    """Create `bucket` if missing, then set its encryption, public access block and policy.

    Args:
        s3: A boto3 S3 client.
        bucket: The bucket's name.
        region: Its region (for the create call).
        kms_key: The lake's KMS key ARN.
        with_policy: Put the bucket policy. The local stand-in (moto 5.2) treats a statement whose
            condition it cannot evaluate as a denial, so the policy would refuse it every request;
            there the policy is checked as a document instead (tests/aws/test_aws_buckets.py).

    Returns:
        What was done, one phrase per action (for the command's output).
    """
    done = []
    if not bucket_exists(s3, bucket):
        create: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":  # us-east-1 refuses a location constraint naming itself
            create["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**create)
        done.append(f"created bucket {bucket}")
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key},
        "BucketKeyEnabled": True,
    }]})
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
    })
    done.append(f"bucket {bucket}: default encryption SSE-KMS with the lake's key (Bucket Keys on), "
                "public access blocked")
    if with_policy:
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(bucket_policy(bucket, kms_key)))
        done.append(f"bucket {bucket}: policy denies requests without TLS 1.2+ and uploads not SSE-KMS "
                    "with the lake's key")
    else:
        done.append(f"bucket {bucket}: policy not put (the local stand-in cannot evaluate its conditions)")
    return done


def sync_folder(s3: Any, folder: str, location: str, kms_key: str | None) -> tuple[int, int]:
    """Upload every file under the local `folder` to `location` (`s3a://bucket/prefix`), skipping
    objects that already hold the same bytes (their SHA-256, kept as object metadata).

    Returns:
        (files uploaded, files unchanged).
    """
    import hashlib
    from pathlib import Path

    from botocore.exceptions import ClientError

    bucket, prefix = split_uri(location)
    uploaded = unchanged = 0
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        key = f"{prefix}/{path.relative_to(folder).as_posix()}".lstrip("/")
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()
        try:
            if s3.head_object(Bucket=bucket, Key=key).get("Metadata", {}).get("sha256") == digest:
                unchanged += 1
                continue
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
        extra: dict[str, Any] = {"Metadata": {"sha256": digest}}
        if kms_key:
            extra.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key)
        s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
        uploaded += 1
    return uploaded, unchanged
