"""Resolving secret references (a key file, an environment variable, Secrets Manager).

Values never reach a log, an error message or Spark's configuration: errors name the reference.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from lakehouse.config import SecretRef
from lakehouse.errors import ConfigError


def resolve(ref: SecretRef) -> bytes:
    """The secret's bytes."""
    if ref.file:
        return _from_file(Path(ref.file), ref.create_if_missing)
    if ref.env:
        value = os.environ.get(ref.env)
        if not value:
            raise ConfigError(f"secret environment variable {ref.env} is not set")
        return value.encode()
    assert ref.secrets_manager
    return _from_secrets_manager(ref.secrets_manager)


def _from_file(path: Path, create: bool) -> bytes:
    if not path.exists():
        if not create:
            raise ConfigError(f"secret key file not found: {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    value = path.read_text().strip()
    if not value:
        raise ConfigError(f"secret key file is empty: {path}")
    return value.encode()


def secrets_manager() -> Any:
    """A Secrets Manager client: AWS's, or the endpoint `LAKEHOUSE_AWS_ENDPOINT` names."""
    import boto3

    endpoint = os.environ.get("LAKEHOUSE_AWS_ENDPOINT")
    return boto3.client("secretsmanager", endpoint_url=endpoint) if endpoint else boto3.client("secretsmanager")


def _from_secrets_manager(secret_id: str) -> bytes:
    from botocore.exceptions import BotoCoreError, ClientError

    client = secrets_manager()
    try:
        # AWSCURRENT is AWS's default; named, since moto's default stays on the first version after
        # a rotation moves the label (lakehouse.security.rotation).
        response = client.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")
    except (BotoCoreError, ClientError) as err:
        raise ConfigError(f"cannot read secret '{secret_id}' from Secrets Manager: {type(err).__name__}") from None
    value = response.get("SecretString") or response.get("SecretBinary")
    return value.encode() if isinstance(value, str) else bytes(value)
