"""Rotating the HMAC key of `citizen_key`: a pending new key, silver re-keyed, then the swap.

Where the new key comes from depends on the reference (`security.hmac_key`):
- a key file: a new key is generated into `<file>.new` (mode 0600) beside it, and renamed over
  the old file at the end (an atomic `os.replace`);
- Secrets Manager: a new key is put as the secret's `AWSPENDING` version, and `AWSCURRENT` moves
  to it at the end (the staging labels of Secrets Manager's own rotation);
- an environment variable: the user supplies the new key in another variable (`new_key_env`) and
  points the config (or the old variable) at it afterwards; nothing here can rewrite an environment.

Silver's citizen keys are recomputed from bronze's national IDs (the policy's `hmac` columns,
`lakehouse.personal`) as a mapping old key -> new key, applied with a MERGE per table
(`storage.delta.replace_values`: no value in any predicate). The swap happens only after every
keyed silver table is re-keyed. A crash before it leaves the old key
in force and the pending one in place: rows already re-keyed match no old key, so running the
rotation again reuses the pending key and finishes. A crash after it leaves a finished rotation.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.config import SecretRef
from lakehouse.contract import TABLES
from lakehouse.errors import ConfigError
from lakehouse.functions import citizen_key
from lakehouse.ops.results import Progress, StepResult
from lakehouse.personal import POLICY
from lakehouse.security.secret_refs import resolve, secrets_manager
from lakehouse.storage import delta

PENDING = "AWSPENDING"
CURRENT = "AWSCURRENT"


@dataclass(frozen=True)
class PendingKey:
    """The new key, and how to make it the one the reference resolves to."""

    value: bytes
    resumed: bool  # found from an interrupted rotation rather than made now
    commit: Callable[[], str]  # the swap; returns what the user is told


@dataclass(frozen=True)
class KeyedColumn:
    """A column the HMAC key makes: `source.column` (bronze, in clear) becomes `becomes` in silver."""

    source: str
    column: str
    becomes: str


def keyed_columns() -> list[KeyedColumn]:
    """Every `hmac` treatment of the personal-data policy (`lakehouse.personal`)."""
    return [KeyedColumn(source, p.column, str(p.becomes)) for source, columns in sorted(POLICY.items())
            for p in columns if p.treatment == "hmac"]


def keyed_tables(column: str = "citizen_key") -> list[str]:
    """Every silver table with the keyed `column`, from the contract."""
    return sorted(t.full_name for t in TABLES.values()
                  if t.layer == "silver" and column in t.schema.replace(",", " ").split())


def key_mapping(bronze: DataFrame, column: str, old_key: bytes, new_key: bytes) -> DataFrame:
    """(old, new): each distinct value's HMAC under the old key and under the new one.

    Grain: one row per distinct non-null value of `bronze.<column>`; the values themselves are not kept.
    Example: national IDs "1", "1", "2", null -> (h_old("1"), h_new("1")), (h_old("2"), h_new("2")).
    """
    values = bronze.select(column).where(F.col(column).isNotNull()).distinct()
    return values.select(citizen_key(F.col(column), old_key).alias("old"),
                         citizen_key(F.col(column), new_key).alias("new"))


def rekey_silver(spark: SparkSession, root: str, old_key: bytes, new_key: bytes, progress: Progress) -> StepResult:
    """Every keyed silver table's keyed columns, from `old_key`'s HMACs to `new_key`'s."""
    result = StepResult()
    for keyed in keyed_columns():
        if not delta.exists(spark, root, keyed.source):
            continue
        mapping = key_mapping(delta.read(spark, root, keyed.source), keyed.column, old_key, new_key).cache()
        try:
            for name in keyed_tables(keyed.becomes):
                if not delta.exists(spark, root, name):
                    continue
                updated = delta.replace_values(spark, mapping, root, name, keyed.becomes)
                progress(f"{name}: {updated:,} values of {keyed.becomes} recomputed")
                result.rows_out += updated
                if updated:
                    result.versions[name] = delta.version(spark, root, name) or 0
        finally:
            mapping.unpersist()
    return result


def pending_key(ref: SecretRef, new_key_env: str | None = None) -> PendingKey:
    """The new key for `ref` (a pending one from an interrupted rotation if there is one)."""
    if ref.env:
        if not new_key_env:
            raise ConfigError(f"security.hmac_key is the environment variable {ref.env}: give the new key in "
                              "another variable with --new-key-env")
        value = resolve(SecretRef(env=new_key_env))
        return PendingKey(value, False, lambda: f"point security.hmac_key.env at {new_key_env} "
                                                f"(or set {ref.env} to its value) before the next run")
    if new_key_env:
        raise ConfigError("--new-key-env is for a key in an environment variable; security.hmac_key is a "
                          f"{'key file' if ref.file else 'Secrets Manager secret'}, whose new key is generated")
    if ref.file:
        return _pending_file(Path(ref.file))
    assert ref.secrets_manager
    return _pending_secret(ref.secrets_manager)


def _pending_file(path: Path) -> PendingKey:
    if not path.exists():
        raise ConfigError(f"secret key file not found: {path}")
    pending = path.with_name(path.name + ".new")
    if pending.exists() and not pending.read_text().strip():
        pending.unlink()  # stopped between creating and writing it: no row was keyed with it
    resumed = pending.exists()
    if not resumed:
        fd = os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
            handle.flush()
            os.fsync(handle.fileno())
    value = resolve(SecretRef(file=str(pending)))

    def commit() -> str:
        os.replace(pending, path)
        return f"the new key is in {path}"

    return PendingKey(value, resumed, commit)


def _pending_secret(secret_id: str) -> PendingKey:
    from botocore.exceptions import BotoCoreError, ClientError

    client = secrets_manager()
    try:
        stages = client.describe_secret(SecretId=secret_id).get("VersionIdsToStages", {})
        current = next(v for v, labels in stages.items() if CURRENT in labels)
        pending = next((v for v, labels in stages.items() if PENDING in labels and CURRENT not in labels), None)
        resumed = pending is not None
        if pending is None:
            pending = client.put_secret_value(SecretId=secret_id, SecretString=secrets.token_hex(32),
                                              VersionStages=[PENDING])["VersionId"]
        value = client.get_secret_value(SecretId=secret_id, VersionId=pending)["SecretString"].encode()
    except (BotoCoreError, ClientError, StopIteration) as err:
        raise ConfigError(f"cannot prepare a new version of secret '{secret_id}': {type(err).__name__}") from None

    def commit() -> str:
        client.update_secret_version_stage(SecretId=secret_id, VersionStage=CURRENT, MoveToVersionId=pending,
                                           RemoveFromVersionId=current)
        client.update_secret_version_stage(SecretId=secret_id, VersionStage=PENDING, RemoveFromVersionId=pending)
        return f"secret '{secret_id}': {CURRENT} is the new version"

    return PendingKey(value, resumed, commit)


def rotate(spark: SparkSession, root: str, ref: SecretRef, progress: Progress,
           new_key_env: str | None = None) -> StepResult:
    """Rotate the key `ref` names: a pending new key, every keyed silver table re-keyed, the swap.

    Run it while no other step writes silver (a silver batch between the re-keying and the swap
    would be keyed with the old key).
    """
    old_key = resolve(ref)
    new = pending_key(ref, new_key_env)
    if new.value == old_key:
        raise ConfigError("the new HMAC key is the current one: nothing to rotate")
    progress(f"{'resuming with the pending' if new.resumed else 'a new'} key for {ref!r}")
    result = rekey_silver(spark, root, old_key, new.value, progress)
    progress(new.commit())
    return result
