"""boto3 clients: the same code talks to AWS and to a local stand-in (an `endpoint_url`)."""
from __future__ import annotations

from typing import Any

# An endpoint other than AWS's (the local stand-in) accepts any credentials; these only keep boto3
# from looking for real ones.
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


def client(service: str, region: str, endpoint_url: str | None = None) -> Any:
    """A boto3 client for `service` in `region`. `endpoint_url` is the resolved endpoint (None on AWS)."""
    import boto3
    import botocore.config

    # One attempt per call: the Kinesis source and the producer retry with their own back-off and
    # budget; anything else fails fast with a clear message rather than waiting on hidden retries.
    settings = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                                      read_timeout=30)
    kwargs: dict[str, Any] = {"region_name": region, "config": settings}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
        kwargs.update(LOCAL_CREDENTIALS)
    return boto3.client(service, **kwargs)
