"""The source's boto3 Kinesis client, and its calls retried with full-jitter back-off.

Every call the source makes only reads (a GetRecords iterator is a token, not a cursor), so a call
that failed while throttled or through a transient failure is safe to make again.
"""
from __future__ import annotations

import random
import time
from typing import Any

import botocore.exceptions

from lakehouse.aws import clients
from lakehouse.errors import SourceError
from lakehouse.sources.kinesis.options import KinesisOptions

PAGE_LIMIT = 10_000  # GetRecords' own maximum

_THROTTLED = {"ProvisionedThroughputExceededException", "LimitExceededException"}
# Transient server-side failures: retrying them is safe for the same reason as throttling.
_TRANSIENT = {"InternalFailure", "ServiceUnavailable", "InternalServerError", "KMSThrottlingException"}


def kinesis_client(opts: KinesisOptions) -> Any:
    """A boto3 Kinesis client for the options' region (and endpointUrl, a local stand-in)."""
    return clients.client("kinesis", opts.region, opts.endpoint_url)


def backoff_seconds(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """'Full jitter' back-off: uniform in [0, min(cap, base * 2**attempt)], so many throttled
    readers spread out instead of retrying in lock-step (AWS Architecture Blog, 2015)."""
    return rng.uniform(0.0, min(cap, base * 2.0**attempt))


def call(client: Any, opts: KinesisOptions, rng: random.Random, operation: str, **kwargs: Any) -> Any:
    """One Kinesis call, retried with full-jitter back-off while throttled or failing transiently
    (a 5xx answer, a dropped connection), at most maxRetries times.

    Args:
        client: a boto3 Kinesis client, or anything answering its methods.
        opts: the source's options (stream name for messages, maxRetries, the back-off bounds).
        rng: where the jitter comes from.
        operation: the client method, e.g. ``"get_records"``.
        **kwargs: the call's own arguments (``ShardIterator=...``).

    Raises:
        SourceError: still throttled or failing after maxRetries retries.
        botocore.exceptions.ClientError: any other error Kinesis answers, at once.
    """
    for attempt in range(opts.max_retries + 1):
        try:
            return getattr(client, operation)(**kwargs)
        except (botocore.exceptions.ConnectionError, botocore.exceptions.ReadTimeoutError) as err:
            failure: Exception = err
            code = type(err).__name__
        except botocore.exceptions.ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code not in _THROTTLED and code not in _TRANSIENT and status < 500:
                raise
            failure, code = err, code or f"HTTP {status}"
        if attempt == opts.max_retries:
            raise SourceError(
                f"Kinesis {operation} on stream '{opts.stream_name}' still failed with {code} "
                f"after {opts.max_retries} retries (option maxRetries): throttled or unavailable"
            ) from failure
        time.sleep(backoff_seconds(attempt, opts.retry_base_seconds, opts.retry_max_seconds, rng))
    raise AssertionError("unreachable")
