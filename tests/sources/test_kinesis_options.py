"""The Kinesis source's options, parsed from the strings Spark passes (no stream, no Spark)."""
from __future__ import annotations

import time
from datetime import datetime

import pytest

from lakehouse.errors import SourceError
from lakehouse.sources.kinesis.options import KinesisOptions


def test_options_are_checked_with_clear_messages() -> None:
    with pytest.raises(SourceError, match="streamName"):
        KinesisOptions.parse({"region": "eu-west-1"})
    with pytest.raises(SourceError, match="maxRecordsPerShard"):
        KinesisOptions.parse({"streamName": "s", "maxRecordsPerShard": "0"})
    with pytest.raises(SourceError, match="startingTimestamp"):
        KinesisOptions.parse({"streamName": "s", "startingPosition": "AT_TIMESTAMP"})
    opts = KinesisOptions.parse({"streamname": "s", "FAILONDATALOSS": "false"})
    assert (opts.max_records_per_shard, opts.max_retries, opts.fail_on_data_loss) == (2000, 8, False)
    assert KinesisOptions.parse({"streamName": "s"}).start() == {"type": "TRIM_HORIZON"}
    before = time.time()
    latest = KinesisOptions.parse({"streamName": "s", "startingPosition": "latest"}).start()
    assert latest["type"] == "AT_TIMESTAMP"
    assert before - 1 <= datetime.fromisoformat(latest["timestamp"]).timestamp() <= time.time() + 1
    naive = KinesisOptions.parse({"streamName": "s", "startingPosition": "AT_TIMESTAMP",
                                  "startingTimestamp": "2026-01-02T03:04:05"}).start()
    assert naive == {"type": "AT_TIMESTAMP", "timestamp": "2026-01-02T03:04:05+00:00"}
