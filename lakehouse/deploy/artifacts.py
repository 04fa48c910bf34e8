"""What `lakehouse emr deploy` puts under an S3 prefix, and the upload itself.

The layout under `<prefix>` (the cluster's bootstrap action and steps read these names):

    artifacts/lakehouse-<version>-py3-none-any.whl   the package, installed on every node
    jars/postgresql-<version>.jar                    the JDBC driver ingest reads the registry with
    jobs/<step>.py                                   the spark-submit entry points
    conf/...                                         every file of conf/, conf/emr/ included
    bootstrap_actions/install_lakehouse.sh           the bootstrap action

Each object carries S3's own SHA-256 checksum; a file whose checksum (and encryption key) the object
already has is not uploaded again, so a second deploy of the same files uploads nothing.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from lakehouse.errors import ConfigError, LakehouseError, describe

# Every entry of the wheel gets this time stamp (1980-01-01, zip's earliest), so the same sources
# build the same bytes and a re-deploy finds the wheel unchanged.
SOURCE_DATE_EPOCH = "315532800"


@dataclass(frozen=True)
class Prefix:
    """An S3 location `s3://bucket/key-prefix`."""

    bucket: str
    key: str  # without a trailing slash; "" for the bucket's top

    @classmethod
    def parse(cls, uri: str) -> Prefix:
        """`uri` as a bucket and a key prefix; `ConfigError` unless it is `s3://bucket[/prefix]`."""
        if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
            raise ConfigError(f"emr.prefix must be s3://bucket/prefix, got '{uri}'")
        bucket, _, key = uri[5:].partition("/")
        return cls(bucket, key.strip("/"))

    def key_of(self, name: str) -> str:
        return f"{self.key}/{name}" if self.key else name

    def uri(self, name: str = "") -> str:
        return f"s3://{self.bucket}/{self.key_of(name)}" if name else f"s3://{self.bucket}/{self.key}".rstrip("/")


@dataclass(frozen=True)
class Upload:
    """One file of a deploy: where it went and whether its bytes were sent."""

    name: str  # the key under the prefix, e.g. jobs/build_gold.py
    size: int
    uploaded: bool  # False: the object already held these bytes (same checksum and key)


def wheel_name(version: str) -> str:
    return f"lakehouse-{version}-py3-none-any.whl"


@contextmanager
def built_wheel(project: Path) -> Iterator[Path]:
    """The wheel of `project`, built as `make wheel` does (`pip wheel --no-deps`) from a copy of its
    sources in a temporary folder, so no stale `build/` can add modules deleted since."""
    if not (project / "setup.py").exists():
        raise LakehouseError(f"no setup.py in {project}: deploy runs from the project folder, not an installed wheel")
    with tempfile.TemporaryDirectory(prefix="lakehouse-wheel-") as tmp:
        source = Path(tmp) / "source"
        for folder in ("lakehouse", "conf"):
            shutil.copytree(project / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(project / "setup.py", source / "setup.py")
        env = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
                               str(Path(tmp) / "dist"), str(source)], capture_output=True, text=True, env=env)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise LakehouseError(f"building the wheel failed (pip wheel): {last}")
        (wheel,) = (Path(tmp) / "dist").glob("lakehouse-*.whl")
        yield wheel


def layout(project: Path, wheel: Path, jdbc_jar: Path) -> list[tuple[Path, str]]:
    """(local file, name under the prefix) for everything a deploy uploads, in upload order."""
    files = [(wheel, f"artifacts/{wheel.name}"), (jdbc_jar, f"jars/{jdbc_jar.name}")]
    files += [(p, f"jobs/{p.name}") for p in sorted((project / "jobs").glob("*.py"))]
    for folder in ("conf", "bootstrap_actions"):
        files += [(p, f"{folder}/{p.relative_to(project / folder).as_posix()}")
                  for p in sorted((project / folder).rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
    return files


def jdbc_jar(jars_dir: Path) -> Path:
    """The PostgreSQL JDBC driver `make setup` fetched (jvm/pom.xml pins it)."""
    found = sorted(jars_dir.glob("postgresql-*.jar"))
    if not found:
        raise ConfigError(f"no postgresql-*.jar in {jars_dir}: run `make setup` to fetch the pinned JVM artifacts")
    return found[-1]


def sha256_base64(path: Path) -> str:
    """The file's SHA-256 as S3 reports it (`ChecksumSHA256`: base64 of the digest)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return base64.b64encode(digest.digest()).decode()


def upload(s3: Any, prefix: Prefix, files: list[tuple[Path, str]], kms_key: str | None) -> list[Upload]:
    """Put each file under `prefix` (SSE-KMS with `kms_key` when set, else the bucket's default
    encryption), skipping those whose object already holds the same bytes under the same key.

    Raises:
        LakehouseError: S3 refuses an upload (the message names the object).
    """
    done = []
    for path, name in files:
        checksum = sha256_base64(path)
        key = prefix.key_of(name)
        if _holds(s3, prefix.bucket, key, checksum, kms_key):
            done.append(Upload(name, path.stat().st_size, uploaded=False))
            continue
        encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key} if kms_key else {}
        try:
            with path.open("rb") as body:
                s3.put_object(Bucket=prefix.bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256",
                              ChecksumSHA256=checksum, **encryption)
        except ClientError as err:
            raise LakehouseError(f"cannot upload {prefix.uri(name)}: {describe(err)}") from None
        done.append(Upload(name, path.stat().st_size, uploaded=True))
    return done


def _holds(s3: Any, bucket: str, key: str, checksum: str, kms_key: str | None) -> bool:
    found = head(s3, bucket, key)
    if found is None:
        return False
    same_key = kms_key is None or found.get("SSEKMSKeyId") == kms_key
    return bool(found.get("ChecksumSHA256") == checksum and same_key)


def head(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """The object's metadata with its checksum; None when there is no such object."""
    try:
        head: dict[str, Any] = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise LakehouseError(f"cannot read s3://{bucket}/{key}: {describe(err)}") from None
    return head


def require_objects(s3: Any, uris: list[str]) -> None:
    """`LakehouseError` naming every `s3://` URI of `uris` that holds no object (not deployed yet)."""
    missing = []
    for uri in uris:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        if head(s3, bucket, key) is None:
            missing.append(uri)
    if missing:
        raise LakehouseError(f"not deployed: {', '.join(missing)} (run `lakehouse emr deploy` first)")


def require_bucket(s3: Any, prefix: Prefix) -> None:
    """`LakehouseError` naming the bucket when it does not exist or cannot be reached."""
    try:
        s3.head_bucket(Bucket=prefix.bucket)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket"):
            raise LakehouseError(f"bucket '{prefix.bucket}' of emr.prefix does not exist") from None
        raise LakehouseError(f"bucket '{prefix.bucket}' of emr.prefix cannot be used: {describe(err)}") from None

