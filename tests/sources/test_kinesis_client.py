"""The Kinesis source's back-off between retries (no stream, no Spark)."""
from __future__ import annotations

import random

from lakehouse.sources.kinesis.client import backoff_seconds


def test_backoff_is_full_jitter_capped_and_varied() -> None:
    rng = random.Random(1)
    for attempt in range(12):
        ceiling = min(2.0, 0.1 * 2**attempt)
        delays = [backoff_seconds(attempt, 0.1, 2.0, rng) for _ in range(50)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 40  # jittered, not lock-step
    assert max(backoff_seconds(30, 0.1, 2.0, rng) for _ in range(200)) <= 2.0
